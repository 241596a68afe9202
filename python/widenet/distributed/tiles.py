"""Kernel matrices by tiles on a Dask cluster: :func:`gram_tiled`.

The rows of ``X1`` and ``X2`` are cut into blocks that are sent to the workers once
(``client.scatter``), together with the kernel (a network's parameters travel once, not
with every tile). Tile ``(i, j)`` is one task that calls the kernel's compiled code on
blocks ``i`` and ``j``; for the symmetric Gram only the tiles on and above the diagonal
are computed and those below are their transposes.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any, Dict, List, Optional, Tuple, Union, cast

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.highlevelgraph import HighLevelGraph

from widenet import _validation as check
from widenet._runtime import one_thread
from widenet._types import KernelName
from widenet.kernels import Kernel, LimitKernel, TangentKernel, as_kernel
from widenet.kernels.base import checked_pair
from widenet.kernels.classic import KernelFunction

# dask array name -> the TileGrid it was made from (see gram_tiled)
GRIDS: Dict[str, TileGrid] = {}

DEFAULT_TILE = 4096
"""Rows (and columns) per tile unless told: a float64 tile of 128 MiB, and few enough
tiles that Dask's per-task overhead (about a millisecond) stays small next to the work.

Examples
--------
>>> from widenet import distributed
>>> distributed.DEFAULT_TILE ** 2 * 8 // 2**20  # MiB in a float64 tile
128
"""


def default_client() -> Any:
    """Return the current ``dask.distributed`` client, or None (then Dask's local scheduler)."""
    from distributed import default_client as current

    try:
        return current()
    except ValueError:
        return None


def checked_kernel(kernel: Any, input_dim: int) -> Kernel:
    """Return ``kernel`` as a widenet kernel object: a network stands for its tangent kernel."""
    if isinstance(kernel, Kernel):
        return kernel
    if hasattr(kernel, "ntk") and hasattr(kernel, "ntk_diag"):
        return TangentKernel(kernel)
    if isinstance(kernel, str) or callable(kernel):
        # as_kernel checks the name (or calls the function) itself
        return as_kernel(cast(Union[KernelName, KernelFunction], kernel), n_features=input_dim)
    raise TypeError(f"kernel: expected a widenet kernel (RBFKernel(...), LimitKernel(...), ...), a kernel name or a "
                    f"network (its tangent kernel), got {type(kernel).__name__}")


def checked_points(kernel: object, X1: npt.ArrayLike,
                   X2: Optional[npt.ArrayLike]) -> Tuple[Kernel, np.ndarray, Optional[np.ndarray]]:
    """Return ``(kernel, X1, X2)`` validated; ``X2`` None for the symmetric Gram.

    The points take the dtype the kernel computes in: a network's own, float64 for the limit kernels, and
    float32 or float64 as given for the classic kernels.
    """
    symmetric = X2 is None or X2 is X1
    model = getattr(kernel, "model", None) if isinstance(kernel, TangentKernel) else None
    if model is None and not isinstance(kernel, Kernel) and hasattr(kernel, "ntk_diag"):
        model = kernel
    if model is not None and hasattr(model, "input_dim") and hasattr(model, "dtype"):
        P1 = check.as_inputs(X1, "X1", model.dtype, model.input_dim)
        P2 = None if symmetric else check.as_inputs(X2, "X2", model.dtype, model.input_dim)
    else:  # the limit kernels compute in float64
        dtype = np.dtype(np.float64) if isinstance(kernel, LimitKernel) else None
        P1, P2 = checked_pair(X1, None if symmetric else X2, dtype, min_columns=1)
    return checked_kernel(kernel, P1.shape[1]), P1, P2


def checked_tile(tile: object) -> Tuple[int, int]:
    """Return ``tile`` as ``(rows, cols)``: an int (square tiles) or a pair of ints, each >= 1."""
    if isinstance(tile, (tuple, list)):
        if len(tile) != 2:
            raise ValueError(f"tile: expected an int or (rows, cols), got {tile!r}")
        return check.integer(tile[0], "tile", 1), check.integer(tile[1], "tile", 1)
    size = check.integer(tile, "tile", 1)
    return size, size


def bounds(total: int, size: int) -> List[Tuple[int, int]]:
    """Return the ``(start, stop)`` of the blocks of ``size`` (the last may be shorter) that cover ``range(total)``."""
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def compute_tile(kernel: Kernel, A: np.ndarray, B: Optional[np.ndarray]) -> np.ndarray:
    """Compute one tile on a worker: ``K(A, B)``, or the symmetric ``K(A, A)`` when ``B`` is None."""
    with one_thread():
        return kernel(A) if B is None else kernel(A, B)


class TileGrid:
    """The blocks of one Gram ``K(X1, X2)``, placed on the cluster (or in the local graph).

    Attributes
    ----------
    kernel : Kernel
    row_bounds, col_bounds : list of (start, stop)
    symmetric, mirrored : bool
        ``X2`` was None: tiles below the diagonal are transposes of those above.
    dtype : numpy.dtype
        The dtype of the kernel's values.
    client : dask.distributed.Client or None
    kernel_ref, row_refs, col_refs
        Futures (with a client) or keys of embedded data (without), for the tasks.
    """

    def __init__(self, kernel: object, X1: npt.ArrayLike, X2: Optional[npt.ArrayLike] = None,
                 tile: Union[int, Tuple[int, int]] = DEFAULT_TILE, client: Any = None) -> None:
        checked, P1, P2 = checked_points(kernel, X1, X2)
        rows, cols = checked_tile(tile)
        if P2 is None and rows != cols:
            raise ValueError(f"tile: the symmetric Gram (X2=None) takes square tiles (those below the diagonal are "
                             f"the transposes of those above), got {tile!r}")
        self.kernel = checked
        self.X1 = P1
        self.shape = (P1.shape[0], P1.shape[0] if P2 is None else P2.shape[0])
        self.symmetric = P2 is None
        self.row_bounds = bounds(self.shape[0], rows)
        self.col_bounds = bounds(self.shape[1], cols)
        self.mirrored = self.symmetric
        # One tiny tile on the client: the kernel's dtype, and its errors raised here, not on a worker.
        probe = checked(P1[:1]) if P2 is None else checked(P1[:1], P2[:1])
        self.dtype = np.asarray(probe).dtype
        self.client = default_client() if client is None else client
        if self.client is not None and not _is_client(self.client):
            raise TypeError(f"client: expected a dask.distributed.Client, got {type(self.client).__name__}")
        row_blocks = [P1[start:stop] for start, stop in self.row_bounds]
        col_blocks = None if P2 is None else [P2[start:stop] for start, stop in self.col_bounds]
        self._embedded: Dict[str, Any] = {}
        self.kernel_ref: Any
        self.row_refs: List[Any]
        self.col_refs: List[Any]
        if self.client is not None:
            # sent once to the cluster; the task graphs only name them
            [self.kernel_ref] = self.client.scatter([checked], hash=False)
            self.row_refs = self.client.scatter(row_blocks, hash=False)
            self.col_refs = self.row_refs if col_blocks is None else self.client.scatter(col_blocks, hash=False)
        else:
            tag = uuid.uuid4().hex[:8]
            self.kernel_ref = f"widenet-kernel-{tag}"
            self._embedded[self.kernel_ref] = checked
            self.row_refs = self._embed(row_blocks, f"widenet-rows-{tag}")
            self.col_refs = self.row_refs if col_blocks is None else self._embed(col_blocks, f"widenet-cols-{tag}")

    def _embed(self, blocks: List[np.ndarray], prefix: str) -> List[str]:
        keys = [f"{prefix}-{index}" for index in range(len(blocks))]
        self._embedded.update(zip(keys, blocks))
        return keys

    @staticmethod
    def key(ref: Any) -> str:
        """Return the key of a reference: a key itself, or a future's key."""
        return ref if isinstance(ref, str) else ref.key

    def tile_task_args(self, i: int, j: int) -> Tuple[Any, ...]:
        """Return ``(compute_tile, kernel, row block, column block or None)`` of tile ``(i, j)``.

        The blocks are references (for a mirrored grid, ``i <= j``; None: the symmetric
        diagonal tile).
        """
        diagonal = self.mirrored and i == j
        return compute_tile, self.kernel_ref, self.row_refs[i], None if diagonal else self.col_refs[j]

    def tile_task(self, i: int, j: int) -> Tuple[Any, ...]:
        """Return the graph task of tile ``(i, j)``: the same with keys for references."""
        function, kernel, rows, cols = self.tile_task_args(i, j)
        return function, self.key(kernel), self.key(rows), None if cols is None else self.key(cols)

    def data_layer(self) -> Dict[str, Any]:
        """Return the data the tasks name: futures (with a client) or the embedded blocks."""
        if self.client is None:
            return dict(self._embedded)
        refs = [self.kernel_ref, *self.row_refs, *self.col_refs]
        return {ref.key: ref for ref in refs}

    def array(self) -> da.Array:
        """Return the Gram as a ``dask.array`` whose tasks compute the tiles."""
        name = f"widenet-gram-{uuid.uuid4().hex[:12]}"
        layer: Dict[Any, Any] = {}
        for i in range(len(self.row_bounds)):
            for j in range(len(self.col_bounds)):
                if self.mirrored and i > j:
                    layer[(name, i, j)] = (np.transpose, (name, j, i))
                else:
                    layer[(name, i, j)] = self.tile_task(i, j)
        layer.update(self.data_layer())
        graph = HighLevelGraph.from_collections(name, layer, dependencies=[])
        chunks = (tuple(stop - start for start, stop in self.row_bounds),
                  tuple(stop - start for start, stop in self.col_bounds))
        return da.Array(graph, name, chunks=chunks, dtype=self.dtype)


def _is_client(client: object) -> bool:
    from distributed import Client

    return isinstance(client, Client)


def gram_tiled(kernel: object, X1: npt.ArrayLike, X2: Optional[npt.ArrayLike] = None,
               tile: Union[int, Tuple[int, int]] = DEFAULT_TILE, *, client: Any = None) -> da.Array:
    """Return the Gram matrix ``K(X1, X2)`` as a ``dask.array`` of tiles computed on the workers.

    Nothing is computed when this returns (except one 1 x 1 probe that checks the kernel
    and finds its dtype); reduce or slice the array (``K @ v``, ``K.sum()``,
    ``K[:100].compute()``) and only the tiles involved are computed, each by one task
    calling widenet's compiled kernel. ``K.compute()`` brings the whole matrix to the
    client: exactly what this is for avoiding at large sizes. Kernel regression on it
    without the matrix: :func:`conjugate_gradient`, :class:`TiledKernelRegressor`.

    Parameters
    ----------
    kernel : widenet kernel or network
        A :class:`widenet.ShallowNetwork` (its tangent kernel ``K_n``, 11.3.4, at its
        current parameters), a :class:`~widenet.TangentKernel`, a classic kernel
        (:class:`~widenet.RBFKernel`, ...), an infinite-width
        :class:`~widenet.distributed.LimitKernel`, or a kernel name or callable as
        :class:`~widenet.KernelLeastSquares` takes them.
    X1 : array_like, shape (m1, d)
    X2 : array_like, shape (m2, d), optional
        ``None``: the symmetric ``K(X1, X1)``, of which only the tiles on and above the
        diagonal are computed (those below are their transposes, so the result is
        symmetric bit for bit).
    tile : int or (int, int)
        Rows and columns per tile; square for the symmetric Gram (default 4096: a float64
        tile is 128 MiB; keep the
        number of tiles in the hundreds or low thousands, Dask spends about a millisecond
        on every task).
    client : dask.distributed.Client, optional
        Default: the current client (``distributed.default_client()``); without one, the
        array runs on Dask's local scheduler with the data in its graph. The array holds
        futures of this client: compute it there (``client.compute(K)``, or ``K.compute()``
        when it is the default client).

    Returns
    -------
    dask.array.Array, shape (m1, m2)
        In the kernel's dtype: a float32 network or float32 points of a classic kernel
        give float32; the limit kernels are float64. Worker tasks run widenet on one
        thread each (the workers' threads are the parallelism).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import distributed
    >>> X = np.random.default_rng(0).standard_normal((40, 2))
    >>> K = distributed.gram_tiled(widenet.RBFKernel(0.5), X, tile=16)  # nothing computed yet
    >>> K.chunks[0], bool(np.allclose(K[:5].compute(), widenet.RBFKernel(0.5)(X[:5], X)))
    ((16, 16, 8), True)
    """
    grid = TileGrid(kernel, X1, X2, tile, client)
    array = grid.array()
    # conjugate_gradient finds the grid of an array straight from here (its symmetric layout,
    # its scattered blocks); the entry goes when the array does.
    GRIDS[array.name] = grid
    weakref.finalize(array, GRIDS.pop, array.name, None)
    return array

