"""One network, ensemble or linearized model used from several Python threads at once:
runs of ``train`` take turns (no run is lost), readers see the parameters of some moment
between runs, and a TrainingState counts exactly the steps its network has taken. The
results equal those of the same calls made one after the other. Also: the thread count
accepts exactly what the machine can run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import widenet
from widenet import ShallowEnsemble, TrainingState, _core, load

from conftest import make_network, random_data

X, Y, X_TEST = random_data(60, 12, 3, m_test=4)
LR = 1e-3


def at_once(tasks: list) -> list:
    """Runs the callables in ``tasks`` on as many threads, released together; returns their
    results in order (re-raising any exception)."""
    start = threading.Barrier(len(tasks))

    def run(task):
        start.wait()
        return task()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        return [future.result() for future in [pool.submit(run, task) for task in tasks]]


def test_two_threads_training_one_network_lose_no_run():
    """Two runs of 3000 steps from two threads: the network has taken 6000 steps, exactly
    those of the two runs one after the other (a lost run would leave 3000)."""
    net, serial = make_network(3, 64, seed=61), make_network(3, 64, seed=61)
    at_once([lambda: net.train(X, Y, LR, 3000, record_every=3000)] * 2)
    for _ in range(2):
        serial.train(X, Y, LR, 3000, record_every=3000)
    np.testing.assert_array_equal(net.params.to_vector(), serial.params.to_vector())


def test_readers_see_the_parameters_between_runs_while_threads_train():
    """Three threads train in pieces of 40 steps while two threads compute outputs and
    Grams: every output is that of the network after some whole number of pieces, and the
    network ends after all twelve pieces."""
    net, serial = make_network(3, 96, "gelu", seed=62), make_network(3, 96, "gelu", seed=62)
    checkpoints = [(serial.forward(X).tobytes(), serial.ntk(X).tobytes())]
    for _ in range(12):
        serial.train(X, Y, LR, 40, record_every=40)
        checkpoints.append((serial.forward(X).tobytes(), serial.ntk(X).tobytes()))
    outputs, grams = {c[0] for c in checkpoints}, {c[1] for c in checkpoints}
    finished = threading.Event()

    def trainer():
        for _ in range(4):
            net.train(X, Y, LR, 40, record_every=40)

    def reader():
        seen = 0
        while not finished.is_set() or seen == 0:
            assert net.forward(X).tobytes() in outputs
            assert net.ntk(X).tobytes() in grams
            seen += 1
        return seen

    with ThreadPoolExecutor(max_workers=5) as pool:
        readers = [pool.submit(reader) for _ in range(2)]
        for trained in [pool.submit(trainer) for _ in range(3)]:
            trained.result()
        finished.set()
        assert all(reading.result() > 0 for reading in readers)
    np.testing.assert_array_equal(net.params.to_vector(), serial.params.to_vector())


def test_a_training_state_counts_the_steps_its_network_took(tmp_path):
    """Two threads train through one TrainingState while a third saves it: steps_done,
    the history and the parameters always describe the same moment, in memory and in every
    file written meanwhile."""
    state = TrainingState(make_network(3, 64, seed=63), LR, record_every=100)
    serial = TrainingState(make_network(3, 64, seed=63), LR, record_every=100)
    parameters_at = {0: serial.network.params.to_vector()}
    for piece in range(1, 5):
        serial.train(X, Y, 500)
        parameters_at[500 * piece] = serial.network.params.to_vector()
    stop_saving = threading.Event()

    def save_meanwhile() -> list:
        paths = []
        while not stop_saving.is_set():
            paths.append(state.save(tmp_path / f"state-{len(paths)}.npz"))
        return paths

    with ThreadPoolExecutor(max_workers=3) as pool:
        saver = pool.submit(save_meanwhile)
        at_once([lambda: [state.train(X, Y, 500) for _ in range(2)]] * 2)
        stop_saving.set()
        paths = saver.result()
    assert state.steps_done == 2000
    np.testing.assert_array_equal(state.network.params.to_vector(), parameters_at[2000])
    np.testing.assert_array_equal(state.history.steps, serial.history.steps)
    np.testing.assert_array_equal(state.history.losses, serial.history.losses)
    for path in paths:
        saved = load(path)
        np.testing.assert_array_equal(saved.network.params.to_vector(), parameters_at[saved.steps_done])
        assert saved.history is None or saved.history.steps[-1] == saved.steps_done


def test_two_threads_training_one_ensemble_lose_no_run():
    ensemble = ShallowEnsemble(3, 3, 32, activation="tanh", seed=64)
    serial = ShallowEnsemble(3, 3, 32, activation="tanh", seed=64)
    at_once([lambda: ensemble.train(X, Y, LR, 500, record_every=500)] * 2)
    for _ in range(2):
        serial.train(X, Y, LR, 500, record_every=500)
    for ours, expected in zip(ensemble.params, serial.params):
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("method", ["iterate", "closed_form"])
def test_two_threads_training_one_linearized_model_lose_no_run(method):
    """Runs long enough (m = 300) to overlap when nothing serialises them."""
    net = make_network(3, 64, seed=65)
    X_many, y_many, _ = random_data(68, 300, 3)
    model, serial = widenet.linearize(net), widenet.linearize(net)
    at_once([lambda: model.train(X_many, y_many, 1e-4, 5000, method=method, record_every=5000)] * 2)
    for _ in range(2):
        serial.train(X_many, y_many, 1e-4, 5000, method=method, record_every=5000)
    np.testing.assert_array_equal(model.params.to_vector(), serial.params.to_vector())


def test_copies_have_locks_of_their_own():
    """A copy (or a pickle) of a network trains while its original is being trained."""
    import copy
    import pickle

    net = make_network(3, 64, seed=66)
    twin, unpickled = copy.deepcopy(net), pickle.loads(pickle.dumps(net))
    assert twin._lock is not net._lock and unpickled._lock is not net._lock
    with net._lock:  # the original is busy: its copies are not
        twin.train(X, Y, LR, 10)
        unpickled.train(X, Y, LR, 10)
    np.testing.assert_array_equal(twin.params.to_vector(), unpickled.params.to_vector())


# --- the thread count --------------------------------------------------------------------------------


def processors() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_the_largest_thread_count_is_four_per_processor():
    assert widenet.build_info()["max_threads"] == _core.max_threads() == 4 * processors()


@pytest.mark.parametrize("threads", [0, -1, "max + 1", 10**9, 2**31, 2**63, 10**100, np.int64(2**40)])
def test_thread_counts_the_machine_cannot_run_are_refused(restore_threads, threads):
    threads = _core.max_threads() + 1 if threads == "max + 1" else threads
    for set_num_threads in (widenet.set_num_threads, _core.set_num_threads):
        with pytest.raises(ValueError, match="^threads: expected"):
            set_num_threads(threads)
        assert widenet.get_num_threads() == restore_threads


@pytest.mark.parametrize("threads", [1.5, 2.0, True, "2", None])
def test_thread_counts_that_are_not_integers_are_refused(restore_threads, threads):
    for set_num_threads in (widenet.set_num_threads, _core.set_num_threads):
        with pytest.raises(TypeError, match="^threads: expected an integer"):
            set_num_threads(threads)
    assert widenet.get_num_threads() == restore_threads


def test_every_accepted_thread_count_runs(restore_threads):
    ensemble = ShallowEnsemble(9, 3, 16, seed=67)
    expected = None
    for threads in (1, np.int32(2), _core.max_threads()):
        widenet.set_num_threads(threads)
        assert widenet.get_num_threads() == threads
        run = ensemble.train(X, Y, LR, 20, record_every=20)
        ensemble.reset()
        expected = run.losses if expected is None else expected
        np.testing.assert_array_equal(run.losses, expected)


def test_a_huge_thread_count_raises_instead_of_crashing():
    """Before, 10**9 threads crashed the interpreter at the next parallel loop (the thread
    library ran out of memory); run in a child so that a crash fails only this test."""
    script = textwrap.dedent("""
        import numpy as np, widenet
        try:
            widenet.set_num_threads(10**9)
        except ValueError as error:
            print("refused:", error)
        ensemble = widenet.ShallowEnsemble(4, 2, 16, seed=0)
        X = np.ones((3, 2)); y = np.zeros(3)
        print("trained", ensemble.train(X, y, 1e-3, 5).losses.shape)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: threads: expected" in done.stdout and "trained (4, 6)" in done.stdout
