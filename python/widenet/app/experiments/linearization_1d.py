"""Figures 11.1 and 11.2: a one-parameter model, its linearization, and where GD ends.

The model is one tanh unit with input weight ``w`` and a linear skip connection, at the
single data point ``x_1 = 3`` (``m = 1``):

    Phi(x, w) = tanh(w x) - c w x,   c = 0.2,

so ``w -> Phi(x_1, w)`` rises from ``w0 = 0.1`` to a peak ``Phi = 0.605`` at ``w = 0.48``
and falls after it; it reaches large values again only for ``w < -3``. Its linearization
(11.3.1) at ``w0`` is ``Phi_lin(w) = Phi(w0) + Phi'(w0) (w - w0)``; the tangent kernel is
``K(x_1, x_1) = Phi'(w0)^2``, and GD on ``f(w) = (Phi(x_1, w) - y_1)^2`` takes the step
``h = 1 / (lambda_min + lambda_max) = 1 / (2 Phi'(w0)^2)`` of Theorem 11.13.

- Figure 11.1 (``y_1 = 0.4``): ``Phi`` stays close to ``Phi_lin`` between ``w0`` and the
  solution, the loss is convex there, and GD reaches a global minimizer (loss 0).
- Figure 11.2 (``y_1 = 1.0``): ``Phi_lin`` reaches ``y_1`` at ``w = 0.46``, but there
  ``Phi`` is far from it; GD stops at the peak, a stationary point with loss 0.155, while
  the global minimum (loss 0) is at ``w = -3.33``, on the other side of a barrier.

Both claims are sharp and two-sided: GD's limit is the point computed apart (the root of
``Phi = y_1`` by bisection, the peak in closed form) to rounding, and GD approaches it at
the rate of its linearization there: ``e_{k+1} / e_k -> g'(w*) = 1 - h f''(w*)`` for the
error ``e_k = w_k - w*``, with the Taylor remainder ``h sup |f'''| |e_k|`` (mean value
theorem) and the rounding of ``e_k`` as the tolerance.

Theorem 11.13's hypotheses are evaluated exactly here (:func:`assumption_11_12`): in one
dimension the suprema ``U`` and ``L`` of (11.4.2) over ``B_r(w0)`` are maxima of closed
forms. Assumption 11.12 (c) fails in both figures (Figure 11.1 by a factor 3.8), so the
step ``h`` is Theorem 11.13's but its conclusion is not guaranteed: Figure 11.1 shows GD
finding the global minimum anyway ((c) is sufficient, not necessary), Figure 11.2 shows
what can happen without it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._statistics import FloatArray

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory

# A point ``w`` or an array of them: the model's functions work elementwise.
Real = TypeVar("Real", float, FloatArray)

NAME = "linearization-1d"

X1 = 3.0  # the data point x_1
SKIP = 0.2  # c in Phi(x, w) = tanh(w x) - c w x
W0 = 0.1
TARGETS = {"good": 0.4, "bad": 1.0}  # y_1 of Figure 11.1 and of Figure 11.2
WINDOW = (-4.0, 1.5)  # the w-range drawn, containing both global minimizers
STEPS = 300
EPS = float(np.finfo(np.float64).eps)
# The errors |e_k| = |w_k - w*| whose step ratios e_{k+1}/e_k are compared with the linearized
# rate: above the window the Taylor remainder grows (it is 7e-3 at 1e-3 in Figure 11.1), below
# it the rounding of e_k (about 1e-7 relative at 1e-8).
RATE_WINDOW = (1e-8, 1e-3)
# |Phi'| is largest at w = 0 (sech^2 is), |Phi''| at tanh(x_1 w)^2 = 1/3: with the ends of an
# interval, these points give the maxima of |Phi'| and |Phi''| over it.
_SLOPE_PEAKS = (0.0,)
_CURVATURE_PEAKS = (-math.atanh(1.0 / math.sqrt(3.0)) / X1, math.atanh(1.0 / math.sqrt(3.0)) / X1)


def model(w: Real) -> Real:
    """Return ``Phi(x_1, w) = tanh(w x_1) - c w x_1``."""
    return np.tanh(X1 * w) - SKIP * X1 * w


def model_derivative(w: Real) -> Real:
    """Return ``dPhi/dw = x_1 (1 - tanh(w x_1)^2) - c x_1``."""
    return X1 * (1.0 - np.tanh(X1 * w) ** 2) - SKIP * X1


def model_second_derivative(w: Real) -> Real:
    """Return ``d^2 Phi / dw^2 = -2 x_1^2 tanh(w x_1) (1 - tanh(w x_1)^2)``."""
    t = np.tanh(X1 * w)
    return -2.0 * X1**2 * t * (1.0 - t**2)


def model_third_derivative(w: Real) -> Real:
    """Return ``d^3 Phi / dw^3 = -2 x_1^3 (1 - tanh(w x_1)^2) (1 - 3 tanh(w x_1)^2)``."""
    t = np.tanh(X1 * w)
    return -2.0 * X1**3 * (1.0 - t**2) * (1.0 - 3.0 * t**2)


def linearization(w: npt.ArrayLike) -> FloatArray:
    """Return ``Phi_lin(x_1, w) = Phi(x_1, w0) + Phi'(x_1, w0) (w - w0)`` (11.3.1)."""
    return model(W0) + model_derivative(W0) * (np.asarray(w) - W0)


