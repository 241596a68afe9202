"""The memory guard: a call that would allocate more than a limit is refused before it
allocates anything.

Every public entry point that allocates arrays growing with its arguments (the Jacobian,
Gram matrices, the hidden layer of a batch, training records) estimates the bytes it is
about to allocate from the shapes alone and calls one of the ``check_*`` functions below
first. Above the limit they raise :class:`MemoryLimitError` (a ``ValueError`` and a
``MemoryError``) naming the size, the shape, the limit and the chunked alternative.

The limit is, in order of precedence: the value given to :func:`set_memory_limit`; the
environment variable ``WIDENET_MEMORY_LIMIT`` (read at every check); half of the physical
memory (or of the control group's limit when that is smaller).

The estimates count the largest arrays of each algorithm (outputs, the per-call blocks of
the compiled kernels or of the numpy reference, training records); small temporaries are
left out, so they are lower bounds meant to catch allocations that cannot succeed or would
push the machine into swap, not to account for every byte.
"""

from __future__ import annotations

import functools
import math
import os
import re
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _validation as check

ENVIRONMENT_VARIABLE = "WIDENET_MEMORY_LIMIT"
DEFAULT_FRACTION = 0.5
# Used when the physical memory cannot be read (neither sysconf nor /proc/meminfo).
FALLBACK_PHYSICAL_MEMORY = 8 * 2**30

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*|%)\s*$")

_explicit_limit: Optional[int] = None


class MemoryLimitError(ValueError, MemoryError):
    """A call would allocate more than widenet's memory limit (see :func:`set_memory_limit`).

    Raised before anything is allocated. It is a ``ValueError`` (the arguments ask for too
    much) and a ``MemoryError`` (so code that handles running out of memory handles it too).
    """


# -- the limit -------------------------------------------------------------------------------


def _cgroup_limit() -> Optional[int]:
    """The memory limit of this process's control group (v2 or v1), if there is one."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as file:
                text = file.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 2**60:  # v1 writes a huge number for "no limit"
            return int(text)
    return None


def _meminfo_total() -> Optional[int]:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


@functools.lru_cache(maxsize=None)
def physical_memory() -> int:
    """The memory this process can use, in bytes: the physical memory
    (``sysconf``, else ``/proc/meminfo``), or the control group's limit when smaller;
    ``FALLBACK_PHYSICAL_MEMORY`` (8 GiB) when neither can be read."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    if not total or total <= 0:
        total = _meminfo_total()
    if not total or total <= 0:
        total = FALLBACK_PHYSICAL_MEMORY
    cgroup = _cgroup_limit()
    return min(total, cgroup) if cgroup else total


def parse_size(text: str, name: str) -> int:
    """Bytes from ``"123456"``, ``"500MB"``, ``"8 GB"``, ``"2GiB"`` (decimal kB, MB, GB, TB
    and binary KiB, MiB, GiB, TiB) or ``"25%"`` (of the physical memory)."""
    match = _SIZE_PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or (unit != "%" and unit not in _UNITS):
        raise ValueError(f"{name}: expected a number of bytes such as 8000000000, 8GB, 8GiB or 50%, got {text!r}")
    number = float(match.group(1))
    size = physical_memory() * number / 100 if unit == "%" else number * _UNITS[unit]
    if not 1 <= size < 2**63:
        raise ValueError(f"{name}: expected a size between 1 byte and 2**63 bytes, got {text!r}")
    return int(size)


def _limit_and_source() -> tuple:
    """The limit and where it comes from (``"explicit"``, ``"environment"`` or ``"default"``)."""
    if _explicit_limit is not None:
        return _explicit_limit, "explicit"
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if text is not None and text.strip():
        return parse_size(text, ENVIRONMENT_VARIABLE), "environment"
    return int(DEFAULT_FRACTION * physical_memory()), "default"


def _describe_source(source: str) -> str:
    if source == "explicit":
        return "set by widenet.set_memory_limit"
    if source == "environment":
        return f"from the environment variable {ENVIRONMENT_VARIABLE}"
    return f"half of the {format_bytes(physical_memory())} of memory"


def get_memory_limit() -> int:
    """The largest allocation, in bytes, that a widenet call may make.

    Set by :func:`set_memory_limit`; otherwise by the environment variable
    ``WIDENET_MEMORY_LIMIT`` (bytes, or a size such as ``8GB``, ``8GiB`` or ``50%`` of the
    memory); otherwise half of the physical memory (or of the control group's limit when
    that is smaller).
    """
    return _limit_and_source()[0]


