"""The memory guard: a call that would allocate more than a limit is refused before allocating.

Every public entry point that allocates arrays growing with its arguments (the Jacobian,
Gram matrices, the hidden layer of a batch, training records) estimates the bytes it is
about to allocate from the shapes alone and calls one of the ``check_*`` functions below
first. Above the limit they raise :class:`MemoryLimitError` (a ``ValueError`` and a
``MemoryError``) naming the size, the shape, the limit and the chunked alternative.

The limit is, in order of precedence: the value given to :func:`set_memory_limit`; the
environment variable ``WIDENET_MEMORY_LIMIT`` (read at every check); half of the physical
memory (or of the control group's limit when that is smaller).

The estimates count the peak of the whole call: the arrays its algorithm holds at once in
its fullest phase (outputs, the blocks of the compiled kernels or of the numpy twin with its
temporaries, LAPACK's workspaces, copies, training records), from the shapes alone, before
anything is allocated. :func:`estimate` reads the figure a call's guard compares with the
limit; the tests hold it within 1.3x of the peak resident memory each entry point adds.
Small arrays (of the size of the inputs or below) are left out.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import re
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike, NDArray

from widenet import _validation as check
from widenet._native import _core
from widenet._types import Backend, LinearMethod, PassKind

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
    """
    return _limit_and_source()[0]


def set_memory_limit(limit: Optional[int]) -> None:
    """Set the largest allocation a widenet call may make.

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


# -- estimates of the entry points -----------------------------------------------------------


# The width chunk the compiled tangent Gram picks when none is given, for ``rows`` points
# and entries of ``itemsize`` bytes: ``default_width_chunk(rows, width, itemsize)``.
default_width_chunk = _core.default_width_chunk


# The numpy twin evaluates sigma and sigma' with temporaries beyond their result, per entry of
# the hidden layer: (arrays of the compute dtype, float64 arrays) for sigma, then for sigma',
# as measured on widenet.reference.activations (erf and gelu work in float64).
_TWIN_ACTIVATION_TEMPORARIES = {
    "relu": ((0, 0), (0, 0)), "tanh": ((0, 0), (2, 0)), "erf": ((0, 5), (1, 0)), "arctan": ((0, 0), (1, 0)),
    "sigmoid": ((2, 0), (4, 0)), "softplus": ((0, 0), (2, 0)), "gelu": ((0, 9), (0, 9)), "sin": ((0, 0), (0, 0)),
    "identity": ((0, 0), (0, 0))}

# m x n arrays that a pass over m points holds at once. C++: sigma(Z) for a forward pass and
# sigma'(Z) besides for a gradient (jvp and ntk_diag take the width in chunks). The numpy
# twin: the arrays of its formulas at their fullest, and the arrays alive while it evaluates
# sigma or sigma' (whose temporaries come on top).
_PASS_COPIES_CPP = {"forward": 1, "loss_grad": 2, "vjp": 2, "jvp": 3, "ntk_diag": 2}
# Parameter-sized arrays of a pass (C++, numpy twin): a gradient is formed in C++ from a
# transposed copy of the parameters and handed back as new arrays, which Parameters copies;
# a Jacobian-vector product takes its direction as Parameters made from a vector. (The twin's
# gradient comes after its hidden layer is gone.)
_PASS_PARAMETERS = {"forward": (0, 0), "loss_grad": (3, 0), "vjp": (3, 0), "jvp": (1, 1), "ntk_diag": (0, 0)}
_PASS_COPIES_TWIN = {"forward": (2, ((2, "sigma"),)), "loss_grad": (4, ((2, "sigma"), (3, "derivative"))),
                     "vjp": (4, ((2, "sigma"), (3, "derivative"))), "jvp": (3, ((3, "sigma"), (3, "derivative"))),
                     "ntk_diag": (4, ((2, "derivative"), (3, "sigma")))}


def _activation_temporaries(rows: int, width: int, dtype: DTypeLike, activation: str, function: str) -> list[Block]:
    """Return the numpy twin's temporaries while it evaluates ``sigma`` or its ``derivative`` on ``rows x width``."""
    same, wide = _TWIN_ACTIVATION_TEMPORARIES.get(activation, ((0, 0), (0, 0)))[function == "derivative"]
    return [("activation temporaries", (rows, width), dtype, same),
            ("float64 activation temporaries", (rows, width), np.float64, wide)]


