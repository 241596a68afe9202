"""The normal scale mixtures of sigmoid, tanh and softplus (package docstring); arctan's is in ``arctan``."""

from __future__ import annotations

import functools
import math
from typing import Dict, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.arctan import _arctan_expectations
from widenet.reference.limit_kernels.closed_forms import arcsine_terms
from widenet.reference.limit_kernels.common import (
    _BLOCK_FLOATS,
    LOGISTIC_NODES,
    SCALE_MIXTURES,
    Array,
    Pair,
    _correlations,
    _variances,
)


def logistic_mixing_density(v: npt.ArrayLike) -> Array:
    """Return the density of the variance ``V`` that makes ``N(0, V)`` logistic.

    That is, ``e^t / (1 + e^t)^2 = E[phi_V(t)]``. With ``theta(v) = P(V <= v) = 1 + 2 sum_{k>=1} (-1)^k e^{-k^2 v/2}``
    (the Kolmogorov distribution of ``sqrt(V) / 2``), the density is ``theta'(v) =
    sum_k (-1)^{k+1} k^2 e^{-k^2 v/2}`` for ``v >= pi``, and below, where that series
    converges slowly, the derivative of Jacobi's dual form
    ``theta(v) = 2 sqrt(2 pi / v) sum_{n>=0} e^{-a_n / v}``, ``a_n = pi^2 (2n+1)^2 / 2``.
    Both series are cut where their terms fall below 1e-25 of the density.
    """
    values = np.asarray(v, dtype=np.float64)
    density = np.zeros_like(values)
    small = values < math.pi
    vs = values[small]
    for n in range(4):
        a = 0.5 * (math.pi * (2 * n + 1)) ** 2
        density[small] += 2 * math.sqrt(2 * math.pi) * np.exp(-a / vs) * (a * vs ** -2.5 - 0.5 * vs ** -1.5)
    vl = values[~small]
    for k in range(1, 9):
        density[~small] += (-1) ** (k + 1) * k * k * np.exp(-0.5 * k * k * vl)
    return density


@functools.lru_cache(maxsize=None)
def logistic_mixing_rule(nodes: int = LOGISTIC_NODES) -> Pair:
    """Return a Gauss rule for the logistic mixing law: ``E[f(V)] ~= sum_k weights[k] f(variances[k])``.

    Gaussian in ``t = log V`` (exact for polynomials in ``t`` of degree ``2 nodes - 1``),
    built by the Stieltjes procedure from a trapezoid discretization of the law in ``t``
    (step 0.05 on [-6, 8]: the density there decays like ``e^{-e^t/2}`` and
    ``e^{-pi^2 e^{-t}/2}``, and the trapezoid rule errs by less than 1e-30). The
    integrands the kernels need are analytic in ``t`` within ``|Im t| < pi``, so the rule
    converges geometrically: 12 nodes reach 1e-13 relative for every variance and
    correlation (tests/test_limit_accuracy.py). The weights are normalized to sum to 1.

    Returns
    -------
    variances, weights : ndarray, shape (nodes,), read-only
    """
    step = 0.05
    t = np.arange(-6.0, 8.0 + step / 2, step)
    mass = step * logistic_mixing_density(np.exp(t)) * np.exp(t)
    # Stieltjes: the three-term recurrence of the polynomials orthogonal for `mass`.
    alpha, beta = np.zeros(nodes), np.zeros(nodes)
    previous, current = np.zeros_like(t), np.ones_like(t)
    norm = beta[0] = mass.sum()
    for k in range(nodes):
        alpha[k] = np.sum(mass * t * current * current) / norm
        if k + 1 < nodes:
            following = (t - alpha[k]) * current - (beta[k] if k else 0.0) * previous
            following_norm = np.sum(mass * following * following)
            beta[k + 1] = following_norm / norm
            previous, current, norm = current, following, following_norm
    jacobi = np.diag(alpha) + np.diag(np.sqrt(beta[1:]), 1) + np.diag(np.sqrt(beta[1:]), -1)
    log_variances, vectors = np.linalg.eigh(jacobi)
    weights = vectors[0] ** 2
    variances, weights = np.exp(log_variances), weights / weights.sum()
    variances.flags.writeable = weights.flags.writeable = False
    return variances, weights


