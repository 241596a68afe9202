"""Theorem 11.3, Proposition 11.2 and Remark 11.4: where gradient descent on least squares goes, and how fast.

Linear case. GD on ``f(w) = |A w - y|^2`` (11.1.5) with a step strictly inside Theorem
11.3's open interval, ``h = 0.9 / (2 s_max(A)^2)``, from a nonzero ``w0``, for an
underdetermined ``A`` (``m < d`` rows, Gaussian entries) and an overdetermined one
(``d x m``). The iterates converge to ``w* + P_ker(A) w0``: the part of ``w0`` orthogonal
to the row space survives, so the limit is the minimum-norm solution ``w* = A^+ y`` only
when ``w0`` lies in the row space; the loss tends to ``min f = |(I - A A^+) y|^2``, which is
positive for the overdetermined ``A``. The error obeys
``w_k - w_lim = (I - 2 h A^T A)^k (w0 - w_lim)`` with ``w0 - w_lim`` in the row space, so
its component along the right singular vector of ``s_i`` is multiplied by ``1 - 2 h s_i^2``
at every step, exactly: the distance contracts at the rate ``max_i |1 - 2 h s_i^2|`` over
the nonzero singular values. Outside the interval, at its endpoint and up to
``h = 1 / s_max^2`` GD still converges at that rate; beyond, it diverges.

Kernel case. GD on the feature model ``Phi(x, w) = <phi(x), w>`` (11.2.1) with the explicit
polynomial feature map (Exercise 11.35, ``<phi(x), phi(z)> = (1 + x z)^r``) has more
features than points; by Remark 11.4 it converges to the kernel least-squares estimator
(11.2.9)-(11.2.10) plus ``<phi(x), P_ker w0>``, which vanishes on the training points
(the set (11.2.4)) but not between them. The estimator is
:class:`widenet.KernelLeastSquares` with the polynomial kernel; the GD predictions come
from :func:`widenet.linearize` of a :class:`widenet.FeatureModel` (exact for a model that
is linear in its parameters) and, for the parameters, from
:func:`widenet.regression.least_squares.gradient_descent` on the feature matrix.

Every tolerance is a rounding bound derived for the computation it covers: ``gamma_n = n u
/ (1 - n u)`` for a sum of ``n`` rounded terms (``u`` the unit roundoff), the per-step error
of each GD step carried through the steps that follow, and first-order perturbation bounds
(through the condition number) for the SVD and eigendecomposition behind each prediction.
"""

from __future__ import annotations

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.least_squares._bounds import (
    contraction,
    factor_agrees,
    measured_factor,
    propagated,
    step_rounding,
)
from widenet.app.experiments.least_squares._claims import FACTOR_CRITERION, ROUNDING_WORDS
from widenet.app.experiments.least_squares._figure import plot
from widenet.app.experiments.least_squares._linear import _iterate
from widenet.app.experiments.least_squares._problem import _Problem
from widenet.app.experiments.least_squares._run import run
from widenet.app.experiments.least_squares._setup import (
    KERNEL_DEGREE,
    KERNEL_GRID,
    KERNEL_X,
    NAME,
    OUTSIDE_CHANGE,
    OUTSIDE_STEPS,
    STEP_FRACTION,
    feature_map,
    steps_to,
)

EXPERIMENT = Experiment(
    name=NAME,
    title="Gradient descent on least squares: the limit w* + P_ker w0 and its geometric rate",
    reference="Theorem 11.3, Proposition 11.2, Remark 11.4",
    run=run,
    plot=plot,
    controls={
        "step": Control(Perturbation("step", 2.0), ("rate", "step-range"),
                        "the step h doubled in the predicted per-step factors max |1 - 2 h s_i^2|"),
        "kernel-part": Control(Perturbation("kernel_part", 0.0), ("limit", "min-norm", "kernel-limit"),
                               "the limit w* + P_ker w0 without its P_ker w0 part (the initial kernel component "
                               "ignored), in the linear and the kernel case"),
        "gram": Control(Perturbation("gram", 1.01), ("kernel-limit",),
                        "the kernel least-squares estimator computed with its Gram off by 1%"),
        "min-loss": Control(Perturbation("min_loss", 1.01), ("min-loss",), "the predicted min f off by 1%"),
    },
)


__all__ = ["contraction", "EXPERIMENT", "factor_agrees", "FACTOR_CRITERION", "feature_map", "_iterate",
           "KERNEL_DEGREE", "KERNEL_GRID", "KERNEL_X", "measured_factor", "NAME", "OUTSIDE_CHANGE", "OUTSIDE_STEPS",
           "plot", "_Problem", "propagated", "ROUNDING_WORDS", "run", "STEP_FRACTION", "step_rounding", "steps_to"]
