"""Figure 11.3: wide networks before and after training, against their Gaussian-process limit.

The chapter (Section 11.5.5, Figure 11.3) trains 80 independent arctan networks of width
``n = 250`` in LeCun parametrization (11.5.1) with the initialization (11.5.11) on ``m = 3``
points, ``k = 1000`` GD steps of size ``h = 1/n``, and observes that before training the
outputs look like draws of a centered Gaussian process and after training they nearly
interpolate the data, with a spread that is small at the data and grows away from it.

The figure keeps its 80 networks. The claims are tested on more networks of the same
configuration and seed (the figure's 80 are the first of them): a forward pass suffices at
initialization, and the Gaussian process after ``k`` steps can be told from kernel
interpolation only at a step count where the two differ, here ``k = 10`` and ``30``.

- At initialization ``Phi(., w0)`` is a centered Gaussian process with the NNGP covariance
  ``C(x, z) = s_v^2 E[s(h_x) s(h_z)] + s_c^2`` (Proposition 11.28). At width ``n`` the
  covariance is exactly ``C`` (the output layer is Gaussian and independent of the hidden
  one), so the covariance tests carry sampling error only; the outputs are a Gaussian
  scale mixture whose excess kurtosis is ``O(1/n)`` (at ``n = 250`` it moves the
  likelihood-ratio statistic's mean by less than 0.1, computed from hidden-unit moments).
- The expected initial loss is ``s sum_i (C(x_i, x_i) + y_i^2)`` at every width (the sharp
  form of Lemma 11.22's bound).
- After ``k`` steps the network follows its linearization (Proposition 11.26), whose
  tangent Gram is ``n K_LC`` to leading order (Theorem 11.16). The linearized model
  ``f_k(x) = f_0(x) - K(x, X) G_k (f_0(X) - y)`` with ``f_0 ~ GP(0, C)``, ``K = n K_LC``
  and ``G_k = Q diag(g_k(l)) Q^T``, ``g_k(l) = (1 - (1 - 2 h s l)^k) / l`` (Remark 11.24
  with its sum's index corrected, loss scale ``s``), is again a GP, with mean
  ``K(x, X) G_k y`` and covariance ``C - A C(X, .) - C(., X) A^T + A C(X, X) A^T``,
  ``A = K(., X) G_k``; its expected loss is ``s tr(B^(2k) (C(X, X) + y y^T))``,
  ``B = I - 2 h s K``. At width ``n`` the network differs from this by ``O(1/n)`` in these
  averages: the part from the expected tangent Gram, ``E[K_n] = (n - 1) K_LC + K_NTK``
  exactly for ``d = 1``, is computed and allowed for (the "finite-width allowance"); the
  part from the Gram's fluctuations is of the same order and not computed. In a check with
  3000 networks every tested point stayed within the allowance plus three standard errors;
  the largest excess was a 7% larger variance after 1000 steps near x = 1 (where the GP's
  sd is 0.13), 2.7 standard errors of 3000 networks and so about one of the 400 of the full
  run, against thresholds above 4.4; after 10 and 30 steps the excesses stayed below one
  standard error of the 8000 networks of the full run.

The loss. With the chapter's ``f = sum_i (Phi(x_i) - y_i)^2`` (gradient ``2 J^T r``) the
step ``h = 1/n`` exceeds the stability limit ``1 / lambda_max(J J^T)`` for every network at
this initialization and GD diverges (measured here). The figure is therefore reproduced
with the mean loss ``f / m`` (``s = 1/m``), for which ``h = 1/n`` is stable.
"""

from __future__ import annotations

import math

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments._statistics import normal_quantile
from widenet.app.experiments.figure_11_3._figure import plot
from widenet.app.experiments.figure_11_3._limit import (
    expected_loss,
    limit_kernels,
    tangent_kernels,
    trained_gaussian_process,
    trained_gp,
)
from widenet.app.experiments.figure_11_3._run import run
from widenet.app.experiments.figure_11_3._setup import (
    AT_DATA,
    CONFIG,
    COVARIANCE_POINTS,
    DATA_X,
    DATA_Y,
    DIVERGENCE_STEPS,
    EARLY_POINTS,
    EARLY_STEPS,
    FAMILY_LEVEL,
    FIGURE_NETWORKS,
    GRID,
    LEVEL,
    NAME,
    RATE_WINDOW,
    ROUNDING,
    SMALLEST_TESTED_SD,
    STATISTICS_NETWORKS,
    STEPS,
    TRAINED_NETWORKS,
    VARIANCE_GRID_STRIDE,
    WIDTH,
    bonferroni_threshold,
)

EXPERIMENT = Experiment(
    name=NAME,
    title="80 wide networks before and after training, and their Gaussian-process limit",
    reference="Figure 11.3, Proposition 11.28, Lemma 11.22, Remark 11.24, Section 11.5.5",
    run=run,
    plot=plot,
    controls={
        "nngp-variance": Control(Perturbation("nngp_variance", 0.9), ("initial-covariance", "initial-loss"),
                                 "the NNGP covariance C scaled by 0.9 in every prediction"),
        "narrow-networks": Control(Perturbation("width", 0.04), ("initial-gaussian",),
                                   "the initialization networks 25 times narrower (n = 10) than the n = 250 the "
                                   "Gaussian limit is tested at"),
        "prediction-step": Control(Perturbation("gp_step", 0.5), ("trained-mean", "trained-variance",
                                                                   "linearized-loss", "interpolation"),
                                   "the step in the predictions half the step trained with"),
        "kernel-interpolation": Control(Perturbation("gp_steps", math.inf), ("trained-mean", "trained-variance",
                                                                             "linearized-loss"),
                                        "the k-step GP replaced by kernel interpolation (the predictions' k times "
                                        "infinity)"),
        "kernel-at-test-inputs": Control(Perturbation("nngp_test_inputs", 1.01), ("trained-variance",),
                                         "the NNGP kernel C(x, .) off by 1% at the test inputs x"),
        "gradient": Control(Perturbation("gradient", 0.5), ("interpolation", "sum-loss-diverges", "trained-mean"),
                            "the training gradient half its value (2 J^T r taken as J^T r)"),
    },
)


__all__ = ["AT_DATA", "bonferroni_threshold", "CONFIG", "COVARIANCE_POINTS", "DATA_X", "DATA_Y", "DIVERGENCE_STEPS",
           "EARLY_POINTS", "EARLY_STEPS", "expected_loss", "EXPERIMENT", "FAMILY_LEVEL", "FIGURE_NETWORKS", "GRID",
           "LEVEL", "limit_kernels", "NAME", "normal_quantile", "plot", "RATE_WINDOW", "ROUNDING", "run",
           "SMALLEST_TESTED_SD", "STATISTICS_NETWORKS", "STEPS", "tangent_kernels", "trained_gaussian_process",
           "trained_gp", "TRAINED_NETWORKS", "VARIANCE_GRID_STRIDE", "WIDTH"]
