"""A least-squares problem and what the predictions need from one SVD of it."""

from __future__ import annotations

import math

import numpy as np

from widenet.app.experiments._rounding import backward_error
from widenet.app.experiments._statistics import FloatArray
from widenet.regression.least_squares import kernel_projector, min_norm_solution


class _Problem:
    """``A``, ``y``, ``w0`` and what the predictions need from one SVD of ``A``."""

    def __init__(self, A: FloatArray, y: FloatArray, w0: FloatArray) -> None:
        self.A, self.y, self.w0 = A, y, w0
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        self.U, self.singular, self.V = U, s, Vt.T
        self.s_max, self.kappa = float(s[0]), float(s[0] / s[-1])
        self.backward = backward_error(A.shape)
        self.w_star = min_norm_solution(A, y)
        self.kernel_part = kernel_projector(A) @ w0
        self.min_loss = float(np.sum((y - U @ (U.T @ y)) ** 2))  # |(I - A A^+) y|^2

    def limit(self, kernel_part_factor: float = 1.0) -> FloatArray:
        """Return ``w* + P_ker w0`` (Theorem 11.3), its second term scaled by ``kernel_part_factor``."""
        return self.w_star + kernel_part_factor * self.kernel_part

    def limit_rounding(self) -> float:
        """Return a first-order bound on the error of the computed ``w*`` and ``P_ker w0``.

        For the SVD's relative backward error ``e``: ``e (3 kappa |w*| + kappa (kappa + 1)
        |r_min| / s_max)`` for the least-squares solution (Higham, Theorems 20.1 and 21.1; the
        residual term vanishes when ``A`` has full row rank), ``2 kappa e |w0|`` for the
        projector, and ``e`` times each for the products that apply them.
        """
        residual = math.sqrt(self.min_loss)
        return self.backward * ((3.0 * self.kappa + 1.0) * np.linalg.norm(self.w_star)
                                + self.kappa * (self.kappa + 1.0) * residual / self.s_max
                                + (2.0 * self.kappa + 1.0) * np.linalg.norm(self.w0))

    def vector_error(self, i: int) -> float:
        """Return a bound on ``|v_i computed - v_i|``: ``sqrt 2 sin(angle)``.

        The angle is at most the SVD's backward error over the gap from ``s_i`` to the other
        singular values (the zeros of the kernel included when ``d > m``).
        """
        others = np.delete(self.singular, i)
        if self.A.shape[1] > self.singular.size:
            others = np.append(others, 0.0)
        gap = float(np.min(np.abs(others - self.singular[i]))) if others.size else math.inf
        return math.sqrt(2.0) * self.backward * self.s_max / gap

    def rate_error(self, lr: float) -> float:
        """Return a bound on the error of the computed ``|1 - 2 h s_i^2|``.

        Each ``s_i`` is within ``e s_max`` (Weyl), so the factor within ``4 h s_max^2 e``.
        """
        return 4.0 * lr * self.s_max**2 * self.backward


def _draw(rows: int, columns: int, rng: np.random.Generator) -> _Problem:
    """Draw a Gaussian problem ``A`` (``rows x columns``, entries of variance ``1/columns``), ``y`` and ``w0``."""
    A = rng.standard_normal((rows, columns)) / math.sqrt(columns)
    y = rng.standard_normal(rows)
    return _Problem(A, y, rng.standard_normal(columns))


def _norms(array: FloatArray) -> FloatArray:
    """Return the norm of every row of ``array``."""
    return np.sqrt(np.sum(array**2, axis=1))
