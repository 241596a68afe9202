"""Kernel regression by conjugate gradients on a tiled Gram: :func:`conjugate_gradient`.

Solves ``(K + ridge I) alpha = y`` with one matrix-vector product by tiles per iteration
(:mod:`widenet.distributed.operators`); the client holds a handful of vectors of length
``m``, never the matrix. This is the kernel least-squares estimator (11.2.9)-(11.2.10)
(``ridge = 0``) or kernel ridge regression.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, List, Literal, Optional, Tuple

import numpy as np
import numpy.typing as npt

from widenet import _validation as check
from widenet.distributed.operators import DaskArrayOperator, Operator, TileOperator
from widenet.distributed.tiles import GRIDS

PRECONDITIONERS = (None, "jacobi")

Preconditioner = Literal["jacobi"]
"""The preconditioners of :func:`conjugate_gradient` (or None)."""


@dataclass(frozen=True)
class CGResult:
    """What :func:`conjugate_gradient` found, and how.

    Parameters
    ----------
    solution, converged, iterations, residuals, final_residual, tol, ridge, preconditioner, matvecs, seconds, notes
        The attributes below, by the same names: :func:`conjugate_gradient` fills them in.

    Attributes
    ----------
    solution : ndarray of float64, shape (m,)
        ``alpha``, the dual coefficients: predictions are ``K(x, X) alpha``.
    converged : bool
        Whether the relative residual reached ``tol`` within ``max_iter`` iterations.
    iterations : int
    residuals : ndarray of float64
        ``|y - (K + ridge I) alpha_k| / |y|`` for ``k = 0, 1, ...`` as the recurrence
        updates it (``residuals[0] = 1``).
    final_residual : float
        The same quantity recomputed from ``alpha`` with one more product (the recurrence
        drifts from it by rounding).
    tol, ridge : float
    preconditioner : str or None
    matvecs : int
        Products by tiles, the final check included.
    seconds : float
        Wall time.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import distributed
    >>> X = np.random.default_rng(0).standard_normal((40, 2))
    >>> K = distributed.gram_tiled(widenet.RBFKernel(0.5), X, tile=16)
    >>> report = distributed.conjugate_gradient(K, np.ones(40), ridge=0.1)
    >>> report.converged, report.solution.shape
    (True, (40,))
    """

    solution: npt.NDArray[np.float64]
    converged: bool
    iterations: int
    residuals: npt.NDArray[np.float64]
    final_residual: float
    tol: float
    ridge: float
    preconditioner: Optional[str]
    matvecs: int
    seconds: float
    notes: Tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        extra = "".join(f"; {note}" for note in self.notes)
        return (f"CG {state} in {self.iterations} iterations ({self.matvecs} products by tiles, {self.seconds:.1f} s): "
                f"relative residual {self.final_residual:.3g} (tol {self.tol:g}), ridge {self.ridge:g}, "
                f"preconditioner {self.preconditioner}{extra}")


def checked_options(ridge: float, tol: float, max_iter: Optional[int], preconditioner: Optional[str],
                    persist: bool) -> Tuple[float, float, Optional[int], Optional[str], bool]:
    """Check the options of the conjugate gradients; return ``(ridge, tol, max_iter, preconditioner, persist)``."""
    ridge = check.non_negative_real(ridge, "ridge")
    tol = check.positive_real(tol, "tol")
    max_iter = None if max_iter is None else check.integer(max_iter, "max_iter", 1)
    if preconditioner is not None:
        preconditioner = check.choice(preconditioner, "preconditioner", ("jacobi",))
    persist = check.boolean(persist, "persist")
    return ridge, tol, max_iter, preconditioner, bool(persist)


def conjugate_gradient(K: Any, y: npt.ArrayLike, *, ridge: float = 0.0, tol: float = 1e-8,
                       max_iter: Optional[int] = None, preconditioner: Optional[Preconditioner] = None,
                       persist: bool = True, client: Any = None) -> CGResult:
    """Solve ``(K + ridge I) alpha = y`` by (preconditioned) conjugate gradients.

    The products ``K v`` are computed by tiles on the cluster.

    Parameters
    ----------
    K : dask.array.Array, shape (m, m)
        A symmetric positive semidefinite matrix: best straight from :func:`gram_tiled`
        (with a ``dask.distributed`` client), whose symmetric layout and scattered blocks
        are then used tile by tile; any other square dask array is multiplied by Dask's
        own blocked product.
    y : array_like, shape (m,) or (m, 1)
    ridge : float
        ``>= 0``. With ``ridge = 0`` and ``y`` in the range of ``K`` (always, when ``K`` is
        nonsingular), CG from ``alpha_0 = 0`` stays in the Krylov space of ``K`` and ``y``,
        which lies in the range of ``K``: without a preconditioner it converges to the
        minimum-norm solution ``K^+ y``. With the Jacobi preconditioner it converges to the
        solution of least ``D``-weighted norm instead; both predict the same (solutions
        differ by a null vector of ``K``, and for a positive semidefinite kernel those
        predict zero everywhere). A ``y`` outside the range (a singular ``K``, no ridge)
        has no solution: the residual stalls and the result says ``converged=False``.
    tol : float
        Stops when ``|y - (K + ridge I) alpha_k| <= tol |y|``.
    max_iter : int, optional
        Default ``m`` (the exact-arithmetic bound).
    preconditioner : {None, "jacobi"}
        ``"jacobi"`` scales by ``1 / (K_ii + ridge)`` (the kernel's diagonal, computed by
        blocks on the workers): helps when the diagonal varies, as for the tangent kernel
        of points of different norms.
    persist : bool
        True (default): compute the tiles once and keep them in the workers' memory (for
        the symmetric Gram, half of ``m^2`` numbers across the cluster), then every
        iteration is one pass over that memory. False: recompute the tiles in every
        iteration (memory a few tiles per worker, time per iteration that of a whole
        Gram): for matrices that do not fit in the cluster's memory.
    client : dask.distributed.Client, optional
        For a dask array not made by :func:`gram_tiled` (whose own client is used): the
        client that computes it, default the current one; without any, Dask's local
        scheduler multiplies it block by block.

    Returns
    -------
    CGResult
        The solution and the convergence report (iterations, residual history).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import distributed
    >>> X = np.random.default_rng(0).standard_normal((40, 2))
    >>> K = distributed.gram_tiled(widenet.RBFKernel(0.5), X, tile=16)
    >>> report = distributed.conjugate_gradient(K, np.ones(40), ridge=0.1, preconditioner="jacobi")
    >>> G = widenet.RBFKernel(0.5)(X) + 0.1 * np.eye(40)
    >>> bool(np.allclose(G @ report.solution, np.ones(40), atol=1e-5))
    True
    """
    import dask.array as da

    if not isinstance(K, da.Array):
        raise TypeError(f"K: expected a dask.array.Array (from gram_tiled), got {type(K).__name__}")
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K: expected a square matrix, got shape {K.shape}")
    ridge, tol, max_iter, scaling, persist = checked_options(ridge, tol, max_iter, preconditioner, persist)
    targets = check.as_targets(y, "y", np.dtype(np.float64), K.shape[0])
    started = time.perf_counter()
    grid = GRIDS.get(K.name)
    operator: Operator
    if grid is not None and grid.symmetric and grid.client is not None:
        operator = TileOperator(grid, persist=persist)
    else:
        operator = DaskArrayOperator(K, persist=persist, client=client)
    return solve(operator, targets, ridge, tol, max_iter, scaling, started)


def solve(operator: Operator, y: npt.NDArray[np.float64], ridge: float, tol: float, max_iter: Optional[int],
          preconditioner: Optional[str], started: float) -> CGResult:
    """Run CG on an operator with ``shape``, ``matvec``, ``diagonal`` and ``close``; close the operator.

    The arguments are checked ones.
    """
    try:
        max_iter = operator.shape[0] if max_iter is None else max_iter
        scale = None
        if preconditioner == "jacobi":
            diagonal = operator.diagonal() + ridge
            # a zero (or negative, by rounding) entry is left unscaled rather than divided by
            scale = np.where(diagonal > 0, 1.0 / np.where(diagonal > 0, diagonal, 1.0), 1.0)
        return _iterate(operator, y, ridge, tol, max_iter, scale, preconditioner, started)
    finally:
        operator.close()


def _iterate(operator: Operator, y: npt.NDArray[np.float64], ridge: float, tol: float, max_iter: int,
             scale: Optional[npt.NDArray[np.float64]], preconditioner: Optional[str], started: float) -> CGResult:
    norm_y = float(np.linalg.norm(y))
    alpha = np.zeros_like(y)
    notes: List[str] = []
    if norm_y == 0.0:
        return CGResult(alpha, True, 0, np.array([0.0]), 0.0, tol, ridge, preconditioner, 0,
                        time.perf_counter() - started)

    def apply(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return operator.matvec(v) + ridge * v

    residual = y.copy()
    z = residual * scale if scale is not None else residual
    direction = z.copy()
    rz = float(residual @ z)
    history = [1.0]
    matvecs = 0
    while history[-1] > tol and len(history) <= max_iter:
        product = apply(direction)
        matvecs += 1
        curvature = float(direction @ product)
        if not math.isfinite(curvature) or curvature <= 0.0:
            notes.append(f"stopped: direction with p.Kp = {curvature:.3g} (y outside the range of a singular K?)")
            break
        step = rz / curvature
        alpha += step * direction
        residual -= step * product
        history.append(float(np.linalg.norm(residual)) / norm_y)
        z = residual * scale if scale is not None else residual
        rz_next = float(residual @ z)
        direction = z + (rz_next / rz) * direction
        rz = rz_next
    final = float(np.linalg.norm(y - apply(alpha))) / norm_y
    matvecs += 1
    return CGResult(alpha, bool(history[-1] <= tol), len(history) - 1, np.array(history), final, tol, ridge,
                    preconditioner, matvecs, time.perf_counter() - started, tuple(notes))