def loss(w: Real, y: float) -> Real:
    """Return ``f(w) = (Phi(x_1, w) - y_1)^2`` (11.0.1b with m = 1)."""
    return (model(w) - y) ** 2


def loss_derivative(w: Real, y: float) -> Real:
    """Return ``f'(w) = 2 (Phi(x_1, w) - y_1) Phi'(x_1, w)``."""
    return 2.0 * (model(w) - y) * model_derivative(w)


def loss_second_derivative(w: Real, y: float) -> Real:
    """Return ``f''(w) = 2 Phi'(x_1, w)^2 + 2 (Phi(x_1, w) - y_1) Phi''(x_1, w)``."""
    return 2.0 * model_derivative(w) ** 2 + 2.0 * (model(w) - y) * model_second_derivative(w)


def loss_third_derivative(w: Real, y: float) -> Real:
    """Return ``f'''(w) = 6 Phi'(x_1, w) Phi''(x_1, w) + 2 (Phi(x_1, w) - y_1) Phi'''(x_1, w)``."""
    return 6.0 * model_derivative(w) * model_second_derivative(w) + 2.0 * (model(w) - y) * model_third_derivative(w)


def gradient_descent(y: float, lr: float, steps: int, gradient_scale: float = 1.0) -> FloatArray:
    """Return the GD iterates ``w_0, ..., w_steps`` of ``w_{k+1} = w_k - h f'(w_k)`` from ``w0``.

    ``gradient_scale`` multiplies ``f'`` (a negative control's wrong gradient).
    """
    iterates = np.empty(steps + 1)
    iterates[0] = W0
    for k in range(steps):
        iterates[k + 1] = iterates[k] - lr * gradient_scale * loss_derivative(iterates[k], y)
    return iterates


def global_minimizers(y: float, samples: int = 20001) -> FloatArray:
    """Return the roots of ``Phi(x_1, w) = y_1`` in the window (where the loss is 0, its global minimum).

    They are located by sign changes on a fine grid and refined by bisection to the last bit.
    """
    grid = np.linspace(*WINDOW, samples)
    values = model(grid) - y
    roots: list[float] = []
    for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) <= 0):
        low, high = float(grid[i]), float(grid[i + 1])
        while low < 0.5 * (low + high) < high:  # halve the bracket until no float lies inside
            middle = 0.5 * (low + high)
            if np.sign(model(middle) - y) == np.sign(model(low) - y):
                low = middle
            else:
                high = middle
        root = low if abs(model(low) - y) <= abs(model(high) - y) else high
        if not roots or root - roots[-1] > 1e-9:  # a root on a grid point is found from both sides
            roots.append(root)
    return np.array(roots)


def peak() -> float:
    """Return the maximizer of ``Phi``, ``w = artanh(sqrt(1 - c)) / x_1``.

    There ``Phi' = x_1 (sech^2(x_1 w) - c) = 0``.
    """
    return math.atanh(math.sqrt(1.0 - SKIP)) / X1


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


