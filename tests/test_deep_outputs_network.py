"""widenet.Network(outputs=k) and DeepEnsemble(outputs=k) against independent computations.

Central finite differences of the outputs for the Jacobian and of the loss for its gradient,
J J^T for every block of the kernel, the mean of the diagonal blocks for the traced kernel,
k one-output networks sharing the hidden layers for every output, the written-out update for
a step of training, and the one-output network (outputs=1) bit for bit. Each check is run
once more against a quantity 1% off, which must fail it.
"""

import numpy as np
import pytest

import widenet

D, WIDTHS, M, K = 3, (7, 5), 4, 3
X = np.random.default_rng(0).standard_normal((M, D))
Y = np.random.default_rng(1).standard_normal((M, K))


def make(activation="tanh", parametrization="ntk", outputs=K, **options):
    return widenet.Network(D, WIDTHS, activation, parametrization, outputs=outputs, bias_var=0.3,
                           output_bias_var=0.2, seed=2, **options)


def close(actual, expected, rtol):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


def with_control(check, actual, expected, rtol):
    """``check(actual, expected)`` passes, and fails for ``actual`` 1% off on its largest entry."""
    check(actual, expected, rtol)
    wrong = np.array(actual, dtype=np.float64)
    wrong[np.unravel_index(np.argmax(np.abs(wrong)), wrong.shape)] *= 1.01
    with pytest.raises(AssertionError):
        check(wrong, expected, rtol)


def finite_difference_jacobian(net, X, step=1e-6):
    w = net.params.to_vector()
    columns = []
    for j in range(w.size):
        up, down = w.copy(), w.copy()
        up[j] += step
        down[j] -= step
        plus = net.copy()
        plus.params = net.parameters_from_vector(up)
        minus = net.copy()
        minus.params = net.parameters_from_vector(down)
        columns.append((plus(X) - minus(X)) / (2 * step))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["tanh", "gelu", "sin"])
def test_the_jacobian_is_the_derivative_of_the_outputs(activation, parametrization, backend):
    net = make(activation, parametrization)
    J = net.jacobian(X, backend=backend)
    assert J.shape == (M, K, net.num_params)
    with_control(close, J, finite_difference_jacobian(net, X), 1e-6)


@pytest.mark.parametrize("loss", ["sum", "mean", "half_sum"])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_the_loss_gradient_is_the_derivative_of_the_loss(loss, backend):
    net = make()
    value, grad = net.loss_grad(X, Y, loss, backend=backend)
    scale = {"sum": 1.0, "mean": 1.0 / M, "half_sum": 0.5}[loss]
    residual = net(X) - Y
    assert value == pytest.approx(scale * np.sum(residual**2), rel=1e-13)
    w, step, derivative = net.params.to_vector(), 1e-6, []
    for j in range(w.size):
        shifted = []
        for sign in (1, -1):
            moved = net.copy()
            moved.params = net.parameters_from_vector(w + sign * step * np.eye(w.size)[j])
            shifted.append(moved.loss(X, Y, loss))
        derivative.append((shifted[0] - shifted[1]) / (2 * step))
    with_control(close, grad.to_vector(), np.array(derivative), 1e-6)
    J = net.jacobian(X).reshape(M * K, -1)
    with_control(close, grad.to_vector(), 2 * scale * J.T @ residual.ravel(), 1e-12)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_the_kernel_is_J_J_transposed_and_its_trace_the_mean_of_the_diagonal_blocks(activation, parametrization,
                                                                                     backend):
    net = make(activation, parametrization)
    X2 = np.random.default_rng(5).standard_normal((3, D))
    for other in (None, X2):
        points = X if other is None else X2
        J1 = net.jacobian(X).reshape(M * K, -1)
        J2 = net.jacobian(points).reshape(points.shape[0] * K, -1)
        blocks = net.ntk(X, other, backend=backend, trace_outputs=False)
        assert blocks.shape == (M, K, points.shape[0], K)
        with_control(close, blocks.reshape(M * K, -1), J1 @ J2.T, 1e-12)
        mean = np.mean([blocks[:, i, :, i] for i in range(K)], axis=0)
        with_control(close, net.ntk(X, other, backend=backend), mean, 1e-12)
    with_control(close, net.ntk_diag(X, backend=backend), np.diag(net.ntk(X)), 1e-12)


