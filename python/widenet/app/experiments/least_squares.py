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

import math
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._rounding import UNIT_ROUNDOFF, backward_error, gamma
from widenet.app.experiments._statistics import FloatArray
from widenet.dynamics.linearization import linearize
from widenet.kernels import polynomial_features
from widenet.network.linear_models import FeatureModel
from widenet.regression.estimators import KernelLeastSquares
from widenet.regression.least_squares import (
    gradient_descent,
    kernel_projector,
    max_step,
    min_norm_solution,
    row_space_projector,
)

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory

NAME = "least-squares"

# The step, as a fraction of the end 1/(2 s_max^2) of Theorem 11.3's open interval.
STEP_FRACTION = 0.9
# Steps outside the interval, in the same unit: its endpoint, one below the stability limit
# 1/s_max^2 (= 2 in this unit) and one just beyond it.
OUTSIDE_STEPS = (1.0, 1.9, 2.04)
OUTSIDE_CHANGE = 1e6  # the runs outside the interval stop once the measured component changed by this factor

# The kernel case: four points on the line, the polynomial kernel of degree 6 (7 features).
KERNEL_X = (-0.9, -0.3, 0.4, 0.8)
KERNEL_DEGREE = 6
KERNEL_GRID = (-1.1, 1.1)


def feature_map(X: npt.ArrayLike) -> FloatArray:
    """Return the explicit feature map of the polynomial kernel ``(1 + x z)^6`` (Exercise 11.35)."""
    return polynomial_features(X, KERNEL_DEGREE)


def steps_to(rate: float, reduction: float = 1e-15) -> int:
    """Return the number of steps after which ``rate^k`` is below ``reduction``."""
    return int(math.ceil(math.log(reduction) / math.log(rate))) if 0.0 < rate < 1.0 else 1


def contraction(lr: float, singular: FloatArray) -> FloatArray:
    """Return ``|1 - 2 h s_i^2|``, the factor by which GD's error along the ``i``-th right singular vector changes.

    GD multiplies it by that factor at each step.
    """
    return np.abs(1.0 - 2.0 * lr * singular**2)


def step_rounding(A: FloatArray, y: FloatArray, lr: float, w_norms: FloatArray, r_norms: FloatArray) -> FloatArray:
    """Return a bound on the rounding error each GD step adds, as widenet computes it.

    A step forms ``r = A w - y`` (each entry a sum of ``d + 1`` terms: error at most
    ``gamma_(d+1) (|A|_F |w| + |y|)`` in norm), ``g = A^T r`` (``gamma_m |A|_F |r|``, plus
    ``s_max`` times the error of ``r``) and ``w - 2 h g`` (one rounding of the product and
    one of the difference). ``w_norms`` and ``r_norms`` are ``|w_k|`` and ``|r_k|`` for
    ``k = 0, ..., K``; returns the bound for each of the ``K`` steps.
    """
    m, d = A.shape
    s_max, frobenius = float(np.linalg.norm(A, 2)), float(np.linalg.norm(A))
    w, r = w_norms[:-1], r_norms[:-1]
    gradient_error = s_max * gamma(d + 1) * (frobenius * w + np.linalg.norm(y)) + gamma(m) * frobenius * r
    return UNIT_ROUNDOFF * (w_norms[1:] + 2.0 * lr * s_max * r) + 2.0 * lr * gradient_error


def propagated(errors: FloatArray, growth: float) -> FloatArray:
    """Return ``B_k = sum_(j<k) growth^(k-1-j) e_j`` for ``k = 0, ..., K``.

    That is the rounding of the steps carried to step ``k`` by a map whose norm is ``growth``.
    """
    bounds = np.zeros(errors.size + 1)
    for k, error in enumerate(errors):
        bounds[k + 1] = growth * bounds[k] + error
    return bounds


def measured_factor(components: FloatArray, bounds: FloatArray, steps: npt.NDArray[np.int_]) -> dict[str, Any]:
    """Measure the per-step factor ``|c_k / c_0|^(1/k)`` of a component that GD multiplies by a constant.

    With it the tolerance on its logarithm from the rounding bounds ``|c_k - exact| <= B_k``:
    ``(-log(1 - B_k/|c_k|) - log(1 - B_0/|c_0|)) / k``, at the step ``k`` where that
    tolerance is smallest (``B_k < |c_k| / 2``).
    """
    size = np.abs(components)
    usable = (steps > 0) & (bounds < size / 2.0)
    if not usable.any():  # nothing measurable: the claim that needs it fails
        return {"factor": None, "log_tolerance": None, "step": None}
    k, c, b = steps[usable].astype(float), size[usable], bounds[usable]
    tolerances = (-np.log1p(-b / c) - math.log1p(-bounds[0] / size[0])) / k
    best = int(np.argmin(tolerances))
    return {"factor": float((c[best] / size[0]) ** (1.0 / k[best])), "log_tolerance": float(tolerances[best]),
            "step": int(k[best])}


def factor_agrees(measured: dict[str, Any], predicted: float, prediction_error: float) -> tuple[bool, float]:
    """Test a measured factor against ``predicted``: ``(holds, deviation / tolerance)``.

    It holds when ``|log measured - log predicted| <= log tolerance + prediction_error / predicted``.
    """
    if measured["factor"] is None or predicted <= 0.0:
        return False, math.inf
    tolerance = measured["log_tolerance"] + prediction_error / predicted
    deviation = abs(math.log(measured["factor"]) - math.log(predicted))
    return bool(deviation <= tolerance), deviation / tolerance


