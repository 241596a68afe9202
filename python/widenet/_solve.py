"""The minimum-norm solve behind every least-squares fit of the package.

One factorization of the matrix, :func:`numpy.linalg.svd` of a general ``A`` or
:func:`numpy.linalg.eigh` of a symmetric Gram (run so that Ctrl-C stops the wait for it,
:mod:`widenet._interrupt`); the rank cut-off: values whose magnitude is at most
``tolerance`` times the largest count as zero; a :class:`widenet.ConditioningWarning` when
the values kept are ill-conditioned (:mod:`widenet._conditioning`); and the pseudo-inverse,
or any spectral filter, applied to one target (shape (m,)) or several (shape (m, t)).

The tolerances are ``eps * size`` (:func:`rank_tolerance`): ``eps * max(m, d)`` is
numpy's ``lstsq`` default for a matrix, ``eps * m`` the rounding of the eigenvalues of an
``m x m`` Gram, with the ``eps`` of the dtype the Gram was computed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from widenet._conditioning import warn_if_ill_conditioned
from widenet._interrupt import is_long_factorization, run_interruptible


def rank_tolerance(dtype: DTypeLike, size: int) -> float:
    """Return ``eps * size`` for the ``eps`` of ``dtype``: the relative rank cut-off."""
    return float(np.finfo(dtype).eps * size)


def kept(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Return which of ``values`` lie above the rank cut-off, ``|value| > tolerance * max |value|``."""
    return np.abs(values) > tolerance * np.max(np.abs(values))


def eigenvalues(gram: np.ndarray) -> np.ndarray:
    """Return the eigenvalues of a symmetric Gram, ascending (:func:`numpy.linalg.eigvalsh`)."""
    return run_interruptible(np.linalg.eigvalsh, gram, long_call=is_long_factorization(*gram.shape))


@dataclass(frozen=True)
class Spectrum:
    """A factorization ``left diag(values) right^T`` with its numerical rank.

    For a general matrix (:func:`singular`): the singular triplets above the cut-off,
    ``left = U_r``, ``values = s_r``, ``right = V_r`` (``truncated``); ``dropped`` counts
    the others. For a symmetric Gram (:func:`symmetric`): all eigenvalues (ascending, plus
    the shift) with their eigenvectors in ``left`` and ``right``; ``keep`` marks those above
    the cut-off and ``unshifted`` holds the eigenvalues of the Gram itself (for a general
    matrix, the singular values kept).
    """

    left: np.ndarray
    values: np.ndarray
    right: np.ndarray
    keep: np.ndarray
    truncated: bool
    unshifted: np.ndarray

    @property
    def rank(self) -> int:
        """The number of values above the cut-off."""
        return int(np.count_nonzero(self.keep))

    @property
    def dropped(self) -> int:
        """The number of values at or below the cut-off (treated as zero)."""
        return min(self.left.shape[0], self.right.shape[0]) - self.rank

    def warn_if_ill_conditioned(self, what: str, advice: str, stacklevel: int = 4) -> float:
        """Warn when the values kept are ill-conditioned; return their condition number.

        See :func:`widenet._conditioning.warn_if_ill_conditioned`; ``stacklevel`` is
        counted from here (4: the caller's caller).
        """
        return warn_if_ill_conditioned(self.values[self.keep], self.dropped, what, advice, stacklevel=stacklevel)

    def filtered(self, factors: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return ``right diag(factors) left^T y`` for ``y`` of shape (m,) or (m, t)."""
        projected = self.left.T @ y
        return self.right @ (factors[:, None] * projected if y.ndim == 2 else factors * projected)

    def pseudo_inverse_times(self, y: np.ndarray) -> np.ndarray:
        """Return the minimum-norm solution, the pseudo-inverse applied to ``y``.

        ``y`` has shape (m,) or (m, t); every value at or below the cut-off counts as zero.
        """
        if self.truncated:  # V_r diag(1/s_r) U_r^T y
            return self.right @ ((self.left.T @ y) / (self.values[:, None] if y.ndim == 2 else self.values))
        return self.filtered(self.reciprocals(), y)

    def reciprocals(self) -> np.ndarray:
        """Return ``1 / value`` for the values kept and 0 for the others (the pseudo-inverse's filter)."""
        return np.divide(1.0, self.values, out=np.zeros_like(self.values), where=self.keep)


def singular(A: np.ndarray, tolerance: float) -> Spectrum:
    """Factorize ``A`` (float64, m x d) by its singular value decomposition.

    The triplets are cut at ``tolerance`` relative to the largest singular value; the
    columns of ``right`` are an orthonormal basis of the row space.
    """
    U, s, Vt = run_interruptible(np.linalg.svd, A, full_matrices=False, long_call=is_long_factorization(*A.shape))
    keep = kept(s, tolerance)
    s = s[keep]
    return Spectrum(U[:, keep], s, Vt[keep].T, np.ones(s.size, dtype=bool), True, s)


def symmetric(gram: np.ndarray, tolerance: float, shift: float = 0.0) -> Spectrum:
    """Factorize the symmetric ``gram`` by its eigendecomposition, computed in float64.

    ``shift`` is added to every eigenvalue: they are those of ``gram + shift I``, which has
    the same eigenvectors, so no second m x m matrix is formed. The eigenvalues are cut at
    ``tolerance`` relative to the largest magnitude.
    """
    values, vectors = run_interruptible(np.linalg.eigh, gram.astype(np.float64, copy=False),
                                        long_call=is_long_factorization(*gram.shape))
    shifted = values + shift
    return Spectrum(vectors, shifted, vectors, kept(shifted, tolerance), False, values)
