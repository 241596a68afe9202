"""Determinism: one seed gives bitwise identical parameters and results in two processes;
the initial parameters do not depend on the backend, the thread count or (up to rounding)
the dtype; results do not depend on the thread count where the algorithm fixes the order
of every sum (and to the last bits where BLAS splits sums by thread); the same network used
from four Python threads gives the serial results; long C++ calls release the GIL."""

import copy
import hashlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import widenet
from widenet import ShallowEnsemble, ShallowNetwork
from widenet.io import TrainingState, load

from conftest import assert_close, make_network, random_data, stable_lr

TESTS = Path(__file__).resolve().parent


# --- the same seed in two processes -------------------------------------------------------------


def outputs(threads: int) -> dict:
    """Parameters and results of every kind of computation from fixed seeds, as arrays."""
    widenet.set_num_threads(threads)
    out = {}
    for distribution in ("normal", "uniform", "rademacher"):
        for dtype in (np.float64, np.float32):
            net = ShallowNetwork(3, 40, "tanh", "ntk", bias_var=0.5, output_bias_var=0.3, distribution=distribution,
                                 seed=3, dtype=dtype)
            out[f"init-{distribution}-{np.dtype(dtype).name}"] = net.params.to_vector()
    out["ensemble-init"] = np.concatenate([field.ravel() for field in ShallowEnsemble(3, 2, 8, seed=4).params])
    X, y, X_test = random_data(5, 64, 8, m_test=20)
    net = make_network(8, 600, "gelu", "lecun", seed=6)
    out["forward"] = net.forward(X)
    out["jacobian"] = net.jacobian(X[:10])
    out["ntk"] = net.ntk(X)
    out["ntk-cross"] = net.ntk(X, X_test)
    out["ntk-diag"] = net.ntk_diag(X)
    out["gradient"] = net.loss_grad(X, y)[1].to_vector()
    for backend in ("cpp", "numpy"):
        trained = make_network(8, 600, "gelu", "lecun", seed=6)
        run = trained.train(X, y, stable_lr(trained, X, 1 / 64), 50, 5, X_test, "mean", backend=backend)
        out[f"train-{backend}"] = np.concatenate([trained.params.to_vector(), run.losses, run.distances,
                                                  run.test_outputs.ravel()])
    ensemble = ShallowEnsemble(4, 8, 50, activation="tanh", seed=7)
    run = ensemble.train(X, y, 1e-3, 30, 3, X_test)
    out["ensemble-train"] = np.concatenate([run.losses.ravel(), run.test_outputs.ravel(), ensemble.params.U.ravel()])
    out["linearized"] = widenet.linearize(net).train(X, y, 1e-5, 100, X_test, record_every=10).test_outputs
    out["linearized-iterate"] = widenet.linearize(net).train(X, y, 1e-5, 100, X_test, method="iterate").test_outputs
    out["limit-quadrature"] = widenet.limit_kernel(X, X_test, activation="tanh", parametrization="ntk", bias_var=0.3)
    out["limit-monte-carlo"] = widenet.limit_kernel(X[:5], activation="tanh", method="monte_carlo", samples=2000,
                                                    seed=8)
    out["rbf"] = widenet.RBFKernel(0.5)(X, X_test)
    return out


def digest(arrays: dict) -> str:
    hash_ = hashlib.sha256()
    for name in sorted(arrays):
        hash_.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    return hash_.hexdigest()


def test_same_seed_gives_identical_bytes_in_two_processes(tmp_path, restore_threads):
    """Two fresh interpreters compute :func:`outputs` and save them; the files' arrays are
    bitwise identical to each other and to this process's (at the same thread count)."""
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import numpy as np; import test_determinism as t; "
              "out = t.outputs(2); np.savez(sys.argv[1], **out); print(t.digest(out))")
    digests = []
    for run in range(2):
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"run{run}.npz")], check=True,
                                capture_output=True, text=True, timeout=300)
        digests.append(result.stdout.strip())
    first, second = (dict(np.load(tmp_path / f"run{run}.npz")) for run in range(2))
    here = outputs(2)
    assert sorted(first) == sorted(second) == sorted(here)
    for name in here:
        assert first[name].tobytes() == second[name].tobytes() == here[name].tobytes(), name
    assert digests[0] == digests[1] == digest(here)


