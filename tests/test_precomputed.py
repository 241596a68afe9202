"""kernel="precomputed": KernelLeastSquares and NTKRegressor fitted on the Gram K(X_train, X_train)
and predicting from K(X_test, X_train), as scikit-learn's KernelRidge(kernel="precomputed").

Compared with the same estimators fitted on the points whose Gram it is, and with KernelRidge."""

import numpy as np
import pytest

import widenet
from conftest import sklearn_estimator_checks, snapshot
from widenet.kernels import RBFKernel
from widenet.regression.estimators import KernelLeastSquares
from widenet.regression.ntk_regression import NTKRegressor


def data(m=9, d=3, m_test=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(m)
    return X, y, rng.standard_normal((m_test, d))


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


# -- KernelLeastSquares ------------------------------------------------------------------------

@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_kernel_least_squares_on_a_gram_equals_the_fit_on_its_points(ridge):
    X, y, X_test = data(seed=1)
    Y = np.column_stack([y, np.cos(y)])
    kernel = RBFKernel(0.4)
    on_points = KernelLeastSquares(kernel=kernel, ridge=ridge).fit(X, Y)
    on_gram = KernelLeastSquares(kernel="precomputed", ridge=ridge).fit(kernel(X), Y)
    expected = on_points.predict(X_test)
    np.testing.assert_allclose(on_gram.predict(kernel(X_test, X)), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_gram.dual_coef_, on_points.dual_coef_, rtol=1e-12, atol=1e-14)
    assert on_gram.rank_ == on_points.rank_ and on_gram.n_features_in_ == len(X)
    assert not hasattr(on_gram, "X_fit_") and not hasattr(on_gram, "kernel_")


@pytest.mark.parametrize("ridge", [1e-3, 0.5])
def test_kernel_least_squares_on_a_gram_matches_sklearn_kernel_ridge(ridge):
    KernelRidge = pytest.importorskip("sklearn.kernel_ridge").KernelRidge
    X, y, X_test = data(seed=2)
    gram, cross = widenet.limit_kernel(X, activation="erf"), widenet.limit_kernel(X_test, X, activation="erf")
    ours = KernelLeastSquares(kernel="precomputed", ridge=ridge).fit(gram, y).predict(cross)
    theirs = KernelRidge(alpha=ridge, kernel="precomputed").fit(gram, y).predict(cross)
    assert relative_error(ours, theirs) < 1e-9
    # a 1% error in the ridge is far beyond that tolerance
    other = KernelRidge(alpha=1.01 * ridge, kernel="precomputed").fit(gram, y).predict(cross)
    assert relative_error(ours, other) > 1e-6


def test_a_float32_gram_predicts_in_float32():
    X, y, X_test = data(seed=3)
    kernel = RBFKernel(0.5)
    model = KernelLeastSquares(kernel="precomputed").fit(kernel(X.astype(np.float32)), y)
    prediction = model.predict(kernel(X_test, X))  # a float64 K(X_test, X_train): predicted in the fit's dtype
    assert prediction.dtype == np.float32
    on_points = KernelLeastSquares(kernel=kernel).fit(X.astype(np.float32), y).predict(X_test.astype(np.float32))
    np.testing.assert_allclose(prediction, on_points, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: KernelLeastSquares(kernel="precomputed"),
                                  lambda: NTKRegressor(kernel="precomputed")], ids=["kernel", "ntk"])
def test_bad_grams_are_refused_naming_the_argument(make):
    X, y, X_test = data(seed=4)
    gram, cross = widenet.limit_kernel(X, activation="relu"), widenet.limit_kernel(X_test, X, activation="relu")
    asymmetric = gram.copy()
    asymmetric[0, 1] *= 1.01
    for bad, pattern in [(X, r"X: with kernel='precomputed', expected the square Gram matrix .* got shape \(9, 3\)"),
                         (asymmetric, "X: with kernel='precomputed', expected a symmetric Gram"),
                         (np.where(gram > gram.mean(), np.nan, gram), "X"),
                         (gram[0], "X: expected a 2-D array")]:
        with pytest.raises(ValueError, match=pattern):
            make().fit(bad, y)
    model = make().fit(gram, y)
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 9 features as input: with "
                                         r"kernel='precomputed', X is the Gram matrix K\(X_test, X_train\) of shape "
                                         r"\(m_test, 9\), one column per training point"):
        model.predict(X_test)
    with pytest.raises(ValueError, match="y"):
        make().fit(gram, y[:-1])
    before = snapshot(gram, cross, y)
    model.fit(gram, y).predict(cross)
    for original, copy in zip((gram, cross, y), before):
        np.testing.assert_array_equal(original, copy)


