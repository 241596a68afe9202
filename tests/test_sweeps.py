"""Width sweeps (widenet.sweeps): the grid, threads, records, tables and power-law fits."""

import math
import sys
import threading
import time

import numpy as np
import pytest

import widenet
from widenet.sweeps import SlopeFit, SweepResult, fit_slope, normal_quantile, student_t_quantile, sweep


@pytest.fixture
def scipy_stats():
    """scipy is not a dependency of widenet; the test extra brings it with scikit-learn."""
    return pytest.importorskip("scipy.stats")


def power_law(width, seed, exponent=-0.5, noise=0.0):
    """A quantity ``(1 + seed) width^exponent`` times log-normal noise drawn from the seed."""
    rng = np.random.default_rng([width, seed])
    return {"value": (1.0 + seed) * width ** exponent * math.exp(noise * rng.standard_normal()),
            "constant": 2.0}


def network_cell(width, seed, steps=5):
    """A real widenet computation: a short training run and the tangent Gram."""
    rng = np.random.default_rng(123)
    X = rng.standard_normal((4, 3))
    y = np.sin(X[:, 0])
    net = widenet.ShallowNetwork(3, width, "tanh", seed=seed)
    result = net.train(X, y, lr=0.5 / width, steps=steps, loss="mean")
    return {"distance": result.distances[-1], "gram": float(net.ntk(X).trace()), "loss": result.losses[-1]}


# -- the grid and its records ---------------------------------------------------------------
def test_records_cover_the_grid_in_order():
    result = sweep(power_law, [16, 4, 64], [2, 0], threads=1, progress=False, exponent=-1.0)
    assert [(r["width"], r["seed"]) for r in result.records] == [(16, 2), (16, 0), (4, 2), (4, 0), (64, 2), (64, 0)]
    assert result.widths == (16, 4, 64) and result.seeds == (2, 0)
    assert result.quantities == ("value", "constant")
    assert len(result) == 6
    for record in result.records:
        assert record["value"] == pytest.approx((1 + record["seed"]) / record["width"], rel=1e-15)
    assert "2 seeds" in repr(result)


def test_table_is_a_structured_array():
    result = sweep(power_law, [4, 8], [0, 1, 2], threads=1, progress=False)
    table = result.table()
    assert table.dtype.names == ("width", "seed", "value", "constant")
    assert table.dtype["width"] == np.int64 and table.dtype["seed"] == np.int64
    assert table.dtype["value"] == np.float64
    assert table.shape == (6,)
    np.testing.assert_array_equal(table["width"], [4, 4, 4, 8, 8, 8])
    np.testing.assert_array_equal(table["value"], result.values("value"))


def test_threaded_equals_serial(restore_threads):
    serial = sweep(network_cell, [8, 32, 128], [0, 1, 2], threads=1, progress=False)
    threaded = sweep(network_cell, [8, 32, 128], [0, 1, 2], threads=3, progress=False)
    assert [(r["width"], r["seed"]) for r in threaded.records] == [(r["width"], r["seed"]) for r in serial.records]
    for name in serial.quantities:
        # widenet's loops run on one thread inside a threaded sweep: only rounding may differ
        np.testing.assert_allclose(threaded.values(name), serial.values(name), rtol=1e-12, atol=0)
    assert widenet.get_num_threads() == restore_threads


def test_order_does_not_depend_on_completion():
    """Cells finish in reverse order (the first sleeps longest); the records do not care."""
    finished = []
    lock = threading.Lock()

    def slow_first(width, seed):
        time.sleep(0.05 * (4 - width) + 0.01 * (2 - seed))
        with lock:
            finished.append((width, seed))
        return {"value": float(width * 10 + seed)}

    result = sweep(slow_first, [1, 2, 3], [0, 1], threads=6, progress=False)
    assert [r["value"] for r in result.records] == [10, 11, 20, 21, 30, 31]
    assert finished != [(r["width"], r["seed"]) for r in result.records]  # really finished out of order


def test_threads_restored_and_set_to_one_inside(restore_threads):
    seen = []

    def probe(width, seed):
        seen.append(widenet.get_num_threads())
        return {"value": 1.0}

    sweep(probe, [1, 2], [0, 1], threads=2, progress=False)
    assert set(seen) == {1}
    assert widenet.get_num_threads() == restore_threads
    seen.clear()
    sweep(probe, [1, 2], [0], threads=1, progress=False)
    assert set(seen) == {restore_threads}


def test_an_error_names_its_cell_and_restores_threads(restore_threads):
    def failing(width, seed):
        if width == 3:
            raise ArithmeticError("boom")
        return {"value": 1.0}

    for threads in (1, 2):
        with pytest.raises(ArithmeticError, match="boom") as info:
            sweep(failing, [1, 3, 5], [0, 1], threads=threads, progress=False)
        if sys.version_info >= (3, 11):
            assert "width=3, seed=0" in "".join(info.value.__notes__)
        assert widenet.get_num_threads() == restore_threads


