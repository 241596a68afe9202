"""Ensembles of deep networks: every member is the network of its spawned seed, training the
ensemble in one call trains each member as it would be trained alone (in C++ bit for bit,
and as the numpy twin does), a diverging member stops alone, bad input is named, two threads
take turns and the memory guard refuses before allocating."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import widenet
import widenet.io
from widenet import DeepEnsemble, DeepParameters, Network, _core, _memory
from widenet.reference import deep as reference_deep

from conftest import options, random_data, rtol_for

D, M = 3, 12
ARCHITECTURES = [(depth, bias, parametrization, multipliers)
                 for depth in (1, 2, 3) for bias in (True, False)
                 for parametrization, multipliers in (("lecun", False), ("ntk", False), ("ntk", True))]


def config(depth=2, bias=True, parametrization="ntk", multipliers=False, dtype=np.float64):
    return dict(input_dim=D, widths=[16, 12, 8][:depth], activation="tanh", parametrization=parametrization,
                bias=bias, multipliers=multipliers, bias_var=0.4, output_bias_var=0.3, dtype=dtype)


def lr_for(parametrization):
    return 0.05 if parametrization == "ntk" else 0.01


@pytest.mark.parametrize("kind", ["int", "seed_sequence", "generator"])
def test_members_are_the_networks_of_the_spawned_seeds(kind):
    """A SeedSequence or a Generator is spawned from (and so changed): each side gets its own."""
    def seed():
        return {"int": 7, "seed_sequence": np.random.SeedSequence(8), "generator": np.random.default_rng(9)}[kind]
    root = seed()
    generators = (root.spawn(3) if kind == "generator" else
                  [np.random.default_rng(child) for child in np.random.SeedSequence(root).spawn(3)]
                  if kind == "int" else [np.random.default_rng(child) for child in root.spawn(3)])
    ensemble = DeepEnsemble(3, seed=seed(), **config())
    for r, rng in enumerate(generators):
        alone = Network(**config(), seed=rng)
        np.testing.assert_array_equal(ensemble.params[r].to_vector(), alone.params.to_vector())
        np.testing.assert_array_equal(ensemble.member(r).params.to_vector(), alone.params.to_vector())
    assert ensemble.config == {"size": 3, **alone.config}
    again = DeepEnsemble(**ensemble.config, seed=5)
    assert again.config == ensemble.config and again.widths == (16, 12)


@pytest.mark.parametrize("depth, bias, parametrization, multipliers", ARCHITECTURES)
def test_training_the_ensemble_trains_each_member_alone(depth, bias, parametrization, multipliers):
    cfg = config(depth, bias, parametrization, multipliers)
    X, y, X_test = random_data(11, M, D)
    ensemble = DeepEnsemble(3, seed=4, **cfg)
    members = [ensemble.member(r) for r in range(3)]
    lr = lr_for(parametrization)
    run = ensemble.train(X, y, lr, 25, record_every=4, X_test=X_test, loss="mean")
    assert run.losses.shape == (3, len(run.steps)) and run.test_outputs.shape == (3, len(run.steps), 4)
    assert run.diverged_at is None and not run.parameters_overflowed.any()
    for r, member in enumerate(members):
        alone = member.train(X, y, lr, 25, record_every=4, X_test=X_test, loss="mean")
        np.testing.assert_array_equal(ensemble.params[r].to_vector(), member.params.to_vector())
        np.testing.assert_array_equal(ensemble.initial_params[r].to_vector(), member.initial_params.to_vector())
        for field in ("losses", "distances", "test_outputs"):
            np.testing.assert_array_equal(getattr(run, field)[r], getattr(alone, field))


@pytest.mark.parametrize("depth, bias, parametrization, multipliers", ARCHITECTURES[::2] + ARCHITECTURES[1::6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_numpy_twin_trains_the_ensemble_as_cpp_does(depth, bias, parametrization, multipliers, dtype):
    cfg = config(depth, bias, parametrization, multipliers, dtype)
    X, y, X_test = random_data(12, M, D, dtype)
    runs, params = {}, {}
    for backend in ("cpp", "numpy"):
        ensemble = DeepEnsemble(2, seed=6, **cfg)
        runs[backend] = ensemble.train(X, y, lr_for(parametrization), 20, record_every=5, X_test=X_test,
                                       loss="mean", backend=backend)
        params[backend] = np.stack([p.to_vector() for p in ensemble.params])
    rtol = rtol_for(dtype, 2000) if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(params["numpy"], params["cpp"], rtol=rtol, atol=rtol)
    for field in ("losses", "distances", "test_outputs"):
        np.testing.assert_allclose(getattr(runs["numpy"], field), getattr(runs["cpp"], field), rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(runs["numpy"].steps, runs["cpp"].steps)


def test_the_compiled_call_stacks_the_layers_per_layer():
    for bias in (True, False):
        ensemble = DeepEnsemble(3, seed=1, **config(3, bias))
        X, y, _ = random_data(2, M, D)
        states = [ensemble.member(r).state for r in range(3)]
        for backend in (_core, reference_deep):
            records = backend.train_ensemble(states, states, X, y, options(0.01, 3))
            layers = records["layers"]
            assert [W.shape for W, _ in layers] == [(3, 16, D), (3, 12, 16), (3, 8, 12), (3, 8)]
            assert [None if b is None else np.shape(b) for _, b in layers] == (
                [(3, 16), (3, 12), (3, 8), (3,)] if bias else [None] * 4)
            assert records["stopped_at"].tolist() == [-1, -1, -1] and records["losses"].shape == (3, 4)


def diverging_ensemble(backend_check=False):
    """Member 0's readout is scaled up so that its loss diverges at the step the others take."""
    ensemble = DeepEnsemble(3, seed=2, **config(2))
    params = list(ensemble.params)
    weights = params[0].weights
    weights[-1] = weights[-1] * 300.0
    params[0] = DeepParameters(weights, params[0].biases)
    return DeepEnsemble.from_parameters(ensemble.config, params, ensemble.initial_params)


