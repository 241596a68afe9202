"""A deep network where a shallow one is taken: copies and parameters, Jacobian blocks, the
linearization (against the network's own Jacobian at w0), the tangent kernel as a kernel
object, the limit kernel of its configuration, and the regressor on deep kernels."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

import widenet
from widenet.network.deep import Network
from widenet.network.deep_parameters import DeepParameters

from conftest import assert_close


def deep_network(bias=True, dtype=np.float64, seed=3):
    return Network(3, [40, 30], "tanh", "ntk", bias_var=0.2 if bias else 0.0, output_bias_var=0.1, bias=bias,
                   seed=seed, dtype=dtype)


def data(m=12, d=3, seed=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d)).astype(dtype)
    return X, np.sin(X[:, 0]).astype(dtype)


def test_copies_are_independent_and_reset_returns_to_the_start():
    net, (X, y) = deep_network(), data()
    before = net.forward(X)
    twin, deep_copy = net.copy(), copy.deepcopy(net)
    twin.train(X, y, lr=1e-3, steps=5)
    np.testing.assert_array_equal(net.forward(X), before)
    np.testing.assert_array_equal(deep_copy.forward(X), before)
    assert np.max(np.abs(twin.forward(X) - before)) > 0
    twin.reset()
    np.testing.assert_array_equal(twin.forward(X), before)
    assert Network(**net.config, seed=3).config == net.config


def test_setting_parameters_checks_them_by_name():
    net = deep_network()
    with pytest.raises(TypeError, match="params: expected widenet.DeepParameters"):
        net.params = widenet.ShallowNetwork(3, 40, seed=0).params
    with pytest.raises(ValueError, match=r"params: expected input_dim 3, widths \[40, 30\]"):
        net.params = deep_network().params.from_vector(np.zeros(net.num_params)).__class__(
            [np.zeros((40, 3)), np.zeros(40)], [np.zeros(40), 0.0])
    with pytest.raises(ValueError, match="bias=True"):
        net.params = deep_network(bias=False).params
    zeros = net.params.from_vector(np.zeros(net.num_params))
    net.params = zeros
    np.testing.assert_array_equal(net.forward(data()[0]), np.zeros(12))


@pytest.mark.parametrize("rows", [1, 5, 12, 50])
def test_jacobian_chunks_are_the_rows_of_the_jacobian(rows):
    net, (X, _) = deep_network(), data()
    blocks = list(net.jacobian_chunks(X, rows))
    assert [start for start, _ in blocks] == list(range(0, 12, rows))
    assert_close(np.vstack([block for _, block in blocks]), net.jacobian(X), np.float64, 10)  # blocking rounds
    with pytest.raises(ValueError, match="rows"):
        net.jacobian_chunks(X, 0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_the_linearization_is_the_first_order_expansion_at_w0(bias, backend):
    """``Phi_lin(x, p) = Phi(x, w0) + J(x, w0) (p - w0)`` with ``J`` the network's own Jacobian;
    a step of the linearized model is not one of the network (the two part at second order)."""
    net, (X, y) = deep_network(bias), data()
    lin = widenet.linearize(net)
    w0, J0 = net.params.to_vector(), net.jacobian(X)
    assert_close(lin.forward(X, backend=backend), net.forward(X), np.float64, 10)
    assert_close(lin.ntk(X, backend=backend), J0 @ J0.T, np.float64, 100)
    lr = 0.2 / np.linalg.eigvalsh(J0 @ J0.T)[-1]
    lin.train(X, y, lr=lr, steps=20, backend=backend)
    p = lin.params
    assert isinstance(p, DeepParameters)
    expected = net.forward(X) + J0 @ (p.to_vector() - w0)
    assert_close(lin.forward(X, backend=backend), expected, np.float64, 1000)
    net.train(X, y, lr=lr, steps=20, backend=backend)
    assert np.max(np.abs(net.forward(X) - expected)) > 1e-8  # the network itself is not linear
    with pytest.raises(ValueError, match="params: expected input_dim"):
        widenet.linearize(net, deep_network().params.__class__([np.zeros((5, 3)), np.zeros(5)], None))


def test_the_linearization_at_a_parameter_vector_is_at_those_parameters():
    net, other, (X, _) = deep_network(), deep_network(seed=8), data()
    w = other.params.to_vector()
    lin = widenet.linearize(net, params=w)
    assert_close(lin.forward(X), other.forward(X), np.float64, 10)
    np.testing.assert_array_equal(lin.initial_params.to_vector(), w)
    w[0] = 1e3  # the caller's vector was copied
    np.testing.assert_array_equal(lin.initial_params.to_vector(), other.params.to_vector())
    with pytest.raises(ValueError, match="params: expected shape"):
        widenet.linearize(net, params=w[:-1])


def test_a_linearization_does_not_follow_its_network():
    net, (X, y) = deep_network(), data()
    lin = widenet.linearize(net)
    before = lin.forward(X)
    net.train(X, y, lr=1e-3, steps=5)
    np.testing.assert_array_equal(lin.forward(X), before)


def test_the_tangent_kernel_object_and_kernel_least_squares_take_a_deep_network():
    net, (X, y) = deep_network(), data()
    kernel = widenet.TangentKernel(net)
    J = net.jacobian(X)
    assert_close(kernel(X), J @ J.T, np.float64, 100)
    assert_close(kernel.diagonal(X, "cpp"), np.sum(J * J, axis=1), np.float64, 100)
    model = widenet.KernelLeastSquares(kernel=kernel).fit(X, y)
    assert_close(model.predict(X), y, np.float64, 1e6)  # the Gram of 12 points is nonsingular: interpolation
    net.train(X, y, lr=1e-3, steps=5)  # the kernel holds a snapshot, not the trained network
    assert_close(kernel(X), J @ J.T, np.float64, 100)


@pytest.mark.parametrize("multipliers, parametrization", [(False, "lecun"), (False, "ntk"), (True, "ntk")])
@pytest.mark.parametrize("bias", [True, False])
def test_the_limit_kernel_object_of_a_deep_network_is_its_limit_kernel(multipliers, parametrization, bias):
    net = Network(3, [8, 8, 8], "erf", parametrization, weight_var=1.5, bias_var=0.3 * bias, output_var=0.7,
                  output_bias_var=0.2 * bias, bias=bias, multipliers=multipliers, seed=0)
    X = data()[0]
    for kind in ("ntk", "nngp"):
        expected = widenet.limit_kernel(X, activation="erf", parametrization=parametrization, kind=kind, depth=3,
                                        weight_var=1.5, bias_var=0.3 * bias, output_var=0.7,
                                        output_bias_var=0.2 * bias, bias=bias, multipliers=multipliers)
        np.testing.assert_array_equal(widenet.LimitKernel.of(net, kind)(X), expected)
        np.testing.assert_array_equal(net.limit_kernel(X, kind=kind), expected)
    shallow_depth = widenet.limit_kernel(X, activation="erf", parametrization=parametrization, depth=1)
    assert np.max(np.abs(widenet.LimitKernel.of(net)(X) - shallow_depth)) > 1e-3  # depth is not dropped


def test_the_regressor_on_a_deep_kernel_interpolates_with_that_kernel():
    """The prediction is ``K(x, X) K^{-1} y`` for the depth-3 kernel computed here; the depth-1
    kernel's predictions differ off the data."""
    X, y = data(20)
    X_test = data(7, seed=9)[0]
    settings = dict(activation="relu", parametrization="ntk", bias_var=0.1)
    model = widenet.NTKRegressor(**settings, depth=3).fit(X, y)
    assert model.get_params()["depth"] == 3
    K = widenet.limit_kernel(X, **settings, depth=3)
    cross = widenet.limit_kernel(X_test, X, **settings, depth=3)
    assert_close(model.predict(X_test), cross @ np.linalg.solve(K, y), np.float64, 1e8)
    shallow = widenet.NTKRegressor(**settings).fit(X, y)
    assert np.max(np.abs(shallow.predict(X_test) - model.predict(X_test))) > 1e-3
    with pytest.raises(ValueError, match="depth"):
        widenet.NTKRegressor(**settings, depth=0).fit(X, y)


