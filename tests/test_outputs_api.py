"""The public face of k outputs: parameters and their vector, files, ensembles, training
states, bad input, and the functions that take one output only."""

import json
import zipfile

import numpy as np
import pytest

import widenet

D, N, K, M = 3, 5, 3, 6


def network(k=K, seed=0, **options):
    return widenet.ShallowNetwork(D, N, "tanh", "ntk", seed=seed, outputs=k, bias_var=0.5, output_bias_var=0.3,
                                  **options)


def data(k=K, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, D)), rng.standard_normal((M, k))


# --- parameters ------------------------------------------------------------------------------


def test_parameters_of_several_outputs_and_their_vector():
    params = network().params
    assert params.outputs == K and params.v.shape == (K, N) and params.c.shape == (K,)
    assert params.size == N * (D + 1) + K * (N + 1) == network().num_params
    w = params.to_vector()
    # U row-major, b, v row-major (output by output), c
    np.testing.assert_array_equal(w, np.concatenate([params.U.ravel(), params.b, params.v.ravel(), params.c]))
    back = widenet.Parameters.from_vector(w, N, D, outputs=K)
    for name in ("U", "b", "v", "c"):
        np.testing.assert_array_equal(getattr(back, name), getattr(params, name))
    with pytest.raises(ValueError, match=r"^v: expected shape \(3, 5\)"):
        params.v = np.zeros((2, N))
    with pytest.raises(ValueError, match=r"^c: expected a 1-D array"):
        params.c = 0.5
    with pytest.raises(ValueError, match=r"^c: "):
        params.c = [0.0, np.nan, 1.0]
    with pytest.raises(ValueError, match=r"^v: expected shape \(5,\) for one output, or \(k, 5\) with k >= 2"):
        widenet.Parameters(params.U, params.b, params.v[:1], params.c[:1])
    with pytest.raises(ValueError, match=r"^w: expected shape"):
        widenet.Parameters.from_vector(w, N, D)  # read as one output: the wrong length
    assert not params.c.flags.writeable


def test_parameters_of_another_number_of_outputs_are_refused():
    net, other = network(), network(k=2)
    with pytest.raises(ValueError, match=r"^params: expected parameters of 3 output\(s\)"):
        net.params = other.params
    with pytest.raises(ValueError, match=r"^params: expected parameters of 1 output\(s\)"):
        widenet.ShallowNetwork(D, N, seed=0).params = other.params


def test_the_initialization_draws_the_readout_row_by_row():
    one, several = widenet.ShallowNetwork(D, N, seed=7), widenet.ShallowNetwork(D, N, seed=7, outputs=K)
    np.testing.assert_array_equal(several.params.U, one.params.U)
    np.testing.assert_array_equal(several.params.b, one.params.b)
    np.testing.assert_array_equal(several.params.v[0], one.params.v)  # the same draws, then more rows
    with pytest.raises(ValueError, match=r"^outputs: expected an integer >= 1|^outputs: "):
        widenet.ShallowNetwork(D, N, outputs=0)


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_network_of_several_outputs_round_trips_bit_for_bit(tmp_path, dtype):
    net = network(dtype=dtype)
    X, Y = data()
    net.train(X, Y.astype(dtype), 0.05, 3)
    path = net.save(tmp_path / "net.npz")
    loaded = widenet.load(path)
    assert isinstance(loaded, widenet.ShallowNetwork) and loaded.outputs == K and loaded.config == net.config
    for mine, theirs in ((net.params, loaded.params), (net.initial_params, loaded.initial_params)):
        np.testing.assert_array_equal(mine.to_vector(), theirs.to_vector())
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    with zipfile.ZipFile(path) as archive, archive.open("config.npy") as stream:
        config = json.loads(str(np.lib.format.read_array(stream)))
    assert config["network"]["outputs"] == K


def test_files_of_one_output_have_no_outputs_entry(tmp_path):
    path = widenet.ShallowNetwork(D, N, seed=0, outputs=1).save(tmp_path / "one.npz")
    with np.load(path) as stored:
        assert "outputs" not in json.loads(str(stored["config"]))["network"]
        assert stored["v"].shape == (N,) and stored["c"].shape == ()


def test_a_file_whose_readout_does_not_fit_its_outputs_is_refused(tmp_path):
    path = network().save(tmp_path / "net.npz")
    with np.load(path) as stored:
        entries = {name: stored[name] for name in stored.files}
    entries["v"] = entries["v"][:2]
    np.savez(tmp_path / "bad.npz", **entries)
    with pytest.raises(ValueError, match=r"entry 'v': expected shape \(3, 5\), got \(2, 5\)"):
        widenet.load(tmp_path / "bad.npz")
    config = json.loads(str(entries["config"]))
    config["network"]["outputs"] = 0
    np.savez(tmp_path / "zero.npz", **{**entries, "config": np.array(json.dumps(config))})
    with pytest.raises(ValueError, match="outputs"):
        widenet.load(tmp_path / "zero.npz")


