"""Closed forms of the two expectations for leaky_relu, abs and the monomials (package docstring).

With ``(u, v)`` centered Gaussian of variances ``q1, q2``, covariance ``c = rho sqrt(q1 q2)``:

- Two slopes, ``s(z) = a z`` below 0 and ``b z`` above (leaky_relu: ``a = LEAKY_RELU_SLOPE,
  b = 1``; abs: ``a = -1, b = 1``): ``s(z) = a z + (b - a) relu(z)``, and since
  ``E[u relu(v)] = E[u v 1(v > 0)] = c / 2`` (the law is symmetric under ``(u, v) -> (-u, -v)``),
  ``E_ss = a^2 c + a (b - a) c + (b - a)^2 K = a b c + (b - a)^2 K`` with ``K`` relu's
  arc-cosine kernel. Likewise ``s' = a + (b - a) 1(z > 0)`` gives
  ``E_dd = a b + (b - a)^2 D``, ``D = (pi - arccos rho) / (2 pi)`` relu's. A point of variance 0
  sits at 0, independent of the other: there ``E_dd = E[s'(u)] E[s'(v)]`` with
  ``E[s'] = (a + b) / 2`` at a positive variance and ``s'(0)`` (``a`` for leaky_relu, 0 for abs)
  at 0.
- Monomials, by Isserlis' theorem: ``E[u^2 v^2] = q1 q2 + 2 c^2`` and ``E[2u 2v] = 4 c``;
  ``E[u^3 v^3] = 9 q1 q2 c + 6 c^3`` and ``E[3u^2 3v^2] = 9 (q1 q2 + 2 c^2)``.

Their partials in ``(c, q1, q2)`` (for the kernels' gradient, :func:`piecewise_partials`)
follow: the two-slope ones are ``a b`` times the covariance's plus ``(b - a)^2`` times relu's,
the monomials' are polynomials.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet.reference.activations import LEAKY_RELU_SLOPE
from widenet.reference.limit_kernels.common import Array, Pair

PIECEWISE_FORMS = ("leaky_relu", "abs", "monomial2", "monomial3")
"""The activations of this module, among the closed forms."""

# activation -> (a, b, s'(0))
_SLOPES = {"leaky_relu": (LEAKY_RELU_SLOPE, 1.0, LEAKY_RELU_SLOPE), "abs": (-1.0, 1.0, 0.0)}
TWO_SLOPES = tuple(_SLOPES)
"""The activations of this module built from relu's kernels."""


def piecewise_expectations(q1: Array, q2: Array, rho: Array, relu: Pair, activation: str) -> Pair:
    """Return ``E_ss, E_dd`` of one of :data:`PIECEWISE_FORMS` (module docstring).

    ``q1`` (column), ``q2`` (row) and ``rho`` broadcast to the pairs; ``relu`` is relu's
    ``(E_ss, E_dd)`` at the same pairs.
    """
    root = np.sqrt(q1) * np.sqrt(q2)
    if activation in _SLOPES:
        a, b, at_zero = _SLOPES[activation]
        jump = (b - a) ** 2
        E_ss = a * b * (rho * root) + jump * relu[0]
        mean1, mean2 = (np.where(q > 0, 0.5 * (a + b), at_zero) for q in (q1, q2))
        return E_ss, np.where(root > 0, a * b + jump * relu[1], mean1 * mean2)
    c, even = rho * root, 1 + 2 * rho * rho
    if activation == "monomial2":
        return root * root * even, 4 * c
    return (c * root) * root * (9 + 6 * rho * rho), 9 * (root * root * even)


def piecewise_partials(q1: Array, q2: Array, c: Array, relu: Any, activation: str) -> Any:
    """Return the six partials of ``E_ss, E_dd`` in ``(c, q1, q2)`` (a ``Partials``), given relu's ``relu``.

    Two slopes: ``E_ss = a b c + j K``, ``E_dd = a b + j D`` (``j = (b - a)^2``), so each partial
    is ``j`` times relu's, plus ``a b`` in ``dE_ss/dc``. Monomials: differentiate the module's
    polynomials (``dE_ss/dc = E_dd``, Price's theorem).
    """
    if activation in _SLOPES:
        a, b, _ = _SLOPES[activation]
        jump = (b - a) ** 2
        return type(relu)(a * b + jump * relu.ss_c, *(jump * part for part in relu[1:]))
    zero = np.zeros_like(c)
    if activation == "monomial2":
        return type(relu)(4 * c, q2 + zero, q1 + zero, 4 + zero, zero, zero.copy())
    return type(relu)(9 * q1 * q2 + 18 * c * c, 9 * q2 * c, 9 * q1 * c, 36 * c, 9 * q2 + zero, 9 * q1 + zero)
