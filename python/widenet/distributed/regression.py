"""Kernel regression on a cluster as an estimator: :class:`TiledKernelRegressor`."""

from __future__ import annotations

import time
from typing import Any, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet import _validation as check
from widenet.distributed.cg import CGResult, Preconditioner, checked_options, solve
from widenet.distributed.operators import TileOperator, rows_product
from widenet.distributed.tiles import DEFAULT_TILE, TileGrid


class TiledKernelRegressor:
    """Kernel least squares (11.2.9)-(11.2.10) or kernel ridge regression on a cluster.

    For data too large for one machine's memory: ``fit`` solves ``(K + ridge I) alpha = y`` by
    :func:`conjugate_gradient` on the tiled Gram, ``predict`` computes ``K(x, X) alpha`` by
    tiles. Follows scikit-learn's conventions (``fit`` returns ``self``; fitted attributes
    end in ``_``).

    Parameters
    ----------
    kernel : widenet kernel or network
        As for :func:`gram_tiled` (a network: its tangent kernel).
    ridge, tol, max_iter, preconditioner, persist
        As for :func:`conjugate_gradient`.
    tile : int
        Rows per tile.
    client : dask.distributed.Client, optional
        Default: the current client.

    Attributes
    ----------
    dual_coef_ : ndarray, shape (m,)
        ``alpha``.
    report_ : CGResult
        Iterations, residual history and whether CG converged. ``fit`` does not raise when
        it did not: check ``report_.converged``.
    X_fit_ : ndarray, shape (m, d)
        The training points (kept on the client, ``m x d`` numbers).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import distributed
    >>> X = np.random.default_rng(0).standard_normal((40, 2))
    >>> from distributed import Client
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:  # a cluster on this machine
    ...     model = distributed.TiledKernelRegressor(widenet.RBFKernel(0.5), ridge=0.1, tile=16, client=client)
    ...     predictions = model.fit(X, np.sin(X[:, 0])).predict(X[:3])
    >>> predictions.shape, model.report_.converged
    ((3,), True)
    """

    def __init__(self, kernel: object, *, ridge: float = 0.0, tol: float = 1e-8, max_iter: Optional[int] = None,
                 preconditioner: Optional[Preconditioner] = None, persist: bool = True,
                 tile: Union[int, Tuple[int, int]] = DEFAULT_TILE, client: Any = None) -> None:
        self.kernel = kernel
        self.ridge = ridge
        self.tol = tol
        self.max_iter = max_iter
        self.preconditioner = preconditioner
        self.persist = persist
        self.tile = tile
        self.client = client

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> TiledKernelRegressor:
        """Solve ``(K + ridge I) alpha = y`` on the tiled Gram of ``X``; return ``self``."""
        ridge, tol, max_iter, preconditioner, persist = checked_options(self.ridge, self.tol, self.max_iter,
                                                                        self.preconditioner, self.persist)
        started = time.perf_counter()
        grid = TileGrid(self.kernel, X, None, self.tile, self.client)
        targets = check.as_targets(y, "y", np.dtype(np.float64), grid.shape[0])
        report = solve(TileOperator(grid, persist), targets, ridge, tol, max_iter, preconditioner, started)
        self.kernel_ = grid.kernel
        self.X_fit_ = grid.X1
        self.dual_coef_ = report.solution
        self.report_: CGResult = report
        return self

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return ``K(x, X_fit) alpha`` for the rows of ``X``, by tiles on the workers (float64)."""
        if not hasattr(self, "dual_coef_"):
            from widenet.regression.estimators import NotFittedError

            raise NotFittedError("TiledKernelRegressor: call fit(X, y) before predict")
        grid = TileGrid(self.kernel_, X, self.X_fit_, self.tile, self.client)
        if grid.client is None:
            raise ValueError("client: the tiled predictions run on a dask.distributed cluster; pass client= or "
                             "create a Client first")
        return rows_product(grid, self.dual_coef_)

    def __repr__(self) -> str:
        return f"TiledKernelRegressor({self.kernel!r}, ridge={self.ridge}, tile={self.tile})"
