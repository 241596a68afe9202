"""The Hermite expansion (Mehler's formula): per-point coefficients, then a polynomial in rho per pair.

With ``h_k = He_k / sqrt(k!)`` the probabilists' Hermite polynomials normalized in
``L^2(N(0, 1))`` and ``(xi, eta)`` standard normals of correlation ``rho``, Mehler's formula
``E[h_j(xi) h_k(eta)] = rho^k [j = k]`` gives, for any ``f, g`` of finite second moment,

    E[f(sqrt(q1) xi) g(sqrt(q2) eta)] = sum_k a_k(q1) b_k(q2) rho^k,
    a_k(q) = E[f(sqrt(q) xi) h_k(xi)],   b_k(q) = E[g(sqrt(q) xi) h_k(xi)]

(the "dual activation" of Daniely, Frostig and Singer, 2016), with ``sum_k a_k(q)^2 =
E[f(sqrt(q) xi)^2]`` (Parseval). Both expectations of a pair, ``E_ss`` (``f = g = sigma``) and
``E_dd`` (``sigma'``), are such series. Each point's coefficients are computed once
(:func:`expansion_side`); a pair then costs a polynomial in ``rho`` whose degree adapts to
the pair (:func:`expansion_expectations`).

The coefficient rule. ``a_k = int f(sqrt(q) x) h_k(x) phi(x) dx`` on a composite
Gauss-Legendre rule of :data:`EXPANSION_ORDER` nodes per panel over ``|x| <=
EXPANSION_REACH`` (beyond, ``|h_k phi| < e^(-x^2/4) < 5e-19`` for every degree used). The
plain panels are :data:`EXPANSION_PANEL` wide, fine enough for the oscillation of
``h_k phi`` (frequency ``sqrt(k + 1/2)``) up to :data:`EXPANSION_DEGREE`; where the
activation turns on a scale ``1 / sqrt(q)`` below that width (large ``q``), panels graded by
:data:`~widenet.reference.limit_kernels.GRADING` from ``x = 1 / sqrt(q)`` up to it come
first, so that the rule resolves the activation at every variance (a Gauss-Hermite rule
would need ever more nodes as ``q`` grows). The values ``h_k(x)`` come from the recurrence
``h_(k+1) = (x h_k - sqrt(k) h_(k-1)) / sqrt(k + 1)``, which stays below ``e^(x^2/4)`` on the
rule; the nodes come in pairs ``+-x`` and ``h_k(-x) = (-1)^k h_k(x)``, so one recurrence on
``x > 0`` serves the even and odd parts of ``sigma`` and of ``sigma'``. The same rule gives
``E[f^2]`` and the antipodal moment ``E[f(u) f(-u)]``, from the values divided by their
largest magnitude (``f^2`` overflows near the float64 limit where ``E[f^2]`` does not).
Against the same rule with four times the panels and 24 nodes each, the normalized
coefficients agree to ``1e-15`` at variances from 0 to ``1e300``.

The truncation bound. Normalized by the scales, ``A_k = a_k / sqrt(E[f^2])``, the relative
tail ``t(K) = sum_(k>K) A_k^2 = 1 - sum_(k<=K) A_k^2`` is known from the rule, and by
Cauchy-Schwarz (``|rho| <= 1``)

    |sum_(k>K) a_k b_k rho^k| <= |rho|^(K+1) sqrt(t_f(K) t_g(K)) sqrt(E[f^2] E[g^2]).

Each point stores ``u(K) = sqrt(max(t_sigma(K), t_sigma'(K)) + EXPANSION_TAIL_FLOOR)``
(the floor covers the rounding of the subtraction and the rule's error), and a pair sums
its two series term by term until ``|rho|^(K+1) u_x(K) u_z(K) <= EXPANSION_TOLERANCE``:
every entry is then within ``EXPANSION_TOLERANCE`` of its scale (plus the coefficients'
error, ``1e-15``). Pairs of small ``|rho|`` stop after a few terms (seven, for unit variances
and correlations near 0.1), pairs near ``|rho| = 1`` need the points' tails themselves to be
small. Measured against the graded quadrature at order 20 and the closed forms, at variances
from ``1e-6`` to ``1e6`` and every correlation, the largest error is ``9.9e-11`` of the scale
(tests/test_limit_expansion.py).

Where the series is not enough. The coefficients decay like ``e^(-c sqrt(k / q))``
for activations analytic in a strip (tanh, sigmoid, softplus, arctan: poles at distance
``~1 / sqrt(q)``) and geometrically for entire ones (erf, gelu), so at large variances the
tails stay large up to :data:`EXPANSION_DEGREE`. A pair whose bound is not met by then is
computed by the activation's other method (closed form for erf and gelu, the scale mixture
for tanh, sigmoid, softplus and arctan, the graded quadrature for silu, for elu -- whose
``sigma''`` jumps at 0, so its coefficients decay only like a power of ``k`` -- and for an
activation given as its functions, :mod:`~widenet.reference.limit_kernels.functions`): a
fallback per pair, so that a point of large
variance still takes the series with the points it is little correlated with. Two cases are
exact without the series: a point with itself (``rho = 1``, equal variances: ``E[f^2]``) and
with its opposite (``rho = -1``: the antipodal moment).
"""