# (variance scale of the erf pieces, E_ss = a + b A [+ c C], E_dd = d + e B [+ f A]) by activation:
#   sigmoid(t) = 1/2 + E[erf(t / sqrt(2V))] / 2,     sigmoid' = E[phi_V]
#   tanh(t)    = E[erf(t / sqrt(2V/4))],             tanh'    = 2 E[phi_{V/4}]
#   softplus   = E[E_z relu(t + sqrt(V) z)],          softplus' = sigmoid
# with, summed over pairs of nodes (weights w1 w2): A = arcsin(x), B = 1/(sqrt(P1 P2) sqrt(1 - x^2))
# and C = sqrt(P1 P2) (sqrt(1 - x^2) + (pi/2 + arcsin x) x) (the arc-cosine kernel of the
# smoothed relus times 2 pi), P = q + scale V.
_LOGISTIC_MIXTURES: Dict[str, Tuple[float, Tuple[float, float, float], Tuple[float, float, float]]] = {
    "sigmoid": (1.0, (0.25, 1 / (2 * math.pi), 0.0), (0.0, 1 / (2 * math.pi), 0.0)),
    "tanh": (0.25, (0.0, 2 / math.pi, 0.0), (0.0, 2 / math.pi, 0.0)),
    "softplus": (1.0, (0.0, 0.0, 1 / (2 * math.pi)), (0.25, 0.0, 1 / (2 * math.pi))),
}


def scale_mixture_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str) -> Pair:
    """Return ``E_ss`` and ``E_dd`` from the normal scale mixtures (package docstring).

    - sigmoid, tanh, softplus: ``sum_{k,l} w_k w_l`` of the closed arcsine and arc-cosine
      kernels at the variances ``q1 + s V_k``, ``q2 + s V_l`` (:data:`_LOGISTIC_MIXTURES`)
      over the rule :func:`logistic_mixing_rule`;
    - arctan: the integrals of :func:`arctan_rule`.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : {"tanh", "sigmoid", "softplus", "arctan"}

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if activation not in SCALE_MIXTURES:
        raise ValueError(f"activation: scale mixtures are used for {', '.join(SCALE_MIXTURES)} only; got "
                         f"{activation!r}")
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    if activation == "arctan":
        return _arctan_expectations(V11, V22, rho, one_minus_rho2)
    scale, (a, b, c), (d, e, f) = _LOGISTIC_MIXTURES[activation]
    variances, weights = logistic_mixing_rule()
    sums = np.zeros((3,) + V12.shape)
    rows = max(1, _BLOCK_FLOATS // max(1, V12.shape[1] * weights.size ** 2))
    for start in range(0, V12.shape[0], rows):
        block = slice(start, start + rows)
        sums[:, block] = _mixture_sums(V11[block], V22, rho[block], one_minus_rho2[block], scale * variances,
                                       weights)
    A, B, C = sums
    return a + b * A + c * C, d + e * B + f * A


def _mixture_sums(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array, variances: Array,
                  weights: Array) -> Tuple[Array, Array, Array]:
    """Return ``sum_{k,l} w_k w_l (A, B, C)`` (see :data:`_LOGISTIC_MIXTURES`) for a block of pairs."""
    V = variances
    x, one_minus_x2, root = arcsine_terms(q1[:, None, None, None], q2[None, :, None, None],
                                          rho[:, :, None, None], one_minus_rho2[:, :, None, None],
                                          V[:, None], V[None, :])
    sine = np.sqrt(one_minus_x2)
    angle = np.arctan2(x, sine)
    W = weights[:, None] * weights[None, :]
    A = np.sum(W * angle, axis=(2, 3))
    B = np.sum(W / (root * sine), axis=(2, 3))
    C = np.sum(W * root * (sine + (0.5 * math.pi + angle) * x), axis=(2, 3))
    return A, B, C