def _twin_hidden(rows: int, width: int, dtype: DTypeLike, activation: str, copies: int,
                 phases: Sequence[tuple[int, str]]) -> list[Block]:
    """Return the numpy twin's hidden layers of ``rows x width`` at their fullest.

    That is ``copies`` hidden layers, or, if more, ``alive`` of them and the temporaries of
    the activation ``function`` for each of the ``phases`` ``(alive, function)``.
    """

    def hidden(count: int) -> Block:
        return ("hidden layer", (rows, width), dtype, count)

    return peak([hidden(copies)], *([hidden(alive), *_activation_temporaries(rows, width, dtype, activation, function)]
                                    for alive, function in phases))


def pass_blocks(kind: PassKind, m: int, width: int, dtype: DTypeLike, backend: Backend, activation: str,
                num_params: int = 0) -> list[Block]:
    """Return the arrays of a pass of ``kind`` over ``m`` points, with its ``m`` outputs.

    ``kind`` is ``forward``, ``loss_grad``, ``vjp``, ``jvp`` or ``ntk_diag``, of a network
    of ``num_params`` parameters.
    """
    cpp = backend == "cpp"
    fixed: list[Block] = [("outputs", (m,), dtype, 1), ("parameter-sized arrays", (num_params,), dtype,
                                           _PASS_PARAMETERS[kind][0 if cpp else 1])]
    if not cpp:
        return [*_twin_hidden(m, width, dtype, activation, *_PASS_COPIES_TWIN[kind]), *fixed]
    if kind in ("jvp", "ntk_diag"):
        width = default_width_chunk(2 * m if kind == "jvp" else m, width, np.dtype(dtype).itemsize)
    return [("hidden layer", (m, width), dtype, _PASS_COPIES_CPP[kind]), *fixed]


def _batches(width: int, dtype: DTypeLike, copies: int) -> Callable[[], str]:
    """Return the advice to pass the rows in batches, written when needed."""
    return lambda: (f"Pass the rows of X in batches (at most about {_fitting(_block_bytes((width,), dtype, copies))} "
                    f"rows fit).")


def check_hidden(where: str, m: int, width: int, dtype: DTypeLike, copies: int = 2, outputs: Sequence[Block] = (),
                 backend: Backend = "cpp", activation: str = "", kind: Optional[PassKind] = None,
                 num_params: int = 0) -> None:
    """Guard a call that forms the ``m x n`` hidden layer of a batch.

    The call holds a pass of ``kind`` (see :func:`pass_blocks`), or ``copies`` hidden-layer
    arrays, besides ``outputs``.
    """
    blocks = pass_blocks(kind, m, width, dtype, backend, activation, num_params) if kind else \
        [("hidden layer", (m, width), dtype, copies)]
    require(where, [*blocks, *outputs], _batches(width, dtype, max(copies, 2)))


def check_initialization(where: str, input_dim: int, width: int, dtype: DTypeLike, networks: int = 1) -> None:
    """Guard the drawing of ``networks`` shallow networks.

    The draws are made in float64 and scaled (two float64 arrays of the largest block), then
    each network keeps its parameters and their initial copy; an ensemble stacks them while
    its members still hold theirs.
    """
    size = width * (input_dim + 2) + 1
    draws: Block = ("float64 draws and the parameters made from them", (size,), np.float64, 2)
    blocks: list[Block]
    if networks == 1:
        blocks = [draws]
    else:
        members: Block = ("members' parameters and initial parameters", (networks, size), dtype, 2)
        stacked: Block = ("stacked parameters", (networks, size), dtype, 1)
        blocks = peak([members, stacked], [members, draws])
    require(where, blocks, "Pass a smaller width (or fewer networks): the parameters alone exceed the limit.")


def _total(blocks: Sequence[Block]) -> int:
    """Return the bytes of all ``blocks``."""
    return sum(_block_bytes(shape, dtype, copies) for _, shape, dtype, copies in blocks)