# --- initial parameters: backend, thread count, dtype --------------------------------------------


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_backends_start_from_identical_parameters(parametrization, dtype, distribution):
    """The initial parameters are drawn in Python from the seed alone: a network trained by
    the C++ backend and one trained by the numpy backend start from the same bits (and end
    equal to rounding)."""
    X, y, X_test = random_data(9, 6, 3, dtype)
    nets = {backend: make_network(3, 12, "tanh", parametrization, dtype, seed=10, distribution=distribution)
            for backend in ("cpp", "numpy")}
    before = {backend: net.params.to_vector() for backend, net in nets.items()}
    np.testing.assert_array_equal(before["cpp"], before["numpy"], strict=True)
    lr = stable_lr(nets["cpp"], X, 1 / 6)
    runs = {backend: net.train(X, y, lr, 20, 5, X_test, "mean", backend=backend) for backend, net in nets.items()}
    for net in nets.values():
        np.testing.assert_array_equal(net.initial_params.to_vector(), before["cpp"], strict=True)
    assert runs["cpp"].distances[0] == runs["numpy"].distances[0] == 0.0
    np.testing.assert_array_equal(runs["cpp"].steps, runs["numpy"].steps)
    assert_close(runs["cpp"].losses, runs["numpy"].losses, dtype, size=50)
    assert_close(nets["cpp"].params.to_vector(), nets["numpy"].params.to_vector(), dtype, size=50)


def test_ensembles_start_from_identical_parameters_for_both_backends(dtype):
    X, y, _ = random_data(11, 5, 2, dtype)
    ensembles = {backend: ShallowEnsemble(3, 2, 8, activation="erf", bias_var=0.5, seed=12, dtype=dtype)
                 for backend in ("cpp", "numpy")}
    for a, b in zip(ensembles["cpp"].params, ensembles["numpy"].params):
        np.testing.assert_array_equal(a, b, strict=True)
    runs = {backend: ensemble.train(X, y, 0.01, 10, backend=backend) for backend, ensemble in ensembles.items()}
    np.testing.assert_array_equal(runs["cpp"].distances[:, 0], 0.0)
    np.testing.assert_array_equal(runs["numpy"].distances[:, 0], 0.0)
    for a, b in zip(ensembles["cpp"].initial_params, ensembles["numpy"].initial_params):
        np.testing.assert_array_equal(a, b, strict=True)


def test_initial_parameters_do_not_depend_on_the_thread_count(restore_threads):
    vectors = []
    for threads in (1, 2):
        widenet.set_num_threads(threads)
        ensemble = ShallowEnsemble(3, 4, 30, seed=13)
        vectors.append(np.concatenate([make_network(4, 300, seed=13).params.to_vector(),
                                       *(field.ravel() for field in ensemble.params)]))
    np.testing.assert_array_equal(*vectors, strict=True)


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_float32_and_float64_networks_of_one_seed_hold_the_same_numbers(parametrization, distribution):
    """``initialize`` draws in float64: the float32 network is the float64 one rounded, for
    every law and both parametrizations, and for ensemble members."""
    config = dict(activation="relu", parametrization=parametrization, weight_var=2.0, bias_var=0.5, output_var=1.5,
                  output_bias_var=0.3, distribution=distribution, seed=14)
    net64 = ShallowNetwork(5, 70, dtype=np.float64, **config)
    net32 = ShallowNetwork(5, 70, dtype=np.float32, **config)
    for name in ("U", "b", "v"):
        np.testing.assert_array_equal(getattr(net32.params, name), getattr(net64.params, name).astype(np.float32),
                                      strict=True, err_msg=name)
    assert net32.params.c == float(np.float32(net64.params.c))
    ensemble64 = ShallowEnsemble(3, 5, 20, dtype=np.float64, **config)
    ensemble32 = ShallowEnsemble(3, 5, 20, dtype=np.float32, **config)
    for a, b in zip(ensemble32.params, ensemble64.params):
        np.testing.assert_array_equal(a, b.astype(np.float32), strict=True)


# --- results and the thread count ----------------------------------------------------------------


def _thread_count_results(d, n, m, m_test):
    net = make_network(d, n, "tanh", "lecun", seed=25)
    X, y, X_test = random_data(26, m, d, m_test=m_test)
    lr = 0.2 * m / float(np.linalg.eigvalsh(net.ntk(X))[-1])  # a fifth of the stable step of the mean loss
    trained = copy.deepcopy(net)
    run = trained.train(X, y, lr, 10, 1, X_test, "mean")
    ensemble = ShallowEnsemble(2, d, n, activation="tanh", seed=27)
    ensemble_run = ensemble.train(X, y, lr, 4, 1, X_test, "mean")
    return {
        "jacobian": net.jacobian(X[:40]),
        "ntk": net.ntk(X),
        "ntk_diag": net.ntk_diag(X),
        "ensemble_train": np.concatenate([ensemble_run.losses.ravel(), ensemble_run.test_outputs.ravel(),
                                          ensemble.params.U.ravel()]),
        "rbf": widenet.RBFKernel(0.5)(X),
        "rbf_cross": widenet.RBFKernel(0.5)(X, X_test),
        "limit_closed_form": widenet.limit_kernel(X, X_test, activation="relu"),
        "forward": net.forward(X),
        "ntk_cross": net.ntk(X, X_test),
        "loss_grad": net.loss_grad(X, y)[1].to_vector(),
        "train_params": trained.params.to_vector(),
        "train_losses": run.losses,
        "train_test_outputs": run.test_outputs,
        "limit_quadrature": widenet.limit_kernel(X[:60], X_test, activation="tanh"),
        "linearized": widenet.linearize(net).train(X[:100], y[:100], lr, 20, X_test, loss="mean").test_outputs,
    }


