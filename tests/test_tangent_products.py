"""Products with the Jacobian and gradient descent on the linearized model (docs/theory.md, sections 3, 5, 6).

``jvp`` and ``vjp`` against the explicit Jacobian of the reference (``J @ delta`` and
``J.T @ r``, computed in float64), and the compiled kernels against their numpy twins.
``linear_gd`` (function-space GD, (11.5.9) and Remark 11.24 corrected): compiled against
the twin, the twin against a direct computation (matrix powers of ``B = I - 2hs Theta``),
and both against gradient descent on the linearized model in parameter space.
"""

import numpy as np
import pytest

from widenet import _core
from widenet import reference as ref

from conftest import LOSSES, assert_close, make_network, random_data, snapshot, stable_lr

N, D, M = 7, 3, 5  # width, input dimension, batch
P = N * (D + 2) + 1
T = 4  # test points


def setup(activation, parametrization, dtype, seed=0):
    net = make_network(D, N, activation, parametrization, dtype, seed=seed)
    X, y, X_test = random_data(seed + 100, M, D, dtype, m_test=T)
    return net, X, y, X_test


def direction(dtype, seed=1):
    """A random direction ``(dU, db, dv, dc)`` in the parameter layout."""
    rng = np.random.default_rng(seed)
    dU, db, dv = rng.standard_normal((N, D)), rng.standard_normal(N), rng.standard_normal(N)
    return dU.astype(dtype), db.astype(dtype), dv.astype(dtype), float(rng.standard_normal())


def flat(blocks):
    """The parameter vector ``(vec(U) row-major, b, v, c)`` of four blocks, in float64."""
    U, b, v, c = blocks
    return np.concatenate([np.ravel(U), b, v, [c]]).astype(np.float64)


def jacobian64(X, params, activation, parametrization):
    """The explicit reference Jacobian, in float64 whatever the dtype of the inputs."""
    U, b, v, c = params
    as64 = [np.asarray(a, dtype=np.float64) for a in (X, U, b, v)]
    return ref.jacobian(*as64, float(c), activation, parametrization)


# --- jvp and vjp ------------------------------------------------------------------------


def test_jvp_against_the_jacobian(activation, parametrization, dtype):
    net, X, _, _ = setup(activation, parametrization, dtype)
    params, delta = net.params.arrays(), direction(dtype)
    J, d = jacobian64(X, params, activation, parametrization), flat(delta)
    expected = J @ d
    scale = float(np.max(np.abs(J) @ np.abs(d)))  # the size of the summed terms
    for name, kernel in (("cpp", _core.jvp), ("numpy", ref.jvp)):
        got = kernel(X, *params, *delta, activation, parametrization)
        assert got.dtype == np.dtype(dtype) and got.shape == (M,), name
        assert_close(got, expected, dtype, size=N * D, scale=scale, err_msg=name)


def test_vjp_against_the_jacobian(activation, parametrization, dtype):
    net, X, _, _ = setup(activation, parametrization, dtype)
    params = net.params.arrays()
    r = np.random.default_rng(2).standard_normal(M).astype(dtype)
    J = jacobian64(X, params, activation, parametrization)
    expected = J.T @ r.astype(np.float64)
    scale = float(np.max(np.abs(J.T) @ np.abs(r)))
    for name, kernel in (("cpp", _core.vjp), ("numpy", ref.vjp)):
        gU, gb, gv, gc = kernel(X, r, *params, activation, parametrization)
        assert gU.shape == (N, D) and gb.shape == gv.shape == (N,), name
        assert gU.dtype == gb.dtype == gv.dtype == np.dtype(dtype), name
        assert_close(flat((gU, gb, gv, gc)), expected, dtype, size=M, scale=scale, err_msg=name)


def test_compiled_products_against_twins(activation, parametrization, dtype):
    net, X, _, _ = setup(activation, parametrization, dtype, seed=3)
    params, delta = net.params.arrays(), direction(dtype, seed=4)
    r = np.random.default_rng(5).standard_normal(M).astype(dtype)
    inputs = snapshot(X, r, *params[:3], *delta[:3])
    got = _core.jvp(X, *params, *delta, activation, parametrization)
    assert_close(got, ref.jvp(X, *params, *delta, activation, parametrization), dtype, size=N * D)
    got = flat(_core.vjp(X, r, *params, activation, parametrization))
    assert_close(got, flat(ref.vjp(X, r, *params, activation, parametrization)), dtype, size=M)
    for before, now in zip(inputs, (X, r, *params[:3], *delta[:3])):
        np.testing.assert_array_equal(before, now)


