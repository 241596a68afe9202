"""Resumable sweeps in this process: the cell cache, failures per cell, and the lazy Dask import."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import widenet
from widenet.sweeps import CellFailure, sweep

CALLS = []
FAILING_WIDTHS = {8}


def counted_cell(width, seed, scale=1.0, data=None):
    """A value from its arguments alone, counting the calls (in this process)."""
    CALLS.append((width, seed))
    rng = np.random.default_rng([width, seed])
    offset = 0.0 if data is None else float(np.sum(data))
    return {"value": scale * rng.standard_normal() / np.sqrt(width) + offset, "width_again": float(width)}


def flaky_cell(width, seed):
    """Fails for the widths in FAILING_WIDTHS."""
    CALLS.append((width, seed))
    if width in FAILING_WIDTHS:
        raise ArithmeticError(f"no luck at width {width}")
    return {"value": width + seed / 10}


@pytest.fixture(autouse=True)
def fresh_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def cell_files(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".json"))


def test_second_run_loads_every_cell_bit_for_bit(tmp_path):
    first = sweep(counted_cell, [4, 16, 64], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    assert len(CALLS) == 6 and first.cached == 0
    assert len(cell_files(tmp_path)) == 6
    CALLS.clear()
    second = sweep(counted_cell, [4, 16, 64], [0, 1], threads=2, progress=False, cache_dir=tmp_path)
    assert CALLS == [] and second.cached == 6
    assert second.records == first.records  # floats compared exactly
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []  # no temporary file left
    stored = json.loads((tmp_path / cell_files(tmp_path)[0]).read_text())
    assert stored["function"].endswith(":counted_cell") and set(stored["values"]) == {"value", "width_again"}


def test_only_new_cells_are_computed(tmp_path):
    sweep(counted_cell, [4, 16], [0], threads=1, progress=False, cache_dir=tmp_path)
    CALLS.clear()
    result = sweep(counted_cell, [4, 16, 32], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    assert sorted(CALLS) == [(4, 1), (16, 1), (32, 0), (32, 1)]
    assert result.cached == 2 and len(result.records) == 6


@pytest.mark.parametrize("change", [
    {"fixed": {"scale": 2.0}},
    {"fixed": {"data": np.array([1.0, 2.0, 3.5])}},
    {"cache_version": "v2"},
])
def test_a_different_key_computes_again(tmp_path, change):
    base = {"data": np.array([1.0, 2.0, 3.0])}
    sweep(counted_cell, [4], [0, 1], threads=1, progress=False, cache_dir=tmp_path, **base)
    CALLS.clear()
    arguments = {**base, **change.get("fixed", {})}
    sweep(counted_cell, [4], [0, 1], threads=1, progress=False, cache_dir=tmp_path,
          cache_version=change.get("cache_version"), **arguments)
    assert len(CALLS) == 2
    CALLS.clear()
    sweep(counted_cell, [4], [0, 1], threads=1, progress=False, cache_dir=tmp_path, **base)  # the first still there
    assert CALLS == []


def test_failures_are_reported_per_cell_and_resumed(tmp_path, monkeypatch):
    result = sweep(flaky_cell, [4, 8, 16], [0, 1], threads=2, progress=False, cache_dir=tmp_path, on_error="return")
    assert not result.complete
    assert [(failure.width, failure.seed) for failure in result.failures] == [(8, 0), (8, 1)]
    failure = result.failures[0]
    assert isinstance(failure, CellFailure)
    assert failure.error_type == "ArithmeticError" and failure.message == "no luck at width 8"
    assert "flaky_cell" in failure.traceback and "width=8, seed=0: ArithmeticError" in str(failure)
    assert [(r["width"], r["seed"]) for r in result.records] == [(4, 0), (4, 1), (16, 0), (16, 1)]
    assert "2 failed cells" in repr(result)
    assert len(cell_files(tmp_path)) == 4  # failed cells are not stored

    monkeypatch.setattr(sys.modules[__name__], "FAILING_WIDTHS", set())
    CALLS.clear()
    resumed = sweep(flaky_cell, [4, 8, 16], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    assert sorted(CALLS) == [(8, 0), (8, 1)] and resumed.complete and resumed.cached == 4
    assert resumed.values("value").tolist() == [4.0, 4.1, 8.0, 8.1, 16.0, 16.1]


def test_raise_keeps_the_cells_finished_before(tmp_path):
    with pytest.raises(ArithmeticError, match="no luck"):
        sweep(flaky_cell, [4, 8, 16], [0], threads=1, progress=False, cache_dir=tmp_path)
    assert len(cell_files(tmp_path)) == 1  # width 4 ran first and is stored


def test_every_cell_failing_returns_an_empty_result():
    result = sweep(flaky_cell, [8], [0, 1], threads=1, progress=False, on_error="return")
    assert result.records == [] and result.quantities == () and len(result.failures) == 2


def test_a_damaged_file_is_computed_again(tmp_path):
    sweep(counted_cell, [4], [0], threads=1, progress=False, cache_dir=tmp_path)
    (name,) = cell_files(tmp_path)
    (tmp_path / name).write_text("{not json")
    CALLS.clear()
    result = sweep(counted_cell, [4], [0], threads=1, progress=False, cache_dir=tmp_path)
    assert CALLS == [(4, 0)] and result.cached == 0
    assert json.loads((tmp_path / name).read_text())["width"] == 4


def test_non_finite_values_round_trip(tmp_path):
    def nan_cell(width, seed):
        return {"value": float("nan") if seed else float("inf")}

    first = sweep(nan_cell, [4], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    second = sweep(nan_cell, [4], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    assert second.cached == 2
    np.testing.assert_array_equal(second.values("value"), first.values("value"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="on_error: expected one of raise, return"):
        sweep(counted_cell, [4], [0], on_error="ignore")
    with pytest.raises(TypeError, match="cache_dir"):
        sweep(counted_cell, [4], [0], cache_dir=3)
    with pytest.raises(ValueError, match="cache_dir: expected a directory"):
        (tmp_path / "file").write_text("")
        sweep(counted_cell, [4], [0], cache_dir=tmp_path / "file")
    with pytest.raises(ValueError, match="lambda"):
        sweep(lambda width, seed: {"q": 1.0}, [4], [0], cache_dir=tmp_path)
    with pytest.raises(TypeError, match="cache_version"):
        sweep(counted_cell, [4], [0], cache_dir=tmp_path, cache_version=2)
    with pytest.raises(TypeError, match="client: expected a dask.distributed.Client"):
        sweep(counted_cell, [4], [0], client=object())
    with pytest.raises(TypeError, match="data: cannot key the sweep cache"):
        sweep(counted_cell, [4], [0], cache_dir=tmp_path, data=(x for x in []))


def test_lazy_training_sweep_resumes(tmp_path):
    options = dict(widths=[8, 16], seeds=[0], steps=5, progress=False, threads=1, cache_dir=tmp_path)
    first = widenet.lazy_training_sweep(**options)
    second = widenet.lazy_training_sweep(**options)
    assert second.cached == 2 and second.records == first.records


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_widenet_does_not_import_dask():
    child = run_python("import sys, widenet; widenet.sweep; print(sorted(m for m in sys.modules "
                       "if m.split('.')[0] in ('dask', 'distributed')))")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"


def test_distributed_without_dask_names_the_extra():
    child = run_python("import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
                       "try:\n    import widenet.distributed\nexcept ImportError as error:\n    print(error)")
    assert child.returncode == 0, child.stderr
    assert 'pip install "widenet[distributed]"' in child.stdout
    child = run_python("import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
                       "import widenet\n"
                       "try:\n    widenet.sweep(widenet.dynamics.lazy_training.lazy_training_cell, [8], [0], "
                       "client='tcp://x:1')\n"
                       "except ImportError as error:\n    print(error)")
    assert 'pip install "widenet[distributed]"' in child.stdout, child.stderr


def test_reproduce_scheduler_without_dask_names_the_extra():
    child = run_python("import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
                       "from widenet.app.cli import main\n"
                       "sys.exit(main(['reproduce', '--scheduler', 'tcp://127.0.0.1:1', '--no-figures', "
                       "'--only', 'lazy-training']))")
    assert child.returncode == 1
    assert 'pip install "widenet[distributed]"' in child.stderr