def peak(*phases: Sequence[Block]) -> list[Block]:
    """Return the blocks of the phase of a call that holds the most bytes at once."""
    fullest: Sequence[Block] = max(phases, key=_total)
    return list(fullest)


def check_jacobian(where: str, m: int, width: int, num_params: int, dtype: DTypeLike, backend: Backend = "cpp",
                   activation: str = "") -> None:
    """Guard ``ShallowNetwork.jacobian``: the ``m x P`` Jacobian and the hidden layer.

    The numpy twin forms the blocks of the Jacobian before joining them: about a second
    Jacobian.
    """
    jacobian: Block = ("Jacobian", (m, num_params), dtype, 1)
    if backend == "cpp":
        blocks = [jacobian, ("hidden layer", (m, width), dtype, 2)]
    else:  # its blocks (about one more Jacobian) are joined into one; sigma' and sigma come first
        blocks = peak([jacobian, jacobian, ("hidden layer", (m, width), dtype, 1)],
                      _twin_hidden(m, width, dtype, activation, 2, ((2, "derivative"),)),
                      [jacobian, *_twin_hidden(m, width, dtype, activation, 2, ((2, "sigma"),))])
    require(where, blocks,
            lambda: f"Use jacobian_chunks(X, rows={_fitting(_block_bytes((num_params + 2 * width,), dtype))}) to "
                    f"stream it by rows, or ntk(X1, X2), which computes J1 J2^T without ever forming the Jacobian.")


# Entries of a records x m block of the closed-form linearized records formed at once: the
# temporaries of a block (about ten arrays) stay near 2 MB each, whatever the number of records.
RECORD_BLOCK = 2**18

GRAM_BAND_ROWS = _core.GRAM_BAND_ROWS  # rows of X1 X2^T formed at once by the C++ Gram


def ntk_blocks(m1: int, m2: Optional[int], width: int, dtype: DTypeLike, backend: Backend, activation: str = "",
               width_chunk: int = 0) -> list[Block]:
    """Return the arrays of the tangent Gram ``K_n(X1, X2)`` (``m2`` None: the symmetric ``K_n(X1, X1)``).

    In C++ the output, its second accumulator, a band of ``X1 X2^T`` and the hidden-layer
    blocks of one width chunk; in the numpy twin the whole hidden layers of both inputs
    (three arrays each while ``sigma(Z1) sigma(Z2)^T`` is formed), then the Gram and the
    products that make it.
    """
    columns = m1 if m2 is None else m2
    gram = (m1, columns)
    if backend == "cpp":
        points = m1 + (0 if m2 is None else m2)
        chunk = width_chunk or default_width_chunk(points, width, np.dtype(dtype).itemsize)
        return [("width-chunk blocks", (points, min(chunk, width)), dtype, 2),
                ("Gram and its accumulators", gram, dtype, 2),
                ("band of X1 X2^T", (min(m1, GRAM_BAND_ROWS), columns), dtype, 1)]
    points = m1 + columns  # the twin forms the hidden layer of X2 = X1 a second time

    def hidden(copies: int) -> Block:
        return ("hidden layer", (points, width), dtype, copies)

    rows = max(m1, columns)  # sigma and sigma' of one input at a time
    return peak([hidden(3), ("Gram", gram, dtype, 1)], [hidden(2), ("Gram and its products", gram, dtype, 3)],
                [hidden(3), *_activation_temporaries(rows, width, dtype, activation, "sigma")],
                [hidden(2), *_activation_temporaries(rows, width, dtype, activation, "derivative")])


def check_ntk(where: str, m1: int, m2: Optional[int], width: int, dtype: DTypeLike, backend: Backend,
              width_chunk: int = 0, diagonal: bool = False, activation: str = "") -> None:
    """Guard ``ntk`` (see :func:`ntk_blocks`) and ``ntk_diag``.

    With ``diagonal=True``: a pass over the points, the width in chunks in C++.
    """
    itemsize = np.dtype(dtype).itemsize
    if diagonal:
        require(where, pass_blocks("ntk_diag", m1, width, dtype, backend, activation),
                "Pass the rows of X in batches, or use backend='cpp' with its width chunks.")
        return

    def alternative() -> str:
        tile = max(1, math.isqrt(_fitting(3 * itemsize)))
        return (f"Compute the Gram in tiles, ntk(X1[i:i + t], X2[j:j + t]) with t about {tile}, and bound the "
                f"hidden-layer blocks with width_chunk= (backend='cpp').")
    require(where, ntk_blocks(m1, m2, width, dtype, backend, activation, width_chunk), alternative)


