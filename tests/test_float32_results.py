"""float32 end to end: results of float32 data and networks come back float32 (losses and
distances excepted: float64 in every result, by design), equal to the float64 computation
rounded or to its float32 accuracy; and a fitted tangent-kernel estimator keeps the kernel it
was fitted with while its network trains on."""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import widenet  # noqa: E402
from widenet import KernelLeastSquares, MinNormLeastSquares, NTKRegressor, TangentKernel, linearize  # noqa: E402
from widenet.regression.least_squares import augment, min_norm_solution, predicted_limit  # noqa: E402

from conftest import make_network, random_data  # noqa: E402

PROPERTY = settings(deadline=None)


def regression(seed, m=10, d=3, dtype=np.float32):
    X, y, X_test = random_data(seed, m, d, dtype, m_test=4)
    return X, y, X_test


@PROPERTY
@given(seed=st.integers(0, 2**16), kernel=st.sampled_from(["linear", "polynomial", "rbf", "laplace"]),
       targets=st.sampled_from([1, 2]))
def test_kernel_least_squares_predicts_float32_for_float32_points(seed, kernel, targets):
    """Predictions on float32 points are float32, within float32 accuracy of the float64 fit."""
    X, y, X_test = regression(seed)
    y = y if targets == 1 else np.stack([y, -2 * y], axis=1)
    model = KernelLeastSquares(kernel=kernel, degree=2, ridge=1e-3).fit(X, y)
    reference = KernelLeastSquares(kernel=kernel, degree=2, ridge=1e-3).fit(X.astype(np.float64), y)
    prediction = model.predict(X_test)
    assert prediction.dtype == np.float32
    assert prediction.shape == (X_test.shape[0],) + y.shape[1:]
    expected = reference.predict(X_test.astype(np.float64))
    assert expected.dtype == np.float64
    # ridge 1e-3 keeps the solve's condition number below about 1e4: float32 Grams give 1e-2
    scale = np.max(np.abs(expected)) + 1
    np.testing.assert_allclose(prediction, expected, atol=1e-2 * scale)


@pytest.mark.parametrize("X_dtype", [np.float32, np.float64])
def test_a_float32_networks_tangent_kernel_predicts_float32(X_dtype):
    net = make_network(3, 32, "tanh", dtype=np.float32, seed=1)
    X, y, X_test = regression(1, dtype=X_dtype)
    model = KernelLeastSquares(kernel=TangentKernel(net), ridge=1e-3).fit(X, y)
    assert model.predict(X_test).dtype == np.float32
    J = net.jacobian(X.astype(np.float32)).astype(np.float64)
    J_test = net.jacobian(X_test.astype(np.float32)).astype(np.float64)
    alpha = np.linalg.solve(J @ J.T + 1e-3 * np.eye(len(X)), y.astype(np.float64))
    np.testing.assert_allclose(model.predict(X_test), J_test @ J.T @ alpha, rtol=1e-3, atol=1e-3)


def test_a_float32_gram_is_truncated_at_float32_rounding():
    """More points (60) than parameters (11): J J^T has rank 11 (its smallest nonzero
    eigenvalue about 1e-4 of the largest) and the float32 Gram's other eigenvalues are
    rounding, about 1e-7 of the largest. Inverting them (a float64 cutoff) gave predictions
    off by about 10; the float32 cutoff gives the least-squares fit in the tangent features,
    J_test J^+ y."""
    net = make_network(3, 2, "sin", dtype=np.float32, seed=2)
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (60, 3)).astype(np.float32)
    y = np.sin(X.sum(axis=1))
    X_test = rng.uniform(-2, 2, (10, 3)).astype(np.float32)
    model = KernelLeastSquares(kernel=TangentKernel(net)).fit(X, y)
    assert model.rank_ == net.num_params
    J, J_test = (net.jacobian(A).astype(np.float64) for A in (X, X_test))
    expected = J_test @ np.linalg.lstsq(J, y, rcond=None)[0]
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_ntk_regressor_predicts_float32_for_float32_points(kernel):
    X, y, X_test = regression(3)
    model = NTKRegressor(kernel=kernel).fit(X, y)
    reference = NTKRegressor(kernel=kernel).fit(X.astype(np.float64), y.astype(np.float64))
    expected = reference.predict(X_test.astype(np.float64), return_std=kernel == "nngp")
    got = model.predict(X_test, return_std=kernel == "nngp")
    for g, e in zip(*((got, expected) if kernel == "nngp" else ((got,), (expected,)))):
        assert g.dtype == np.float32 and e.dtype == np.float64
        np.testing.assert_array_equal(g, e.astype(np.float32))