def test_vjp_is_the_loss_gradient_at_its_weights(parametrization, dtype):
    # one shared pullback: vjp with r = 2 s (Phi - y) is loss_grad's gradient
    net, X, y, _ = setup("gelu", parametrization, dtype, seed=6)
    params = net.params.arrays()
    s = 1 / M
    r = (2 * s * (_core.forward(X, *params, "gelu", parametrization) - y)).astype(dtype)
    _, *grad = _core.loss_grad(X, y, *params, "gelu", parametrization, s)
    assert_close(flat(_core.vjp(X, r, *params, "gelu", parametrization)), flat(grad), dtype, size=M)


def test_jvp_and_vjp_are_adjoint(activation, parametrization):
    # <J delta, r> = <delta, J^T r>, each side from one compiled kernel
    net, X, _, _ = setup(activation, parametrization, np.float64, seed=7)
    params, delta = net.params.arrays(), direction(np.float64, seed=8)
    r = np.random.default_rng(9).standard_normal(M)
    left = _core.jvp(X, *params, *delta, activation, parametrization) @ r
    right = flat(delta) @ flat(_core.vjp(X, r, *params, activation, parametrization))
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12 * np.abs(flat(delta)).sum())


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_jvp_over_width_chunks(dtype):
    # many rows make the width chunk small: 1100 columns are processed in two or three chunks
    m, d, n = 4000, 2, 1100
    rng = np.random.default_rng(10)
    X = rng.standard_normal((m, d)).astype(dtype)
    U, b, v = (rng.standard_normal((n, d)) / np.sqrt(d)), rng.standard_normal(n), rng.standard_normal(n) / np.sqrt(n)
    dU, db, dv = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(n)
    params = (U.astype(dtype), b.astype(dtype), v.astype(dtype), 0.1)
    delta = (dU.astype(dtype), db.astype(dtype), dv.astype(dtype), -0.2)
    got = _core.jvp(X, *params, *delta, "tanh", "ntk")
    assert_close(got, ref.jvp(X, *params, *delta, "tanh", "ntk"), dtype, size=n * d)


# --- linear_gd --------------------------------------------------------------------------


def linear_problem(activation, parametrization, dtype, seed=0):
    """Tangent Gram, initial residual and test points of a small network, from the reference."""
    net, X, y, X_test = setup(activation, parametrization, dtype, seed=seed)
    params = net.params.arrays()
    args = (*params, activation, parametrization)
    theta = ref.ntk_gram(X, X, *args)
    residual = ref.forward(X, *args) - y
    cross = ref.ntk_gram(X_test, X, *args)
    test_initial = ref.forward(X_test, *args)
    return net, X, y, X_test, theta, residual, cross, test_initial


def assert_same_run(got, want, dtype, size):
    np.testing.assert_array_equal(got["steps"], want["steps"])
    assert (got["test_outputs"] is None) == (want["test_outputs"] is None)
    for key in ("losses", "distances", "residuals", "test_outputs", "coefficients"):
        if want[key] is not None:
            assert got[key].shape == want[key].shape, key
            assert_close(got[key], want[key], dtype, size=size, err_msg=key)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_linear_gd_compiled_against_twin(parametrization, dtype, loss):
    net, X, _, _, theta, residual, cross, test_initial = linear_problem("erf", parametrization, dtype)
    s = LOSSES[loss](M)
    lr = stable_lr(net, X, s, fraction=0.4)
    inputs = snapshot(theta, residual, cross, test_initial)
    got = _core.linear_gd(theta, residual, lr, s, 40, 3, cross, test_initial)
    want = ref.linear_gd(theta, residual, lr, s, 40, 3, cross, test_initial, divergence_factor=_core.DIVERGENCE_FACTOR)
    assert got["residuals"].dtype == got["coefficients"].dtype == np.dtype(dtype)
    assert_same_run(got, want, dtype, size=40 * M)
    for before, now in zip(inputs, (theta, residual, cross, test_initial)):
        np.testing.assert_array_equal(before, now)
    # without test points
    got = _core.linear_gd(theta, residual, lr, s, 40, 3)
    assert got["test_outputs"] is None
    assert_same_run(got, ref.linear_gd(theta, residual, lr, s, 40, 3, divergence_factor=_core.DIVERGENCE_FACTOR), dtype, size=40 * M)


