"""Scale-out on a real Dask cluster (two worker processes on loopback): sweeps, tiled Grams,
conjugate gradients and the ``--scheduler`` option of ``widenet reproduce``."""

import os
import sys
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import widenet  # noqa: E402
from widenet.distributed import (  # noqa: E402
    LimitKernel,
    TiledKernelRegressor,
    conjugate_gradient,
    gram_matvec,
    gram_tiled,
    sweeps_on,
)

pytestmark = pytest.mark.skipif(
    bool(widenet.build_info().get("sanitizers")),
    reason="the cluster tests run in the regular build: under the sanitizers every worker process preloads the "
           "runtimes and the module exceeds the CI time budget; the tiles call the same compiled kernels that the "
           "other test modules check under the sanitizers")

FAILING_WIDTHS = {16}


def pid_cell(width, seed):
    """Which process ran the cell."""
    return {"pid": float(os.getpid()), "threads": float(widenet.get_num_threads())}


def flaky_cell(width, seed):
    if width in FAILING_WIDTHS:
        raise ArithmeticError(f"no luck at width {width}")
    return {"value": width + seed / 10}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as local:  # any free port: suites side by side never clash
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    # not the default client: gram_tiled without client= then uses Dask's local scheduler
    with Client(cluster, set_as_default=False) as connected:
        yield connected


LAZY = dict(widths=[16, 64, 256], seeds=[0, 1], steps=20, progress=False)


# -- sweeps ---------------------------------------------------------------------------------
def test_sweep_on_the_cluster_equals_the_threaded_sweep(client, restore_threads):
    local = widenet.lazy_training_sweep(threads=2, **LAZY)
    remote = widenet.lazy_training_sweep(client=client, **LAZY)
    assert remote.quantities == local.quantities
    assert remote.records == local.records  # bit for bit: same seeds, one thread per cell


def test_cells_run_on_the_workers_with_one_thread(client):
    result = widenet.sweep(pid_cell, [1, 2, 3], [0, 1], client=client, progress=False)
    workers = {float(pid) for pid in client.run(os.getpid).values()}
    assert set(result.values("pid")) <= workers and float(os.getpid()) not in set(result.values("pid"))
    assert set(result.values("threads")) == {1.0}


def test_a_scheduler_address_and_sweeps_on(cluster, client):
    by_address = widenet.sweep(flaky_cell, [4, 8], [0, 1], client=cluster.scheduler_address, progress=False)
    assert by_address.values("value").tolist() == [4.0, 4.1, 8.0, 8.1]
    with sweeps_on(cluster.scheduler_address):
        inside = widenet.sweep(pid_cell, [1, 2], [0], progress=False)
    assert float(os.getpid()) not in set(inside.values("pid"))
    outside = widenet.sweep(pid_cell, [1], [0], threads=1, progress=False)
    assert outside.values("pid").tolist() == [float(os.getpid())]


def test_failed_cells_are_reported_and_resumed(client, tmp_path, monkeypatch):
    result = widenet.sweep(flaky_cell, [4, 16, 64], [0, 1], client=client, progress=False, cache_dir=tmp_path,
                           on_error="return")
    assert [(failure.width, failure.seed) for failure in result.failures] == [(16, 0), (16, 1)]
    assert result.failures[0].error_type == "ArithmeticError"
    assert result.failures[0].message == "no luck at width 16"
    assert "flaky_cell" in result.failures[0].traceback
    assert [r["width"] for r in result.records] == [4, 4, 64, 64]

    with pytest.raises(ArithmeticError, match="no luck") as info:
        widenet.sweep(flaky_cell, [16], [0], client=client, progress=False)
    if sys.version_info >= (3, 11):
        assert "width=16, seed=0" in "".join(info.value.__notes__)

    calls = []

    def fixed_cell(width, seed):
        calls.append((width, seed))
        return {"value": width + seed / 10}

    fixed_cell.__qualname__ = flaky_cell.__qualname__  # the same cell function, repaired
    fixed_cell.__module__ = flaky_cell.__module__
    resumed = widenet.sweep(fixed_cell, [4, 16, 64], [0, 1], threads=1, progress=False, cache_dir=tmp_path)
    assert sorted(calls) == [(16, 0), (16, 1)] and resumed.cached == 4 and resumed.complete


