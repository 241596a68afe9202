"""Width sweeps: a measurement repeated over widths and seeds, and its power law in the width.

The chapter's large-width statements are rates in the width ``n``: ``|w_k - w0| <= C/sqrt(n)``
(Theorem 11.23), ``|Phi(x, w_k) - Phi_lin(x, p_k)| <= C n^{-1/2}`` (Proposition 11.26),
``K_n / n -> K_LC`` at the rate ``n^{-1/2}`` (Theorem 11.16). :func:`widenet.sweep` measures a
quantity on a grid of widths and seeds (one independent network per cell) and
:meth:`SweepResult.slope` fits the exponent ``a`` of ``value ~ C n^a`` by least squares on
the log-log scale, with a confidence interval from Student's t distribution.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

from widenet import _validation as check
from widenet._optional import progress_bar
from widenet._runtime import get_num_threads, one_thread
from widenet._types import OnDivergence
from widenet.sweeps.cache import SweepCache
from widenet.sweeps.cells import RESERVED, Record, checked_grid, checked_record
from widenet.sweeps.results import CellFailure, SweepResult

__all__ = ["sweep", "sweeps_on"]

ON_ERROR = ("raise", "return")

# The client of the innermost sweeps_on block (None: sweeps run in this process).
_SWEEP_CLIENT: contextvars.ContextVar[Any] = contextvars.ContextVar("widenet_sweep_client", default=None)


# -- the sweep -----------------------------------------------------------------------------
def sweep(function: Callable[..., Mapping[str, Any]], widths: Sequence[int], seeds: Sequence[int],
          threads: Optional[int] = None, progress: bool = True, *, client: Any = None,
          cache_dir: Union[None, str, os.PathLike[str]] = None, cache_version: Optional[str] = None,
          on_error: OnDivergence = "raise", **fixed: Any) -> SweepResult:
    """Call ``function(width=n, seed=s, **fixed)`` for every cell of ``widths x seeds``.

    ``function`` returns a dict of real numbers (the same names in every cell), for
    example the distance ``|w_k - w0|`` of Theorem 11.23 after training a network of
    width ``n`` initialized from ``seed``. Each cell should be an independent draw
    (a seed of its own), as :meth:`SweepResult.slope` treats them so.

    Parameters
    ----------
    function : callable
        ``function(width=..., seed=..., **fixed) -> dict``; it must not depend on anything
        but its arguments (no shared random state), so that the results do not depend on
        the thread count, the machine or the order in which cells finish.
    widths, seeds : sequences of int
        Distinct widths (>= 1) and distinct seeds (>= 0).
    threads : int, optional
        Cells computed at once on a thread pool (widenet's compiled calls release the
        GIL). Default: :func:`widenet.get_num_threads`. While ``threads > 1``, widenet's
        own loops and its BLAS run on one thread each (:func:`widenet.set_num_threads`),
        so the two layers of parallelism do not nest; the setting is process-wide and is
        restored afterwards. Ignored with a ``client``.
    progress : bool
        Shows a tqdm progress bar when tqdm is installed (the optional extra ``progress``);
        without tqdm, nothing is shown and nothing fails.
    client : dask.distributed.Client or str, optional
        Runs the cells on a Dask cluster (the extra ``distributed``): one task per cell,
        results collected as they finish. A string is a scheduler address: the sweep
        connects, runs and closes its connection. Default: the client of an enclosing
        :func:`sweeps_on` block, else in this process. ``function`` and ``fixed`` travel
        by cloudpickle (a module-level function by reference: the workers must be able to
        import its module). Each cell runs with widenet on one thread, as in a threaded
        sweep, so the values equal those of ``threads > 1`` bit for bit (Dask's workers
        also run numpy's own BLAS on one thread; where a cell calls numpy's eigen or
        singular value routines on large matrices, a multi-threaded numpy BLAS in this
        process can differ from them in the last bits).
    cache_dir : str or path, optional
        Stores every finished cell in this directory (one small JSON file per cell, written
        atomically) and, on a later call, loads the cells found there instead of computing
        them again: an interrupted or partly failed sweep resumes where it stopped. A cell
        is found by the function's module and qualified name, ``cache_version``, widenet's
        version, its width and seed and the fixed arguments (arrays by content) -- not by the
        function's code: after changing the code, use a new directory or a new
        ``cache_version``. Failed cells are not stored, so a rerun tries them again; a cell
        file that is not exactly what the cache wrote is computed again.
    cache_version : str, optional
        Part of every cell's key in ``cache_dir``.
    on_error : {"raise", "return"}
        ``"raise"`` (default): the first cell that raises stops the sweep (cells not yet
        started are cancelled) and its exception propagates, with a note naming the cell;
        cells finished before are already in ``cache_dir``. ``"return"``: every cell runs,
        and the result lists the failed ones in :attr:`SweepResult.failures` (their error
        type, message and traceback) and holds the records of the others.
    **fixed
        Further keyword arguments passed unchanged to every call.

    Returns
    -------
    SweepResult
        Records ordered by width then seed, in the order given.

    Examples
    --------
    >>> import widenet
    >>> result = widenet.sweep(lambda width, seed: {"value": width ** -0.5}, [64, 256], [0, 1], progress=False)
    >>> len(result.records), result.quantities
    (4, ('value',))
    """
    grid_widths, grid_seeds, workers, mode = _checked_call(function, widths, seeds, threads, progress, on_error, fixed)
    cache = None if cache_dir is None else SweepCache(cache_dir, function, fixed, cache_version)
    if client is None:
        client = _SWEEP_CLIENT.get()
    elif not isinstance(client, str):
        _require_client(client)

    cells = [(width, seed) for width in grid_widths for seed in grid_seeds]
    records = _cached_records(cache, cells)
    cached = sum(record is not None for record in records)
    todo = [index for index, record in enumerate(records) if record is None]
    failures: Dict[int, CellFailure] = {}
    bar = _start_bar(function, progress, len(cells), cached)

    def finished(index: int, record: Record) -> None:
        records[index] = record
        if cache is not None:
            cache.store(record)

    def failed(index: int, error: BaseException, trace: Optional[str] = None) -> None:
        width, seed = cells[index]
        if hasattr(error, "add_note"):  # Python >= 3.11
            error.add_note(f"in the sweep cell width={width}, seed={seed}")
        if mode == "raise":
            raise error
        failures[index] = CellFailure.of(width, seed, error, trace)

    def run(index: int) -> None:
        width, seed = cells[index]
        try:
            record = checked_record(function(width=width, seed=seed, **fixed), width, seed)
        except Exception as error:
            failed(index, error)
            return
        finished(index, record)

    try:
        if not todo:
            pass
        elif client is not None:
            from widenet.sweeps._dask import run_cells

            run_cells(client, function, fixed, [(index, *cells[index]) for index in todo], finished, failed, bar)
        else:
            _run_here(run, todo, workers, bar)
    finally:
        if bar is not None:
            bar.close()

    done = [record for record in records if record is not None]
    return SweepResult(done, _quantities(done), grid_widths, grid_seeds,
                       failures=tuple(failures[index] for index in sorted(failures)), cached=cached)


def _checked_call(function: object, widths: object, seeds: object, threads: Optional[int], progress: object,
                  on_error: str, fixed: Mapping[str, Any]) -> Tuple[Tuple[int, ...], Tuple[int, ...], int, str]:
    """Check the arguments of :func:`widenet.sweep`; return the grid, the thread count and ``on_error``."""
    if not callable(function):
        raise TypeError(f"function: expected a callable, got {function!r}")
    grid_widths = checked_grid(widths, "widths", 1)
    grid_seeds = checked_grid(seeds, "seeds", 0)
    for name in RESERVED:
        if name in fixed:
            raise TypeError(f"{name}: passed by the sweep itself, not as a fixed argument")
    workers = get_num_threads() if threads is None else check.integer(threads, "threads", 1)
    progress = check.boolean(progress, "progress")
    return grid_widths, grid_seeds, workers, check.choice(on_error, "on_error", ON_ERROR)


def _cached_records(cache: Optional[SweepCache], cells: List[Tuple[int, int]]) -> List[Optional[Record]]:
    """Return the record of every cell found in ``cache``, None for the others (all of them without a cache)."""
    if cache is None:
        return [None] * len(cells)
    return [cache.load(width, seed) for width, seed in cells]


def _start_bar(function: object, progress: object, total: int, cached: int) -> Any:
    """Return the progress bar of a sweep of ``total`` cells (None when not shown), past the ``cached`` ones."""
    name = getattr(function, "__name__", "")
    bar = progress_bar(enabled=bool(progress), total=total, desc=name if name.isidentifier() else "sweep",
                       unit="cell")
    if bar is not None and cached:
        bar.update(cached)
    return bar


def _run_here(run: Callable[[int], None], todo: List[int], threads: int, bar: Any) -> None:
    """Run the cells ``todo`` in this process: one after the other, or on a pool of ``threads``."""
    if threads == 1 or len(todo) == 1:
        for index in todo:
            run(index)
            if bar is not None:
                bar.update(1)
    else:
        _run_pool(run, todo, min(threads, len(todo)), bar)


def _quantities(done: List[Record]) -> Tuple[str, ...]:
    """Return the measured names of the first record, checking that every record has the same."""
    quantities = tuple(name for name in done[0] if name not in RESERVED) if done else ()
    for record in done:
        names = tuple(name for name in record if name not in RESERVED)
        if set(names) != set(quantities):
            raise ValueError(f"function: returned {sorted(names)} for width={record['width']}, "
                             f"seed={record['seed']} but {sorted(quantities)} for the first cell")
    return quantities


def _require_client(client: object) -> None:
    """Check that ``client`` is a ``dask.distributed.Client`` (by its type's name: no dask import here)."""
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(client).__mro__}
    if "distributed.client.Client" not in names:
        raise TypeError(f"client: expected a dask.distributed.Client or a scheduler address (str), got "
                        f"{type(client).__name__}")


