"""Closed forms of the two expectations: relu, erf, identity, sin and gelu (package docstring).

Those of leaky_relu, abs and the monomials, built from relu's and the covariance, are in
:mod:`~widenet.reference.limit_kernels.piecewise`.
"""

from __future__ import annotations

import math
from typing import Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import CLOSED_FORMS, Array, Pair, _correlations, _variances
from widenet.reference.limit_kernels.piecewise import PIECEWISE_FORMS, piecewise_expectations


def arcsine_terms(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array, v1: Union[float, Array],
                  v2: Union[float, Array]) -> Tuple[Array, Array, Array]:
    """Return the arcsine kernel's variables for the variances ``P = q + v`` and covariance ``c = rho sqrt(q1 q2)``.

    The variables are ``x = c / sqrt(P1 P2)``, ``1 - x^2`` and ``sqrt(P1) sqrt(P2)``
    (broadcast). With ``r = q / P`` and ``e = v / P = 1 - r``,
    ``1 - x^2 = (1 - rho^2) r1 r2 + e1 + r1 e2``: a sum of non-negative terms, so no
    cancellation near ``|x| = 1``, and no product of variances to overflow. ``v > 0``.
    """
    P1, P2 = q1 + v1, q2 + v2
    r1, r2 = q1 / P1, q2 / P2
    x = rho * np.sqrt(r1) * np.sqrt(r2)
    return x, one_minus_rho2 * r1 * r2 + v1 / P1 + r1 * (v2 / P2), np.sqrt(P1) * np.sqrt(P2)


