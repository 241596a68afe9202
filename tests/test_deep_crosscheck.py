"""The compiled deep-network kernels against their numpy twin: depth 1 to 3, every activation,
the scales of both parametrizations and of multipliers, with and without biases, float64
tight and float32 loose; and the compiled network object's checks of its arguments."""

from __future__ import annotations

import numpy as np
import pytest

from widenet import _core
from widenet.reference import deep

from conftest import assert_close, make_deep

SHAPES = [((6,), 3), ((5, 7), 4), ((4, 6, 5), 3)]


def core_deep(net):
    """The compiled network over the same arrays as the twin's record."""
    return _core.DeepNetwork(net.layers, net.activation, net.scales)


def _flat(layers):
    return deep.to_vector(layers)


@pytest.mark.parametrize("widths, d", SHAPES, ids=["depth1", "depth2", "depth3"])
@pytest.mark.parametrize("scales", ["lecun", "ntk", "random"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("activation", list(_core.ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kernel_matches_the_twin(widths, d, scales, bias, activation, dtype):
    if activation == "monomial3" and dtype == np.float32 and len(widths) == 3:
        pytest.skip("z^3 triples relative rounding errors at every layer: beyond float32's tolerance at depth 3")
    twin = make_deep(widths, d, activation, bias=bias, scales=scales, seed=11, dtype=dtype)
    net = core_deep(twin)
    rng = np.random.default_rng(12)
    X1, X2 = rng.standard_normal((9, d)).astype(dtype), rng.standard_normal((4, d)).astype(dtype)
    y, r = rng.standard_normal(9).astype(dtype), rng.standard_normal(9).astype(dtype)
    size = twin.num_params

    assert_close(_core.forward(net, X1), deep.forward(twin, X1), dtype, size)
    assert_close(_core.jacobian(net, X1), deep.jacobian(twin, X1), dtype, size)
    assert_close(_core.ntk_gram(net, X1), deep.ntk_gram(twin, X1), dtype, size)
    assert_close(_core.ntk_gram(net, X1, X2), deep.ntk_gram(twin, X1, X2), dtype, size)
    assert_close(_core.ntk_diag(net, X1), np.diag(deep.ntk_gram(twin, X1)), dtype, size)
    assert_close(_core.ntk_diag(net, X1), deep.ntk_diag(twin, X1), dtype, size)
    assert_close(_core.feature_gram(net, X1), deep.feature_gram(twin, X1), dtype, size)
    assert_close(_core.feature_gram(net, X1, X2), deep.feature_gram(twin, X1, X2), dtype, size)
    loss, grad = _core.loss_grad(net, X1, y, 0.5)
    twin_loss, twin_grad = deep.loss_grad(twin, X1, y, 0.5)
    assert_close(loss, twin_loss, dtype, size)
    assert_close(_flat(grad), _flat(twin_grad), dtype, size)
    assert_close(_flat(_core.vjp(net, X1, r)), _flat(deep.vjp(twin, X1, r)), dtype, size)
    tangent = deep.from_vector(rng.standard_normal(size).astype(dtype), twin.layers)
    assert_close(_core.jvp(net, X1, tangent), deep.jvp(twin, X1, tangent), dtype, size)


def test_the_symmetric_gram_is_symmetric_and_catches_a_one_percent_error():
    twin = make_deep((8, 8), 3, "tanh", seed=3)
    X = np.random.default_rng(4).standard_normal((300, 3))  # beyond one band of the triangle
    K = _core.ntk_gram(core_deep(twin), X)
    assert np.array_equal(K, K.T)
    expected = deep.ntk_gram(twin, X)
    assert_close(K, expected, np.float64, twin.num_params)
    with pytest.raises(AssertionError):
        assert_close(K * 1.01, expected, np.float64, twin.num_params)


def test_the_network_object_describes_itself():
    twin = make_deep((4, 5), 3, "relu", seed=1)
    net = core_deep(twin)
    assert (net.depth, net.input_dim, net.widths, net.bias) == (2, 3, (4, 5), True)
    assert net.num_params == twin.num_params == 4 * 3 + 4 + 5 * 4 + 5 + 5 + 1
    assert net.dtype == "float64" and net.activation == "relu"
    assert net.scales == tuple(tuple(pair) for pair in twin.scales)
    (W1, b1), _, (v, c) = net.layers
    assert np.shares_memory(W1, twin.layers[0][0]) and not W1.flags.writeable
    assert c == pytest.approx(float(twin.layers[-1][1]))
    assert "widths=[4, 5]" in repr(net)
    assert core_deep(make_deep((4,), 3, "relu", bias=False)).layers[-1][1] is None


@pytest.mark.parametrize("change, error, message", [
    (lambda layers, scales: (layers[:1], scales), ValueError, "^layers: expected at least one hidden layer"),
    (lambda layers, scales: ([(layers[0][0], None)] + layers[1:], scales), ValueError,
     "^layers: expected a bias in every layer or in none"),
    (lambda layers, scales: (layers[:1] + [(layers[1][0][:, :2].copy(), layers[1][1])] + layers[2:], scales),
     ValueError, r"^layers\[1\] weights: expected shape \(5, 4\)"),
    (lambda layers, scales: (layers[:-1] + [(layers[-1][0][:3].copy(), layers[-1][1])], scales), ValueError,
     r"^layers\[-1\] \(the readout\) weights: expected shape \(5,\)"),
    (lambda layers, scales: ([(layers[0][0].astype(np.int64), layers[0][1])] + layers[1:], scales), TypeError,
     r"^layers\[0\]: expected a C-contiguous float64 or float32"),
    (lambda layers, scales: ([(np.asfortranarray(layers[0][0]), layers[0][1])] + layers[1:], scales), TypeError,
     r"^layers\[0\]: expected a C-contiguous float64 or float32"),
    (lambda layers, scales: ([(layers[0][0], layers[0][1].astype(np.float32))] + layers[1:], scales), TypeError,
     r"^layers\[0\] bias: expected a C-contiguous float64 array"),
    (lambda layers, scales: (layers, scales[:2]), ValueError, "^scales: expected 3 pairs"),
    (lambda layers, scales: (layers, [(0.0, 1.0)] + scales[1:]), ValueError, r"^scales\[0\]: expected a finite m > 0"),
    (lambda layers, scales: (layers, scales[:2] + [(1.0, np.nan)]), ValueError, r"^scales\[2\]"),
])
def test_bad_layers_are_refused_by_name(change, error, message):
    twin = make_deep((4, 5), 3, "tanh")
    layers, scales = change(list(twin.layers), list(twin.scales))
    with pytest.raises(error, match=message):
        _core.DeepNetwork(layers, "tanh", scales)


def test_bad_calls_are_refused_by_name():
    twin = make_deep((4, 5), 3, "tanh")
    net, X = core_deep(twin), np.ones((2, 3))
    with pytest.raises(ValueError, match="^X: expected 3 columns"):
        _core.forward(net, np.ones((2, 4)))
    with pytest.raises(TypeError):
        _core.forward(net, X.astype(np.float32))
    with pytest.raises(ValueError, match="^y: expected length 2"):
        _core.loss_grad(net, X, np.ones(3), 1.0)
    with pytest.raises(ValueError, match="^r: expected length 2"):
        _core.vjp(net, X, np.ones(3))
    with pytest.raises(ValueError, match="^tangent: expected 3 layers"):
        _core.jvp(net, X, twin.layers[:2])
    with pytest.raises(ValueError, match=r"^tangent\[0\]: expected a bias"):
        _core.jvp(net, X, [(twin.layers[0][0], None)] + list(twin.layers[1:]))
    with pytest.raises(ValueError, match="^X2: expected 3 columns"):
        _core.ntk_gram(net, X, np.ones((2, 2)))
    with pytest.raises(ValueError, match="^activation"):
        _core.DeepNetwork(twin.layers, "swish", twin.scales)
