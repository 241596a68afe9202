"""Numerical failure in training: a diverging run stops at the step where its loss blows up,
in C++ and in the numpy twin alike, and says so (DivergenceError with the step, the loss
and the admissible step) or returns its records up to there; Ctrl-C stops a long C++ loop."""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import widenet
from widenet import _core
from widenet import reference as ref
from widenet.dynamics.linearization import linearize

from conftest import make_network

# Figure 11.3's setting with the chapter's sum loss: h = 1/n is above 1/lambda_max.
X = np.array([[-1.0], [0.5], [1.5]])
Y = np.array([0.3, -0.4, 0.8])
H = 1 / 250
FIG = dict(weight_var=3.0, output_var=3.0, bias_var=2.0, output_bias_var=2.0)


def figure_network(seed=0, dtype=np.float64):
    return widenet.ShallowNetwork(1, 250, "arctan", seed=seed, dtype=dtype, **FIG)


def expected_stop(net):
    """The first step whose loss exceeds 1e10 times max(f(w0), s |y|^2), by plain numpy GD."""
    params = [np.array(p, dtype=np.float64) for p in net.params.arrays()]
    reference = float(Y @ Y)  # the zero predictor's loss
    for k in range(1000):
        loss, ((gU, gb), (gv, gc)) = ref.loss_grad(ref.Network(*params, "arctan", "lecun"), X, Y)
        grads = gU, gb, gv, gc
        if k == 0:
            reference = max(reference, loss)
        if not np.isfinite(loss) or loss > 1e10 * reference:
            return k, loss
        params = [p - H * g for p, g in zip(params, grads)]
    return None, None


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_diverging_run_raises_with_the_step_the_loss_and_the_admissible_step(backend):
    net = figure_network()
    before = net.params.to_vector().copy()
    step, loss = expected_stop(net)
    assert step is not None and step < 100
    with pytest.raises(widenet.DivergenceError) as error:
        net.train(X, Y, H, 1000, record_every=10, backend=backend)
    assert error.value.step == step
    assert error.value.loss == pytest.approx(loss, rel=1e-9)
    lambda_max = np.linalg.eigvalsh(net.ntk(X))[-1]
    assert error.value.admissible_lr == pytest.approx(1 / lambda_max, rel=1e-12)
    assert H > error.value.admissible_lr
    assert f"step {step}" in str(error.value) and "on_divergence='return'" in str(error.value)
    assert isinstance(error.value, FloatingPointError)
    np.testing.assert_array_equal(net.params.to_vector(), before)  # left unchanged
    partial = error.value.result
    assert partial.steps[-1] == step and partial.diverged_at == step


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_returned_partial_trajectories_agree_between_backends(dtype):
    runs = {}
    for backend in ("cpp", "numpy"):
        net = figure_network(dtype=dtype)
        runs[backend] = net.train(X, Y, H, 1000, record_every=4, backend=backend, on_divergence="return")
        assert np.all(np.isfinite(net.params.to_vector())) or dtype == np.float32
    cpp, numpy = runs["cpp"], runs["numpy"]
    assert cpp.diverged_at == numpy.diverged_at is not None
    np.testing.assert_array_equal(cpp.steps, numpy.steps)
    assert cpp.steps[-1] == cpp.diverged_at and np.all(np.diff(cpp.steps) > 0)
    np.testing.assert_allclose(cpp.losses, numpy.losses, rtol=1e-9 if dtype == np.float64 else 1e-3)


def test_non_finite_losses_stop_even_without_the_growth_rule():
    net = figure_network()
    run = net.train(X, Y, 1.0, 200, on_divergence="return")  # a step far too large: overflow
    assert run.diverged_at is not None
    start = net.initial_state
    # factor 0: only a non-finite loss stops the run
    raw = _core.train(start, start, X, Y, _core.TrainingOptions(1.0, 200, 1, 1.0, 0.0))
    assert raw["stopped_at"] > run.diverged_at
    assert not np.isfinite(raw["losses"][len(raw["steps"]) - 1])


def test_stable_runs_are_not_stopped():
    net = figure_network()
    run = net.train(X, Y, H, 1000, record_every=100, loss="mean")
    assert run.diverged_at is None and run.steps[-1] == 1000


