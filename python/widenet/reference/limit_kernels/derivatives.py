"""Derivatives of the two expectations in the covariance (docs/theory.md, section 10).

For ``(u, v)`` centred Gaussian with variances ``q1, q2`` and covariance ``c``, Price's
theorem gives the derivatives of ``E[f(u) g(v)]`` as expectations of derivatives:

    d/dc  E[f(u) g(v)] = E[f'(u) g'(v)],      d/dq1 E[f(u) g(v)] = E[f''(u) g(v)] / 2,

so that ``dE_ss/dc = E_dd`` and the other five partials of ``E_ss`` and ``E_dd`` are new
expectations, in closed form for the activations of :data:`GRADIENT_ACTIVATIONS`. They are
written through three pieces of the arc kernels of two variances ``P = q + v``
(:func:`arc_partials`), which the closed forms of relu, erf and the logistic scale
mixtures (tanh, sigmoid, softplus) are sums of. gelu and sin have their own; leaky_relu,
abs and the monomials theirs in :mod:`~widenet.reference.limit_kernels.piecewise`.

These are numpy only: they serve the analytic gradient of a Gaussian-process kernel
(:func:`~widenet.reference.limit_kernels.deep_limit_kernel_gradient`), with no compiled twin.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.closed_forms import _sin_expectations, arcsine_terms
from widenet.reference.limit_kernels.common import _BLOCK_FLOATS, Array, _correlations, _variances
from widenet.reference.limit_kernels.mixtures import _LOGISTIC_MIXTURES, logistic_mixing_rule
from widenet.reference.limit_kernels.piecewise import PIECEWISE_FORMS, TWO_SLOPES, piecewise_partials

GRADIENT_ACTIVATIONS = ("relu", "erf", "identity", "sin", "gelu", "tanh", "sigmoid", "softplus", "leaky_relu", "abs",
                        "monomial2", "monomial3")
"""The activations whose expectations have partial derivatives here (arctan's do not)."""


class Partials(NamedTuple):
    """The six partial derivatives of ``(E_ss, E_dd)`` in ``(c, q1, q2)``, each of shape (m1, m2).

    ``ss_c = dE_ss/dc`` (which is ``E_dd``), ``ss_1 = dE_ss/dq1``, ``ss_2 = dE_ss/dq2``,
    and likewise ``dd_*`` for ``E_dd``.
    """

    ss_c: Array
    ss_1: Array
    ss_2: Array
    dd_c: Array
    dd_1: Array
    dd_2: Array


class ArcPartials(NamedTuple):
    """The arc-kernel pieces ``A, B, C`` of :func:`arc_partials` and their partials in ``(c, q1, q2)``."""

    A: Array
    A_c: Array
    A_1: Array
    A_2: Array
    B_c: Array
    B_1: Array
    B_2: Array
    C_c: Array
    C_1: Array
    C_2: Array


def arc_partials(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array, v1: Union[float, Array],
                 v2: Union[float, Array], with_B: bool = True) -> ArcPartials:
    """Return the partials of the arc-kernel pieces at the variances ``P = q + v`` and covariance ``c``.

    With ``x = c / sqrt(P1 P2)`` and ``D = sqrt(P1 P2 - c^2) = sqrt(P1 P2) sqrt(1 - x^2)``:
    ``A = arcsin(x)``, ``B = 1 / D`` and ``C = D + (pi/2 + A) c``. Differentiating,

        A_c = B,             A_1 = -c B / (2 P1),
        B_c = c B^3,         B_1 = -P2 B^3 / 2,
        C_c = pi/2 + A,      C_1 = D / (2 P1),

    and ``_2`` with the indices swapped (``B``'s partials are 0 unless ``with_B``: only the
    tangent kernel's ``E_dd`` needs them). For ``v = 0`` (relu) ``A`` and ``B`` are singular
    where ``|rho| = 1`` and ``C_1`` where ``q1 = 0``: there the partials are set to 0. A
    pair at ``|rho| = 1`` stays there under every change of the network's variances (a
    correlation at its bound has derivative 0), and a zero variance stays zero, so the chain
    rule multiplies these entries by 0 (docs/theory.md, section 10).

    Parameters
    ----------
    q1, q2 : ndarray
        The variances, broadcasting against ``rho`` (as columns and rows of pairs).
    rho, one_minus_rho2 : ndarray
        The correlation and ``1 - rho^2``, computed without cancellation.
    v1, v2 : float or ndarray
        The shifts of the variances (``0.0`` for relu's pieces).
    with_B : bool
        Whether ``B``'s partials are wanted.

    Returns
    -------
    ArcPartials

    Examples
    --------
    >>> import numpy as np
    >>> arc = arc_partials(np.array([[1.0]]), np.array([[1.0]]), np.array([[0.0]]), np.array([[1.0]]), 0.0, 0.0)
    >>> float(arc.A_c[0, 0]), float(arc.C_1[0, 0])  # 1 / D and D / (2 q1) with D = 1
    (1.0, 0.5)
    """
    if isinstance(v1, float) and isinstance(v2, float) and v1 == v2 == 0.0:
        # relu's pieces: x = rho, and arcsine_terms' ratios q / P would be 0/0 at q = 0
        x, one_minus_x2, root = rho, one_minus_rho2, np.sqrt(q1) * np.sqrt(q2)
    else:
        x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, v1, v2)
    P1, P2 = q1 + v1, q2 + v2
    sine = np.sqrt(one_minus_x2)
    D = root * sine
    c = x * root
    regular = D > 0
    B = np.where(regular, 1 / np.where(regular, D, 1.0), 0.0)
    angle = np.arctan2(x, sine)
    halved_c = np.where(regular, 0.5 * c * B, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        C_1 = np.where(P1 > 0, 0.5 * D / P1, 0.0)
        C_2 = np.where(P2 > 0, 0.5 * D / P2, 0.0)
        A_1 = np.where(P1 > 0, -halved_c / P1, 0.0)
        A_2 = np.where(P2 > 0, -halved_c / P2, 0.0)
    cube = B * B * B if with_B else np.zeros(())
    return ArcPartials(A=angle, A_c=B, A_1=A_1, A_2=A_2, B_c=c * cube, B_1=-0.5 * P2 * cube, B_2=-0.5 * P1 * cube,
                       C_c=np.where(root > 0, 0.5 * math.pi + angle, 0.0), C_1=C_1, C_2=C_2)


def expectation_partials(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str,
                         tangent_kernel: bool = True) -> Partials:
    """Return the partial derivatives of ``E_ss`` and ``E_dd`` in ``(S12, S11, S22)``.

    - relu, ``E_ss = C / (2 pi)`` and ``E_dd = (pi/2 + A) / (2 pi)`` at ``v = 0``: so
      ``dE_ss/dq1 = sqrt(q2 / q1) sqrt(1 - rho^2) / (4 pi)``,
      ``dE_dd/dc = 1 / (2 pi sqrt(q1 q2 - c^2))`` (the density of ``(u, v)`` at 0, as Price's
      theorem with ``relu'' = delta`` says) and ``dE_dd/dq1 = -c/(2 q1) dE_dd/dc``;
    - erf, ``E_ss = (2/pi) A``, ``E_dd = (2/pi) B`` at ``v = 1/2``;
    - tanh, sigmoid, softplus: the same pieces summed over the logistic mixing rule;
    - identity: ``dE_ss/dc = 1``, the rest 0;
    - sin: ``dE_ss/dc = E_dd``, ``dE_ss/dq = -E_ss / 2``, ``dE_dd/dc = E_ss``,
      ``dE_dd/dq = -E_dd / 2`` (``sin'' = -sin``);
    - gelu: :func:`_gelu_partials`.

    Parameters
    ----------
    S11 : ndarray, shape (m1,)
    S22 : ndarray, shape (m2,)
    S12 : ndarray, shape (m1, m2)
        As returned by :func:`~widenet.reference.limit_kernels.covariances`.
    activation : str
        One of :data:`GRADIENT_ACTIVATIONS`.
    tangent_kernel : bool
        Whether ``E_dd``'s partials are needed (the NNGP needs ``E_ss``'s only); without,
        they may be returned as 0.

    Returns
    -------
    Partials
        Six arrays of shape (m1, m2) (or broadcasting to it).

    Examples
    --------
    >>> import numpy as np
    >>> p = expectation_partials(np.array([1.0]), np.array([1.0]), np.array([[0.0]]), "sin")
    >>> float(p.ss_c[0, 0]), float(p.ss_1[0, 0])  # E[cos u cos v] = e^-1 at c = 0; E_ss = 0 there
    (0.36787944117144233, -0.0)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if activation not in GRADIENT_ACTIVATIONS:
        raise ValueError(f"activation: the expectations' derivatives are known for {', '.join(GRADIENT_ACTIVATIONS)}"
                         f" only; got {activation!r}")
    zero = np.zeros_like(V12)
    if activation == "identity":
        return Partials(np.ones_like(V12), zero, zero, zero, zero.copy(), zero.copy())
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    q1, q2 = V11[:, None], V22[None, :]
    if activation == "sin":
        E_ss, E_dd = _sin_expectations(q1, q2, rho)
        return Partials(E_dd, -0.5 * E_ss, -0.5 * E_ss, E_ss, -0.5 * E_dd, -0.5 * E_dd)
    if activation == "gelu":
        return _gelu_partials(q1, q2, rho, one_minus_rho2)
    if activation in PIECEWISE_FORMS:
        relu = (expectation_partials(V11, V22, V12, "relu", tangent_kernel) if activation in TWO_SLOPES
                else Partials(*(zero,) * 6))  # the monomials need none of relu's
        return piecewise_partials(q1, q2, rho * np.sqrt(q1) * np.sqrt(q2), relu, activation)
    if activation in _LOGISTIC_MIXTURES:
        return _mixture_partials(V11, V22, rho, one_minus_rho2, activation, tangent_kernel)
    variance, ss, dd = (0.0, (0.0, 0.0, 1 / (2 * math.pi)), (1 / (2 * math.pi), 0.0)) if activation == "relu" else (
        0.5, (2 / math.pi, 0.0, 0.0), (0.0, 2 / math.pi))
    return _combined(arc_partials(q1, q2, rho, one_minus_rho2, variance, variance, tangent_kernel), ss, dd)


def _combined(arc: ArcPartials, ss: tuple[float, float, float], dd: tuple[float, float]) -> Partials:
    """Return the partials of ``E_ss = a A + b B + c C`` and ``E_dd = e A + f B`` (``ss = (a, b, c)``, ``dd = (e, f)``).

    ``E_ss``'s ``B`` term never occurs (0 is passed); it keeps the pieces in one order.
    """
    a, _, c = ss
    e, f = dd
    return Partials(a * arc.A_c + c * arc.C_c, a * arc.A_1 + c * arc.C_1, a * arc.A_2 + c * arc.C_2,
                    e * arc.A_c + f * arc.B_c, e * arc.A_1 + f * arc.B_1, e * arc.A_2 + f * arc.B_2)


def _mixture_partials(V11: Array, V22: Array, rho: Array, one_minus_rho2: Array, activation: str,
                      tangent_kernel: bool) -> Partials:
    """Return the partials of a logistic scale mixture: those of its arc pieces, summed over the rule.

    ``E_ss = a + b A + c C`` and ``E_dd = d + e B + f A`` summed over pairs of mixing
    variances (as the expectations themselves are), a block of rows at a time.
    """
    scale, (_, b, c), (_, e, f) = _LOGISTIC_MIXTURES[activation]
    variances, weights = logistic_mixing_rule()
    V = scale * variances
    W = weights[:, None] * weights[None, :]
    sums = np.zeros((6,) + rho.shape)
    rows = max(1, _BLOCK_FLOATS // max(1, rho.shape[1] * weights.size ** 2))
    for start in range(0, rho.shape[0], rows):
        block = slice(start, start + rows)
        arc = arc_partials(V11[block, None, None, None], V22[None, :, None, None], rho[block, :, None, None],
                           one_minus_rho2[block, :, None, None], V[:, None], V[None, :], tangent_kernel)
        pieces = _combined(arc, (b, 0.0, c), (f, e))
        for index, piece in enumerate(pieces):
            sums[index, block] = np.sum(W * piece, axis=(2, 3))
    return Partials(*sums)


def _gelu_partials(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array) -> Partials:
    """Return gelu's partials, from its closed forms written in ``P = q + 1``, ``e = 1/P`` and ``D``.

    With ``D^2 = P1 P2 - c^2`` (``>= q1 + q2 + 1``: gelu's partials have no singularity),
    ``N = q1 q2 (1 - rho^2) + c^2 (e1 + e2)`` and ``M = (e1 + e2) D^2 + 1``, the closed
    forms are ``E_ss = c/4 + c A/(2 pi) + N/(2 pi D)`` and ``E_dd = 1/4 + A/(2 pi) + c M/(2 pi D^3)``;
    differentiating (``dA/dq1 = -c/(2 P1 D)``, ``dD/dq1 = P2/(2 D)``, ``de1/dq1 = -e1^2``):

        dE_ss/dq1 = [-c^2 e1/(2D) + (q2 - c^2 e1^2)/D - N P2/(2 D^3)] / (2 pi),
        dE_dd/dc  = [(1 + e1 + e2)/D + (1 + c^2 (e1 + e2))/D^3 + 3 c^2/D^5] / (2 pi),
        dE_dd/dq1 = [-c e1/(2D) + c (1 + c^2 e1^2)/D^3 - 3 c M P2/(2 D^5)] / (2 pi).
    """
    x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, 1.0, 1.0)
    P1, P2 = q1 + 1, q2 + 1
    e1, e2 = 1 / P1, 1 / P2
    D = root * np.sqrt(one_minus_x2)
    c = x * root
    c2 = c * c
    N = q1 * q2 * one_minus_rho2 + c2 * (e1 + e2)
    M = (e1 + e2) * D * D + 1
    D3 = D ** 3
    D5 = D3 * D * D
    E_dd = 0.25 + np.arctan2(x, np.sqrt(one_minus_x2)) / (2 * math.pi) + c * M / (2 * math.pi * D3)

    def along(qo: Array, e: Array, Po: Array) -> tuple[Array, Array]:
        ss = (-0.5 * c2 * e / D + (qo - c2 * e * e) / D - 0.5 * N * Po / D3) / (2 * math.pi)
        dd = (-0.5 * c * e / D + c * (1 + c2 * e * e) / D3 - 1.5 * c * M * Po / D5) / (2 * math.pi)
        return ss, dd

    ss_1, dd_1 = along(q2, e1, P2)
    ss_2, dd_2 = along(q1, e2, P1)
    dd_c = ((1 + e1 + e2) / D + (1 + c2 * (e1 + e2)) / D3 + 3 * c2 / D5) / (2 * math.pi)
    return Partials(E_dd, ss_1, ss_2, dd_c, dd_1, dd_2)
