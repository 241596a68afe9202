"""How the compiled core runs: its build, and the thread count of its loops and its BLAS."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Iterator

from widenet import _validation as check
from widenet._native import OPENBLAS_PATH, _core

__version__: str = _core.build_info()["version"]
"""widenet's version, as the compiled core was built with it (``build_info()["version"]``).

Examples
--------
>>> import widenet
>>> widenet.__version__ == widenet.build_info()["version"]
True
"""


def build_info() -> dict[str, Any]:
    """Describe how the compiled core was built and runs.

    Returns the widenet, Eigen and BLAS versions, the SIMD instruction sets, the BLAS
    library's path, and the thread counts of widenet's loops and of its BLAS.
    ``elementwise_simd`` is the path the activations take, chosen when the core loads from
    what the CPU runs: ``"avx512"``, ``"avx2+fma"`` or the portable ``"baseline"``, each
    within the same accuracy bounds. ``WIDENET_ELEMENTWISE=avx2`` or ``baseline`` in the
    environment caps it (to compare the paths on one machine).

    Examples
    --------
    >>> import widenet
    >>> info = widenet.build_info()
    >>> info["version"] == widenet.__version__, info["threads"] >= 1
    (True, True)
    """
    info = dict(_core.build_info())
    info["blas_library"] = OPENBLAS_PATH
    info["thread_environment"] = {name: os.environ.get(name) for name in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    return info


def set_num_threads(threads: int) -> None:
    """Set the number of threads of widenet's own loops and of its BLAS.

    ``threads`` is an integer from 1 to ``build_info()["max_threads"]``, four per processor
    this process may run on: more threads only share the same cores, and a count far beyond
    them (a typo such as ``10**9``) would exhaust memory creating them. Anything else raises
    ValueError (TypeError for a non-integer) naming ``threads``, and changes nothing.

    Parameters
    ----------
    threads : int
        The thread count, from 1 to ``build_info()["max_threads"]``.

    Examples
    --------
    >>> import widenet
    >>> previous = widenet.get_num_threads()
    >>> widenet.set_num_threads(1)
    >>> widenet.get_num_threads()
    1
    >>> widenet.set_num_threads(previous)
    """
    _core.set_num_threads(check.integer(threads, "threads", 1, maximum=None))  # the maximum is checked there


def get_num_threads() -> int:
    """Return the number of threads of widenet's own loops.

    Examples
    --------
    >>> import widenet
    >>> 1 <= widenet.get_num_threads() <= widenet.build_info()["max_threads"]
    True
    """
    return int(_core.get_num_threads())


_one_thread_lock = threading.Lock()
_one_thread_users = 0
_threads_before = 0


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run widenet (and its BLAS) on one thread while any block of this process is inside.

    The thread count is restored when the last block leaves: threaded and distributed sweeps
    use it, so sweeps running at the same time leave the setting as they found it.
    """
    global _one_thread_users, _threads_before

    with _one_thread_lock:
        if _one_thread_users == 0:
            _threads_before = get_num_threads()
            set_num_threads(1)
        _one_thread_users += 1
    try:
        yield
    finally:
        with _one_thread_lock:
            _one_thread_users -= 1
            if _one_thread_users == 0:
                set_num_threads(_threads_before)
