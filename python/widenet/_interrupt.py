"""Ctrl-C during a long numpy call that cannot be stopped (a LAPACK factorization).

Python raises KeyboardInterrupt on its main thread between bytecodes, so a call such as
``numpy.linalg.eigh`` of a 5000 x 5000 matrix ignores Ctrl-C for its whole length, and
LAPACK has no way to be stopped midway. :func:`run_interruptible` runs such a call on a
worker thread while the main thread waits in short waits, during which KeyboardInterrupt
is raised at once.

The abandoned call cannot be cancelled: it finishes in the background, holding its CPU
time and memory until then, and its result is discarded. The functions passed must
therefore compute from their arguments only, and their callers change their objects only
after the call returns, so that an interrupted fit leaves the estimator as it was.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable, TypeVar

import numpy as np

Result = TypeVar("Result")

# How often the waiting main thread looks for Ctrl-C (a signal handler also ends the wait).
POLL_SECONDS = 0.025

# Calls below this many flops run inline: about 1e-3 s, less than a thread start is worth.
LONG_CALL_FLOPS = 1e7


def is_long_factorization(rows: int, cols: int) -> bool:
    """Tell whether a factorization of a ``rows x cols`` matrix is long enough to run on a worker thread.

    The factorizations (eigh, svd, solve) take about ``rows cols min(rows, cols)`` flops.
    """
    return float(rows) * float(cols) * float(min(rows, cols)) > LONG_CALL_FLOPS


def run_interruptible(function: Callable[..., Result], *args: Any, long_call: bool = True, **kwargs: Any) -> Result:
    """Return ``function(*args, **kwargs)``, answering Ctrl-C within about ``POLL_SECONDS``.

    Ctrl-C raises KeyboardInterrupt however long the function runs.

    From the main thread and with ``long_call``, the function runs on a daemon worker
    thread; on Ctrl-C the worker is abandoned (it finishes in the background and its result
    is discarded) and KeyboardInterrupt is raised here. From other threads (no signal
    reaches them) and for short calls, the function runs inline. The worker runs in a copy
    of the caller's context and under its ``numpy.errstate``; exceptions of the function
    are raised here as they are.
    """
    if not long_call or threading.current_thread() is not threading.main_thread():
        return function(*args, **kwargs)
    outcome: dict[str, Any] = {}
    finished = threading.Event()
    context, errors = contextvars.copy_context(), np.geterr()

    def work() -> None:
        try:
            with np.errstate(**errors):  # thread-local in older numpy: not in the context
                outcome["result"] = context.run(function, *args, **kwargs)
        except BaseException as error:  # handed to the caller, whatever it is
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=work, name="widenet-interruptible", daemon=True).start()
    while not finished.wait(POLL_SECONDS):
        pass  # a signal handler's exception (KeyboardInterrupt) leaves the loop here
    if "error" in outcome:
        raise outcome["error"]
    result: Result = outcome["result"]
    return result
