"""The experiment: GD on the one-parameter model for the targets of Figures 11.1 and 11.2."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress, factor_of
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.linearization_1d._bounds import assumption_11_12, local_rate, rounding_level
from widenet.app.experiments.linearization_1d._claims import _claims
from widenet.app.experiments.linearization_1d._model import (
    EPS,
    NAME,
    RATE_WINDOW,
    SKIP,
    STEPS,
    TARGETS,
    W0,
    WINDOW,
    X1,
    global_minimizers,
    gradient_descent,
    linearization,
    loss,
    loss_derivative,
    loss_second_derivative,
    model,
    model_derivative,
    peak,
)


def _case(y: float, lr: float, points: int, gradient_scale: float) -> tuple[dict[str, Any], FloatArray]:
    """Return the numbers and the GD iterates of one case."""
    iterates = gradient_descent(y, lr, STEPS, gradient_scale)
    w_gd = float(iterates[-1])
    w_lin = W0 + (y - float(model(W0))) / float(model_derivative(W0))  # Phi_lin(w_lin) = y
    roots = global_minimizers(y)
    nearest = float(roots[np.argmin(np.abs(roots - w_gd))]) if roots.size else None
    interval = np.linspace(min(W0, w_lin, w_gd), max(W0, w_lin, w_gd), points)
    gap = np.abs(model(interval) - linearization(interval))
    slope_change = np.abs(model_derivative(interval) - model_derivative(W0)) / abs(model_derivative(W0))
    numbers = {
        "target": y,
        "w_gd": w_gd,
        "loss_at_w_gd": float(loss(w_gd, y)),
        "residual_at_w_gd": float(model(w_gd) - y),
        "gradient_at_w_gd": float(loss_derivative(w_gd, y)),
        "loss_curvature_at_w_gd": float(loss_second_derivative(w_gd, y)),
        "w_lin": float(w_lin),
        "model_at_w_lin": float(model(w_lin)),
        "global_minimizers": roots,
        "nearest_global_minimizer": nearest,
        "initial_loss": float(loss(W0, y)),
        "interval": [float(interval[0]), float(interval[-1])],
        "max_model_linearization_gap": float(gap.max()),
        "relative_model_linearization_gap": float(gap.max() / abs(y - model(W0))),
        "max_relative_slope_change": float(slope_change.max()),
        "min_loss_curvature_on_interval": float(loss_second_derivative(interval, y).min()),
        "max_model_on_interval": float(model(interval).max()),
        "assumption_11_12": assumption_11_12(y),
    }
    return numbers, iterates


def _limit(case: dict[str, Any], expected: float, iterates: FloatArray, y: float, predicted_lr: float) -> None:
    """Add to ``case`` the comparison of GD's limit with ``expected``.

    And the comparison of its approach with the linearized rate there.
    """
    rate = local_rate(iterates, expected, y, predicted_lr)
    case.update({"limit": expected, "limit_error": case["w_gd"] - expected, "rounding_level": rounding_level(expected),
                 "loss_curvature_at_limit": float(loss_second_derivative(expected, y)),
                 "predicted_rate": rate["predicted"], "rate_worst": rate["worst"], "rate_held": rate["held"],
                 "rate_steps": rate["steps"], "rate_ratios": rate["ratios"], "rate_tolerances": rate["tolerances"],
                 "rate_range": [float(rate["ratios"].min()), float(rate["ratios"].max())] if rate["ratios"].size
                 else [math.nan, math.nan]})


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Run GD on the one-parameter model for the target of Figure 11.1 and of Figure 11.2.

    Parameters
    ----------
    quick : bool
        Fewer points on the drawn curves (the GD runs are the same).
    seed : int
        Unused: the experiment is deterministic (kept for the common interface).
    progress : Progress
    perturbation : Perturbation, optional
        A negative control: ``"gradient"`` scales GD's gradient ``f'``, ``"step"`` the step
        the predicted rates assume.

    Returns
    -------
    ExperimentResult
    """
    points = 201 if quick else 801
    kernel = float(model_derivative(W0) ** 2)  # K(x_1, x_1), lambda_min = lambda_max
    lr = 1.0 / (2.0 * kernel)  # Theorem 11.13: h <= 1 / (lambda_min + lambda_max)
    gradient_scale, predicted_lr = factor_of(perturbation, "gradient"), lr * factor_of(perturbation, "step")
    cases: dict[str, dict[str, Any]] = {}
    iterates: dict[str, FloatArray] = {}
    for name in progress.steps(TARGETS, len(TARGETS), "cases"):
        cases[name], iterates[name] = _case(TARGETS[name], lr, points, gradient_scale)

    good, bad = cases["good"], cases["bad"]
    # GD's limits computed apart: the root of Phi = y_1 next to w0 (bisection), the peak of Phi
    good_root = float(good["global_minimizers"][np.argmin(np.abs(good["global_minimizers"] - W0))])
    _limit(good, good_root, iterates["good"], good["target"], predicted_lr)
    _limit(bad, peak(), iterates["bad"], bad["target"], predicted_lr)
    # Phi(w) - y is computed with an error of a few eps max(1, |y|)
    residual_level = 8.0 * EPS * max(1.0, abs(good["target"]))
    good_limit_held = bool(abs(good["limit_error"]) <= good["rounding_level"]
                           and abs(good["residual_at_w_gd"]) <= residual_level)
    # the peak is not a global minimizer: Phi = y_1 has a root (loss 0) and f(w_p) is far above rounding
    bad_limit_held = bool(abs(bad["limit_error"]) <= bad["rounding_level"]
                          and bad["nearest_global_minimizer"] is not None
                          and loss(bad["limit"], bad["target"]) > residual_level)
    claims = _claims(good, bad, lr, good_limit_held, bad_limit_held)
    grid = np.linspace(*WINDOW, points)
    data = {"w": grid, "model": model(grid), "linearization": linearization(grid),
            "loss_good": loss(grid, TARGETS["good"]), "loss_bad": loss(grid, TARGETS["bad"]),
            "iterates_good": iterates["good"], "iterates_bad": iterates["bad"]}
    settings = {"model": f"Phi(x, w) = tanh(w x) - {SKIP:g} w x", "x1": X1, "w0": W0, "targets": dict(TARGETS),
                "lr": lr, "steps": STEPS, "window": list(WINDOW), "points": points, "rate_window": list(RATE_WINDOW),
                "seed": seed, "quick": quick}
    numbers = {"tangent_kernel": kernel, "lr": lr, "good": good, "bad": bad, "residual_level": residual_level}
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data)
