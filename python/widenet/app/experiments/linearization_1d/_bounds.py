"""Assumption 11.12's exact constants, the rounding level of a limit and GD's linearized rate near it."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.linearization_1d._model import (
    _CURVATURE_PEAKS,
    _SLOPE_PEAKS,
    EPS,
    RATE_WINDOW,
    W0,
    loss,
    loss_second_derivative,
    loss_third_derivative,
    model_derivative,
    model_second_derivative,
)


def _largest_abs(function: Callable[[FloatArray], FloatArray], radius: float, peaks: Sequence[float]) -> float:
    """Return ``max |function|`` over ``[w0 - radius, w0 + radius]``.

    It is taken at the ends and at the given points where ``|function|`` peaks, those inside.
    """
    points = [W0 - radius, W0 + radius] + [w for w in peaks if abs(w - W0) <= radius]
    return float(np.max(np.abs(function(np.array(points)))))


def assumption_11_12(y: float) -> dict[str, Any]:
    """Return the constants of Assumption 11.12 at ``w0``, exactly (``m = 1``, one parameter).

    (a) ``lambda_min = lambda_max = Phi'(w0)^2``. (b) ``U = max |Phi'|`` and ``L = max |Phi''|``
    over ``B_r(w0) = [w0 - r, w0 + r]``. (c) ``r = 2 U sqrt(f(w0)) / lambda_min`` depends on
    ``U``: the smallest consistent pair is the limit of ``r <- 2 U(r) sqrt(f(w0)) / lambda``
    from ``U = |Phi'(w0)|`` (``U(r)`` grows with ``r``, so the iteration rises to it). A
    larger ``U`` only enlarges ``r`` and ``L`` and lowers the bound, so (c) holds for some
    admissible choice of the constants exactly when it holds for this one.
    """
    kernel = float(model_derivative(W0) ** 2)
    f0 = float(loss(W0, y))
    slope = abs(float(model_derivative(W0)))
    radius = 2.0 * slope * math.sqrt(f0) / kernel
    for _ in range(100):  # U(r) is a maximum over finitely many points: the iteration stops
        slope = _largest_abs(model_derivative, radius, _SLOPE_PEAKS)
        wider = 2.0 * slope * math.sqrt(f0) / kernel
        if wider <= radius:
            break
        radius = wider
    lipschitz = _largest_abs(model_second_derivative, radius, _CURVATURE_PEAKS)
    bound = kernel ** 2 / (12.0 * slope ** 2 * math.sqrt(f0))
    return {"lambda": kernel, "f0": f0, "r": radius, "U": slope, "L": lipschitz, "bound": bound,
            "ratio": lipschitz / bound, "held": bool(lipschitz <= bound)}


def rounding_level(limit: float) -> float:
    """Return how far rounding can keep a GD iterate from the exact one.

    A few ulps of ``w`` and of ``h f'(w)`` per step, remembered over the
    ``1 / (1 - |g'|) <= 4`` steps of a contraction ``|g'| <= 3/4`` (both limits here).
    """
    return 16.0 * EPS * (1.0 + abs(limit))


def local_rate(iterates: FloatArray, limit: float, y: float, lr: float) -> dict[str, Any]:
    """Compare the step ratios ``e_{k+1} / e_k`` with the linearized rate ``g' = 1 - h f''(limit)``.

    The ratios are of the errors ``e_k = w_k - limit`` in :data:`RATE_WINDOW`.

    By the mean value theorem ``e_{k+1} = g'(xi) e_k`` with ``|xi - limit| <= |e_k|``, so
    ``|e_{k+1}/e_k - g'(limit)| <= h sup |f'''| |e_k|`` (the sup over that interval, on a
    65-point grid); the rounding of ``e_k`` and ``e_{k+1}`` adds ``2 delta / |e_k|`` (``delta``
    of :func:`rounding_level`). ``worst`` is the largest deviation over its tolerance.
    """
    errors = np.asarray(iterates, dtype=float) - limit
    low, high = RATE_WINDOW
    inside = np.flatnonzero((np.abs(errors[:-1]) >= low) & (np.abs(errors[:-1]) <= high))
    predicted = 1.0 - lr * float(loss_second_derivative(limit, y))
    delta = rounding_level(limit)
    ratio_list: list[float] = []
    tolerance_list: list[float] = []
    for k in inside:
        e = abs(errors[k])
        interval = limit + np.linspace(-e, e, 65)
        taylor = lr * float(np.max(np.abs(loss_third_derivative(interval, y)))) * e
        ratio_list.append(errors[k + 1] / errors[k])
        tolerance_list.append(taylor + 2.0 * delta / e)
    ratios, tolerances = np.array(ratio_list), np.array(tolerance_list)
    deviations = np.abs(ratios - predicted) / tolerances if ratios.size else np.array([np.inf])
    return {"predicted": predicted, "ratios": ratios, "tolerances": tolerances, "steps": inside,
            "worst": float(deviations.max()), "held": bool(ratios.size >= 3 and deviations.max() <= 1.0)}
