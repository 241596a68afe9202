"""The cells of :func:`widenet.sweep` as tasks on a Dask cluster."""

from __future__ import annotations

import contextlib
import threading
import traceback
import uuid

from distributed import Client, as_completed

_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = None


@contextlib.contextmanager
def connected(client):
    """``client`` itself, or a new client connected to the address ``client`` (closed on exit)."""
    if isinstance(client, Client):
        yield client
        return
    if not isinstance(client, str):
        raise TypeError(f"client: expected a dask.distributed.Client or a scheduler address (str), got "
                        f"{type(client).__name__}")
    if not client.strip():
        raise ValueError("client: expected a scheduler address such as 'tcp://host:8786', got an empty string")
    opened = Client(client, set_as_default=False)
    try:
        yield opened
    finally:
        opened.close()


@contextlib.contextmanager
def one_thread():
    """widenet on one thread while any task of this worker process runs inside: the worker's
    own threads are the parallelism (as in a threaded sweep); restored when the last leaves."""
    global _threads_users, _threads_before
    from .. import get_num_threads, set_num_threads

    with _threads_lock:
        if _threads_users == 0:
            _threads_before = get_num_threads()
            set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                set_num_threads(_threads_before)


def run_cell(payload, width: int, seed: int) -> dict:
    """One cell on a worker, its record checked there (a bad record fails this cell only)."""
    from ..sweeps import _record

    function, fixed = payload
    with one_thread():
        return _record(function(width=width, seed=seed, **fixed), width, seed)


def run_cells(client, function, fixed: dict, cells: list, finished, failed, bar) -> None:
    """Submits one task per ``(index, width, seed)`` and hands each result, as it arrives, to
    ``finished(index, record)`` or ``failed(index, error, traceback_text)``."""
    with connected(client) as client:
        # The function and the fixed arguments (data arrays) travel once, not with every task.
        [payload] = client.scatter([(function, fixed)], hash=False)
        tag = uuid.uuid4().hex[:8]
        label = getattr(function, "__name__", "cell")
        futures = {client.submit(run_cell, payload, width, seed, pure=False,
                                 key=f"widenet-sweep-{label}-w{width}-s{seed}-{tag}"): index
                   for index, width, seed in cells}
        try:
            for future in as_completed(list(futures), loop=client.loop):
                index = futures[future]
                if future.status == "finished":
                    finished(index, future.result())
                else:
                    error = future.exception()
                    trace = "".join(traceback.format_exception(type(error), error, future.traceback()))
                    failed(index, error, trace)
                if bar is not None:
                    bar.update(1)
        finally:
            client.cancel(list(futures))  # what is still pending after a raise; releases the rest
            client.cancel([payload])
