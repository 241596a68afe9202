"""The cells of :func:`widenet.sweep` as tasks on a Dask cluster."""

from __future__ import annotations

import contextlib
import traceback
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from widenet._optional import optional_module_for
from widenet._runtime import one_thread
from widenet.sweeps.cells import Record, checked_record

with optional_module_for("A sweep on a Dask cluster", "distributed"):
    from distributed import Client, as_completed
    from distributed.comm import get_address_host


@contextlib.contextmanager
def connected(client: Any, timeout: Optional[float] = None) -> Iterator[Any]:
    """Yield ``client`` itself, or a new client connected to the address ``client`` (closed on exit).

    A new client connects within ``timeout`` seconds (default: Dask's configured connect
    timeout).
    """
    if isinstance(client, Client):
        yield client
        return
    if not isinstance(client, str):
        raise TypeError(f"client: expected a dask.distributed.Client or a scheduler address (str), got "
                        f"{type(client).__name__}")
    if not client.strip():
        raise ValueError("client: expected a scheduler address such as 'tcp://host:8786', got an empty string")
    try:
        # Checked before a Client exists: one that fails on its address is left unclosed, and its
        # finalizer then blocks the interpreter's exit for twice the timeout.
        get_address_host(client)
    except ValueError as error:
        raise ValueError(f"client: {client!r} is not a scheduler address such as 'tcp://host:8786' ({error})") \
            from None
    opened = Client(client, set_as_default=False, **({} if timeout is None else {"timeout": timeout}))
    try:
        yield opened
    finally:
        opened.close()


def run_cell(payload: Tuple[Callable[..., Any], Dict[str, Any]], width: int, seed: int) -> Record:
    """Run one cell on a worker, its record checked there (a bad record fails this cell only)."""
    function, fixed = payload
    with one_thread():
        return checked_record(function(width=width, seed=seed, **fixed), width, seed)


def run_cells(client: Any, function: Callable[..., Any], fixed: Dict[str, Any], cells: List[Tuple[int, int, int]],
              finished: Callable[[int, Record], None], failed: Callable[[int, BaseException, Optional[str]], None],
              bar: Any) -> None:
    """Submit one task per ``(index, width, seed)`` and hand over each result as it arrives.

    A result goes to ``finished(index, record)``, a failure to
    ``failed(index, error, traceback_text)``.
    """
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
