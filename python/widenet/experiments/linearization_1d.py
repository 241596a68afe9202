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
"""

from __future__ import annotations

import math

import numpy as np

from ._base import Claim, Experiment, ExperimentResult, Progress

NAME = "linearization-1d"

X1 = 3.0  # the data point x_1
SKIP = 0.2  # c in Phi(x, w) = tanh(w x) - c w x
W0 = 0.1
TARGETS = {"good": 0.4, "bad": 1.0}  # y_1 of Figure 11.1 and of Figure 11.2
WINDOW = (-4.0, 1.5)  # the w-range drawn, containing both global minimizers
EPS = float(np.finfo(np.float64).eps)


def model(w):
    """``Phi(x_1, w) = tanh(w x_1) - c w x_1``."""
    return np.tanh(X1 * w) - SKIP * X1 * w


def model_derivative(w):
    """``dPhi/dw = x_1 (1 - tanh(w x_1)^2) - c x_1``."""
    return X1 * (1.0 - np.tanh(X1 * w) ** 2) - SKIP * X1


def model_second_derivative(w):
    """``d^2 Phi / dw^2 = -2 x_1^2 tanh(w x_1) (1 - tanh(w x_1)^2)``."""
    t = np.tanh(X1 * w)
    return -2.0 * X1**2 * t * (1.0 - t**2)


def linearization(w):
    """``Phi_lin(x_1, w) = Phi(x_1, w0) + Phi'(x_1, w0) (w - w0)`` (11.3.1)."""
    return model(W0) + model_derivative(W0) * (np.asarray(w) - W0)


def loss(w, y: float):
    """``f(w) = (Phi(x_1, w) - y_1)^2`` (11.0.1b with m = 1)."""
    return (model(w) - y) ** 2


def loss_derivative(w, y: float):
    return 2.0 * (model(w) - y) * model_derivative(w)


def loss_second_derivative(w, y: float):
    return 2.0 * model_derivative(w) ** 2 + 2.0 * (model(w) - y) * model_second_derivative(w)


def gradient_descent(y: float, lr: float, steps: int) -> np.ndarray:
    """The GD iterates ``w_0, ..., w_steps`` of ``w_{k+1} = w_k - h f'(w_k)`` from ``w0``."""
    iterates = np.empty(steps + 1)
    iterates[0] = W0
    for k in range(steps):
        iterates[k + 1] = iterates[k] - lr * loss_derivative(iterates[k], y)
    return iterates


def global_minimizers(y: float, samples: int = 20001) -> np.ndarray:
    """The roots of ``Phi(x_1, w) = y_1`` in the window (where the loss is 0, its global
    minimum), located by sign changes on a fine grid and refined by bisection."""
    grid = np.linspace(*WINDOW, samples)
    values = model(grid) - y
    roots = []
    for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) <= 0):
        low, high = grid[i], grid[i + 1]
        for _ in range(100):
            middle = 0.5 * (low + high)
            if np.sign(model(middle) - y) == np.sign(model(low) - y):
                low = middle
            else:
                high = middle
        roots.append(0.5 * (low + high))
    return np.unique(np.round(roots, 12))


