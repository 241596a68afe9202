"""The network with k outputs checked against definitions, not against its twin.

The Jacobian against central finite differences of the outputs; the kernel traced over the
outputs and every block of it against ``J J^T`` of that Jacobian; the gradient against
finite differences of the loss; a network of three outputs against three networks of one
output sharing its hidden layer; one step of training against the update written out; and
``outputs=1`` against the one-output network, bit for bit. Every claim has a negative
control: the same check with a 1% error in the checked quantity fails.
"""

import numpy as np
import pytest

import widenet

D, N, M = 3, 6, 4
OUTPUTS = (1, 2, 5)


def network(k, activation="tanh", parametrization="ntk", seed=0, **options):
    return widenet.ShallowNetwork(D, N, activation, parametrization, seed=seed, outputs=k, bias_var=0.5,
                                  output_bias_var=0.3, **options)


def data(k, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, D))
    return X, rng.standard_normal((M, k)) if k > 1 else rng.standard_normal(M)


def assert_relative(actual, expected, tolerance, what):
    """``actual`` within ``tolerance`` of ``expected``, relative to the largest entry of ``expected``."""
    error = np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected))
    assert error <= tolerance, f"{what}: relative error {error:.2e} > {tolerance:.0e}"


def assert_fails_with_one_percent(check, quantity):
    """The negative control: ``check`` refuses ``quantity`` with a 1% error on its largest entry."""
    wrong = np.array(quantity, dtype=np.float64, copy=True)
    index = np.unravel_index(np.argmax(np.abs(wrong)), wrong.shape)
    wrong[index] *= 1.01
    with pytest.raises(AssertionError):
        check(wrong)


def finite_difference_jacobian(net, X, step=1e-6):
    """``dPhi/dw`` by central differences, shape (m, k, P) (k = 1 for one output)."""
    w = net.params.to_vector()
    columns = []
    for p in range(w.size):
        shifted = [net.copy() for _ in range(2)]
        for sign, copy in zip((1, -1), shifted):
            moved = w.copy()
            moved[p] += sign * step
            copy.params = copy.parameters_from_vector(moved)
        columns.append((shifted[0].forward(X) - shifted[1].forward(X)) / (2 * step))
    return np.stack(columns, axis=-1).reshape(len(X), net.outputs, w.size)


@pytest.mark.parametrize("k", OUTPUTS)
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_jacobian_is_the_derivative_of_the_outputs(k, parametrization, activation):
    net = network(k, activation, parametrization)
    X, _ = data(k)
    J = net.jacobian(X).reshape(M, k, -1)
    finite = finite_difference_jacobian(net, X)

    def check(jacobian):
        assert_relative(jacobian, finite, 1e-7, "Jacobian against central differences")
    check(J)
    assert_fails_with_one_percent(check, J)


@pytest.mark.parametrize("k", OUTPUTS)
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_kernels_are_products_of_the_jacobian(k, parametrization):
    net = network(k, "erf", parametrization)
    X, _ = data(k)
    X2 = np.random.default_rng(5).standard_normal((3, D))
    J1, J2 = finite_difference_jacobian(net, X), finite_difference_jacobian(net, X2)
    blocks = np.einsum("xip,zjp->xizj", J1, J2)  # every block from the Jacobian

    def check_blocks(kernel):
        assert_relative(kernel, blocks, 1e-7, "every block against J J^T")

    def check_traced(kernel):
        assert_relative(kernel, np.einsum("xizi->xz", blocks) / k, 1e-7, "the traced kernel against J J^T")
    check_blocks(net.ntk(X, X2, trace_outputs=False))
    check_traced(net.ntk(X, X2))
    assert_fails_with_one_percent(check_blocks, net.ntk(X, X2, trace_outputs=False))
    assert_fails_with_one_percent(check_traced, net.ntk(X, X2))
    # the symmetric kernel (rank updates, mirrored) and the traced diagonal
    symmetric = np.einsum("xip,zjp->xizj", J1, J1)
    assert_relative(net.ntk(X, trace_outputs=False), symmetric, 1e-7, "the symmetric blocks")
    assert_relative(net.ntk_diag(X), np.einsum("xixi->x", symmetric) / k, 1e-7, "the traced diagonal")


