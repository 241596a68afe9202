"""Theorem 11.23, Propositions 11.25 and 11.26 and Remark 11.24: wide networks train lazily.

At every width ``n`` independent networks (a width sweep, :func:`widenet.sweep`, one network
per cell) and each one's linearization (11.3.1) (:func:`widenet.linearize`) are trained by
gradient descent on the chapter's objective (11.0.1b) (the sum loss) with the same step,
until the loss is far below its start, and the experiment measures for every network

- ``distance``: ``sup_k abs(w_k - w0)`` over every step (Theorem 11.23);
- ``gap``: ``sup_k max_x abs(Phi(x, w_k) - Phi_lin(x, p_k))`` over every step and over the
  training and test points, all of norm 1 (Proposition 11.26);
- ``kernel``: ``sup_k abs(Theta(w_k) - Theta(w0))_2``, divided by ``n`` under LeCun (the
  chapter's ``(1/n)`` in Proposition 11.25), over the checkpoints where the Gram is computed
  (``CHECKPOINTS``, log-spaced over the run, the last step among them). The chapter's
  matrix has ``Theta`` at a mean-value point in one factor; both factors at ``w_k`` differ
  from it by one step's movement.

The setting satisfies Theorem 11.23's hypotheses and says so with the measured constants:
tanh (Assumption 11.18 (a)), unit-norm inputs and targets ``sin(pi a.x)`` (b), ``K_LC``
regular (c), the zero biases of (11.5.3), the step ``h = 0.9 x 2/((lmin_LC + 4 lmax_LC) n)``
below the theorem's limit, widths where Lemma 11.19's event holds (the eigenvalues of
``Theta(w0)/n`` in ``[lmin_LC/2, 2 lmax_LC]``; at ``n = 64`` the Gram's ``B/n`` part, see
below, pushes ``lambda_max`` past ``2 lmax_LC``; the LeCun grid starts at 1024, where the
gap's exponent is close to its limit, see the comments on the allowances), and runs until
the relative loss is below ``1e-6``. The points are few (4) in ``d = 12``, where ``K_LC`` is well conditioned (condition
numbers 3 to 6), so convergence takes tens of steps. The NTK parametrization (Section 11.6,
where the chapter states no theorem) uses the step ``0.9/(lambda_min + lambda_max)`` of every
network's Gram at ``w0`` (Theorem 11.13's (11.4.4)).

What is predicted (sharp orders; the chapter's are bounds):

- LeCun: the network follows its linearization, which converges to ``p = w0 - J0^T
  Theta0^{-1} r0`` (``r0 = Phi(X, w0) - y``), at distance ``sqrt(r0 . Theta0^{-1} r0)``. With
  ``E[Theta0/n] = K_LC + B/n``, ``B = (1 + x.z) E[s'(u.x) s'(u.z)] + 1`` (the ``U``, ``b`` and
  ``c`` blocks), ``sup_k abs(w_k - w0) = sqrt(r0 . (n K_LC + B)^{-1} r0) (1 + O(n^{-1/2}))``:
  the exponent is -1/2 up to the known ``B/n`` term, whose effect on the fitted slope is put
  into the prediction. The random factor ``sqrt(r0 . K_LC^{-1} r0)`` of each network's own
  initial residual is divided out before the fit (it does not depend on ``n`` and carries
  most of the scatter); the rest scatters like ``n^{-1/2}``, so the fit is weighted by ``n``.
- LeCun, gap and kernel change: ``n^{-2}``, not the ``n^{-1/2}`` of the bounds. In the NTK
  parametrization's coordinates (``v' = sqrt(n) v``, ``U' = sqrt(d) U``), LeCun gradient
  descent with ``h = c/n`` is NTK-parametrization gradient descent with step ``c`` on ``v'``
  but ``c d/n`` on ``U'`` and ``c/n`` on ``b`` and ``c``: the hidden layer, the only source
  of nonlinearity, moves ``n`` times less. In the NTK parametrization both are ``O(1/n)``
  (the known ``1/n`` corrections to the tangent kernel: the terms the bounds control are
  sums over units of mean-zero fluctuations); hence ``n^{-2}`` under LeCun.
- NTK parametrization: ``abs(w_k - w0) = O(1)`` against ``abs(w0) ~ sqrt(n (d + 1))``, so the
  relative distance falls like ``n^{-1/2}`` (``E[Theta0] = K_NTK`` exactly: no ``B`` term);
  gap and kernel change ``n^{-1}``.

Tolerances: each exponent is tested two-sided, ``abs(slope - predicted) <= t stderr +
allowance`` at level ``1e-3`` (:mod:`._slopes`); the allowances (``Design.allowance``) bound the
fitted exponent's bias from the next order in ``1/n``, measured as the comment above them
says.

Remark 11.24 prints ``B^k`` where ``B^j`` belongs (in the sum and in the Neumann series);
the run checks the corrected closed form against the iterated linearized gradient descent
and lists the misprint with that evidence.

Negative controls: the linearization trained with half the step (the gaps stop shrinking),
the distance off by ``n^0.1`` (a factor ``2^0.1`` per doubling of the width), the Gram at
initialization 1% too large in the kernel change (it stops shrinking), and the closed form
of Remark 11.24 with half the step.
"""

