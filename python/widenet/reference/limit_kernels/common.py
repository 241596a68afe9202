"""Shared pieces of the infinite-width kernels.

The types, the constants shared by the methods, the checks of the arguments, the covariances
of the pre-activations and the Gauss-Legendre panel rules.
"""

from __future__ import annotations

import functools
import math
from typing import List, Literal, Sequence, Tuple, TypeVar

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Pair = Tuple[Array, Array]
"""``(E_ss, E_dd)``, or a rule's ``(nodes, weights)``."""
Panels = List[Tuple[float, float]]
Parametrization = Literal["lecun", "ntk"]
Kind = Literal["ntk", "nngp"]
Method = Literal["auto", "closed_form", "scale_mixture", "quadrature", "expansion"]
Distribution = Literal["normal", "uniform", "rademacher"]
_Choice = TypeVar("_Choice", bound=str)

CLOSED_FORMS = ("relu", "erf", "identity", "sin", "gelu", "leaky_relu", "abs", "monomial2", "monomial3")
SCALE_MIXTURES = ("tanh", "sigmoid", "softplus", "arctan")
EXPANSIONS = ("tanh", "sigmoid", "softplus", "arctan", "erf", "gelu", "silu", "elu")
PARAMETRIZATIONS = ("lecun", "ntk")
KINDS = ("ntk", "nngp")
METHODS = ("auto", "closed_form", "scale_mixture", "quadrature", "expansion")
DISTRIBUTIONS = ("normal", "uniform", "rademacher")

TOLERANCE = 1e-9
"""Bound on the error of each expectation, relative to its scale (package docstring)."""

ORDER = 12
"""Gauss-Legendre nodes per panel of the graded rules (arctan, quadrature)."""
MAX_ORDER = 64
"""The largest ``order`` accepted: more nodes per panel gain nothing in float64."""
GRADING = 3.0
"""Ratio of the widths of successive panels graded toward a feature."""
LOGISTIC_NODES = 12
"""Nodes of the Gauss rule for the logistic mixing law (measured error 1e-13)."""




def auto_method(activation: str) -> Method:
    """Return the method ``"auto"`` takes for ``activation``.

    The closed form where there is one; else the expansion, which falls back on the scale
    mixture for the pairs it cannot bound (near ``|rho| = 1`` at large variances) and is
    faster wherever it can (a polynomial per pair against a sum of closed kernels per pair).
    """
    if activation in CLOSED_FORMS:
        return "closed_form"
    return "expansion" if activation in EXPANSIONS else "scale_mixture"


# Floats held at once by a block of pairs times nodes, and by a Monte Carlo chunk of
# hidden units (chunk * (m1 + m2)).
_BLOCK_FLOATS = 1 << 20


def _choice(value: _Choice, name: str, options: Sequence[str]) -> _Choice:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def _points(X1: npt.ArrayLike, X2: npt.ArrayLike) -> Pair:
    P1 = np.asarray(X1, dtype=np.float64)
    P2 = np.asarray(X2, dtype=np.float64)
    if P1.ndim != 2 or P2.ndim != 2 or P1.shape[1] != P2.shape[1] or P1.shape[1] == 0:
        raise ValueError(f"X1 and X2 must be 2-D with the same number (>= 1) of columns; got shapes {P1.shape} "
                         f"and {P2.shape}")
    return P1, P2


def _variances(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike) -> Tuple[Array, Array, Array]:
    V11 = np.asarray(S11, dtype=np.float64)
    V22 = np.asarray(S22, dtype=np.float64)
    V12 = np.asarray(S12, dtype=np.float64)
    if V11.ndim != 1 or V22.ndim != 1 or V12.shape != (V11.shape[0], V22.shape[0]):
        raise ValueError(f"S11 (m1,), S22 (m2,) and S12 (m1, m2) expected; got shapes {V11.shape}, "
                         f"{V22.shape} and {V12.shape}")
    return V11, V22, V12