@pytest.mark.parametrize("k", OUTPUTS)
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("loss", ["sum", "mean", "half_sum"])
def test_gradient_is_the_derivative_of_the_loss(k, parametrization, loss):
    net = network(k, "tanh", parametrization)
    X, y = data(k)
    value, gradient = net.loss_grad(X, y, loss)
    scale = {"sum": 1.0, "mean": 1.0 / M, "half_sum": 0.5}[loss]  # "mean": over the m points, not m k
    assert value == pytest.approx(scale * np.sum((net.forward(X) - y) ** 2), rel=1e-14)
    w, step, finite = net.params.to_vector(), 1e-6, []
    for p in range(w.size):
        losses = []
        for sign in (1, -1):
            moved = w.copy()
            moved[p] += sign * step
            moved_network = type(net).from_parameters(net.config, net.parameters_from_vector(moved), net.initial_params)
            losses.append(moved_network.loss(X, y, loss))
        finite.append((losses[0] - losses[1]) / (2 * step))

    def check(vector):
        assert_relative(vector, np.array(finite), 1e-7, "gradient against central differences")
    check(gradient.to_vector())
    assert_fails_with_one_percent(check, gradient.to_vector())


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_three_outputs_are_three_networks_sharing_the_hidden_layer(parametrization):
    net = network(3, "erf", parametrization)
    X, _ = data(3)
    U, b, V, c = net.params.arrays()
    J = net.jacobian(X)
    hidden = N * (D + 1)
    for i in range(3):
        one = widenet.ShallowNetwork.from_parameters(
            {key: value for key, value in net.config.items() if key != "outputs"},
            widenet.Parameters(U, b, V[i], c[i]), widenet.Parameters(U, b, V[i], c[i]))
        J1 = one.jacobian(X)

        def check_outputs(outputs, i=i):
            assert_relative(outputs, one.forward(X), 1e-14, f"output {i}")

        def check_hidden(block, J1=J1):
            assert_relative(block, J1[:, :hidden], 1e-14, f"output {i}: the hidden layer's columns")
        check_outputs(net.forward(X)[:, i])
        check_hidden(J[:, i, :hidden])
        assert_fails_with_one_percent(check_outputs, net.forward(X)[:, i])
        assert_fails_with_one_percent(check_hidden, J[:, i, :hidden])
        readout = J[:, i, hidden:hidden + 3 * N].reshape(M, 3, N)
        np.testing.assert_array_equal(np.delete(readout, i, axis=1), 0)  # other outputs' readouts: no effect
        assert_relative(readout[:, i], J1[:, hidden:hidden + N], 1e-14, f"output {i}: its readout's columns")
        np.testing.assert_array_equal(J[:, i, hidden + 3 * N:], np.tile(np.eye(3)[i], (M, 1)))


@pytest.mark.parametrize("k", OUTPUTS)
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_one_step_of_training_is_the_update_written_out(k, parametrization):
    net = network(k, "tanh", parametrization)
    X, y = data(k)
    lr, scale = 0.05, 1.0 / M  # loss="mean"
    J = net.jacobian(X).reshape(M, k, -1)
    residual = (net.forward(X) - y).reshape(M, k)
    expected = net.params.to_vector() - lr * 2 * scale * np.einsum("xip,xi->p", J, residual)
    result = net.train(X, y, lr, 1, loss="mean")
    assert result.losses[0] == pytest.approx(scale * np.sum(residual**2), rel=1e-14)

    def check(vector):
        assert_relative(vector - net.initial_params.to_vector(), expected - net.initial_params.to_vector(), 1e-12,
                        "one step against w - lr 2 s J^T R")
    check(net.params.to_vector())
    assert_fails_with_one_percent(lambda step: check(net.initial_params.to_vector() + step),
                                  net.params.to_vector() - net.initial_params.to_vector())


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_output_is_the_one_output_network_bit_for_bit(parametrization, dtype, tmp_path):
    one, default = (widenet.ShallowNetwork(D, N, "tanh", parametrization, seed=4, dtype=dtype, **options)
                    for options in ({"outputs": 1}, {}))
    assert one.config == default.config and "outputs" not in one.config
    assert one.params.v.shape == (N,) and isinstance(one.params.c, float) and one.state.outputs == 1
    X, y = data(1)
    np.testing.assert_array_equal(one.params.to_vector(), default.params.to_vector())
    for method, arguments in (("forward", (X,)), ("jacobian", (X,)), ("ntk", (X,)), ("ntk_diag", (X,))):
        np.testing.assert_array_equal(getattr(one, method)(*arguments), getattr(default, method)(*arguments))
    np.testing.assert_array_equal(one.loss_grad(X, y)[1].to_vector(), default.loss_grad(X, y)[1].to_vector())
    first, second = one.train(X, y, 0.01, 5, X_test=X), default.train(X, y, 0.01, 5, X_test=X)
    for field in ("losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    files = [one.save(tmp_path / "one.npz"), default.save(tmp_path / "default.npz")]
    with np.load(files[0]) as a, np.load(files[1]) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