# Measured with widenet.set_num_threads(1) against 2 on the large problem below.
# Bitwise: the algorithm fixes the order of every sum whatever the thread count (the
# Jacobian's own row loop, rank updates of the symmetric Gram, its diagonal, the ensemble's
# one-network-per-thread loop with single-threaded products inside, classic kernel Grams
# and the closed-form limit kernel).
BITWISE_ACROSS_THREADS = ("jacobian", "ntk", "ntk_diag", "ensemble_train", "rbf", "rbf_cross", "limit_closed_form")
# Last bits differ: the BLAS products (GEMV of the forward pass and of the gradient, GEMM of
# the cross Gram) split their sums by thread. Measured maximum differences relative to the
# largest entry: forward 8.5e-16, cross Gram 1.2e-16, gradient 2.9e-16; after 10 GD steps
# (a fifth of the stable step) parameters 2.7e-18, losses 1.4e-16, test outputs 2.0e-16;
# linearized model 2.0e-16. The quadrature limit kernel was bitwise on these 60 x 50 pairs
# and differed by 1e-16 on 300 x 300. Near the stability limit GD amplifies such
# differences (measured: 8e-11 after 20 steps).
TO_ROUNDING_ACROSS_THREADS = ("forward", "ntk_cross", "loss_grad", "train_params", "train_losses",
                              "train_test_outputs", "limit_quadrature", "linearized")


@pytest.mark.parametrize("size", ["small", "large"])
def test_results_across_thread_counts(restore_threads, size):
    """Results with 1 and 2 threads.

    Small problems (n = 16, m = 8) are below every threshold at which BLAS or widenet's
    own loops use a second thread: everything is bitwise identical. On the large problem
    (d = 16, n = 2000, m = 300) the results in ``BITWISE_ACROSS_THREADS`` are bitwise
    identical, and those in ``TO_ROUNDING_ACROSS_THREADS`` agree to 1e-12 relative (float64;
    measured up to 8.5e-16). At one fixed thread count every result is bitwise repeatable
    (the two-process test)."""
    shape = {"small": (3, 16, 8, 5), "large": (16, 2000, 300, 50)}[size]
    runs = {}
    for threads in (1, 2):
        widenet.set_num_threads(threads)
        runs[threads] = _thread_count_results(*shape)
    assert sorted(runs[1]) == sorted(BITWISE_ACROSS_THREADS + TO_ROUNDING_ACROSS_THREADS)
    bitwise = runs[1] if size == "small" else BITWISE_ACROSS_THREADS
    for name in bitwise:
        np.testing.assert_array_equal(runs[1][name], runs[2][name], strict=True, err_msg=name)
    for name in runs[1]:
        scale = float(np.max(np.abs(runs[1][name])))
        np.testing.assert_allclose(runs[2][name], runs[1][name], rtol=1e-12, atol=1e-12 * scale, err_msg=name)


# --- the same network from several Python threads ---------------------------------------------------