@pytest.mark.parametrize("outputs", [1, 3])
def test_an_ensemble_stops_only_the_diverging_networks(outputs):
    # three outputs: the targets of the first, and two more columns
    targets = Y if outputs == 1 else np.stack([Y, -Y, 0.5 * Y[::-1]], axis=1)
    ensemble = widenet.ShallowEnsemble(6, 1, 250, activation="arctan", seed=3, outputs=outputs, **FIG)
    before = ensemble.params.U.copy()
    with pytest.raises(widenet.DivergenceError) as error:
        ensemble.train(X, targets, H, 300, record_every=10)
    assert error.value.networks == tuple(range(6))
    np.testing.assert_array_equal(ensemble.params.U, before)
    stops = {}
    for backend in ("cpp", "numpy"):
        run = widenet.ShallowEnsemble(6, 1, 250, activation="arctan", seed=3, outputs=outputs, **FIG).train(
            X, targets, H, 300, record_every=10, on_divergence="return", backend=backend)
        assert np.all(run.diverged_at >= 0)
        for r, stop in enumerate(run.diverged_at):
            row = int(np.searchsorted(run.steps, stop))  # a network's last record is its stop
            assert np.isfinite(run.losses[r, row]) and np.all(np.isnan(run.losses[r, row + 1:]))
            assert run.losses[r, row] > 1e10 * run.losses[r, 0]
        stops[backend] = run.diverged_at
    np.testing.assert_array_equal(stops["cpp"], stops["numpy"])


@pytest.mark.parametrize("method", ["iterate", "closed_form"])
def test_linearized_gd_beyond_its_stable_step_diverges(method):
    net = make_network(3, 32, "tanh", "ntk", seed=2)
    rng = np.random.default_rng(4)
    Xs, ys = rng.standard_normal((5, 3)), rng.standard_normal(5)
    lin = linearize(net)
    lam = np.linalg.eigvalsh(lin.ntk(Xs))[-1]
    with pytest.raises(widenet.DivergenceError) as error:
        lin.train(Xs, ys, 1.5 / lam, 10_000, method=method, record_every=50)
    assert error.value.admissible_lr == pytest.approx(1 / lam, rel=1e-10)
    assert lin.params.to_vector().tolist() == net.params.to_vector().tolist()  # not moved
    run = lin.train(Xs, ys, 1.5 / lam, 10_000, method=method, record_every=50, on_divergence="return")
    assert run.diverged_at is not None and run.steps[-1] == run.diverged_at
    assert not (np.isfinite(run.losses[-1]) and run.losses[-1] <= 1e10 * run.losses[0])


def test_bad_on_divergence_is_named():
    with pytest.raises(ValueError, match="on_divergence"):
        figure_network().train(X, Y, H, 10, on_divergence="ignore")


# -- Ctrl-C -----------------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("call", [
    "net.train(X, y, 1e-9, 10**9, record_every=10**9)",
    "ensemble.train(X, y, 1e-9, 10**9, record_every=10**9)",
    "several.train(X, Y, 1e-9, 10**9, record_every=10**9)",
    "several_ensemble.train(X, Y, 1e-9, 10**9, record_every=10**9)",
])
def test_ctrl_c_interrupts_a_long_training_loop(call):
    """Every step polls the stop token: SIGINT ends the run within about 0.1 s with
    KeyboardInterrupt, the network unchanged, instead of hanging for the ~hours the call
    would take; networks of several outputs (``several``) alike."""
    script = textwrap.dedent(f"""
        import signal, sys, time
        # a child of a background job inherits SIGINT ignored: restore Python's handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import numpy as np
        import widenet
        X = np.random.default_rng(0).standard_normal((32, 4)); y = np.sin(X[:, 0]); Y = np.sin(X[:, :3])
        net = widenet.ShallowNetwork(4, 256, "tanh", seed=0)
        ensemble = widenet.ShallowEnsemble(4, 4, 64, activation="tanh", seed=0)
        several = widenet.ShallowNetwork(4, 256, "tanh", seed=0, outputs=3)
        several_ensemble = widenet.ShallowEnsemble(4, 4, 64, activation="tanh", seed=0, outputs=3)
        models = (net, several)
        before = [model.params.to_vector().copy() for model in models]
        ensembles = (ensemble, several_ensemble)
        stacked = [[np.array(field) for field in model.params] for model in ensembles]
        print("ready", flush=True)
        start = time.perf_counter()
        try:
            {call}
        except KeyboardInterrupt:
            unchanged = all(np.array_equal(model.params.to_vector(), start) for model, start in zip(models, before))
            unchanged &= all(np.array_equal(field, old) for model, fields in zip(ensembles, stacked)
                             for field, old in zip(model.params, fields))
            print(f"interrupted after {{time.perf_counter() - start:.2f}} s, unchanged {{unchanged}}", flush=True)
            sys.exit(0)
        sys.exit(3)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        sent = time.perf_counter()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        latency = time.perf_counter() - sent
    finally:
        process.kill()  # never leave a hours-long loop behind when the test fails
        process.wait()
    assert process.returncode == 0, err
    assert "interrupted after" in out and "unchanged True" in out
    assert latency < 2  # within 0.1 s on an idle machine; generous for a busy CI
