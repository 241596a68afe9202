"""Numerical checks of Assumption 11.12 and Theorem 11.13 (docs/theory.md, section 4).

:func:`check_assumptions` measures, for a :class:`~widenet.ShallowNetwork` at its initial
parameters ``w0``, the constants of Assumption 11.12: the extreme eigenvalues of the
tangent Gram (11.4.1), ``f(w0)``, the gradient bound ``U`` and the Lipschitz constant
``L`` of the gradient on the ball ``B_r(w0)`` (11.4.2), the radius ``r`` and
condition (c) (11.4.3), and the admissible step (11.4.4). :func:`check_convergence` runs
gradient descent at that step and compares the run with the bounds (11.4.6a) and
(11.4.6b) of Theorem 11.13.

``U`` and ``L`` are suprema over a ball in ``R^P``; they are *estimated* from points of
the ball, so the estimates are LOWER bounds of the true constants. Every estimate is
attained at points the report keeps (:class:`NormWitness`, :class:`SecantWitness`), so it
can be recomputed independently.

Loss scaling. The chapter's objective is the sum loss ``f = sum_i (Phi(x_i, w) - y_i)^2``
(11.0.1b), and Assumption 11.12 and Theorem 11.13 are stated for it. With ``loss="mean"``
or ``"half_sum"`` the objective is ``s f`` (``s = 1/m`` or ``1/2``), and a step ``h`` on
``s f`` is the step ``h s`` on ``f``. So the eigenvalues, ``f(w0)``, ``U``, ``L`` and ``r``
are always the chapter's (sum-loss) quantities, the admissible step for the scaled loss
is ``1 / (s (lambda_min + lambda_max))``, and the loss bound (11.4.6b) of a run with step
``h`` on ``s f`` reads ``s f(w_k) <= (1 - h s lambda_min)^{2k} s f(w0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

from widenet import _memory
from widenet import _validation as check
from widenet._types import Backend, Loss, Seed
from widenet.network.parameters import Parameters
from widenet.network.shallow import ShallowNetwork
from widenet.regression import _solve

_Witness = TypeVar("_Witness")

# Rounding level of a comparison, per dtype of the computation: about 4500 unit roundoffs
# in float64 and 840 in float32, the base relative tolerances of the tests (rtol_for in
# tests/conftest.py).
_ROUNDING = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}

# Secants over pairs of measured points: at most this many float64 numbers are stored for them
# (pairs of random points of the ball see the average curvature, far below L: few are needed).
_PAIR_STORE = 2 ** 18

# Hessian products by secants ``w +- eps u`` with ``eps = _SECANT_FRACTION * r`` around base
# points at distance at most ``(1 - _SECANT_FRACTION) r`` from ``w0`` (so both points lie in the ball).
_SECANT_FRACTION = 1e-2

# A secant ratio is kept only when the difference of the two gradients exceeds this fraction of
# their norms: the computed ratio is then exact to about 1e-11 relative (the gradients carry a
# few ulps of rounding each). Below it, say between two points of a converged gradient-descent
# path, the "difference" is rounding and the ratio is meaningless.
_SECANT_RESOLUTION = 1e-8

# Base points of the Lanczos iterations drawn at random from the ball (beside ``w0``, the
# gradient-ascent points and the gradient-descent path).
_RANDOM_BASE_POINTS = 4

# At most this many points of the gradient-descent path are used (log-spaced in k).
_PATH_POINTS = 8

_RELU_NOTE = ("relu: sigma' is discontinuous, so grad_w Phi jumps where a pre-activation crosses 0 and L is "
              "infinite on any ball that reaches such a kink; Assumption 11.18 (a) (sigma' Lipschitz) excludes "
              "relu. The reported L is only the largest secant found.")


# --- results ------------------------------------------------------------------------------


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

    Attributes
    ----------
    activation, parametrization : str
    width, input_dim, num_points, num_params : int
        ``n``, ``d``, ``m`` and ``P = n (d + 2) + 1``.
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
    """

    activation: str
    parametrization: str
    width: int
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
            f"Assumption 11.12 at w0: {self.activation}, {self.parametrization}, n = {self.width}, "
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