def set_memory_limit(limit) -> None:
    """Sets the largest allocation a widenet call may make.

    Parameters
    ----------
    limit : int or None
        A positive number of bytes; ``None`` returns to the default (the environment
        variable ``WIDENET_MEMORY_LIMIT`` if set, else half of the physical memory). A
        limit larger than any allocation (e.g. ``2**62``) turns the guard off.

    Calls whose estimated allocation exceeds the limit raise :class:`MemoryLimitError`
    before allocating anything, naming the chunked alternative.
    """
    global _explicit_limit
    _explicit_limit = None if limit is None else check.integer(limit, "limit", 1)


# -- messages --------------------------------------------------------------------------------


def format_bytes(size: float) -> str:
    """``80.0 GB``: decimal units, one decimal."""
    size = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _block_bytes(shape: Sequence[int], dtype, copies: int = 1) -> int:
    return copies * math.prod(map(int, shape)) * np.dtype(dtype).itemsize  # Python ints: no overflow


def _describe(size: int, name: str, shape: Sequence[int], dtype, copies: int) -> str:
    times = f" x{copies}" if copies > 1 else ""
    return f"{name} {tuple(int(extent) for extent in shape)} {np.dtype(dtype).name}{times} = {format_bytes(size)}"


def require(where: str, blocks: Sequence[tuple], alternative: Union[str, Callable[[], str]]) -> None:
    """Raises :class:`MemoryLimitError` when the arrays ``blocks`` exceed the limit.

    Parameters
    ----------
    where : str
        The entry point, e.g. ``"ShallowNetwork.jacobian"``.
    blocks : sequence of (name, shape, dtype, copies)
        The arrays the call allocates; the largest ones are named in the message.
    alternative : str or callable returning str
        What to do instead (the chunked variant), one sentence; a callable is only called
        to write the message.
    """
    sizes = [(_block_bytes(shape, dtype, copies), name, shape, dtype, copies) for name, shape, dtype, copies in blocks]
    total = sum(entry[0] for entry in sizes)
    if _explicit_limit is not None and total <= _explicit_limit:
        return  # the fast path of every call
    limit, source = _limit_and_source()
    if total <= limit:
        return
    sizes = [entry for entry in sizes if entry[0] > 0]
    alternative = alternative() if callable(alternative) else alternative
    largest = sorted(sizes, key=lambda entry: -entry[0])[:3]
    parts = ", ".join(_describe(*entry) for entry in largest)
    raise MemoryLimitError(
        f"{where}: would allocate {format_bytes(total)} ({parts}), more than widenet's memory limit of "
        f"{format_bytes(limit)} ({_describe_source(source)}). {alternative} Nothing was allocated; the limit can "
        f"be changed with widenet.set_memory_limit(bytes) or the environment variable {ENVIRONMENT_VARIABLE}.")


