"""Saving and loading deep networks: the round trip is exact for every configuration, training
resumes bit for bit, and a damaged file is refused with a ValueError naming the file and the
entry before anything is built."""

from __future__ import annotations

import json

import numpy as np
import pytest

import widenet
from widenet import Network

from test_persistence import assert_refused, entries_of, rewritten


def trained(widths, bias, multipliers, dtype, seed=2):
    net = Network(3, widths, "softplus", "ntk", weight_var=1.3, bias_var=0.2 * bias, output_var=0.9,
                  output_bias_var=0.1 * bias, bias=bias, multipliers=multipliers, seed=seed, dtype=dtype)
    X = np.random.default_rng(seed).standard_normal((6, 3))
    net.train(X, np.cos(X[:, 1]), lr=1e-2, steps=3)  # the current parameters differ from the initial ones
    return net, X


def assert_same(a, b):
    assert type(a) is type(b) and a.config == b.config
    for x, y in ((a.params, b.params), (a.initial_params, b.initial_params)):
        np.testing.assert_array_equal(x.to_vector(), y.to_vector(), strict=True)


@pytest.mark.parametrize("widths", [[4], [5, 4], [3, 6, 2]])
@pytest.mark.parametrize("bias, multipliers", [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_exact(tmp_path, widths, bias, multipliers, dtype):
    net, X = trained(widths, bias, multipliers, dtype)
    path = net.save(tmp_path / "deep.npz")
    for loaded in (Network.load(path), widenet.load(path)):
        assert_same(loaded, net)
        np.testing.assert_array_equal(loaded.forward(X), net.forward(X))


def test_the_file_holds_the_documented_entries(tmp_path):
    net, _ = trained([5, 4], True, False, np.float64)
    entries = entries_of(net.save(tmp_path / "deep.npz"))
    layers = ["W1", "b1", "W2", "b2", "v", "c"]
    assert set(entries) == {"format", "format_version", "widenet_version", "config", *layers,
                            *(name + "0" for name in layers)}
    assert str(entries["format"]) == "widenet.Network"
    assert json.loads(str(entries["config"])) == {"network": net.config, "size": None}
    np.testing.assert_array_equal(entries["W2"], net.params.weights[1])
    np.testing.assert_array_equal(entries["c0"], net.initial_params.biases[-1])
    without = entries_of(trained([5, 4], False, False, np.float64)[0].save(tmp_path / "plain.npz"))
    assert {"b1", "b2", "c", "b10", "b20", "c0"}.isdisjoint(without) and {"W1", "W2", "v"} <= set(without)


def test_training_resumes_bit_for_bit(tmp_path):
    net, X = trained([5, 4], True, True, np.float64)
    y = np.sin(X[:, 0])
    loaded = Network.load(net.save(tmp_path / "deep.npz"))
    first, second = net.train(X, y, lr=1e-2, steps=7), loaded.train(X, y, lr=1e-2, steps=7)
    np.testing.assert_array_equal(first.losses, second.losses)
    np.testing.assert_array_equal(first.distances, second.distances)
    assert_same(loaded, net)


@pytest.fixture
def saved(tmp_path):
    return trained([5, 4], True, False, np.float64)[0].save(tmp_path / "deep.npz")


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("b2"), "missing 'b2'"),
    (lambda e: e.update(W3=np.zeros((2, 4))), "unexpected 'W3'"),
    (lambda e: e.update(W2=np.zeros((5, 4))), r"entry 'W2': expected shape \(4, 5\)"),
    (lambda e: e.update(v=np.zeros(4, np.float32)), "entry 'v': expected dtype float64"),
    (lambda e: e.update(W10=np.full((5, 3), np.nan)), "'W10'"),
    (lambda e: e["W1"].__setitem__((0, 0), np.nan) or e.update(W1=e["W1"]), "entry 'W1': contains NaN"),
    (lambda e: e.update(config=np.array(json.dumps({"network": {**json.loads(str(e["config"]))["network"],
                                                                 "widths": [5, 0]}, "size": None}))),
     r"widths\[1\]"),
    (lambda e: e.update(config=np.array(json.dumps({"network": {**json.loads(str(e["config"]))["network"],
                                                                 "widths": [5, 4, 3]}, "size": None}))),
     "missing 'W3'"),
    (lambda e: e.update(config=np.array(json.dumps({"network": {**json.loads(str(e["config"]))["network"],
                                                                 "bias": False}, "size": None}))),
     "unexpected 'b1'"),
    (lambda e: e.update(config=np.array(json.dumps({"network": json.loads(str(e["config"]))["network"],
                                                    "size": 2}))),
     "size: expected null"),
])
def test_damaged_files_are_refused_by_name(saved, change, message):
    assert_refused(rewritten(saved, change), message)
    assert_refused(rewritten(saved, change), message, loader=Network.load)


def test_a_file_of_another_class_is_refused(tmp_path, saved):
    with pytest.raises(ValueError, match="holds a widenet.Network, not a widenet.ShallowNetwork"):
        widenet.ShallowNetwork.load(saved)
    shallow = widenet.ShallowNetwork(3, 4, seed=0).save(tmp_path / "shallow.npz")
    with pytest.raises(ValueError, match="holds a widenet.ShallowNetwork, not a widenet.Network"):
        Network.load(shallow)


@pytest.mark.parametrize("bias", [True, False])
def test_a_training_state_of_a_deep_network_resumes_bit_for_bit(tmp_path, bias):
    """Two pieces of 6 steps, saved and loaded between them, give the records of one run of 12."""
    net, X = trained([5, 4], bias, False, np.float64)
    y, X_test = np.sin(X[:, 0]), X[:2] + 0.5
    whole = net.copy().train(X, y, lr=1e-2, steps=12, record_every=3, X_test=X_test)
    state = widenet.TrainingState(net.copy(), lr=1e-2, record_every=3)
    state.train(X, y, 6, X_test)
    path = state.save(tmp_path / "state.npz")
    resumed = widenet.load(path)
    assert isinstance(resumed, widenet.TrainingState) and isinstance(resumed.network, Network)
    resumed.train(X, y, 6, X_test)
    for key in ("steps", "losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(resumed.history, key), getattr(whole, key))
    entries = entries_of(path)
    assert str(entries["format"]) == "widenet.TrainingState" and "W2" in entries and ("b2" in entries) == bias
    broken = rewritten(path, lambda e: e.pop("W2"))
    assert_refused(broken, "missing 'W2'")


def test_a_training_state_of_a_deep_network_with_a_size_is_refused(tmp_path):
    net, X = trained([5, 4], True, False, np.float64)
    state = widenet.TrainingState(net, lr=1e-2)
    state.train(X, np.sin(X[:, 0]), 2)
    path = state.save(tmp_path / "state.npz")

    def with_size(entries):
        config = json.loads(str(entries["config"]))
        entries["config"] = np.array(json.dumps({**config, "size": 2}))
    assert_refused(rewritten(path, with_size), "size: expected null")