def test_a_diverging_member_stops_alone():
    X, y, _ = random_data(3, M, D)
    ensemble = diverging_ensemble()
    before = [p.to_vector() for p in ensemble.params]
    with pytest.raises(widenet.DivergenceError) as error:
        ensemble.train(X, y, 0.05, 40, record_every=5)
    assert error.value.networks == (0,)
    for old, new in zip(before, ensemble.params):
        np.testing.assert_array_equal(new.to_vector(), old)

    stops = {}
    for backend in ("cpp", "numpy"):
        ensemble = diverging_ensemble()
        members = [ensemble.member(r) for r in range(3)]
        run = ensemble.train(X, y, 0.05, 40, record_every=5, on_divergence="return", backend=backend)
        assert run.diverged_at[0] >= 0 and run.diverged_at[1:].tolist() == [-1, -1]
        row = int(np.searchsorted(run.steps, run.diverged_at[0]))
        assert np.isfinite(run.losses[0, row]) and np.all(np.isnan(run.losses[0, row + 1:]))
        assert np.all(np.isfinite(run.losses[1:]))
        for r in (1, 2):
            members[r].train(X, y, 0.05, 40, backend=backend)
            np.testing.assert_allclose(ensemble.params[r].to_vector(), members[r].params.to_vector(),
                                       rtol=1e-12, atol=1e-12)
        stops[backend] = run.diverged_at
    np.testing.assert_array_equal(stops["cpp"], stops["numpy"])


