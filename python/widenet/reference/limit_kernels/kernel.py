"""The choice of method for the two expectations, and the kernels built from them."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.closed_forms import closed_form_expectations
from widenet.reference.limit_kernels.common import (
    KINDS,
    METHODS,
    ORDER,
    PARAMETRIZATIONS,
    Array,
    Kind,
    Method,
    Pair,
    Parametrization,
    _choice,
    _points,
    auto_method,
    covariances,
)
from widenet.reference.limit_kernels.expansion import expansion_expectations
from widenet.reference.limit_kernels.functions import ActivationFunctions
from widenet.reference.limit_kernels.mixtures import scale_mixture_expectations
from widenet.reference.limit_kernels.quadrature import graded_quadrature_expectations


def expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike,
                 activation: Union[str, ActivationFunctions], method: Method = "auto",
                 order: Optional[int] = None) -> Pair:
    """Return ``E_ss, E_dd`` by ``method``.

    "auto" takes :func:`auto_method`: the closed form where there is one
    (:data:`CLOSED_FORMS`), else the expansion; "quadrature" the graded quadrature with
    ``order`` nodes per panel (default :data:`ORDER`). An activation given as its functions
    takes the expansion (with the quadrature behind it) or the quadrature; it has no closed
    form or scale mixture.
    """
    _choice(method, "method", METHODS)
    nodes = ORDER if order is None else order
    if isinstance(activation, ActivationFunctions):
        if method in ("closed_form", "scale_mixture"):
            raise ValueError(f"method: an activation given as a function has no {method.replace('_', ' ')}; "
                             f"use 'auto', 'expansion' or 'quadrature'")
        if method == "quadrature":
            return graded_quadrature_expectations(S11, S22, S12, activation, nodes)
        return expansion_expectations(S11, S22, S12, activation, nodes)
    if method == "auto":
        method = auto_method(activation)
    if method == "closed_form":
        return closed_form_expectations(S11, S22, S12, activation)
    if method == "scale_mixture":
        return scale_mixture_expectations(S11, S22, S12, activation)
    if method == "expansion":
        return expansion_expectations(S11, S22, S12, activation, nodes)
    return graded_quadrature_expectations(S11, S22, S12, activation, nodes)


def combine(E_ss: npt.ArrayLike, E_dd: npt.ArrayLike, X1: npt.ArrayLike, X2: npt.ArrayLike,
            parametrization: Parametrization, kind: Kind, output_var: float = 1.0,
            output_bias_var: float = 0.0) -> Array:
    """Return the limit kernel from the two expectations (Theorems 11.16, 11.30; Prop. 11.28).

    - ``kind="ntk"``, ``parametrization="lecun"``: ``K_LC = E_ss`` (limit of ``K_n / n``);
    - ``kind="ntk"``, ``parametrization="ntk"``: ``s_v^2 (x.z/d + 1) E_dd + E_ss + 1``;
    - ``kind="nngp"``: ``s_v^2 E_ss + s_c^2``.

    Parameters
    ----------
    E_ss, E_dd : ndarray, shape (m1, m2)
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    output_var, output_bias_var : float
        ``s_v^2`` and ``s_c^2``.

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    ss = np.asarray(E_ss, dtype=np.float64)
    dd = np.asarray(E_dd, dtype=np.float64)
    if kind == "nngp":
        return float(output_var) * ss + float(output_bias_var)
    if parametrization == "lecun":
        return ss.copy()
    P1, P2 = _points(X1, X2)
    # (x.z/d + 1) E_dd first: finite where the kernel is (E_dd <= 1.3); s_v^2 = 0 gives 0.
    tangent = ((P1 @ P2.T) / P1.shape[1] + 1) * dd
    return (float(output_var) * tangent if output_var != 0 else np.zeros_like(tangent)) + ss + 1


def limit_kernel(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                 parametrization: Parametrization = "lecun",
                 kind: Kind = "ntk", weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                 output_bias_var: float = 0.0, method: Method = "auto", order: Optional[int] = None) -> Array:
    """Return the infinite-width kernel Gram ``K(X1, X2)`` (Theorems 11.16, 11.30; Prop. 11.28).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str or ActivationFunctions
        Any of :data:`~widenet.reference.ACTIVATIONS`, or an activation's functions.
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
        The tangent-kernel limit or the output covariance at initialization.
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``.
    method : {"auto", "closed_form", "scale_mixture", "quadrature", "expansion"}
        As for :func:`expectations`.
    order : int, optional
        Gauss-Legendre nodes per panel of the graded quadrature (default :data:`ORDER`).

    Returns
    -------
    ndarray, shape (m1, m2)
        With ``X2 is X1`` the lower triangle (``x`` = row point) is mirrored to the upper
        one, as the C++ kernel does: the numerical methods are symmetric in ``(x, z)`` only
        up to their error.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    E_ss, E_dd = _pair_expectations(X1, X2, activation, weight_var, bias_var, method, order)
    kernel = combine(E_ss, E_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
    return mirrored(kernel) if X2 is X1 else kernel


def limit_kernel_pair(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                      parametrization: Parametrization = "lecun", weight_var: float = 1.0, bias_var: float = 0.0,
                      output_var: float = 1.0, output_bias_var: float = 0.0, method: Method = "auto",
                      order: Optional[int] = None) -> tuple[Array, Array]:
    """Return ``(nngp, ntk)``: :func:`limit_kernel` of both kinds from the same expectations, computed once.

    The arguments are those of :func:`limit_kernel` without ``kind``.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    E_ss, E_dd = _pair_expectations(X1, X2, activation, weight_var, bias_var, method, order)
    kernels = tuple(combine(E_ss, E_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
                    for kind in ("nngp", "ntk"))
    nngp, ntk = (mirrored(kernel) for kernel in kernels) if X2 is X1 else kernels
    return nngp, ntk


def _pair_expectations(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                       weight_var: float, bias_var: float, method: Method, order: Optional[int]) -> Pair:
    """Return ``E_ss, E_dd`` of every pair of rows of X1 and X2 (``X2 is X1``: symmetric) at the first layer."""
    S11, S22, S12 = covariances(X1, X2, weight_var, bias_var)
    if X2 is X1:
        # A point's variance as its own covariance: its correlation with itself is then
        # exactly 1, where arccos is steep (as in the C++ kernel).
        S11 = S22 = np.diag(S12).copy()
    return expectations(S11, S22, S12, activation, method, order)


def mirrored(kernel: Array) -> Array:
    """Return the symmetric matrix of the lower triangle of ``kernel`` (as the C++ kernels mirror theirs)."""
    return np.tril(kernel) + np.tril(kernel, -1).T
