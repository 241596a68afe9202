"""The linearized model (11.3.1)-(11.3.4) and its training (11.5.9), Remark 11.24 corrected.

Every record is checked against an independent computation: gradient descent in
parameter space with an explicit numpy Jacobian, the matrix exponential for gradient
flow, least squares (Theorem 11.3) for a linear model, and the full network's own
training for wide and narrow networks (Proposition 11.26).
"""

import numpy as np
import pytest

import widenet
from widenet import reference as ref
from widenet.regression.least_squares import gradient_descent, predicted_limit
from widenet.dynamics.linearization import linearize
from widenet.network.linear_models import FeatureModel, LinearModel

from conftest import LOSSES, assert_close, make_network, random_data, snapshot, stable_lr

M, D, N = 6, 3, 9  # points, input dimension, width: small so the explicit Jacobian is cheap
RECORDS = ("losses", "distances", "train_outputs", "test_outputs")


def setup(activation="tanh", parametrization="lecun", dtype=np.float64, n=N, seed=0):
    net = make_network(D, n, activation, parametrization, dtype, seed=seed)
    X, y, X_test = random_data(seed + 50, M, D, dtype)
    return net, X, y, X_test


def parameter_space_gd(net, X, y, X_test, lr, steps, scale, start=None):
    """GD on f_lin with the m x P Jacobian in numpy: the definition (11.3.1), (11.5.9)."""
    state = ref.Network(*(np.asarray(a, dtype=np.float64) for a in net.params.arrays()[:3]), float(net.params.c),
                        net.activation, net.parametrization)
    X, y, X_test = (np.asarray(a, dtype=np.float64) for a in (X, y, X_test))
    J, J_test = ref.jacobian(state, X), ref.jacobian(state, X_test)
    f0, f0_test = ref.forward(state, X), ref.forward(state, X_test)
    offset = np.zeros(J.shape[1]) if start is None else start.copy()
    records = {name: [] for name in RECORDS}
    for k in range(steps + 1):
        outputs = f0 + J @ offset
        records["losses"].append(scale * np.sum((outputs - y) ** 2))
        records["distances"].append(np.linalg.norm(offset))
        records["train_outputs"].append(outputs)
        records["test_outputs"].append(f0_test + J_test @ offset)
        if k < steps:
            offset = offset - lr * 2 * scale * J.T @ (outputs - y)
    return {name: np.array(values) for name, values in records.items()}, offset


# -- the model at w0 -------------------------------------------------------------------------

def test_at_w0_it_is_the_network(parametrization, dtype):
    net, X, _, X_test = setup("erf", parametrization, dtype)
    lin = linearize(net)
    assert_close(lin.forward(X_test), net.forward(X_test), dtype)
    assert_close(lin.ntk(X), net.ntk(X), dtype)
    assert_close(lin.ntk(X_test, X), net.ntk(X_test, X), dtype)
    assert lin.num_params == net.num_params


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_forward_offsets_and_loss_follow_the_definitions(activation, parametrization, backend):
    net, X, y, X_test = setup(activation, parametrization)
    lin = linearize(net)
    w0 = net.params.to_vector()
    direction = np.random.default_rng(3).standard_normal(w0.size) * 0.1
    lin.params = widenet.Parameters.from_vector(w0 + direction, N, D)
    J = ref.jacobian(net.state, X_test)
    assert_close(lin.forward(X_test, backend=backend), net.forward(X_test) + J @ direction, np.float64, w0.size)
    J_train = ref.jacobian(net.state, X)
    delta = net.forward(X) - J_train @ w0 - y  # (11.3.2)
    assert_close(lin.offsets(X, y, backend=backend), delta, np.float64, w0.size, scale=np.abs(J_train @ w0).max())
    p = w0 + direction
    f_lin = np.sum((J_train @ p + delta) ** 2)  # (11.3.3)
    assert lin.loss(X, y, backend=backend) == pytest.approx(f_lin, rel=1e-11)
    assert lin.loss(X, y, loss="mean", backend=backend) == pytest.approx(f_lin / M, rel=1e-11)


# -- training --------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["closed_form", "iterate"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_training_equals_gradient_descent_with_the_jacobian(method, loss, parametrization, dtype):
    net, X, y, X_test = setup("tanh", parametrization, dtype)
    scale = LOSSES[loss](M)
    lr, steps = stable_lr(net, X, scale, 0.4), 37
    expected, offset = parameter_space_gd(net, X, y, X_test, lr, steps, scale)
    lin = linearize(net)
    result = lin.train(X, y, lr, steps, X_test=X_test, method=method, record_every=5, loss=loss)
    np.testing.assert_array_equal(result.steps, [0, 5, 10, 15, 20, 25, 30, 35, 37])
    for name in RECORDS:
        assert_close(getattr(result, name), expected[name][result.steps], dtype, 50 * steps, err_msg=name)
    moved = lin.params.to_vector().astype(np.float64) - net.params.to_vector().astype(np.float64)
    assert_close(moved, offset, dtype, 50 * steps)
    assert result.method == method and result.lr == lr and result.loss == loss


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_closed_form_and_iteration_agree_to_1e_10(parametrization):
    net, X, y, X_test = setup("arctan", parametrization, n=64)
    lr = stable_lr(net, X, 1.0, 0.9)
    runs = {}
    for method in ("closed_form", "iterate"):
        lin = linearize(net)
        runs[method] = (lin.train(X, y, lr, 3000, X_test=X_test, method=method, record_every=100), lin.params)
    (closed, p_closed), (iterated, p_iterated) = runs["closed_form"], runs["iterate"]
    for name in RECORDS:
        np.testing.assert_allclose(getattr(closed, name), getattr(iterated, name), rtol=0, atol=1e-10, err_msg=name)
    np.testing.assert_allclose(p_closed.to_vector(), p_iterated.to_vector(), rtol=0, atol=1e-10)


