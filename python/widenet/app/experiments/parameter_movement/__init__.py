"""Section 11.6 and Remark 11.29: which parameters gradient descent moves.

Under LeCun initialization and under the NTK parametrization, and with Adam.

At every width independent networks (a width sweep, one network per cell) are drawn twice
from the same standard draws, as a LeCun network (11.5.1) and as an NTK-parametrized one
(11.6.1) (the same function at initialization), both with the biases of Exercise 11.37
(``b_i, c ~ N(0, 1)``, so that every block has a scale at initialization). Each is trained
by gradient descent on the chapter's objective (11.0.1b) until its loss is below ``1e-6``
of its start, LeCun with
``h = 0.9 x 2/((lmin_LC + 4 lmax_LC) n)`` (Theorem 11.23's step, with this initialization's
``K_LC``), the NTK parametrization with ``h = 0.9/(lambda_min + lambda_max)`` of every
network's Gram (Theorem 11.13's (11.4.4)). Per block ``B`` of ``w = (U, b, v, c)`` the
experiment measures the movement ``abs(B_k - B_0)`` at the end, relative to the
initialization's scale ``sqrt(E abs(B_0)^2)`` (LeCun: ``sqrt(n)`` for ``U`` and ``b``, 1 for
``v`` and ``c``; NTK parametrization: ``sqrt(n d)``, ``sqrt(n)``, ``sqrt(n)``, 1; for the
single number ``c`` the drawn ``abs(c_0)`` can be near 0, so the drawn norms are not used),
and the gradient norms ``E abs(grad_B Phi(x, w0))`` (mean over the data points).

What is predicted, and tested two-sided (:mod:`._slopes`, level ``1e-3`` per claim):

- Gradient norms, exactly to ``O(1/n^2)``: with the pre-activation ``g ~ N(0, 1/d + 1)`` (unit
  inputs, bias variance 1), ``abs(grad_v Phi)^2`` is a sum of ``n`` i.i.d. terms ``s(g)^2``, so
  ``E abs(grad_v Phi) = sqrt(n E s^2) (1 - Var(s^2) / (8 n (E s^2)^2))``: exponent 1/2 (the
  chapter prints ``O(n)``, a correction below). ``abs(grad_b Phi)^2 = (1/n) sum v~_i^2 s'(g_i)^2``
  and ``abs(grad_U Phi) = abs(grad_b Phi) abs(x)``: exponent 0; ``abs(grad_c Phi) = 1``. Under
  the NTK parametrization (11.6.3) the ``n^{-1/2}`` makes all three ``O(1)`` (``grad_U`` also
  carries ``d^{-1/2}``). The ``1/n`` terms are put into the predicted exponents (their effect
  on the fit is below 0.001); the gradient norms scatter like ``n^{-1/2}``, so the fits are
  weighted by ``n``.
- Movement, LeCun: with ``h ~ 1/n`` the run converges in a number of steps independent of
  ``n``; ``v`` moves by ``O(n^{-1/2})`` against a scale 1, ``U`` and ``b`` by ``O(n^{-1})`` (their
  gradients carry ``v ~ n^{-1/2}``) against ``sqrt(n)``, ``c`` by ``O(n^{-1})`` against 1. So the
  ratios of relative movements ``v/U`` and ``v/b`` grow like ``n``, ``v/c`` like ``n^{1/2}``.
- Movement, NTK parametrization: ``U`` and ``v`` both move by ``O(1)`` against ``sqrt(n)``
  scales; ``v/U`` has exponent 0.
- The ratios carry finite-width terms that depend on the data (the network moves to the
  linearization's limit ``Delta w = -J0^T Theta0^{-1} r0`` up to ``O(1/n)``, and that limit's
  block norms have their own ``1/n`` terms). The predicted exponent of each ratio is the
  fitted exponent of the same ratio for the linearization's limit of every network,
  computed at ``w0`` without training; it is reported next to the order argument's.
- Remark 11.29: Adam divides each component's step by the root of its own mean square
  gradient, so in its first steps every component moves by about its learning rate, whatever
  its gradient: the movement follows the number of entries of a block, not its gradient.
  After a few Adam steps ``abs(Delta U) / abs(Delta v)`` stays near ``sqrt(d)`` at every width
  (exponent 0): ``U`` moves more than ``v``, where gradient descent gives
  ``abs(Delta v) / abs(Delta U) ~ n^{1/2}``.

Negative controls: the gradient norms at the largest width scaled by 2; the relative
movement of ``v`` scaled by 2 at the largest width; Adam's ``epsilon`` a factor ``1e9`` too
large (10: the per-component scaling is swamped and Adam becomes gradient descent with
momentum).
"""

