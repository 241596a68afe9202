"""The results of the convergence checks: the witnesses of the estimates and the two reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True, eq=False)
class NormWitness:
    """A point of the ball where a gradient norm was measured.

    Attributes
    ----------
    point : int
        The index ``i`` of the training point ``x_i``.
    w : ndarray of float64, shape (P,)
        The parameter vector (``U`` row-major, ``b``, ``v``, ``c``).
    value : float
        ``|grad_w Phi(x_i, w)|``.
    """

    point: int
    w: np.ndarray
    value: float


@dataclass(frozen=True, eq=False)
class SecantWitness:
    """Two points of the ball whose secant ratio was measured.

    Attributes
    ----------
    point : int
        The index ``i`` of the training point ``x_i``.
    w_a, w_b : ndarray of float64, shape (P,)
        The two parameter vectors.
    value : float
        ``|grad_w Phi(x_i, w_a) - grad_w Phi(x_i, w_b)| / |w_a - w_b|``, a lower bound of
        the Lipschitz constant ``L`` of (11.4.2) on any ball containing both points.
    """

    point: int
    w_a: np.ndarray
    w_b: np.ndarray
    value: float


@dataclass(frozen=True, eq=False)
class AssumptionReport:
    """The constants of Assumption 11.12 measured at ``w0`` (docs/theory.md, section 4).

    Parameters
    ----------
    activation, parametrization, width, widths, input_dim, num_points, num_params, loss, loss_scale
        The setting measured (see Attributes, as for every parameter: the report is what
        :func:`check_assumptions` returns).
    lambda_min, lambda_max, condition_a_held, f0, U_lower, U_witness, U_w0, r, L_lower, L_witness
        The constants of the assumption and where they were attained.
    lipschitz_infinite, kink_distance, condition_c_bound, condition_c_held, admissible_lr_sum, admissible_lr
        The verdicts and the admissible steps.
    evaluated_points, samples, path_steps, lanczos_steps, refinements, notes
        How the estimates were made.

    Attributes
    ----------
    activation, parametrization : str
    width, input_dim, num_points, num_params : int
        ``n`` (the narrowest hidden width of a deep network), ``d``, ``m`` and ``P``
        (``n (d + 2) + 1`` for one hidden layer).
    widths : tuple of int
        The hidden widths ``(n_1, ..., n_L)``.
    loss : str
        The loss scaling the admissible step is given for (``"sum"``, ``"mean"``, ``"half_sum"``).
    loss_scale : float
        ``s``: the objective is ``s f``.
    lambda_min, lambda_max : float
        Extreme eigenvalues of the tangent Gram ``J J^T`` at ``w0`` (11.4.1), computed in
        float64.
    condition_a_held : bool
        Whether the Gram is regular (11.4.1): ``lambda_min > m eps lambda_max`` (numpy's rank
        tolerance). If not, ``r`` is infinite and (c) fails.
    f0 : float
        ``f(w0) = sum_i (Phi(x_i, w0) - y_i)^2``, the chapter's sum loss (11.0.1b).
    U_lower : float
        Estimate of ``U = sup_{w in B_r(w0)} max_i |grad_w Phi(x_i, w)|`` (11.4.2): the largest
        norm found, a LOWER bound of the true supremum.
    U_witness : NormWitness
        Where ``U_lower`` was attained.
    U_w0 : float
        ``max_i |grad_w Phi(x_i, w0)|``, the gradient bound at the centre (exact to rounding).
    r : float
        ``2 sqrt(m) U sqrt(f(w0)) / lambda_min`` (11.4.3) with ``U = U_lower``; as ``U_lower``
        is a lower bound, so is this ``r`` (the theorem's ball contains ``B_r(w0)``). Every
        point measured lies in ``B_r(w0)``.
    L_lower : float
        Estimate of the Lipschitz constant ``L`` of ``w -> grad_w Phi(x_i, w)`` on
        ``B_r(w0)`` (11.4.2): the largest secant ratio found, a LOWER bound of the true ``L``.
    L_witness : SecantWitness or None
        The pair of points attaining ``L_lower`` (None when no secant was resolved, as when
        ``r = 0``).
    lipschitz_infinite : bool
        True when the activation is relu and ``B_r(w0)`` reaches a kink (a pre-activation
        ``z_ij`` of a training point that some point of the ball sets to zero): the true
        ``L`` is then infinite.
    kink_distance : float or None
        relu only: the distance from ``w0`` to the nearest kink, ``min_ij |z_ij| / |dz_ij/dw|``.
    condition_c_bound : float
        ``lambda_min^2 / (12 m^{3/2} U^2 sqrt(f(w0)))`` (11.4.3) with ``U = U_lower`` (an
        UPPER bound of the true right-hand side, since ``U_lower <= U``).
    condition_c_held : bool
        Whether ``L_lower <= condition_c_bound`` (and (a) held and ``L`` is not known to be
        infinite). Because ``L_lower <= L`` and the bound computed with ``U_lower`` is at least
        the true one, False is a definite violation of (c) (for every admissible choice of
        the constants: the true eigenvalues, the supremum ``U`` and the smallest ``L`` are the
        best ones), while True only means that no violation was found.
    admissible_lr_sum : float
        ``1 / (lambda_min + lambda_max)``, the largest step of (11.4.4) for the sum loss.
    admissible_lr : float
        The same for the objective ``s f``: ``admissible_lr_sum / s``.
    evaluated_points : int
        The number of gradient evaluations (all m rows of the Jacobian, or one row) at points
        of the ball.
    samples, path_steps, lanczos_steps, refinements : int
        The settings the estimates were made with.
    notes : tuple of str
        Warnings that bear on the reading (for example the relu note).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 256, "tanh", seed=0)
    >>> report = widenet.check_assumptions(net, np.eye(2), [0.5, -0.5], samples=4, seed=0)
    >>> report.condition_a_held, report.lambda_min > 0, report.num_params
    (True, True, 1025)
    """

    activation: str
    parametrization: str
    width: int
    widths: tuple
    input_dim: int
    num_points: int
    num_params: int
    loss: str
    loss_scale: float
    lambda_min: float
    lambda_max: float
    condition_a_held: bool
    f0: float
    U_lower: float
    U_witness: NormWitness
    U_w0: float
    r: float
    L_lower: float
    L_witness: Optional[SecantWitness]
    lipschitz_infinite: bool
    kink_distance: Optional[float]
    condition_c_bound: float
    condition_c_held: bool
    admissible_lr_sum: float
    admissible_lr: float
    evaluated_points: int
    samples: int
    path_steps: int
    lanczos_steps: int
    refinements: int
    notes: tuple

    def summary(self) -> str:
        """Return a readable account of the measurement and of what it allows to conclude."""
        m = self.num_points
        lines = [
            f"Assumption 11.12 at w0: {self.activation}, {self.parametrization}, "
            f"{f'n = {self.width}' if len(self.widths) == 1 else f'widths {list(self.widths)}'}, "
            f"d = {self.input_dim}, m = {m} points, P = {self.num_params} parameters",
            f"  (a) tangent Gram (11.4.1): lambda_min = {self.lambda_min:.6g}, lambda_max = {self.lambda_max:.6g} "
            f"({'regular' if self.condition_a_held else 'SINGULAR: (a) fails'})",
            f"      f(w0) = {self.f0:.6g} (the chapter's sum loss)",
            f"  (b) estimates from {self.evaluated_points} gradient evaluations in B_r(w0), LOWER bounds of the "
            f"suprema:",
            f"      U >= {self.U_lower:.6g}   (|grad Phi(x_{self.U_witness.point}, w)| at a kept point; "
            f"{self.U_w0:.6g} at w0)",
            f"      L >= {self.L_lower:.6g}   "
            + (f"(secant for x_{self.L_witness.point} over a kept pair of points)" if self.L_witness is not None
               else "(the ball is a single point)"),
            f"      r = 2 sqrt(m) U sqrt(f(w0)) / lambda_min = {self.r:.6g} (with the U estimate, so at most the "
            f"true r)",
            f"  (c) L <= lambda_min^2 / (12 m^(3/2) U^2 sqrt(f(w0))) = {self.condition_c_bound:.6g}: "
            + self._condition_c_verdict(),
            f"  admissible step (11.4.4): h <= 1/(lambda_min + lambda_max) = {self.admissible_lr_sum:.6g} for the "
            f"sum loss" + ("" if self.loss == "sum" else
                           f"; {self.admissible_lr:.6g} for loss {self.loss!r} (step h on s f is step h s on f, "
                           f"s = {self.loss_scale:.6g})"),
        ]
        if self.kink_distance is not None:
            where = "inside the ball: L is infinite" if self.lipschitz_infinite else "outside the ball"
            lines.append(f"  relu kinks: nearest at distance {self.kink_distance:.6g} from w0 ({where})")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    __str__ = summary

    def _condition_c_verdict(self) -> str:
        if self.condition_c_held:
            return "holds on the estimates (no violation found; not a proof, the true U, L may be larger)"
        if not self.condition_a_held:
            return "cannot hold, (a) fails"
        if self.lipschitz_infinite:
            return "VIOLATED (definite: L is infinite, the ball reaches a relu kink)"
        return "VIOLATED (definite: the true U and L can only be larger)"


@dataclass(frozen=True, eq=False)
class ConvergenceCheck:
    """A gradient-descent run compared with the bounds of Theorem 11.13.

    Parameters
    ----------
    steps, losses, loss_bounds, loss_bound_holds, distances, distance_bound, distance_bound_holds
        The run's records and the theorem's bounds (see Attributes, as for every parameter:
        the check is what :func:`check_convergence` returns).
    loss_bound_held, distance_bound_held, lr, chapter_lr, lr_admissible, loss, loss_scale, dtype, rounding
        The verdicts, the step and the rounding allowed for.
    assumption_c_held, assumptions
        The check of Assumption 11.12 the bounds rest on.

    Attributes
    ----------
    steps : ndarray of int64, shape (records,)
        Recorded step indices ``k`` (every ``record_every`` steps, and the last).
    losses : ndarray of float64
        ``s f(w_k)``, the objective in the scaling ``loss``.
    loss_bounds : ndarray of float64
        ``(1 - h s lambda_min)^{2k} s f(w0)`` (11.4.6b), ``h s`` being the step on ``f``.
    loss_bound_holds : ndarray of bool
        Where ``losses <= loss_bounds`` up to rounding (see ``rounding``).
    distances : ndarray of float64
        ``|w_k - w0|`` over all parameters.
    distance_bound : float
        ``r = 2 sqrt(m) U sqrt(f(w0)) / lambda_min`` (11.4.6a) with the U estimate of the
        report: at most the theorem's ``r``, so holding against it is conclusive.
    distance_bound_holds : ndarray of bool
    loss_bound_held, distance_bound_held : bool
        Whether the bound held at every recorded step.
    lr : float
        The step ``h`` on the objective ``s f``.
    chapter_lr : float
        ``h s``, the same step on the chapter's ``f``.
    lr_admissible : bool
        Whether ``h s <= 1/(lambda_min + lambda_max)`` (11.4.4), up to rounding.
    loss : str
    loss_scale : float
    dtype : numpy.dtype
        The dtype of the run (the network's).
    rounding : float
        The relative rounding level of the comparisons (1e-12 in float64, 1e-4 in float32).
        The loss comparison is made on ``sqrt(s f(w_k))``, the norm of the scaled residual,
        against ``(1 - h s lambda_min)^k sqrt(s f(w0))`` with that relative slack, plus the
        first-order effect of the rounding of ``lambda_min`` on the k-th power, plus an
        absolute floor: the rounding of the outputs, ``rounding * sqrt(s) |(|y_i| + |c| +
        |v| |a sigma(z_i)|)_i|`` (a Cauchy-Schwarz bound of the terms summed by the forward
        pass). The distance comparison allows ``rounding * (r + |w0|)``. No other slack.
    assumption_c_held : bool
        Whether Assumption 11.12 (c) held on the estimates (``assumptions.condition_c_held``).
    assumptions : AssumptionReport

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 256, "tanh", seed=0)
    >>> check = widenet.check_convergence(net, np.eye(2), [0.5, -0.5], steps=50, seed=0)
    >>> check.loss_bound_held, check.losses.shape
    (True, (51,))
    """

    steps: np.ndarray
    losses: np.ndarray
    loss_bounds: np.ndarray
    loss_bound_holds: np.ndarray
    distances: np.ndarray
    distance_bound: float
    distance_bound_holds: np.ndarray
    loss_bound_held: bool
    distance_bound_held: bool
    lr: float
    chapter_lr: float
    lr_admissible: bool
    loss: str
    loss_scale: float
    dtype: np.dtype
    rounding: float
    assumption_c_held: bool
    assumptions: AssumptionReport

    def reading(self) -> str:
        """Return what the run and the report together say about Theorem 11.13."""
        held = self.loss_bound_held and self.distance_bound_held
        if not self.lr_admissible:
            return ("the step exceeds (11.4.4), so Theorem 11.13 makes no claim about this run"
                    + (" (its bounds held nonetheless)." if held else "."))
        if self.assumption_c_held:
            if held:
                return ("consistent with Theorem 11.13: no violation of its hypotheses was found and both of its "
                        "bounds held.")
            return ("a bound of Theorem 11.13 failed although (c) held on the estimates: (c) must fail for the "
                    "true constants, i.e. the estimates of U or L were not tight.")
        if held:
            return ("Theorem 11.13 does not apply (Assumption 11.12 is violated), yet both of its bounds held in "
                    "this run: its conditions are sufficient, not necessary.")
        return "Theorem 11.13 does not apply (Assumption 11.12 is violated), and a bound failed."

    def summary(self) -> str:
        """Return a readable account of the run against the bounds (11.4.6a), (11.4.6b)."""
        last = int(self.steps[-1])
        report = self.assumptions
        lines = [
            f"Theorem 11.13: {last} GD steps with h = {self.lr:.6g} on loss {self.loss!r} ({self.dtype.name}); "
            f"step on the sum loss h s = {self.chapter_lr:.6g}, (11.4.4) needs <= {report.admissible_lr_sum:.6g}: "
            + ("admissible" if self.lr_admissible else "NOT admissible"),
            "  loss (11.4.6b) f(w_k) <= (1 - h lambda_min)^(2k) f(w0): "
            + _count(self.loss_bound_holds, self.steps),
            f"      final loss {self.losses[-1]:.6g}, final bound {self.loss_bounds[-1]:.6g}",
            f"  distance (11.4.6a) |w_k - w0| <= r = {self.distance_bound:.6g}: "
            + _count(self.distance_bound_holds, self.steps)
            + f"; largest distance {float(np.max(self.distances)):.6g}",
            "  Assumption 11.12 (c) on the estimates: "
            + ("held (no violation found)" if self.assumption_c_held else "violated (definite)"),
            f"  reading: {self.reading()}",
        ]
        lines.extend(f"  note: {note}" for note in report.notes)
        return "\n".join(lines)

    __str__ = summary


def _count(holds: np.ndarray, steps: np.ndarray) -> str:
    if holds.all():
        return f"held at all {holds.size} recorded steps"
    failed = np.flatnonzero(~holds)
    return f"VIOLATED at {failed.size} of {holds.size} recorded steps (first at k = {int(steps[failed[0]])})"

