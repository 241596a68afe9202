"""Timing, answer checks and reporting for ``bench/run.py``.

A *case* is one problem (inputs, size, dtype); its *implementations* are registered with
:func:`implements` and each turns the problem into a zero-argument call. Every call's
answer is checked against the case's reference implementation before its time counts.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import widenet

# case name -> implementation name -> Implementation, in registration order
IMPLEMENTATIONS: dict = {}
# ``() -> MB``: the peak RSS of other processes that compute a row's answer (a peer's worker),
# added to the harness process's own in ``--isolate`` rows.
RSS_PROBES: list = []

DEFAULT_TOLERANCE = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-3}


class Skip(Exception):
    """Raised by an implementation that cannot run a case; the message is the reason."""


@dataclass(frozen=True)
class Implementation:
    prepare: Callable[[Any], Callable[[], Any]]  # problem -> the call that is timed
    requires: tuple = ()  # optional packages; the row is skipped when one is missing
    tolerance: Optional[float] = None  # this row's, in place of the case's


def implements(case: str, name: str, requires: tuple = (), tolerance: Optional[float] = None):
    """Registers ``prepare(problem) -> call`` as implementation ``name`` of ``case``.

    ``prepare`` runs, untimed, before every timed call, so it is where state that a call
    consumes (parameters that training updates) is made fresh. ``tolerance``, where a
    peer is known to be less accurate than the case's tolerance, is this row's own.
    """
    def register(prepare):
        IMPLEMENTATIONS.setdefault(case, {})[name] = Implementation(prepare, tuple(requires), tolerance)
        return prepare
    return register


@dataclass(frozen=True)
class Target:
    """Informational goal: ``median(impl) / median(baseline) <= max_ratio``."""

    impl: str
    baseline: str
    max_ratio: float
    text: str


@dataclass(frozen=True)
class Case:
    """One problem (inputs, size, dtype); its rows are the implementations registered under
    ``name``. The id, ``name[variant,dtype]``, is what ``--only`` matches."""

    name: str
    variant: str  # what tells rows of one name apart besides the dtype, e.g. "relu"
    dtype: np.dtype
    size: str
    setup: Callable[[], Any]  # -> the problem every implementation receives
    reference: str  # the implementation whose answer the others are checked against
    tolerance: Optional[float] = None  # max |answer - reference| / max |reference|
    validate: Optional[Callable[[np.ndarray], Optional[str]]] = None  # answer -> problem or None
    targets: tuple = ()
    flops: Optional[float] = None
    limit: Optional[str] = None  # id of the machine-limit case the GFLOP/s are compared with

    @property
    def id(self) -> str:
        return f"{self.name}[{','.join(filter(None, (self.variant, np.dtype(self.dtype).name)))}]"

    @property
    def implementations(self) -> dict:
        return IMPLEMENTATIONS.get(self.name, {})

    def order(self) -> list:
        """Implementation names, the reference first."""
        return [self.reference] + [name for name in self.implementations if name != self.reference]


@dataclass
class Row:
    id: str  # the case id
    case: str
    variant: str
    impl: str
    size: str
    dtype: str
    threads: int
    status: str = ""  # ok, ref (the reference), FAILED, skipped
    note: str = ""
    repeats: int = 0
    median: Optional[float] = None
    min: Optional[float] = None
    error: Optional[float] = None  # max |answer - reference| / max |reference|
    peak_rss_mb: Optional[float] = None
    ratios: dict = field(default_factory=dict)  # other implementation -> median / its median
    gflops: Optional[float] = None
    limit_fraction: Optional[float] = None
    target: str = ""

    @classmethod
    def of(cls, case: Case, impl: str, **fields) -> "Row":
        return cls(case.id, case.name, case.variant, impl, case.size, np.dtype(case.dtype).name,
                   widenet.get_num_threads(), **fields)

    @property
    def timed(self) -> bool:
        return self.status in ("ok", "ref")


def missing_package(implementation: Implementation) -> Optional[str]:
    for package in implementation.requires:
        if importlib.util.find_spec(package) is None:
            return package
    return None


def relative_error(answer, expected) -> float:
    answer, expected = np.asarray(answer, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if answer.shape != expected.shape or not np.all(np.isfinite(answer)):
        return float("inf")
    scale = float(np.max(np.abs(expected), initial=0.0)) or 1.0
    return float(np.max(np.abs(answer - expected), initial=0.0)) / scale


def agrees(answer, expected, tolerance: float) -> bool:
    """``np.allclose`` with an absolute tolerance relative to the reference's max magnitude."""
    answer, expected = np.asarray(answer), np.asarray(expected)
    if answer.shape != expected.shape:
        return False
    scale = float(np.max(np.abs(expected), initial=0.0)) or 1.0
    return bool(np.allclose(answer, expected, rtol=0.0, atol=tolerance * scale))


def peak_rss_mb() -> float:
    """High-water resident set of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def timed_call(prepare, problem) -> tuple:
    call = prepare(problem)
    gc.collect()
    start = time.perf_counter()
    answer = call()
    return time.perf_counter() - start, answer


def check(case: Case, impl: str, answer, expected) -> tuple:
    """``(relative error, failure or None)`` of a warm-up answer. ``expected`` is the
    reference's answer or a function returning it; the reference is only validated."""
    failure = case.validate(np.asarray(answer)) if case.validate else None
    if impl == case.reference:
        return 0.0, failure
    if expected is None:
        return None, f"no answer from the reference {case.reference}"
    expected = expected() if callable(expected) else expected
    tolerance = (case.implementations[impl].tolerance or case.tolerance
                 or DEFAULT_TOLERANCE[np.dtype(case.dtype)])
    error = relative_error(answer, expected)
    if not agrees(answer, expected, tolerance):
        failure = f"differs from {case.reference}: relative error {error:.2g} > {tolerance:g}"
    return error, failure


