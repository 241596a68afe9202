"""The predicted per-step factors and the rounding bounds the comparisons allow."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._rounding import UNIT_ROUNDOFF, gamma
from widenet.app.experiments._statistics import FloatArray


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
