"""Ctrl-C stops every long call promptly, on one and on two threads, and leaves the objects
as they were.

Every long call (the compiled kernels, training, and the fits that wait for LAPACK) runs in
a child process (tests/interrupt_calls.py) at a size that takes seconds; SIGINT is sent
once the call has started. KeyboardInterrupt must arrive within LATENCY_LIMIT (the
mechanism is designed for about 0.1 s: kernels poll a stop token at most about 0.05 s of
work apart; the limit leaves room for a loaded CI machine), the objects passed in must be
unchanged, and a second call afterwards must give the right answer. The measured latencies
are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import widenet

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHILD = Path(__file__).with_name("interrupt_calls.py")
CALLS = ("forward", "jacobian", "ntk", "ntk_cross", "ntk_diag", "loss_grad", "jvp", "vjp", "train",
         "train_ensemble", "train_outputs", "ntk_blocks", "deep_ntk", "deep_train", "deep_train_ensemble",
         "deep_ntk_blocks", "deep_train_outputs",
         "linear_gd", "linearized_closed_form", "kernel_gram",
         "kernel_gram_cross", "activation",
         "KernelLeastSquares.fit", "NTKRegressor.fit", "min_norm_solution")
# Seconds after "ready": past the argument checks (up to ~0.3 s for the largest inputs on a
# loaded machine), well inside the long part of every call (several seconds). The Jacobian
# and the activations are bounded by memory (about 1 GB here, under a second to write): they
# have no argument checks to wait for.
SIGNAL_DELAY = {"jacobian": 0.2, "activation": 0.2}
DEFAULT_SIGNAL_DELAY = 0.8
LATENCY_LIMIT = 2.0
CALL_TIMEOUT = 300.0  # a call that ignores SIGINT runs to its end; never wait forever


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put((time.perf_counter(), line))
    into.put((time.perf_counter(), None))


def interrupt_every_call(threads: int) -> dict:
    """Runs every call of CALLS in one child on ``threads`` threads, interrupting each;
    returns ``{call: report}`` with the latency measured here added to each report."""
    reports = {}
    with tempfile.TemporaryFile("w+") as errors, subprocess.Popen(
            [sys.executable, str(CHILD), str(threads), *CALLS], stdout=subprocess.PIPE, stderr=errors,
            text=True) as child:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True).start()
        try:
            for _ in CALLS:
                ready = _next_report(lines)
                if ready is None:
                    break
                assert ready["event"] == "ready", ready
                time.sleep(SIGNAL_DELAY.get(ready["call"], DEFAULT_SIGNAL_DELAY))
                sent = time.perf_counter()
                child.send_signal(signal.SIGINT)
                report = _next_report(lines)
                if report is None:
                    break
                report["latency"] = report.pop("arrived") - sent
                reports[report["call"]] = report
                if report["event"] != "interrupted":
                    continue
                checked = _next_report(lines)  # the objects and a second call, checked after the interrupt
                if checked is None:
                    break
                report.update(unchanged=checked["unchanged"], second_call=checked["second_call"])
        finally:
            child.kill()  # never leave an hours-long call behind
            child.wait()
        errors.seek(0)
        reports["stderr"] = errors.read()
    return reports


def _next_report(lines: queue.Queue):
    """The child's next JSON line with its arrival time, or None if it ended or went silent."""
    try:
        arrived, line = lines.get(timeout=CALL_TIMEOUT)
    except queue.Empty:
        return None
    return None if line is None else {**json.loads(line), "arrived": arrived}


@pytest.fixture(scope="module", params=[1, 2], ids=["1-thread", "2-threads"])
def interrupted(request) -> tuple:
    reports = interrupt_every_call(request.param)
    print(f"\nCtrl-C latency with {request.param} thread(s):")
    for name in CALLS:
        report = reports.get(name, {})
        print(f"  {name:24s} {report.get('latency', float('nan')):6.3f} s "
              f"(the call ran {report.get('elapsed', float('nan')):.3f} s)")
    return request.param, reports


@pytest.mark.parametrize("call", CALLS)
def test_ctrl_c_stops_a_long_call_promptly_leaving_its_objects_unchanged(interrupted, call):
    threads, reports = interrupted
    report = reports.get(call)
    assert report is not None, f"{call} on {threads} thread(s): no report; child stderr:\n{reports.get('stderr')}"
    assert report["event"] == "interrupted", f"{call}: finished before the signal arrived ({report})"
    assert report["latency"] < LATENCY_LIMIT, f"{call}: KeyboardInterrupt came {report['latency']:.2f} s after SIGINT"
    assert report["unchanged"], f"{call}: the interrupted call changed its objects"
    assert report["second_call"], f"{call}: a call after the interrupt gave a wrong answer"


# --- the helper for calls that cannot be stopped ---------------------------------------------------


@pytest.fixture
def run_interruptible():
    from widenet._interrupt import run_interruptible  # here: the calls above run against any widenet

    return run_interruptible


def test_run_interruptible_returns_the_result_and_raises_the_functions_errors(run_interruptible):
    matrix = np.random.default_rng(0).standard_normal((300, 300))
    np.testing.assert_array_equal(run_interruptible(np.linalg.svd, matrix, compute_uv=False),
                                  np.linalg.svd(matrix, compute_uv=False))
    with pytest.raises(np.linalg.LinAlgError):
        run_interruptible(np.linalg.cholesky, -np.eye(300))
    assert run_interruptible(sorted, [3, 1, 2], long_call=False) == [1, 2, 3]


def test_run_interruptible_keeps_the_callers_numpy_error_state(run_interruptible):
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        run_interruptible(np.multiply, np.array([1e300]), 1e300)
    with np.errstate(over="ignore"):
        assert np.isinf(run_interruptible(np.multiply, np.array([1e300]), 1e300)).all()


def test_run_interruptible_from_other_threads_runs_inline(run_interruptible):
    seen = []
    worker = threading.Thread(target=lambda: seen.append(run_interruptible(threading.current_thread)))
    worker.start()
    worker.join()
    assert seen == [worker]


def test_a_long_call_started_from_another_python_thread_runs_inline():
    """From a thread other than the main one (no signal reaches it) a long C++ call runs on
    that thread, and gives the main thread's answer."""
    net = widenet.ShallowNetwork(8, 512, "tanh", seed=0)
    X = np.random.default_rng(1).standard_normal((2000, 8))
    results = []
    worker = threading.Thread(target=lambda: results.append(net.ntk(X)))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(results[0], net.ntk(X))
