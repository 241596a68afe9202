"""The sweep cache's cells against damaged, edited and foreign files, an upgrade of widenet,
and the thread count of concurrent threaded sweeps: a cell file that is not exactly what the
cache wrote is computed again (never loaded, never a crash), a directory in a cell's way is
named before anything is computed, and the thread count is restored whatever the order in
which sweeps finish."""

import contextlib
import json
import math
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import widenet
from widenet.sweeps import sweep

EXAMPLES = max(10, settings().max_examples // 2)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CALLS = []


def cell(width, seed):
    """A value from its arguments alone, counting the calls."""
    CALLS.append((width, seed))
    return {"value": float(np.random.default_rng([width, seed]).standard_normal()) / math.sqrt(width),
            "other": width + seed / 8}


def cell_file(directory) -> Path:
    (name,) = [name for name in os.listdir(directory) if name.endswith(".json")]
    return Path(directory) / name


def fresh_cache(tmp_path_factory):
    """A cache directory holding the cell (4, 0), and the record computed for it."""
    directory = tmp_path_factory.mktemp("cache")
    record = sweep(cell, [4], [0], threads=1, progress=False, cache_dir=directory).records[0]
    CALLS.clear()
    return directory, record


@contextlib.contextmanager
def fails_after(seconds: int):
    """TimeoutError if the block takes longer (SIGALRM interrupts a blocking open of a FIFO)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s (blocked on a FIFO?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_recomputed(directory, record):
    result = sweep(cell, [4], [0], threads=1, progress=False, cache_dir=directory)
    assert CALLS == [(4, 0)] and result.cached == 0
    assert result.records == [record]
    CALLS.clear()
    again = sweep(cell, [4], [0], threads=1, progress=False, cache_dir=directory)  # stored anew, whole
    assert CALLS == [] and again.cached == 1 and again.records == [record]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@SETTINGS
@given(junk=JSON)
@example(junk="abc")
@example(junk=[1.0, 2.0])
@example(junk=None)
@example(junk=123.0)
@example(junk=float("nan"))
@example(junk=float("inf"))
@example(junk=True)
def test_an_edited_value_is_computed_again(tmp_path_factory, junk):
    """Edited cells: "abc", a list or null used to crash the sweep; NaN, inf and 123.0
    used to load as if computed."""
    directory, record = fresh_cache(tmp_path_factory)
    path = cell_file(directory)
    stored = json.loads(path.read_text())
    stored["values"]["value"] = junk
    path.write_text(json.dumps(stored))
    assert_recomputed(directory, record)


@SETTINGS
@given(content=JSON, depth=st.integers(0, 200_000))
@example(content=None, depth=100_000)
def test_a_foreign_or_deeply_nested_file_is_computed_again(tmp_path_factory, content, depth):
    directory, record = fresh_cache(tmp_path_factory)
    cell_file(directory).write_text("[" * depth + json.dumps(content) + "]" * depth)
    assert_recomputed(directory, record)


@pytest.mark.parametrize("change", ["key", "width", "seed", "format", "function", "cache_version", "extra", "missing",
                                    "spaces", "int"])
def test_a_cell_with_any_field_changed_is_computed_again(tmp_path_factory, change):
    directory, record = fresh_cache(tmp_path_factory)
    path = cell_file(directory)
    text = path.read_text()
    stored = json.loads(text)
    if change == "extra":
        stored["note"] = 1
    elif change == "missing":
        del stored["format"]
    elif change == "width":
        stored["width"] = 4.0
    elif change == "seed":
        stored["seed"] = False
    elif change == "int":
        stored["values"]["other"] = int(stored["values"]["other"])  # 4.0 -> 4: not what was written
    elif change != "spaces":
        stored[change] = "x"
    path.write_text(json.dumps(stored, indent=1 if change == "spaces" else None))
    assert path.read_text() != text
    assert_recomputed(directory, record)


@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_a_directory_or_fifo_in_a_cells_way_is_named_before_computing(tmp_path_factory, kind):
    """Computing the cells and then failing to store them would waste the sweep; widenet
    replaces files only, never a directory (nor a FIFO someone may be reading)."""
    if kind == "FIFO" and not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    directory, record = fresh_cache(tmp_path_factory)
    path = cell_file(directory)
    path.unlink()
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    with pytest.raises(ValueError, match=f"cache_dir: '{path}'.*is a {kind}"), fails_after(30):
        sweep(cell, [4, 8], [0], threads=1, progress=False, cache_dir=directory)
    assert CALLS == []


def test_an_upgrade_of_widenet_computes_the_cells_again(tmp_path_factory, monkeypatch):
    directory, record = fresh_cache(tmp_path_factory)
    monkeypatch.setattr(widenet._runtime, "__version__", widenet.__version__ + ".post1")
    result = sweep(cell, [4], [0], threads=1, progress=False, cache_dir=directory)
    assert CALLS == [(4, 0)] and result.cached == 0 and result.records == [record]


def test_stale_temporaries_of_a_killed_sweep_are_removed(tmp_path_factory):
    import subprocess
    import sys

    directory, record = fresh_cache(tmp_path_factory)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    from widenet import _files

    stale = directory / f".{cell_file(directory).name}.{_files._HOST}-{gone.pid}-0123456789ab{_files.SUFFIX}"
    stale.write_text("{")
    sweep(cell, [4], [0], threads=1, progress=False, cache_dir=directory)
    assert not stale.exists()


# --- the thread count of concurrent threaded sweeps -------------------------------------------

EVENTS: dict = {}


def waiting_cell(width, seed, role):
    """Cells that make two sweeps overlap in a chosen order (see the test below)."""
    EVENTS[f"{role} running"].set()
    assert EVENTS[f"{role} may finish"].wait(60)
    return {"value": float(width + seed)}


@pytest.mark.parametrize("first_to_finish", ["first", "second"])
def test_concurrent_threaded_sweeps_restore_the_thread_count(first_to_finish):
    """The setting used to be left at 1 after two concurrent sweeps: the second saved
    "1" (set by the first) and restored it after the first had restored the real value."""
    before = widenet.get_num_threads()
    widenet.set_num_threads(2)
    EVENTS.clear()
    for role in ("first", "second"):
        EVENTS[f"{role} running"], EVENTS[f"{role} may finish"] = threading.Event(), threading.Event()
    errors = []

    def run(role):
        try:
            sweep(waiting_cell, [4, 8], [0, 1], threads=2, progress=False, role=role)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    try:
        first = threading.Thread(target=run, args=("first",))
        first.start()
        assert EVENTS["first running"].wait(60)  # the first sweep has set one thread
        second = threading.Thread(target=run, args=("second",))
        second.start()
        assert EVENTS["second running"].wait(60)
        order = ("first", "second") if first_to_finish == "first" else ("second", "first")
        threads = {"first": first, "second": second}
        for role in order:
            EVENTS[f"{role} may finish"].set()
            threads[role].join(60)
        assert errors == []
        assert widenet.get_num_threads() == 2
    finally:
        for event in EVENTS.values():
            event.set()
        widenet.set_num_threads(before)
