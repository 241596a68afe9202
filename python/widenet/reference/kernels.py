"""Classic kernels and their Gram matrices (docs/theory.md, section 2; Example 11.10).

The numpy twin of the C++ classic-kernel header. ``K(X1, X2)`` is (m1 x m2) for inputs
(m1 x d) and (m2 x d), computed in the dtype of ``X1``:

- linear      ``x.z``
- polynomial  ``(gamma x.z + coef0)^degree``   (the chapter's ``(x.z + c)^r`` is gamma = 1)
- rbf         ``exp(-gamma |x - z|^2)``
- laplace     ``exp(-gamma |x - z|)``

Accuracy, at every scale of the inputs (``eps`` of their dtype): the inner products of the
linear and polynomial kernels are within ``(d + 2) eps |x| |z|`` of ``x.z`` and overflow only
where ``gamma x.z`` does (large rows are scaled by powers of two, see :func:`_row_exponents`);
rbf and laplace entries are within ``16 (d + 2) eps`` of the exact kernel (entries that the
expansion ``|x|^2 + |z|^2 - 2 x.z`` cannot give that accurately are recomputed from ``x - z``,
see :func:`_inaccurate`).
"""

from __future__ import annotations

import math
from typing import Literal, Tuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
Kind = Literal["linear", "polynomial", "rbf", "laplace"]

KERNELS = ("linear", "polynomial", "rbf", "laplace")


def _row_exponents(X: FloatArray) -> Tuple[npt.NDArray[np.integer], FloatArray]:
    """Return the per-row exponents ``e >= 0`` and ``X / 2^e``.

    Rows with an entry of ``2^h`` or more, ``h = (maxexp - 2 - ceil(log2 d)) / 2``, are
    brought below ``2^h``, so that no product or sum of their inner products overflows and
    ``x.z = 2^(e + e') x^.z^`` exactly.
    """
    info = np.finfo(X.dtype)
    h = (info.maxexp - 2 - math.ceil(math.log2(X.shape[1]))) // 2
    largest = np.max(np.abs(X), axis=1)
    exponents = np.where(largest >= 2.0 ** h, np.frexp(largest)[1] - h, 0)
    return exponents, np.ldexp(X, -exponents[:, None]).astype(X.dtype)


