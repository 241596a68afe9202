"""The Theorem 11.23 runs: one network trained, its rate compared with the linearized model's."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import Perturbation, factor_of
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.training._fit import linearized_factor, linearized_tail_factor, tail_fit
from widenet.app.experiments.training._setup import ACTIVATION, EPS, STEPS, cell_seed
from widenet.network.results import TrainingResult
from widenet.network.shallow import ShallowNetwork


def _gram(network: ShallowNetwork, X: FloatArray) -> FloatArray:
    """Return the tangent Gram at the network's current parameters.

    NaN when it is not finite, as after a divergence.
    """
    with np.errstate(all="ignore"):
        gram = network.ntk(X)
    return gram if np.all(np.isfinite(gram)) else np.full_like(gram, math.nan)


def _padded(values: FloatArray, size: int) -> FloatArray:
    """Return ``values`` extended to ``size`` entries with inf (the steps after a divergence)."""
    return np.concatenate([values, np.full(size - values.size, math.inf)])


def _run_rate(run: TrainingResult, y: FloatArray, lr: float, theta_start: FloatArray,
              gram_end: FloatArray) -> dict[str, Any]:
    """Compare a run's fitted tail factor with the linearized model's on the same window.

    The prediction takes the run's tangent Gram at its last step (where the tail is
    measured) and its residual at the window's start. The tolerance is the fit's error,
    plus the Gram's drift still to come in the window: the prediction's drift from ``w0`` to
    the end, ``|p_end - p_0|``, times the
    part of the way the parameters still travel after the window's start (to first order the
    Gram moves in proportion), ``sqrt(r^T Theta^-1 r) / |w_end - w0|`` (the linearized model
    travels ``|J^T Theta^-1 r|`` to remove the residual ``r``), plus rounding: each step rounds
    the outputs by a few ulps, a relative error ``4 eps |Phi(X)| / |r_end|`` of the smallest
    residual fitted.
    ``linear_factor`` and ``linear_factor_end`` are ``max |1 - 2 h lambda|`` with the Gram at
    ``w0`` and at the end.
    """
    fit = tail_fit(run.steps, run.losses)
    finite = bool(np.all(np.isfinite(gram_end)))
    theta_end = np.linalg.eigvalsh(gram_end) if finite else np.full(gram_end.shape[0], math.nan)
    predicted, predicted_end = linearized_factor(lr, theta_start), linearized_factor(lr, theta_end)
    assert run.test_outputs is not None  # the runs record their outputs at X
    start = int(np.searchsorted(run.steps, fit["window"][0])) if fit["window"].size else 0
    residual = run.test_outputs[start] - y
    predicted_fit = (linearized_tail_factor(fit["window"], residual, lr, gram_end)
                     if finite and fit["window"].size >= 3 else math.nan)
    drift = abs(predicted_end - predicted)
    travel = math.sqrt(float(residual @ np.linalg.solve(gram_end, residual))) if finite else math.inf
    window_drift = drift * travel / float(run.distances[-1]) if drift > 0 else 0.0
    end = run.test_outputs[int(np.searchsorted(run.steps, fit["window"][-1])) if fit["window"].size else 0]
    rounding = 4.0 * EPS * float(np.linalg.norm(end) / np.linalg.norm(end - y))
    tolerance = fit["error"] + window_drift + rounding
    deviation = abs(fit["factor"] - predicted_fit)
    return {"tail_factor": fit["factor"], "fit_error": fit["error"], "window_drift": window_drift,
            "tolerance": tolerance, "linear_factor": predicted, "linear_factor_end": predicted_end,
            "linear_tail_factor": predicted_fit, "drift": drift, "theta_min_end": float(theta_end[0]),
            "rate_deviation": deviation / tolerance if tolerance > 0 else math.inf,
            "rate_held": bool(math.isfinite(tolerance) and deviation <= tolerance)}


def _train(X: FloatArray, y: FloatArray, width: int, index: int, seed: int, constant: float,
           perturbation: Optional[Perturbation]) -> dict[str, Any]:
    """Train network ``index`` of ``width`` with the step ``constant / width``; its records and rate comparison."""
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, "lecun", seed=cell_seed(seed, width, index))
    theta = np.linalg.eigvalsh(network.ntk(X))
    f0 = network.loss(X, y)  # apart from the training records, which the bound is checked on
    lr = constant / width
    run = network.train(X, y, lr=lr * factor_of(perturbation, "gradient"), steps=STEPS, X_test=X, loss="sum",
                        on_divergence="return")
    rate = _run_rate(run, y, lr * factor_of(perturbation, "step"), theta, _gram(network, X))
    return {"width": width, "seed": index, "lr": lr, "f0": f0, "theta_min": float(theta[0]),
            "theta_max": float(theta[-1]), "losses": _padded(run.losses, STEPS + 1),
            "distances": _padded(run.distances, STEPS + 1), "diverged_at": run.diverged_at, **rate}
