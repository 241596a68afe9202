"""The convergence checks on deep networks: the report's quantities against independent
computations from the network's own Jacobian, Gram and training, and the relu kinks of the
first layer against the distance written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

import widenet
from widenet.dynamics.lazy_training import lazy_training_cell

from conftest import assert_close

X = np.array([[1.0, 0.2], [-0.3, 0.9], [0.4, -0.7]])
Y = np.array([0.5, -0.5, 0.2])


@pytest.mark.parametrize("parametrization, multipliers", [("ntk", False), ("lecun", False), ("ntk", True)])
def test_the_assumption_report_measures_the_deep_network(parametrization, multipliers):
    net = widenet.Network(2, [96, 64], "tanh", parametrization, bias_var=0.1, multipliers=multipliers, seed=2)
    report = widenet.check_assumptions(net, X, Y, samples=2, path_steps=5, lanczos_steps=2, refinements=0, seed=0)
    J = net.jacobian(X)
    eigenvalues = np.linalg.eigvalsh(J @ J.T)
    assert_close(report.lambda_min, eigenvalues[0], np.float64, 1e4)
    assert_close(report.lambda_max, eigenvalues[-1], np.float64, 1e4)
    assert_close(report.f0, np.sum((net.forward(X) - Y) ** 2), np.float64, 100)
    assert_close(report.U_w0, np.max(np.linalg.norm(J, axis=1)), np.float64, 100)
    assert report.U_lower >= report.U_w0 and report.num_params == net.num_params
    assert report.widths == (96, 64) and report.width == 64
    r = 2 * math.sqrt(3) * report.U_lower * math.sqrt(report.f0) / report.lambda_min
    assert_close(report.r, r, np.float64, 100)
    assert "widths [96, 64]" in report.summary()


def test_the_convergence_check_trains_a_copy_as_the_network_trains():
    net = widenet.Network(2, [128, 128], "erf", "ntk", seed=4)
    check = widenet.check_convergence(net, X, Y, steps=50, record_every=5)
    twin = net.copy()
    run = twin.train(X, Y, lr=check.lr, steps=50, record_every=5)
    np.testing.assert_array_equal(check.losses, run.losses)
    np.testing.assert_array_equal(check.distances, run.distances)
    assert check.loss_bound_held and check.distance_bound_held  # a wide network in the lazy regime
    np.testing.assert_array_equal(net.params.to_vector(), net.initial_params.to_vector())  # untouched


@pytest.mark.parametrize("bias", [True, False])
def test_the_relu_kink_distance_is_that_of_the_first_layer(bias):
    net = widenet.Network(2, [50, 40], "relu", "ntk", bias_var=0.3 * bias, bias=bias, seed=6)
    report = widenet.check_assumptions(net, X, Y, samples=1, path_steps=0, lanczos_steps=1, refinements=0)
    W = net.params.weights[0]
    s = 2 ** -0.5  # the NTK parametrization's first-layer factor, d = 2
    Z = s * X @ W.T + (net.params.biases[0] if bias else 0.0)
    gradient_norms = np.sqrt(s * s * np.sum(X * X, axis=1) + float(bias))[:, None]
    assert_close(report.kink_distance, np.min(np.abs(Z) / gradient_norms), np.float64, 100)
    assert any("deeper layers' kinks are not located" in note for note in report.notes)


def test_a_model_of_another_kind_is_refused_by_name():
    with pytest.raises(TypeError, match="model: expected a widenet.ShallowNetwork or widenet.Network"):
        widenet.check_assumptions(widenet.LinearModel(2), X, Y)


def test_parameter_movement_of_a_deep_network_names_its_layers():
    """Each block's movement against the trained copy's parameters, its gradient norm against the
    Jacobian's columns (both computed here from the network's own methods)."""
    net = widenet.Network(2, [32, 16], "tanh", "ntk", bias_var=0.2, seed=8)
    movement = widenet.parameter_movement(net, X, Y, lr=0.1, steps=20)
    assert tuple(movement.movement) == ("W1", "b1", "W2", "b2", "v", "c")
    trained = net.copy()
    trained.train(X, Y, lr=0.1, steps=20)
    after, before = trained.params, net.params
    for index, name in enumerate(("W1", "W2", "v")):
        assert_close(movement.movement[name], np.linalg.norm(after.weights[index] - before.weights[index]),
                     np.float64, 100)
    J = net.jacobian(X)
    assert_close(movement.output_gradient["v"], np.mean(np.linalg.norm(J[:, -17:-1], axis=1)), np.float64, 100)
    assert_close(movement.output_gradient["c"], 1.0, np.float64, 10)
    assert movement.ratio("v", "W1") > 0 and "W2" in str(movement)
    with pytest.raises(ValueError, match="numerator"):
        movement.ratio("U", "W1")


def test_a_deep_lazy_training_cell_measures_every_layer():
    cell = lazy_training_cell(64, 0, parametrization="ntk", depth=2, steps=30, bias_var=0.1)
    assert {"grad_W1", "grad_W2", "movement_b2", "relative_movement_W2", "gap_test"} <= set(cell)
    assert cell["relative_distance"] < cell["distance"] and cell["gap_train"] >= 0
    shallow = lazy_training_cell(64, 0, parametrization="ntk", steps=30, bias_var=0.1)
    assert "grad_U" in shallow and "grad_W1" not in shallow
    with pytest.raises(ValueError, match="depth"):
        lazy_training_cell(64, 0, depth=0)


def test_a_point_on_every_kink_is_at_distance_zero():
    """x = 0 without biases: every first-layer pre-activation is 0 whatever the weights."""
    X0 = np.vstack([np.zeros(2), X[1:]])
    net = widenet.Network(2, [16], "relu", "ntk", bias=False, seed=0)
    report = widenet.check_assumptions(net, X0, Y, samples=1, path_steps=0, lanczos_steps=1, refinements=0)
    assert report.kink_distance == 0.0 and report.lipschitz_infinite


def test_the_default_ratio_divides_by_the_first_layer():
    net = widenet.Network(2, [16], "tanh", "ntk", seed=0)
    movement = widenet.parameter_movement(net, X, Y, lr=0.05, steps=10)
    assert movement.ratio() == movement.relative_movement["v"] / movement.relative_movement["W1"]
    shallow = widenet.parameter_movement(widenet.ShallowNetwork(2, 16, "tanh", "ntk", seed=0), X, Y, 0.05, 10)
    assert_close(shallow.ratio(), movement.ratio(), np.float64, 100)  # the same network, blocks named apart


@pytest.mark.parametrize("depth, option", [(1, "bias"), (1, "multipliers"), (2, "widths"), (2, "dtype")])
def test_a_cell_refuses_options_it_sets_or_its_network_lacks(depth, option):
    with pytest.raises(TypeError, match=f"^{option}: not a network option of lazy_training_cell at depth {depth}"):
        lazy_training_cell(32, 0, depth=depth, steps=5, **{option: [3]})
