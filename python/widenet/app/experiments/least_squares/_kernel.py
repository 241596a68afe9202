"""The kernel case: GD on the feature model of the polynomial kernel against Remark 11.4."""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet.app.experiments._rounding import gamma
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.least_squares._bounds import contraction
from widenet.app.experiments.least_squares._problem import _Problem
from widenet.app.experiments.least_squares._setup import (
    KERNEL_DEGREE,
    KERNEL_GRID,
    KERNEL_X,
    STEP_FRACTION,
    feature_map,
    steps_to,
)
from widenet.dynamics.linearization import linearize
from widenet.network.linear_models import FeatureModel
from widenet.regression.estimators import KernelLeastSquares
from widenet.regression.least_squares import gradient_descent, max_step, min_norm_solution


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
    assert training.train_outputs is not None  # the linearized model records its outputs at X
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