def test_any_step_count_costs_the_same_in_closed_form():
    net, X, y, X_test = setup("tanh", "ntk")
    lr = stable_lr(net, X, 1.0, 0.5)
    lin = linearize(net)
    result = lin.train(X, y, lr, 10**9, X_test=X_test, record_every=10**8)
    # the limit: kernel regression with K_n plus the initial function (Remark 11.24)
    K, K_test = net.ntk(X), net.ntk(X_test, X)
    expected = net.forward(X_test) - K_test @ np.linalg.solve(K, net.forward(X) - y)
    assert_close(result.test_outputs[-1], expected, np.float64, 1e4)
    assert_close(result.train_outputs[-1], y, np.float64, 1e4, scale=1.0)


@pytest.mark.parametrize("method", ["closed_form", "iterate"])
def test_training_continues_from_the_current_parameters(method):
    net, X, y, X_test = setup("gelu", "lecun")
    lr = stable_lr(net, X, 1.0, 0.5)
    once = linearize(net)
    whole = once.train(X, y, lr, 60, X_test=X_test, method=method, record_every=60)
    twice = linearize(net)
    twice.train(X, y, lr, 25, method=method)
    rest = twice.train(X, y, lr, 35, X_test=X_test, method=method, record_every=35)
    for name in RECORDS:
        assert_close(getattr(rest, name)[-1], getattr(whole, name)[-1], np.float64, 1e3, err_msg=name)
    assert_close(twice.params.to_vector(), once.params.to_vector(), np.float64, 1e3)


def test_gradient_flow_is_the_matrix_exponential():
    linalg = pytest.importorskip("scipy.linalg")
    net, X, y, X_test = setup("softplus", "ntk")
    lin = linearize(net)
    times = np.array([0.0, 0.05, 0.3, 2.0])
    result = lin.flow(X, y, times, X_test=X_test, loss="mean")
    K, K_test, s = net.ntk(X), net.ntk(X_test, X), 1.0 / M
    r0 = net.forward(X) - y
    for row, t in enumerate(times):
        r = linalg.expm(-2 * s * K * t) @ r0
        # a(t) = 2 s int_0^t r(u) du, by the augmented-matrix exponential of Van Loan
        block = np.zeros((2 * M, 2 * M))
        block[:M, :M], block[:M, M:] = -2 * s * K, np.eye(M)
        a = 2 * s * (linalg.expm(block * t)[:M, M:] @ r0)
        assert_close(result.train_outputs[row], y + r, np.float64, 100)
        assert_close(result.test_outputs[row], net.forward(X_test) - K_test @ a, np.float64, 100)
        assert result.distances[row] == pytest.approx(np.sqrt(a @ K @ a), rel=1e-9, abs=1e-15)
    assert result.steps is None and result.lr is None and result.method == "flow"
    assert_close(lin.forward(X_test), result.test_outputs[-1], np.float64, 100)


def test_small_steps_approach_the_flow():
    net, X, y, _ = setup("tanh", "ntk")
    t, errors = 0.4, []
    for steps in (100, 200):
        lin = linearize(net)
        errors.append(np.abs(lin.train(X, y, t / steps, steps).train_outputs[-1]
                             - linearize(net).flow(X, y, [t]).train_outputs[-1]).max())
    assert errors[1] < 0.6 * errors[0]  # first order in the step: halving h halves the error
    assert errors[1] < 1e-2


# -- against the full network (Proposition 11.26) ----------------------------------------------

@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_wide_networks_follow_their_linearization_and_narrow_ones_do_not(parametrization):
    gaps = {}
    for n in (8, 8192):
        net, X, y, X_test = setup("tanh", parametrization, n=n, seed=4)
        lr = stable_lr(net, X, 1.0, 0.5)
        linear = linearize(net).train(X, y, lr, 400, X_test=X_test, record_every=20)
        full = net.train(X, y, lr, 400, X_test=np.vstack([X, X_test]), record_every=20)
        outputs = np.hstack([linear.train_outputs, linear.test_outputs])
        gaps[n] = np.abs(full.test_outputs - outputs).max() / np.abs(outputs).max()
    assert gaps[8] > 0.05, gaps
    assert gaps[8192] < 5e-3, gaps