def one_output_networks(net):
    """The k one-output networks of readout (V_i, c_i), sharing the hidden layers of ``net``."""
    weights, biases = net.params.weights, net.params.biases
    out = []
    for i in range(net.outputs):
        one = widenet.Network(D, WIDTHS, net.activation, net.parametrization, bias_var=0.3, output_bias_var=0.2)
        params = widenet.DeepParameters([*weights[:-1], weights[-1][i]], [*biases[:-1], biases[-1][i]])
        out.append(widenet.Network.from_parameters(one.config, params, params))
    return out


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_each_output_is_the_one_output_network_of_its_readout_row(backend):
    net = make("gelu")
    ones = one_output_networks(net)
    outputs, blocks = net(X, backend=backend), net.ntk(X, backend=backend, trace_outputs=False)
    _, grad = net.loss_grad(X, Y, backend=backend)
    hidden = sum(one.loss_grad(X, Y[:, i], backend=backend)[1].to_vector()[:-WIDTHS[-1] - 1]
                 for i, one in enumerate(ones))
    for i, one in enumerate(ones):
        with_control(close, outputs[:, i], one(X, backend=backend), 1e-13)
        with_control(close, blocks[:, i, :, i], one.ntk(X, backend=backend), 1e-12)
        readout = one.loss_grad(X, Y[:, i], backend=backend)[1]
        with_control(close, grad.weights[-1][i], readout.weights[-1], 1e-12)
        with_control(close, grad.biases[-1][i], readout.biases[-1], 1e-12)
    with_control(close, grad.to_vector()[:hidden.size], hidden, 1e-12)


def test_one_output_is_the_one_output_network_bit_for_bit():
    plain, explicit = make(outputs=1), widenet.Network(D, WIDTHS, "tanh", "ntk", bias_var=0.3, output_bias_var=0.2,
                                                       seed=2)
    assert np.array_equal(plain.params.to_vector(), explicit.params.to_vector())
    assert plain.config == explicit.config and "outputs" not in plain.config
    for name in ("forward", "jacobian", "ntk", "ntk_diag"):
        assert np.array_equal(getattr(plain, name)(X), getattr(explicit, name)(X)), name
    assert plain.ntk(X, trace_outputs=False).shape == (M, 1, M, 1)
    y = Y[:, 0]
    assert np.array_equal(plain.loss_grad(X, y)[1].to_vector(), explicit.loss_grad(X, y)[1].to_vector())
    first, second = plain.train(X, y, 0.01, 3), explicit.train(X, y, 0.01, 3)
    assert np.array_equal(first.losses, second.losses)


@pytest.mark.parametrize("loss", ["sum", "mean"])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_step_of_training_is_the_written_out_update(loss, backend):
    net, lr = make(), 0.01
    _, grad = net.loss_grad(X, Y, loss)
    expected = net.params.to_vector() - lr * grad.to_vector()
    trained = net.copy()
    result = trained.train(X, Y, lr, 1, X_test=X, loss=loss, backend=backend)
    with_control(close, trained.params.to_vector(), expected, 1e-12)
    assert result.test_outputs.shape == (2, M, K)
    with_control(close, result.test_outputs[-1], trained(X), 1e-12)