def test_two_threads_training_one_network_take_turns():
    """Two runs of 10 steps from two threads end where one run of 20 steps ends."""
    net, (X, y) = deep_network(), data()
    sequential = net.copy()
    sequential.train(X, y, lr=1e-3, steps=20)
    threads = [threading.Thread(target=net.train, args=(X, y), kwargs=dict(lr=1e-3, steps=10)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_close(net.params.to_vector(), sequential.params.to_vector(), np.float64, 100)


def test_a_tiny_memory_limit_refuses_before_allocating():
    net, (X, y) = deep_network(), data()
    previous = widenet.set_memory_limit(1000)
    try:
        for call in (lambda: net.ntk(X), lambda: net.jacobian(X), lambda: net.train(X, y, lr=1e-3, steps=3),
                     lambda: widenet.linearize(net).ntk(X)):
            with pytest.raises(widenet.MemoryLimitError):
                call()
    finally:
        widenet.set_memory_limit(previous)


def test_the_limit_kernel_object_refuses_a_law_it_does_not_describe():
    """A Rademacher network's NNGP is not the normal law's: refused, for shallow and deep networks alike."""
    for net in (Network(1, [4, 4], "tanh", "ntk", distribution="rademacher", seed=0),
                widenet.ShallowNetwork(1, 4, "tanh", "ntk", distribution="uniform", seed=0)):
        with pytest.raises(ValueError, match="^distribution: a LimitKernel is the kernel of normal initial weights"):
            widenet.LimitKernel.of(net, kind="nngp")


def test_options_of_the_limit_kernel_object_override_the_network():
    X = data()[0]
    shallow = widenet.ShallowNetwork(3, 4, "erf", "ntk", seed=0)
    expected = widenet.limit_kernel(X, activation="erf", parametrization="ntk", depth=2, bias=False)
    np.testing.assert_array_equal(widenet.LimitKernel.of(shallow, depth=2, bias=False)(X), expected)


def test_a_zero_readout_multiplier_names_output_var():
    with pytest.raises(ValueError, match="^output_var: expected a positive variance with multipliers=True"):
        Network(3, [4], "relu", "ntk", multipliers=True, output_var=0.0)


def test_the_linearization_refuses_a_gram_the_network_refuses():
    """Inputs so large that the first layer's x x^T overflows: the network refuses by name, and
    so does its linearization (no NaN passed on)."""
    net = Network(3, [16], "tanh", "ntk", seed=0, dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((6, 3)) * 1e20
    with pytest.raises(ValueError, match="^X1: the computation overflows float32"):
        net.ntk(X)
    with pytest.raises(ValueError, match="^X1: the computation overflows float32"):
        widenet.linearize(net).ntk(X)


def test_the_memory_guard_counts_the_float64_draws_of_a_float32_network():
    previous = widenet.set_memory_limit(int(2e8))
    try:
        with pytest.raises(widenet.MemoryLimitError, match="float64 draws"):
            Network(1000, [20000], dtype=np.float32, seed=0)  # 20 M parameters: 160 MB of draws
    finally:
        widenet.set_memory_limit(previous)