# -- models linear in their parameters ---------------------------------------------------------

def test_a_linear_model_trains_like_least_squares():
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((4, 6)), rng.standard_normal(4)  # underdetermined: w0 survives
    w0 = rng.standard_normal(7)
    model = LinearModel(6, bias=True, weights=w0)
    lin = linearize(model)
    A = np.hstack([np.ones((4, 1)), X])
    lr = 0.2 / np.linalg.norm(A, 2) ** 2
    result = lin.train(X, y, lr, 300, record_every=30)
    expected = gradient_descent(A, y, w0, lr, 300, record_every=30)
    np.testing.assert_allclose(result.losses, expected.losses, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(lin.params, expected.w, rtol=1e-10)
    lin.train(X, y, lr, 10**8, record_every=10**8)
    np.testing.assert_allclose(lin.params, predicted_limit(A, y, w0), rtol=1e-9)  # Theorem 11.3
    assert np.array_equal(model.params, w0)


def test_a_feature_model_has_the_feature_kernel_and_reaches_remark_11_4():
    rng = np.random.default_rng(6)
    X, y, X_test = rng.standard_normal((5, 2)), rng.standard_normal(5), rng.standard_normal((3, 2))
    w0 = rng.standard_normal(6)
    model = FeatureModel(widenet.quadratic_features, w0)
    lin = linearize(model)
    Phi, Phi_test = widenet.quadratic_features(X), widenet.quadratic_features(X_test)
    np.testing.assert_allclose(lin.ntk(X_test, X), Phi_test @ Phi.T, rtol=1e-13)
    lr = 0.2 / np.linalg.norm(Phi, 2) ** 2
    result = lin.train(X, y, lr, 10**8, X_test=X_test, record_every=10**8)
    # Remark 11.4: the kernel estimator plus <phi(x), P w0>, P the projector on ker(Phi)
    alpha = np.linalg.lstsq(Phi @ Phi.T, y, rcond=None)[0]
    projected = w0 - np.linalg.pinv(Phi) @ (Phi @ w0)
    np.testing.assert_allclose(result.test_outputs[-1], Phi_test @ Phi.T @ alpha + Phi_test @ projected, rtol=1e-8)


@pytest.mark.parametrize("given", ["parameters", "vector"])
def test_linearize_at_given_parameters(given):
    net, X, _, X_test = setup("sigmoid", "ntk")
    other = make_network(D, N, "sigmoid", "ntk", seed=9)
    lin = linearize(net, params=other.params if given == "parameters" else list(other.params.to_vector()))
    assert_close(lin.forward(X_test), other.forward(X_test), np.float64)
    assert_close(lin.ntk(X), other.ntk(X), np.float64)
    np.testing.assert_array_equal(lin.initial_params.to_vector(), other.params.to_vector())


def test_the_callers_network_and_arrays_are_left_alone():
    net, X, y, X_test = setup()
    before = net.params.to_vector().copy()
    saved = snapshot(X, y, X_test)
    lin = linearize(net)
    lin.train(X, y, stable_lr(net, X, 1.0), 20, X_test=X_test)
    np.testing.assert_array_equal(net.params.to_vector(), before)
    for original, copy in zip((X, y, X_test), saved):
        np.testing.assert_array_equal(original, copy)
    net.params.v = np.zeros(N)  # later changes to the network do not move the linearization
    assert_close(lin.initial_params.to_vector(), before, np.float64)
    lin.reset()
    assert np.array_equal(lin.params.to_vector(), before)


# -- bad input ---------------------------------------------------------------------------------

def test_bad_arguments_are_named():
    net, X, y, X_test = setup()
    lin = linearize(net)
    with pytest.raises(TypeError, match="model"):
        linearize(object())
    with pytest.raises(ValueError, match="method"):
        lin.train(X, y, 0.1, 3, method="exact")
    with pytest.raises(ValueError, match="lr"):
        lin.train(X, y, -0.1, 3)
    with pytest.raises(ValueError, match="steps"):
        lin.train(X, y, 0.1, -1)
    with pytest.raises(ValueError, match="y"):
        lin.train(X, y[:-1], 0.1, 3)
    with pytest.raises(ValueError, match="X_test"):
        lin.train(X, y, 0.1, 3, X_test=X_test[:, :2])
    with pytest.raises(ValueError, match="times"):
        lin.flow(X, y, [-1.0])
    with pytest.raises(ValueError, match="loss"):
        lin.loss(X, y, loss="max")
    with pytest.raises(ValueError, match="params"):
        linearize(LinearModel(3), params=np.zeros(4))
    with pytest.raises(ValueError, match="params"):
        linearize(net, params=np.zeros(net.num_params + 1))
    with pytest.raises(TypeError, match="params"):
        linearize(net, params="w0")
    with pytest.raises(TypeError, match="params"):
        lin.params = np.zeros(lin.num_params)
