"""Matrix-vector products ``K v`` by tiles, for the conjugate gradients and predictions.

Each product sends ``v`` to the workers once and brings back one vector per task: the
matrix never leaves the workers. Two ways to hold ``K``:

- persisted: the tiles are computed once and kept in the workers' memory (for the
  symmetric Gram, the tiles on and above the diagonal: half the matrix); each product is
  then one task per worker over the tiles it holds. Memory ``m^2 / 2`` numbers across the
  cluster, time per product about one pass over that memory.
- recomputed: every product computes the tiles again and drops them; memory per worker a
  few tiles, time per product that of the whole Gram.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional, Protocol, Tuple

import numpy as np
import numpy.typing as npt

from widenet._runtime import one_thread
from widenet.distributed.tiles import TileGrid, compute_tile
from widenet.kernels import Kernel

Vector = npt.NDArray[np.float64]
Entry = Tuple[int, int, int, int, bool]
"""``(row_start, row_stop, col_start, col_stop, mirrored)`` of a tile."""


class Operator(Protocol):
    """What the conjugate gradients need of ``K``."""

    @property
    def shape(self) -> Tuple[int, ...]:
        """Return the shape of ``K``."""

    def matvec(self, v: Vector) -> Vector:
        """Return ``K v``."""

    def diagonal(self) -> Vector:
        """Return the diagonal of ``K``."""

    def close(self) -> None:
        """Release what the operator holds."""

# Vectors up to this size travel inside the tasks (one round trip less per product).
_INLINE_BYTES = 2**20


def _diagonal_block(kernel: Kernel, A: np.ndarray) -> Vector:
    with one_thread():
        return np.asarray(kernel.diag(A), dtype=np.float64)


def _partial_product(length: int, v: np.ndarray, entries: List[Entry], *tiles: np.ndarray) -> Vector:
    """Sum the tiles' contributions to ``K v``, as a vector of the whole length.

    ``entries[k] = (row_start, row_stop, col_start, col_stop, mirrored)`` for ``tiles[k]``;
    a mirrored tile also contributes its transpose (the tile below the diagonal).
    """
    out = np.zeros(length, dtype=np.float64)
    with one_thread():
        for (r0, r1, c0, c1, mirrored), tile in zip(entries, tiles):
            out[r0:r1] += tile @ v[c0:c1]
            if mirrored:
                out[c0:c1] += tile.T @ v[r0:r1]
    return out


def _recomputed_product(length: int, v: np.ndarray, entries: List[Entry], kernel: Kernel,
                        *blocks: Optional[np.ndarray]) -> Vector:
    """Sum the same, each tile computed here, used and dropped before the next.

    One tile is in memory at a time. ``blocks`` are the row and column blocks of each entry, in pairs (the
    column block None on the diagonal of a symmetric Gram).
    """
    out = np.zeros(length, dtype=np.float64)
    for k, entry in enumerate(entries):
        tile = compute_tile(kernel, blocks[2 * k], blocks[2 * k + 1])  # type: ignore[arg-type]  # rows: never None
        out += _partial_product(length, v, [entry], tile)
    return out


def _rows_product(v: np.ndarray, entries: List[Entry], kernel: Kernel, *blocks: np.ndarray) -> Vector:
    """Return rows ``r0:r1`` of ``K v`` from the tiles of one row block.

    ``entries`` are as above, all in that row block, none mirrored: only those rows travel
    back.
    """
    r0, r1 = entries[0][0], entries[0][1]
    out = np.zeros(r1 - r0, dtype=np.float64)
    with one_thread():
        for k, (_, _, c0, c1, _) in enumerate(entries):
            out += compute_tile(kernel, blocks[2 * k], blocks[2 * k + 1]) @ v[c0:c1]
    return out


def _sum(*vectors: Vector) -> Vector:
    return np.sum(vectors, axis=0)


def reduced(client: Any, futures: List[Any], fan_in: int = 8) -> Vector:
    """Return the sum of the vectors of ``futures``, added up on the workers in a tree.

    One vector comes back to the client, however many tasks there were.
    """
    level = list(futures)
    while len(level) > fan_in:
        level = [client.submit(_sum, *level[k:k + fan_in], pure=False) for k in range(0, len(level), fan_in)]
    return np.sum(client.gather(level), axis=0)


def rows_product(grid: TileGrid, v: np.ndarray) -> Vector:
    """Return ``K v`` for a grid of any shape, one task per row block, tiles recomputed and dropped.

    This is what predictions ``K(X_test, X) alpha`` use.
    """
    client = grid.client
    [v_ref] = client.scatter([np.ascontiguousarray(v, dtype=np.float64)], broadcast=True, hash=False)
    tasks = []
    for i, (r0, r1) in enumerate(grid.row_bounds):
        entries: List[Entry] = []
        blocks: List[Any] = []
        for j, (c0, c1) in enumerate(grid.col_bounds):
            _, _, rows, cols = grid.tile_task_args(i, j)
            if cols is None:  # the diagonal tile of a mirrored grid: the block itself
                cols = rows
            entries.append((r0, r1, c0, c1, False))
            blocks += [rows, cols]
        tasks.append(client.submit(_rows_product, v_ref, entries, grid.kernel_ref, *blocks, pure=False))
    return np.concatenate(client.gather(tasks))


def gram_matvec(kernel: object, X1: npt.ArrayLike, v: npt.ArrayLike, X2: Optional[npt.ArrayLike] = None,
                tile: Optional[Any] = None, *, client: Any = None) -> Vector:
    """Return ``K(X1, X2) v`` by tiles on the cluster, each tile computed, used and dropped.

    This is the matrix-free product, memory about one tile per worker thread (for the symmetric Gram,
    ``X2=None``, only the tiles on and above the diagonal are computed). A reduction of the
    array from :func:`gram_tiled` (``K @ v``) gives the same numbers, but Dask may hold
    many tiles at once while it runs.

    Parameters
    ----------
    kernel, X1, X2, tile, client
        As for :func:`gram_tiled` (a ``dask.distributed`` client is needed).
    v : array_like, shape (m2,)

    Returns
    -------
    ndarray of float64, shape (m1,)

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import distributed
    >>> X, v = np.random.default_rng(0).standard_normal((40, 2)), np.ones(40)
    >>> from distributed import Client
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:  # a cluster on this machine
    ...     Kv = distributed.gram_matvec(widenet.RBFKernel(0.5), X, v, tile=16, client=client)
    >>> bool(np.allclose(Kv, widenet.RBFKernel(0.5)(X) @ v))
    True
    """
    from widenet import _validation as check
    from widenet.distributed.tiles import DEFAULT_TILE

    grid = TileGrid(kernel, X1, X2, DEFAULT_TILE if tile is None else tile, client)
    if grid.client is None:
        raise ValueError("client: gram_matvec runs on a dask.distributed cluster; pass client= or create a Client "
                         "first")
    vector = check.as_shaped(v, "v", np.dtype(np.float64), (grid.shape[1],))
    if grid.symmetric:
        return TileOperator(grid, persist=False).matvec(vector)
    return rows_product(grid, vector)


class HeldTiles:
    """Tiles in the workers' memory and ``v -> K v`` over them.

    One task per worker, over the tiles it holds (so no tile ever moves), ``v`` travelling
    inside the task.
    """

    def __init__(self, client: Any, length: int, pairs: List[Tuple[Entry, Any]]) -> None:
        """``pairs``: ``(entry, future)`` with ``entry = (r0, r1, c0, c1, mirrored)``."""
        self.client, self.length = client, length
        futures = [future for _, future in pairs]
        for future in futures:  # waits for every tile, without bringing it here
            error = future.exception()
            if error is not None:
                client.cancel(futures)
                raise error
        self.futures = futures
        where = client.who_has(futures)
        self.by_worker: Dict[str, List[Tuple[Entry, Any]]] = {}
        for entry, future in pairs:
            self.by_worker.setdefault(sorted(where[future.key])[0], []).append((entry, future))

    def matvec(self, v: np.ndarray) -> Vector:
        """Return ``K v`` over the held tiles."""
        vector: Any = v
        if v.nbytes > _INLINE_BYTES:  # large: sent once rather than inside every task's message
            [vector] = self.client.scatter([v], broadcast=True, hash=False)
        tasks = [self.client.submit(_partial_product, self.length, vector, [entry for entry, _ in held],
                                    *[future for _, future in held], workers=[worker], allow_other_workers=True,
                                    pure=False)
                 for worker, held in self.by_worker.items()]
        return reduced(self.client, tasks)

    def close(self, cancel: bool) -> None:
        """Forget the tiles; with ``cancel``, also free them on the workers."""
        if cancel:
            self.client.cancel(self.futures)
        self.futures, self.by_worker = [], {}


class TileOperator:
    """``v -> K v`` for the Gram of a :class:`~widenet.distributed.tiles.TileGrid` on a ``dask.distributed`` cluster.

    Parameters
    ----------
    grid : TileGrid
        With a client.
    persist : bool
        Keep the tiles on the workers (see the module docstring).
    """

    def __init__(self, grid: TileGrid, persist: bool) -> None:
        if grid.client is None:
            raise ValueError("client: the tiled solver runs on a dask.distributed cluster; pass client= or create "
                             "a Client first (for one machine: Client(LocalCluster()))")
        self.grid, self.client, self.persist = grid, grid.client, persist
        self.shape = grid.shape
        self._tiles = [(i, j) for i in range(len(grid.row_bounds)) for j in range(len(grid.col_bounds))
                       if not grid.mirrored or i <= j]
        self._held: Optional[HeldTiles] = None
        if persist:
            tag = uuid.uuid4().hex[:8]
            self._held = HeldTiles(self.client, self.shape[0], [
                (self._entry(i, j), self.client.submit(*grid.tile_task_args(i, j), pure=False,
                                                       key=f"widenet-tile-{tag}-{i}-{j}"))
                for i, j in self._tiles])

    def _entry(self, i: int, j: int) -> Entry:
        (r0, r1), (c0, c1) = self.grid.row_bounds[i], self.grid.col_bounds[j]
        return r0, r1, c0, c1, bool(self.grid.mirrored and i != j)

    def matvec(self, v: np.ndarray) -> Vector:
        """Return ``K v`` (float64), summed from one vector per task (a few come to the client)."""
        vector = np.ascontiguousarray(v, dtype=np.float64)
        length = self.shape[0]
        if self._held is not None:
            return self._held.matvec(vector)
        else:
            [v_ref] = self.client.scatter([vector], broadcast=True, hash=False)  # once, for the many tasks
            tasks = []
            for group in self._groups():
                blocks: List[Any] = []
                for i, j in group:
                    _, _, row, col = self.grid.tile_task_args(i, j)
                    blocks += [row, col]
                tasks.append(self.client.submit(_recomputed_product, length, v_ref,
                                                [self._entry(i, j) for i, j in group], self.grid.kernel_ref,
                                                *blocks, pure=False))
        return reduced(self.client, tasks)

    def _groups(self) -> List[List[Tuple[int, int]]]:
        """Return the tiles in contiguous groups, about two per worker thread (at least one per row)."""
        threads = sum(self.client.nthreads().values()) or 1
        count = min(len(self._tiles), max(2 * threads, len(self.grid.row_bounds)))
        edges = np.linspace(0, len(self._tiles), count + 1).round().astype(int)
        return [self._tiles[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]

    def diagonal(self) -> Vector:
        """Return ``K(x_i, x_i)`` by row blocks on the workers (the kernel's own ``diag``)."""
        tasks = [self.client.submit(_diagonal_block, self.grid.kernel_ref, ref, pure=False)
                 for ref in self.grid.row_refs]
        return np.concatenate(self.client.gather(tasks))

    def close(self) -> None:
        """Free the persisted tiles on the workers."""
        if self._held is not None:
            self._held.close(cancel=True)


class DaskArrayOperator:
    """``v -> K v`` for any square ``dask.array``.

    With a ``dask.distributed`` client and ``persist``, its chunks are persisted and multiplied where they are held
    (:class:`HeldTiles`); otherwise by Dask's own blocked product.
    """

    def __init__(self, K: Any, persist: bool, client: Any = None) -> None:
        from distributed import futures_of

        from widenet.distributed.tiles import default_client

        self.shape = K.shape
        self._K: Any = K
        self._held: Optional[HeldTiles] = None
        self._client = default_client() if client is None else client
        if persist and self._client is not None:
            self._K = self._client.persist(K)
            futures = {future.key: future for future in futures_of(self._K)}
            rows, cols = (np.concatenate([[0], np.cumsum(chunks)]) for chunks in K.chunks)
            keys = self._K.__dask_keys__()
            self._held = HeldTiles(self._client, K.shape[0], [
                ((int(rows[i]), int(rows[i + 1]), int(cols[j]), int(cols[j + 1]), False), futures[keys[i][j]])
                for i in range(len(rows) - 1) for j in range(len(cols) - 1)])
        elif persist:
            self._K = K.persist()

    def matvec(self, v: np.ndarray) -> Vector:
        """Return ``K v`` (float64)."""
        vector = np.ascontiguousarray(v, dtype=np.float64)
        if self._held is not None:
            return self._held.matvec(vector)
        product = self._K @ vector
        return np.asarray(product.compute() if self._client is None else self._client.compute(product).result(),
                          dtype=np.float64)

    def diagonal(self) -> Vector:
        """Return the diagonal of ``K`` (float64)."""
        import dask.array as da

        diagonal = da.diagonal(self._K)
        return np.asarray(diagonal.compute() if self._client is None else self._client.compute(diagonal).result(),
                          dtype=np.float64)

    def close(self) -> None:
        """Forget the persisted array (its futures stay with the caller's array, if any)."""
        if self._held is not None:
            self._held.close(cancel=False)  # the caller's array may hold the same futures
        self._K = self._held = None