def test_linear_gd_from_away_from_w0(parametrization, dtype):
    """A run from p_0 = w0 + delta: distances |delta - J0^T a_k|, with a real Jacobian."""
    net, X, y, X_test, theta, _, cross, _ = linear_problem("tanh", parametrization, dtype)
    params = net.params.arrays()
    J, J_test = (jacobian64(points, params, "tanh", parametrization) for points in (X, X_test))
    delta = flat(direction(dtype)).astype(np.float64)
    args = (*params, "tanh", parametrization)
    residual = (ref.forward(X, *args) + (J @ delta).astype(dtype) - y).astype(dtype)
    test_start = (ref.forward(X_test, *args) + (J_test @ delta).astype(dtype)).astype(dtype)
    offset = (J @ delta).astype(dtype)
    lr = stable_lr(net, X, 1.0, fraction=0.4)
    got = _core.linear_gd(theta, residual, lr, 1.0, 30, 7, cross, test_start, offset, float(delta @ delta))
    want = ref.linear_gd(theta, residual, lr, 1.0, 30, 7, cross, test_start, offset, float(delta @ delta),
                         divergence_factor=_core.DIVERGENCE_FACTOR)
    assert_same_run(got, want, dtype, size=30 * M)
    rate, r, a = 2 * lr, residual.astype(np.float64), np.zeros(M)
    expected = []
    for k in range(31):
        if k in got["steps"]:
            expected.append(np.linalg.norm(delta - J.T @ a))
        a, r = a + rate * r, r - rate * (theta.astype(np.float64) @ r)
    assert_close(got["distances"], np.array(expected), dtype, size=30 * M * 10)


@pytest.mark.parametrize("steps, record_every, recorded", [
    (7, 3, [0, 3, 6, 7]), (6, 3, [0, 3, 6]), (5, 1, [0, 1, 2, 3, 4, 5]), (4, 10, [0, 4]), (0, 1, [0]), (0, 5, [0]),
])
def test_linear_gd_recorded_steps(steps, record_every, recorded, dtype):
    net, X, _, _, theta, residual, cross, test_initial = linear_problem("tanh", "ntk", dtype)
    lr = stable_lr(net, X, 1.0)
    got = _core.linear_gd(theta, residual, lr, 1.0, steps, record_every, cross, test_initial)
    assert got["steps"].dtype == np.int64
    np.testing.assert_array_equal(got["steps"], recorded)
    records = len(recorded)
    assert got["losses"].shape == got["distances"].shape == (records,)
    assert got["residuals"].shape == (records, M) and got["test_outputs"].shape == (records, T)
    assert got["coefficients"].shape == (M,)
    want = ref.linear_gd(theta, residual, lr, 1.0, steps, record_every, cross, test_initial, divergence_factor=_core.DIVERGENCE_FACTOR)
    assert_same_run(got, want, dtype, size=max(steps, 1) * M)


def test_linear_gd_zero_steps(dtype):
    _, _, _, _, theta, residual, cross, test_initial = linear_problem("sin", "lecun", dtype)
    for run in (_core.linear_gd, ref.linear_gd):
        got = run(theta, residual, 0.01, 0.5, 0, 1, cross, test_initial, divergence_factor=_core.DIVERGENCE_FACTOR)
        np.testing.assert_array_equal(got["steps"], [0])
        assert_close(got["losses"], [0.5 * float(residual.astype(np.float64) @ residual)], dtype, size=M)
        np.testing.assert_array_equal(got["distances"], [0])
        np.testing.assert_array_equal(got["residuals"], [residual])
        np.testing.assert_array_equal(got["test_outputs"], [test_initial])
        np.testing.assert_array_equal(got["coefficients"], np.zeros(M))