def test_mismatched_members_are_named():
    X, y, _ = random_data(4, M, D)
    first = DeepEnsemble(2, seed=0, **config(2)).member(0)
    other_widths = Network(**{**config(2), "widths": [16, 10]}, seed=1)
    other_activation = Network(**{**config(2), "activation": "relu"}, seed=1)
    other_scales = Network(**{**config(2), "parametrization": "lecun"}, seed=1)
    single = Network(**config(2, dtype=np.float32), seed=1)
    shallow = widenet.ShallowNetwork(D, 8, seed=0)
    opts = options(0.01, 2)
    for odd in (other_widths, other_activation, other_scales):
        with pytest.raises(ValueError, match=r"^networks\[1\]: expected the architecture of networks\[0\]"):
            _core.train_ensemble([first.state, odd.state], [first.state] * 2, X, y, opts)
        with pytest.raises(ValueError, match=r"^initial\[1\]: expected the architecture"):
            _core.train_ensemble([first.state] * 2, [first.state, odd.state], X, y, opts)
    with pytest.raises(TypeError, match=r"^networks\[1\]: expected a float64 network"):
        _core.train_ensemble([first.state, single.state], [first.state] * 2, X, y, opts)
    with pytest.raises(TypeError, match=r"^networks\[1\]: expected a DeepNetwork, got a Network"):
        _core.train_ensemble([first.state, shallow.state], [first.state] * 2, X, y, opts)
    with pytest.raises(TypeError, match=r"^initial\[0\]: expected a DeepNetwork"):
        _core.train_ensemble([first.state], [shallow.state], X, y, opts)
    with pytest.raises(ValueError, match=r"^initial: expected 2 networks"):
        _core.train_ensemble([first.state] * 2, [first.state], X, y, opts)
    with pytest.raises(ValueError, match=r"^X: expected 3 columns"):
        _core.train_ensemble([first.state], [first.state], X[:, :2].copy(), y, opts)
    with pytest.raises(ValueError, match=r"^y: expected length"):
        _core.train_ensemble([first.state], [first.state], X, y[:-1].copy(), opts)


def test_bad_arguments_of_the_ensemble_are_named():
    ensemble = DeepEnsemble(2, seed=0, **config(1))
    X, y, _ = random_data(5, M, D)
    with pytest.raises(ValueError, match="^size"):
        DeepEnsemble(0, **config(1))
    with pytest.raises(TypeError, match="widths"):
        DeepEnsemble(2, D, 5)
    with pytest.raises(TypeError, match="colour"):
        DeepEnsemble(2, D, [4], colour="red")
    with pytest.raises(ValueError, match="^r: expected an index below 2"):
        ensemble.member(2)
    with pytest.raises(ValueError, match="^X"):
        ensemble.train(X[:, :2], y, 0.01, 3)
    with pytest.raises(ValueError, match="^y"):
        ensemble.train(X, y[:-1], 0.01, 3)
    with pytest.raises(ValueError, match="^params: expected a sequence of 2"):
        DeepEnsemble.from_parameters(ensemble.config, ensemble.params[:1], ensemble.initial_params)
    before = X.copy()
    ensemble.train(X, y, 0.01, 3)
    np.testing.assert_array_equal(X, before)


def test_every_method_answers_for_every_member():
    ensemble = DeepEnsemble(3, seed=3, **config(2))
    X, y, X_test = random_data(6, M, D)
    ensemble.train(X, y, 0.05, 10)
    members = [ensemble.member(r) for r in range(3)]
    np.testing.assert_array_equal(ensemble.forward(X), np.stack([m.forward(X) for m in members]))
    np.testing.assert_array_equal(ensemble(X), ensemble.forward(X))
    np.testing.assert_array_equal(ensemble.loss(X, y), [m.loss(X, y) for m in members])
    values, gradients = ensemble.loss_grad(X, y, "mean")
    for r, member in enumerate(members):
        value, gradient = member.loss_grad(X, y, "mean")
        assert values[r] == value
        np.testing.assert_array_equal(gradients[r].to_vector(), gradient.to_vector())
    np.testing.assert_array_equal(ensemble.jacobian(X), np.stack([m.jacobian(X) for m in members]))
    np.testing.assert_array_equal(ensemble.ntk(X, X_test), np.stack([m.ntk(X, X_test) for m in members]))
    np.testing.assert_array_equal(ensemble.ntk(X), np.stack([m.ntk(X) for m in members]))
    np.testing.assert_array_equal(ensemble.nngp(X), np.stack([m.nngp(X) for m in members]))
    np.testing.assert_array_equal(ensemble.ntk_diag(X), np.stack([m.ntk_diag(X) for m in members]))
    np.testing.assert_array_equal(ensemble.limit_kernel(X, X_test), members[0].limit_kernel(X, X_test))
    ensemble.reset()
    for r, member in enumerate(members):
        np.testing.assert_array_equal(ensemble.params[r].to_vector(), member.initial_params.to_vector())