def _case(y: float, lr: float, steps: int, points: int) -> tuple:
    """The numbers and the curves of one case."""
    iterates = gradient_descent(y, lr, steps)
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
    }
    return numbers, iterates


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """Runs GD on the one-parameter model for the target of Figure 11.1 and of Figure 11.2.

    Parameters
    ----------
    quick : bool
        Fewer points on the drawn curves (the GD runs are the same).
    seed : int
        Unused: the experiment is deterministic (kept for the common interface).
    progress : Progress

    Returns
    -------
    ExperimentResult
    """
    steps = 300
    points = 201 if quick else 801
    kernel = float(model_derivative(W0) ** 2)  # K(x_1, x_1), lambda_min = lambda_max
    lr = 1.0 / (2.0 * kernel)  # Theorem 11.13: h <= 1 / (lambda_min + lambda_max)
    cases, iterates = {}, {}
    for name in progress.steps(TARGETS, len(TARGETS), "cases"):
        cases[name], iterates[name] = _case(TARGETS[name], lr, steps, points)

    good, bad = cases["good"], cases["bad"]
    # Rounding levels: Phi(w) - y is computed with an error of a few eps max(1, |y|), and a
    # stationary point is located to about sqrt(eps) in w (the loss is flat to second order).
    residual_level = 8.0 * EPS * max(1.0, abs(good["target"]))
    stationary_level = math.sqrt(EPS)
    claims = [
        Claim(
            reference="Figure 11.1",
            statement=(f"Phi(w) = tanh({X1:g} w) - {SKIP * X1:g} w stays close to its linearization at w0 = {W0:g} "
                       f"between w0 and the solution (y_1 = {good['target']:g}), the loss is convex there, and GD "
                       "(h = 1/(2 Phi'(w0)^2), Theorem 11.13) converges to a global minimizer: Phi(w_GD) = y_1 to "
                       "rounding."),
            predicted=f"|Phi(w_GD) - y_1| <= {residual_level:.1e} (rounding), loss 0",
            measured=(f"w_GD = {good['w_gd']:.6f}, |Phi(w_GD) - y_1| = {abs(good['residual_at_w_gd']):.1e}; "
                      f"max |Phi - Phi_lin| on [{good['interval'][0]:.3f}, {good['interval'][1]:.3f}] = "
                      f"{good['max_model_linearization_gap']:.3f} "
                      f"({100 * good['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|); "
                      f"min f'' there = {good['min_loss_curvature_on_interval']:.2f}"),
            holds=bool(abs(good["residual_at_w_gd"]) <= residual_level
                       and good["min_loss_curvature_on_interval"] > 0),
        ),
        Claim(
            reference="Figure 11.2",
            statement=(f"For y_1 = {bad['target']:g} the linearization reaches y_1 at w_lin = {bad['w_lin']:.3f}, but "
                       f"Phi(w_lin) = {bad['model_at_w_lin']:.3f}: Phi and Phi_lin are not close. GD from w0 stops at "
                       "a stationary point (|f'| below sqrt(eps)) whose loss is not the global minimum 0 "
                       f"(attained at w = {bad['nearest_global_minimizer']:.3f})."),
            predicted="GD stops at a non-global stationary point: f'(w_GD) = 0, f(w_GD) > 0",
            measured=(f"w_GD = {bad['w_gd']:.6f}, f'(w_GD) = {bad['gradient_at_w_gd']:.1e}, f(w_GD) = "
                      f"{bad['loss_at_w_gd']:.4f}; max |Phi - Phi_lin| on [{bad['interval'][0]:.3f}, "
                      f"{bad['interval'][1]:.3f}] = {bad['max_model_linearization_gap']:.3f} "
                      f"({100 * bad['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|)"),
            holds=bool(abs(bad["gradient_at_w_gd"]) <= stationary_level and bad["loss_at_w_gd"] > stationary_level
                       and bad["nearest_global_minimizer"] is not None),
        ),
    ]
    grid = np.linspace(*WINDOW, points)
    data = {"w": grid, "model": model(grid), "linearization": linearization(grid),
            "loss_good": loss(grid, TARGETS["good"]), "loss_bad": loss(grid, TARGETS["bad"]),
            "iterates_good": iterates["good"], "iterates_bad": iterates["bad"]}
    settings = {"model": f"Phi(x, w) = tanh(w x) - {SKIP:g} w x", "x1": X1, "w0": W0, "targets": dict(TARGETS),
                "lr": lr, "steps": steps, "window": list(WINDOW), "points": points, "seed": seed, "quick": quick}
    numbers = {"tangent_kernel": kernel, "lr": lr, "good": good, "bad": bad,
               "residual_level": residual_level, "stationary_level": stationary_level}
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data)


def plot(result: ExperimentResult, directory) -> list:
    """Figures 11.1 and 11.2 as a 2 x 2 grid: for each case (rows) the model against its
    linearization and the target (left), and the loss along ``w`` with the GD iterates
    (right)."""
    from ._plotting import figure, save

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
        right.set_title(f"loss along w: GD ends at f = {numbers[case]['loss_at_w_gd']:.2g}")
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
)
