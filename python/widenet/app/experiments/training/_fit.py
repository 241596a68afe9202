"""The rates: the tail fit of a loss curve and the linearized model's prediction of it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.training._setup import FIT_STANDARD_ERRORS, FLOOR


def _log_slope(steps: FloatArray, logs: FloatArray) -> tuple[float, float]:
    """Return the least-squares slope of ``logs`` against ``steps`` and its standard error."""
    (slope, _), covariance = np.polyfit(steps, logs, 1, cov=True)
    return float(slope), float(math.sqrt(max(covariance[0, 0], 0.0)))


def tail_fit(steps: npt.NDArray[Any], losses: FloatArray) -> dict[str, Any]:
    """Fit the per-step decay factor of ``sqrt(f(w_k))`` on the tail of a run, and its error.

    The tail is the second half of the records above ``FLOOR * f(w0)`` (finite ones: a
    diverged run's records end in huge values), where the slowest modes remain. ``factor``
    is ``exp(slope / 2)`` of the least-squares line through ``log f``. ``error`` is what the
    fit cannot tell: ``|factor(first half of the tail) - factor(second half)|`` (the
    contamination by faster modes and the change of the Gram, which a straight line hides)
    plus ``FIT_STANDARD_ERRORS`` standard errors; infinite with fewer than 8 records.
    """
    steps, losses = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
    usable = np.isfinite(losses) & (losses > FLOOR * losses[0])
    steps, logs = steps[usable], np.log(losses[usable])
    if steps.size < 3:
        return {"factor": math.nan, "error": math.inf, "records": int(steps.size), "window": steps}
    tail = steps >= steps[-1] / 2
    if np.count_nonzero(tail) < 8:
        tail = np.ones_like(tail)
    steps, logs = steps[tail], logs[tail]
    slope, standard_error = _log_slope(steps, logs)
    factor = math.exp(slope / 2.0)
    if steps.size < 8:
        return {"factor": factor, "error": math.inf, "records": int(steps.size), "window": steps}
    half = steps.size // 2
    first, second = (math.exp(_log_slope(steps[part], logs[part])[0] / 2.0) for part in (slice(None, half),
                                                                                        slice(half, None)))
    error = abs(first - second) + FIT_STANDARD_ERRORS * factor * standard_error / 2.0
    return {"factor": factor, "error": error, "records": int(steps.size), "first_half": first,
            "second_half": second, "standard_error": factor * standard_error / 2.0, "window": steps}


def tail_factor(steps: FloatArray, losses: FloatArray) -> float:
    """Return the per-step decay factor of ``sqrt(f(w_k))`` fitted on the tail (:func:`tail_fit`)."""
    return tail_fit(steps, losses)["factor"]


def linearized_tail_factor(window: npt.ArrayLike, residual: FloatArray, lr: float, gram: FloatArray) -> float:
    """Return the tail factor the linearized model predicts on ``window`` (the steps a tail fit used).

    From the residual ``r`` at ``window[0]``, GD on the sum loss with the tangent Gram
    ``gram`` gives ``f(k) = sum_j (q_j . r)^2 (1 - 2 h lambda_j)^(2 (k - window[0]))``, fitted
    like the measured losses. It is ``max |1 - 2 h lambda_j|`` when the slowest mode
    dominates the window, and accounts for the faster modes' remainder when it does not yet.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    weights = (eigenvectors.T @ residual) ** 2
    window = np.asarray(window, dtype=float)
    factors = np.abs(1.0 - 2.0 * lr * eigenvalues)
    with np.errstate(divide="ignore", under="ignore"):
        logs = np.log(np.sum(weights[:, None] * factors[:, None] ** (2.0 * (window - window[0]))[None, :], axis=0))
    finite = np.isfinite(logs)
    if np.count_nonzero(finite) < 3:
        return math.nan
    return math.exp(_log_slope(window[finite], logs[finite])[0] / 2.0)


def linearized_factor(lr: float, eigenvalues: FloatArray) -> float:
    """Return the per-step contraction of the residual of GD on the sum loss for the linearized model.

    The gradient is ``2 J^T r``, the tangent Gram has the eigenvalues ``eigenvalues``: the
    contraction is ``max(|1 - 2 h lambda_min|, |1 - 2 h lambda_max|)``.
    """
    return float(max(abs(1.0 - 2.0 * lr * eigenvalues[0]), abs(1.0 - 2.0 * lr * eigenvalues[-1])))