def _fitting(unit_bytes: int, share: float = 0.25) -> int:
    """How many units of ``unit_bytes`` fit in ``share`` of the limit (at least 1)."""
    return max(1, int(share * get_memory_limit()) // max(1, unit_bytes))


# -- estimates of the entry points -----------------------------------------------------------


def default_width_chunk(rows: int, width: int, itemsize: int) -> int:
    """The width chunk the compiled tangent Gram picks when none is given: the per-chunk
    blocks of both inputs fit in about 64 MiB."""
    chunk = max(256, (64 * 2**20 // itemsize) // max(1, 2 * rows))
    return min(width, chunk)


def check_hidden(where: str, m: int, width: int, dtype, copies: int = 2, outputs: Sequence[tuple] = ()) -> None:
    """A call that forms the ``m x n`` hidden layer of a batch (``sigma(Z)`` and ``sigma'(Z)``)."""
    require(where, [("hidden layer", (m, width), dtype, copies), *outputs],
            lambda: f"Pass the rows of X in batches (at most about {_fitting(_block_bytes((width,), dtype, copies))} "
                    f"rows fit).")


def check_jacobian(where: str, m: int, width: int, num_params: int, dtype) -> None:
    """``ShallowNetwork.jacobian``: the ``m x P`` Jacobian and the hidden layer."""
    require(where, [("Jacobian", (m, num_params), dtype, 1), ("hidden layer", (m, width), dtype, 2)],
            lambda: f"Use jacobian_chunks(X, rows={_fitting(_block_bytes((num_params + 2 * width,), dtype))}) to "
                    f"stream it by rows, or ntk(X1, X2), which computes J1 J2^T without ever forming the Jacobian.")


GRAM_BAND_ROWS = 256  # rows of X1 X2^T formed at once by the C++ Gram (tangent_gram.hpp)


def check_ntk(where: str, m1: int, m2: Optional[int], width: int, dtype, backend: str, width_chunk: int = 0,
              diagonal: bool = False) -> None:
    """``ntk`` (``m2`` None: the symmetric Gram) and ``ntk_diag`` (``diagonal=True``): the
    output, the Gram's accumulators and the hidden-layer blocks (a width chunk of them in
    C++, all ``n`` columns in the numpy reference)."""
    itemsize = np.dtype(dtype).itemsize
    points = m1 + (0 if m2 is None else m2)
    if backend == "cpp":
        chunk = width_chunk or default_width_chunk(points, width, itemsize)
        blocks = [("width-chunk blocks", (points, min(chunk, width)), dtype, 2)]
    else:
        blocks = [("hidden-layer blocks", (points, width), dtype, 3)]
    if diagonal:
        blocks.append(("diagonal", (m1,), dtype, 1))
        alternative = "Pass the rows of X in batches, or use backend='cpp' with its width chunks."
    else:
        columns = m1 if m2 is None else m2
        blocks.append(("Gram and its accumulators", (m1, columns), dtype, 2 if backend == "cpp" else 5))
        if backend == "cpp":
            blocks.append(("band of X1 X2^T", (min(m1, GRAM_BAND_ROWS), columns), dtype, 1))

        def alternative():
            tile = max(1, math.isqrt(_fitting(3 * itemsize)))
            return (f"Compute the Gram in tiles, ntk(X1[i:i + t], X2[j:j + t]) with t about {tile}, and bound the "
                    f"hidden-layer blocks with width_chunk= (backend='cpp').")
    require(where, blocks, alternative)


def recorded_count(steps: int, record_every: int) -> int:
    """How many records a run of ``steps`` steps keeps: ``k = 0, record_every, ...`` and ``steps``."""
    return steps // record_every + 1 + (1 if steps % record_every else 0)


def check_training(where: str, m: int, m_test: int, width: int, steps: int, record_every: int, dtype,
                   networks: int = 1, workers: int = 1) -> None:
    """Gradient descent: the records (losses, distances and ``records x m_test`` test
    outputs, for each of ``networks``) and the hidden-layer blocks of each worker."""
    records = recorded_count(steps, record_every)
    blocks = [("test-output records", (networks, records, m_test), dtype, 1),
              ("loss and distance records", (networks, records), np.float64, 2),
              ("hidden layer", (workers, m + m_test, width), dtype, 2)]
    require(where, blocks, "Record less often (a larger record_every), pass fewer X_test points, or train in "
                           "pieces: train continues from where it stopped (TrainingState keeps the records).")


def check_linear_run(where: str, X: np.ndarray, X_test: Optional[np.ndarray], records: int) -> None:
    """Linearized training on ``X`` (m rows): the ``m x m`` tangent Gram and its
    eigenvectors, the ``m_test x m`` cross Gram, and the float64 records (``records x m``
    train outputs, residuals and spectral factors; ``records x m_test`` test outputs)."""
    m, m_test = X.shape[0], 0 if X_test is None else X_test.shape[0]
    blocks = [("records", (records, m), np.float64, 5), ("test-output records", (records, m_test), np.float64, 2),
              ("tangent Gram and eigenvectors", (m, m), np.float64, 3), ("cross Gram", (m_test, m), np.float64, 1)]
    require(where, blocks, "Record fewer steps (a larger record_every, or fewer times) or pass fewer X_test "
                           "points; the records of one step need m + m_test numbers.")


def check_gram(where: str, X1: np.ndarray, X2: Optional[np.ndarray], dtype, copies: int = 3) -> None:
    """A kernel Gram ``m1 x m2`` (``X2`` None: ``m1 x m1``) with ``copies`` arrays of its size."""
    m1, m2 = X1.shape[0], (X1 if X2 is None else X2).shape[0]
    require(where, [("Gram", (m1, m2), dtype, copies)],
            lambda: f"Compute the Gram in tiles, K(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * np.dtype(dtype).itemsize)))}.")


def check_limit_kernel(where: str, m1: int, m2: int, point_floats: int, backend: str) -> None:
    """``limit_kernel`` (deterministic methods): the ``m1 x m2`` kernel, computed in place of
    ``X1 X2^T`` in C++ and through about ten arrays of its size in the numpy twin, and each
    point's table of the scale mixtures (``point_floats`` floats, C++)."""
    copies = 1 if backend == "cpp" else 10
    tables = (m1 + m2) * point_floats if backend == "cpp" else 0
    require(where, [("kernel and its working arrays", (m1, m2), np.float64, copies),
                    ("tables of the points", (tables,), np.float64, 1)],
            lambda: f"Compute the kernel in tiles, limit_kernel(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * 8)))}.")
