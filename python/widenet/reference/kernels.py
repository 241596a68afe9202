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
    if kind == "rbf":
        return np.exp(-dtype(gamma) * _squared_distances(X1, X2))
    if kind == "laplace":
        return np.exp(-dtype(gamma) * np.sqrt(_squared_distances(X1, X2)))
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