def recorded_count(steps: int, record_every: int) -> int:
    """Return how many records a run of ``steps`` steps keeps: ``k = 0, record_every, ...`` and ``steps``."""
    return steps // record_every + 1 + (1 if steps % record_every else 0)


TRAINING_ALTERNATIVE = ("Record less often (a larger record_every), pass fewer X_test points, or train in pieces: "
                        "train continues from where it stopped (TrainingState keeps the records).")


def check_training(where: str, *args: Any, **kwargs: Any) -> None:
    """Guard gradient descent (see :func:`training_blocks` for the arguments)."""
    require(where, training_blocks(*args, **kwargs), TRAINING_ALTERNATIVE)


def advice_blocks(m: int) -> list[Block]:
    """Return the vectors of the admissible step a DivergenceError estimates.

    The estimate (errors.largest_eigenvalue) holds the Lanczos basis on the ``m`` training
    points and its products.
    """
    from widenet.errors import LANCZOS_STEPS

    return [("Lanczos vectors of the divergence advice", (2 * LANCZOS_STEPS, m), np.float64, 1)]


def training_blocks(m: int, m_test: int, width: int, steps: int, record_every: int, dtype: DTypeLike,
                    networks: int = 1, workers: int = 1, backend: Backend = "cpp", activation: str = "",
                    num_params: int = 0) -> list[Block]:
    """Return the arrays of gradient descent at its peak.

    They are the records (losses, distances and ``records x m_test`` test outputs, for each
    of ``networks``; the numpy twin stacks the records of an ensemble's members at the end),
    the trained parameters with their copies, and the hidden layer of each worker (C++:
    ``sigma(Z)`` and ``sigma'(Z)`` on the training points and ``sigma(Z)`` on the test
    points; the twin: its gradient pass, or its forward pass on the test points).
    """
    records = recorded_count(steps, record_every)
    stacked = 2 if backend == "numpy" and networks > 1 else 1
    blocks: list[Block] = [("test-output records", (networks, records, m_test), dtype, stacked),
              ("loss and distance records", (networks, records), np.float64, 2 * stacked)]
    if backend == "cpp":
        # C++ copies the parameters and the initial ones in and the trained ones out; each run
        # in flight holds the state, the start and the gradient, transposed
        blocks += [("hidden layer", (workers, 2 * m + m_test, width), dtype, 1),
                   ("parameters in and out", (networks, num_params), dtype, 3),
                   ("state, start and gradient of each run", (workers, num_params), dtype, 3)]
    else:  # the twin's state, gradient and next state; the stacked parameters of an ensemble
        blocks += [*peak(pass_blocks("loss_grad", m, width, dtype, backend, activation),
                         pass_blocks("forward", m_test, width, dtype, backend, activation)),
                   ("parameters, gradient and the next parameters", (num_params,), dtype, 3),
                   ("stacked parameters", (networks, num_params), dtype, stacked - 1)]
    return [*blocks, *advice_blocks(m)]


# numpy.linalg.eigh of an m x m matrix holds a copy of it, LAPACK's workspace (syevd: 2 m^2)
# and the eigenvectors: four m x m float64 arrays besides its input.
EIGH_COPIES = 4