# -- progress bar ---------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
def test_progress_bar_when_tqdm_is_there(progress_bars, threads):
    sweep(power_law, [2, 4, 8], [0, 1], threads=threads, progress=True)
    (bar,) = progress_bars
    assert bar.total == 6 and bar.count == 6 and bar.closed
    sweep(power_law, [2, 4], [0], threads=threads, progress=False)
    assert len(progress_bars) == 1


def test_no_error_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes "import tqdm" raise ImportError
    result = sweep(power_law, [2, 4], [0], threads=1, progress=True)
    assert len(result.records) == 2


# -- the fit --------------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [-0.5, -1.0, 0.5, 2.0])
def test_slope_exact_on_a_power_law(exponent):
    result = sweep(power_law, [2 ** k for k in range(4, 10)], [0], threads=1, progress=False, exponent=exponent)
    fit = result.slope("value")
    assert isinstance(fit, SlopeFit)
    assert fit.slope == pytest.approx(exponent, abs=1e-12)
    assert fit.intercept == pytest.approx(0.0, abs=1e-11)
    assert fit.stderr < 1e-12
    assert fit.points == 6
    with pytest.raises(Exception):
        fit.slope = 0.0  # frozen


def test_slope_matches_polyfit_and_t_interval(scipy_stats):
    widths = [2 ** k for k in range(4, 12)]
    result = sweep(power_law, widths, [0, 1, 2], threads=1, progress=False, exponent=-0.5, noise=0.3)
    fit = result.slope("value")
    x = np.log(result.table()["width"].astype(float))
    y = np.log(result.values("value"))
    slope, intercept = np.polyfit(x, y, 1)
    assert fit.slope == pytest.approx(slope, rel=1e-12)
    assert fit.intercept == pytest.approx(intercept, rel=1e-12)
    residual = y - (intercept + slope * x)
    dof = len(x) - 2
    stderr = np.sqrt(residual @ residual / dof / np.sum((x - x.mean()) ** 2))
    assert fit.stderr == pytest.approx(stderr, rel=1e-12)
    half = scipy_stats.t.ppf(0.975, dof) * stderr
    np.testing.assert_allclose(fit.interval, (slope - half, slope + half), rtol=1e-12)
    assert fit.points == 24 and fit.confidence == 0.95
    wide = result.slope("value", confidence=0.99)
    assert wide.interval[0] < fit.interval[0] and wide.interval[1] > fit.interval[1]
    assert "value: slope" in str(fit) and "95% interval" in str(fit)


def test_slopes_returns_every_quantity():
    result = sweep(power_law, [4, 8, 16], [0, 1], threads=1, progress=False)
    fits = result.slopes()
    assert list(fits) == ["value", "constant"]
    assert fits["constant"].slope == pytest.approx(0.0, abs=1e-14)
    assert list(result.slopes(["value"])) == ["value"]
    assert list(result.slopes("value")) == ["value"]


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_slope_refuses_values_without_a_log(bad):
    def cell(width, seed):
        return {"fine": 1.0 * width, "broken": bad if width == 8 else 1.0}

    result = sweep(cell, [4, 8, 16], [0], threads=1, progress=False)
    result.slope("fine")
    with pytest.raises(ValueError, match="broken"):
        result.slope("broken")
    with pytest.raises(ValueError, match="broken"):
        result.slopes()


def test_slope_needs_three_points_and_two_widths():
    with pytest.raises(ValueError, match="value.*2 distinct widths"):
        sweep(power_law, [4], [0, 1, 2], threads=1, progress=False).slope("value")
    with pytest.raises(ValueError, match="value.*at least 3"):
        sweep(power_law, [4, 8], [0], threads=1, progress=False).slope("value")
    with pytest.raises(ValueError, match="at least 3"):
        fit_slope([1, 2], [1.0, 2.0], "q")


def test_fit_slope_directly():
    fit = fit_slope([4, 8, 16, 32], [2.0, 1.0, 0.5, 0.25], "halving")
    assert fit.quantity == "halving" and fit.slope == pytest.approx(-1.0, abs=1e-14)
    with pytest.raises(ValueError, match="widths"):
        fit_slope([0, 8, 16], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="widths: contains NaN"):
        fit_slope([np.nan, 8, 16], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="q: expected one value per width"):
        fit_slope([4, 8, 16], [1.0, 1.0], "q")
    with pytest.raises(TypeError, match="q"):
        fit_slope([4, 8, 16], ["a", "b", "c"], "q")
    with pytest.raises(ValueError, match="confidence"):
        fit_slope([4, 8, 16], [1.0, 2.0, 3.0], confidence=1.0)


