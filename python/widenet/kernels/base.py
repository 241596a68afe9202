"""The kernel interface: ``kernel(X1, X2=None)`` gives the Gram matrix, ``kernel.diag(X)``
its diagonal, on points checked once here."""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet import _memory
from widenet import _validation as check


def checked_pair(X1, X2, dtype: Optional[np.dtype] = None, min_columns: int = 0):
    """Validated ``(X1, X2)``; ``X2`` is None for the symmetric Gram (``X2 is X1`` too).

    ``X1`` in ``dtype`` (None: float32 stays float32, anything else becomes float64), with
    at least ``min_columns`` columns; ``X2`` takes the dtype and the number of columns of
    ``X1`` (and is refused by name if its values do not fit it).
    """
    symmetric = X2 is None or X2 is X1
    X1 = check.as_points(X1, "X1", dtype=dtype, min_columns=min_columns)
    if symmetric:
        return X1, None
    return X1, check.as_points(X2, "X2", dtype=X1.dtype, columns=X1.shape[1], columns_of=" like X1")


class Kernel:
    """A positive semidefinite kernel ``K(x, z)``. Subclasses define :meth:`gram` and
    :meth:`diagonal` on validated arrays (``X2=None`` meaning ``X1``)."""

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
        return self.diagonal(check.as_points(X, "X"), check.backend(backend))

    def gram(self, X1, X2, backend):
        raise NotImplementedError

    def diagonal(self, X, backend):
        raise NotImplementedError