def test_linear_gd_twin_against_matrix_powers(activation, parametrization):
    # r_k = B^k r_0 with B = I - 2hs Theta, a_k = 2hs sum_{j<k} r_j, |p_k - w0| = |J0^T a_k|
    net, X, _, X_test, _, residual, _, test_initial = linear_problem(activation, parametrization, np.float64)
    params = net.params.arrays()
    J = jacobian64(X, params, activation, parametrization)
    J_test = jacobian64(X_test, params, activation, parametrization)
    theta, cross = J @ J.T, J_test @ J.T  # the tangent Grams from the Jacobian itself
    s, steps = 0.5, 9
    lr = stable_lr(net, X, s, fraction=0.5)
    rate = 2 * lr * s
    B = np.eye(M) - rate * theta
    r = [np.linalg.matrix_power(B, k) @ residual for k in range(steps + 1)]
    a = [rate * sum(r[:k], np.zeros(M)) for k in range(steps + 1)]
    got = ref.linear_gd(theta, residual, lr, s, steps, 2, cross, test_initial, divergence_factor=_core.DIVERGENCE_FACTOR)
    ks = got["steps"].tolist()
    assert ks == [0, 2, 4, 6, 8, 9]
    rtol = 1e-11
    np.testing.assert_allclose(got["residuals"], [r[k] for k in ks], rtol=rtol, atol=rtol * np.abs(residual).max())
    np.testing.assert_allclose(got["losses"], [s * r[k] @ r[k] for k in ks], rtol=rtol)
    distances = [np.linalg.norm(J.T @ a[k]) for k in ks]
    np.testing.assert_allclose(got["distances"], distances, rtol=rtol, atol=rtol * max(distances))
    outputs = [test_initial - J_test @ (J.T @ a[k]) for k in ks]
    np.testing.assert_allclose(got["test_outputs"], outputs, rtol=rtol, atol=rtol * np.abs(outputs).max())
    np.testing.assert_allclose(got["coefficients"], a[steps], rtol=rtol, atol=rtol * np.abs(a[steps]).max())


@pytest.mark.parametrize("loss", list(LOSSES))
def test_linear_gd_is_gradient_descent_on_the_linearized_model(parametrization, dtype, loss):
    # p_{k+1} = p_k - h grad f_lin(p_k), f_lin = s |Phi(X, w0) + J0 (p - w0) - y|^2 (11.3.1, 11.3.3),
    # run in parameter space with the explicit Jacobian; outputs and |p_k - w0| from the definitions
    activation = "softplus"
    net, X, y, X_test, theta, residual, cross, test_initial = linear_problem(activation, parametrization, dtype)
    params = net.params.arrays()
    J = jacobian64(X, params, activation, parametrization)
    J_test = jacobian64(X_test, params, activation, parametrization)
    initial = residual.astype(np.float64) + y  # Phi(X, w0)
    s, steps = LOSSES[loss](M), 12
    lr = stable_lr(net, X, s, fraction=0.5)
    moves, train, test = [], [], []
    p = np.zeros(P)  # p - w0
    for k in range(steps + 1):
        outputs = initial + J @ p
        moves.append(np.linalg.norm(p))
        train.append(outputs)
        test.append(test_initial.astype(np.float64) + J_test @ p)
        if k < steps:
            p = p - lr * 2 * s * (J.T @ (outputs - y))
    got = _core.linear_gd(theta, residual, lr, s, steps, 1, cross, test_initial)
    size = steps * M
    assert_close(got["residuals"] + y, train, dtype, size=size, err_msg="train outputs")
    assert_close(got["distances"], moves, dtype, size=size, err_msg="distances")
    assert_close(got["test_outputs"], test, dtype, size=size, err_msg="test outputs")
    residuals = np.array(train) - y
    assert_close(got["losses"], s * np.sum(residuals * residuals, axis=1), dtype, size=size, err_msg="losses")
    # the final parameters are p_k = w0 - J0^T a_k
    assert_close(-J.T @ got["coefficients"].astype(np.float64), p, dtype, size=size, err_msg="coefficients")


# --- bad arguments ----------------------------------------------------------------------


@pytest.fixture
def gd_args():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((M, M))
    return A @ A.T, rng.standard_normal(M), rng.standard_normal((T, M)), rng.standard_normal(T)


