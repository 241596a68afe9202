"""The compiled kernels of the network with k outputs against their numpy twins.

Every kernel that takes a network of several outputs (``v`` of shape (k, n)): outputs,
Jacobian, loss gradient, Jacobian products, the tangent kernel traced over the outputs and
every block of it, and gradient descent for one network and for an ensemble. Both
parametrizations, relu, tanh, erf and gelu, k in {1, 2, 5} (k = 1 here is the layout of
several outputs with one row, not the one-output network), float64 to about 1e-12 and
float32 to about 1e-4. Then the public API, backend="cpp" against backend="numpy".
"""

import numpy as np
import pytest

import widenet
from widenet import _core
from widenet import reference as ref

from conftest import assert_close, options

N, D, M, M_TEST = 7, 3, 5, 4
OUTPUTS = (1, 2, 5)
ACTIVATIONS = ("relu", "tanh", "erf", "gelu")


@pytest.fixture(params=OUTPUTS, ids=lambda k: f"k{k}")
def outputs(request):
    return request.param


@pytest.fixture(params=ACTIVATIONS)
def activation(request):
    return request.param


def blocks(k, dtype, seed=0, n=N, d=D):
    """(U, b, V, c) of a network of k outputs, V (k, n) and c (k,), in ``dtype``."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, d)) / np.sqrt(d)
    b, V, c = 0.5 * rng.standard_normal(n), rng.standard_normal((k, n)) / np.sqrt(n), 0.3 * rng.standard_normal(k)
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in (U, b, V, c))


def data(k, dtype, seed=1, m=M):
    rng = np.random.default_rng(seed)
    X, X_test = rng.standard_normal((m, D)), rng.standard_normal((M_TEST, D))
    Y = np.sin(X @ rng.standard_normal((D, k))) + 0.1 * rng.standard_normal((m, k))
    return X.astype(dtype), Y.astype(dtype), X_test.astype(dtype)


def setup(activation, parametrization, dtype, k, n=N):
    U, b, V, c = blocks(k, dtype, n=n)
    net = _core.Network(U, b, V, c, activation, parametrization)
    return net, (U, b, V, c), *data(k, dtype)


def test_forward(activation, parametrization, dtype, outputs):
    net, _, X, _, _ = setup(activation, parametrization, dtype, outputs)
    out = _core.forward(net, X)
    assert out.shape == (M, outputs) and out.dtype == np.dtype(dtype)
    assert_close(out, ref.forward(net, X), dtype, size=N * D)


def test_jacobian(activation, parametrization, dtype, outputs):
    net, _, X, _, _ = setup(activation, parametrization, dtype, outputs)
    J = _core.jacobian(net, X)
    assert J.shape == (M, outputs, N * (D + 1) + outputs * (N + 1)) == (M, outputs, net.num_params)
    assert_close(J, ref.jacobian(net, X), dtype, size=D)


def test_loss_grad(activation, parametrization, dtype, outputs):
    net, _, X, Y, _ = setup(activation, parametrization, dtype, outputs)
    value, ((gU, gb), (gV, gc)) = _core.loss_grad(net, X, Y, 0.5)
    expected, ((eU, eb), (eV, ec)) = ref.loss_grad(net, X, Y, 0.5)
    assert gV.shape == (outputs, N) and gc.shape == (outputs,)
    assert_close(value, expected, dtype, size=N * D)
    for actual, twin, name in ((gU, eU, "U"), (gb, eb, "b"), (gV, eV, "v"), (gc, ec, "c")):
        assert_close(actual, twin, dtype, size=N * D * M, err_msg=name)


def test_jacobian_products(activation, parametrization, dtype, outputs):
    net, (U, b, V, c), X, Y, _ = setup(activation, parametrization, dtype, outputs)
    tangent = blocks(outputs, dtype, seed=7)
    direction = ((tangent[0], tangent[1]), (tangent[2], tangent[3]))
    product = _core.jvp(net, X, direction)
    assert product.shape == (M, outputs)
    assert_close(product, ref.jvp(net, X, direction), dtype, size=N * D)
    (gU, gb), (gV, gc) = _core.vjp(net, X, Y)
    (eU, eb), (eV, ec) = ref.vjp(net, X, Y)
    for actual, twin, name in ((gU, eU, "U"), (gb, eb, "b"), (gV, eV, "v"), (gc, ec, "c")):
        assert_close(actual, twin, dtype, size=N * D * M, err_msg=name)


def test_traced_kernel_and_its_diagonal(activation, parametrization, dtype, outputs):
    net, _, X, _, X_test = setup(activation, parametrization, dtype, outputs)
    for X2 in (None, X_test):
        K = _core.ntk_gram(net, X, X2)
        assert K.shape == (M, M if X2 is None else M_TEST)
        assert_close(K, ref.ntk_gram(net, X, X2), dtype, size=N * D)
    assert_close(_core.ntk_diag(net, X), ref.ntk_diag(net, X), dtype, size=N * D)


def test_every_block_of_the_kernel(activation, parametrization, dtype, outputs):
    net, _, X, _, X_test = setup(activation, parametrization, dtype, outputs)
    for X2 in (None, X_test):
        K = _core.ntk_blocks(net, X, X2)
        columns = M if X2 is None else M_TEST
        assert K.shape == (M, outputs, columns, outputs)
        assert_close(K, ref.ntk_blocks(net, X, X2), dtype, size=N * D)


def test_every_block_over_width_chunks(parametrization, outputs):
    # width 300 in chunks of 64, symmetric (rank updates) and cross (products)
    net, _, X, _, X_test = setup("tanh", parametrization, np.float64, outputs, n=300)
    for X2 in (None, X_test):
        expected = ref.ntk_blocks(net, X, X2)
        assert_close(_core.ntk_blocks(net, X, X2, 64), expected, np.float64, size=300 * D)


@pytest.mark.parametrize("loss_scale", [1.0, 0.2, 0.5])
def test_train(activation, parametrization, dtype, outputs, loss_scale):
    net, _, X, Y, X_test = setup(activation, parametrization, dtype, outputs)
    run = options(0.05, 7, 3, loss_scale)
    result, twin = _core.train(net, net, X, Y, run, X_test), ref.train(net, net, X, Y, run, X_test)
    assert result["test_outputs"].shape == (4, M_TEST, outputs)
    np.testing.assert_array_equal(result["steps"], twin["steps"])
    for key in ("losses", "distances", "test_outputs"):
        assert_close(result[key], twin[key], dtype, size=N * D * 10, err_msg=key)
    for actual, expected in zip((*result["layers"][0], *result["layers"][1]), (*twin["layers"][0], *twin["layers"][1])):
        assert_close(actual, expected, dtype, size=N * D * 10)


def test_train_ensemble(parametrization, dtype, outputs):
    members = [setup("tanh", parametrization, dtype, outputs)[0]]
    U, b, V, c = blocks(outputs, dtype, seed=3)
    members.append(_core.Network(U, b, V, c, "tanh", parametrization))
    _, _, X, Y, X_test = setup("tanh", parametrization, dtype, outputs)
    run = options(0.05, 6, 2, 0.2)
    result = _core.train_ensemble(members, members, X, Y, run, X_test)
    twin = ref.train_ensemble(members, members, X, Y, run, X_test)
    assert result["layers"][1][0].shape == (2, outputs, N) and result["layers"][1][1].shape == (2, outputs)
    assert result["test_outputs"].shape == (2, 4, M_TEST, outputs)
    for key in ("losses", "distances", "test_outputs"):
        assert_close(result[key], twin[key], dtype, size=N * D * 10, err_msg=key)
    for actual, expected in zip((*result["layers"][0], *result["layers"][1]), (*twin["layers"][0], *twin["layers"][1])):
        assert_close(actual, expected, dtype, size=N * D * 10)


def test_the_layout_of_several_outputs_with_one_row_is_the_one_output_network(activation, parametrization):
    # v as one row (k = 1 in the layout of several outputs) against v a vector: the kernels
    # of several outputs against those of one output, to rounding
    U, b, V, c = blocks(1, np.float64)
    several, one = (_core.Network(U, b, V, c, activation, parametrization),
                    _core.Network(U, b, V[0], float(c[0]), activation, parametrization))
    X, Y, X_test = data(1, np.float64)
    assert_close(_core.forward(several, X)[:, 0], _core.forward(one, X), np.float64, size=N * D)
    assert_close(_core.jacobian(several, X)[:, 0], _core.jacobian(one, X), np.float64, size=D)
    assert_close(_core.ntk_gram(several, X, X_test), _core.ntk_gram(one, X, X_test), np.float64, size=N * D)
    assert_close(_core.ntk_blocks(several, X)[:, 0, :, 0], _core.ntk_gram(one, X), np.float64, size=N * D)
    assert_close(_core.ntk_blocks(one, X)[:, 0, :, 0], _core.ntk_gram(one, X), np.float64, size=N * D)
    value, grad = _core.loss_grad(several, X, Y, 1.0)
    expected, expected_grad = _core.loss_grad(one, X, Y[:, 0], 1.0)
    assert_close(value, expected, np.float64, size=N * D)
    assert_close(np.concatenate([np.ravel(a) for layer in grad for a in layer]),
                 np.concatenate([np.ravel(a) for layer in expected_grad for a in layer]), np.float64, size=N * D * M)


def test_the_public_api_takes_any_layout_of_the_inputs(outputs):
    # Fortran-ordered and strided inputs and targets are converted before the kernels see them
    net = widenet.ShallowNetwork(D, N, "tanh", "ntk", seed=0, outputs=outputs, bias_var=0.5)
    X, Y, _ = data(outputs, np.float64, m=8)
    for points in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        np.testing.assert_array_equal(net.forward(points), net.forward(np.ascontiguousarray(points)))
    np.testing.assert_array_equal(net.loss_grad(X, np.asfortranarray(Y))[1].to_vector(),
                                  net.loss_grad(X, Y)[1].to_vector())


# --- the public API: backend="cpp" against backend="numpy" ------------------------------


def test_public_methods_agree_across_backends(parametrization, dtype, outputs):
    net = widenet.ShallowNetwork(D, N, "erf", parametrization, seed=2, dtype=dtype, outputs=outputs,
                                 bias_var=0.5, output_bias_var=0.3)
    X, Y, X_test = data(outputs, dtype)
    for method, arguments in (("forward", (X,)), ("jacobian", (X,)), ("ntk", (X, X_test)), ("ntk_diag", (X,))):
        assert_close(getattr(net, method)(*arguments), getattr(net, method)(*arguments, backend="numpy"), dtype,
                     size=N * D, err_msg=method)
    assert_close(net.ntk(X, trace_outputs=False), net.ntk(X, backend="numpy", trace_outputs=False), dtype,
                 size=N * D)
    assert_close(net.loss(X, Y, "mean"), net.loss(X, Y, "mean", backend="numpy"), dtype, size=N * D)
    value, gradient = net.loss_grad(X, Y, "half_sum")
    twin_value, twin_gradient = net.loss_grad(X, Y, "half_sum", backend="numpy")
    assert_close(value, twin_value, dtype, size=N * D)
    assert_close(gradient.to_vector(), twin_gradient.to_vector(), dtype, size=N * D * M)
    twin = net.copy()
    result = net.train(X, Y, 0.05, 5, X_test=X_test, loss="mean")
    expected = twin.train(X, Y, 0.05, 5, X_test=X_test, loss="mean", backend="numpy")
    assert_close(result.test_outputs, expected.test_outputs, dtype, size=N * D * 10)
    assert_close(net.params.to_vector(), twin.params.to_vector(), dtype, size=N * D * 10)