from __future__ import annotations

import math
from typing import List, NamedTuple, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.closed_forms import closed_form_expectations
from widenet.reference.limit_kernels.common import (
    _BLOCK_FLOATS,
    CLOSED_FORMS,
    EXPANSIONS,
    ORDER,
    SCALE_MIXTURES,
    Array,
    Pair,
    Panels,
    _correlations,
    _variances,
    graded_points,
    panel_rule,
)
from widenet.reference.limit_kernels.functions import ActivationFunctions, activation_functions, evaluate
from widenet.reference.limit_kernels.mixtures import scale_mixture_expectations
from widenet.reference.limit_kernels.quadrature import quadrature_at

EXPANSION_TOLERANCE = 1e-10
"""The truncation bound of every entry, relative to its scale."""
EXPANSION_DEGREE = 64
"""The largest degree of the series."""
EXPANSION_ORDER = 16
"""Gauss-Legendre nodes per panel of the coefficient rule."""
EXPANSION_PANEL = 1.0
"""Width of the plain panels of the coefficient rule."""
EXPANSION_REACH = 13.0
"""The coefficient rule covers ``|x| <= EXPANSION_REACH``."""
EXPANSION_TAIL_FLOOR = 1e-12
"""Added to each relative tail: the rounding of ``1 - sum A_k^2`` and the rule's error."""


class ExpansionSide(NamedTuple):
    """One point's side of the series: scales, antipodal moments, normalized coefficients, tail roots."""

    scale: float
    """``sqrt(E[sigma(u)^2])``."""
    slope_scale: float
    """``sqrt(E[sigma'(u)^2])``."""
    antipodal: float
    """``E[sigma(u) sigma(-u)]``."""
    slope_antipodal: float
    """``E[sigma'(u) sigma'(-u)]``."""
    coefficients: Array
    """``A_k = a_k / scale``, ``k = 0 .. EXPANSION_DEGREE`` (0 where the scale is)."""
    slope_coefficients: Array
    """``B_k = b_k / slope_scale``."""
    tail_roots: Array
    """``u(k)``, ``k = 0 .. EXPANSION_DEGREE``."""


def expansion_panels(variance: float) -> Panels:
    """Return the panels ``(low, high)`` of the coefficient rule on ``x >= 0`` for a point of variance ``q``.

    Plain panels :data:`EXPANSION_PANEL` wide from 0 to :data:`EXPANSION_REACH`; where
    ``1 / sqrt(q)`` is below that width, the points graded from ``1 / sqrt(q)`` up to it first.
    """
    scale = 1 / math.sqrt(variance) if variance > 0 else math.inf
    ends = [0.0] + [point for point in graded_points(scale, EXPANSION_PANEL) if point < EXPANSION_PANEL]
    ends += [EXPANSION_PANEL * j for j in range(1, math.ceil(EXPANSION_REACH / EXPANSION_PANEL) + 1)]
    return list(zip(ends[:-1], ends[1:]))