@PROPERTY
@given(seed=st.integers(0, 2**16), m=st.integers(1, 6), d=st.integers(1, 5), targets=st.sampled_from([0, 1, 3]))
def test_least_squares_solutions_are_float32_for_float32_data(seed, m, d, targets):
    """min_norm_solution, predicted_limit and augment of float32 data: float32, the float64
    computation rounded once; MinNormLeastSquares predicts float32 points in float32."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, d)).astype(np.float32)
    y = rng.standard_normal((m, targets) if targets else m)
    w0 = rng.standard_normal((d, targets) if targets else d)
    for function, args in ((min_norm_solution, (y,)), (predicted_limit, (y, w0))):
        got, expected = function(A, *args), function(A.astype(np.float64), *args)
        assert got.dtype == np.float32 and expected.dtype == np.float64
        np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert augment(A).dtype == np.float32 and augment(A.astype(np.float64)).dtype == np.float64
    model = MinNormLeastSquares(fit_intercept=True).fit(A, y)
    assert model.coef_.dtype == np.float32
    for points in (A, A.astype(np.float64)):  # a float32 fit predicts in float32
        assert model.predict(points).dtype == np.float32
    assert MinNormLeastSquares().fit(A.astype(np.float64), y).predict(A).dtype == np.float64


@pytest.mark.parametrize("method", ["closed_form", "iterate", "flow"])
def test_linearized_training_records_float32_outputs(method):
    """Recorded outputs of LinearizedModel.train and flow are float32 for a float32 network
    (losses and distances float64), and agree with the float64 linearization to float32
    accuracy."""
    X, y, X_test = regression(4, m=6)
    outputs = {}
    for dtype in (np.float32, np.float64):
        model = linearize(make_network(3, 8, "tanh", dtype=dtype, seed=4))
        data = (X.astype(dtype), y.astype(dtype))
        if method == "flow":
            result = model.flow(*data, [0.0, 0.5, 2.0], X_test=X_test.astype(dtype))
        else:
            result = model.train(*data, 0.01, 20, X_test=X_test.astype(dtype), method=method, record_every=5)
        assert result.train_outputs.dtype == result.test_outputs.dtype == dtype
        assert result.losses.dtype == result.distances.dtype == np.float64
        outputs[dtype] = result.train_outputs, result.test_outputs
    for got, expected in zip(outputs[np.float32], outputs[np.float64]):
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_network_training_records_float32_outputs(backend):
    net = make_network(3, 8, "tanh", dtype=np.float32, seed=5)
    X, y, X_test = regression(5, m=6)
    result = net.train(X, y, 0.01, 5, X_test=X_test, backend=backend)
    assert result.test_outputs.dtype == np.float32 and result.losses.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_fitted_tangent_kernel_model_does_not_follow_later_training(dtype):
    """KernelLeastSquares(kernel=TangentKernel(net)) used to evaluate the kernel at whatever
    parameters net had at predict time: after training net its predictions moved (by 0.34 in
    the report) and no longer fitted its own targets. The kernel is a snapshot: predictions
    stay, the fit still interpolates, and live=True follows the network on request."""
    net = make_network(3, 16, "tanh", dtype=dtype, seed=6)
    X, y, X_test = regression(6, m=8, dtype=dtype)
    snapshot = KernelLeastSquares(kernel=TangentKernel(net)).fit(X, y)
    by_network = KernelLeastSquares(kernel=net).fit(X, y)  # as_kernel: a snapshot too
    before = snapshot.predict(X_test), by_network.predict(X_test)
    live = TangentKernel(net, live=True)
    net.train(X, y, 0.01, 50)
    for model, prediction in zip((snapshot, by_network), before):
        np.testing.assert_array_equal(model.predict(X_test), prediction)
        tolerance = 1e-3 if dtype == np.float32 else 1e-8
        np.testing.assert_allclose(model.predict(X), y, atol=tolerance * (1 + np.max(np.abs(y))))
    np.testing.assert_array_equal(live(X_test, X), TangentKernel(net)(X_test, X))
    assert not np.allclose(live(X_test, X), snapshot.kernel_(X_test, X))
    with pytest.raises(TypeError, match="^live: expected a bool"):
        TangentKernel(net, live="yes")


@pytest.mark.parametrize("model", ["shallow", "deep", "linearized", "ensemble"])
def test_a_float32_loss_beyond_float32s_range_is_the_float64_sum(model):
    """Residuals of 1e20 square beyond float32's 3.4e38: the loss is their float64 sum, not inf."""
    X, _, _ = regression(0, m=6)
    y = np.full(6, 1e20, dtype=np.float32)
    network = (widenet.Network(3, [8, 8], "tanh", "ntk", seed=1, dtype=np.float32) if model == "deep" else
               make_network(3, 8, "tanh", "ntk", np.float32, seed=1))
    subject = {"linearized": linearize(network),
               "ensemble": widenet.ShallowEnsemble(2, 3, 8, activation="tanh", parametrization="ntk", seed=1, dtype=np.float32)}.get(
                   model, network)
    outputs = np.asarray(subject.forward(X), dtype=np.float64)
    expected = np.sum((outputs - y.astype(np.float64)) ** 2, axis=-1) / 6
    loss = subject.loss(X, y, loss="mean")
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert np.all(np.isfinite(loss)) and np.all(np.asarray(loss) > 1e40)
