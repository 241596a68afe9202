"""Long compiled calls are split into calls of bounded work, so that Ctrl-C can stop them
between two calls (test_interrupts.py): bands of rows of the result and blocks of the inner
dimension of the products. The split computation gives the unsplit answer to rounding and
agrees with the numpy reference.

The bound (normally about 2e9 flops per call) is lowered here to its minimum, so that every
call splits as finely as it ever does: bands of 128 rows, inner blocks of 256.
"""

from __future__ import annotations

import numpy as np
import pytest

import widenet
from widenet import _core

from conftest import assert_close, make_network, random_data

M, M_TEST, D, WIDTH = 300, 170, 5, 700  # 3 bands of rows, 3 inner blocks of the width


@pytest.fixture
def split_finely():
    previous = _core._set_bounded_flops(1.0)
    yield
    _core._set_bounded_flops(previous)


def both_ways(compute) -> tuple:
    """``compute()`` with the usual bound (one call at these sizes) and split finely."""
    whole = compute()
    previous = _core._set_bounded_flops(1.0)
    try:
        split = compute()
    finally:
        _core._set_bounded_flops(previous)
    return whole, split


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_split_network_calls_equal_the_whole_and_the_reference(dtype, activation, parametrization):
    net = make_network(D, WIDTH, activation, parametrization, dtype, seed=3)
    X, y, X_test = random_data(4, M, D, dtype, m_test=M_TEST)
    calls = {
        "forward": (lambda backend: net.forward(X, backend), M * WIDTH),
        "ntk": (lambda backend: net.ntk(X, backend=backend), WIDTH),
        "ntk_cross": (lambda backend: net.ntk(X, X_test, backend=backend), WIDTH),
        "ntk_diag": (lambda backend: net.ntk_diag(X, backend), WIDTH),
        "loss_grad": (lambda backend: np.concatenate(
            [[net.loss_grad(X, y, "mean", backend)[0]], net.loss_grad(X, y, "mean", backend)[1].to_vector()]),
            M * WIDTH),
    }
    for name, (compute, size) in calls.items():
        whole, split = both_ways(lambda: compute("cpp"))
        assert_close(split, whole, dtype, size, err_msg=name)
        assert_close(split, compute("numpy"), dtype, size, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_tangent_products_equal_the_whole_and_the_jacobian(dtype):
    net = make_network(D, WIDTH, "gelu", "ntk", dtype, seed=5)
    X, y, _ = random_data(6, M, D, dtype)
    direction = net.params.to_vector() * dtype(0.5)
    tangent = widenet.Parameters.from_vector(direction, WIDTH, D, dtype).layers
    J = net.jacobian(X).astype(np.float64)

    def jvp():
        return _core.jvp(net.state, X, tangent)

    def vjp():
        (gU, gb), (gv, gc) = _core.vjp(net.state, X, y)
        return np.concatenate([gU.ravel(), gb, gv, [gc]])

    for compute, expected in ((jvp, J @ direction.astype(np.float64)), (vjp, J.T @ y.astype(np.float64))):
        whole, split = both_ways(compute)
        assert_close(split, whole, dtype, J.size)
        assert_close(split, expected, dtype, J.size)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel", [widenet.RBFKernel(0.2), widenet.PolynomialKernel(degree=3, gamma=0.05)],
                         ids=["rbf", "polynomial"])
def test_split_classic_kernel_grams_equal_the_whole(dtype, kernel):
    rng = np.random.default_rng(7)
    X1 = (rng.standard_normal((M, 600)) / 10).astype(dtype)  # 600 columns: three inner blocks
    X2 = (rng.standard_normal((M_TEST, 600)) / 10).astype(dtype)
    for X_other in (None, X2):
        whole, split = both_ways(lambda: kernel(X1, X_other))
        assert_close(split, whole, dtype, 600)
        assert_close(split, kernel(X1.astype(np.float64), None if X_other is None else X_other.astype(np.float64)),
                     dtype, 600)


def test_split_training_and_linearized_runs_equal_the_whole(split_finely):
    """Training steps are not split (each step polls); the split Grams of a linearized run
    still give the run of the numpy reference."""
    net = make_network(D, WIDTH, "tanh", "ntk", seed=8)
    X, y, X_test = random_data(9, M, D, m_test=M_TEST)
    lin = widenet.linearize(net)
    run = lin.train(X, y, 1e-3, 20, X_test, method="iterate", record_every=5)
    expected = widenet.linearize(net).train(X, y, 1e-3, 20, X_test, method="iterate", record_every=5,
                                            backend="numpy")
    assert_close(run.losses, expected.losses, np.float64, M * WIDTH)
    assert_close(run.test_outputs, expected.test_outputs, np.float64, M * WIDTH)


def test_the_bound_is_checked():
    with pytest.raises(ValueError, match="^flops: expected a number >= 1"):
        _core._set_bounded_flops(0.5)