@pytest.mark.parametrize("change, match", [
    (dict(theta=np.ones((M, M + 1))), r"theta: expected a non-empty square \(m, m\) matrix, got \(5, 6\)"),
    (dict(theta=np.ones((0, 0))), r"theta: expected a non-empty square"),
    (dict(residual=np.ones(M + 1)), r"residual: expected length 5 \(the size of theta\), got 6"),
    (dict(cross=np.ones((T, M - 1))), r"cross: expected shape \(t, 5\) \(test points x training points\), "
                                      r"got \(4, 4\)"),
    (dict(test_initial=np.ones(T + 2)), r"test_initial: expected length 4 \(one output per row of cross\), got 6"),
    (dict(cross=None), r"cross, test_initial: expected both or neither, got only test_initial"),
    (dict(test_initial=None), r"cross, test_initial: expected both or neither, got only cross"),
    (dict(lr=0.0), r"lr: expected a finite positive step size"),
    (dict(lr=-1.0), r"lr: expected a finite positive step size"),
    (dict(lr=float("nan")), r"lr: expected a finite positive step size"),
    (dict(loss_scale=0.0), r"loss_scale: expected a finite positive number"),
    (dict(loss_scale=float("inf")), r"loss_scale: expected a finite positive number"),
    (dict(steps=-1), r"steps: expected a non-negative integer, got -1"),
    (dict(record_every=0), r"record_every: expected a positive integer, got 0"),
    (dict(offset_outputs=np.ones(M - 1)), r"offset_outputs: expected length 5 \(the size of theta\), got 4"),
    (dict(offset_outputs=np.ones(M), offset_squared_norm=-1.0), r"offset_squared_norm: expected a finite non-neg"),
])
def test_linear_gd_bad_arguments(gd_args, change, match):
    theta, residual, cross, test_initial = gd_args
    kwargs = dict(theta=theta, residual=residual, lr=0.01, loss_scale=1.0, steps=3, record_every=1, cross=cross,
                  test_initial=test_initial)
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        _core.linear_gd(**kwargs)


def test_linear_gd_mixed_dtypes_are_a_type_error(gd_args):
    theta, residual, cross, test_initial = gd_args
    with pytest.raises(TypeError):
        _core.linear_gd(theta.astype(np.float32), residual, 0.01, 1.0, 3, 1)
    with pytest.raises(TypeError):
        _core.linear_gd(theta, residual, 0.01, 1.0, 3, 1, cross.astype(np.float32), test_initial)


def product_args(dtype=np.float64):
    net, X, _, _ = setup("tanh", "lecun", dtype)
    return X, net.params.arrays(), direction(dtype)


@pytest.mark.parametrize("position, bad, match", [
    (0, np.ones((N, D + 1)), r"dU: expected shape \(7, 3\) \(the shape of U\), got \(7, 4\)"),
    (0, np.ones((N + 1, D)), r"dU: expected shape \(7, 3\) \(the shape of U\), got \(8, 3\)"),
    (1, np.ones(N - 1), r"db: expected length 7 \(the width\), got 6"),
    (2, np.ones(N + 1), r"dv: expected length 7 \(the width\), got 8"),
])
def test_jvp_bad_direction(position, bad, match):
    X, params, delta = product_args()
    delta = list(delta)
    delta[position] = bad
    with pytest.raises(ValueError, match=match):
        _core.jvp(X, *params, *delta, "tanh", "lecun")


def test_jvp_and_vjp_check_the_network_and_inputs():
    X, (U, b, v, c), delta = product_args()
    with pytest.raises(ValueError, match=r"X: expected 3 columns \(the input dimension\), got 2"):
        _core.jvp(np.ascontiguousarray(X[:, :2]), U, b, v, c, *delta, "tanh", "lecun")
    with pytest.raises(ValueError, match=r"b: expected length 7 \(the width\), got 6"):
        _core.jvp(X, U, b[:-1], v, c, *delta, "tanh", "lecun")
    with pytest.raises(ValueError, match=r"r: expected length 5 \(one weight per row of X\), got 4"):
        _core.vjp(X, np.ones(M - 1), U, b, v, c, "tanh", "lecun")
    with pytest.raises(ValueError, match=r"X: expected 3 columns"):
        _core.vjp(np.ascontiguousarray(X[:, :1]), np.ones(M), U, b, v, c, "tanh", "lecun")
    with pytest.raises(ValueError, match="parametrization: expected 'lecun' or 'ntk'"):
        _core.vjp(X, np.ones(M), U, b, v, c, "tanh", "mup")
    with pytest.raises(TypeError):
        _core.jvp(X, U, b, v, c, delta[0].astype(np.float32), *delta[1:], "tanh", "lecun")
