"""The kernel interface: ``kernel(X1, X2=None)`` gives the Gram matrix, ``kernel.diag(X)`` its diagonal.

The points are checked once here.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._types import Backend, FloatArray


def checked_pair(X1: object, X2: object, dtype: Optional[np.dtype[Any]] = None,
                 min_columns: int = 0) -> tuple[NDArray[Any], Optional[NDArray[Any]]]:
    """Return the validated ``(X1, X2)``; ``X2`` is None for the symmetric Gram (``X2 is X1`` too).

    ``X1`` in ``dtype`` (None: float32 stays float32, anything else becomes float64), with
    at least ``min_columns`` columns; ``X2`` takes the dtype and the number of columns of
    ``X1`` (and is refused by name if its values do not fit it).
    """
    symmetric = X2 is None or X2 is X1
    points = check.as_points(X1, "X1", dtype=dtype, min_columns=min_columns)
    if symmetric:
        return points, None
    return points, check.as_points(X2, "X2", dtype=points.dtype, columns=points.shape[1], columns_of=" like X1")


class Kernel:
    """A positive semidefinite kernel ``K(x, z)``.

    Subclasses define :meth:`gram` and :meth:`diagonal` on validated arrays (``X2=None``
    meaning ``X1``).
    """

    def __call__(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp") -> FloatArray:
        """Return the Gram matrix ``K(X1, X2)``; ``X2=None`` (or ``X2 is X1``) is symmetric."""
        points1, points2 = checked_pair(X1, X2)
        backend = check.backend(backend)
        self._check_memory(points1, points2, backend)
        return self.gram(points1, points2, backend)

    def gram_copies(self, backend: Backend) -> int:
        """Return how many arrays of the Gram's size forming it holds at once (for the memory guard)."""
        return 1

    def _check_memory(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> None:
        """Guard the memory of the Gram of ``X1`` and ``X2``."""
        _memory.check_gram(type(self).__name__, X1, X2, X1.dtype, copies=self.gram_copies(backend))

    def diag(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return ``K(x_i, x_i)`` for the rows of ``X``, without the m x m matrix."""
        return self.diagonal(check.as_points(X, "X"), check.backend(backend))

    def gram(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> FloatArray:
        """Return the Gram matrix of validated points (``X2`` None: of ``X1`` with itself)."""
        raise NotImplementedError

    def diagonal(self, X: FloatArray, backend: Backend) -> FloatArray:
        """Return the diagonal ``K(x_i, x_i)`` of validated points."""
        raise NotImplementedError