def expansion_side(activation: Union[str, ActivationFunctions], variance: float) -> ExpansionSide:
    """Return a point's side of the series (this module's docstring) at variance ``q >= 0``.

    The values of ``sigma`` and ``sigma'`` at the nodes are divided by their largest
    magnitude ``M`` before they are squared (``sigma^2`` overflows at variances near the
    float64 limit where ``E[sigma^2]`` does not); the scales are ``M`` times those of the
    divided values, the normalized coefficients those of the divided values.
    """
    x, weights = panel_rule(expansion_panels(variance), EXPANSION_ORDER)
    weights = weights * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    root = math.sqrt(variance)
    values: List[Tuple[Array, Array]] = []
    sizes: List[float] = []
    functions = activation_functions(activation)
    for derivative in (False, True):
        right, left = (evaluate(functions, derivative, sign * root * x) for sign in (1.0, -1.0))
        size = max(float(np.max(np.abs(right))), float(np.max(np.abs(left))))
        values.append((right / size, left / size) if size > 0 else (right, left))
        sizes.append(size)
    raw = _hermite_coefficients(x, weights, values)
    sides = []
    for size, (right, left), row in zip(sizes, values, raw):
        root_moment, coefficients, tail = _normalized(float(weights @ (right * right + left * left)), row)
        sides.append((size * root_moment, size * (size * (2 * float(weights @ (right * left)))), coefficients, tail))
    (scale, antipodal, coefficients, tail), (slope_scale, slope_antipodal, slope_coefficients, slope_tail) = sides
    return ExpansionSide(scale, slope_scale, antipodal, slope_antipodal, coefficients, slope_coefficients,
                         np.sqrt(np.maximum(tail, slope_tail) + EXPANSION_TAIL_FLOOR))


def _hermite_coefficients(x: Array, weights: Array, values: List[Tuple[Array, Array]]) -> Array:
    """Return ``sum_i w_i f(x_i) h_k(x_i)`` for each ``f`` of ``values`` (its values at ``+x`` and ``-x``).

    The nodes come in pairs ``+-x`` and ``h_k(-x) = (-1)^k h_k(x)``, so one recurrence for
    ``h_k`` on ``x > 0`` runs against the even and odd parts ``f(x) +- f(-x)``.
    """
    parts = [(weights * (right + left), weights * (right - left)) for right, left in values]
    raw = np.empty((len(values), EXPANSION_DEGREE + 1))
    previous, current = np.zeros_like(x), np.ones_like(x)
    for k in range(EXPANSION_DEGREE + 1):
        for row, (even, odd) in enumerate(parts):
            raw[row, k] = current @ (odd if k % 2 else even)
        previous, current = current, (x * current - math.sqrt(k) * previous) * (1 / math.sqrt(k + 1))
    return raw


def _normalized(moment: float, raw: Array) -> Tuple[float, Array, Array]:
    """Return ``sqrt(moment)``, the coefficients divided by it and their relative tails.

    The tails are ``1 - sum_(j<=k) A_j^2``; all is 0 where the scale is (the activation is 0
    almost surely, and so is every term).
    """
    scale = math.sqrt(moment)
    if scale == 0:
        return scale, np.zeros_like(raw), np.zeros_like(raw)
    coefficients = raw / scale
    return scale, coefficients, np.maximum(1 - np.cumsum(coefficients * coefficients), 0.0)


def expansion_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike,
                           activation: Union[str, ActivationFunctions], order: int = ORDER) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by the series, the pairs it cannot bound by the activation's other method.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : one of :data:`EXPANSIONS`, or an activation's functions
        The pairs the series cannot bound take the closed form or the scale mixture of a
        built-in, and the graded quadrature of a function or of silu and elu (which have
        neither).
    order : int
        Gauss-Legendre nodes per panel of the fallback quadrature.

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if not isinstance(activation, ActivationFunctions) and activation not in EXPANSIONS:
        raise ValueError(f"activation: the expansion is for {', '.join(EXPANSIONS)} only; got {activation!r}")
    functions = activation_functions(activation)
    E_ss, E_dd, fallback = series_expectations(V11, V22, V12, functions)
    if not functions.builtin or functions.name not in CLOSED_FORMS + SCALE_MIXTURES:  # silu, elu: no other form
        F_ss, F_dd = quadrature_at(V11, V22, V12, fallback, functions, order)
        return np.where(fallback, F_ss, E_ss), np.where(fallback, F_dd, E_dd)
    rows = np.flatnonzero(np.any(fallback, axis=1))
    if rows.size:
        other = closed_form_expectations if functions.name in ("erf", "gelu") else scale_mixture_expectations
        F_ss, F_dd = other(V11[rows], V22, V12[rows], functions.name)
        E_ss[rows] = np.where(fallback[rows], F_ss, E_ss[rows])
        E_dd[rows] = np.where(fallback[rows], F_dd, E_dd[rows])
    return E_ss, E_dd


