"""The numpy twin of deep networks against independent computations: finite differences of
the outputs, the explicit Jacobian's J J^T, the one-hidden-layer twin at depth 1, and a 1%
error that each comparison must catch."""

from __future__ import annotations

import numpy as np
import pytest

from widenet import reference as ref
from widenet.reference import deep

from conftest import make_deep



def data(m, d, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((m, d)).astype(dtype)


CASES = [((5,), 3), ((4, 6), 3), ((5, 3, 4), 2)]


def _finite_difference_jacobian(net, X, step=1e-6):
    theta = deep.to_vector(net.layers)
    columns = []
    for k in range(theta.size):
        shifted = []
        for sign in (1, -1):
            moved = theta.copy()
            moved[k] += sign * step
            shifted.append(deep.forward(deep.DeepNetwork(deep.from_vector(moved, net.layers), net.activation,
                                                         net.scales), X))
        columns.append((shifted[0] - shifted[1]) / (2 * step))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("widths, d", CASES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("scales", ["lecun", "ntk", "random"])
@pytest.mark.parametrize("activation", ["tanh", "gelu", "sin"])
def test_jacobian_against_finite_differences(widths, d, bias, scales, activation):
    net = make_deep(widths, d, activation, bias=bias, scales=scales)
    X = data(4, d)
    J = deep.jacobian(net, X)
    assert J.shape == (4, net.num_params)
    fd = _finite_difference_jacobian(net, X)
    scale = np.max(np.abs(fd))
    np.testing.assert_allclose(J, fd, atol=1e-7 * scale, rtol=0)
    wrong = J.copy()
    wrong[:, -1] *= 1.01  # a 1% error in one column is caught
    assert np.max(np.abs(wrong - fd)) > 1e-7 * scale


@pytest.mark.parametrize("widths, d", CASES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("scales", ["lecun", "ntk", "random"])
@pytest.mark.parametrize("activation", list(ref.ACTIVATIONS))
def test_structured_kernel_and_products_against_the_jacobian(widths, d, bias, scales, activation):
    net = make_deep(widths, d, activation, bias=bias, scales=scales, seed=2)
    X1, X2 = data(5, d, seed=3), data(3, d, seed=4)
    J1, J2 = deep.jacobian(net, X1), deep.jacobian(net, X2)
    K = deep.ntk_gram(net, X1, X2)
    expected = J1 @ J2.T
    bound = 1e-12 * np.sqrt(np.outer(np.sum(J1 * J1, 1), np.sum(J2 * J2, 1)))
    assert np.all(np.abs(K - expected) <= bound)
    assert not np.all(np.abs(1.01 * K - expected) <= bound)
    np.testing.assert_allclose(deep.ntk_gram(net, X1), J1 @ J1.T, rtol=1e-12, atol=1e-12 * np.max(np.abs(K)))

    rng = np.random.default_rng(5)
    r = rng.standard_normal(5)
    np.testing.assert_allclose(deep.to_vector(deep.vjp(net, X1, r)), J1.T @ r, rtol=1e-12, atol=1e-12)
    direction = rng.standard_normal(net.num_params)
    tangent = deep.from_vector(direction, net.layers)
    np.testing.assert_allclose(deep.jvp(net, X1, tangent), J1 @ direction, rtol=1e-11, atol=1e-11)

    y = rng.standard_normal(5)
    loss, grad = deep.loss_grad(net, X1, y, loss_scale=0.5)
    residual = deep.forward(net, X1) - y
    assert loss == pytest.approx(0.5 * residual @ residual, rel=1e-14)
    np.testing.assert_allclose(deep.to_vector(grad), J1.T @ residual, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", list(ref.ACTIVATIONS))
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_depth_one_is_the_shallow_network(parametrization, activation, dtype, tolerance):
    """One hidden layer with the scales of a parametrization computes what the shallow twin does."""
    d, n = 3, 7
    net = make_deep((n,), d, activation, scales=parametrization, seed=6, dtype=dtype)
    (U, b), (v, c) = net.layers
    shallow = ref.Network(U, b, v, c, activation, parametrization)
    X = data(6, d, seed=7, dtype=dtype)
    y = data(6, 1, seed=8, dtype=dtype)[:, 0]
    pairs = [(deep.forward(net, X), ref.forward(shallow, X)),
             (deep.jacobian(net, X), ref.jacobian(shallow, X)),
             (deep.ntk_gram(net, X), ref.ntk_gram(shallow, X)),
             (deep.to_vector(deep.loss_grad(net, X, y)[1]),
              np.concatenate([np.ravel(p) for layer in ref.loss_grad(shallow, X, y)[1] for p in layer]))]
    for got, expected in pairs:
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.max(np.abs(expected)))


def test_without_biases_there_are_no_bias_parameters():
    with_bias, without = make_deep((4, 3), 2, "tanh"), make_deep((4, 3), 2, "tanh", bias=False)
    assert with_bias.num_params == 4 * 2 + 4 + 3 * 4 + 3 + 3 + 1
    assert without.num_params == 4 * 2 + 3 * 4 + 3
    assert deep.jacobian(without, data(2, 2)).shape == (2, without.num_params)
    assert all(b is None for _, b in deep.vjp(without, data(2, 2), np.ones(2)))


def test_vector_round_trip_and_its_refusal():
    net = make_deep((4, 3), 2, "relu")
    theta = deep.to_vector(net.layers)
    assert np.array_equal(deep.to_vector(deep.from_vector(theta, net.layers)), theta)
    with pytest.raises(ValueError, match="^vector: expected"):
        deep.from_vector(np.append(theta, 0.0), net.layers)
    with pytest.raises(ValueError, match="^scales: expected 3 pairs"):
        deep.DeepNetwork(net.layers, "relu", net.scales[:2])