class _Problem:
    """``A``, ``y``, ``w0`` and what the predictions need from one SVD of ``A``."""

    def __init__(self, A: FloatArray, y: FloatArray, w0: FloatArray) -> None:
        self.A, self.y, self.w0 = A, y, w0
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        self.U, self.singular, self.V = U, s, Vt.T
        self.s_max, self.kappa = float(s[0]), float(s[0] / s[-1])
        self.backward = backward_error(A.shape)
        self.w_star = min_norm_solution(A, y)
        self.kernel_part = kernel_projector(A) @ w0
        self.min_loss = float(np.sum((y - U @ (U.T @ y)) ** 2))  # |(I - A A^+) y|^2

    def limit(self, kernel_part_factor: float = 1.0) -> FloatArray:
        """Return ``w* + P_ker w0`` (Theorem 11.3), its second term scaled by ``kernel_part_factor``."""
        return self.w_star + kernel_part_factor * self.kernel_part

    def limit_rounding(self) -> float:
        """Return a first-order bound on the error of the computed ``w*`` and ``P_ker w0``.

        For the SVD's relative backward error ``e``: ``e (3 kappa |w*| + kappa (kappa + 1)
        |r_min| / s_max)`` for the least-squares solution (Higham, Theorems 20.1 and 21.1; the
        residual term vanishes when ``A`` has full row rank), ``2 kappa e |w0|`` for the
        projector, and ``e`` times each for the products that apply them.
        """
        residual = math.sqrt(self.min_loss)
        return self.backward * ((3.0 * self.kappa + 1.0) * np.linalg.norm(self.w_star)
                                + self.kappa * (self.kappa + 1.0) * residual / self.s_max
                                + (2.0 * self.kappa + 1.0) * np.linalg.norm(self.w0))

    def vector_error(self, i: int) -> float:
        """Return a bound on ``|v_i computed - v_i|``: ``sqrt 2 sin(angle)``.

        The angle is at most the SVD's backward error over the gap from ``s_i`` to the other
        singular values (the zeros of the kernel included when ``d > m``).
        """
        others = np.delete(self.singular, i)
        if self.A.shape[1] > self.singular.size:
            others = np.append(others, 0.0)
        gap = float(np.min(np.abs(others - self.singular[i]))) if others.size else math.inf
        return math.sqrt(2.0) * self.backward * self.s_max / gap

    def rate_error(self, lr: float) -> float:
        """Return a bound on the error of the computed ``|1 - 2 h s_i^2|``.

        Each ``s_i`` is within ``e s_max`` (Weyl), so the factor within ``4 h s_max^2 e``.
        """
        return 4.0 * lr * self.s_max**2 * self.backward


def _draw(rows: int, columns: int, rng: np.random.Generator) -> _Problem:
    """Draw a Gaussian problem ``A`` (``rows x columns``, entries of variance ``1/columns``), ``y`` and ``w0``."""
    A = rng.standard_normal((rows, columns)) / math.sqrt(columns)
    y = rng.standard_normal(rows)
    return _Problem(A, y, rng.standard_normal(columns))


def _norms(array: FloatArray) -> FloatArray:
    """Return the norm of every row of ``array``."""
    return np.sqrt(np.sum(array**2, axis=1))


def _component_factor(problem: _Problem, iterates: FloatArray, rounding: FloatArray, limit_error: float,
                      lr: float) -> dict[str, Any]:
    """Measure the per-step factor of ``w_k - w_lim`` along the right singular vector whose factor is the largest.

    That factor is ``|1 - 2 h s_i^2|``. The component's error is the GD rounding carried so
    far, the limit's error, and the singular vector's error times the distance.
    """
    i = int(np.argmax(contraction(lr, problem.singular)))
    errors = iterates - problem.limit()
    distances = _norms(errors)
    components = errors @ problem.V[:, i]
    bounds = rounding + limit_error + problem.vector_error(i) * (distances + rounding + limit_error)
    return {"direction": i, "components": components,
            **measured_factor(components, bounds, np.arange(iterates.shape[0]))}


def _iterate(problem: _Problem, lr: float, steps: int) -> tuple[FloatArray, FloatArray]:
    """Return ``(iterates, residual norms)`` of (11.1.5) from ``w0``.

    They are computed as :func:`widenet.regression.least_squares.gradient_descent` does, at
    any step (that function refuses steps at which GD cannot converge).
    """
    A, y = problem.A, problem.y
    w = problem.w0.copy()
    iterates, residuals = np.empty((steps + 1, w.size)), np.empty(steps + 1)
    for k in range(steps + 1):
        residual = A @ w - y
        iterates[k], residuals[k] = w, np.linalg.norm(residual)
        if k < steps:
            w -= lr * 2.0 * (A.T @ residual)
    return iterates, residuals


