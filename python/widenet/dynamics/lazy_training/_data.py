"""The data of the lazy-training measurements, the default steps and the per-block norms."""

from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from widenet import _memory
from widenet import _validation as check
from widenet.network._kinds import AnyNetwork

BLOCKS = ("U", "b", "v", "c")  # a shallow network's blocks

# The step h = lr_constant / n (LeCun) or lr_constant (NTK) for the mean loss, when not
# given. See lazy_training_cell for why these are below the stable limit.
DEFAULT_LR_CONSTANT = {"lecun": 0.5, "ntk": 0.25}

DEFAULT_WIDTHS = tuple(2 ** k for k in range(6, 15))
QUICK_WIDTHS = tuple(2 ** k for k in range(6, 11))
DEFAULT_SEEDS = tuple(range(6))
QUICK_SEEDS = tuple(range(3))

_DATA_STREAM = 1126  # keeps the data's random stream apart from every network seed's


# -- data ----------------------------------------------------------------------------------
class LazyTrainingData(NamedTuple):
    """Training inputs ``X`` (m, d), targets ``y`` (m,) and test inputs ``X_test`` (t, d)."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray


def lazy_training_data(points: int = 8, input_dim: int = 4, test_points: int = 16, amplitude: float = 1.0,
                       seed: int = 0) -> LazyTrainingData:
    """Make a small regression problem with unit-norm inputs and a smooth target.

    Proposition 11.26 holds for ``|x| <= 1``.

    Inputs are Gaussian vectors scaled to unit norm; the target is
    ``y = amplitude * sin(pi a . x)`` for a random unit vector ``a``. The data's random
    stream depends only on ``seed`` and is kept apart from the networks' streams, so the
    data seed and the network seeds are independent even when they are equal numbers.

    ``amplitude`` trades noise against laziness. The network's output at initialization
    has a standard deviation of about 0.45 (tanh, unit-norm inputs in d = 4, default
    variances), so with amplitude 1 a good part of the residual that training removes is
    the random initial function, which varies from seed to seed: the fitted exponent of
    ``distance`` scatters with a standard deviation of about 0.07 over data sets (6 widths,
    3 seeds, 100 steps), against 0.04 with amplitude 3. But a larger target moves small
    networks further: with amplitude 3 and 300 steps an NTK-parametrized network of width
    64 ends 40% of ``|w0|`` away from its start, outside the lazy regime, and the fitted
    exponents of the output gap flatten towards -0.6 from about -0.9.
    """
    points = check.integer(points, "points", 1)
    input_dim = check.integer(input_dim, "input_dim", 1)
    test_points = check.integer(test_points, "test_points", 1)
    _memory.require("lazy_training_data", [("points", (points + test_points + 1, input_dim), np.float64, 1),
                                           ("points being scaled", (max(points, test_points), input_dim),
                                            np.float64, 1)], "Pass fewer points or a smaller input_dim.")
    amplitude = check.positive_real(amplitude, "amplitude")
    seed = check.seed(seed)
    rng = np.random.default_rng([_DATA_STREAM, seed])

    def unit_rows(rows: int) -> np.ndarray:
        Z = rng.standard_normal((rows, input_dim))
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    direction = unit_rows(1)[0]
    X, X_test = unit_rows(points), unit_rows(test_points)
    return LazyTrainingData(X, amplitude * np.sin(np.pi * X @ direction), X_test)


def _checked_data(data: Optional[LazyTrainingData]) -> LazyTrainingData:
    if data is None:
        with _memory.preliminary():  # the default data are small: the caller's guard is the estimate
            return lazy_training_data()
    if not isinstance(data, tuple) or len(data) != 3:
        raise TypeError(f"data: expected (X, y, X_test) such as lazy_training_data() returns, got {data!r}")
    float64 = np.dtype(np.float64)
    X = check.as_points(data[0], "X", dtype=float64, min_columns=1)
    return LazyTrainingData(X, check.as_targets(data[1], "y", float64, X.shape[0]),
                            check.as_inputs(data[2], "X_test", float64, X.shape[1]))


# -- blocks of the parameters --------------------------------------------------------------
def _blocks(network: AnyNetwork, params: Any) -> Dict[str, np.ndarray]:
    """Return the network's parameter blocks by name (``U, b, v, c``; deep: ``W1, b1, ..., v, c``)."""
    arrays = [np.atleast_1d(block) for layer in params.layers for block in layer if block is not None]
    return dict(zip(network.block_names, arrays))


def _block_norms(network: AnyNetwork, params: Any) -> Dict[str, float]:
    return {name: float(np.linalg.norm(block)) for name, block in _blocks(network, params).items()}


def _block_differences(network: AnyNetwork, after: Any, before: Any) -> Dict[str, float]:
    old = _blocks(network, before)
    return {name: float(np.linalg.norm(block - old[name])) for name, block in _blocks(network, after).items()}


def _jacobian_blocks(network: AnyNetwork, X: np.ndarray) -> Dict[str, float]:
    """Return the mean over the rows of ``X`` of ``|grad_B Phi(x_i, w)|`` for every block ``B``.

    Taken from the column blocks of the Jacobian (the parameter vector's order: each layer's
    weights row-major, then its bias; docs/theory.md, sections 5 and 8).
    """
    J = network.jacobian(X)
    sizes = [block.size for block in _blocks(network, network.params).values()]
    bounds = np.cumsum([0, *sizes])
    return {name: float(np.mean(np.linalg.norm(J[:, start:stop], axis=1)))
            for name, start, stop in zip(network.block_names, bounds[:-1], bounds[1:])}


def _relative(movement: Dict[str, float], initial: Dict[str, float]) -> Dict[str, float]:
    return {name: movement[name] / initial[name] if initial[name] > 0 else math.nan for name in movement}


# -- the step rule -------------------------------------------------------------------------
def _lr_constant(lr_constant: Optional[float], parametrization: str, loss: str, points: int) -> float:
    if lr_constant is not None:
        return check.positive_real(lr_constant, "lr_constant")
    # The defaults are for the mean loss; the other scalings get the same dynamics.
    return DEFAULT_LR_CONSTANT[parametrization] / (points * check.loss_scale(loss, points))


def _step(constant: float, parametrization: str, width: int) -> float:
    """Return the step ``h = c / n`` or ``h = c``.

    ``c / n`` for LeCun (the Gram grows like n, Theorem 11.23), ``c`` for the NTK
    parametrization (the Gram is O(1), Theorem 11.30).
    """
    return constant / width if parametrization == "lecun" else constant


def _check_stable(lr: float, scale: float, theta: np.ndarray, constant: float) -> None:
    largest = float(np.linalg.eigvalsh(theta)[-1])
    if lr * scale * largest >= 1.0:
        raise ValueError(f"lr_constant: the step h = {lr:.4g} (lr_constant {constant:.4g}) is not below the stable "
                         f"limit 1/(s lambda_max) = {1.0 / (scale * largest):.4g} of this network's tangent Gram; "
                         f"gradient descent would diverge")


