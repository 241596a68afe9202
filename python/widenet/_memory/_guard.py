"""The memory limit, the guard that compares a call's estimate with it, and reading an estimate."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import re
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

from widenet import _validation as check

Block = tuple[str, tuple[int, ...], DTypeLike, int]
"""An array a call allocates: ``(name, shape, dtype, copies)``."""

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

    Examples
    --------
    >>> import numpy as np, widenet
    >>> previous = widenet.get_memory_limit()
    >>> widenet.set_memory_limit(2**20)  # one MiB
    >>> try:
    ...     widenet.RBFKernel()(np.zeros((1000, 2)))  # an 8 MB Gram
    ... except widenet.MemoryLimitError:
    ...     print("refused")
    ... finally:
    ...     widenet.set_memory_limit(previous)
    refused
    """


# -- the limit -------------------------------------------------------------------------------


def _cgroup_limit() -> Optional[int]:
    """Return the memory limit of this process's control group (v2 or v1), if there is one."""
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
    """Return the total memory that ``/proc/meminfo`` gives, if it can be read."""
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
    """Return the memory this process can use, in bytes.

    That is the physical memory (``sysconf``, else ``/proc/meminfo``), or the control
    group's limit when smaller; ``FALLBACK_PHYSICAL_MEMORY`` (8 GiB) when neither can be
    read.
    """
    total: Optional[int] = None
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
    """Return the bytes of a size such as ``"123456"``, ``"500MB"``, ``"8 GB"``, ``"2GiB"`` or ``"25%"``.

    The units are decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB); a percentage is
    of the physical memory.
    """
    match = _SIZE_PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or (unit != "%" and unit not in _UNITS):
        raise ValueError(f"{name}: expected a number of bytes such as 8000000000, 8GB, 8GiB or 50%, got {text!r}")
    number = float(match.group(1))
    size = physical_memory() * number / 100 if unit == "%" else number * _UNITS[str(unit)]
    if not 1 <= size < 2**63:
        raise ValueError(f"{name}: expected a size between 1 byte and 2**63 bytes, got {text!r}")
    return int(size)


def _limit_and_source() -> tuple[int, str]:
    """Return the limit and where it comes from (``"explicit"``, ``"environment"`` or ``"default"``)."""
    if _explicit_limit is not None:
        return _explicit_limit, "explicit"
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if text is not None and text.strip():
        return parse_size(text, ENVIRONMENT_VARIABLE), "environment"
    return int(DEFAULT_FRACTION * physical_memory()), "default"


def _describe_source(source: str) -> str:
    """Return where the limit comes from, in words."""
    if source == "explicit":
        return "set by widenet.set_memory_limit"
    if source == "environment":
        return f"from the environment variable {ENVIRONMENT_VARIABLE}"
    return f"half of the {format_bytes(physical_memory())} of memory"


def get_memory_limit() -> int:
    """Return the largest allocation, in bytes, that a widenet call may make.

    Set by :func:`set_memory_limit`; otherwise by the environment variable
    ``WIDENET_MEMORY_LIMIT`` (bytes, or a size such as ``8GB``, ``8GiB`` or ``50%`` of the
    memory); otherwise half of the physical memory (or of the control group's limit when
    that is smaller).

    Examples
    --------
    >>> import widenet
    >>> widenet.get_memory_limit() > 0
    True
    """
    return _limit_and_source()[0]


def set_memory_limit(limit: Optional[int]) -> None:
    """Set the largest allocation a widenet call may make.

    Calls whose estimated allocation exceeds the limit raise :class:`MemoryLimitError`
    before allocating anything, naming the chunked alternative.

    Parameters
    ----------
    limit : int or None
        A positive number of bytes; ``None`` returns to the default (the environment
        variable ``WIDENET_MEMORY_LIMIT`` if set, else half of the physical memory). A
        limit larger than any allocation (e.g. ``2**62``) turns the guard off.

    Examples
    --------
    >>> import widenet
    >>> previous = widenet.get_memory_limit()
    >>> widenet.set_memory_limit(2 * 2**30)  # 2 GiB
    >>> widenet.get_memory_limit()
    2147483648
    >>> widenet.set_memory_limit(None)  # back to the environment's or the default
    >>> widenet.get_memory_limit() == previous
    True
    """
    global _explicit_limit
    _explicit_limit = None if limit is None else check.integer(limit, "limit", 1)