# -- NTKRegressor --------------------------------------------------------------------------------

SETTINGS = dict(activation="erf", parametrization="ntk", bias_var=0.3)
SCHEDULES = [{}, {"ridge": 0.1}, {"steps": 40, "lr": 0.05}, {"steps": 40, "lr": 0.05, "ridge": 0.1, "loss": "half_sum"},
             {"time": 0.7, "loss": "mean"}]


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()) or "limit")
def test_ntk_regressor_on_a_gram_equals_the_fit_on_its_points(kind, schedule):
    X, y, X_test = data(seed=5)
    on_points = NTKRegressor(**SETTINGS, kernel=kind, **schedule).fit(X, y)
    gram = widenet.limit_kernel(X, **SETTINGS, kind=kind)
    on_gram = NTKRegressor(kernel="precomputed", **schedule).fit(gram, y)
    cross = widenet.limit_kernel(X_test, X, **SETTINGS, kind=kind)
    np.testing.assert_allclose(on_gram.predict(cross), on_points.predict(X_test), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_gram.eigenvalues_, on_points.eigenvalues_, rtol=1e-12, atol=1e-14)


def test_ntk_regressor_on_a_gram_matches_sklearn_kernel_ridge():
    KernelRidge = pytest.importorskip("sklearn.kernel_ridge").KernelRidge
    X, y, X_test = data(seed=6)
    gram, cross = widenet.limit_kernel(X, **SETTINGS), widenet.limit_kernel(X_test, X, **SETTINGS)
    ours = NTKRegressor(kernel="precomputed", ridge=0.2).fit(gram, y).predict(cross)
    theirs = KernelRidge(alpha=0.2, kernel="precomputed").fit(gram, y).predict(cross)
    assert relative_error(ours, theirs) < 1e-9
    assert relative_error(ours, KernelRidge(alpha=0.202, kernel="precomputed").fit(gram, y).predict(cross)) > 1e-6


def test_ntk_regressor_on_a_gram_keeps_the_step_bound_and_refuses_what_needs_the_points():
    X, y, X_test = data(seed=7)
    gram, cross = widenet.limit_kernel(X, **SETTINGS), widenet.limit_kernel(X_test, X, **SETTINGS)
    bound = 1.0 / np.linalg.eigvalsh(gram)[-1]
    NTKRegressor(kernel="precomputed", steps=5, lr=0.999 * bound).fit(gram, y)
    with pytest.raises(ValueError, match="^lr: gradient descent on loss='sum' diverges"):
        NTKRegressor(kernel="precomputed", steps=5, lr=1.001 * bound).fit(gram, y)
    values = np.linalg.eigvalsh(gram)
    indefinite = gram - (values[0] + 0.01 * values[-1]) * np.eye(len(X))  # smallest eigenvalue -0.01 l_max
    with pytest.warns(widenet.ConditioningWarning, match="X: the precomputed Gram matrix is not positive semi-definite"):
        NTKRegressor(kernel="precomputed").fit(indefinite, y)
    NTKRegressor(kernel="precomputed").fit(gram - 0.9 * values[0] * np.eye(len(X)), y)  # still PSD: no warning
    model = NTKRegressor(kernel="precomputed").fit(gram, y)
    with pytest.raises(ValueError, match="^return_std: .*kernel='precomputed'"):
        model.predict(cross, return_std=True)
    with pytest.raises(ValueError, match="kernel: expected one of ntk, nngp, precomputed"):
        NTKRegressor(kernel="rbf").fit(X, y)


# -- scikit-learn's checks of pairwise estimators -------------------------------------------------

@sklearn_estimator_checks([KernelLeastSquares(kernel="precomputed", ridge=1e-3), NTKRegressor(kernel="precomputed"),
                           NTKRegressor(kernel="precomputed", time=0.5, loss="mean")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
