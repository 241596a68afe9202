"""The fixed tensor rule (kept for its callers; ``limit_kernel`` no longer uses it)."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference.limit_kernels.common import _BLOCK_FLOATS, Array, Pair, _correlations, _variances


# Its nodes sit at fixed places of the standardized variable: an activation that changes
# over a width 1/sqrt(S) around 0 (every saturating one at a large variance S) falls
# between them, and the rule errs by up to 100% (tanh at S = 1e6). Accurate for variances
# of order 1 only; the graded methods (closed forms, scale mixtures, graded quadrature)
# replace it.
def gaussian_rule(order: int = 64, half_width: float = 8.0, panels: Optional[int] = None) -> Pair:
    """Return nodes and weights for ``E[f(a)]``, ``a ~ N(0, 1)``: composite Gauss-Legendre.

    ``[-half_width, half_width]`` is cut into ``panels`` equal panels (an even number, so
    that 0 is a panel boundary: kinks of ReLU-like activations at 0 fall between panels),
    each carrying ``order / panels`` Gauss-Legendre nodes; the weights are multiplied by
    the standard normal density. Like Gauss-Hermite, its accuracy collapses when the
    integrand ``f(sqrt(S) a)`` changes over a width much smaller than the panels, as it
    does for a large variance ``S`` (see the comment above).

    The defaults were chosen by measurement (erf against its closed form, arctan against
    order 1024): one Gauss-Legendre panel per half-line beats more, smaller panels of the
    same total order (polynomial degree wins over locality for these smooth integrands),
    and a range of 8 standard deviations beats 10 at order 64 because fewer nodes sit in
    the negligible tails. The mass dropped outside, ``2 P(a > 8) = 1.2e-15``, is at the
    rounding of ``sum(weights) = 1``; for an integrand growing like ``a^2`` it costs a
    relative ``8e-14``.

    Parameters
    ----------
    order : int, default 64
        Total number of nodes ``Q``.
    half_width : float, default 8.0
        Truncation of the real line, in standard deviations.
    panels : int, optional
        Number of equal panels: even, at least 2, dividing ``order``. Default: 2 (one
        Gauss-Legendre panel of ``order / 2`` nodes on each half-line), so ``order`` must
        then be even.

    Returns
    -------
    nodes, weights : ndarray, shape (order,)
        Increasing nodes, symmetric about 0; ``E[f(a)] ~= sum_p weights[p] f(nodes[p])``.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an integer >= 2; got {order!r}")
    if panels is None:
        panels = 2
    if isinstance(panels, bool) or not isinstance(panels, (int, np.integer)) or panels < 2 or panels % 2:
        raise ValueError(f"panels must be an even integer >= 2; got {panels!r}")
    order, panels = int(order), int(panels)
    if order % panels:
        raise ValueError(f"order must be a multiple of panels (the same number of nodes in each panel); "
                         f"got order={order}, panels={panels}")
    half_width = float(half_width)
    if not (half_width > 0 and math.isfinite(half_width)):
        raise ValueError(f"half_width must be a positive finite number; got {half_width!r}")
    x, w = np.polynomial.legendre.leggauss(order // panels)
    edges = half_width * (np.arange(panels + 1) - panels // 2) / (panels // 2)  # exact 0 in the middle
    centres = 0.5 * (edges[:-1] + edges[1:])
    halves = 0.5 * (edges[1:] - edges[:-1])
    nodes = (centres[:, None] + halves[:, None] * x[None, :]).ravel()
    weights = (halves[:, None] * w[None, :]).ravel() * np.exp(-0.5 * nodes * nodes) / math.sqrt(2 * math.pi)
    return nodes, weights


def quadrature_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str,
                            nodes: npt.ArrayLike, weights: npt.ArrayLike, legendre: Optional[Pair] = None,
                            half_width: float = 8.0) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by a two-dimensional tensor rule of fixed nodes.

    The rule is accurate for variances of order 1 only (see :func:`gaussian_rule`; the
    graded quadrature is :func:`graded_quadrature_expectations`). With independent standard
    normals ``(a, b)`` and ``rho`` as in :func:`closed_form_expectations` (0 where
    ``S11 S22 = 0``):
    ``h_x = sqrt(S11) a``, ``h_z = sqrt(S22) (rho a + sqrt(1 - rho^2) b)`` and, in this
    order of terms,

        E[f(h_x) g(h_z)] ~= sum_p w_p f(h_x(a_p)) (sum_q w_q g(h_z(a_p, b_q)))

    with ``(f, g) = (sigma, sigma)`` for ``E_ss`` and ``(sigma', sigma')`` for ``E_dd``;
    as in the C++ kernel, ``h_z = along a_p + across b_q`` with ``along = sqrt(S22) rho``
    and ``across = sqrt(S22) sqrt(1 - rho^2)``, and the outer term is
    ``(w_p f) * inner``. The ``f`` values depend on the point ``x`` only and are computed
    once per point; the sum runs over ``p`` in a loop, vectorised over pairs and blocks of
    ``q``, so memory stays ``O(m1 m2 + m1 Q)`` beyond a fixed block. The rule is not
    exactly symmetric in ``(x, z)``: swapping the points changes the result by about its
    error.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    nodes, weights : ndarray, shape (Q,)
        A rule for ``E[f(a)]``, ``a ~ N(0, 1)``, e.g. from :func:`gaussian_rule`.
    legendre : (ndarray, ndarray), optional
        The Gauss-Legendre rule on ``[-1, 1]`` behind ``nodes`` (:func:`legendre_rule`).
        For relu, whose ``relu(h_z)`` bends at ``b = -along a_p / across``, the inner sum
        is then taken over two Gauss-Legendre panels, ``[-half_width, kink]`` and
        ``[kink, half_width]``, where the integrand is smooth (as the C++ kernel does).
    half_width : float
        The truncation of ``nodes`` (8, as in :func:`gaussian_rule`).

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    a = np.asarray(nodes, dtype=np.float64)
    w_a = np.asarray(weights, dtype=np.float64)
    if a.ndim != 1 or a.shape != w_a.shape:
        raise ValueError(f"nodes and weights must be 1-D of one length; got shapes {a.shape} and "
                         f"{w_a.shape}")
    _act.activation(activation, np.zeros(1))  # unknown names fail before any work
    rho, _ = _correlations(V11, V22, V12)
    m1, m2 = V12.shape
    Q = a.shape[0]
    hx = np.sqrt(V11)[:, None] * a[None, :]  # (m1, Q)
    F_s = _act.activation(activation, hx)
    F_d = _act.activation_derivative(activation, hx)
    root = np.sqrt(V22)[None, :]
    along = root * rho  # (m1, m2): coefficient of a
    across = root * np.sqrt(1 - rho * rho)  # (m1, m2): coefficient of b
    block = max(1, min(Q, _BLOCK_FLOATS // max(1, m1 * m2)))
    E_ss = np.zeros((m1, m2))
    E_dd = np.zeros((m1, m2))
    split = legendre is not None and activation == "relu"
    for p in range(Q):
        shift = along * a[p]
        inner_s = np.zeros((m1, m2))
        inner_d = np.zeros((m1, m2))
        if split and legendre is not None:
            inner_s, inner_d, done = _split_relu_inner(shift, across, legendre, half_width)
        else:
            done = np.zeros((m1, m2), dtype=bool)
        for q0 in range(0, Q, block):
            hz = shift[:, :, None] + across[:, :, None] * a[None, None, q0:q0 + block]
            w = w_a[q0:q0 + block]
            inner_s += np.where(done, 0.0, _act.activation(activation, hz) @ w)
            inner_d += np.where(done, 0.0, _act.activation_derivative(activation, hz) @ w)
        E_ss += (w_a[p] * F_s[:, p])[:, None] * inner_s
        E_dd += (w_a[p] * F_d[:, p])[:, None] * inner_d
    return E_ss, E_dd


def legendre_rule(order: int = 64) -> Pair:
    """Return the Gauss-Legendre rule on ``[-1, 1]`` with ``order / 2`` nodes.

    It is the rule each half-line panel of :func:`gaussian_rule` (default panels) is built from.
    """
    return np.polynomial.legendre.leggauss(int(order) // 2)


def _split_relu_inner(shift: Array, across: Array, legendre: Pair,
                      half_width: float) -> Tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Return ``E_b[relu(shift + across b)]`` and ``E_b[relu'(...)]`` with the range cut at the kink.

    The kink is ``b = -shift / across``; the expectations are taken for the pairs whose kink
    lies inside the range (``done``).
    """
    t, w = legendre
    inside = across > 0
    kink = np.where(inside, -shift / np.where(inside, across, 1.0), 0.0)
    done = inside & (np.abs(kink) < half_width)
    inner_s = np.zeros(shift.shape)
    inner_d = np.zeros(shift.shape)
    for low, high in ((-half_width, kink), (kink, half_width)):
        middle, half = np.asarray(0.5 * (low + high)), np.asarray(0.5 * (high - low))  # arrays: kink is one
        b = middle[..., None] + half[..., None] * t if np.ndim(middle) else middle + half * t
        b = np.broadcast_to(b, shift.shape + t.shape)
        weight = (np.broadcast_to(half, shift.shape)[..., None] * w) * np.exp(-0.5 * b * b) * (
            0.5 * (2 / math.sqrt(math.pi)) * math.sqrt(0.5))
        h = shift[..., None] + across[..., None] * b
        inner_s += np.where(done, np.sum(np.where(h > 0, weight * h, 0.0), axis=-1), 0.0)
        inner_d += np.where(done, np.sum(np.where(h > 0, weight, 0.0), axis=-1), 0.0)
    return inner_s, inner_d, done