# --- measurement --------------------------------------------------------------------------


def _assumption_blocks(network: ShallowNetwork, m: int, path_steps: int, lanczos_steps: int) -> List[_memory.Block]:
    """Return what :func:`check_assumptions` holds at its peak, in float64 parameter vectors ``P``.

    The clone, ``w0``, the gradient-descent path, the stored Jacobians of the pair secants,
    the Jacobian at ``w0`` and the ascent points throughout; then either a Jacobian with its
    hidden layer and the two temporaries of the secants against the stored ones, or the base
    points and the Lanczos basis with its stack and a temporary.
    """
    size, path = network.num_params, min(path_steps, _PATH_POINTS)
    stored = max(1, _PAIR_STORE // ((m + 1) * size))
    vectors = lambda count: ("parameter vectors", (count, size), np.float64, 1)  # noqa: E731
    common = 3 + path + (m + 1) * stored + 2 * m
    spectrum = [vectors(3), ("tangent Gram and eigvalsh's copy and workspace", (m, m), np.float64, 3)]
    rows = [vectors(common + m + 2 * stored * m), ("hidden layer", (m, network.width), np.float64, 2)]
    lanczos = [vectors(common + _RANDOM_BASE_POINTS + 1 + path + m + 3 * lanczos_steps + 1)]
    return _memory.peak(spectrum, rows, lanczos)


def _convergence_blocks(network: ShallowNetwork, m: int, records: int,
                        assumptions: bool) -> List[_memory.Block]:
    """Return what :func:`check_convergence` holds at its peak.

    That is :func:`check_assumptions` when it runs it; the two clones (four parameter
    vectors) with the training run's records, hidden layer and parameter copies; the bounds
    computed on the records (about a dozen arrays of them); a Jacobian for the output scales.
    """
    size = network.num_params
    clones: _memory.Block = ("the clones' parameters", (4, size), network.dtype, 1)
    training: List[_memory.Block] = [clones, ("records", (records, 2), np.float64, 1),
                ("hidden layer", (3, m, network.width), network.dtype, 1),
                ("parameters copied in and out, state, start and gradient", (6, size), network.dtype, 1)]
    bounds: List[_memory.Block] = [clones, ("records and the bounds on them", (records, 12), np.float64, 1)]
    scales: List[_memory.Block] = [clones, ("Jacobian", (m, size), np.float64, 1),
                                   ("hidden layer", (m, network.width), np.float64, 2)]
    first = _assumption_blocks(network, m, 100, 8) if assumptions else []
    return _memory.peak(first, training, bounds, scales)


def _network(model: object, name: str = "model") -> ShallowNetwork:
    if not isinstance(model, ShallowNetwork):
        raise TypeError(f"{name}: expected a widenet.ShallowNetwork, got {type(model).__name__}")
    return model


def _clone(model: ShallowNetwork, dtype: npt.DTypeLike) -> ShallowNetwork:
    """Return a network of the same configuration in ``dtype``, at (and starting from) ``model``'s w0."""
    clone = ShallowNetwork(model.input_dim, model.width, model.activation, model.parametrization,
                           weight_var=model.weight_var, bias_var=model.bias_var, output_var=model.output_var,
                           output_bias_var=model.output_bias_var, distribution=model.distribution, seed=0,
                           dtype=dtype)
    clone.initial_params = model.initial_params
    clone.params = model.initial_params
    return clone


def _norm(array: np.ndarray, axis: Union[None, int, Tuple[int, ...]] = None) -> Any:
    """Euclidean norm by a pairwise sum (no BLAS call: cheap for one vector on a busy machine)."""
    return np.sqrt(np.sum(array * array, axis=axis))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(_norm(vector))
    return vector / norm if norm > 0 else vector


class _Probe:
    """Gradients ``grad_w Phi(x_i, w)`` at parameter vectors ``w`` (float64).

    With the running maxima of the gradient norms and of the secant ratios, and their
    witnesses.
    """

    def __init__(self, network: ShallowNetwork, X: np.ndarray, w0: np.ndarray):
        self.network, self.X, self.w0 = network, X, w0
        self.U = NormWitness(0, w0, -math.inf)
        self.L: Optional[SecantWitness] = None
        self.evaluated = 0
        m, P = X.shape[0], w0.size
        capacity = max(1, _PAIR_STORE // ((m + 1) * P))
        self._stored_w = np.empty((capacity, P))
        self._stored_rows = np.empty((capacity, m, P))
        self._stored_norms = np.empty((capacity, m))
        self._stored = 0

    def _set(self, w: np.ndarray) -> None:
        net = self.network
        net.params = Parameters.from_vector(w, net.width, net.input_dim)

    def rows(self, w: np.ndarray) -> np.ndarray:
        """Return the m x P Jacobian at ``w``; update ``U`` and the pair secants."""
        self._set(w)
        J = self.network.jacobian(self.X)
        self.evaluated += 1
        norms = _norm(J, axis=1)
        i = int(np.argmax(norms))
        if norms[i] > self.U.value:
            self.U = NormWitness(i, w.copy(), float(norms[i]))
        self._pairs(w, J, norms)
        return J

    def row(self, w: np.ndarray, i: int) -> np.ndarray:
        self._set(w)
        self.evaluated += 1
        return self.network.jacobian(self.X[i:i + 1])[0]

    def secant(self, i: int, w_a: np.ndarray, w_b: np.ndarray, g_a: np.ndarray, g_b: np.ndarray) -> np.ndarray:
        """Record ``|g_a - g_b| / |w_a - w_b|`` and return ``g_a - g_b``."""
        difference = g_a - g_b
        distance = float(_norm(w_a - w_b))
        change = float(_norm(difference))
        if distance > 0 and change > _SECANT_RESOLUTION * float(_norm(g_a) + _norm(g_b)):
            ratio = change / distance
            if self.L is None or ratio > self.L.value:
                self.L = SecantWitness(i, w_a.copy(), w_b.copy(), ratio)
        return difference

    def _pairs(self, w: np.ndarray, J: np.ndarray, norms: np.ndarray) -> None:
        """Record the secants between ``w`` and every stored point, for every training point.

        ``w`` is stored while there is room (the first points: ``w0``, then the path).
        """
        if self._stored:
            W = self._stored_w[:self._stored]
            distances = _norm(W - w, axis=1)
            changes = _norm(self._stored_rows[:self._stored] - J, axis=2)  # (stored, m)
            resolved = changes > _SECANT_RESOLUTION * (self._stored_norms[:self._stored] + norms)
            ratios = np.divide(changes, distances[:, None], out=np.zeros_like(changes),
                               where=resolved & (distances[:, None] > 0))
            a, i = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
            if self.L is None or ratios[a, i] > self.L.value:
                self.L = SecantWitness(int(i), W[a].copy(), w.copy(), float(ratios[a, i]))
        if self._stored < len(self._stored_w):
            self._stored_w[self._stored] = w
            self._stored_rows[self._stored] = J
            self._stored_norms[self._stored] = norms
            self._stored += 1

    def hessian_direction(self, w: np.ndarray, i: int, u: np.ndarray, eps: float) -> np.ndarray:
        """Return ``grad Phi(x_i, w + eps u) - grad Phi(x_i, w - eps u)`` (about ``2 eps H_i(w) u``).

        The difference is recorded as a secant.
        """
        w_a, w_b = w + eps * u, w - eps * u
        return self.secant(i, w_a, w_b, self.row(w_a, i), self.row(w_b, i))


def _lanczos(probe: _Probe, w: np.ndarray, i: int, start: np.ndarray, eps: float, steps: int) -> None:
    """Run Lanczos on the Hessian ``H_i(w)`` of ``Phi(x_i, .)``, products by secants.

    Then one secant is taken along the Ritz vector of the largest ``|Ritz value|``.

    Every product ``grad Phi(x_i, w + eps q) - grad Phi(x_i, w - eps q)`` is a secant over two
    points of the ball and is recorded; the last one, along the Ritz vector ``u``, is about
    ``2 eps |H_i(w) u| >= 2 eps |u^T H_i(w) u|``. For the dense top of the spectrum of a
    wide network's Hessian (one small block per hidden unit) a few Lanczos steps come much
    closer to ``|H_i(w)|`` than as many power-iteration steps.
    """
    basis = [start]
    alphas: List[float] = []
    betas: List[float] = []
    for _ in range(steps):
        q = basis[-1]
        z = probe.hessian_direction(w, i, q, eps) / (2.0 * eps)
        alphas.append(float(np.sum(q * z)))
        Q = np.stack(basis)
        for _ in range(2):  # full reorthogonalization (twice is enough); no BLAS for these small products
            z = z - np.sum(Q * np.sum(Q * z, axis=1)[:, None], axis=0)
        beta = float(_norm(z))
        if beta <= 1e-8 * max(abs(alphas[-1]), 1e-300):
            break
        betas.append(beta)
        basis.append(z / beta)
    k = len(alphas)
    T = np.diag(alphas) + np.diag(betas[:k - 1], 1) + np.diag(betas[:k - 1], -1)
    values, vectors = np.linalg.eigh(T)
    top = int(np.argmax(np.abs(values)))
    ritz = _unit(np.sum(np.stack(basis[:k]) * vectors[:, top][:, None], axis=0))
    probe.hessian_direction(w, i, ritz, eps)


def _ball_point(w0: np.ndarray, direction: np.ndarray, radius: float) -> np.ndarray:
    return w0 + radius * _unit(direction)


def _into_ball(w0: np.ndarray, w: np.ndarray, radius: float) -> np.ndarray:
    """``w`` if it lies in ``B_radius(w0)``, else its projection onto the sphere."""
    offset = w - w0
    distance = float(_norm(offset))
    return w if distance <= radius else w0 + (radius / distance) * offset


def _gd_path(network: ShallowNetwork, X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> List[np.ndarray]:
    """Parameter vectors of GD on the sum loss at log-spaced steps ``1 <= k <= steps``."""
    if steps == 0:
        return []
    checkpoints = np.unique(np.round(np.geomspace(1, steps, min(steps, _PATH_POINTS))).astype(int))
    path, done = [], 0
    for k in checkpoints:
        network.train(X, y, lr, int(k - done), record_every=int(k - done), loss="sum")
        done = int(k)
        w = network.params.to_vector()
        if not np.all(np.isfinite(w)):
            break
        path.append(w)
    return path


def _kink_distance(network: ShallowNetwork, X: np.ndarray) -> float:
    """Distance from w0 to the nearest point where a pre-activation of a training point is 0.

    ``z_ij = s u_j . x_i + b_j`` is linear in ``(u_j, b_j)`` with gradient ``(s x_i, 1)``, so
    the distance to its zero set is ``|z_ij| / sqrt(s^2 |x_i|^2 + 1)``.
    """
    U, b, _, _ = network.initial_params.arrays()
    s = 1.0 if network.parametrization == "lecun" else 1.0 / math.sqrt(network.input_dim)
    Z = s * (X @ U.T) + b
    return float(np.min(np.abs(Z) / np.sqrt(s * s * np.sum(X * X, axis=1) + 1.0)[:, None]))


def _radius(m: int, U: float, f0: float, lambda_min: float, regular: bool) -> float:
    """``r = 2 sqrt(m) U sqrt(f0) / lambda_min`` (11.4.3)."""
    if f0 == 0:
        return 0.0
    return 2.0 * math.sqrt(m) * U * math.sqrt(f0) / lambda_min if regular else math.inf


def check_assumptions(model: ShallowNetwork, X: npt.ArrayLike, y: npt.ArrayLike, loss: Loss = "sum",
                      samples: int = 32, path_steps: int = 100, lanczos_steps: int = 8, refinements: int = 2,
                      seed: Seed = None) -> AssumptionReport:
    """Measure the constants of Assumption 11.12 for ``model`` at its initial parameters.

    Works on a float64 copy of ``model`` at ``w0 = model.initial_params`` (the caller's
    network is not modified; a float32 network's parameters are exact in float64).

    Parameters
    ----------
    model : ShallowNetwork
    X : array_like, shape (m, d)
        The training inputs ``x_i``.
    y : array_like, shape (m,)
        The targets ``y_i``.
    loss : {"sum", "mean", "half_sum"}
        The loss scaling ``s`` the admissible step is also given for. All other quantities
        are the chapter's, for the sum loss (see the module docstring).
    samples : int, default 32
        Random points of the ball per round (uniform directions, radii ``r k / samples``,
        ``k = 1 .. samples``, so the last is on the surface).
    path_steps : int, default 100
        Steps of gradient descent on the sum loss from ``w0`` at ``1/(lambda_min + lambda_max)``;
        up to 8 log-spaced points of that path (projected onto the ball when outside) are
        measured too.
    lanczos_steps : int, default 8
        Lanczos steps (Hessian products by secants) per base point and training point
        for ``L``.
    refinements : int, default 2
        Rounds of ``r`` from ``U``, resampling, ``U`` again (``r`` grows with ``U``).
    seed : None, int or numpy.random.Generator

    Returns
    -------
    AssumptionReport

    Notes
    -----
    (a) ``lambda_min``, ``lambda_max`` are the extreme eigenvalues of the tangent Gram
    (11.4.1), :meth:`ShallowNetwork.ntk` at ``w0``. ``f(w0)`` is (11.0.1b).

    (b) ``U`` and ``L`` of (11.4.2) are suprema over ``B_r(w0)``, and ``r`` (11.4.3) depends
    on ``U``. Starting from ``U`` at ``w0``, each round measures ``|grad_w Phi(x_i, w)|`` (the
    rows of :meth:`ShallowNetwork.jacobian`) at random points of the ball, at the
    gradient-descent path and at one projected gradient-ascent step of
    ``|grad_w Phi(x_i, .)|^2`` per ``i`` (its gradient ``2 H_i g_i`` taken as a difference of
    gradients), and enlarges ``r`` with the largest norm. The final ``r`` uses the final
    ``U``, so every point measured lies in ``B_r(w0)`` and both estimates are LOWER bounds of
    the constants on that ball. ``L`` is the largest secant ratio
    ``|grad Phi(x_i, w) - grad Phi(x_i, w')| / |w - w'|`` found over (1) every pair of the
    points above (as many as a fixed memory budget allows) and (2) Lanczos iterations on the
    Hessian ``H_i`` of ``Phi(x_i, .)`` from ``w0``, the ascent points, the path and a few random
    points, whose products ``H_i(w) u ~ (grad Phi(x_i, w + eps u) - grad Phi(x_i, w - eps u)) / (2 eps)``
    (``eps = r / 100``) are each a secant over two points of the ball, ending with the secant
    along the Ritz vector of the largest ``|Ritz value|``, close to the top singular vector of
    ``H_i(w)``. (Power iteration, which the same secants would allow, converges slowly here:
    the Hessian of a wide network has one small block per hidden unit, a dense top of the
    spectrum.) Secants whose gradient change is below ``1e-8`` of the gradients' norms
    (rounding, not curvature) are not used.

    (c) is evaluated on the estimates: ``L_lower <= lambda_min^2 / (12 m^{3/2} U_lower^2
    sqrt(f(w0)))``. A violation there is a definite violation of (c); satisfaction only
    means that none was found.

    For relu the true ``L`` is infinite when the ball reaches a kink of ``sigma'``; the
    report computes the distance to the nearest kink and says so (Assumption 11.18 (a)).
    """
    model = _network(model)
    # the data as the network sees it (in its dtype), then exactly in float64
    X = check.as_inputs(X, "X", model.dtype, model.input_dim)
    y = check.as_targets(y, "y", model.dtype, X.shape[0]).astype(np.float64)
    X = X.astype(np.float64)
    scale = check.loss_scale(loss, X.shape[0])
    samples = check.integer(samples, "samples", 1)
    path_steps = check.integer(path_steps, "path_steps", 0)
    lanczos_steps = check.integer(lanczos_steps, "lanczos_steps", 1)
    refinements = check.integer(refinements, "refinements", 0)
    rng = check.generator(seed)
    m = X.shape[0]
    _memory.require("check_assumptions", _assumption_blocks(model, m, path_steps, lanczos_steps),
                    "Pass fewer points or a narrower network.")
    network = _clone(model, np.float64)

    # (a) and f(w0): the chapter's quantities at w0
    eigenvalues = _solve.eigenvalues(network.ntk(X))
    lambda_min, lambda_max = float(eigenvalues[0]), float(eigenvalues[-1])
    regular = lambda_min > _solve.rank_tolerance(np.float64, m) * lambda_max
    f0 = network.loss(X, y, "sum")
    admissible_sum = 1.0 / (lambda_min + lambda_max)

    w0 = network.initial_params.to_vector()
    path = _gd_path(network, X, y, admissible_sum, path_steps)
    probe = _Probe(network, X, w0)
    J0 = probe.rows(w0)
    if not regular:
        # r is infinite: the measurements are taken on the ball the gradient-descent path explores
        radius = max([float(_norm(w - w0)) for w in path], default=0.0)
    else:
        radius = _radius(m, probe.U.value, f0, lambda_min, regular)

    # (b), U: rounds of r from U, then U on the ball of that radius
    ascent_points: List[np.ndarray] = []
    for _ in range(refinements + 1):
        if radius == 0:
            break
        for w in path:
            probe.rows(_into_ball(w0, w, radius))
        for k in range(samples):
            probe.rows(_ball_point(w0, rng.standard_normal(w0.size), radius * (k + 1) / samples))
        ascent_points = []
        eps = _SECANT_FRACTION * radius
        for i in range(m):
            direction = probe.hessian_direction(w0, i, _unit(J0[i]), eps)
            if np.any(direction):
                ascent_points.append(_ball_point(w0, direction, radius))
                probe.rows(ascent_points[-1])
        if regular:
            radius = max(radius, _radius(m, probe.U.value, f0, lambda_min, regular))

    # (b), L: Lanczos on the Hessians, by secants, on the final ball
    if radius > 0:
        eps = _SECANT_FRACTION * radius
        inner = (1.0 - _SECANT_FRACTION) * radius
        bases = [w0] + [_into_ball(w0, w, inner) for w in path + ascent_points]
        bases += [_ball_point(w0, rng.standard_normal(w0.size), inner * rng.uniform())
                  for _ in range(_RANDOM_BASE_POINTS)]
        for base in bases:
            for i in range(m):
                _lanczos(probe, base, i, _unit(rng.standard_normal(w0.size)), eps, lanczos_steps)

    r = radius if regular else math.inf
    notes = []
    kink_distance, lipschitz_infinite = None, False
    if network.activation == "relu":
        notes.append(_RELU_NOTE)
        kink_distance = _kink_distance(network, X)
        lipschitz_infinite = kink_distance < r
    if not regular:
        notes.append("the tangent Gram is singular (Assumption 11.12 (a) fails): r is infinite and U, L were "
                     "measured on the ball reached by the gradient-descent path.")
    U_lower = probe.U.value
    L_lower = 0.0 if probe.L is None else probe.L.value
    if regular and f0 > 0:
        c_bound = lambda_min ** 2 / (12.0 * m ** 1.5 * U_lower ** 2 * math.sqrt(f0))
    else:
        c_bound = math.inf if regular else 0.0
    condition_c = bool(regular and not lipschitz_infinite and L_lower <= c_bound)
    return AssumptionReport(
        activation=network.activation, parametrization=network.parametrization, width=network.width,
        input_dim=network.input_dim, num_points=m, num_params=network.num_params, loss=loss, loss_scale=scale,
        lambda_min=lambda_min, lambda_max=lambda_max, condition_a_held=bool(regular), f0=f0,
        U_lower=U_lower, U_witness=_frozen(probe.U), U_w0=float(np.max(_norm(J0, axis=1))), r=r, L_lower=L_lower,
        L_witness=None if probe.L is None else _frozen(probe.L), lipschitz_infinite=bool(lipschitz_infinite),
        kink_distance=kink_distance, condition_c_bound=c_bound, condition_c_held=condition_c,
        admissible_lr_sum=admissible_sum, admissible_lr=admissible_sum / scale,
        evaluated_points=probe.evaluated, samples=samples, path_steps=path_steps, lanczos_steps=lanczos_steps,
        refinements=refinements, notes=tuple(notes))


def _frozen(witness: _Witness) -> _Witness:
    """Return the witness with read-only arrays."""
    for value in vars(witness).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return witness


# --- the run ------------------------------------------------------------------------------


def _output_scales(network: ShallowNetwork, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return ``|y_i| + |c| + |v| |a sigma(z_i)|``: bounds of the magnitudes summed in ``Phi(x_i, w) - y_i``.

    By Cauchy-Schwarz on ``sum_j |v_j a sigma(z_ij)|``; ``a sigma(z_i)`` is the v-block of the
    Jacobian row).
    """
    network.params = Parameters.from_vector(w, network.width, network.input_dim)
    n, d = network.width, network.input_dim
    J = network.jacobian(X)
    v, c = network.params.v, network.params.c
    return np.abs(y) + abs(c) + _norm(v) * _norm(J[:, n * d + n:n * d + 2 * n], axis=1)


def check_convergence(model: ShallowNetwork, X: npt.ArrayLike, y: npt.ArrayLike, steps: int,
                      lr: Optional[float] = None, loss: Loss = "sum", record_every: int = 1,
                      assumptions: Optional[AssumptionReport] = None, seed: Seed = None,
                      backend: Backend = "cpp") -> ConvergenceCheck:
    """Run gradient descent from ``w0`` and compare it with Theorem 11.13.

    Trains a copy of ``model`` (in its dtype, from ``model.initial_params``; the caller's
    network is not modified) with ``w_{k+1} = w_k - h grad(s f)(w_k)`` (11.4.5) and compares
    every recorded step with (11.4.6b) ``s f(w_k) <= (1 - h s lambda_min)^{2k} s f(w0)`` and
    (11.4.6a) ``|w_k - w0| <= r``.

    Parameters
    ----------
    model : ShallowNetwork
    X : array_like, shape (m, d)
    y : array_like, shape (m,)
    steps : int
        Number of gradient-descent steps (>= 0).
    lr : float, optional
        The step ``h`` on the objective ``s f``. Default: the admissible step (11.4.4) for
        that scaling, ``1 / (s (lambda_min + lambda_max))``.
    loss : {"sum", "mean", "half_sum"}
        The scaling ``s`` of the objective (1, 1/m, 1/2). GD with step ``h`` on ``s f`` is GD
        with step ``h s`` on the chapter's ``f``, and the bounds are evaluated with that step.
    record_every : int, default 1
        Record every this many steps (and the last).
    assumptions : AssumptionReport, optional
        From :func:`check_assumptions` for the same network and data; computed (with
        ``seed``) when not given.
    seed : None, int or numpy.random.Generator
        Passed to :func:`check_assumptions` when ``assumptions`` is None.
    backend : {"cpp", "numpy"}
        Which implementation trains.

    Returns
    -------
    ConvergenceCheck

    Notes
    -----
    The comparisons allow rounding only (:attr:`ConvergenceCheck.rounding`), never a
    tolerance factor. ``r`` uses the report's U estimate, a lower bound of ``U``: the bound
    checked is at least as strict as the theorem's.
    """
    model = _network(model)
    X = check.as_inputs(X, "X", model.dtype, model.input_dim)
    y = check.as_targets(y, "y", model.dtype, X.shape[0])
    steps = check.integer(steps, "steps", 0)
    scale = check.loss_scale(loss, X.shape[0])
    record_every = check.integer(record_every, "record_every", 1)
    check.backend(backend)
    m = X.shape[0]
    _memory.require("check_convergence", _convergence_blocks(model, m, _memory.recorded_count(steps, record_every),
                                                             assumptions is None),
                    "Pass fewer points, a narrower network or a larger record_every.")
    probe = _clone(model, np.float64)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    if assumptions is None:
        assumptions = check_assumptions(model, X, y, loss=loss, seed=seed)
    elif not isinstance(assumptions, AssumptionReport):
        raise TypeError(f"assumptions: expected an AssumptionReport from check_assumptions, "
                        f"got {type(assumptions).__name__}")
    else:
        _check_report(assumptions, probe, X64, y64)
    lr = assumptions.admissible_lr_sum / scale if lr is None else check.positive_real(lr, "lr")

    network = _clone(model, model.dtype)
    # a step beyond the admissible one may diverge: the bounds then fail, which is the report
    result = network.train(X, y, lr, steps, record_every=record_every, loss=loss, backend=backend,
                           on_divergence="return")

    rounding = _ROUNDING[model.dtype]
    h = lr * scale
    lambda_min, lambda_max = assumptions.lambda_min, assumptions.lambda_max
    contraction = abs(1.0 - h * lambda_min)
    k = result.steps.astype(np.float64)
    residual0 = math.sqrt(scale * assumptions.f0)
    w0 = model.initial_params.to_vector().astype(np.float64)
    final = network.params.to_vector().astype(np.float64)
    scales = _output_scales(probe, X64, y64, w0)
    if np.all(np.isfinite(final)):
        scales = np.maximum(scales, _output_scales(probe, X64, y64, final))
    # Slack, all of it rounding: relative on the bound; the first-order effect on
    # contraction^k of the rounding of lambda_min (eigvalsh: about m eps lambda_max, eps of the
    # run's dtype); and the rounding floor of the computed residuals.
    spread = h * m * np.finfo(model.dtype).eps * lambda_max
    floor = rounding * math.sqrt(scale) * float(_norm(scales))
    with np.errstate(over="ignore", invalid="ignore"):  # a step beyond (11.4.4) may give inf bounds
        power = contraction ** k
        power_slack = k * spread * (contraction + spread) ** np.maximum(k - 1.0, 0.0)
        allowed = residual0 * (power * (1.0 + rounding) + power_slack) + floor
        loss_holds = np.sqrt(result.losses) <= allowed
        loss_bounds = scale * assumptions.f0 * contraction ** (2.0 * k)
    r = assumptions.r
    distance_holds = result.distances <= r + rounding * (r + float(_norm(w0)))
    admissible = h <= assumptions.admissible_lr_sum * (1.0 + _ROUNDING[np.dtype(np.float64)])
    return ConvergenceCheck(
        steps=_readonly(result.steps), losses=_readonly(result.losses), loss_bounds=_readonly(loss_bounds),
        loss_bound_holds=_readonly(loss_holds), distances=_readonly(result.distances), distance_bound=r,
        distance_bound_holds=_readonly(distance_holds), loss_bound_held=bool(loss_holds.all()),
        distance_bound_held=bool(distance_holds.all()), lr=lr, chapter_lr=h, lr_admissible=bool(admissible),
        loss=loss, loss_scale=scale, dtype=model.dtype, rounding=rounding,
        assumption_c_held=assumptions.condition_c_held, assumptions=assumptions)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _check_report(report: AssumptionReport, network: ShallowNetwork, X: np.ndarray, y: np.ndarray) -> None:
    """Check that the report is about this network's w0 and this data.

    Its f(w0) and eigenvalues are recomputed (as check_assumptions computes them) and must
    agree to rounding.
    """
    if (report.num_points, report.num_params, report.activation, report.parametrization) != (
            X.shape[0], network.num_params, network.activation, network.parametrization):
        raise ValueError("assumptions: the report is for a different network or data "
                         f"(m = {report.num_points}, P = {report.num_params}, {report.activation}, "
                         f"{report.parametrization}; expected m = {X.shape[0]}, P = {network.num_params}, "
                         f"{network.activation}, {network.parametrization})")
    eigenvalues = _solve.eigenvalues(network.ntk(X))
    f0 = network.loss(X, y, "sum")
    tolerance = _ROUNDING[np.dtype(np.float64)]
    if not (math.isclose(report.f0, f0, rel_tol=tolerance, abs_tol=tolerance * float(np.dot(y, y)))
            and math.isclose(report.lambda_max, eigenvalues[-1], rel_tol=tolerance)
            and math.isclose(report.lambda_min, eigenvalues[0], rel_tol=0.0,
                             abs_tol=tolerance * float(eigenvalues[-1]))):
        raise ValueError("assumptions: the report is for a different network or data "
                         f"(f(w0) = {report.f0:.6g}, lambda_min = {report.lambda_min:.6g}; this network and data "
                         f"give {f0:.6g}, {float(eigenvalues[0]):.6g})")
