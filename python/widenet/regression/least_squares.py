"""Linear least squares ``f(w) = |A w - y|^2`` (docs/theory.md, section 1; chapter section 11.1).

The minimum-norm minimizer ``w* = A^+ y`` (11.1.3, Proposition 11.2), the bias
augmentation of Remark 11.1, and gradient descent (11.1.5) with the limit Theorem 11.3
predicts: ``w* + P_ker(A) w0``, for steps ``h`` up to ``1 / (2 s_max(A)^2)``.

Everything is computed in float64 from one singular value decomposition; the rank
tolerance is numpy's ``lstsq`` default: singular values below
``rcond * s_max(A)``, ``rcond = eps * max(m, d)``, count as zero. The solutions of a
well-conditioned ``A`` of full rank come instead from the Cholesky factorization of its
smaller Gram (:func:`_normal_equations_solution`). Solutions, limits and the
augmented matrix come back in the dtype of ``A`` (float32 stays float32, rounded once at the
end; values beyond its range become inf); :func:`gradient_descent` records its iterates in
float64, the precision its comparison with Theorem 11.3 needs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

from widenet import _cholesky, _memory, _solve
from widenet import _validation as check
from widenet._interrupt import is_long_factorization, run_interruptible
from widenet._native import _core
from widenet._types import FloatArray

_FLOAT64 = np.dtype(np.float64)

F64 = npt.NDArray[np.float64]


def _matrix(A: npt.ArrayLike, name: str = "A") -> F64:
    """Return ``A`` as a float64 (m, d) array with m, d >= 1."""
    matrix = check.as_array(A, name, _FLOAT64, 2)
    if matrix.size == 0:
        raise ValueError(f"{name}: expected at least one row and one column, got shape {matrix.shape}")
    return matrix


def _as_result(values: np.ndarray, dtype: np.dtype) -> FloatArray:
    """Return ``values`` rounded once to ``dtype``; beyond its range they are inf (their IEEE limit)."""
    with np.errstate(over="ignore"):
        return values.astype(dtype, copy=False)


def _targets(y: npt.ArrayLike, rows: int, name: str = "y") -> F64:
    """Check one target (shape (m,)) or several (shape (m, t)) per row of ``A``."""
    targets = check.as_array(y, name, _FLOAT64, (1, 2))
    if targets.shape[0] != rows or (targets.ndim == 2 and targets.shape[1] == 0):
        raise ValueError(f"{name}: expected shape ({rows},) or ({rows}, t) with t >= 1, one row per row "
                         f"of A, got {targets.shape}")
    return targets


def _rcond(rcond: Optional[float], shape: Tuple[int, ...]) -> float:
    if rcond is None:
        return _solve.rank_tolerance(np.float64, max(shape))
    return check.non_negative_real(rcond, "rcond")


def _row_space_basis(A: np.ndarray, rcond: Optional[float]) -> _solve.Spectrum:
    """Return the singular triplets ``(U_r, s_r, V_r)`` of ``A`` above the rank tolerance.

    The columns of ``V_r = right`` (d x r) are an orthonormal basis of the row space.
    """
    return _solve.singular(A, _rcond(rcond, A.shape))


def _pseudo_inverse_times(svd: _solve.Spectrum, y: np.ndarray, stacklevel: int = 5) -> F64:
    """Return ``A^+ y = V_r diag(1/s_r) U_r^T y`` from the truncated SVD of ``A``.

    Warns with the condition number ``s_1 / s_r`` when it costs accuracy (``stacklevel``
    counted from :meth:`widenet._solve.Spectrum.warn_if_ill_conditioned`: 5 is the caller's caller).
    """
    shape = (svd.left.shape[0], svd.right.shape[0])
    svd.warn_if_ill_conditioned(f"A (shape {shape})", "; a ridge term or a larger rcond regularises it.",
                                stacklevel=stacklevel)
    return svd.pseudo_inverse_times(y)


def _min_norm_times(A: np.ndarray, y: np.ndarray, rcond: Optional[float], where: str) -> F64:
    """Return ``A^+ y``: by the normal equations when well posed, else by the SVD (guarded as ``where``)."""
    solution = _normal_equations_solution(A, y, rcond)
    if solution is None:
        _memory.check_least_squares(where, *A.shape)
        solution = _pseudo_inverse_times(_row_space_basis(A, rcond), y, stacklevel=6)
    return solution


def _normal_equations_solution(A: np.ndarray, y: np.ndarray, rcond: Optional[float]) -> Optional[F64]:
    """Return ``A^+ y`` from the Cholesky factorization of the smaller Gram, or None.

    ``A^T (A A^T)^{-1} y`` when ``m <= d``, ``(A^T A)^{-1} A^T y`` otherwise: the answer of
    the SVD when that Gram is well conditioned (:func:`widenet._cholesky.factorize`, with the
    squared rank tolerance, as the Gram's eigenvalues are the squared singular values).
    The Gram squares the condition number, so the accepted ones (Gram's up to about 1e8)
    carry a relative error up to about ``eps kappa(A)^2``, near 1e-8, inside the 1e-6 below
    which no :class:`widenet.ConditioningWarning` is given. None otherwise: rank-deficient
    or ill-conditioned ``A`` take the SVD. ``A`` is scaled to unit size first, so that its
    Gram neither overflows nor loses digits to underflow.
    """
    size = float(np.max(np.abs(A)))
    if not 0.0 < size < np.inf:
        return None
    unit = A / size  # A^+ = unit^+ / size
    wide = A.shape[0] <= A.shape[1]
    product = run_interruptible(np.matmul, *((unit, unit.T) if wide else (unit.T, unit)),
                                long_call=is_long_factorization(*A.shape))
    cholesky = _cholesky.factorize(product, _rcond(rcond, A.shape) ** 2)
    if cholesky is None:
        return None
    solution: F64 = unit.T @ cholesky.solve(y) if wide else cholesky.solve(unit.T @ y)
    with np.errstate(over="ignore"):  # beyond the float range as the SVD's answer would be: inf
        return solution / size


def min_norm_solution(A: npt.ArrayLike, y: npt.ArrayLike, rcond: Optional[float] = None) -> FloatArray:
    """Return the minimum-norm least-squares solution ``w* = A^+ y`` (11.1.3).

    By Proposition 11.2 it is the unique minimizer of ``|A w - y|^2`` in the row space
    of ``A`` (the span of the data points). ``A`` may have any shape and rank.

    Parameters
    ----------
    A : array_like, shape (m, d)
        The rows are the data points ``x_i`` (11.1.1).
    y : array_like, shape (m,) or (m, t)
        Targets; a 2-D ``y`` solves ``t`` problems with the same ``A``.
    rcond : float, optional
        Singular values below ``rcond * s_max(A)`` are treated as zero; default
        ``eps * max(m, d)`` as in :func:`numpy.linalg.lstsq`. When the condition number
        of the rest exceeds 1e10 (a relative error bound near 1e-6), a
        :class:`widenet.ConditioningWarning` gives it. A full-rank ``A`` with condition
        number up to about 1e4 is solved by the Cholesky factorization of ``A A^T`` (or
        ``A^T A`` when ``m > d``) instead of the SVD, with a relative error up to about
        ``eps kappa^2``.

    Returns
    -------
    ndarray, shape (d,) or (d, t)
        In the dtype of ``A`` (computed in float64).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.min_norm_solution(np.array([[1.0, 1.0]]), [2.0])  # the shortest w with w_1 + w_2 = 2
    array([1., 1.])
    """
    dtype = check.float_dtype_of(check.asarray(A, "A"))
    matrix = _matrix(A)
    targets = _targets(y, matrix.shape[0])
    _memory.check_normal_equations("min_norm_solution", *matrix.shape)
    return _as_result(_min_norm_times(matrix, targets, rcond, "min_norm_solution"), dtype)


def augment(X: npt.ArrayLike) -> FloatArray:
    """Return the bias augmentation ``x -> (1, x)`` of Remark 11.1.

    ``Phi(x, (w, b)) = w.x + b = (1, x^T) (b, w)``, so a model with a bias is linear least
    squares on ``augment(X)`` with parameters ``(b, w)``.

    Parameters
    ----------
    X : array_like, shape (m, d)

    Returns
    -------
    ndarray, shape (m, d + 1)
        ``X`` with a first column of ones, float32 for float32 ``X`` and float64 otherwise.
    """
    points = check.as_points(X, "X", min_rows=0)
    return np.hstack([np.ones((points.shape[0], 1), dtype=points.dtype), points])


def max_step(A: npt.ArrayLike) -> float:
    """Return the largest step of Theorem 11.3, ``1 / (2 s_max(A)^2)``.

    ``f(w) = |A w - y|^2`` has gradient ``2 A^T (A w - y)`` and Hessian ``2 A^T A``; for
    ``0 < h <= max_step(A)`` every factor ``1 - 2 h s_i^2`` of the GD map lies in
    ``[0, 1)``. (GD still converges for ``h < 1 / s_max^2``, twice this value, but
    outside the hypothesis of the theorem.) ``inf`` for ``A = 0``.
    """
    matrix = _matrix(A)
    _memory.require("max_step", [("copy of A for its singular values", matrix.shape, np.float64, 1)],
                    "Pass a smaller matrix.")
    return _max_step(matrix)


def _max_step(A: np.ndarray) -> float:
    s_max = float(run_interruptible(np.linalg.norm, A, 2, long_call=is_long_factorization(*A.shape)))
    return np.inf if s_max == 0 else 0.5 / s_max / s_max  # (s_max**2 raises OverflowError from 1.4e154 on)


def row_space_projector(A: npt.ArrayLike, rcond: Optional[float] = None) -> F64:
    """Return the orthogonal projector ``V_r V_r^T`` (d x d) onto the row space of ``A``.

    The row space is the space ``H~ = span{x_1, ..., x_m}`` of Proposition 11.2 and
    Theorem 11.3.
    """
    matrix = _matrix(A)
    m, d = matrix.shape
    _memory.check_least_squares("row_space_projector", m, d, outputs=[("projector", (d,) * 2, np.float64, 1)])
    V = _row_space_basis(matrix, rcond).right
    return V @ V.T


def kernel_projector(A: npt.ArrayLike, rcond: Optional[float] = None) -> F64:
    """Return the orthogonal projector ``I - V_r V_r^T`` (d x d) onto ``ker(A) = H~^perp``.

    It maps ``w0`` to the part ``w^_0`` that gradient descent never changes (Theorem 11.3).
    """
    matrix = _matrix(A)
    m, d = matrix.shape
    _memory.check_least_squares("kernel_projector", m, d, outputs=[("projector and the identity", (d,) * 2,
                                                                    np.float64, 2)])
    return np.eye(d) - row_space_projector(matrix, rcond)


def predicted_limit(A: npt.ArrayLike, y: npt.ArrayLike, w0: npt.ArrayLike,
                    rcond: Optional[float] = None) -> FloatArray:
    """Return the limit of gradient descent from ``w0``, ``w* + P_ker(A) w0`` (Theorem 11.3).

    Computed as ``w0 + A^+ (y - A w0)``, the same vector, so that a well-conditioned ``A`` of
    full rank is solved as in :func:`min_norm_solution`.

    Parameters
    ----------
    A : array_like, shape (m, d)
    y : array_like, shape (m,) or (m, t)
    w0 : array_like, shape (d,) or (d, t)
        The initial parameters, shaped like the solution.
    rcond : float, optional
        Rank tolerance, as in :func:`min_norm_solution`.

    Returns
    -------
    ndarray, shaped like ``w0``
        In the dtype of ``A`` (computed in float64).
    """
    dtype = check.float_dtype_of(check.asarray(A, "A"))
    matrix = _matrix(A)
    targets = _targets(y, matrix.shape[0])
    start = check.as_shaped(w0, "w0", _FLOAT64, (matrix.shape[1],) + targets.shape[1:])
    _memory.check_normal_equations("predicted_limit", *matrix.shape)
    return _as_result(start + _min_norm_times(matrix, targets - matrix @ start, rcond, "predicted_limit"), dtype)


@dataclass(frozen=True)
class LeastSquaresGD:
    """Records of gradient descent on ``|A w - y|^2``, taken at the steps in ``steps``.

    Attributes
    ----------
    steps : ndarray of int64, shape (records,)
        Recorded step indices ``k``: 0, every ``record_every`` steps, and the last step.
    iterates : ndarray of float64, shape (records, d) or (records, d, t)
        ``w_k``.
    losses : ndarray of float64, shape (records,)
        ``f(w_k) = |A w_k - y|^2`` (summed over targets).
    distances : ndarray of float64, shape (records,)
        ``|w_k - w_lim|``, the distance to the predicted limit.
    limit : ndarray of float64, shape (d,) or (d, t)
        ``w_lim = w* + P_ker(A) w0`` (Theorem 11.3).
    rate : float
        ``max |1 - 2 h s_i^2|`` over the nonzero singular values ``s_i`` of ``A``:
        ``distances[j] <= rate^steps[j] * distances[0]``.
    lr : float
        The step ``h``.
    max_step : float
        ``1 / (2 s_max(A)^2)``, the largest step of Theorem 11.3.
    """

    steps: npt.NDArray[np.int64]
    iterates: F64
    losses: F64
    distances: F64
    limit: F64
    rate: float
    lr: float
    max_step: float

    @property
    def w(self) -> F64:
        """The last iterate."""
        return self.iterates[-1]


def gradient_descent(A: npt.ArrayLike, y: npt.ArrayLike, w0: npt.ArrayLike, lr: float, steps: int,
                     record_every: int = 1, rcond: Optional[float] = None) -> LeastSquaresGD:
    """Run gradient descent ``w_{k+1} = w_k - h 2 A^T (A w_k - y)`` (11.1.5) on ``|A w - y|^2``.

    Theorem 11.3: for ``0 < h <= 1 / (2 s_max(A)^2)`` the iterates converge to
    ``w* + P_ker(A) w0``, geometrically: ``w_k - w_lim = (I - 2 h A^T A)^k (w0 - w_lim)``
    and ``w0 - w_lim`` lies in the row space.

    Parameters
    ----------
    A : array_like, shape (m, d)
    y : array_like, shape (m,) or (m, t)
    w0 : array_like, shape (d,) or (d, t)
    lr : float
        The step ``h``. Up to ``max_step(A) = 1 / (2 s_max^2)`` (Theorem 11.3) it is
        accepted silently; between that and ``1 / s_max^2`` GD still converges but the
        theorem does not apply, and a ``UserWarning`` says so; from ``1 / s_max^2`` on GD
        does not converge (the factor ``1 - 2 h s_max^2 <= -1``) and ValueError is raised.
    steps : int
        Number of GD steps, >= 0.
    record_every : int
        Record every this many steps (the last step is always recorded).
    rcond : float, optional
        Rank tolerance for the predicted limit, as in :func:`min_norm_solution`.

    Returns
    -------
    LeastSquaresGD
    """
    matrix = _matrix(A)
    targets = _targets(y, matrix.shape[0])
    w = check.as_shaped(w0, "w0", _FLOAT64, (matrix.shape[1],) + targets.shape[1:]).copy()
    lr = check.positive_real(lr, "lr")
    steps = check.integer(steps, "steps", 0)
    record_every = check.integer(record_every, "record_every", 1)
    records = _memory.recorded_count(steps, record_every)
    _memory.check_least_squares("gradient_descent", matrix.shape[0], matrix.shape[1], outputs=[
        ("recorded iterates", (records, w.size), np.float64, 1), ("loss, distance and step records", (records,),
                                                                   np.float64, 3)])

    svd = _row_space_basis(matrix, rcond)
    V, s = svd.right, svd.values
    bound = _max_step(matrix)
    if lr >= 2.0 * bound:
        raise ValueError(f"lr: GD on |Aw - y|^2 does not converge for lr >= 1/s_max(A)^2 = {2 * bound:.6g}; "
                         f"Theorem 11.3 needs lr <= 1/(2 s_max^2) = {bound:.6g}, got {lr!r}")
    if lr > bound:
        warnings.warn(f"lr = {lr!r} is above 1/(2 s_max(A)^2) = {bound:.6g}, the range of Theorem 11.3 "
                      "(GD still converges below 1/s_max^2)", UserWarning, stacklevel=2)
    limit = _pseudo_inverse_times(svd, targets) + (w - V @ (V.T @ w))
    rate = float(np.max(np.abs(1.0 - 2.0 * lr * s**2), initial=0.0))

    recorded = _core.recorded_steps(steps, record_every)
    iterates, losses, distances, row = np.empty((records,) + w.shape), np.empty(records), np.empty(records), 0
    for k in range(steps + 1):
        residual = matrix @ w - targets
        if k == recorded[row]:
            iterates[row] = w
            losses[row] = float(np.sum(residual**2))
            distances[row] = np.sqrt(np.sum((w - limit) ** 2))
            row += 1
        if k < steps:
            w -= lr * 2.0 * (matrix.T @ residual)
    return LeastSquaresGD(recorded, iterates, losses, distances, limit, rate, lr, bound)