def _correlations(S11: Array, S22: Array, S12: Array) -> Pair:
    """Return ``rho = S12 / (sqrt(S11) sqrt(S22))`` clipped to [-1, 1], and ``1 - rho^2``.

    ``rho`` is 0 where ``S11 S22 = 0``: then one pre-activation is 0 almost surely and the
    correlation does not matter. ``1 - rho^2 = (1 - rho)(1 + rho)`` is exact in the factor that cancels. The root is
    :func:`_root_product`, so that a point's correlation with itself is exactly 1 (relu's
    ``E_dd`` is steep there) however large its variance.
    """
    rho = np.divide(S12, _root_product(S11[:, None], S22[None, :]), out=np.zeros_like(S12),
                    where=(S11[:, None] > 0) & (S22[None, :] > 0))
    rho = np.clip(rho, -1.0, 1.0)
    return rho, (1 - rho) * (1 + rho)


def _root_product(a: Array, b: Array) -> Array:
    """Return ``sqrt(a b)``.

    That is ``a`` itself for ``a = b``, else ``sqrt(a) sqrt(b)`` where ``a b`` would overflow
    or fall below the normal range.
    """
    with np.errstate(over="ignore", under="ignore"):
        product = a * b
    normal = np.isfinite(product) & (product >= np.finfo(np.float64).tiny)
    root = np.where(normal, np.sqrt(np.where(normal, product, 1.0)), np.sqrt(a) * np.sqrt(b))
    return np.where(a == b, a, root)


def covariances(X1: npt.ArrayLike, X2: npt.ArrayLike, weight_var: float = 1.0,
                bias_var: float = 0.0) -> Tuple[Array, Array, Array]:
    """Return the covariances of the pre-activations ``h_x = u.x + b`` (Theorem 11.16, Exercise 11.37).

    ``Sigma(x, z) = s_w^2 x.z / d + s_b^2``.

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.

    Returns
    -------
    S11 : ndarray, shape (m1,)
        ``Sigma(x, x)`` for the rows of ``X1``.
    S22 : ndarray, shape (m2,)
        ``Sigma(z, z)`` for the rows of ``X2``.
    S12 : ndarray, shape (m1, m2)
        ``Sigma(x, z)``.
    """
    P1, P2 = _points(X1, X2)
    scale = float(weight_var) / P1.shape[1]
    bias_var = float(bias_var)
    S11 = scale * np.sum(P1 * P1, axis=1) + bias_var
    S22 = scale * np.sum(P2 * P2, axis=1) + bias_var
    S12 = scale * (P1 @ P2.T) + bias_var
    return S11, S22, S12


def graded_points(start: float, stop: float, ratio: float = GRADING, width: float = math.inf) -> List[float]:
    """Return ``start, start r, start r^2, ...`` up to the first point ``>= stop``.

    The graded panels then cover ``[start, stop]``; the points stop early at the first whose
    next step would be wider than ``width`` (empty unless ``0 < start < inf``).
    """
    points: List[float] = []
    if not 0 < start < math.inf:
        return points
    point = start
    while True:
        points.append(point)
        if point >= stop or point * (ratio - 1) >= width:
            return points
        point *= ratio


def panel_rule(panels: npt.ArrayLike, order: int = ORDER) -> Pair:
    """Return Gauss-Legendre nodes and weights of ``order`` nodes on each panel ``(low, high)``."""
    ends = np.asarray(panels, dtype=np.float64).reshape(-1, 2)
    x, w = gauss_legendre(order)
    middle, half = ends.mean(axis=1), 0.5 * (ends[:, 1] - ends[:, 0])
    return (middle[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


@functools.lru_cache(maxsize=None)
def gauss_legendre(order: int) -> Pair:
    """Return the Gauss-Legendre rule of ``order`` nodes on [-1, 1] (nodes, weights; read-only)."""
    x, w = np.polynomial.legendre.leggauss(order)
    x.flags.writeable = w.flags.writeable = False
    return x, w
