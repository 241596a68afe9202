"""The one-parameter model, its linearization and loss with their derivatives, GD on it, its minimizers."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._statistics import FloatArray

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