@contextlib.contextmanager
def sweeps_on(client: Any) -> Iterator[Any]:
    """Run every :func:`widenet.sweep` inside the ``with`` block on ``client``, unless the call names its own.

    ``client`` is a ``dask.distributed.Client`` or a scheduler address.

    What ``widenet reproduce --scheduler ADDRESS`` uses, and how to send the sweeps inside
    library functions (:func:`widenet.lazy_training_sweep`, the experiments) to a cluster.
    An address is connected on entry and the connection closed on exit. The setting
    belongs to the current thread (a :mod:`contextvars` variable).

    Parameters
    ----------
    client : dask.distributed.Client or str
        The client, or the address of a scheduler (connected on entry).

    Examples
    --------
    >>> import widenet
    >>> from distributed import Client
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client, widenet.sweeps_on(client):
    ...     result = widenet.sweep(lambda width, seed: {"value": width ** -0.5}, [16, 64], [0], progress=False)
    >>> len(result.records)
    2
    """
    from widenet.sweeps._dask import connected

    with connected(client) as resolved:
        token = _SWEEP_CLIENT.set(resolved)
        try:
            yield resolved
        finally:
            _SWEEP_CLIENT.reset(token)


def _run_pool(run: Callable[[int], None], todo: List[int], threads: int, bar: Any) -> None:
    with one_thread(), ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {pool.submit(run, index): index for index in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            if bar is not None:
                bar.update(len(done))
            failed = [future for future in done if future.exception() is not None]
            if failed:
                for future in pending:
                    future.cancel()
                first = min(failed, key=lambda future: futures[future])
                raise cast(BaseException, first.exception())  # not None: the filter above