def check_linear_run(where: str, m: int, m_test: int, records: int, method: LinearMethod, dtype: DTypeLike,
                     gram: Sequence[Block], cross: Sequence[Block], passes: Sequence[Block],
                     pullback: Sequence[Block]) -> None:
    """Guard linearized training (``method`` ``closed_form``, ``iterate`` or ``flow``), phase by phase.

    The run is on ``m`` points with ``m_test`` test points and ``records`` records. Its
    phases: the tangent Gram ``theta`` (``gram``: what forming it holds), the cross Gram
    (``cross``) and the outputs (``passes``) beside it; then either the eigendecomposition
    of ``theta`` and the float64 records formed from it block by block, or the C++
    iteration's records in the compute dtype and the float64 outputs made from them; last,
    the step to the final parameters (``pullback``) beside the records.
    """
    square, across = (m, m), (m_test, m)
    theta: list[Block] = [("tangent Gram", square, dtype, 1), ("cross Gram", across, dtype, 1)]
    kept: list[Block] = [("train-output and test-output records", (records, m + m_test), np.float64, 1),
            ("loss, distance and step records", (records,), np.float64, 3)]
    if method == "iterate":
        converted = 1 if np.dtype(dtype).itemsize < 8 else 0
        run: list[Block] = [*theta, ("records of the iteration", (records, m + m_test + 2), dtype, 1),
               ("float64 records made from them", (records, m + m_test), np.float64, converted)]
        solve = run
    else:
        in_float64 = 1 if np.dtype(dtype).itemsize < 8 else 0
        solve = [*theta, ("float64 Gram and eigh's copy, workspace and eigenvectors", square, np.float64,
                          EIGH_COPIES + in_float64)]
        block = (min(records, max(1, RECORD_BLOCK // max(m, 1))), m)
        run = [*theta, ("eigenvectors", square, np.float64, 1), *kept,
               ("temporaries of a block of records", block, np.float64, 10)]
    blocks = peak(gram, [theta[0], *cross], [*theta, *passes], solve, run,
                  [theta[0], *kept, *peak(pullback, advice_blocks(m))])
    require(where, blocks, "Record fewer steps (a larger record_every, or fewer times) or pass fewer X_test "
                           "points; the records of one step need m + m_test numbers.")


def check_gram(where: str, X1: NDArray[Any], X2: Optional[NDArray[Any]], dtype: DTypeLike, copies: int = 3) -> None:
    """Guard a kernel Gram ``m1 x m2`` (``X2`` None: ``m1 x m1``) with ``copies`` arrays of its size."""
    m1, m2 = X1.shape[0], (X1 if X2 is None else X2).shape[0]
    require(where, [("Gram", (m1, m2), dtype, copies)],
            lambda: f"Compute the Gram in tiles, K(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * np.dtype(dtype).itemsize)))}.")


def check_limit_kernel(where: str, m1: int, m2: int, point_floats: int, backend: Backend) -> None:
    """Guard ``limit_kernel`` (deterministic methods).

    It holds the ``m1 x m2`` kernel, computed in place of ``X1 X2^T`` in C++ and through
    about ten arrays of its size in the numpy twin, and each point's table of the scale
    mixtures (``point_floats`` floats, C++).
    """
    copies = 1 if backend == "cpp" else 10
    tables = (m1 + m2) * point_floats if backend == "cpp" else 0
    require(where, [("kernel and its working arrays", (m1, m2), np.float64, copies),
                    ("tables of the points", (tables,), np.float64, 1)],
            lambda: f"Compute the kernel in tiles, limit_kernel(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * 8)))}.")


# The numpy twins of the classic kernels (widenet.reference.kernels) hold this many arrays of
# the Gram's size at once (float64 counted; boolean masks in eighths): the product X1 X2^T and
# its scaled copy and power; for the distance kernels the squared distances, the sum of the
# norms, the kernel, the error allowance of each entry and its tests (laplace: the roots too).
TWIN_KERNEL_COPIES = {"linear": 1, "polynomial": 3, "rbf": 6, "laplace": 8}


def _tiles(copies: int) -> Callable[[], str]:
    """Return the advice to fit on fewer points, written when needed."""
    return lambda: (f"Fit on fewer points (a Gram of m x m float64 and its eigendecomposition need about "
                    f"{copies} m^2 numbers; m about {max(1, math.isqrt(_fitting(8 * copies, 1.0)))} fit).")


def check_kernel_fit(where: str, m: int, gram_copies: int) -> None:
    """Guard kernel least squares on ``m`` points.

    It holds the kernel's Gram (``gram_copies`` arrays of it while it is formed), then the
    Gram and its eigendecomposition (numpy.linalg.eigh), whose eigenvectors are kept.
    """
    square = (m, m)
    gram: list[Block] = [("Gram while it is formed", square, np.float64, gram_copies)]
    solve: list[Block] = [("Gram", square, np.float64, 1),
                          ("eigh's copy, workspace and eigenvectors", square, np.float64, EIGH_COPIES)]
    require(where, peak(gram, solve), _tiles(1 + EIGH_COPIES))


def check_kernel_prediction(where: str, m_test: int, m: int, copies: int = 1) -> None:
    """Guard a prediction from the ``m_test x m`` cross Gram (``copies`` arrays of its size)."""
    require(where, [("cross Gram", (m_test, m), np.float64, copies)],
            lambda: f"Predict in batches of rows (about {_fitting(8 * copies * m)} rows fit).")


def svd_blocks(m: int, n: int) -> list[Block]:
    """Return the arrays of ``numpy.linalg.svd(A, full_matrices=False)`` of an ``m x n`` float64 matrix.

    LAPACK's gesdd holds a copy, the singular vectors ``U`` and ``V^T`` and the workspace
    (about one more ``m x n`` matrix and ``4 k^2``, ``k = min(m, n)``).
    """
    k = min(m, n)
    return [("copy of the matrix and LAPACK's workspace", (m, n), np.float64, 2),
            ("singular vectors U and V^T", (m + n, k), np.float64, 1), ("LAPACK's workspace", (k, k), np.float64, 4)]


def check_least_squares(where: str, m: int, n: int, copies: int = 0, outputs: Sequence[Block] = ()) -> None:
    """Guard a least-squares solve by the SVD of the ``m x n`` matrix ``A``.

    ``copies`` more copies of ``A`` are held, such as its bias augmentation. The solve holds
    the SVD, then the singular vectors and the copies kept of those above the rank
    tolerance, besides ``outputs``.
    """
    k = min(m, n)
    held: list[Block] = [("copies of A", (m, n), np.float64, copies), *outputs]
    vectors: Block = ("singular vectors and the kept ones", (m + n, k), np.float64, 2)
    require(where, peak([*held, *svd_blocks(m, n)], [*held, vectors]),
            "Pass fewer rows or columns: the SVD of A needs about 3 copies of it.")




def lazy_training_blocks(width: int, input_dim: int, m: int, m_test: int, records: int, held: tuple[int, int],
                         linearized: bool) -> list[Block]:
    """Return the arrays of a measurement of lazy training at its peak.

    The measurement is on one float64 network of ``width`` (``m`` training and ``m_test``
    test points, ``records`` records), phase by phase: drawing the network; its Jacobian
    with the hidden layer, or the temporary of the norms of its ``U`` block, beside
    ``held[0]`` parameter vectors (the network's, its initial ones, copies); the network's
    training in C++ (records of its outputs at ``m + m_test`` points, the hidden layer, the
    parameters it copies) beside ``held[1]`` parameter vectors; with ``linearized``, the
    linearization's records, the pullback to its parameters and the differences of the two
    runs' outputs.
    """
    size = width * (input_dim + 2) + 1
    before, after = (("parameter vectors kept", (size,), np.float64, count) for count in held)
    jacobian: list[Block] = [before, ("Jacobian", (m, size), np.float64, 1),
                *peak([("hidden layer", (m, width), np.float64, 2)],
                      [("temporary of the Jacobian's block norms", (m, width * input_dim), np.float64, 1)])]
    network_records: Block = ("records of the network", (records, m + m_test + 2), np.float64, 1)
    training: list[Block] = [after, network_records, ("hidden layer", (3 * m + m_test, width), np.float64, 1),
                ("parameters copied in and out, state, start and gradient", (size,), np.float64, 6)]
    phases: list[list[Block]] = [[("float64 draws", (size,), np.float64, 2)], jacobian, training]
    if linearized:
        linear_records: Block = ("records of the linearization", (records, m + m_test + 3), np.float64, 1)
        phases += [[after, network_records, linear_records, *pass_blocks("vjp", m, width, np.float64, "cpp", "", size)],
                   [after, network_records, linear_records, ("differences of the outputs", (records, max(m, m_test)),
                                                             np.float64, 2)]]
    return peak(*phases)