from __future__ import annotations

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.lazy_training._cell import lazy_cell
from widenet.app.experiments.lazy_training._figure import plot
from widenet.app.experiments.lazy_training._limits import (
    _checkpoints,
    cell_network,
    cell_seed,
    gradient_descent_step,
    limit_kernels,
    planned_steps,
)
from widenet.app.experiments.lazy_training._measure import distance_in_limit_units, measure, slope_tests
from widenet.app.experiments.lazy_training._remark import remark_11_24, remark_run
from widenet.app.experiments.lazy_training._run import run
from widenet.app.experiments.lazy_training._setup import (
    ACTIVATION,
    BOUND,
    CHECKPOINTS,
    CONTROL_EXPONENT,
    CONTROL_GRAM,
    CONTROL_STEP,
    CONVERGED,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    NAMES,
    PARAMETRIZATIONS,
    PLANNED_LOSS,
    POINTS,
    PREDICTED,
    QUANTITIES,
    QUICK,
    STEP_FRACTION,
    TANH_LIPSCHITZ_DERIVATIVE,
    TEST_POINTS,
    Design,
)

EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Lazy training: distance travelled, gap to the linearization, kernel change",
    reference="Theorem 11.23, Propositions 11.25 and 11.26, Remark 11.24",
    run=run,
    plot=plot,
    controls={
        "linearization with half the step": Control(
            Perturbation("linearized step", CONTROL_STEP), ("proposition-11-26", "gap-ntk"),
            "the linearized model trained with step h/2 against the network's h"),
        "distance off by n^0.1": Control(
            Perturbation("distance per doubling", CONTROL_EXPONENT), ("theorem-11-23", "distance-ntk"),
            "the measured distance multiplied by 2^0.1 per doubling of the width (an error of n^0.1)"),
        "initial Gram 1% too large": Control(
            Perturbation("initial Gram", CONTROL_GRAM), ("proposition-11-25", "kernel-ntk"),
            "Theta(w0) scaled by 1.01 in the kernel change"),
        "closed form with half the step": Control(
            Perturbation("closed-form step", CONTROL_STEP), ("remark-11-24",),
            "Remark 11.24's closed form evaluated with step h/2"),
    },
)


__all__ = ["ACTIVATION", "BOUND", "cell_network", "cell_seed", "CHECKPOINTS", "_checkpoints", "CONTROL_EXPONENT",
           "CONTROL_GRAM", "CONTROL_STEP", "CONVERGED", "Design", "distance_in_limit_units", "EXPERIMENT",
           "EXPERIMENT_NAME", "FULL", "gradient_descent_step", "INPUT_DIM", "lazy_cell", "limit_kernels", "measure",
           "NAMES", "PARAMETRIZATIONS", "PLANNED_LOSS", "planned_steps", "plot", "POINTS", "PREDICTED", "QUANTITIES",
           "QUICK", "remark_11_24", "remark_run", "run", "slope_tests", "STEP_FRACTION", "TANH_LIPSCHITZ_DERIVATIVE",
           "TEST_POINTS"]
