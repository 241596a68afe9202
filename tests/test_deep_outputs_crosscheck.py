"""The compiled kernels of deep networks with k outputs against their numpy twins.

Every kernel that takes a deep network with a (k, n_L) readout: outputs, Jacobian, loss
gradient, Jacobian products, the kernel traced over the outputs, every block of it, its
diagonal, and gradient descent of one network and of an ensemble. Both parametrizations
(LeCun's scales and the NTK's), every activation, with and without biases, k in {1, 2, 5}
(k = 1 here is the layout of several outputs with one row), float64 to about 1e-12 and
float32 to about 1e-4. The twins carry the outputs as an axis of the sensitivities; the
compiled kernels take them one output at a time, so the two share no code path.
"""

import numpy as np
import pytest

from widenet import _core
from widenet.reference import deep as ref_deep

from conftest import assert_close, options

D, WIDTHS, M, M_TEST = 3, (6, 5), 5, 4
OUTPUTS = (1, 2, 5)


def network(k, activation, parametrization, dtype, bias=True, seed=0):
    """The layers and scales of a deep network with a (k, n_L) readout, and its compiled and numpy states."""
    rng = np.random.default_rng(seed)
    fan_ins = (D, *WIDTHS)
    layers = []
    for n, fan_in in zip((*WIDTHS, k), fan_ins):
        W = rng.standard_normal((n, fan_in)) / np.sqrt(fan_in if parametrization == "lecun" else 1.0)
        b = 0.4 * rng.standard_normal(n) if bias else None
        layers.append((np.ascontiguousarray(W, dtype), None if b is None else np.ascontiguousarray(b, dtype)))
    scales = [(1.0, 1.0) if parametrization == "lecun" else (1.0 / np.sqrt(fan_in), 0.7) for fan_in in fan_ins]
    return _core.DeepNetwork(layers, activation, scales), ref_deep.DeepNetwork(layers, activation, scales)


def data(k, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((M, D)).astype(dtype), rng.standard_normal((M_TEST, D)).astype(dtype),
            rng.standard_normal((M, k)).astype(dtype))


def flat(layers):
    return np.concatenate([np.ravel(block) for layer in layers for block in layer if block is not None])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", _core.ACTIVATIONS)
@pytest.mark.parametrize("k", OUTPUTS, ids=lambda k: f"k{k}")
def test_every_kernel_matches_its_twin(k, activation, parametrization, bias, dtype):
    net, twin = network(k, activation, parametrization, dtype, bias)
    X, X2, Y = data(k, dtype)
    assert_close(_core.forward(net, X), ref_deep.forward(twin, X), dtype)
    J = _core.jacobian(net, X)
    assert J.shape == (M, k, net.num_params)
    assert_close(J, ref_deep.jacobian(twin, X), dtype)
    for other in (None, X2):
        assert_close(_core.ntk_gram(net, X, other), ref_deep.ntk_gram(twin, X, other), dtype)
        assert_close(_core.ntk_blocks(net, X, other), ref_deep.ntk_blocks(twin, X, other), dtype)
    assert_close(_core.ntk_diag(net, X), ref_deep.ntk_diag(twin, X), dtype)
    loss, grad = _core.loss_grad(net, X, Y, 0.5)
    loss_twin, grad_twin = ref_deep.loss_grad(twin, X, Y, 0.5)
    assert_close(loss, loss_twin, dtype)
    assert_close(flat(grad), flat(grad_twin), dtype)
    assert_close(flat(_core.vjp(net, X, Y)), flat(ref_deep.vjp(twin, X, Y)), dtype)
    assert_close(_core.jvp(net, X, grad), ref_deep.jvp(twin, X, grad), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("k", OUTPUTS, ids=lambda k: f"k{k}")
def test_training_matches_its_twin(k, activation, parametrization, dtype):
    net, twin = network(k, activation, parametrization, dtype)
    start, start_twin = network(k, activation, parametrization, dtype, seed=3)
    X, X2, Y = data(k, dtype)
    run = _core.train(net, start, X, Y, options(0.02, 6, 4, 0.5), X2)
    run_twin = ref_deep.train(twin, start_twin, X, Y, options(0.02, 6, 4, 0.5), X2)
    assert run["test_outputs"].shape == (3, M_TEST, k)
    for key in ("losses", "distances", "test_outputs"):
        assert_close(run[key], run_twin[key], dtype, err_msg=key)
    assert_close(flat(run["layers"]), flat(run_twin["layers"]), dtype)
    members = [network(k, activation, parametrization, dtype, seed=s)[0] for s in (0, 5)]
    twins = [network(k, activation, parametrization, dtype, seed=s)[1] for s in (0, 5)]
    ensemble = _core.train_ensemble(members, members, X, Y, options(0.02, 6, 4, 0.5), X2)
    ensemble_twin = ref_deep.train_ensemble(twins, twins, X, Y, options(0.02, 6, 4, 0.5), X2)
    assert ensemble["layers"][-1][0].shape == (2, k, WIDTHS[-1])
    for key in ("losses", "distances", "test_outputs"):
        assert_close(ensemble[key], ensemble_twin[key], dtype, err_msg=key)
    assert_close(flat(ensemble["layers"]), flat(ensemble_twin["layers"]), dtype)


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_a_readout_of_one_row_is_the_one_output_network(activation, parametrization):
    """The k-output kernels at k = 1 against the one-output kernels (each output is computed by them)."""
    rows, _ = network(1, activation, parametrization, np.float64)
    layers = [*rows.layers[:-1], (np.ascontiguousarray(rows.layers[-1][0][0]), float(rows.layers[-1][1][0]))]
    one = _core.DeepNetwork(layers, activation, rows.scales)
    X, X2, Y = data(1, np.float64)
    assert_close(_core.forward(rows, X)[:, 0], _core.forward(one, X), np.float64)
    assert np.array_equal(_core.jacobian(rows, X)[:, 0], _core.jacobian(one, X))
    assert np.array_equal(_core.ntk_blocks(rows, X, X2)[:, 0, :, 0], _core.ntk_gram(one, X, X2))
    assert_close(_core.ntk_gram(rows, X, None), _core.ntk_gram(one, X, None), np.float64)
    assert_close(flat(_core.loss_grad(rows, X, Y, 1.0)[1]), flat(_core.loss_grad(one, X, Y[:, 0], 1.0)[1]),
                 np.float64)