def test_concurrent_use_from_four_threads_equals_serial_use(tmp_path):
    """Forward, Gram and training calls (training on copies) from a pool of 4 threads give
    the serial results bit for bit, for both backends, ensembles, linearized models, limit
    and classic kernels, and saving and loading; the shared network is left unchanged."""
    net = make_network(6, 300, "gelu", "ntk", seed=30)
    X, y, X_test = random_data(31, 40, 6, m_test=12)
    before = net.params.to_vector()

    def train_copy(backend):
        twin = copy.deepcopy(net)
        run = twin.train(X, y, 0.05, 15, 3, X_test, "mean", backend=backend)
        return np.concatenate([twin.params.to_vector(), run.losses, run.distances, run.test_outputs.ravel()])

    def save_and_load(label):
        state = TrainingState(copy.deepcopy(net), 0.05, "mean")
        state.train(X, y, 5, X_test)
        path = tmp_path / f"{label}-{threading.get_ident()}-{time.perf_counter_ns()}.npz"
        loaded = load(state.save(path))
        return np.concatenate([loaded.network.params.to_vector(), loaded.history.losses])

    def ensemble_train():
        ensemble = ShallowEnsemble(3, 6, 40, activation="tanh", seed=32)
        return ensemble.train(X, y, 1e-3, 10, X_test=X_test).test_outputs

    tasks = {
        "forward": lambda: net.forward(X),
        "forward-numpy": lambda: net.forward(X, backend="numpy"),
        "ntk": lambda: net.ntk(X),
        "ntk-cross": lambda: net.ntk(X, X_test),
        "ntk-numpy": lambda: net.ntk(X, X_test, backend="numpy"),
        "ntk_diag": lambda: net.ntk_diag(X),
        "jacobian": lambda: net.jacobian(X),
        "train-cpp": lambda: train_copy("cpp"),
        "train-numpy": lambda: train_copy("numpy"),
        "ensemble": ensemble_train,
        "linearized": lambda: widenet.linearize(net).train(X, y, 1e-3, 50, X_test, method="iterate").test_outputs,
        "limit": lambda: widenet.limit_kernel(X, X_test, activation="gelu", parametrization="ntk"),
        "rbf": lambda: widenet.RBFKernel(0.3)(X, X_test),
        "save-load": lambda: save_and_load("state"),
    }
    serial = {name: task() for name, task in tasks.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [(name, pool.submit(task)) for _ in range(3) for name, task in tasks.items()]
        for name, future in futures:
            np.testing.assert_array_equal(future.result(), serial[name], strict=True, err_msg=name)
    np.testing.assert_array_equal(net.params.to_vector(), before, strict=True)


# --- the GIL ---------------------------------------------------------------------------------------


def counter_progress(call) -> tuple:
    """Runs ``call()`` on this thread while a pure-Python thread counts.

    Returns ``(duration, rate_alone, rate_during)``: the counter's iterations per second
    while this thread sleeps (its rate with the GIL free) and during the middle half of the
    call. A call that holds the GIL stops the counter completely for its whole length (the
    GIL changes hands only before and after it); a call that releases it lets the counter
    run on the other core, at whatever share of it a busy machine leaves.
    """
    stamps, stop = [], threading.Event()

    def count():
        i = 0
        while not stop.is_set():
            i += 1
            if i % 1000 == 0:
                stamps.append(time.perf_counter())

    thread = threading.Thread(target=count)
    thread.start()
    try:
        time.sleep(0.02)
        alone_start = time.perf_counter()
        time.sleep(0.1)
        alone_end = time.perf_counter()
        start = time.perf_counter()
        call()
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    quarter = (end - start) / 4
    alone = 1000 * sum(alone_start <= t <= alone_end for t in stamps) / (alone_end - alone_start)
    during = 1000 * sum(start + quarter <= t <= end - quarter for t in stamps) / (2 * quarter)
    return end - start, alone, during


def long_call(make_call, minimum=0.25):
    """``make_call(k)`` for k = 1, 2, 4, ... until one call takes at least ``minimum`` s."""
    scale = 1
    while True:
        call = make_call(scale)
        start = time.perf_counter()
        call()
        if time.perf_counter() - start >= minimum or scale >= 4096:
            return call
        scale *= 2


@pytest.mark.parametrize("kind", ["ntk", "train", "ensemble_train"])
def test_long_calls_release_the_gil(restore_threads, kind):
    """During a long C++ call (widenet on one thread, leaving a core) a pure-Python counter
    thread keeps counting: in the middle half of the call it runs at least 2% of its rate
    alone (measured 30-100% on a busy two-core machine; exactly 0 while a call holds the
    GIL, see the control below). Each call is lengthened until it takes 0.25 s."""
    widenet.set_num_threads(1)
    X, y, _ = random_data(33, 400, 8)
    if kind == "ntk":
        def make(scale):
            net = make_network(8, 250 * scale, "tanh", "lecun", seed=34)
            return lambda: net.ntk(X)
    elif kind == "train":
        net = make_network(8, 500, "tanh", "lecun", seed=34)
        make = lambda scale: lambda: net.train(X[:100], y[:100], 1e-6, 20 * scale)  # noqa: E731
    else:
        ensemble = ShallowEnsemble(2, 8, 200, seed=35)
        make = lambda scale: lambda: ensemble.train(X[:100], y[:100], 1e-6, 20 * scale)  # noqa: E731
    duration, alone, during = counter_progress(long_call(make))
    assert duration >= 0.2
    assert alone > 0
    assert during >= 0.02 * alone, (f"the counter ran at {during:.0f}/s during a {duration:.2f} s {kind} call, "
                                    f"{alone:.0f}/s alone")


def test_the_gil_measurement_sees_a_call_that_holds_the_gil():
    """The control: a long C call that keeps the GIL (the built-in sum over a range) stops
    the counter entirely, so the test above would catch a call that does not release it."""
    count = 1_000_000
    while True:
        start = time.perf_counter()
        sum(range(count))
        if time.perf_counter() - start >= 0.25 or count >= 10**9:
            break
        count *= 2
    duration, alone, during = counter_progress(lambda: sum(range(count)))
    assert duration >= 0.2 and alone > 0
    assert during == 0.0