def test_progress_moves_as_cells_arrive(client, progress_bars):
    widenet.sweep(flaky_cell, [4, 8, 32], [0, 1], client=client, progress=True)
    (bar,) = progress_bars
    assert bar.total == 6 and bar.count == 6 and bar.closed


# -- tiled Grams ----------------------------------------------------------------------------
def on(client, array):
    """``array`` computed on the cluster (the test client is not the default one)."""
    return client.compute(array).result()


def points(m, d=3, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((m, d)).astype(dtype)


NETWORK = widenet.ShallowNetwork(3, 48, "tanh", "ntk", bias_var=0.5, seed=3)
ERF_NETWORK = widenet.ShallowNetwork(3, 48, "erf", "lecun", bias_var=0.3, seed=4)
KERNELS = {
    "tangent": (NETWORK, NETWORK.ntk),
    "rbf": (widenet.RBFKernel(gamma=0.4), widenet.RBFKernel(gamma=0.4)),
    "limit": (LimitKernel("relu", "ntk", bias_var=0.2),
              lambda X1, X2=None: widenet.limit_kernel(X1, X2, activation="relu", parametrization="ntk",
                                                       bias_var=0.2)),
    "limit-of-network": (LimitKernel.of(ERF_NETWORK, kind="nngp"),
                         lambda X1, X2=None: ERF_NETWORK.limit_kernel(X1, X2, kind="nngp")),
}


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("tile", [64, (50, 70)])
def test_tiled_gram_equals_the_direct_one(client, name, tile):
    kernel, direct = KERNELS[name]
    X1, X2 = points(230), points(97, seed=1)
    K = gram_tiled(kernel, X1, tile=tile if np.ndim(tile) == 0 else tile[0], client=client)
    assert isinstance(K, da.Array) and K.shape == (230, 230) and K.dtype == np.float64
    expected = direct(X1)
    np.testing.assert_allclose(on(client, K), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    cross = gram_tiled(kernel, X1, X2, tile=tile, client=client)
    expected = direct(X1, X2)
    np.testing.assert_allclose(on(client, cross), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_tiles_below_the_diagonal_are_transposes(client):
    K = on(client, gram_tiled(widenet.RBFKernel(gamma=0.4), points(200), tile=64, client=client))
    np.testing.assert_array_equal(K, K.T)  # mirrored exactly, not recomputed


def test_float32_stays_float32(client):
    network = widenet.ShallowNetwork(3, 48, "relu", seed=0, dtype=np.float32)
    X = points(150)
    K = gram_tiled(network, X, tile=64, client=client)
    assert K.dtype == np.float32
    np.testing.assert_allclose(on(client, K), network.ntk(X), rtol=1e-5, atol=1e-5 * np.abs(network.ntk(X)).max())
    classic = gram_tiled(widenet.PolynomialKernel(degree=2), points(90, dtype=np.float32), tile=40, client=client)
    assert classic.dtype == np.float32 and on(client, classic).dtype == np.float32


def test_reductions_never_bring_the_matrix(client):
    X = points(400)
    v = np.random.default_rng(5).standard_normal(400)
    K = gram_tiled(widenet.LaplaceKernel(gamma=0.3), X, tile=128, client=client)
    direct = widenet.LaplaceKernel(gamma=0.3)(X)
    np.testing.assert_allclose(on(client, K @ v), direct @ v, rtol=1e-12, atol=1e-12 * np.abs(direct @ v).max())
    assert float(on(client, K.sum())) == pytest.approx(direct.sum(), rel=1e-12)


def test_gram_matvec_tile_by_tile(client):
    X, X2 = points(333), points(120, seed=4)
    v, v2 = np.random.default_rng(6).standard_normal(333), np.random.default_rng(7).standard_normal(120)
    expected = NETWORK.ntk(X) @ v
    np.testing.assert_allclose(gram_matvec(NETWORK, X, v, tile=100, client=client), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())
    expected = NETWORK.ntk(X, X2) @ v2
    np.testing.assert_allclose(gram_matvec(NETWORK, X, v2, X2, tile=(100, 50), client=client), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())
    with pytest.raises(ValueError, match=r"v: expected shape \(333,\)"):
        gram_matvec(NETWORK, X, v2, client=client)


def test_without_a_client_the_local_scheduler_runs_it():
    X = points(120)
    K = gram_tiled(widenet.RBFKernel(gamma=0.4), X, tile=50)
    np.testing.assert_allclose(K.compute(), widenet.RBFKernel(gamma=0.4)(X), rtol=1e-12, atol=1e-14)


def test_gram_tiled_bad_arguments(client):
    X = points(20)
    with pytest.raises(ValueError, match="tile: expected an integer >= 1"):
        gram_tiled(NETWORK, X, tile=0, client=client)
    with pytest.raises(TypeError, match="tile"):
        gram_tiled(NETWORK, X, tile=2.5, client=client)
    with pytest.raises(ValueError, match="tile: expected an int or"):
        gram_tiled(NETWORK, X, tile=(1, 2, 3), client=client)
    with pytest.raises(ValueError, match="tile: the symmetric Gram"):
        gram_tiled(NETWORK, X, tile=(4, 5), client=client)
    with pytest.raises(ValueError, match="X1: expected 3 columns"):
        gram_tiled(NETWORK, points(20, d=4), client=client)
    with pytest.raises(ValueError, match="X2"):
        gram_tiled(widenet.RBFKernel(), X, points(5, d=2), client=client)
    with pytest.raises(ValueError, match="X1: contains NaN"):
        gram_tiled(widenet.RBFKernel(), np.full((3, 3), np.nan), client=client)
    with pytest.raises(TypeError, match="kernel: expected a widenet kernel"):
        gram_tiled(42, X, client=client)
    with pytest.raises(TypeError, match="client"):
        gram_tiled(NETWORK, X, client="not a client")
    with pytest.raises(ValueError, match="method"):
        LimitKernel("relu", method="monte_carlo")


# -- conjugate gradients --------------------------------------------------------------------
@pytest.mark.parametrize("persist, preconditioner", [(True, None), (False, "jacobi")])
def test_cg_ridge_equals_a_direct_solve(client, persist, preconditioner):
    m = 400
    X = points(m) * np.linspace(0.3, 2.0, m)[:, None]  # rows of different norms: a varying diagonal
    y = np.sin(X[:, 0])
    ridge = 10.0  # conditioned for a few dozen iterations: the test is about the tiles, not CG's rate
    K = gram_tiled(NETWORK, X, tile=160, client=client)
    result = conjugate_gradient(K, y, ridge=ridge, tol=1e-10, persist=persist, preconditioner=preconditioner)
    expected = np.linalg.solve(NETWORK.ntk(X) + ridge * np.eye(m), y)
    assert result.converged and result.final_residual < 1e-9
    assert result.iterations == len(result.residuals) - 1 and result.residuals[0] == 1.0
    assert result.matvecs == result.iterations + 1
    np.testing.assert_allclose(result.solution, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    assert "converged" in str(result) and result.preconditioner == preconditioner


def test_cg_on_any_dask_array(client):
    X = points(150)
    direct = widenet.RBFKernel(gamma=0.5)(X)
    y = np.cos(X[:, 1])
    K = da.from_array(direct, chunks=64)
    result = conjugate_gradient(K, y, ridge=10.0, tol=1e-12, client=client)
    assert result.converged
    np.testing.assert_allclose(result.solution, np.linalg.solve(direct + 10.0 * np.eye(150), y), rtol=0, atol=1e-9)


def test_cg_reports_a_system_without_solution(client):
    X = points(200)
    K = gram_tiled(widenet.LinearKernel(), X, tile=64, client=client)  # rank 3
    y = np.random.default_rng(2).standard_normal(200)  # not in the range of K
    result = conjugate_gradient(K, y, tol=1e-10, max_iter=25)
    assert not result.converged and result.final_residual > 0.5
    assert "NOT converged" in str(result)


def test_cg_bad_arguments(client):
    K = gram_tiled(widenet.RBFKernel(), points(30), tile=16, client=client)
    y = np.ones(30)
    with pytest.raises(ValueError, match="ridge"):
        conjugate_gradient(K, y, ridge=-1.0)
    with pytest.raises(ValueError, match="tol"):
        conjugate_gradient(K, y, tol=0.0)
    with pytest.raises(ValueError, match="preconditioner"):
        conjugate_gradient(K, y, preconditioner="ilu")
    with pytest.raises(ValueError, match=r"y: expected shape \(30,\)"):
        conjugate_gradient(K, np.ones(29))
    with pytest.raises(TypeError, match="K: expected a dask.array"):
        conjugate_gradient(np.eye(30), y)
    with pytest.raises(ValueError, match="K: expected a square"):
        conjugate_gradient(gram_tiled(widenet.RBFKernel(), points(30), points(10), client=client), y)
    with pytest.raises(TypeError, match="persist"):
        conjugate_gradient(K, y, persist="yes")


def quadratic_features(X, gamma, coef0):
    """Explicit features of ``(gamma x.z + coef0)^2 = phi(x).phi(z)``."""
    outer = (X[:, :, None] * X[:, None, :]).reshape(len(X), -1)
    return np.hstack([np.full((len(X), 1), coef0), np.sqrt(2 * coef0 * gamma) * X, gamma * outer])


def test_cg_regression_on_20000_points(client):
    """Minimum-norm kernel least squares on m = 20,000 (the full matrix: 3.2 GB), against the
    solution from explicit features, with the client's memory far below the matrix."""
    m, gamma, coef0 = 20_000, 0.5, 1.0
    rng = np.random.default_rng(7)
    X = rng.standard_normal((m, 2))
    theta = rng.standard_normal(7)
    Phi = quadratic_features(X, gamma, coef0)
    y = Phi @ theta  # in the range of K = Phi Phi^T (rank 6: CG needs about 6 products)
    kernel = widenet.PolynomialKernel(degree=2, coef0=coef0, gamma=gamma)

    tracemalloc.start()
    try:
        model = TiledKernelRegressor(kernel, tol=1e-10, tile=5000, client=client).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"client peak {peak / 2**20:.0f} MB"  # the matrix: 3052 MB
    report = model.report_
    assert report.converged and report.iterations <= 10, report

    # K^+ y from the SVD of the features (independent of the kernel code)
    U, S, _ = np.linalg.svd(Phi, full_matrices=False)
    rank = int(np.sum(S > S[0] * 1e-10))
    minimum_norm = U[:, :rank] @ ((U[:, :rank].T @ y) / S[:rank] ** 2)
    np.testing.assert_allclose(model.dual_coef_, minimum_norm, rtol=0, atol=1e-8 * np.abs(minimum_norm).max())
    # the residual on a subset of rows, with the Gram rows computed directly
    rows = rng.choice(m, 300, replace=False)
    np.testing.assert_allclose(kernel(X[rows], X) @ model.dual_coef_, y[rows], rtol=0, atol=1e-7 * np.abs(y).max())
    X_test = rng.standard_normal((64, 2))
    np.testing.assert_allclose(model.predict(X_test), quadratic_features(X_test, gamma, coef0) @ theta, rtol=0,
                               atol=1e-7 * np.abs(y).max())


def test_regressor_with_the_tangent_kernel(client):
    X, X_test = points(400), points(40, seed=9)
    y = np.tanh(X[:, 0] - X[:, 2])
    model = TiledKernelRegressor(NETWORK, ridge=1.0, tol=1e-12, tile=160, client=client).fit(X, y)
    alpha = np.linalg.solve(NETWORK.ntk(X) + 1.0 * np.eye(400), y)
    expected = NETWORK.ntk(X_test, X) @ alpha
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    with pytest.raises(widenet.NotFittedError):
        TiledKernelRegressor(NETWORK, client=client).predict(X_test)


# -- the command line -----------------------------------------------------------------------
def test_reproduce_on_the_scheduler(cluster, tmp_path, capsys):
    from widenet.app.cli import main

    code = main(["reproduce", "--quick", "--only", "parameter-movement", "--no-figures", "--no-progress",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert "claims held" in capsys.readouterr().out
    assert (tmp_path / "results.json").exists()