def _split(a: FloatArray) -> Tuple[FloatArray, FloatArray]:
    """Split ``a = high + low`` into halves of the significand (Dekker)."""
    factor = a.dtype.type(2.0 ** ((np.finfo(a.dtype).nmant + 2) // 2) + 1)
    c = factor * a
    high = c - (c - a)
    return high, a - high


def _compensated_inner(X1: FloatArray, X2: FloatArray) -> FloatArray:
    """Return ``X1 X2^T`` as if summed in twice the working precision.

    Ogita, Rump and Oishi's Dot2, products split by Dekker: within
    ``eps |x.z| + (d eps)^2 |x| |z|``. The compiled kernel uses it for the entries of scaled
    rows, where a rounding error of a GEMM would reach far beyond the kernel's value.
    """
    total = np.zeros((X1.shape[0], X2.shape[0]), dtype=X1.dtype)
    error = np.zeros_like(total)
    for j in range(X1.shape[1]):
        a, b = X1[:, j, None], X2[None, :, j]
        product = a * b
        (a_high, a_low), (b_high, b_low) = _split(a), _split(b)
        product_error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
        following = total + product
        moved = following - total
        error += ((total - (following - moved)) + (product - moved)) + product_error
        total = following
    return total + error


def _scaled_inner_products(X1: FloatArray, X2: FloatArray, factor: float) -> FloatArray:
    """Return ``factor * X1 X2^T`` (``factor`` a Python float), overflowing only where the value does."""
    e1, scaled1 = _row_exponents(X1)
    e2, scaled2 = _row_exponents(X2)
    dtype = X1.dtype.type
    with np.errstate(over="ignore"):  # beyond the range: inf, the value's limit
        if not (e1.any() or e2.any()):
            inner = X1 @ X2.T
            return inner if factor == 1.0 else dtype(factor) * inner
        exponent = e1[:, None] + e2[None, :]
        inner = np.where(exponent == 0, scaled1 @ scaled2.T, _compensated_inner(scaled1, scaled2))
        fraction, power = math.frexp(factor)
        return np.ldexp(dtype(fraction) * inner, power + exponent).astype(X1.dtype)


def _polynomial(inner: FloatArray, coef0: float, degree: int) -> FloatArray:
    """Return ``(inner + coef0)^degree`` by repeated squaring, as the compiled kernel."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (inner + inner.dtype.type(coef0)) ** degree


def _squared_distances(X1: FloatArray, X2: FloatArray) -> Tuple[FloatArray, FloatArray]:
    """Return ``|x - z|^2`` through inner products, clipped at 0 against rounding, and ``|x|^2 + |z|^2``."""
    norms1, norms2 = np.sum(X1 * X1, axis=1)[:, None], np.sum(X2 * X2, axis=1)[None, :]
    squared = norms1 + norms2 - 2 * (X1 @ X2.T)
    return np.where(squared < 0, 0, squared), norms1 + norms2


def _inaccurate(K: FloatArray, squared: FloatArray, total: FloatArray, gamma: np.floating, kind: str,
                d: int) -> npt.NDArray[np.bool_]:
    """Return the entries whose error bound from the expansion exceeds ``8 (d + 2) eps``.

    The squared distance is off by up to ``dD = 2 (d + 2) eps (|x|^2 + |z|^2)``, which moves the
    exponent by ``dt = gamma dD`` (rbf) or ``gamma dD / sqrt(D)`` (laplace, for ``D >= 2 dD``)
    and ``K`` by about ``K dt``; also every NaN (overflowing norms).
    """
    info = np.finfo(K.dtype)
    spread, budget = K.dtype.type(2 * (d + 2) * info.eps), K.dtype.type(8 * (d + 2) * info.eps)
    slack = (gamma * spread) * total
    if kind == "rbf":
        return ~((squared <= info.max) & (slack <= 1) & (K * slack <= budget))
    root = np.sqrt(squared)  # dt = slack / root, compared without the division
    return ~((squared <= info.max) & (squared >= 2 * spread * total) & (slack <= root) & (K * slack <= budget * root))


def _direct(X1: FloatArray, X2: FloatArray, gamma: np.floating, kind: str) -> FloatArray:
    """Return ``K(x_i, z_i)`` for the paired rows of ``X1`` and ``X2`` from ``x - z``.

    The norm of ``x - z`` is scaled against overflow.
    """
    difference = X1 - X2
    scale = np.max(np.abs(difference), axis=1, initial=0)
    finite = (scale > 0) & (scale < np.inf)
    safe = np.where(finite, scale, 1)
    distance = np.where(finite, safe * np.sqrt(np.sum((difference / safe[:, None]) ** 2, axis=1)), scale)
    scaled = gamma * distance
    return np.exp(-(scaled * distance if kind == "rbf" else scaled))


def _distance_kernel(X1: FloatArray, X2: FloatArray, gamma: np.floating, kind: str,
                     symmetric: bool) -> FloatArray:
    with np.errstate(over="ignore", invalid="ignore"):
        squared, total = _squared_distances(X1, X2)
        K = np.exp(-gamma * (squared if kind == "rbf" else np.sqrt(squared)))
        redo = _inaccurate(K, squared, total, gamma, kind, X1.shape[1])
        if symmetric:
            np.fill_diagonal(redo, False)
            np.fill_diagonal(K, 1)
        rows, cols = np.nonzero(redo)
        K[rows, cols] = _direct(X1[rows], X2[cols], gamma, kind)
    return K


def kernel_gram(X1: FloatArray, X2: FloatArray, kind: Kind, gamma: float = 1.0, degree: int = 3,
                coef0: float = 1.0) -> FloatArray:
    """Gram matrix ``K(X1, X2)`` of a classic kernel (Example 11.10).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
        ``X2 is X1`` is the symmetric Gram (the distance kernels are then exactly 1 on its
        diagonal).
    kind : {"linear", "polynomial", "rbf", "laplace"}
    gamma, degree, coef0 : float, int, float
        Hyper-parameters named as in scikit-learn.

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    if kind == "linear":
        return _scaled_inner_products(X1, X2, 1.0)
    if kind == "polynomial":
        return _polynomial(_scaled_inner_products(X1, X2, float(gamma)), coef0, degree)
    if kind in ("rbf", "laplace"):
        return _distance_kernel(X1, X2, X1.dtype.type(gamma), kind, X2 is X1)
    raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kind!r}")


def kernel_diag(X: FloatArray, kind: Kind, gamma: float = 1.0, degree: int = 3,
                coef0: float = 1.0) -> FloatArray:
    """Return the diagonal ``K(x_i, x_i)`` without the m x m matrix."""
    if kind in ("linear", "polynomial"):
        exponents, scaled = _row_exponents(X)
        fraction, power = math.frexp(float(gamma) if kind == "polynomial" else 1.0)
        with np.errstate(over="ignore"):
            norms = np.ldexp(X.dtype.type(fraction) * np.sum(scaled * scaled, axis=1), power + 2 * exponents)
        norms = norms.astype(X.dtype)
        return norms if kind == "linear" else _polynomial(norms, coef0, degree)
    if kind in ("rbf", "laplace"):
        return np.ones(X.shape[0], dtype=X.dtype)
    raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kind!r}")
