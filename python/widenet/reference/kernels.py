"""Classic kernels and their Gram matrices (SPEC.md section 2, Example 11.10).

The numpy twin of the C++ classic-kernel header. ``K(X1, X2)`` is (m1 x m2) for inputs
(m1 x d) and (m2 x d), computed in the dtype of ``X1``:

- linear      ``x.z``
- polynomial  ``(gamma x.z + coef0)^degree``   (the chapter's ``(x.z + c)^r`` is gamma = 1)
- rbf         ``exp(-gamma |x - z|^2)``
- laplace     ``exp(-gamma |x - z|)``
"""

from __future__ import annotations

import numpy as np

KERNELS = ("linear", "polynomial", "rbf", "laplace")


def _squared_distances(X1, X2):
    """``|x - z|^2`` through inner products, clipped at 0 against rounding; exactly 0 on
    the diagonal of a symmetric Gram (``X2 is X1``)."""
    squared = np.sum(X1 * X1, axis=1)[:, None] + np.sum(X2 * X2, axis=1)[None, :] - 2 * (X1 @ X2.T)
    if X2 is X1:
        np.fill_diagonal(squared, 0)
    return np.maximum(squared, 0)


def _repair_overflowed(K, X1, X2, gamma, kind):
    """Entries that came out NaN because ``|x|^2 + |z|^2 - 2 x.z`` overflowed (inf - inf)
    recomputed from ``x - z`` with a norm scaled against overflow (the compiled kernel does
    the same)."""
    for i, j in zip(*np.nonzero(np.isnan(K))):
        with np.errstate(over="ignore"):
            difference = X1[i] - X2[j]
            scale = np.max(np.abs(difference))
            distance = scale * np.sqrt(np.sum((difference / scale) ** 2)) if 0 < scale < np.inf else scale
            scaled = gamma * distance
            K[i, j] = np.exp(-(scaled * distance if kind == "rbf" else scaled))
    return K


def kernel_gram(X1, X2, kind, gamma=1.0, degree=3, coef0=1.0):
    """Gram matrix ``K(X1, X2)`` of a classic kernel (Example 11.10).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    kind : {"linear", "polynomial", "rbf", "laplace"}
    gamma, degree, coef0 : float, int, float
        Hyper-parameters named as in scikit-learn.

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    dtype = X1.dtype.type
    if kind == "linear":
        return X1 @ X2.T
    if kind == "polynomial":
        return (dtype(gamma) * (X1 @ X2.T) + dtype(coef0)) ** degree
    if kind in ("rbf", "laplace"):
        with np.errstate(over="ignore", invalid="ignore"):
            squared = _squared_distances(X1, X2)
            K = np.exp(-dtype(gamma) * (squared if kind == "rbf" else np.sqrt(squared)))
        return _repair_overflowed(K, X1, X2, dtype(gamma), kind)
    raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kind!r}")


def kernel_diag(X, kind, gamma=1.0, degree=3, coef0=1.0):
    """The diagonal ``K(x_i, x_i)`` without the m x m matrix."""
    dtype = X.dtype.type
    if kind == "linear":
        return np.sum(X * X, axis=1)
    if kind == "polynomial":
        return (dtype(gamma) * np.sum(X * X, axis=1) + dtype(coef0)) ** degree
    if kind in ("rbf", "laplace"):
        return np.ones(X.shape[0], dtype=X.dtype)
    raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kind!r}")
