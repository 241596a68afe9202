"""Monte Carlo over hidden units, for any law ``D`` of the weights (docs/theory.md, section 5)."""

from __future__ import annotations

import math
from typing import Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import _BLOCK_FLOATS, DISTRIBUTIONS, Array, Distribution, _choice, _points
from widenet.reference.limit_kernels.functions import ActivationFunctions, activation_functions, evaluate


def _standard_draws(rng: np.random.Generator, distribution: str, size: Union[int, Tuple[int, ...]]) -> Array:
    """Draw zero-mean, unit-variance values from ``D`` (Assumption 11.14, Example 11.15)."""
    if distribution == "normal":
        return rng.standard_normal(size)
    if distribution == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size)
    return 2.0 * rng.integers(0, 2, size).astype(np.float64) - 1.0


def _generator(seed: Union[None, int, np.random.Generator]) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def monte_carlo_expectations(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                             weight_var: float = 1.0, bias_var: float = 0.0, samples: int = 10000,
                             distribution: Distribution = "normal",
                             seed: Union[None, int, np.random.Generator] = None) -> Tuple[Array, Array, Array, Array]:
    """Return ``E_ss`` and ``E_dd`` by Monte Carlo over hidden units, for any law ``D`` (docs/theory.md, section 5).

    Draws ``samples`` independent hidden units ``u_j = sqrt(s_w^2/d) D``,
    ``b = sqrt(s_b^2) D`` (11.5.3) and averages ``sigma(u.x + b) sigma(u.z + b)`` and
    ``sigma'(u.x + b) sigma'(u.z + b)``. For a non-Gaussian ``D`` this is the limit
    expectation under that law, which differs from the Gaussian one when ``d`` is small.
    Units are processed in chunks (``chunk * (m1 + m2)`` floats at once); each chunk draws
    its ``u`` (chunk, d) and then its ``b`` (chunk,).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str or ActivationFunctions
        Any of :data:`~widenet.reference.ACTIVATIONS`, or an activation's functions.
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.
    samples : int, default 10000
        Number of hidden units, at least 2.
    distribution : {"normal", "uniform", "rademacher"}
        ``D``: standard normal, uniform on ``[-sqrt 3, sqrt 3]`` or ``+-1``.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
        The sample means.
    se_ss, se_dd : ndarray, shape (m1, m2)
        Their standard errors, sample standard deviation over ``sqrt(samples)``.
    """
    P1, P2 = _points(X1, X2)
    _choice(distribution, "distribution", DISTRIBUTIONS)
    functions = activation_functions(activation)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}")
    samples = int(samples)
    rng = _generator(seed)
    (m1, d), m2 = P1.shape, P2.shape[0]
    w_scale = math.sqrt(float(weight_var) / d)
    b_scale = math.sqrt(float(bias_var))
    chunk = max(1, min(samples, _BLOCK_FLOATS // (m1 + m2)))
    # sigma(h) grows at most like |h|: the values are summed in units of each point's
    # spread of h (at least 1), so that their squares cannot overflow at large inputs.
    units = [np.maximum(1.0, w_scale * np.linalg.norm(X, axis=1) + b_scale) for X in (P1, P2)]
    sums = [np.zeros((m1, m2)) for _ in range(4)]  # sum ss, sum ss^2, sum dd, sum dd^2
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        U = w_scale * _standard_draws(rng, distribution, (k, d))
        b = b_scale * _standard_draws(rng, distribution, k)
        H1 = P1 @ U.T + b  # (m1, k)
        H2 = P2 @ U.T + b  # (m2, k)
        for offset, derivative in ((0, False), (2, True)):
            A1, A2 = evaluate(functions, derivative, H1), evaluate(functions, derivative, H2)
            if offset == 0:
                A1, A2 = A1 / units[0][:, None], A2 / units[1][:, None]
            sums[offset] += A1 @ A2.T
            sums[offset + 1] += (A1 * A1) @ (A2 * A2).T
    out = []
    scales: Tuple[Union[Array, float], ...] = (np.outer(*units), 1.0)
    for (total, squares), unit in zip((sums[0:2], sums[2:4]), scales):
        mean = total / samples
        variance = np.maximum(squares - samples * mean * mean, 0.0) / (samples - 1)
        out.append((mean * unit, np.sqrt(variance / samples) * unit))
    (E_ss, se_ss), (E_dd, se_dd) = out
    return E_ss, E_dd, se_ss, se_dd