from __future__ import annotations

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.parameter_movement._claims import GRADIENT_HYPOTHESIS
from widenet.app.experiments.parameter_movement._descent import (
    adam_cell,
    adam_movement,
    cell_network,
    movement_cell,
    train_to_convergence,
)
from widenet.app.experiments.parameter_movement._figure import plot
from widenet.app.experiments.parameter_movement._measure import adam_test, gradient_tests, measure, ratio_tests
from widenet.app.experiments.parameter_movement._predictions import (
    GRADIENT_EXPONENTS,
    expected_gradient_norms,
    gaussian_moments,
    initial_scale,
)
from widenet.app.experiments.parameter_movement._run import run
from widenet.app.experiments.parameter_movement._setup import (
    ACTIVATION,
    ADAM_BETAS,
    ADAM_EPSILON,
    ADAM_RATE,
    ADAM_STEPS,
    BIAS_VAR,
    CONTROL_EPSILON,
    CONTROL_GRADIENT,
    CONTROL_MOVEMENT,
    CONVERGED,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    MAX_STEPS_FACTOR,
    NAMES,
    OUTPUT_BIAS_VAR,
    PARAMETRIZATIONS,
    PLANNED_LOSS,
    POINTS,
    QUICK,
    RATIOS,
    SHORT,
    STEP_FRACTION,
    Design,
)

EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Which parameters move: LeCun against the NTK parametrization, and Adam",
    reference="Section 11.6, Remark 11.29",
    run=run,
    plot=plot,
    controls={
        "gradient norms at the largest width doubled": Control(
            Perturbation("gradient norms at the largest width", CONTROL_GRADIENT),
            ("gradient-v", "gradients-lecun", "gradients-ntk"),
            "every block's E abs(grad_B Phi) scaled by 2 at the largest width"),
        "movement of v doubled at the largest width": Control(
            Perturbation("v movement at the largest width", CONTROL_MOVEMENT), ("v-moves-most", "ntk-comparable"),
            "the relative movement of v scaled by 2 at the largest width"),
        "Adam's epsilon 1e9 times too large": Control(
            Perturbation("Adam epsilon", CONTROL_EPSILON), ("remark-11-29",),
            "Adam with epsilon 10 instead of 1e-8: the per-component scaling is swamped"),
    },
)


__all__ = ["ACTIVATION", "ADAM_BETAS", "adam_cell", "ADAM_EPSILON", "adam_movement", "ADAM_RATE", "ADAM_STEPS",
           "adam_test", "BIAS_VAR", "cell_network", "CONTROL_EPSILON", "CONTROL_GRADIENT", "CONTROL_MOVEMENT",
           "CONVERGED", "Design", "expected_gradient_norms", "EXPERIMENT", "EXPERIMENT_NAME", "FULL",
           "gaussian_moments", "GRADIENT_EXPONENTS", "GRADIENT_HYPOTHESIS", "gradient_tests", "initial_scale",
           "INPUT_DIM", "MAX_STEPS_FACTOR", "measure", "movement_cell", "NAMES", "OUTPUT_BIAS_VAR",
           "PARAMETRIZATIONS", "PLANNED_LOSS", "plot", "POINTS", "QUICK", "ratio_tests", "RATIOS", "run", "SHORT",
           "STEP_FRACTION", "train_to_convergence"]