# -- messages --------------------------------------------------------------------------------


def format_bytes(size: float) -> str:
    """Return ``size`` in words, such as ``80.0 GB``: decimal units, one decimal."""
    size = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _block_bytes(shape: Sequence[int], dtype: DTypeLike, copies: int = 1) -> int:
    """Return the bytes of ``copies`` arrays of ``shape`` and ``dtype``."""
    return copies * math.prod(map(int, shape)) * np.dtype(dtype).itemsize  # Python ints: no overflow


def _describe(size: int, name: str, shape: Sequence[int], dtype: DTypeLike, copies: int) -> str:
    """Return a block of ``size`` bytes in words, for the error's message."""
    times = f" x{copies}" if copies > 1 else ""
    return f"{name} {tuple(int(extent) for extent in shape)} {np.dtype(dtype).name}{times} = {format_bytes(size)}"


def require(where: str, blocks: Sequence[Block], alternative: Union[str, Callable[[], str]]) -> None:
    """Raise :class:`MemoryLimitError` when the arrays ``blocks`` exceed the limit.

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
    if _ESTIMATING.get():
        raise _Estimated(where, total)
    if _explicit_limit is not None and total <= _explicit_limit:
        return  # the fast path of every call
    limit, source = _limit_and_source()
    if total <= limit:
        return
    sizes = [entry for entry in sizes if entry[0] > 0]
    advice = alternative() if callable(alternative) else alternative
    largest = sorted(sizes, key=lambda entry: -entry[0])[:3]
    parts = ", ".join(_describe(*entry) for entry in largest)
    raise MemoryLimitError(
        f"{where}: would allocate {format_bytes(total)} ({parts}), more than widenet's memory limit of "
        f"{format_bytes(limit)} ({_describe_source(source)}). {advice} Nothing was allocated; the limit can "
        f"be changed with widenet.set_memory_limit(bytes) or the environment variable {ENVIRONMENT_VARIABLE}.")


# -- reading an estimate without running the call ---------------------------------------------

_ESTIMATING = contextvars.ContextVar("widenet_memory_estimating", default=False)


class _Estimated(BaseException):
    """The first estimate, carried out of a call run by :func:`estimate`.

    A BaseException, so that no ``except Exception`` on the way lets the call go on to
    allocate.
    """

    def __init__(self, where: str, total: int) -> None:
        super().__init__(where, total)
        self.where, self.total = where, total


def estimate(call: Callable[[], object]) -> tuple[str, int]:
    """Return ``(where, bytes)``: what the memory guard counts for ``call()``, read without running it.

    ``call`` (a function of no arguments, e.g. ``lambda: net.ntk(X)``) runs up to its first
    guard check, which reports the peak the whole call would reach instead of allocating;
    arguments are validated on the way as usual. The figure is the one the guard compares
    with the limit, so tests can measure a call's peak memory against it.
    """
    token = _ESTIMATING.set(True)
    try:
        call()
    except _Estimated as found:
        return found.where, found.total
    finally:
        _ESTIMATING.reset(token)
    raise LookupError("call: returned without reaching a memory guard (nothing it allocates is counted)")


@contextlib.contextmanager
def preliminary() -> Iterator[None]:
    """Make the guards inside the ``with`` block check the limit without being what :func:`estimate` reports.

    For the small allocations an entry point makes before its own guard can count its peak
    (such as default data).
    """
    token = _ESTIMATING.set(False)
    try:
        yield
    finally:
        _ESTIMATING.reset(token)


def _fitting(unit_bytes: int, share: float = 0.25) -> int:
    """Return how many units of ``unit_bytes`` fit in ``share`` of the limit (at least 1)."""
    return max(1, int(share * get_memory_limit()) // max(1, unit_bytes))



def _total(blocks: Sequence[Block]) -> int:
    """Return the bytes of all ``blocks``."""
    return sum(_block_bytes(shape, dtype, copies) for _, shape, dtype, copies in blocks)


def peak(*phases: Sequence[Block]) -> list[Block]:
    """Return the blocks of the phase of a call that holds the most bytes at once."""
    fullest: Sequence[Block] = max(phases, key=_total)
    return list(fullest)
