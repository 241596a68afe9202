"""Training a network of k outputs: divergence as for one output, and the linearized model.

A run of the network of several outputs stops where its loss blows up, in C++ and in the
numpy twin alike, with the admissible step of every block of the tangent kernel (an
ensemble stops only its diverging members: tests/test_divergence.py). The linearized model of a network of k outputs
moves the m k outputs by the (m k) x (m k) Gram of every block: its closed form, its steps
in C++ and its gradient flow against gradient descent on the explicit linear model.
"""

import numpy as np
import pytest
import scipy.linalg

import widenet
from widenet.dynamics.linearization import linearize

# Figure 11.3's setting with the chapter's sum loss and three outputs: h = 1/n diverges.
X = np.array([[-1.0], [0.5], [1.5]])
Y = np.array([[0.3, -0.2, 0.1], [-0.4, 0.5, 0.0], [0.8, 0.1, -0.6]])
H = 1 / 250
FIG = dict(weight_var=3.0, output_var=3.0, bias_var=2.0, output_bias_var=2.0)


def figure_network(seed=0, dtype=np.float64, outputs=3):
    return widenet.ShallowNetwork(1, 250, "arctan", seed=seed, dtype=dtype, outputs=outputs, **FIG)


def full_gram(net, points):
    m, k = len(points), net.outputs
    return net.ntk(points, trace_outputs=False).reshape(m * k, m * k)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_diverging_run_raises_with_the_admissible_step_of_every_block(backend):
    net = figure_network()
    before = net.params.to_vector().copy()
    with pytest.raises(widenet.DivergenceError) as error:
        net.train(X, Y, H, 1000, record_every=10, backend=backend)
    lambda_max = np.linalg.eigvalsh(full_gram(net, X))[-1]
    assert error.value.admissible_lr == pytest.approx(1 / lambda_max, rel=1e-12)
    assert H > error.value.admissible_lr
    np.testing.assert_array_equal(net.params.to_vector(), before)  # left unchanged
    partial = error.value.result
    assert partial.steps[-1] == partial.diverged_at == error.value.step
    assert partial.losses[-1] > 1e10 * partial.losses[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_returned_partial_trajectories_agree_between_backends(dtype):
    runs = {backend: figure_network(dtype=dtype).train(X, Y, H, 1000, record_every=4, X_test=X[:2],
                                                       backend=backend, on_divergence="return")
            for backend in ("cpp", "numpy")}
    cpp, numpy = runs["cpp"], runs["numpy"]
    assert cpp.diverged_at == numpy.diverged_at is not None
    np.testing.assert_array_equal(cpp.steps, numpy.steps)
    assert cpp.test_outputs.shape == (len(cpp.steps), 2, 3)
    np.testing.assert_allclose(cpp.losses, numpy.losses, rtol=1e-9 if dtype == np.float64 else 1e-3)


def test_stable_runs_are_not_stopped():
    run = figure_network().train(X, Y, H, 1000, record_every=100, loss="mean")
    assert run.diverged_at is None and run.steps[-1] == 1000 and run.losses[-1] < run.losses[0]


# --- the linearized model ------------------------------------------------------------------


def linear_setting(k=3, seed=2):
    net = widenet.ShallowNetwork(3, 32, "tanh", "ntk", seed=seed, outputs=k, bias_var=0.5, output_bias_var=0.3)
    rng = np.random.default_rng(4)
    return net, rng.standard_normal((5, 3)), rng.standard_normal((5, k)), rng.standard_normal((2, 3))


def explicit_descent(net, points, targets, test_points, lr, steps, scale):
    """Gradient descent on Phi(w0) + J0 (p - w0), in parameter space with the Jacobian."""
    J, J_test = (net.jacobian(p).reshape(len(p) * net.outputs, -1) for p in (points, test_points))
    f0, f0_test = net.forward(points).ravel(), net.forward(test_points).ravel()
    offset = np.zeros(net.num_params)
    for _ in range(steps):
        offset -= lr * 2 * scale * J.T @ (f0 + J @ offset - targets.ravel())
    return (f0 + J @ offset).reshape(targets.shape), (f0_test + J_test @ offset).reshape(len(test_points), -1), offset


@pytest.mark.parametrize("method", ["closed_form", "iterate"])
@pytest.mark.parametrize("loss", ["sum", "mean"])
def test_linearized_gradient_descent_is_descent_on_the_linear_model(method, loss):
    net, points, targets, test_points = linear_setting()
    lin = linearize(net)
    scale = 1.0 if loss == "sum" else 1 / len(points)
    lr = 0.3 / (scale * np.linalg.eigvalsh(full_gram(net, points))[-1])
    run = lin.train(points, targets, lr, 40, X_test=test_points, method=method, loss=loss, record_every=40)
    outputs, test_outputs, offset = explicit_descent(net, points, targets, test_points, lr, 40, scale)
    assert run.train_outputs.shape == (2, 5, 3) and run.test_outputs.shape == (2, 2, 3)
    np.testing.assert_allclose(run.train_outputs[-1], outputs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(run.test_outputs[-1], test_outputs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(run.distances[-1], np.linalg.norm(offset), rtol=1e-9)
    np.testing.assert_allclose(lin.params.to_vector() - net.params.to_vector(), offset, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lin.forward(points), outputs, rtol=1e-10, atol=1e-10)
    assert run.losses[-1] == pytest.approx(scale * np.sum((outputs - targets) ** 2), rel=1e-9)
    # the traced kernel is not the Gram of this descent: its run would differ
    traced = np.kron(net.ntk(points), np.eye(3))
    assert np.max(np.abs(traced - full_gram(net, points))) > 1e-3 * np.max(np.abs(traced))


def test_linearized_gradient_flow_is_the_matrix_exponential():
    net, points, targets, _ = linear_setting()
    lin = linearize(net)
    theta = full_gram(net, points)
    start = net.forward(points).ravel() - targets.ravel()
    run = lin.flow(points, targets, [0.0, 0.5, 3.0], loss="sum")
    for t, outputs in zip([0.0, 0.5, 3.0], run.train_outputs):
        expected = scipy.linalg.expm(-2 * t * theta) @ start + targets.ravel()
        np.testing.assert_allclose(outputs.ravel(), expected, rtol=1e-9, atol=1e-10)


def test_a_linearized_run_beyond_its_stable_step_diverges():
    net, points, targets, _ = linear_setting()
    lin = linearize(net)
    lam = np.linalg.eigvalsh(full_gram(net, points))[-1]
    with pytest.raises(widenet.DivergenceError) as error:
        lin.train(points, targets, 1.5 / lam, 10_000, record_every=50)
    assert error.value.admissible_lr == pytest.approx(1 / lam, rel=1e-10)
    assert lin.params.to_vector().tolist() == net.params.to_vector().tolist()  # not moved


@pytest.mark.parametrize("loss", ["sum", "mean"])
def test_max_learning_rate_of_several_outputs_is_that_of_every_block(loss):
    """The bound comes from J J^T over the m k outputs (not the traced kernel), in the loss's
    units of m points; the linearized model trained 1% below it converges, 1% above it diverges.
    The network is narrow, so that its output blocks differ visibly from the traced kernel."""
    from widenet.predict import max_learning_rate

    net = widenet.ShallowNetwork(1, 4, "arctan", seed=0, outputs=3, **FIG)
    J = net.jacobian(X).reshape(len(X) * net.outputs, -1)
    s = {"sum": 1.0, "mean": 1 / len(X)}[loss]
    h = max_learning_rate(net, X, loss=loss)
    assert h == pytest.approx(1 / (s * np.linalg.eigvalsh(J @ J.T)[-1]), rel=1e-10)
    traced_bound = 1 / (s * np.linalg.eigvalsh(net.ntk(X))[-1])
    assert abs(traced_bound / h - 1) > 0.01  # the traced kernel would set another bound
    for factor, converges in ((0.99, True), (1.01, False)):
        model = linearize(net)
        run = model.train(X, Y, factor * h, 4000, loss=loss, record_every=4000, on_divergence="return")
        start, final = net.forward(X), np.asarray(run.train_outputs)[-1]
        assert (np.linalg.norm(final - Y) < np.linalg.norm(start - Y)) == converges


def test_max_learning_rate_agrees_for_the_network_its_linearization_its_kernel_and_its_gram():
    """The linearized model and the tangent kernel stand for the network; a Gram of every output
    pair with outputs=k divides "mean" by the m points (without it, by the m k rows: k times off)."""
    from widenet.predict import max_learning_rate

    net = widenet.ShallowNetwork(1, 4, "arctan", seed=0, outputs=3, **FIG)
    gram = full_gram(net, X)
    model = linearize(net)
    assert model.outputs == 3
    np.testing.assert_array_equal(model.ntk(X, trace_outputs=False), net.ntk(X, trace_outputs=False))
    np.testing.assert_array_equal(model.ntk(X), net.ntk(X))
    for loss in ("sum", "mean", "half_sum"):
        h = max_learning_rate(net, X, loss=loss)
        assert max_learning_rate(model, X, loss=loss) == pytest.approx(h, rel=1e-12)
        assert max_learning_rate(widenet.TangentKernel(net), X, loss=loss) == pytest.approx(h, rel=1e-12)
        assert max_learning_rate(gram, loss=loss, outputs=3) == pytest.approx(h, rel=1e-12)
    assert max_learning_rate(gram, loss="mean") == pytest.approx(max_learning_rate(net, X, loss="mean") * 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda net: __import__("widenet.predict").predict.max_learning_rate(net, X, outputs=3), ValueError, "^outputs"),
    (lambda net: __import__("widenet.predict").predict.max_learning_rate(np.eye(4), outputs=3), ValueError,
     "^outputs"),
    (lambda net: __import__("widenet.predict").predict.max_learning_rate(
        widenet.ShallowEnsemble(2, 1, 8, activation="tanh", outputs=3, seed=0), X), TypeError, "^kernel: a ShallowEnsemble"),
])
def test_max_learning_rate_refuses_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call(figure_network())
