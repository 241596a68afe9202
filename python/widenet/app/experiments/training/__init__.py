"""Theorem 11.23 and Theorem 11.13: gradient descent on a wide network drives the loss to zero.

It does so at a linear rate.

Part 1, Theorem 11.23 (LeCun initialization, the chapter's sum loss ``f`` of (11.0.1b)).
With ``lmin_LC, lmax_LC`` the extreme eigenvalues of the limit Gram ``K_LC(X, X)``
(Theorem 11.16) and a step ``h = c / n`` below ``2 / ((lmin_LC + 4 lmax_LC) n)``, the theorem
bounds ``f(w_k) <= C (1 - h n lmin_LC / 2)^{2k}`` (the chapter prints ``hn / (2 lmin_LC)``,
a misprint: the rate is Theorem 11.13's with ``lambda_min = n lmin_LC / 2`` from Lemma
11.19; the report's corrections give both values). Networks of several widths are trained
from independent initializations; the bound is checked with ``C = f(w0)``, the constant
Theorem 11.13 gives.

The bound is one-sided and conservative by a factor 4 to 7 in the exponent, so no factor-2
error in the step or the gradient can make it fail. The sharp prediction is the linearized
model's: for the sum loss the gradient is ``2 J^T r``, so near the linearization the residual
contracts by ``max(1 - 2 h lambda_min(Theta), |1 - 2 h lambda_max(Theta)|)`` per step,
``Theta = J J^T`` the tangent Gram. Each run's per-step factor of ``sqrt(f(w_k))``, fitted on
the tail of the run (:func:`tail_fit`), is compared with it two-sidedly, ``Theta`` being the
run's Gram at its last step (where the tail is measured) and the linearized losses started
from the run's residual at the start of the tail (so faster modes not yet gone are in the
prediction too). The tolerance is the fit's own error (the difference of the fits on the two
halves of the tail plus three standard errors), the Gram's drift still to come in the tail
window and the rounding of the smallest residuals fitted. From the Gram at ``w0`` the
prediction differs by the Gram's drift during training, which is reported: the relative
drift of ``lambda_min`` is about 2% at ``n = 64`` and falls faster than ``n^{-1/2}``.

Part 2, Theorem 11.13 with :func:`widenet.check_convergence`, on a problem where its
hypotheses provably hold: tanh, LeCun, three points of norm ``sqrt 2`` in ``R^3`` at pairwise
angles 40, 50 and 60 degrees (``lambda_max / lambda_min`` = 10), width 32768. Assumption 11.12
(c) is certified by upper bounds of ``U`` and ``L`` on ``B_r(w0)`` in closed form
(:func:`certified_constants`), not only checked on :func:`widenet.check_assumptions`'
estimates (lower bounds). GD at the step ``0.9 / (lambda_min + lambda_max)`` (admissible by
(11.4.4)) is compared at every step with (11.4.6a) and (11.4.6b), and its rate with the sharp
prediction.

Assumption 11.12 (c) elsewhere (:func:`condition_c_table`): ``L / bound`` falls like
``1/n`` (``L`` is O(1), ``U^2`` and ``lambda_min`` grow like ``n``), and on the data of the
Theorem 11.23 runs, of Figures 11.1 and 11.2 and of Figure 11.3 it fails at the widths run,
by the factors the results list (estimates are lower bounds, so each factor is a definite
violation by at least that much).
"""

from __future__ import annotations

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.training._certificate import certified_constants, check_network
from widenet.app.experiments.training._condition_c import condition_c_table
from widenet.app.experiments.training._figure import plot
from widenet.app.experiments.training._fit import linearized_factor, linearized_tail_factor, tail_factor, tail_fit
from widenet.app.experiments.training._run import run
from widenet.app.experiments.training._setup import (
    ACTIVATION,
    CHECK_ANGLES,
    CHECK_ESTIMATES,
    CHECK_NORM,
    CHECK_POINTS,
    CHECK_STEP_FRACTION,
    CHECK_STEPS,
    CHECK_TARGETS,
    CHECK_WIDTH,
    EPS,
    EXPERIMENT_NAME,
    FIGURE_11_3_WIDTH,
    FIT_STANDARD_ERRORS,
    FLOOR,
    INPUT_DIM,
    POINTS,
    QUICK_ESTIMATES,
    QUICK_SEEDS,
    QUICK_WIDTHS,
    ROUNDING,
    SEEDS,
    STEP_FRACTION,
    STEPS,
    TABLE_ESTIMATES,
    TABLE_LARGEST_WIDTH,
    TANH_CURVATURE,
    TANH_SLOPE,
    WIDTHS,
    Estimates,
    cell_seed,
    points_at_angles,
    training_data,
)

_SHARP = ("theorem-11-23-rate", "theorem-11-13-rate")
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Gradient descent on wide networks: the loss against the rate bound and the linearized rate",
    reference="Theorems 11.23 and 11.13",
    run=run,
    plot=plot,
    controls={
        "gradient-doubled": Control(Perturbation("gradient", 2.0), _SHARP + ("theorem-11-13-bounds",),
                                    "GD follows twice the gradient (4 J^T r): the rates are off by 2 h lambda, and "
                                    "Theorem 11.13's run leaves the admissible step and diverges"),
        "gradient-halved": Control(Perturbation("gradient", 0.5), _SHARP,
                                   "GD follows half the gradient (J^T r, the factor 2 of the sum loss dropped)"),
        "step-doubled": Control(Perturbation("step", 2.0), _SHARP,
                                "the sharp predictions computed with twice the step GD takes"),
        "gradient-eighth": Control(Perturbation("gradient", 0.125), ("theorem-11-23-bound",) + _SHARP,
                                   "GD follows 1/8 of the gradient: slower than Theorem 11.23's bound allows (the "
                                   "smallest slowdown its 4-7x slack in the exponent shows)"),
    },
)


__all__ = ["ACTIVATION", "cell_seed", "certified_constants", "CHECK_ANGLES", "CHECK_ESTIMATES", "check_network",
           "CHECK_NORM", "CHECK_POINTS", "CHECK_STEP_FRACTION", "CHECK_STEPS", "CHECK_TARGETS", "CHECK_WIDTH",
           "condition_c_table", "EPS", "Estimates", "EXPERIMENT", "EXPERIMENT_NAME", "FIGURE_11_3_WIDTH",
           "FIT_STANDARD_ERRORS", "FLOOR", "INPUT_DIM", "linearized_factor", "linearized_tail_factor", "plot",
           "POINTS", "points_at_angles", "QUICK_ESTIMATES", "QUICK_SEEDS", "QUICK_WIDTHS", "ROUNDING", "run",
           "SEEDS", "STEP_FRACTION", "STEPS", "TABLE_ESTIMATES", "TABLE_LARGEST_WIDTH", "tail_factor", "tail_fit",
           "TANH_CURVATURE", "TANH_SLOPE", "training_data", "WIDTHS"]