def series_expectations(S11: Array, S22: Array, S12: Array, activation: Union[str, ActivationFunctions]
                        ) -> Tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Return ``E_ss``, ``E_dd`` by the series alone, and the pairs whose bound it does not meet (left 0)."""
    rho, _ = _correlations(S11, S22, S12)
    functions = activation_functions(activation)
    one = _stack([expansion_side(functions, float(q)) for q in S11])
    two = one if S22 is S11 else _stack([expansion_side(functions, float(q)) for q in S22])
    E_ss, E_dd = np.zeros(S12.shape), np.zeros(S12.shape)
    fallback = np.zeros(S12.shape, dtype=bool)
    rows = max(1, _BLOCK_FLOATS // max(1, S12.shape[1] * (EXPANSION_DEGREE + 1)))
    for start in range(0, S12.shape[0], rows):
        block = slice(start, start + rows)
        E_ss[block], E_dd[block], fallback[block] = _series(tuple(side[block] for side in one), two, rho[block])
    # a point with itself or its opposite: the moments of its own rule
    exact = (S11[:, None] == S22[None, :]) & (np.abs(rho) == 1)
    same = exact & (rho > 0)
    scale, slope_scale, antipodal, slope_antipodal = (side[:, None] for side in one[:4])
    E_ss = np.where(same, scale * scale, np.where(exact, antipodal, E_ss))
    E_dd = np.where(same, slope_scale * slope_scale, np.where(exact, slope_antipodal, E_dd))
    return E_ss, E_dd, fallback & ~exact


def _stack(sides: List[ExpansionSide]) -> Tuple[Array, ...]:
    """Return the fields of the points' sides, each stacked along a first axis."""
    return tuple(np.array([getattr(side, field) for side in sides]) for field in ExpansionSide._fields)


def _series(one: Tuple[Array, ...], two: Tuple[Array, ...], rho: Array) -> Tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Return the two series of a block of pairs, each summed to the first degree whose bound is met."""
    scale1, slope_scale1, _, _, A1, B1, u1 = one
    scale2, slope_scale2, _, _, A2, B2, u2 = two
    terms = EXPANSION_DEGREE + 1
    powers = np.cumprod(np.broadcast_to(rho[:, :, None], rho.shape + (terms,)), axis=2)  # rho^(k+1)
    previous = np.concatenate([np.ones(rho.shape + (1,)), powers[:, :, :-1]], axis=2)  # rho^k
    met = np.abs(powers) * (u1[:, None, :] * u2[None, :, :]) <= EXPANSION_TOLERANCE
    # both factors of the bound fall with the degree: the last one says whether any is met
    reachable = last_power(rho) * (u1[:, None, -1] * u2[None, :, -1]) <= EXPANSION_TOLERANCE
    stop = np.argmax(met, axis=2)[:, :, None]
    ss = np.take_along_axis(np.cumsum(A1[:, None, :] * A2[None, :, :] * previous, axis=2), stop, axis=2)[:, :, 0]
    dd = np.take_along_axis(np.cumsum(B1[:, None, :] * B2[None, :, :] * previous, axis=2), stop, axis=2)[:, :, 0]
    fallback = ~reachable | ~np.any(met, axis=2)
    E_ss = np.where(fallback, 0.0, scale1[:, None] * scale2[None, :] * ss)
    E_dd = np.where(fallback, 0.0, slope_scale1[:, None] * slope_scale2[None, :] * dd)
    return E_ss, E_dd, fallback


def last_power(rho: Array) -> Array:
    """Return ``|rho|^(EXPANSION_DEGREE + 1)``, by squaring (as the C++ does, to the bit)."""
    result, base = np.ones_like(rho), np.abs(rho)
    exponent = EXPANSION_DEGREE + 1
    while exponent > 0:
        if exponent % 2 == 1:
            result = result * base
        base = base * base
        exponent //= 2
    return result