def test_an_ensemble_of_several_outputs_trains_its_members_and_round_trips(tmp_path):
    ensemble = widenet.ShallowEnsemble(3, D, N, activation="tanh", seed=2, outputs=K)
    members = [ensemble.member(r) for r in range(3)]
    X, Y = data()
    result = ensemble.train(X, Y, 0.02, 4, X_test=X[:2])
    assert result.test_outputs.shape == (3, 5, 2, K) and ensemble.forward(X).shape == (3, M, K)
    for r, member in enumerate(members):
        alone = member.train(X, Y, 0.02, 4, X_test=X[:2])
        np.testing.assert_allclose(ensemble.params.v[r], member.params.v, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.test_outputs[r], alone.test_outputs, rtol=1e-12, atol=1e-14)
    loaded = widenet.load(ensemble.save(tmp_path / "ensemble.npz"))
    for mine, theirs in zip(ensemble.params, loaded.params):
        np.testing.assert_array_equal(mine, theirs)
    assert ensemble.ntk(X, trace_outputs=False).shape == (3, M, K, M, K)


@pytest.mark.parametrize("make", [network, lambda: widenet.Network(D, [6, 5], "tanh", outputs=K, seed=0)],
                         ids=["shallow", "deep"])
def test_a_training_state_of_several_outputs_resumes_from_its_file(tmp_path, make):
    X, Y = data()
    state = widenet.TrainingState(make(), lr=0.05, record_every=2)
    state.train(X, Y, 4, X_test=X[:2])
    loaded = widenet.TrainingState.load(state.save(tmp_path / "state.npz"))
    assert loaded.history.test_outputs.shape == (3, 2, K)
    for model in (state, loaded):
        model.train(X, Y, 4, X_test=X[:2])
    np.testing.assert_array_equal(loaded.history.test_outputs, state.history.test_outputs)
    assert state.history.test_outputs.shape == (5, 2, K)
    with pytest.raises(ValueError, match="^X_test: the history records outputs at 2 test points"):
        state.train(X, Y, 1, X_test=X[:3])


# --- bad input and refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [(M,), (M, 1), (M, K + 1), (M + 1, K)], ids=str)
def test_targets_of_the_wrong_shape_are_refused_by_name(bad):
    net, (X, _) = network(), data()
    message = rf"^y: expected shape \({M}, {K}\), one row of {K} targets per row of X"
    for call in (lambda y: net.train(X, y, 0.1, 1), lambda y: net.loss(X, y), lambda y: net.loss_grad(X, y),
                 lambda y: widenet.linearize(net).train(X, y, 0.1, 1),
                 lambda y: widenet.ShallowEnsemble(2, D, N, outputs=K).train(X, y, 0.1, 1)):
        with pytest.raises(ValueError, match=message):
            call(np.zeros(bad))


def test_the_callers_targets_are_left_as_they_were():
    net, (X, Y) = network(), data()
    before = Y.copy()
    net.train(np.asfortranarray(X), Y, 0.05, 2)
    widenet.linearize(net).train(X, Y, 0.05, 2)
    np.testing.assert_array_equal(Y, before)


@pytest.mark.parametrize("call", [
    lambda net, X, Y: widenet.check_assumptions(net, X, Y),
    lambda net, X, Y: widenet.check_convergence(net, X, Y, steps=2),
    lambda net, X, Y: widenet.parameter_movement(net, X, Y, 0.1, 2),
    lambda net, X, Y: widenet.dynamics.lazy_training.lazy_training_cell(8, 0, outputs=2, steps=2),
    lambda net, X, Y: widenet.compare_parametrizations(8, outputs=2, steps=2),
    lambda net, X, Y: widenet.check_assumptions(widenet.Network(D, [4, 4], outputs=Y.shape[1], seed=0), X, Y),
    lambda net, X, Y: widenet.parameter_movement(widenet.Network(D, [4, 4], outputs=Y.shape[1], seed=0), X, Y, 0.1,
                                                 2),
], ids=["check_assumptions", "check_convergence", "parameter_movement", "lazy_training_cell",
        "compare_parametrizations", "check_assumptions_deep", "parameter_movement_deep"])
def test_what_takes_one_output_refuses_several_by_name(call):
    X, Y = data()
    with pytest.raises(ValueError, match=r"^outputs: expected 1 \(.* supports one output"):
        call(network(), X, Y)


def test_kernels_of_a_network_of_several_outputs_work_as_kernels():
    net, (X, Y) = network(), data()
    np.testing.assert_array_equal(widenet.TangentKernel(net).gram(X, None, "cpp"), net.ntk(X))
    np.testing.assert_array_equal(widenet.LimitKernel.of(net)(X), net.limit_kernel(X))
    widenet.Network(D, [4, 4], outputs=1)  # one output is what deep networks have
    assert repr(net).endswith("outputs=3, dtype=float64)")