def measure(case: Case, impl: str, problem, repeat: int, max_seconds: float, expected=None,
            isolated: bool = False) -> tuple:
    """Runs one row: a warm-up call whose answer is checked, then the timed repeats.

    ``expected`` is as in :func:`check`. In a process of its own (``isolated``), the row
    records the peak RSS after the warm-up, before ``expected`` is loaded (that of this
    process and of the workers that :data:`RSS_PROBES` report). Returns the row
    and the warm-up answer.
    """
    row = Row.of(case, impl)
    implementation = case.implementations[impl]
    package = missing_package(implementation)
    if package is not None:
        row.status, row.note = "skipped", f"{package} not installed"
        return row, None
    try:
        warm_up, answer = timed_call(implementation.prepare, problem)
    except Skip as reason:
        row.status, row.note = "skipped", str(reason)
        return row, None
    except Exception as error:  # a crash marks the row, it does not end the run
        row.status, row.note = "FAILED", f"{type(error).__name__}: {error}"
        return row, None
    row.peak_rss_mb = peak_rss_mb() + sum(probe() for probe in RSS_PROBES) if isolated else None
    row.error, failure = check(case, impl, answer, expected)
    if failure:
        row.status, row.note = "FAILED", failure
        return row, answer
    row.status = "ref" if impl == case.reference else "ok"
    # At least three repeats (or as many as asked, if fewer), more while within max_seconds.
    row.repeats = max(min(repeat, 3), min(repeat, int(max_seconds / max(warm_up, 1e-9))))
    times = [timed_call(implementation.prepare, problem)[0] for _ in range(row.repeats)]
    row.median, row.min = float(np.median(times)), float(np.min(times))
    return row, answer


def summarize(cases: list, rows: list) -> None:
    """Fills the ratios, target verdicts and GFLOP/s of rows measured in one run."""
    by_case: dict = {}
    for row in rows:
        by_case.setdefault(row.id, []).append(row)
    gflops: dict = {}
    for case in cases:
        for row in by_case.get(case.id, []):
            row.ratios = {other.impl: row.median / other.median for other in by_case[case.id]
                          if other is not row and row.timed and other.timed}
            if case.flops and row.timed:
                row.gflops = case.flops / row.median / 1e9
                gflops.setdefault(case.id, row.gflops)
    for case in cases:
        limit = gflops.get(case.limit)
        for row in by_case.get(case.id, []):
            if limit and row.gflops:
                row.limit_fraction = row.gflops / limit
            for target in case.targets:
                if target.impl == row.impl:
                    ratio = row.ratios.get(target.baseline)
                    verdict = "n/a" if ratio is None else "PASS" if ratio <= target.max_ratio else "MISS"
                    row.target = f"{verdict} ({target.text})"


# -- machine info ------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> Optional[float]:
    """The 1-minute load average: other processes on these CPUs distort the times."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


# Optional peers whose installed versions the results record (None: not installed).
PEER_PACKAGES = ("torch", "jax", "jaxlib", "neural-tangents", "tf2jax", "tensorflow")
# More ``() -> {label: version text}`` for peers that run outside this Python (bench/peers.py adds one).
VERSION_PROBES: list = []


def peer_versions() -> dict:
    from importlib import metadata

    found = {}
    for name in PEER_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    for probe in VERSION_PROBES:
        found.update(probe())
    return found


def describe_versions(versions: dict) -> str:
    return ", ".join(f"{name} {version or 'not installed'}" for name, version in versions.items())


def machine_info() -> dict:
    try:
        from threadpoolctl import threadpool_info
        blas = threadpool_info()
    except ImportError:
        blas = "threadpoolctl not installed"
    return {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threadpools": blas,
        "widenet": widenet.build_info(),
        "widenet_threads": widenet.get_num_threads(),
        "peers": peer_versions(),
        "git": _git_revision(),
        "load_average": load_average(),
    }


# -- reporting ---------------------------------------------------------------------------
def seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.3g} s" if value >= 1 else f"{value * 1e3:.3g} ms"


def _cells(row: Row) -> list:
    status = row.status + (f": {row.note}" if row.note else "")
    return [
        row.case + (f"[{row.variant}]" if row.variant else ""), row.impl, row.size, row.dtype,
        str(row.threads),
        str(row.repeats or "-"), seconds(row.median), seconds(row.min),
        ", ".join(f"{other} {ratio:.3g}" for other, ratio in row.ratios.items()) or "-",
        "-" if row.gflops is None else f"{row.gflops:.1f}",
        "-" if row.limit_fraction is None else f"{row.limit_fraction:.0%}",
        "-" if row.error is None else f"{row.error:.1e}",
        "-" if row.peak_rss_mb is None else f"{row.peak_rss_mb:.0f}",
        status, row.target or "-",
    ]


HEADER = ["case", "impl", "size", "dtype", "thr", "reps", "median", "min", "time ratio vs (this/other)",
          "GFLOP/s", "of GEMM", "rel err", "RSS MB", "check", "target"]


def table(rows: list) -> str:
    lines = [HEADER] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def markdown(rows: list) -> str:
    lines = [HEADER, ["---"] * len(HEADER)] + [_cells(row) for row in rows]
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines)