def test_slope_bad_arguments():
    result = sweep(power_law, [4, 8, 16], [0], threads=1, progress=False)
    with pytest.raises(ValueError, match="quantity: expected one of value, constant"):
        result.slope("nothing")
    with pytest.raises(TypeError, match="quantity"):
        result.slope(3)
    for confidence in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="confidence"):
            result.slope("value", confidence=confidence)


# -- the t quantile -------------------------------------------------------------------------
@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 7, 10, 22, 57, 100, 999, 1000, 1001, 5000, 10 ** 6])
def test_t_quantile_against_scipy(scipy_stats, dof):
    for p in (1e-6, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-6):
        expected = scipy_stats.t.ppf(p, dof)
        assert student_t_quantile(p, dof) == pytest.approx(expected, rel=1e-9, abs=1e-12), (p, dof)


def test_t_quantile_is_odd_and_bad_arguments():
    assert student_t_quantile(0.5, 3) == 0.0
    assert student_t_quantile(0.1, 6) == -student_t_quantile(0.9, 6)
    for p in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="probability"):
            student_t_quantile(p, 3)
    with pytest.raises(ValueError, match="dof"):
        student_t_quantile(0.9, 0)
    with pytest.raises(TypeError, match="dof"):
        student_t_quantile(0.9, 2.5)
    with pytest.raises(TypeError, match="probability"):
        student_t_quantile("0.9", 3)


def test_normal_quantile_against_scipy(scipy_stats):
    for p in (1e-12, 1e-6, 1e-3, 0.025, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-6):
        assert normal_quantile(p) == pytest.approx(scipy_stats.norm.ppf(p), rel=1e-12, abs=1e-15), p
    assert normal_quantile(0.5) == 0.0 and normal_quantile(0.1) == -normal_quantile(0.9)


def test_normal_quantile_bad_arguments():
    for p in (0.0, 1.0, -0.1, 2.0, float("nan")):
        with pytest.raises(ValueError, match="probability"):
            normal_quantile(p)
    with pytest.raises(TypeError, match="probability"):
        normal_quantile("0.9")


# -- bad arguments --------------------------------------------------------------------------
def test_bad_arguments():
    with pytest.raises(TypeError, match="function"):
        sweep("not callable", [1], [0])
    with pytest.raises(TypeError, match="widths"):
        sweep(power_law, 8, [0])
    with pytest.raises(TypeError, match="widths"):
        sweep(power_law, [8.5], [0])
    with pytest.raises(ValueError, match="widths"):
        sweep(power_law, [0, 8], [0])
    with pytest.raises(ValueError, match="widths"):
        sweep(power_law, [], [0])
    with pytest.raises(ValueError, match="widths: expected distinct"):
        sweep(power_law, [4, 4], [0])
    with pytest.raises(ValueError, match="seeds"):
        sweep(power_law, [4], [-1])
    with pytest.raises(ValueError, match="seeds: expected distinct"):
        sweep(power_law, [4], [1, 1])
    with pytest.raises(TypeError, match="seeds"):
        sweep(power_law, [4], "01")
    with pytest.raises(ValueError, match="threads"):
        sweep(power_law, [4], [0], threads=0)
    with pytest.raises(TypeError, match="threads"):
        sweep(power_law, [4], [0], threads=1.5)
    with pytest.raises(TypeError, match="progress"):
        sweep(power_law, [4], [0], progress="yes")
    with pytest.raises(TypeError, match="width"):
        sweep(power_law, [4], [0], width=3)


@pytest.mark.parametrize("values, error, text", [
    ([1.0], TypeError, "expected a dict"),
    ({"width": 1.0}, ValueError, "reserved"),
    ({"not a name": 1.0}, ValueError, "identifiers"),
    ({"q": "1.0"}, TypeError, "real number"),
    ({"q": True}, TypeError, "real number"),
    ({"q": 1 + 2j}, TypeError, "real number"),
])
def test_bad_function_results(values, error, text):
    with pytest.raises(error, match=text):
        sweep(lambda width, seed: values, [4], [0], threads=1, progress=False)


def test_function_must_return_the_same_names():
    def changing(width, seed):
        return {"a": 1.0} if width == 4 else {"b": 1.0}

    with pytest.raises(ValueError, match="width=8"):
        sweep(changing, [4, 8], [0], threads=1, progress=False)


def test_numpy_scalars_accepted():
    result = sweep(lambda width, seed: {"q": np.float32(width), "k": np.int64(seed)}, [2, 4], [0, 1], threads=1,
                   progress=False)
    assert isinstance(result, SweepResult)
    assert result.values("q").tolist() == [2, 2, 4, 4]
