"""The loss gradient and gradient descent on both compiled paths, against the numpy twin.

Below 2^15 multiply-adds per product (m n d) the gradient runs as plain loops at the CPU's
vector width; from there on, as BLAS products, where grad_b comes out as one more row of
grad_U's product and each row's sigma(Z) v is taken while the activation pass leaves the
row. Every activation, both parametrizations, float64 and float32, one size on each side
of the switch; then a 1% error in the fused quantities (the loss, grad_b) must be caught,
and the inf * 0 fall-back must hold on the BLAS path too.
"""

import numpy as np
import pytest

from conftest import assert_close, make_network, random_data, stable_lr

# (m, d, n): m n d = 960 (loops) and 38400 (BLAS)
SIZES = {"loops": (6, 4, 40), "blas": (40, 20, 48)}


def problem(path, activation, parametrization, dtype, seed=0):
    m, d, n = SIZES[path]
    net = make_network(d, n, activation, parametrization, dtype, seed=seed)
    X, y, X_test = random_data(seed + 50, m, d, dtype)
    return net, X, y, X_test


def blocks(grad):
    return {name: getattr(grad, name) for name in ("U", "b", "v", "c")}


@pytest.mark.parametrize("path", list(SIZES))
def test_loss_grad_on_both_paths(path, activation, parametrization, dtype):
    net, X, y, _ = problem(path, activation, parametrization, dtype)
    m, d, n = SIZES[path]
    value, grad = net.loss_grad(X, y, loss="mean")
    expected_value, expected = net.loss_grad(X, y, loss="mean", backend="numpy")
    assert_close(value, expected_value, dtype, size=n * d)
    assert grad.U.dtype == grad.b.dtype == grad.v.dtype == np.dtype(dtype)
    for name, block in blocks(grad).items():
        # sums over the batch can cancel: compared at the scale of the largest entry
        assert_close(block, blocks(expected)[name], dtype, size=m * n, err_msg=name)


@pytest.mark.parametrize("path", list(SIZES))
def test_training_on_both_paths(path, activation, parametrization, dtype):
    net, X, y, X_test = problem(path, activation, parametrization, dtype, seed=1)
    m, d, n = SIZES[path]
    lr = stable_lr(net, X, 1.0 / m)
    start = net.params.copy()
    got = net.train(X, y, lr, 4, 1, X_test, "mean")
    trained = net.params
    net.params = start
    expected = net.train(X, y, lr, 4, 1, X_test, "mean", backend="numpy")
    for key in ("losses", "distances", "test_outputs"):
        assert_close(getattr(got, key), getattr(expected, key), dtype, size=m * n * d, err_msg=key)
    for name in ("U", "b", "v", "c"):
        assert_close(getattr(trained, name), getattr(net.params, name), dtype, size=m * n * d, err_msg=name)


@pytest.mark.parametrize("path", list(SIZES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_a_one_percent_error_in_the_fused_quantities_is_caught(path, dtype):
    net, X, y, _ = problem(path, "softplus", "ntk", dtype)
    m, _, n = SIZES[path]
    value, grad = net.loss_grad(X, y)
    expected_value, expected = net.loss_grad(X, y, backend="numpy")
    assert_close(value, expected_value, dtype, size=n)
    assert_close(grad.b, expected.b, dtype, size=m * n)
    with pytest.raises(AssertionError):
        assert_close(value, 1.01 * expected_value, dtype, size=n)
    with pytest.raises(AssertionError):
        assert_close(grad.b, 1.01 * expected.b, dtype, size=m * n)


def test_overflowing_weighted_inputs_on_the_blas_path():
    """One float32 input near its range: g_k x_kj overflows where tanh'(Z) is 0, and the
    product [diag(g) X, g]^T tanh'(Z) would hold inf * 0; the gradient is finite (the
    order (diag(g) tanh'(Z))^T X of the numpy twin) and grad_b is untouched by it."""
    net, X, y, _ = problem("blas", "tanh", "lecun", np.float32)
    X[0, 0], y[0] = 3e38, 10.0
    value, grad = net.loss_grad(X, y)
    expected_value, expected = net.loss_grad(X, y, backend="numpy")
    m, _, n = SIZES["blas"]
    assert np.isfinite(value) and all(np.all(np.isfinite(block)) for block in blocks(grad).values())
    for name, block in blocks(grad).items():
        assert_close(block, blocks(expected)[name], np.float32, size=m * n, err_msg=name)