def _gd_inside(problem: _Problem, step_factor: float,
               kernel_part_factor: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run GD at ``h = 0.9 / (2 s_max^2)`` from ``w0`` and from ``P_row w0``.

    Returns the numbers and the curves: the distances, the rounding bounds and the measured
    per-step factor.
    """
    A, y = problem.A, problem.y
    lr = STEP_FRACTION * max_step(A)
    rates = contraction(lr, problem.singular)
    rate = float(np.max(rates))
    steps = steps_to(rate)
    run = gradient_descent(A, y, problem.w0, lr, steps)
    from_row_space = gradient_descent(A, y, row_space_projector(A) @ problem.w0, lr, steps)
    rounding = propagated(step_rounding(A, y, lr, _norms(run.iterates), np.sqrt(run.losses)), 1.0)
    row_rounding = propagated(step_rounding(A, y, lr, _norms(from_row_space.iterates),
                                            np.sqrt(from_row_space.losses)), 1.0)
    limit_error = problem.limit_rounding()
    distances = _norms(run.iterates - problem.limit())
    predicted_rate = float(np.max(contraction(step_factor * lr, problem.singular)))
    # Exact GD from w0 is within rate^k |w0 - w_lim| of the exact limit; the computed iterates
    # are within `rounding` of it and the computed limit within `limit_error`.
    envelope = rate ** run.steps.astype(float) * (distances[0] + limit_error) + rounding + limit_error
    tolerance = float(envelope[-1])
    factor = _component_factor(problem, run.iterates, rounding, limit_error, lr)
    factor_held, factor_deviation = factor_agrees(factor, predicted_rate, problem.rate_error(lr))
    # The loss at w_K against min f: |r_K| and |r_min| differ by at most s_max |w_K - w_lim|
    # and the rounding of both residuals.
    residual_rounding = gamma(A.shape[1] + 1) * (np.linalg.norm(A) * np.linalg.norm(run.w) + np.linalg.norm(y))
    projector_rounding = (2.0 * problem.kappa + 1.0) * problem.backward * np.linalg.norm(y)
    residual_error = problem.s_max * tolerance + residual_rounding + projector_rounding
    loss_tolerance = (math.sqrt(run.losses[-1]) + math.sqrt(problem.min_loss) + residual_error) * residual_error
    numbers = {
        "shape": list(A.shape), "lr": lr, "step_times_2_s_max_squared": 2.0 * lr * problem.s_max**2,
        "steps": steps, "singular_values": problem.singular, "condition_number": problem.kappa,
        "rate": rate, "predicted_rate": predicted_rate, "library_rate": run.rate,
        "measured_factor": factor["factor"], "factor_log_tolerance": factor["log_tolerance"],
        "factor_step": factor["step"], "factor_direction": factor["direction"],
        "factor_deviation_over_tolerance": factor_deviation, "factor_held": factor_held,
        "factor_prediction_error": problem.rate_error(lr),
        "initial_distance": float(distances[0]), "final_distance": float(distances[-1]),
        "distance_tolerance": tolerance, "rounding_of_steps": float(rounding[-1]), "limit_rounding": limit_error,
        "envelope_violations": int(np.count_nonzero(distances > envelope)),
        "distance_to_predicted_limit": float(np.linalg.norm(run.w - problem.limit(kernel_part_factor))),
        "distance_to_min_norm": float(np.linalg.norm(run.w - problem.w_star)),
        "kernel_part_norm": float(np.linalg.norm(problem.kernel_part)),
        "predicted_distance_to_min_norm": float(kernel_part_factor * np.linalg.norm(problem.kernel_part)),
        "norm_limit": float(np.linalg.norm(run.w)), "norm_min_norm": float(np.linalg.norm(problem.w_star)),
        "row_space_start_distance_to_min_norm": float(np.linalg.norm(from_row_space.w - problem.w_star)),
        "row_space_start_tolerance": float(rate**steps * np.linalg.norm(from_row_space.iterates[0] - problem.w_star)
                                           + row_rounding[-1] + limit_error),
        "final_loss": float(run.losses[-1]), "min_loss": problem.min_loss,
        "loss_at_min_norm": float(np.sum((A @ problem.w_star - y) ** 2)), "loss_tolerance": loss_tolerance,
    }
    data = {"steps": run.steps, "distances": distances, "slowest_component": np.abs(factor["components"]),
            "distances_row_space_start": _norms(from_row_space.iterates - problem.w_star), "rounding": rounding}
    return numbers, data


def _gd_outside(problem: _Problem, step_factor: float) -> list[dict[str, Any]]:
    """Run GD at the steps of :data:`OUTSIDE_STEPS` (times ``1/(2 s_max^2)``).

    Per step, the per-step factor of the component that changes fastest, measured and predicted.
    """
    rows: list[dict[str, Any]] = []
    for multiple in OUTSIDE_STEPS:
        lr = multiple * max_step(problem.A)
        rates = contraction(lr, problem.singular)
        rate = float(np.max(rates))
        steps = int(math.ceil(math.log(OUTSIDE_CHANGE) / abs(math.log(rate))))
        iterates, residuals = _iterate(problem, lr, steps)
        growth = max(1.0, rate)  # the norm of I - 2 h A^T A (1 on the kernel of A)
        rounding = propagated(step_rounding(problem.A, problem.y, lr, _norms(iterates), residuals), growth)
        factor = _component_factor(problem, iterates, rounding, problem.limit_rounding(), lr)
        predicted = float(np.max(contraction(step_factor * lr, problem.singular)))
        held, deviation = factor_agrees(factor, predicted, problem.rate_error(lr))
        rows.append({"multiple_of_endpoint": multiple, "lr": lr, "steps": steps, "rate": rate,
                     "predicted_rate": predicted, "measured_factor": factor["factor"],
                     "factor_log_tolerance": factor["log_tolerance"], "factor_step": factor["step"],
                     "factor_deviation_over_tolerance": deviation, "factor_held": held, "converges": rate < 1.0,
                     "final_distance": float(np.linalg.norm(iterates[-1] - problem.limit())),
                     "distances": _norms(iterates - problem.limit())})
    return rows


def _kernel_case(points: int, rng: np.random.Generator, kernel_part_factor: float,
                 gram_factor: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run GD on the feature model of the polynomial kernel against Remark 11.4; its numbers and curves."""
    X = np.array(KERNEL_X)[:, None]
    y = np.cos(2.0 * X[:, 0]) + 0.3 * X[:, 0]
    F = feature_map(X)
    w0 = rng.standard_normal(int(F.shape[1]))  # int: the shape entry is typed Any
    problem = _Problem(F, y, w0)
    lr = STEP_FRACTION * max_step(F)
    rate = float(np.max(contraction(lr, problem.singular)))
    steps = steps_to(rate)
    grid = np.linspace(*KERNEL_GRID, points)[:, None]
    phi_grid = feature_map(grid)

    linearized = linearize(FeatureModel(feature_map, w0))
    record_every = max(1, steps // 200)
    training = linearized.train(X, y, lr=lr, steps=steps, X_test=grid, record_every=record_every)
    assert training.test_outputs is not None  # recorded: X_test is given
    parameters = gradient_descent(F, y, w0, lr, steps, record_every=steps)
    estimator = KernelLeastSquares(kernel="polynomial", degree=KERNEL_DEGREE, gamma=1.0, coef0=1.0).fit(X, y)
    # The estimator sum_j alpha_j K(x, x_j) with alpha = G^+ y; a Gram scaled by c divides alpha by c.
    kls = estimator.predict(grid) / gram_factor
    initial_part = phi_grid @ problem.kernel_part  # <phi(x), P_ker w0>
    limit = kls + kernel_part_factor * initial_part
    gaps = np.max(np.abs(training.test_outputs - limit), axis=1)
    from_zero = linearize(FeatureModel(feature_map, np.zeros_like(w0))).train(X, y, lr=lr, steps=steps, X_test=grid,
                                                                              record_every=steps)
    assert from_zero.test_outputs is not None  # recorded: X_test is given
    gap_from_zero = float(np.max(np.abs(from_zero.test_outputs[-1] - kls)))

    # Rounding. Both sides solve with the Gram G = F F^T (condition kappa^2), each exact for a
    # Gram perturbed by e relative (the backward error of F's m x P reduction, which also covers
    # the kernel's evaluation): K(x, X) G^-1 v moves by at most |K(x, X)| (kappa^2 + 2) e |G^-1 v|;
    # <phi(x), P_ker w0> by (2 kappa + 2) e |phi(x)| |w0|. GD's distance to its limit is at most
    # rate^k |phi(x)| |F^+ r_0|.
    e = problem.backward
    G = estimator.kernel_(X)
    cross = np.linalg.norm(estimator.kernel_(grid, X), axis=1)
    phi_norms = np.linalg.norm(phi_grid, axis=1)
    start_residual = F @ w0 - y
    condition = problem.kappa**2

    def tolerance(w_start: FloatArray, start: FloatArray) -> float:
        through_gram = cross * (condition + 2.0) * e * (np.linalg.norm(np.linalg.pinv(G) @ start)
                                                               + np.linalg.norm(estimator.dual_coef_))
        initial = (2.0 * problem.kappa + 2.0) * e * phi_norms * np.linalg.norm(w_start)
        remaining = rate**steps * phi_norms * np.linalg.norm(min_norm_solution(F, start))
        return float(np.max(through_gram + initial + remaining))

    # F F^T against the kernel: each feature (a monomial of degree <= r times a root) is off by
    # gamma_(r+2) relative, the sum of P products by gamma_P, (1 + x z)^r by gamma_(2r+1); every
    # term is at most max |phi(x)|^2 (Cauchy-Schwarz).
    gram_gap = float(np.max(np.abs(F @ F.T - G)))
    gram_tolerance = float((2.0 * gamma(KERNEL_DEGREE + 2) + gamma(F.shape[1]) + gamma(2 * KERNEL_DEGREE + 1))
                           * np.max(np.sum(F**2, axis=1)))
    numbers = {
        "points": X.shape[0], "features": F.shape[1], "degree": KERNEL_DEGREE, "lr": lr,
        "step_times_2_s_max_squared": 2.0 * lr * problem.s_max**2, "steps": steps, "predicted_rate": rate,
        "condition_number": problem.kappa,
        "final_gap_to_remark_11_4": float(gaps[-1]), "initial_gap": float(gaps[0]),
        "tolerance": tolerance(w0, start_residual), "gap_from_zero_to_kernel_estimator": gap_from_zero,
        "tolerance_from_zero": tolerance(np.zeros_like(w0), -y),
        "initial_part_max_on_grid": float(np.max(np.abs(initial_part))),
        "initial_part_max_on_training_points": float(np.max(np.abs(F @ problem.kernel_part))),
        "parameters_gap_to_predicted_limit": float(np.max(np.abs(parameters.w - parameters.limit))),
        "gd_predictions_vs_parameter_gd":
            float(np.max(np.abs(phi_grid @ parameters.w - training.test_outputs[-1]))),
        "training_residual": float(np.max(np.abs(training.train_outputs[-1] - y))),
        "feature_gram_vs_kernel": gram_gap, "feature_gram_tolerance": gram_tolerance,
        "norm_limit_squared": float(np.sum(parameters.w**2)),
        "norm_min_norm_squared": float(np.sum(problem.w_star**2)),
        "kernel_part_norm_squared": float(np.sum(problem.kernel_part**2)),
        "norm_limit": float(np.linalg.norm(parameters.w)),
    }
    data = {"kernel_X": X[:, 0], "kernel_y": y, "kernel_grid": grid[:, 0], "kernel_estimator": kls,
            "gd_limit_prediction": training.test_outputs[-1], "gd_from_zero_prediction": from_zero.test_outputs[-1],
            "initial_part": initial_part, "kernel_steps": training.steps, "kernel_gaps": gaps}
    return numbers, data


def _format(value: Optional[float], spec: str) -> str:
    """Return ``value`` formatted with ``spec``, or "n/a (nothing measurable)" for None."""
    return "n/a (nothing measurable)" if value is None else format(value, spec)


def _shape(row: dict[str, Any]) -> str:
    """Return the shape of a row's matrix as text, ``"m x d"``."""
    return f"{row['shape'][0]} x {row['shape'][1]}"


def _factor_text(row: dict[str, Any]) -> str:
    """Return a row's measured per-step factor and its tolerance as text."""
    return (f"{_format(row['measured_factor'], '.6f')} over steps 0-{row['factor_step']} (log off by "
            f"{_format(row['factor_deviation_over_tolerance'], '.2g')} of its tolerance "
            f"{_format(row['factor_log_tolerance'], '.1e')})")


ROUNDING_WORDS = ("rounding: the bound on each GD step's error (gamma_n of its sums) carried through the steps, plus "
                  "the first-order error of the computed w* and P_ker w0 (3 kappa, kappa^2 |r_min| / s_max and 2 "
                  "kappa times the SVD's backward error gamma_(m d))")
FACTOR_CRITERION = ("|log(measured factor) - log(predicted)| <= [-log(1 - B_k/|c_k|) - log(1 - B_0/|c_0|)] / k + "
                    "4 h s_max^2 gamma_(m d) / predicted, where c_k is the error's component along the singular "
                    "vector of the largest factor and B_k its rounding bound (the steps' error carried to k, the "
                    "limit's error, the singular vector's error gamma_(m d) s_max / gap times the distance); k is the "
                    "step with the smallest tolerance")


def _claims(under: dict[str, Any], over: dict[str, Any], outside: list[dict[str, Any]], kernel: dict[str, Any],
            min_loss_factor: float) -> list[Claim]:
    """Return the claims of Theorem 11.3 (both shapes, the steps outside its interval) and of Remark 11.4."""
    both = (under, over)
    inside = (f"h in (0, 1/(2 s_max^2)): yes, h = {STEP_FRACTION:g}/(2 s_max^2) (2 h s_max^2 = "
              f"{under['step_times_2_s_max_squared']:.3f} and {over['step_times_2_s_max_squared']:.3f}); A any real "
              f"matrix: yes, {_shape(under)} and {_shape(over)} Gaussian (condition numbers "
              f"{under['condition_number']:.2f} and {over['condition_number']:.2f})")
    predicted_losses = [min_loss_factor * row["min_loss"] for row in both]
    outside_converging = [row for row in outside if row["converges"]]
    outside_diverging = [row for row in outside if not row["converges"]]
    return [
        Claim(
            reference="Theorem 11.3",
            key="limit",
            statement=(f"GD on |Aw - y|^2 from w0 != 0 converges to w* + P_ker(A) w0, for A of shapes {_shape(under)} "
                       f"and {_shape(over)} (run for {under['steps']} and {over['steps']} steps, until rate^k < "
                       "1e-15)."),
            predicted="|w_K - (w* + P_ker w0)| = 0 up to rate^K d_0 and rounding",
            measured="; ".join(f"{_shape(r)}: {r['distance_to_predicted_limit']:.1e} (from "
                               f"{r['initial_distance']:.2f}; tolerance {r['distance_tolerance']:.1e})"
                               for r in both),
            holds=all(r["distance_to_predicted_limit"] <= r["distance_tolerance"] for r in both),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=f"|w_K - w_lim| <= rate^K d_0 + {ROUNDING_WORDS}",
        ),
        Claim(
            reference="Theorem 11.3 (rate; Exercise 11.32)",
            key="rate",
            statement=("The distance to the limit contracts by rate = max_i |1 - 2 h s_i^2| over the nonzero singular "
                       "values per step: the error's component along the singular vector attaining the maximum is "
                       "multiplied by exactly that factor at every step, and the whole distance is never above "
                       "rate^k d_0."),
            predicted=f"per-step factor {under['predicted_rate']:.6f} ({_shape(under)}), "
                      f"{over['predicted_rate']:.6f} ({_shape(over)}); no step above rate^k d_0",
            measured=("; ".join(f"{_shape(r)}: {_factor_text(r)}" for r in both)
                      + f"; steps above rate^k d_0 + rounding: {under['envelope_violations']}, "
                        f"{over['envelope_violations']}"),
            holds=all(r["factor_held"] and r["envelope_violations"] == 0 for r in both),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=f"{FACTOR_CRITERION}; and d_k <= rate^k d_0 + rounding at every step",
        ),
        Claim(
            reference="Theorem 11.3, Proposition 11.2",
            key="min-norm",
            statement=("The limit is not the minimum-norm solution w* = A^+ y: the part P_ker(A) w0 of the start "
                       "survives, |w_lim - w*| = |P_ker w0|. Started in the row space (P_row w0), GD reaches w*, the "
                       f"unique minimizer there (A of shape {_shape(under)})."),
            predicted=(f"|w_K - w*| = |P_ker w0| = {under['predicted_distance_to_min_norm']:.4f}; from P_row w0: "
                       "|w_K - w*| = 0"),
            measured=(f"|w_K - w*| = {under['distance_to_min_norm']:.4f} (|w_K| = {under['norm_limit']:.3f} > "
                      f"|w*| = {under['norm_min_norm']:.3f}); from P_row w0: "
                      f"{under['row_space_start_distance_to_min_norm']:.1e} (tolerance "
                      f"{under['row_space_start_tolerance']:.1e})"),
            holds=bool(abs(under["distance_to_min_norm"] - under["predicted_distance_to_min_norm"])
                       <= under["distance_tolerance"]
                       and under["row_space_start_distance_to_min_norm"] <= under["row_space_start_tolerance"]
                       and under["kernel_part_norm"] > under["distance_tolerance"]),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=(f"||w_K - w*| - |P_ker w0|| <= the limit's tolerance {under['distance_tolerance']:.1e} "
                       "(triangle inequality), |P_ker w0| above it (the two limits are told apart); from P_row w0, "
                       "|w_K - w*| <= its own run's tolerance"),
        ),
        Claim(
            reference="Theorem 11.3 (proof sketch)",
            key="min-loss",
            statement=("The loss tends to min f = |(I - A A^+) y|^2: 0 for the underdetermined A (full row rank), "
                       "positive for the overdetermined one (the proof sketch's f(w_k) -> 0 holds only when y is in "
                       "the range of A)."),
            predicted="; ".join(f"{_shape(r)}: f(w_K) = min f = {f:.4g}" for r, f in zip(both, predicted_losses)),
            measured="; ".join(f"{_shape(r)}: f(w_K) = {r['final_loss']:.4g} (tolerance {r['loss_tolerance']:.1e})"
                               for r in both),
            holds=all(abs(r["final_loss"] - f) <= r["loss_tolerance"] for r, f in zip(both, predicted_losses)),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=("|f(w_K) - min f| <= (|r_K| + |r_min| + D) D, D = s_max times the limit's tolerance plus the "
                       "rounding of both residuals (gamma_(d+1) and the projector's 2 kappa gamma_(m d))"),
        ),
        Claim(
            reference="Theorem 11.3 (outside its step interval)",
            key="step-range",
            statement=("The interval (0, 1/(2 s_max^2)) is sufficient, not sharp: at its endpoint and up to "
                       "h < 1/s_max^2 GD still converges, the error along the singular vector of the largest factor "
                       "multiplied by max_i |1 - 2 h s_i^2| < 1 per step; beyond 1/s_max^2 it diverges, that "
                       f"component multiplied by |1 - 2 h s_max^2| > 1 per step (A of shape {_shape(under)})."),
            predicted="; ".join(f"h = {r['multiple_of_endpoint']:g}/(2 s_max^2): factor {r['predicted_rate']:.6f}"
                                for r in outside),
            measured="; ".join(f"h = {r['multiple_of_endpoint']:g}/(2 s_max^2): {_factor_text(r)}" for r in outside),
            holds=bool(all(r["factor_held"] for r in outside) and outside_converging and outside_diverging),
            hypothesis=("h in (0, 1/(2 s_max^2)): no, h = " + ", ".join(f"{r['multiple_of_endpoint']:g}"
                                                                       for r in outside)
                        + " times 1/(2 s_max^2). Shown instead: GD converges at the predicted rate for every "
                          "h < 1/s_max^2 (twice the endpoint) and diverges beyond it."),
            hypothesis_holds=False,
            criterion=(f"at each step: {FACTOR_CRITERION}; the steps' errors are carried by the norm max(1, rate) of "
                       "the GD map"),
        ),
        Claim(
            reference="Remark 11.4, (11.2.3)-(11.2.4)",
            key="kernel-limit",
            statement=(f"GD on the feature model <phi(x), w> with the polynomial features of degree {kernel['degree']} "
                       f"({kernel['features']} features, {kernel['points']} points) converges to the kernel "
                       "least-squares estimator plus <phi(x), P_ker w0>; from w0 = 0 to the estimator itself."),
            predicted="max over the grid |Phi(x, w_K) - (KLS(x) + <phi(x), P_ker w0>)| = 0 up to rounding",
            measured=(f"{kernel['final_gap_to_remark_11_4']:.1e} (tolerance {kernel['tolerance']:.1e}; the w0 term "
                      f"reaches {kernel['initial_part_max_on_grid']:.2f} between the points, "
                      f"{kernel['initial_part_max_on_training_points']:.1e} at them); from w0 = 0: "
                      f"{kernel['gap_from_zero_to_kernel_estimator']:.1e} (tolerance "
                      f"{kernel['tolerance_from_zero']:.1e})"),
            holds=bool(kernel["final_gap_to_remark_11_4"] <= kernel["tolerance"]
                       and kernel["gap_from_zero_to_kernel_estimator"] <= kernel["tolerance_from_zero"]),
            hypothesis=(f"a small enough step (Theorem 11.3's interval for the feature matrix F): yes, 2 h "
                        f"s_max(F)^2 = {kernel['step_times_2_s_max_squared']:.3f}; phi a feature map of (1 + x z)^"
                        f"{kernel['degree']} in H = R^{kernel['features']}: "
                        + ("yes" if kernel["feature_gram_vs_kernel"] <= kernel["feature_gram_tolerance"] else "no")
                        + f", max |F F^T - K| = {kernel['feature_gram_vs_kernel']:.1e} (rounding bound "
                          f"{kernel['feature_gram_tolerance']:.1e})"),
            hypothesis_holds=bool(kernel["feature_gram_vs_kernel"] <= kernel["feature_gram_tolerance"]),
            criterion=("max_x |Phi(x, w_K) - limit(x)| <= max_x [rate^K |phi(x)| |F^+ r_0| + the first-order rounding "
                       f"of both solves with the Gram (condition kappa(F)^2 = {kernel['condition_number']**2:.0f}, "
                       "backward error gamma_(m P)) and of the projector P_ker]; the same from w0 = 0 against KLS"),
        ),
    ]


def _corrections(under: dict[str, Any], over: dict[str, Any], kernel: dict[str, Any]) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    return [
        Correction(
            reference="(11.1.3)",
            printed="w* := argmin over {w : f(w) < f(v) for all v in R^d} of |w|",
            corrected=("the set {w : f(w) <= f(v) for all v} of minimizers, as in Section 11.2 (with '<' the set is "
                       "empty: take v = w)"),
            evidence=(f"two distinct minimizers, w* and the GD limit w* + P_ker w0 (|difference| = "
                      f"{under['distance_to_min_norm']:.2f}), have f = {under['loss_at_min_norm']:.1e} and "
                      f"{under['final_loss']:.1e}, both 0 to rounding: neither is strictly below the other"),
        ),
        Correction(
            reference="Theorem 11.3 (proof sketch)",
            printed="By Exercise 10.34 and Theorem 10.11, for small enough step size, it holds f(w_k) -> 0",
            corrected=("f(w_k) -> min f = |(I - A A^+) y|^2, which is 0 only when y is in the range of A (e.g. A of "
                       "full row rank); the rest of the argument is unchanged"),
            evidence=(f"for the {_shape(over)} A, f(w_K) = {over['final_loss']:.4f} = min f = {over['min_loss']:.4f} "
                      f"> 0 after {over['steps']} steps, the iterates at {over['distance_to_predicted_limit']:.1e} "
                      "from A^+ y"),
        ),
        Correction(
            reference="Theorem 11.7 (proof)",
            printed="|w*|_H^2 < |w~|_H^2 + |w^|_H^2 = |w|_H",
            corrected="... = |w|_H^2 (Pythagoras: w~ and w^ are orthogonal)",
            evidence=(f"the kernel case's GD limit w = w* + P_ker w0 has |w|^2 = {kernel['norm_limit_squared']:.6f} = "
                      f"|w*|^2 + |P_ker w0|^2 = {kernel['norm_min_norm_squared']:.6f} + "
                      f"{kernel['kernel_part_norm_squared']:.6f}, while |w| = {kernel['norm_limit']:.6f}"),
        ),
        Correction(
            reference="Exercise 11.35",
            printed="Let n in N and consider the polynomial kernel K(x, x') = (1 + x^T x')^r",
            corrected="Let r in N (the exponent; n is not used)",
            evidence=(f"the {kernel['features']} monomial features of degree up to r = {kernel['degree']} reproduce "
                      f"(1 + x z)^{kernel['degree']}: max |F F^T - K| = {kernel['feature_gram_vs_kernel']:.1e}"),
        ),
    ]


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Run GD on an underdetermined and an overdetermined least-squares problem and on a feature model.

    Parameters
    ----------
    quick : bool
        ``A`` of shapes 20 x 50 and 50 x 20 and 100 grid points (instead of 40 x 120,
        120 x 40 and 400).
    seed : int
        Seed of ``A``, ``y`` and the initial points ``w0``.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see :data:`EXPERIMENT`): ``"step"`` scales the step in the
        predicted per-step factors, ``"kernel_part"`` the ``P_ker w0`` part of the
        predicted limits, ``"gram"`` the kernel estimator's Gram, ``"min_loss"`` the
        predicted ``min f``.

    Returns
    -------
    ExperimentResult
    """
    m, d, points = (20, 50, 100) if quick else (40, 120, 400)
    step_factor, kernel_part_factor = factor_of(perturbation, "step"), factor_of(perturbation, "kernel_part")
    rng = np.random.default_rng(seed)
    under = _draw(m, d, rng)
    kernel, kernel_data = _kernel_case(points, rng, kernel_part_factor, factor_of(perturbation, "gram"))
    over = _draw(d, m, rng)
    results = {}
    for name, problem in progress.steps((("underdetermined", under), ("overdetermined", over)), 2, "least-squares GD"):
        results[name] = _gd_inside(problem, step_factor, kernel_part_factor)
    (under_numbers, data), (over_numbers, _) = results["underdetermined"], results["overdetermined"]
    outside = _gd_outside(under, step_factor)
    claims = _claims(under_numbers, over_numbers, outside, kernel, factor_of(perturbation, "min_loss"))
    settings = {"linear_shapes": [[m, d], [d, m]], "seed": seed, "quick": quick,
                "step": f"{STEP_FRACTION:g} / (2 s_max^2)", "outside_steps": list(OUTSIDE_STEPS),
                "kernel_X": list(KERNEL_X), "kernel_targets": "cos(2x) + 0.3x", "kernel": f"(1 + x z)^{KERNEL_DEGREE}",
                "kernel_grid": [*KERNEL_GRID, points],
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    outside_data = {f"outside_distances_{i}": row.pop("distances") for i, row in enumerate(outside)}
    return ExperimentResult(name=NAME, settings=settings,
                            numbers={"linear": under_numbers, "overdetermined": over_numbers, "outside": outside,
                                     "kernel": kernel},
                            claims=claims, data={**data, **outside_data, **kernel_data},
                            corrections=_corrections(under_numbers, over_numbers, kernel))


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw four panels into ``directory``: GD's distance to its predicted limit, inside and outside the interval.

    ``|w_k - w_lim|`` against ``k`` (log scale) with the predicted rate and the rounding
    bound for the underdetermined case; the same at the steps outside the interval; the
    kernel case's distance in function space; its predictions (Remark 11.4).
    """
    from widenet.app.experiments._plotting import figure, save

    data, numbers = result.data, result.numbers
    linear, kernel = numbers["linear"], numbers["kernel"]
    fig, axes = figure(columns=4, width=4.6, height=4.2)
    ax = axes[0][0]
    steps = np.asarray(data["steps"], dtype=float)
    ax.semilogy(steps, data["distances"], color="tab:blue", linewidth=2, label="|w_k - w_lim|, start w0")
    ax.semilogy(steps, data["slowest_component"], color="tab:purple", linewidth=1.2,
                label="its slowest-direction component")
    ax.semilogy(steps, data["distances_row_space_start"], "--", color="tab:cyan", linewidth=1.2,
                label="|w_k - w*|, start P_row w0")
    ax.semilogy(steps, linear["rate"] ** steps * linear["initial_distance"], ":", color="black",
                linewidth=1.5, label=f"rate^k d_0, rate = {linear['rate']:.4f}")
    ax.semilogy(steps[1:], np.asarray(data["rounding"])[1:] + linear["limit_rounding"], "-.", color="0.5",
                linewidth=1, label="rounding bound")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to the predicted limit")
    ax.set_title(f"Theorem 11.3: A is {linear['shape'][0]} x {linear['shape'][1]}, h = {STEP_FRACTION:g}/(2 s_max^2)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][1]
    for i, row in enumerate(numbers["outside"]):
        distances = np.asarray(data[f"outside_distances_{i}"])
        ax.semilogy(np.arange(distances.size), distances, linewidth=1.6,
                    label=f"h = {row['multiple_of_endpoint']:g}/(2 s_max^2): factor {row['measured_factor']:.4f}")
    ax.semilogy(steps, data["distances"], ":", color="black", linewidth=1.2,
                label=f"h = {STEP_FRACTION:g}/(2 s_max^2) (inside)")
    ax.set_xlabel("GD step k")
    ax.set_ylabel("|w_k - w_lim|")
    ax.set_title("outside the interval: converges up to h = 1/s_max^2", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[0][2]
    kernel_steps = np.asarray(data["kernel_steps"], dtype=float)
    gaps = np.asarray(data["kernel_gaps"])
    ax.semilogy(kernel_steps, gaps, color="tab:orange", linewidth=2, label="max_x |Phi(x, w_k) - limit(x)|")
    ax.semilogy(kernel_steps, kernel["predicted_rate"] ** kernel_steps * gaps[0], ":", color="black",
                linewidth=1.5, label=f"rate^k, rate = {kernel['predicted_rate']:.4f}")
    ax.axhline(kernel["tolerance"], color="0.5", linestyle="-.", linewidth=1, label="rounding tolerance")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to KLS + <phi(x), P_ker w0>")
    ax.set_title("feature model: GD in function space", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][3]
    grid = np.asarray(data["kernel_grid"])
    ax.plot(grid, data["kernel_estimator"], color="black", linewidth=2, label="kernel least squares (KLS)")
    ax.plot(grid, data["gd_limit_prediction"], "--", color="tab:orange", linewidth=2, label="GD from w0, limit")
    ax.plot(grid, np.asarray(data["kernel_estimator"]) + np.asarray(data["initial_part"]), ":", color="tab:blue",
            linewidth=2, label="KLS + <phi(x), P_ker w0>")
    ax.plot(grid, data["gd_from_zero_prediction"], "-.", color="tab:green", linewidth=1.2, label="GD from 0, limit")
    ax.plot(data["kernel_X"], data["kernel_y"], "o", color="red", markersize=7, zorder=5, label="data")
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    ax.set_title(f"Remark 11.4: polynomial features, degree {kernel['degree']}", fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    return [save(fig, directory, "least_squares")]


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
