"""NTKRegressor's uncertainty: predict(X, return_std=, return_cov=) and sample_y, the Gaussian of the
infinitely wide networks trained as the regressor was fitted (docs/theory.md, section 9).

The expected covariances are computed here independently of widenet's spectral filters: the
trained outputs are an affine map of the initial outputs, ``f(x) = f_0(x) + T_* F (y - g_0(X))``,
with ``F = M^-1 (I - E)`` from scipy's expm or numpy's matrix_power, so their covariance is
``A C A^T`` with ``A = [-T_* F, I]`` and ``C`` the joint NNGP covariance of ``(g_0(X), f_0(x))``;
and at the limit against the textbook Gaussian-process posterior and scikit-learn's
GaussianProcessRegressor."""

import pickle

import numpy as np
import pytest
import scipy.linalg

import widenet
from widenet.regression.ntk_regression import NTKRegressor

SETTINGS = dict(activation="erf", parametrization="ntk", bias_var=0.4, output_bias_var=0.2)
LOSS_SCALE = {"sum": lambda m: 1.0, "mean": lambda m: 1.0 / m, "half_sum": lambda m: 0.5}


def data(m=7, d=3, m_test=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(m)
    return X, y, 1.5 * rng.standard_normal((m_test, d))


def kernels(X, X_test):
    """The NNGP and tangent Grams: train, test-train and test-test."""
    nngp = [widenet.limit_kernel(A, B, **SETTINGS, kind="nngp") for A, B in ((X, None), (X_test, X), (X_test, None))]
    ntk = [widenet.limit_kernel(A, B, **SETTINGS, kind="ntk") for A, B in ((X, None), (X_test, X))]
    return nngp, ntk


def expected_gaussian(kind, X, y, X_test, ridge, loss, time=None, steps=None, lr=None):
    """Mean and covariance of the trained ensemble at X_test, as an affine map of the initial outputs.

    ``kind="ntk"``: the whole network trained, with weight decay ``ridge`` (the initial outputs
    at the training points are ``f_0(X)`` themselves). ``kind="nngp"``: the readout, on outputs
    observed with noise of variance ``ridge`` (``g_0(X) = f_0(X) + noise``)."""
    (K, K_star, K_star_star), (Theta, Theta_star) = kernels(X, X_test)
    m = len(X)
    trained, trained_star = (K, K_star) if kind == "nngp" else (Theta, Theta_star)
    M = trained + ridge * np.eye(m)
    s = LOSS_SCALE[loss](m)
    if steps is not None:
        E = np.linalg.matrix_power(np.eye(m) - 2 * lr * s * M, steps)
    elif time is not None:
        E = scipy.linalg.expm(-2 * s * time * M)
    else:
        E = np.zeros((m, m))
    F = np.linalg.solve(M, np.eye(m) - E)
    initial = K + ridge * np.eye(m) if kind == "nngp" else K  # the covariance of g_0(X)
    C = np.block([[initial, K_star.T], [K_star, K_star_star]])
    A = np.hstack([-trained_star @ F, np.eye(len(X_test))])
    return trained_star @ F @ y, A @ C @ A.T, np.abs(K_star_star).max()


SCHEDULES = {
    "limit": dict(loss="sum"),
    "time": dict(time=0.6, loss="mean"),
    "steps": dict(steps=30, loss="half_sum"),
}


def fitted(kind, schedule, ridge, X, y):
    """The regressor for the schedule; steps take half the largest stable step."""
    params = dict(SCHEDULES[schedule])
    if schedule == "steps":
        largest = np.linalg.eigvalsh(widenet.limit_kernel(X, **SETTINGS, kind=kind))[-1] + ridge
        params["lr"] = 0.5 / (LOSS_SCALE[params["loss"]](len(X)) * largest)
    return NTKRegressor(**SETTINGS, kernel=kind, ridge=ridge, **params).fit(X, y), params


def assert_close_at(actual, expected, scale, rtol=1e-10):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_covariance_is_that_of_the_trained_ensemble(kind, schedule, ridge):
    X, y, X_test = data(seed=1)
    model, params = fitted(kind, schedule, ridge, X, y)
    mean, cov, scale = expected_gaussian(kind, X, y, X_test, ridge, **params)
    predicted, covariance = model.predict(X_test, return_cov=True)
    assert_close_at(predicted, mean, np.abs(mean).max())
    assert_close_at(covariance, cov, scale)
    assert np.abs(cov).max() > 1e-3 * scale  # the covariance is not negligible at these points
    _, std = model.predict(X_test, return_std=True)
    assert_close_at(std**2, np.diag(cov), scale)
    # 1% off in the checked quantity, or in the schedule's time or step, is far beyond the tolerance
    with pytest.raises(AssertionError):
        assert_close_at(covariance, 1.01 * cov, scale)
    if schedule != "limit":
        name = "time" if schedule == "time" else "lr"
        _, other, _ = expected_gaussian(kind, X, y, X_test, ridge, **{**params, name: 1.01 * params[name]})
        with pytest.raises(AssertionError):
            assert_close_at(covariance, other, scale)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_nngp_at_the_limit_is_the_gaussian_process_posterior(ridge):
    X, y, X_test = data(seed=2)
    (K, K_star, K_star_star), _ = kernels(X, X_test)
    noisy = K + ridge * np.eye(len(X))
    mean = K_star @ np.linalg.solve(noisy, y)
    cov = K_star_star - K_star @ np.linalg.solve(noisy, K_star.T)
    predicted, covariance = NTKRegressor(**SETTINGS, kernel="nngp", ridge=ridge).fit(X, y).predict(X_test,
                                                                                                   return_cov=True)
    scale = np.abs(K_star_star).max()
    assert_close_at(predicted, mean, np.abs(mean).max())
    assert_close_at(covariance, cov, scale)
    with pytest.raises(AssertionError):
        assert_close_at(covariance, 1.01 * cov, scale)


def nngp_for_sklearn(x, z, gamma=1.0):
    """The NNGP of SETTINGS at one pair of points (gamma: PairwiseKernel's, unused)."""
    return float(widenet.limit_kernel(x[None, :], z[None, :], **SETTINGS, kind="nngp")[0, 0])


def test_nngp_at_the_limit_matches_sklearn_gaussian_process_regressor():
    gp = pytest.importorskip("sklearn.gaussian_process")
    from sklearn.gaussian_process.kernels import PairwiseKernel

    X, y, X_test = data(seed=3)
    Y = np.column_stack([y, np.cos(3 * y)])
    ridge = 0.01
    fixed = PairwiseKernel(metric=nngp_for_sklearn, gamma_bounds="fixed")
    theirs = gp.GaussianProcessRegressor(kernel=fixed, alpha=ridge, optimizer=None).fit(X, Y)
    ours = NTKRegressor(**SETTINGS, kernel="nngp", ridge=ridge).fit(X, Y)
    their_mean, their_cov = theirs.predict(X_test, return_cov=True)
    our_mean, our_cov = ours.predict(X_test, return_cov=True)
    assert our_cov.shape == their_cov.shape == (5, 5, 2)  # scikit-learn's layout for several targets
    scale = np.abs(their_cov).max()
    assert_close_at(our_mean, their_mean, np.abs(their_mean).max(), rtol=1e-9)
    assert_close_at(our_cov, their_cov, scale, rtol=1e-9)
    _, their_std = theirs.predict(X_test, return_std=True)
    _, our_std = ours.predict(X_test, return_std=True)
    assert our_std.shape == their_std.shape == (5, 2)
    assert_close_at(our_std, their_std, their_std.max(), rtol=1e-8)
    with pytest.raises(AssertionError):
        assert_close_at(our_cov, 1.01 * their_cov, scale, rtol=1e-9)


def test_shapes_and_dtypes_follow_the_mean():
    X, y, X_test = data(seed=4)
    Y = np.column_stack([y, 2 * y, -y])
    model = NTKRegressor(**SETTINGS, time=1.0).fit(X, Y)
    mean, std = model.predict(X_test, return_std=True)
    _, cov = model.predict(X_test, return_cov=True)
    single_mean, single_cov = NTKRegressor(**SETTINGS, time=1.0).fit(X, y).predict(X_test, return_cov=True)
    assert mean.shape == std.shape == (5, 3) and cov.shape == (5, 5, 3) and single_cov.shape == (5, 5)
    for column in range(3):
        np.testing.assert_array_equal(cov[:, :, column], single_cov)
        np.testing.assert_allclose(std[:, column] ** 2, np.diag(single_cov), rtol=1e-12)
    column = NTKRegressor(**SETTINGS, time=1.0).fit(X, y[:, None]).predict(X_test, return_cov=True)[1]
    assert column.shape == (5, 5, 1)
    low = NTKRegressor(**SETTINGS, time=1.0).fit(X.astype(np.float32), y).predict(X_test, return_std=True)
    assert low[0].dtype == low[1].dtype == np.float32
    assert np.all(np.isfinite(std)) and np.all(std >= 0)


def test_the_variances_of_many_points_are_the_diagonal_of_their_covariance():
    X, y, _ = data(seed=5)
    X_test = np.random.default_rng(5).standard_normal((300, 3))  # more than one block of points
    model = NTKRegressor(**SETTINGS, steps=20, lr=0.01).fit(X, y)
    _, std = model.predict(X_test, return_std=True)
    _, cov = model.predict(X_test, return_cov=True)
    np.testing.assert_allclose(std**2, np.diag(cov), rtol=1e-12, atol=1e-14)


def test_the_uncertainty_survives_pickling():
    X, y, X_test = data(seed=6)
    model = NTKRegressor(**SETTINGS, time=2.0).fit(X, y)
    _, cov = model.predict(X_test, return_cov=True)  # the ensemble is made and kept
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X_test, return_cov=True)[1], cov)


