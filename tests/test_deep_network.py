"""The deep network object: its initialization in each convention (against the laws it
claims, by their standard errors), one hidden layer against ShallowNetwork, multipliers
against the chapter's NTK parametrization, and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import widenet
from widenet.network.deep import Network
from widenet.network.deep_parameters import DeepParameters

from conftest import assert_close


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_hidden_layer_is_the_shallow_network(parametrization, distribution, dtype):
    config = dict(activation="tanh", parametrization=parametrization, weight_var=1.7, bias_var=0.4, output_var=0.8,
                  output_bias_var=0.3, distribution=distribution, seed=5, dtype=dtype)
    deep, shallow = Network(3, [6], **config), widenet.ShallowNetwork(3, 6, **config)
    (W, v), (b, c) = deep.params.weights, deep.params.biases
    for got, expected in ((W, shallow.params.U), (b, shallow.params.b), (v, shallow.params.v),
                          (c, shallow.params.c)):
        np.testing.assert_array_equal(got, expected)
    X = np.random.default_rng(6).standard_normal((7, 3)).astype(dtype)
    y = np.random.default_rng(7).standard_normal(7).astype(dtype)
    assert_close(deep.forward(X), shallow.forward(X), dtype, 20)
    assert_close(deep.jacobian(X), shallow.jacobian(X), dtype, 20)
    assert_close(deep.ntk(X), shallow.ntk(X), dtype, 20)
    assert_close(deep.ntk_diag(X), shallow.ntk_diag(X), dtype, 20)
    value, grad = deep.loss_grad(X, y, "mean")
    expected_value, expected_grad = shallow.loss_grad(X, y, "mean")
    assert_close(value, expected_value, dtype, 20)
    assert_close(grad.to_vector(), expected_grad.to_vector(), dtype, 20)


@pytest.mark.parametrize("parametrization, multipliers, expected", [
    ("lecun", False, lambda s_w2, fan_in: s_w2 / fan_in),
    ("ntk", False, lambda s_w2, fan_in: s_w2),
    ("ntk", True, lambda s_w2, fan_in: 1.0),
])
def test_the_initial_weights_have_the_variance_of_their_convention(parametrization, multipliers, expected):
    """Each block's sample variance against its law, within 5 standard errors; a 1% error in the
    variance is beyond that bound for these sample sizes."""
    net = Network(20, [300, 2000], parametrization=parametrization, multipliers=multipliers, weight_var=2.0,
                  bias_var=0.5, output_var=3.0, output_bias_var=0.1, seed=1)
    W1, W2, v = net.params.weights
    for block, fan_in, variance in ((W1, 20, 2.0), (W2, 300, 2.0), (v, 2000, 3.0)):
        law = expected(variance, fan_in)
        sample = np.mean(block.astype(np.float64) ** 2)
        standard_error = law * math.sqrt(2.0 / block.size)  # the variance of a squared normal is 2 sigma^4
        assert abs(sample - law) < 5 * standard_error
        if block.size > 500_000:
            assert 0.01 * law > 5 * standard_error  # the check can tell a 1% error


def test_multipliers_move_the_standard_deviations_into_the_forward_pass():
    """With multipliers the network draws unit parameters and scales them in the forward pass: the
    same function as the chapter's NTK network of the same draws, and a Jacobian whose columns are
    those of the chapter's times each parameter's standard deviation."""
    variances = dict(weight_var=2.0, bias_var=0.5, output_var=1.5, output_bias_var=0.2)
    chapter = Network(3, [5, 4], "erf", "ntk", seed=2, **variances)
    scaled = Network(3, [5, 4], "erf", "ntk", multipliers=True, seed=2, **variances)
    X = np.random.default_rng(3).standard_normal((6, 3))
    assert_close(scaled.forward(X), chapter.forward(X), np.float64, 40)
    stds = []
    for (W, b), (w_var, b_var) in zip(scaled.params.layers, [(2.0, 0.5), (2.0, 0.5), (1.5, 0.2)]):
        stds += [np.full(W.size, math.sqrt(w_var)), np.full(b.size, math.sqrt(b_var))]
    stds = np.concatenate(stds)
    assert_close(scaled.jacobian(X), chapter.jacobian(X) * stds, np.float64, 40)
    assert not np.allclose(scaled.ntk(X), chapter.ntk(X), rtol=0.1)  # s_w^2 = 2 changes the kernel


def test_without_biases():
    net = Network(3, [4, 5], "relu", bias=False, seed=0)
    assert net.params.biases is None
    assert net.num_params == 4 * 3 + 5 * 4 + 5
    X, y = np.ones((2, 3)), np.zeros(2)
    assert net.jacobian(X).shape == (2, net.num_params)
    _, grad = net.loss_grad(X, y)
    assert grad.biases is None and grad.size == net.num_params
    assert_close(np.diag(net.ntk(X)), net.ntk_diag(X), np.float64, 20)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_both_backends_agree_over_input_scales(scale, activation):
    net = Network(4, [8, 6, 5], activation, "ntk", bias_var=0.3, output_bias_var=0.2, seed=4)
    X = scale * np.random.default_rng(5).standard_normal((5, 4))
    for method in ("forward", "ntk", "ntk_diag", "jacobian"):
        got, expected = getattr(net, method)(X), getattr(net, method)(X, backend="numpy")
        assert np.isfinite(got).all()
        assert_close(got, expected, np.float64, net.num_params)


def test_an_overflowing_result_is_refused_by_name_not_returned():
    net = Network(2, [4, 4], "relu", seed=0)
    with pytest.raises(ValueError, match="^X1: the computation overflows float64"):
        net.ntk(np.full((2, 2), 1e200))  # |x|^2 = 1e400
    wide_weights = Network(2, [4, 4], "identity", weight_var=1e20, seed=0)
    with pytest.raises(ValueError, match="^X: the computation overflows float64"):
        wide_weights.forward(np.full((2, 2), 1e300))  # h^2 ~ 1e320
    assert np.isfinite(wide_weights.forward(np.full((2, 2), 1e280))).all()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(widths=[]), TypeError, "^widths: expected a sequence"),
    (dict(widths=4), TypeError, "^widths: expected a sequence"),
    (dict(widths=[4, 0]), ValueError, r"^widths\[1\]: expected an integer >= 1"),
    (dict(multipliers=True), ValueError, "^multipliers: expected False under parametrization='lecun'"),
    (dict(bias=1), TypeError, "^bias: expected True or False"),
    (dict(parametrization="ntk", multipliers=True, weight_var=0.0), ValueError, "^weight_var: expected a positive"),
    (dict(activation="swish"), ValueError, "^activation"),
])
def test_bad_configurations_are_refused_by_name(kwargs, error, message):
    config = dict(input_dim=3, widths=[4, 5])
    config.update(kwargs)
    with pytest.raises(error, match=message):
        Network(**config)


def test_bad_inputs_are_refused_by_name():
    net = Network(3, [4, 5], seed=0)
    with pytest.raises(ValueError, match="^X: expected 3 columns"):
        net.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="^X2"):
        net.ntk(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="^y: expected shape"):
        net.loss(np.ones((2, 3)), np.ones(3))


def test_parameters_round_trip_and_stay_read_only():
    params = Network(3, [4, 5], seed=0).params
    again = params.from_vector(params.to_vector())
    np.testing.assert_array_equal(again.to_vector(), params.to_vector())
    with pytest.raises(ValueError):
        params.weights[0][0, 0] = 1.0
    with pytest.raises(ValueError, match=r"^weights\[1\]: expected shape \(width, 4\)"):
        DeepParameters([np.ones((4, 3)), np.ones((5, 3)), np.ones(5)], None)
    with pytest.raises(ValueError, match=r"^biases\[1\]: expected a scalar"):
        DeepParameters([np.ones((4, 3)), np.ones(4)], [np.ones(4), np.ones(2)])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_matches_the_twin_and_takes_gradient_steps(bias, dtype):
    X = np.random.default_rng(8).standard_normal((12, 3)).astype(dtype)
    y = np.sin(X[:, 0]).astype(dtype)
    X_test = X[:4] + 0.5
    results, finals = [], []
    for backend in ("cpp", "numpy"):
        net = Network(3, [7, 5], "tanh", "ntk", bias=bias, bias_var=0.2, output_bias_var=0.1, seed=9, dtype=dtype)
        results.append(net.train(X, y, 0.05, 25, record_every=4, X_test=X_test, loss="mean", backend=backend))
        finals.append(net.params.to_vector())
    cpp, twin = results
    np.testing.assert_array_equal(cpp.steps, [0, 4, 8, 12, 16, 20, 24, 25])
    np.testing.assert_array_equal(cpp.steps, twin.steps)
    for got, expected in ((cpp.losses, twin.losses), (cpp.distances, twin.distances),
                          (cpp.test_outputs, twin.test_outputs), (finals[0], finals[1])):
        assert_close(got, expected, dtype, 2000)
    assert cpp.losses[-1] < 0.9 * cpp.losses[0]

    net = Network(3, [7, 5], "tanh", "ntk", bias=bias, seed=9, dtype=dtype)
    start = net.params.to_vector().astype(np.float64)
    _, grad = net.loss_grad(X, y, "mean")
    net.train(X, y, 0.05, 1, loss="mean")
    assert_close(net.params.to_vector(), start - 0.05 * grad.to_vector(), dtype, 200)


def test_one_hidden_layer_trains_as_the_shallow_network():
    X = np.random.default_rng(10).standard_normal((9, 2))
    y = X[:, 0] * X[:, 1]
    config = dict(activation="erf", parametrization="ntk", bias_var=0.3, seed=11)
    deep, shallow = Network(2, [6], **config), widenet.ShallowNetwork(2, 6, **config)
    a, b = deep.train(X, y, 0.1, 30, loss="half_sum"), shallow.train(X, y, 0.1, 30, loss="half_sum")
    assert_close(a.losses, b.losses, np.float64, 500)
    assert_close(a.distances, b.distances, np.float64, 500)
    assert_close(deep.params.to_vector(), shallow.params.to_vector(), np.float64, 500)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_diverging_run_raises_with_advice_or_returns_its_records(backend):
    X = np.random.default_rng(12).standard_normal((8, 3))
    y = np.ones(8)
    net = Network(3, [6, 6], "relu", seed=13)
    start = net.params.to_vector()
    with pytest.raises(widenet.DivergenceError) as caught:
        net.train(X, y, 50.0, 200, backend=backend)
    assert caught.value.admissible_lr is not None
    np.testing.assert_array_equal(net.params.to_vector(), start)
    result = net.train(X, y, 50.0, 200, on_divergence="return", backend=backend)
    assert result.diverged_at is not None and result.steps[-1] == result.diverged_at


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_the_empirical_nngp_of_a_wide_network_is_the_limit_within_its_standard_error(activation):
    """One hidden layer of width 10^6: each entry of the empirical NNGP is a mean over the units,
    checked against the infinite-width NNGP within 4 standard errors of that mean, which is below
    1% of every entry away from 0 (so a 1% error in the kernel would fail there)."""
    from widenet.reference import deep as twin

    config = dict(activation=activation, parametrization="ntk", weight_var=1.5, bias_var=0.4, output_var=2.0,
                  output_bias_var=0.3)
    net = Network(3, [10**6], seed=14, **config)
    X = np.random.default_rng(15).standard_normal((4, 3))
    empirical = net.nngp(X)
    limit = widenet.limit_kernel(X, kind="nngp", **config)
    features = twin._Pass(net.state, X).A[-1]  # sigma(h) per unit, rows per point
    terms = features[:, None, :] * features[None, :, :]  # a_i(x) a_i(z)
    standard_error = 2.0 * terms.std(axis=-1) / math.sqrt(features.shape[1])  # law_v m^2 n = s_v^2
    assert np.all(np.abs(empirical - limit) < 4 * standard_error)
    large = np.abs(limit) > 0.5  # the entries well away from 0, where a 1% error is a fixed amount
    assert large.sum() >= 6 and np.all((4 * standard_error < 0.01 * np.abs(limit))[large])
    np.testing.assert_allclose(net.nngp(X, X[:2]), empirical[:, :2], rtol=1e-12)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_float32_loss_beyond_float32_is_a_divergence(backend):
    """Targets of 1e19 make the float32 loss Inf at the first step: the run diverges, as the
    shallow network's does, instead of recording Inf and going on."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6) * 1e19
    for net in (Network(3, [16], "tanh", "ntk", seed=0, dtype=np.float32),
                widenet.ShallowNetwork(3, 16, "tanh", "ntk", seed=0, dtype=np.float32)):
        result = net.train(X, y, 1e-3, 3, backend=backend, on_divergence="return")
        assert result.diverged_at == 0
