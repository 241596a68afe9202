"""arctan's scale mixture: ``erfcx`` and the graded rule of its one integral per pair (package docstring)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import ORDER, Array, Pair, graded_points, panel_rule

# arctan's rule (arctan_rule): erfc and the Gaussian weight vanish beyond eta = ARCTAN_REACH
# (erfc(6.5) = 4e-20); E_ss needs t = eta / delta only up to ARCTAN_SS_REACH (its integrand
# decays like 1/t^2 beyond t ~ 1: the rest is < 1e-13 of it) and E_dd only from
# eta = ARCTAN_DD_START (the rest is < eta^2 of it), so at variances above ~1e40 the
# panels between the two are left out.
ARCTAN_REACH = 6.5
ARCTAN_BREAKS = (1.0, 2.5, 4.5)
ARCTAN_SS_REACH = 1e13
ARCTAN_DD_START = 1e-7


def erfcx(z: npt.ArrayLike) -> Array:
    """Return ``e^{z^2} erfc(z)`` for ``z >= 0`` (an array), accurate to a few ulps.

    ``z^2`` is split exactly into ``hi + lo`` (Dekker), so that ``e^{z^2} = e^{hi} (1 + lo)``; for
    ``z >= 26``, where ``erfc`` nears underflow, the asymptotic series
    ``(1 - 1/(2z^2) + 3/(2z^2)^2 - ...) / (z sqrt(pi))`` to ten terms (the next is < 1e-22).
    """
    values = np.asarray(z, dtype=np.float64)
    out = np.empty_like(values)
    near = values < 26.0
    zn = values[near]
    split = zn * 134217729.0  # 2^27 + 1: Veltkamp's split into 26-bit halves
    high = split - (split - zn)
    low = zn - high
    square = zn * zn
    square_low = ((high * high - square) + 2 * high * low) + low * low
    out[near] = np.exp(square) * (1 + square_low) * _erfc(zn)
    zf = values[~near]
    inverse = (0.5 / zf) / zf  # 1 / (2 z^2) without overflow
    series, term = np.ones_like(zf), np.ones_like(zf)
    for k in range(1, 11):
        term = -term * (2 * k - 1) * inverse
        series += term
    out[~near] = series / (zf * math.sqrt(math.pi))
    return out


_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _erfc(z: Array) -> Array:
    return np.asarray(_math_erfc(z), dtype=np.float64)


def arctan_rule(variance: float, order: int = ORDER) -> Pair:
    """Return the rule of arctan's integrals for the point of smaller variance ``q = variance > 0``.

    With the half-normal scales ``lambda`` of arctan's mixture
    ``arctan(t) = sqrt(pi) int_0^inf erf(lambda t) e^{-lambda^2} dlambda``,
    ``delta_i = 1 / sqrt(2 q_i)``, ``t`` the variable below and ``eta = delta_1 t``:

        E_ss = (pi/2) rho int_0^inf erfc(eta) erfcx(delta_2 g) / ((1 + t^2) h) dt,
        E_dd = 2 sqrt(pi) delta_2 int_0^inf eta e^{-eta^2} erfcx(delta_2 g) / h deta,

    ``h = sqrt(1 + (1 - rho^2) t^2)``, ``g = sqrt(1 + t^2) / h``. (E_ss: the inner mixture
    integral of ``d arcsin(k a_2)/dk`` over ``lambda_2`` is ``erfcx(delta_2 / sqrt(1 - k^2)) /
    sqrt(1 - k^2)``, and ``P(rho a_1 > k)`` an ``erfc``; substituted ``k = rho t / sqrt(1 + t^2)
    ...``. E_dd: ``arctan'(u) = 2 int lambda e^{-lambda^2 (1 + u^2)}``, the Gaussian
    expectation is ``det(I + 2 Lambda Sigma)^{-1/2}``, the ``lambda_2`` integral an ``erfcx``.)
    The integrands are analytic but for branch points at ``t = +-i`` and
    ``+-i / sqrt(1 - rho^2)``, so panels graded by :data:`GRADING` from ``t = 1`` out to
    ``eta = 1`` and then at ``eta = 1, 2.5, 4.5, 6.5`` converge geometrically (12 nodes:
    4e-12 relative). Panels that neither integral needs are left out (:data:`ARCTAN_SS_REACH`).

    Returns
    -------
    t, weights : ndarray
        Nodes and Gauss-Legendre weights in ``t``.
    """
    delta = 1 / math.sqrt(2 * variance)
    graded = [point for point in graded_points(1.0, 1.0 / delta) if point * delta < 1.0]
    breaks = sorted({0.0, *graded, *(eta / delta for eta in ARCTAN_BREAKS), ARCTAN_REACH / delta})
    panels = [(low, high) for low, high in zip(breaks[:-1], breaks[1:])
              if low < ARCTAN_SS_REACH or high * delta > ARCTAN_DD_START]
    return panel_rule(panels, order)


def _arctan_expectations(S11: Array, S22: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    """Return arctan's ``E_ss, E_dd``.

    Each pair integrates on the rule of its point of smaller variance (the row point on ties).
    """
    E_ss, E_dd = np.zeros(rho.shape), np.zeros(rho.shape)
    row_first = S11[:, None] <= S22[None, :]
    for i in range(rho.shape[0]):
        cols = np.flatnonzero(row_first[i])
        E_ss[i, cols], E_dd[i, cols] = _arctan_pairs(S11[i], S22[cols], rho[i, cols], one_minus_rho2[i, cols])
    for j in range(rho.shape[1]):
        rows = np.flatnonzero(~row_first[:, j])
        E_ss[rows, j], E_dd[rows, j] = _arctan_pairs(S22[j], S11[rows], rho[rows, j], one_minus_rho2[rows, j])
    return E_ss, E_dd


def _arctan_pairs(q1: float, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    """Return arctan's ``E_ss, E_dd`` of one point of variance ``q1`` with points of variances ``q2 >= q1``.

    The ``q2`` are a vector; the rule is :func:`arctan_rule`. Beyond ``t = 1`` the terms are written in
    ``1/t``, which neither overflows nor loses the small ``1 - rho^2``.
    """
    delta2 = 1 / np.sqrt(2 * q2)
    if q1 == 0:  # u = 0: arctan(u) = 0, arctan'(u) = 1
        return np.zeros_like(q2), np.where(q2 > 0, math.sqrt(math.pi) * delta2 * erfcx(delta2), 1.0)
    t, weights = arctan_rule(q1)
    delta1 = 1 / math.sqrt(2 * q1)
    eta, inverse, near = delta1 * t, 1 / t, t <= 1
    with np.errstate(over="ignore"):
        ss_weights = weights * _erfc(eta) * np.where(near, 1 / (1 + t * t), inverse ** 2 / (1 + inverse ** 2))
        tt = (t * t)[:, None]
    dd_weights = (weights * delta1) * eta * np.exp(-eta * eta)
    s2 = one_minus_rho2[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        inverse_h = np.where(near[:, None], 1 / np.sqrt(1 + s2 * tt),
                             inverse[:, None] / np.sqrt(s2 + inverse[:, None] ** 2))
        g = np.where(near[:, None], np.sqrt(1 + tt) * inverse_h,
                     np.sqrt(1 + inverse[:, None] ** 2) / np.sqrt(s2 + inverse[:, None] ** 2))
    X = erfcx(delta2[None, :] * g) * inverse_h
    return 0.5 * math.pi * rho * (ss_weights @ X), 2 * math.sqrt(math.pi) * delta2 * (dd_weights @ X)
