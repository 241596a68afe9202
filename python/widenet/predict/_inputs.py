"""The checks every prediction makes of its Gram matrices, targets and regularizer."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

from widenet import _validation as check

_FLOAT64 = np.dtype(np.float64)

# A Gram whose transpose differs from it by more than this, relative to its largest entry, is
# not a kernel's Gram (rounding in a symmetric computation stays far below).
_SYMMETRY_TOLERANCE = 1e-8


def train_gram(value: object, name: str = "k_train_train") -> NDArray[np.float64]:
    """Return a finite, symmetric, square Gram matrix as float64 (a copy)."""
    gram = check.as_array(value, name, _FLOAT64, 2).copy()
    if gram.shape[0] != gram.shape[1] or gram.shape[0] < 1:
        raise ValueError(f"{name}: expected a square m x m Gram matrix with m >= 1, got shape {gram.shape}")
    largest = float(np.max(np.abs(gram)))
    asymmetry = float(np.max(np.abs(gram - gram.T)))
    if asymmetry > _SYMMETRY_TOLERANCE * largest:
        raise ValueError(f"{name}: expected a symmetric Gram matrix; its transpose differs by up to {asymmetry:.3g} "
                         f"(largest entry {largest:.3g})")
    return 0.5 * (gram + gram.T)


def targets(value: object, rows: int, name: str = "y_train") -> NDArray[np.float64]:
    """Return targets of shape (m,) or (m, k) as float64, finite, one row per training point."""
    y = check.as_array(value, name, _FLOAT64, (1, 2))
    if y.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows, one per training point, got shape {y.shape}")
    return y


def cross_gram(value: object, columns: int, name: str = "k_test_train") -> NDArray[np.float64]:
    """Return a test-by-train Gram (m_test x m) as float64, finite."""
    gram = check.as_array(value, name, _FLOAT64, 2)
    if gram.shape[1] != columns or gram.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (m_test, {columns}) with m_test >= 1, got {gram.shape}")
    return gram


def outputs(value: object, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    """Return initial outputs broadcast to ``shape`` (a scalar is every point's), as float64."""
    array = check.as_array(value, name, _FLOAT64, (0, 1, 2))
    try:
        return np.broadcast_to(array, shape).astype(np.float64)
    except ValueError:
        raise ValueError(f"{name}: expected a scalar or an array of shape {shape}, got {array.shape}") from None


def regularizer(gram: NDArray[np.float64], diag_reg: object, absolute: object) -> float:
    """Return the ridge added to the Gram's diagonal.

    ``diag_reg`` itself when ``absolute``, else ``diag_reg`` times the mean of the Gram's
    diagonal (neural-tangents' convention).
    """
    value = check.non_negative_real(diag_reg, "diag_reg")
    if check.boolean(absolute, "diag_reg_absolute_scale"):
        return value
    return value * float(np.mean(np.diag(gram)))


def times(value: Optional[object]) -> Optional[NDArray[np.float64]]:
    """Return the times as a float64 array of any shape (non-negative, inf allowed), or None for infinity."""
    if value is None:
        return None
    array = check.asarray(value, "t")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"t: expected real times, got dtype {array.dtype}")
    t: NDArray[Any] = array.astype(np.float64)
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError(f"t: expected times >= 0 (inf allowed), got {value!r}")
    return t
