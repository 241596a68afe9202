"""Rounding-error bounds for the deterministic experiments' tolerances (float64).

``gamma_n = n u / (1 - n u)`` bounds the relative error of a sum of ``n`` rounded terms
(``u`` the unit roundoff; Higham, Accuracy and Stability of Numerical Algorithms, section
3.1), and ``gamma_(m n)`` the relative backward error of a Householder reduction of an
``m x n`` matrix, the first step of its SVD or eigendecomposition (Higham, Theorem 19.4, with
its small constant taken as 1).
"""

from __future__ import annotations

import numpy as np

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2.0


def gamma(n: int) -> float:
    """Return ``gamma_n = n u / (1 - n u)``, the relative error bound of a sum of ``n`` rounded terms."""
    return n * UNIT_ROUNDOFF / (1.0 - n * UNIT_ROUNDOFF)


def backward_error(shape: tuple[int, ...]) -> float:
    """Return ``gamma_(m n)``, the relative backward error of one SVD or eigendecomposition.

    It is taken for a matrix of ``shape`` ``(m, n)``: the computed factors are exact for
    ``A + E`` with ``|E| <= gamma_(m n) |A|``.
    """
    return gamma(int(np.prod(shape)))
