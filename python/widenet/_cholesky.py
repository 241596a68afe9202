"""The fast path of a well-posed symmetric solve: a Cholesky factorization with its condition estimate.

A ridge or interpolation system ``(G + shift I) x = y`` whose matrix is positive definite
and well conditioned has one answer, which a Cholesky factorization (``m^3 / 3`` flops)
gives as accurately as the eigendecomposition (about ``9 m^3``) of :mod:`widenet._solve`.
:func:`factorize` returns the factorization only when that is certain, and None otherwise,
so that the caller falls back to the eigendecomposition and its minimum-norm answer:

* when LAPACK's ``potrf`` fails (the matrix is not numerically positive definite), or
* when LAPACK's ``pocon`` estimate ``rcond`` of the reciprocal condition number (1-norm) is
  below :func:`reciprocal_condition_bound`, ``SAFETY`` times the larger of the rank
  tolerance and ``1 / CONDITION_LIMIT``.

For a symmetric matrix the 2-norm condition number, the ratio of the extreme eigenvalues,
is at most the 1-norm's, and the estimate is rarely low by more than a factor of 10; with
the margin of ``SAFETY`` an accepted matrix has no eigenvalue below the rank cut-off and is
conditioned well inside the warning's limit, where the eigendecomposition would invert
every eigenvalue without a warning: the same answer, up to ``kappa eps`` rounding. In
float64 this accepts condition numbers up to about 1e8; the float32 cut-off ``m eps_float32``
keeps only much better-conditioned float32 Grams on this path.

Both calls run in C++ without the GIL; long ones run on a worker thread so that Ctrl-C
stops the wait at once (:mod:`widenet._interrupt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from widenet._conditioning import CONDITION_LIMIT
from widenet._interrupt import LONG_CALL_FLOPS, is_long_factorization, run_interruptible
from widenet._native import _core

# How far inside the cut-offs an accepted estimate must lie: the estimate may be low by a
# factor up to about 10, and the 1-norm bounds the 2-norm condition number from above.
SAFETY = 100.0


def reciprocal_condition_bound(tolerance: float) -> float:
    """Return the smallest ``rcond`` estimate accepted for a matrix whose rank tolerance is ``tolerance``."""
    return SAFETY * max(tolerance, 1.0 / CONDITION_LIMIT)


@dataclass(frozen=True)
class Cholesky:
    """``G + shift I = U^T U`` with the estimate ``rcond`` of its reciprocal condition number."""

    factor: np.ndarray
    rcond: float

    @property
    def size(self) -> int:
        """The order ``m`` of the matrix."""
        return int(self.factor.shape[0])

    def solve(self, y: np.ndarray) -> np.ndarray:
        """Return ``(G + shift I)^{-1} y`` for ``y`` of shape (m,) or (m, k), in float64."""
        columns = 1 if y.ndim == 1 else y.shape[1]
        long_call = 2.0 * self.size * self.size * columns > LONG_CALL_FLOPS
        solution: np.ndarray = run_interruptible(_core.cholesky_solve, self.factor, y.astype(np.float64, copy=False),
                                                 long_call=long_call)
        return solution


def factorize(gram: np.ndarray, tolerance: float, shift: float = 0.0) -> Optional[Cholesky]:
    """Return the Cholesky factorization of ``gram + shift I`` (computed in float64), or None.

    None when the factorization fails or its condition estimate is beyond
    :func:`reciprocal_condition_bound` of ``tolerance`` (the rank tolerance of the
    eigendecomposition the caller falls back to).
    """
    factor, rcond = _factor(gram, shift)
    if factor is None or not rcond >= reciprocal_condition_bound(tolerance):  # a NaN rcond fails too
        return None
    return Cholesky(factor, float(rcond))


def is_positive_definite(gram: np.ndarray, shift: float = 0.0) -> bool:
    """Tell whether the Cholesky factorization of ``gram + shift I`` (in float64) succeeds."""
    return _factor(gram, shift)[0] is not None


def _factor(gram: np.ndarray, shift: float) -> tuple[Optional[np.ndarray], float]:
    matrix = gram.astype(np.float64, copy=False)
    factor, rcond = run_interruptible(_core.cholesky_factor, matrix, shift,
                                      long_call=is_long_factorization(*matrix.shape))
    return factor, float(rcond)