def closed_form_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str) -> Pair:
    """Return ``E_ss = E[sigma(h_x) sigma(h_z)]`` and ``E_dd = E[sigma'(h_x) sigma'(h_z)]`` in closed form.

    ``(h_x, h_z)`` is centered Gaussian with variances ``q1 = S11, q2 = S22``, covariance
    ``c = S12`` and correlation ``rho``; ``arcsin`` below is ``atan2(x, sqrt(1 - x^2))``
    with ``1 - x^2`` from :func:`arcsine_terms`, accurate up to ``|x| = 1``.

    - relu (Example 11.17, Example 11.31, Exercise 11.36): with
      ``t = arccos(rho)``, ``E_ss = sqrt(q1) sqrt(q2) / (2 pi) (sin t + (pi - t) rho)``,
      ``E_dd = (pi - t) / (2 pi)``; both are 0 where ``q1 q2 = 0`` (then ``h = 0``
      almost surely and ``relu(0) = relu'(0) = 0``).
    - erf (the arcsine kernel, ``P = q + 1/2``): ``E_ss = (2/pi) arcsin(x)`` and, from
      ``E[e^{-h_x^2 - h_z^2}] = det(I + 2 Sigma)^{-1/2}``,
      ``E_dd = (2/pi) / (sqrt(P1) sqrt(P2) sqrt(1 - x^2))``.
    - identity: ``E_ss = c``, ``E_dd = 1``.
    - sin: ``E[sin u sin v] = (E cos(u - v) - E cos(u + v)) / 2`` and ``E[cos u cos v]``
      with ``+``, where ``E cos(w) = e^{-Var(w)/2}`` and ``Var(u -+ v) / 2 = g -+ ...``:
      with ``g = (sqrt q1 - sqrt q2)^2 / 2 + (1 - |rho|) sqrt(q1 q2)`` (the smaller half
      variance, no cancellation), ``E_ss = sign(c) e^{-g} (1 - e^{-2|c|}) / 2`` (by
      ``expm1``) and ``E_dd = e^{-g} (1 + e^{-2|c|}) / 2``.
    - gelu, ``t Phi(t)``: with independent standard normals ``a, b``,
      ``Phi(u) = P(a < u)``, so ``E[u v 1(u > a) 1(v > b)]`` is a Gaussian integral over
      the orthant of ``(u - a, v - b)`` (variances ``P = q + 1``, correlation ``x``); two
      Gaussian integrations by parts give, with ``r = q / P`` and ``e = 1 / P``,
      ``E_ss = sqrt(P1 P2) [x/4 + x arcsin(x)/(2 pi) + B / (2 pi sqrt(1 - x^2))]``,
      ``B = r1 r2 - (1 - e1 - e2) x^2 = r1 r2 (1 - rho^2 + rho^2 (e1 + e2))`` (the second
      form has no cancellation), and by Price's theorem (``dE_ss/dc = E_dd``)
      ``E_dd = 1/4 + arcsin(x)/(2 pi) + x (e1 + e2 + e1 e2 / (1 - x^2)) / (2 pi sqrt(1 - x^2))``.
      Both tend to relu's as ``q`` grows.

    Parameters
    ----------
    S11 : ndarray, shape (m1,)
    S22 : ndarray, shape (m2,)
    S12 : ndarray, shape (m1, m2)
        As returned by :func:`covariances`.
    activation : {"relu", "erf", "identity", "sin", "gelu", "leaky_relu", "abs", "monomial2", "monomial3"}
        The last four by :func:`~widenet.reference.limit_kernels.piecewise.piecewise_expectations`.

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)

    Raises
    ------
    ValueError
        For an activation without a closed form.
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if activation not in CLOSED_FORMS:
        raise ValueError(f"activation: closed forms exist for {', '.join(CLOSED_FORMS)} only; got {activation!r} "
                         f"(use the scale mixture or the quadrature)")
    if activation == "identity":
        return V12.copy(), np.ones_like(V12)
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    q1, q2 = V11[:, None], V22[None, :]
    if activation == "relu":
        return _relu_expectations(q1, q2, rho, one_minus_rho2)
    if activation in PIECEWISE_FORMS:
        return piecewise_expectations(q1, q2, rho, _relu_expectations(q1, q2, rho, one_minus_rho2), activation)
    if activation == "sin":
        return _sin_expectations(q1, q2, rho)
    if activation == "erf":
        x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, 0.5, 0.5)
        return (2 / math.pi) * np.arctan2(x, np.sqrt(one_minus_x2)), (2 / math.pi) / (root * np.sqrt(one_minus_x2))
    return _gelu_expectations(q1, q2, rho, one_minus_rho2)


def _relu_expectations(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    root = np.sqrt(q1) * np.sqrt(q2)
    sine = np.sqrt(one_minus_rho2)
    angle = 0.5 * math.pi + np.arctan2(rho, sine)  # pi - arccos(rho), exact at rho = +-1
    E_ss = root / (2 * math.pi) * (sine + angle * rho)
    E_dd = np.where(root > 0, angle / (2 * math.pi), 0.0)
    return E_ss, E_dd


def _sin_expectations(q1: Array, q2: Array, rho: Array) -> Pair:
    r1, r2 = np.sqrt(q1), np.sqrt(q2)
    size = np.abs(rho) * r1 * r2  # |c|
    near = np.exp(-(0.5 * (r1 - r2) ** 2 + (1 - np.abs(rho)) * r1 * r2))
    return np.sign(rho) * near * (-np.expm1(-2 * size)) / 2, near * (1 + np.exp(-2 * size)) / 2


def _gelu_expectations(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, 1.0, 1.0)
    e1, e2 = 1 / (q1 + 1), 1 / (q2 + 1)
    bracket = (q1 * e1) * (q2 * e2) * (one_minus_rho2 + rho * rho * (e1 + e2))
    sine = np.sqrt(one_minus_x2)
    angle = np.arctan2(x, sine)
    E_ss = root * (x / 4 + x * angle / (2 * math.pi) + bracket / (2 * math.pi * sine))
    # e1 e2 / (1 - x^2) <= e2: no 0/0 where 1 - x^2 underflows
    E_dd = 0.25 + angle / (2 * math.pi) + x * (e1 + e2 + e2 * (e1 / one_minus_x2)) / (2 * math.pi * sine)
    return E_ss, E_dd