def test_two_threads_training_one_ensemble_take_turns():
    X, y, _ = random_data(7, 40, D)
    ensemble = DeepEnsemble(3, seed=64, **config(2))
    serial = DeepEnsemble(3, seed=64, **config(2))
    start = threading.Barrier(2)

    def run():
        start.wait()
        ensemble.train(X, y, 0.01, 300, record_every=300)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(2):
        serial.train(X, y, 0.01, 300, record_every=300)
    for ours, expected in zip(ensemble.params, serial.params):
        np.testing.assert_array_equal(ours.to_vector(), expected.to_vector())


@pytest.mark.usefixtures("default_memory_limit")
def test_a_tiny_memory_limit_refuses_before_allocating():
    _memory.set_memory_limit(10**6)
    tracemalloc.start()
    try:
        with pytest.raises(_memory.MemoryLimitError, match="^DeepEnsemble: would allocate"):
            DeepEnsemble(100, 50, [200, 200], seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    _memory.set_memory_limit(None)
    ensemble = DeepEnsemble(2, seed=0, **config(1))
    X, y, _ = random_data(8, M, D)
    before = [p.to_vector() for p in ensemble.params]
    _memory.set_memory_limit(10**4)
    with pytest.raises(_memory.MemoryLimitError, match="^DeepEnsemble.train: would allocate"):
        ensemble.train(X, y, 0.01, 10**6)
    for old, new in zip(before, ensemble.params):
        np.testing.assert_array_equal(new.to_vector(), old)


@pytest.mark.parametrize("bias", [True, False])
def test_save_and_load_give_the_ensemble_back_bit_for_bit(tmp_path, bias):
    ensemble = DeepEnsemble(3, seed=21, **config(3, bias, dtype=np.float32))
    X, y, _ = random_data(9, M, D, np.float32)
    ensemble.train(X, y, 0.05, 5)
    for loaded in (DeepEnsemble.load(ensemble.save(tmp_path / "e.npz")),
                   widenet.load(widenet.io.save(ensemble, tmp_path / "f.npz"))):
        assert isinstance(loaded, DeepEnsemble) and loaded.config == ensemble.config
        for ours, theirs in ((loaded.params, ensemble.params), (loaded.initial_params, ensemble.initial_params)):
            for a, b in zip(ours, theirs):
                np.testing.assert_array_equal(a.to_vector(), b.to_vector())
                assert a.dtype == np.float32
        np.testing.assert_array_equal(loaded.forward(X), ensemble.forward(X))
    with pytest.raises(ValueError, match="holds a widenet.DeepEnsemble, not a widenet.Network"):
        Network.load(tmp_path / "e.npz")
    with pytest.raises(ValueError, match="holds a widenet.Network, not a widenet.DeepEnsemble"):
        DeepEnsemble.load(ensemble.member(0).save(tmp_path / "n.npz"))


def test_a_file_with_a_member_missing_is_refused(tmp_path):
    ensemble = DeepEnsemble(2, seed=22, **config(2))
    entries = dict(np.load(ensemble.save(tmp_path / "e.npz")))
    entries["W1"] = entries["W1"][:1]
    np.savez(tmp_path / "cut.npz", **entries)
    with pytest.raises(ValueError, match=r"entry 'W1': expected shape \(2, 16, 3\)"):
        DeepEnsemble.load(tmp_path / "cut.npz")