def _hypothesis(case: dict[str, Any], lr: float) -> str:
    """Return Theorem 11.13's hypotheses for one case, with the exact constants."""
    c = case["assumption_11_12"]
    return (f"Theorem 11.13's step: h = 1/(lambda_min + lambda_max) = {lr:.4f}: yes. Assumption 11.12 (exact, "
            f"m = n = 1): (a) lambda = Phi'(w0)^2 = {c['lambda']:.3f} > 0: yes; (b) on B_r(w0), r = {c['r']:.3f}: "
            f"U = max |Phi'| = {c['U']:.3f}, L = max |Phi''| = {c['L']:.3f}; (c) L <= lambda^2/(12 U^2 sqrt(f(w0))) "
            f"= {c['bound']:.3f}: {'yes' if c['held'] else 'NO'} (L/bound = {c['ratio']:.2f}, f(w0) = {c['f0']:.4f}), "
            "for every admissible choice of the constants")


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
    rate_criterion = (f"every step ratio e_(k+1)/e_k with {RATE_WINDOW[0]:g} <= |e_k| <= {RATE_WINDOW[1]:g} within "
                      "h sup|f'''| |e_k| (Taylor remainder, mean value theorem) + 2 delta/|e_k| (rounding) of the "
                      "prediction")
    claims = [
        Claim(
            reference="Figure 11.1",
            key="figure-11-1",
            statement=(f"Phi(w) = tanh({X1:g} w) - {SKIP * X1:g} w stays close to its linearization at w0 = {W0:g} "
                       f"between w0 and the solution (y_1 = {good['target']:g}), the loss is convex there, and GD "
                       f"(h = 1/(2 Phi'(w0)^2)) converges to the global minimizer w* = {good['limit']:.6f} (the root "
                       "of Phi = y_1, by bisection) at the rate of its linearization there."),
            predicted=(f"w_GD = w* to rounding, Phi(w_GD) = y_1; e_(k+1)/e_k -> 1 - h f''(w*) = "
                       f"{good['predicted_rate']:.5f}"),
            measured=(f"w_GD - w* = {good['limit_error']:.1e}, |Phi(w_GD) - y_1| = "
                      f"{abs(good['residual_at_w_gd']):.1e}; "
                      f"step ratios {good['rate_range'][0]:.5f} .. {good['rate_range'][1]:.5f} over "
                      f"{len(good['rate_steps'])} steps, largest deviation {good['rate_worst']:.2f} of its tolerance; "
                      f"max |Phi - Phi_lin| on [{good['interval'][0]:.3f}, {good['interval'][1]:.3f}] = "
                      f"{good['max_model_linearization_gap']:.3f} "
                      f"({100 * good['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|); "
                      f"min f'' there = {good['min_loss_curvature_on_interval']:.2f}"),
            holds=bool(good_limit_held and good["rate_held"] and good["min_loss_curvature_on_interval"] > 0),
            hypothesis=(_hypothesis(good, lr) + ". Shown instead: GD finds the global minimum although (c) fails "
                        "((c) is sufficient, not necessary)."),
            hypothesis_holds=good["assumption_11_12"]["held"],
            criterion=(f"|w_GD - w*| <= delta = 16 eps (1 + |w*|) = {good['rounding_level']:.1e} and |Phi(w_GD) - y_1| "
                       f"<= 8 eps max(1, |y_1|) (rounding); {rate_criterion}; f'' > 0 between w0 and w*"),
        ),
        Claim(
            reference="Figure 11.2",
            key="figure-11-2",
            statement=(f"For y_1 = {bad['target']:g} the linearization reaches y_1 at w_lin = {bad['w_lin']:.3f}, but "
                       f"Phi(w_lin) = {bad['model_at_w_lin']:.3f}: Phi and Phi_lin are not close. GD from w0 converges "
                       f"to the peak w_p = artanh(sqrt(1 - c))/x_1 = {bad['limit']:.6f} of Phi, a stationary point "
                       f"with loss (Phi(w_p) - y_1)^2 > 0, at the rate of its linearization there; the global minimum "
                       f"0 is at w = {bad['nearest_global_minimizer']:.3f}."),
            predicted=(f"w_GD = w_p to rounding, f(w_GD) = {float(loss(bad['limit'], bad['target'])):.4f}; "
                       f"e_(k+1)/e_k -> 1 - h f''(w_p) = {bad['predicted_rate']:.5f}"),
            measured=(f"w_GD - w_p = {bad['limit_error']:.1e}, f(w_GD) = {bad['loss_at_w_gd']:.4f}; step ratios "
                      f"{bad['rate_range'][0]:.5f} .. {bad['rate_range'][1]:.5f} over {len(bad['rate_steps'])} steps, "
                      f"largest deviation {bad['rate_worst']:.2f} of its tolerance; max |Phi - Phi_lin| on "
                      f"[{bad['interval'][0]:.3f}, {bad['interval'][1]:.3f}] = "
                      f"{bad['max_model_linearization_gap']:.3f} "
                      f"({100 * bad['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|)"),
            holds=bool(bad_limit_held and bad["rate_held"]),
            hypothesis=(_hypothesis(bad, lr) + ". Shown instead: without (c), GD can stop at a stationary point that "
                        "is not a global minimizer."),
            hypothesis_holds=bad["assumption_11_12"]["held"],
            criterion=(f"|w_GD - w_p| <= delta = 16 eps (1 + |w_p|) = {bad['rounding_level']:.1e} (rounding), "
                       f"f(w_p) above rounding while Phi = y_1 has a root (loss 0); {rate_criterion}"),
        ),
    ]
    grid = np.linspace(*WINDOW, points)
    data = {"w": grid, "model": model(grid), "linearization": linearization(grid),
            "loss_good": loss(grid, TARGETS["good"]), "loss_bad": loss(grid, TARGETS["bad"]),
            "iterates_good": iterates["good"], "iterates_bad": iterates["bad"]}
    settings = {"model": f"Phi(x, w) = tanh(w x) - {SKIP:g} w x", "x1": X1, "w0": W0, "targets": dict(TARGETS),
                "lr": lr, "steps": STEPS, "window": list(WINDOW), "points": points, "rate_window": list(RATE_WINDOW),
                "seed": seed, "quick": quick}
    numbers = {"tangent_kernel": kernel, "lr": lr, "good": good, "bad": bad, "residual_level": residual_level}
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw Figures 11.1 and 11.2 into ``directory`` as a 2 x 2 grid.

    For each case (rows) the model against its linearization and the target (left), and
    the loss along ``w`` with the GD iterates (right).
    """
    from widenet.app.experiments._plotting import figure, save

    data, settings, numbers = result.data, result.settings, result.numbers
    w = np.asarray(data["w"])
    fig, axes = figure(columns=2, rows=2, width=5.4, height=3.7)
    titles = {"good": "Figure 11.1: Phi close to Phi_lin", "bad": "Figure 11.2: Phi far from Phi_lin"}
    for row, case in enumerate(("good", "bad")):
        y = settings["targets"][case]
        iterates = np.asarray(data[f"iterates_{case}"])
        left, right = axes[row]
        left.plot(w, data["model"], color="tab:blue", linewidth=2, label="Phi(x1, w)")
        left.plot(w, data["linearization"], "--", color="tab:green", linewidth=1.5, label="Phi_lin(x1, w)")
        left.axhline(y, color="red", linewidth=1, label=f"y1 = {y:g}")
        left.plot([settings["w0"]], [float(np.interp(settings["w0"], w, data["model"]))], "ko", label="w0")
        left.plot([iterates[-1]], [float(np.interp(iterates[-1], w, data["model"]))], "s", color="tab:purple",
                  label="GD limit")
        left.set_ylim(-1.5, 1.5 + 0.6 * (y > 1))
        left.set_title(f"{titles[case]} (y1 = {y:g})")
        left.set_xlabel("w")
        left.set_ylabel("model output")
        left.legend(fontsize=8, loc="lower left")
        losses = np.asarray(data[f"loss_{case}"])
        right.plot(w, losses, color="tab:blue", linewidth=2, label="(Phi(x1, w) - y1)^2")
        right.plot(w, (np.asarray(data["linearization"]) - y) ** 2, "--", color="tab:green", linewidth=1.2,
                   label="(Phi_lin(x1, w) - y1)^2")
        shown = iterates[:30]
        right.plot(shown, (np.interp(shown, w, data["model"]) - y) ** 2, "o-", color="tab:purple", markersize=3,
                   linewidth=0.8, label=f"GD iterates (first {shown.size})")
        minimizers = np.asarray(numbers[case]["global_minimizers"], dtype=float)
        right.plot(minimizers, np.zeros_like(minimizers), "*", color="red", markersize=11, label="global minima")
        if case == "good":  # zoom on w0 and the nearby minimizer; the loss there is small
            right.set_xlim(-0.5, 1.3)
            right.set_ylim(-0.005, 4.0 * numbers[case]["initial_loss"])
        else:
            right.set_ylim(-0.05, 1.2 * max(numbers[case]["initial_loss"], 0.5))
        condition = numbers[case]["assumption_11_12"]
        right.set_title(f"loss along w: GD ends at f = {numbers[case]['loss_at_w_gd']:.2g}\n"
                        f"(Assumption 11.12 (c) fails: L/bound = {condition['ratio']:.1f})", fontsize=9)
        right.set_xlabel("w")
        right.set_ylabel("loss f(w)")
        right.legend(fontsize=8, loc="upper right")
    return [save(fig, directory, "linearization_1d")]


EXPERIMENT = Experiment(
    name=NAME,
    title="A one-parameter model and its linearization: when GD finds the global minimum",
    reference="Figures 11.1 and 11.2",
    run=run,
    plot=plot,
    controls={
        "gradient-doubled": Control(Perturbation("gradient", 2.0), ("figure-11-1", "figure-11-2"),
                                    "GD's gradient f' twice the true one (the rate 1 - 2 h f'' instead of 1 - h f'')"),
        "gradient-halved": Control(Perturbation("gradient", 0.5), ("figure-11-1", "figure-11-2"),
                                   "GD's gradient half the true one (the factor 2 of (Phi - y)^2 dropped)"),
        "step-doubled": Control(Perturbation("step", 2.0), ("figure-11-1", "figure-11-2"),
                                "the predicted rates computed with twice the step GD takes"),
    },
)
