"""The linear case: GD on ``|A w - y|^2`` inside and outside Theorem 11.3's step interval."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from widenet.app.experiments._rounding import gamma
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.least_squares._bounds import (
    contraction,
    factor_agrees,
    measured_factor,
    propagated,
    step_rounding,
)
from widenet.app.experiments.least_squares._problem import _norms, _Problem
from widenet.app.experiments.least_squares._setup import OUTSIDE_CHANGE, OUTSIDE_STEPS, STEP_FRACTION, steps_to
from widenet.regression.least_squares import gradient_descent, max_step, row_space_projector


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
