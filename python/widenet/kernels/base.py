"""The kernel interface: ``kernel(X1, X2=None)`` gives the Gram matrix, ``kernel.diag(X)``
its diagonal, on points checked once here.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet import _memory
from widenet import _validation as check


def as_points(X, name: str, columns: Optional[int] = None, dtype: Optional[np.dtype] = None) -> np.ndarray:
    """Points as a 2-D float array of ``dtype``; by default float32 stays float32 and
    anything else becomes float64.
    """
    array = check.asarray(X, name)
    if dtype is None:
        dtype = np.dtype(np.float32 if array.dtype == np.float32 else np.float64)
    points = check.as_array(array, name, dtype, 2)
    if points.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row (point), got shape {points.shape}")
    if columns is not None and points.shape[1] != columns:
        raise ValueError(f"{name}: expected {columns} columns like X1, got shape {points.shape}")
    return points


def checked_pair(X1, X2):
    """Validated ``(X1, X2)``; ``X2`` is None for the symmetric Gram (``X2 is X1`` too).
    ``X2`` takes the dtype of ``X1`` (and is refused by name if its values do not fit it).
    """
    symmetric = X2 is None or X2 is X1
    X1 = as_points(X1, "X1")
    if symmetric:
        return X1, None
    return X1, as_points(X2, "X2", X1.shape[1], X1.dtype)


class Kernel:
    """A positive semidefinite kernel ``K(x, z)``. Subclasses define :meth:`gram` and
    :meth:`diagonal` on validated arrays (``X2=None`` meaning ``X1``).
    """

    def __call__(self, X1, X2=None, backend: str = "cpp") -> np.ndarray:
        """The Gram matrix ``K(X1, X2)``; ``X2=None`` (or ``X2 is X1``) is symmetric."""
        X1, X2 = checked_pair(X1, X2)
        backend = check.backend(backend)
        self._check_memory(X1, X2, backend)
        return self.gram(X1, X2, backend)

    def gram_copies(self, backend: str) -> int:
        """How many arrays of the Gram's size forming it holds at once (for the memory guard)."""
        return 1

    def _check_memory(self, X1, X2, backend: str) -> None:
        _memory.check_gram(type(self).__name__, X1, X2, X1.dtype, copies=self.gram_copies(backend))

    def diag(self, X, backend: str = "cpp") -> np.ndarray:
        """``K(x_i, x_i)`` for the rows of ``X``, without the m x m matrix."""
        return self.diagonal(as_points(X, "X"), check.backend(backend))

    def gram(self, X1, X2, backend):
        raise NotImplementedError

    def diagonal(self, X, backend):
        raise NotImplementedError
