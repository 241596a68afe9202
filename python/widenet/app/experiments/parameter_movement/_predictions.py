"""The initialization's scales and the predicted gradient norms."""

from __future__ import annotations

import math

import numpy as np

from widenet.app.experiments._base import Parametrization
from widenet.app.experiments.parameter_movement._setup import BIAS_VAR, OUTPUT_BIAS_VAR


def initial_scale(parametrization: Parametrization, block: str, width: int, input_dim: int) -> float:
    """Return ``sqrt(E abs(B_0)^2)`` of block ``block`` for the initializations (11.5.3) and (11.6.2).

    With the weight variances 1 and the bias variances of Exercise 11.37.
    """
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    variance = {"U": width * input_dim / fan_in, "b": width * BIAS_VAR, "v": width / fan_out,
                "c": OUTPUT_BIAS_VAR}[block]
    return float(np.sqrt(variance))


def gaussian_moments(variance: float, nodes: int = 240) -> dict[str, float]:
    """Return ``E s^2, E s^4, E s'^2, E s'^4`` of tanh at ``g ~ N(0, variance)`` (Gauss-Hermite)."""
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    g = math.sqrt(variance) * points
    weights = weights / math.sqrt(2.0 * math.pi)
    s, ds = np.tanh(g), 1.0 / np.cosh(g) ** 2
    return {"s2": float(weights @ s ** 2), "s4": float(weights @ s ** 4), "ds2": float(weights @ ds ** 2),
            "ds4": float(weights @ ds ** 4)}


def expected_gradient_norms(parametrization: Parametrization, width: int, input_dim: int) -> dict[str, float]:
    """Return ``E abs(grad_B Phi(x, w0))`` per block for ``abs(x) = 1``, to ``O(1/n^2)``.

    ``E sqrt(S) = sqrt(E S) (1 - Var S / (8 (E S)^2))`` for the sums ``S`` of ``n`` i.i.d.
    terms (module docstring).
    """
    moments = gaussian_moments(1.0 / input_dim + BIAS_VAR)

    def root_of_sum(mean: float, second: float) -> float:  # E sqrt of (1/n) sum of terms
        return math.sqrt(mean) * (1.0 - (second - mean ** 2) / (8.0 * width * mean ** 2))

    value = root_of_sum(moments["s2"], moments["s4"])
    bias = root_of_sum(moments["ds2"], 3.0 * moments["ds4"])  # v~^4 has mean 3
    if parametrization == "lecun":
        return {"U": bias, "b": bias, "v": math.sqrt(width) * value, "c": 1.0}
    return {"U": bias / math.sqrt(input_dim), "b": bias, "v": value, "c": 1.0}


GRADIENT_EXPONENTS = {"lecun": {"U": 0.0, "b": 0.0, "v": 0.5}, "ntk": {"U": 0.0, "b": 0.0, "v": 0.0}}