def within_standard_errors(samples, mean, cov, count=4.0):
    """Whether the samples' mean and covariance lie within ``count`` standard errors of (mean, cov)."""
    n = samples.shape[0]
    variance = np.diag(cov)
    mean_ok = np.all(np.abs(samples.mean(axis=0) - mean) <= count * np.sqrt(variance / n))
    cov_error = np.sqrt((np.outer(variance, variance) + cov**2) / n)
    cov_ok = np.all(np.abs(np.cov(samples, rowvar=False) - cov) <= count * cov_error)
    return bool(mean_ok and cov_ok)


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_samples_follow_the_predicted_gaussian(kind):
    X, y, _ = data(seed=7)
    X_test = X[:3] + 0.2 * np.random.default_rng(7).standard_normal((3, 3))  # near the data: mean above std
    model = NTKRegressor(**SETTINGS, kernel=kind, time=2.0).fit(X, 2.0 + y)
    mean, cov = model.predict(X_test, return_cov=True)
    n = 10**6
    samples = model.sample_y(X_test, n_samples=n, random_state=11)
    assert samples.shape == (3, n)
    assert within_standard_errors(samples.T, mean, cov)
    # 1% off in the covariance, or in the mean, is many standard errors away
    assert not within_standard_errors(samples.T, mean, 1.01 * cov)
    assert np.max(np.abs(mean) / np.sqrt(np.diag(cov))) > 1.0  # so that 1% of the mean shows
    assert not within_standard_errors(samples.T, 1.01 * mean, cov)