def test_an_ensemble_is_its_members():
    ensemble = widenet.DeepEnsemble(2, D, WIDTHS, activation="tanh", outputs=K, seed=4)
    assert ensemble.outputs == K and ensemble(X).shape == (2, M, K)
    blocks = ensemble.ntk(X, trace_outputs=False)
    result = ensemble.train(X, Y, 0.01, 4, X_test=X)
    assert result.test_outputs.shape == (2, 5, M, K)
    for r in range(2):
        member = widenet.DeepEnsemble(2, D, WIDTHS, activation="tanh", outputs=K, seed=4).member(r)
        with_control(close, blocks[r], member.ntk(X, trace_outputs=False), 1e-13)
        alone = member.train(X, Y, 0.01, 4)
        with_control(close, result.losses[r], alone.losses, 1e-12)


def test_files_of_k_outputs_round_trip(tmp_path):
    net = make()
    net.train(X, Y, 0.01, 2)
    loaded = widenet.Network.load(net.save(tmp_path / "net.npz"))
    assert loaded.outputs == K and np.array_equal(loaded.params.to_vector(), net.params.to_vector())
    assert np.array_equal(loaded.initial_params.to_vector(), net.initial_params.to_vector())
    ensemble = widenet.DeepEnsemble(2, D, WIDTHS, outputs=K, seed=1)
    again = widenet.DeepEnsemble.load(ensemble.save(tmp_path / "ensemble.npz"))
    assert np.array_equal(again(X), ensemble(X))


def test_bad_input_is_refused_by_name_and_caller_arrays_are_kept():
    with pytest.raises(ValueError, match="outputs"):
        widenet.Network(D, WIDTHS, outputs=0)
    net = make()
    with pytest.raises(ValueError, match="^y: expected shape"):
        net.loss(X, Y[:, :2])
    with pytest.raises(ValueError, match="^y: expected shape"):
        net.train(X, Y[:, 0], 0.01, 1)
    with pytest.raises(TypeError, match="trace_outputs"):
        net.ntk(X, trace_outputs="no")
    with pytest.raises(ValueError, match="params"):
        net.params = make(outputs=2).params
    points, targets = X.copy(), Y.copy()
    net.train(points, targets, 0.01, 2)
    net.loss_grad(points, targets)
    assert np.array_equal(points, X) and np.array_equal(targets, Y)


def full_gram(net, points):
    return net.ntk(points, trace_outputs=False).reshape(len(points) * net.outputs, -1)


@pytest.mark.parametrize("loss", ["sum", "mean"])
def test_linearized_descent_is_descent_on_the_linear_model_of_every_block(loss):
    from widenet.dynamics.linearization import linearize

    net, test_points = make(), np.random.default_rng(6).standard_normal((2, D))
    scale, steps = (1.0 if loss == "sum" else 1 / M), 30
    lr = 0.3 / (scale * np.linalg.eigvalsh(full_gram(net, X))[-1])
    run = linearize(net).train(X, Y, lr, steps, X_test=test_points, loss=loss, record_every=steps)
    J, J_test = (net.jacobian(p).reshape(len(p) * K, -1) for p in (X, test_points))
    offset = np.zeros(net.num_params)
    for _ in range(steps):
        offset -= lr * 2 * scale * J.T @ (net(X).ravel() + J @ offset - Y.ravel())
    assert run.train_outputs.shape == (2, M, K) and run.test_outputs.shape == (2, 2, K)
    with_control(close, run.train_outputs[-1], (net(X).ravel() + J @ offset).reshape(M, K), 1e-9)
    with_control(close, run.test_outputs[-1], (net(test_points).ravel() + J_test @ offset).reshape(2, K), 1e-9)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_diverging_run_raises_with_the_admissible_step_of_every_block(backend):
    from widenet.predict import max_learning_rate

    net = make()
    lam = np.linalg.eigvalsh(full_gram(net, X))[-1]
    assert max_learning_rate(net, X) == pytest.approx(1 / lam, rel=1e-10)
    before = net.params.to_vector().copy()
    with pytest.raises(widenet.DivergenceError) as error:
        net.train(X, 10 * Y, 50 / lam, 2000, backend=backend)
    assert error.value.admissible_lr == pytest.approx(1 / lam, rel=1e-10)
    assert np.array_equal(net.params.to_vector(), before)