def test_sample_y_shapes_seeds_and_arguments():
    X, y, X_test = data(seed=8)
    Y = np.column_stack([y, -y])
    model = NTKRegressor(**SETTINGS, steps=10, lr=0.02).fit(X, Y)
    samples = model.sample_y(X_test, n_samples=4, random_state=3)
    assert samples.shape == (5, 2, 4)
    np.testing.assert_array_equal(samples, model.sample_y(X_test, n_samples=4, random_state=3))
    assert not np.array_equal(samples, model.sample_y(X_test, n_samples=4, random_state=4))
    assert not np.array_equal(samples[:, 0], samples[:, 1])  # the target columns are drawn independently
    assert model.sample_y(X_test, random_state=np.random.default_rng(0)).shape == (5, 2, 1)
    assert model.sample_y(X_test, random_state=np.random.RandomState(0)).shape == (5, 2, 1)
    assert NTKRegressor(**SETTINGS).fit(X, y).sample_y(X_test, 2, None).shape == (5, 2)
    sklearn_gp = pytest.importorskip("sklearn.gaussian_process")
    theirs = sklearn_gp.GaussianProcessRegressor().fit(X, Y).sample_y(X_test, n_samples=4)
    assert theirs.shape == samples.shape
    for error, pattern, call in [
        (ValueError, "^n_samples", lambda: model.sample_y(X_test, n_samples=0)),
        (TypeError, "^random_state", lambda: model.sample_y(X_test, random_state="seed")),
        (ValueError, "^random_state", lambda: model.sample_y(X_test, random_state=-1)),
        (ValueError, "X has 2 features", lambda: model.sample_y(X_test[:, :2])),
    ]:
        with pytest.raises(error, match=pattern):
            call()


def test_a_precomputed_fit_refuses_the_uncertainty_by_name():
    X, y, X_test = data(seed=9)
    gram, cross = widenet.limit_kernel(X, **SETTINGS), widenet.limit_kernel(X_test, X, **SETTINGS)
    model = NTKRegressor(kernel="precomputed").fit(gram, y)
    for name, call in [("return_std", lambda: model.predict(cross, return_std=True)),
                       ("return_cov", lambda: model.predict(cross, return_cov=True)),
                       ("sample_y", lambda: model.sample_y(cross))]:
        with pytest.raises(ValueError, match=f"^{name}: the uncertainty needs the kernel at the test points"):
            call()


def test_unfitted_uncertainty_raises_not_fitted():
    X, _, _ = data(seed=10)
    for call in (lambda m: m.predict(X, return_cov=True), lambda m: m.sample_y(X)):
        with pytest.raises(widenet.NotFittedError, match="fit"):
            call(NTKRegressor())
