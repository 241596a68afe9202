"""Kernel least squares (docs/theory.md, section 2) and the scikit-learn-style estimators.

The kernels of :mod:`widenet.kernels` (C++, numpy twin and a plain double loop), the
estimator (11.2.9)-(11.2.10) against pinv/solve on directly computed Gram matrices and
against scikit-learn's KernelRidge, Remark 11.4 (GD in feature space), and the estimator
conventions (scikit-learn's own checks when it is installed)."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_close, make_network, sklearn_estimator_checks, snapshot
from widenet.regression.estimators import KERNEL_NAMES, KernelLeastSquares, MinNormLeastSquares, NotFittedError
from widenet.kernels.feature_maps import polynomial_features
from widenet.kernels import (CallableKernel, LaplaceKernel, LinearKernel, PolynomialKernel, RBFKernel,
                             TangentKernel)
from widenet.regression.least_squares import gradient_descent, max_step

# -- kernels: C++, numpy and the definition, pair by pair ----------------------------------

CLASSIC = {  # kernel object, K(x, z) straight from Example 11.10
    "linear": (LinearKernel(), lambda x, z: x @ z),
    "poly3": (PolynomialKernel(degree=3, coef0=1.0, gamma=0.5), lambda x, z: (0.5 * (x @ z) + 1.0) ** 3),
    "poly2-homogeneous": (PolynomialKernel(degree=2, coef0=0.0), lambda x, z: (x @ z) ** 2),
    "rbf": (RBFKernel(0.3), lambda x, z: np.exp(-0.3 * np.sum((x - z) ** 2))),
    "laplace": (LaplaceKernel(0.7), lambda x, z: np.exp(-0.7 * np.sqrt(np.sum((x - z) ** 2)))),
}


def pairwise(function, X, Z):
    """``function(x, z)`` for every pair of rows, in a plain double loop (float64)."""
    X, Z = np.asarray(X, np.float64), np.asarray(Z, np.float64)
    return np.array([[function(x, z) for z in Z] for x in X])


@pytest.fixture(params=sorted(CLASSIC))
def classic(request):
    return CLASSIC[request.param]


def kernel_data(dtype, m1=7, m2=5, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m1, d)).astype(dtype), rng.standard_normal((m2, d)).astype(dtype)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_classic_gram_matches_the_definition(classic, backend, dtype):
    kernel, definition = classic
    X1, X2 = kernel_data(dtype)
    for A, B in ((X1, X2), (X1, X1)):
        gram = kernel(A, None if B is A else B, backend=backend)
        assert gram.dtype == dtype and gram.shape == (A.shape[0], B.shape[0])
        assert_close(gram, pairwise(definition, A, B), dtype, size=A.shape[1])


def test_cpp_and_numpy_backends_agree(classic, dtype):
    kernel, _ = classic
    X1, X2 = kernel_data(dtype, seed=1)
    assert_close(kernel(X1, X2), kernel(X1, X2, backend="numpy"), dtype, size=X1.shape[1])
    assert_close(kernel(X1), kernel(X1, backend="numpy"), dtype, size=X1.shape[1])
    assert_close(kernel(X2, X1), kernel(X1, X2).T, dtype, size=X1.shape[1])


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_gram_is_symmetric_positive_semidefinite(classic, backend, dtype):
    kernel, _ = classic
    X, _ = kernel_data(dtype, m1=12, seed=2)
    G = kernel(X, backend=backend).astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(G, G.T, rtol=tol, atol=tol * np.abs(G).max())
    eigenvalues = np.linalg.eigvalsh((G + G.T) / 2)
    assert eigenvalues[0] >= -tol * X.shape[0] * eigenvalues[-1]


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_diag_is_the_diagonal_of_the_gram(classic, backend, dtype):
    kernel, _ = classic
    X, _ = kernel_data(dtype, seed=3)
    diagonal = kernel.diag(X, backend=backend)
    assert diagonal.shape == (X.shape[0],) and diagonal.dtype == dtype
    assert_close(diagonal, np.diag(kernel(X, backend=backend)), dtype, size=X.shape[1])


def test_callable_kernel_through_the_same_interface(dtype):
    function = lambda A, B: (A @ B.T + 2.0) ** 2  # noqa: E731
    kernel = CallableKernel(function)
    X1, X2 = kernel_data(dtype, seed=4)
    definition = lambda x, z: (x @ z + 2.0) ** 2  # noqa: E731
    assert_close(kernel(X1, X2), pairwise(definition, X1, X2), dtype, size=X1.shape[1])
    assert_close(kernel.diag(X1), [definition(x, x) for x in X1.astype(np.float64)], dtype, size=X1.shape[1])


def test_tangent_kernel_through_the_same_interface(dtype):
    net = make_network(3, 16, "tanh", dtype=dtype, seed=5)
    kernel = TangentKernel(net)
    X1, X2 = kernel_data(dtype, seed=5)
    J1, J2 = net.jacobian(X1, backend="numpy"), net.jacobian(X2, backend="numpy")  # (11.3.4) by definition
    for backend in ("cpp", "numpy"):
        assert_close(kernel(X1, X2, backend=backend), J1 @ J2.T, dtype, size=net.num_params)
        assert_close(kernel(X1, backend=backend), J1 @ J1.T, dtype, size=net.num_params)
        assert_close(kernel.diag(X1, backend=backend), np.sum(J1 * J1, axis=1), dtype, size=net.num_params)


# -- KernelLeastSquares: the estimator (11.2.9)-(11.2.10) -----------------------------------

def regression_data(m=12, d=3, m_test=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(m)
    return X, y, rng.standard_normal((m_test, d))


def rbf_gram(A, B, gamma):
    return pairwise(lambda x, z: np.exp(-gamma * np.sum((x - z) ** 2)), A, B)


def test_interpolates_when_the_gram_is_nonsingular():
    X, y, X_test = regression_data()
    model = KernelLeastSquares(kernel="rbf", gamma=0.5).fit(X, y)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-9)
    G = rbf_gram(X, X, 0.5)
    np.testing.assert_allclose(model.dual_coef_, np.linalg.solve(G, y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.predict(X_test), rbf_gram(X_test, X, 0.5) @ np.linalg.solve(G, y),
                               rtol=1e-9, atol=1e-11)
    assert model.rank_ == X.shape[0]


def assert_min_norm_alpha(model, G, y):
    """``alpha = G^+ y``; the tolerance of pinv sits between rounding and the spectrum."""
    expected = np.linalg.pinv(G, rcond=1e-10, hermitian=True) @ y
    np.testing.assert_allclose(model.dual_coef_, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_duplicated_points_give_the_min_norm_alpha():
    X, y, X_test = regression_data(m=8, seed=1)
    X = np.vstack([X, X[:3]])  # three points twice, with other targets
    y = np.concatenate([y, y[:3] + 1.0])
    model = KernelLeastSquares(kernel="rbf", gamma=0.5).fit(X, y)
    G = rbf_gram(X, X, 0.5)
    assert np.linalg.matrix_rank(G) == 8 and model.rank_ == 8
    assert_min_norm_alpha(model, G, y)
    # duplicated points are fitted by the mean of their targets
    np.testing.assert_allclose(model.predict(X[:3]), y[:3] + 0.5, atol=1e-9)
    np.testing.assert_allclose(model.predict(X_test), rbf_gram(X_test, X, 0.5) @ model.dual_coef_, rtol=1e-10)


def test_low_degree_polynomial_with_more_points_than_features():
    X, y, X_test = regression_data(m=15, d=2, seed=2)
    model = KernelLeastSquares(kernel="polynomial", degree=1, coef0=1.0).fit(X, y)
    G = pairwise(lambda x, z: 1.0 + x @ z, X, X)  # rank d + 1 = 3
    assert model.rank_ == 3
    assert_min_norm_alpha(model, G, y)
    # the predictor is the least-squares affine fit with the min-norm (b, w) (Remark 11.1)
    A = np.hstack([np.ones((15, 1)), X])
    b_w = np.linalg.pinv(A) @ y
    np.testing.assert_allclose(model.predict(X_test), b_w[0] + X_test @ b_w[1:], rtol=1e-9, atol=1e-12)


def test_linear_kernel_matches_min_norm_least_squares():
    X, y, X_test = regression_data(m=4, d=7, seed=3)  # underdetermined: G nonsingular, w* = A^+ y
    kernel_model = KernelLeastSquares(kernel="linear").fit(X, y)
    linear_model = MinNormLeastSquares().fit(X, y)
    np.testing.assert_allclose(X.T @ kernel_model.dual_coef_, np.linalg.pinv(X) @ y, rtol=1e-9)
    np.testing.assert_allclose(kernel_model.predict(X_test), linear_model.predict(X_test), rtol=1e-9, atol=1e-12)


def test_ridge_solves_the_shifted_system():
    X, y, X_test = regression_data(seed=4)
    X = np.vstack([X, X[:2]])  # singular G, made regular by the ridge
    y = np.concatenate([y, -y[:2]])
    model = KernelLeastSquares(kernel="rbf", gamma=0.8, ridge=0.1).fit(X, y)
    G = rbf_gram(X, X, 0.8)
    alpha = np.linalg.solve(G + 0.1 * np.eye(len(X)), y)
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=1e-10)
    np.testing.assert_allclose(model.predict(X_test), rbf_gram(X_test, X, 0.8) @ alpha, rtol=1e-10, atol=1e-12)


def test_several_targets_are_fitted_column_by_column():
    X, y, X_test = regression_data(seed=5)
    Y = np.column_stack([y, y**2, -3 * y])
    for make in (lambda: KernelLeastSquares(kernel="laplace", gamma=0.4),
                 lambda: KernelLeastSquares(kernel="polynomial", degree=2, ridge=0.01),
                 lambda: MinNormLeastSquares(fit_intercept=True)):
        model = make().fit(X, Y)
        prediction = model.predict(X_test)
        assert prediction.shape == (5, 3)
        for j in range(3):
            np.testing.assert_allclose(prediction[:, j], make().fit(X, Y[:, j]).predict(X_test), rtol=1e-10,
                                       atol=1e-12)
    assert KernelLeastSquares().fit(X, Y[:, :1]).predict(X_test).shape == (5, 1)


def test_kernel_objects_callables_and_tangent_kernels():
    X, y, X_test = regression_data(seed=6)
    by_name = KernelLeastSquares(kernel="polynomial", degree=2, coef0=0.5, gamma=0.3).fit(X, y)
    by_object = KernelLeastSquares(kernel=PolynomialKernel(degree=2, coef0=0.5, gamma=0.3)).fit(X, y)
    by_callable = KernelLeastSquares(kernel=lambda A, B: (0.3 * A @ B.T + 0.5) ** 2).fit(X, y)
    for model in (by_object, by_callable):
        np.testing.assert_allclose(model.predict(X_test), by_name.predict(X_test), rtol=1e-9, atol=1e-12)
    assert isinstance(by_callable.kernel_, CallableKernel)
    assert by_object.kernel_ is by_object.kernel

    net = make_network(3, 64, "tanh", seed=6)
    tangent = KernelLeastSquares(kernel=TangentKernel(net)).fit(X, y)
    J, J_test = net.jacobian(X, backend="numpy"), net.jacobian(X_test, backend="numpy")
    alpha = np.linalg.lstsq(J @ J.T, y, rcond=None)[0]
    np.testing.assert_allclose(tangent.predict(X_test), J_test @ J.T @ alpha, rtol=1e-7, atol=1e-9)


def test_default_gamma_is_one_over_features_for_rbf():
    X, y, X_test = regression_data(d=4, seed=7)
    model = KernelLeastSquares().fit(X, y)
    assert isinstance(model.kernel_, RBFKernel) and model.kernel_.gamma == 0.25
    np.testing.assert_allclose(model.predict(X_test), KernelLeastSquares(gamma=0.25).fit(X, y).predict(X_test))
    assert set(KERNEL_NAMES) == {"linear", "polynomial", "rbf", "laplace"}
    for name in KERNEL_NAMES:
        KernelLeastSquares(kernel=name).fit(X, y).predict(X_test)


def test_float32_inputs_are_solved_in_float64_and_predicted_in_float32():
    X, y, X_test = regression_data(seed=8)
    model = KernelLeastSquares(gamma=0.5).fit(X.astype(np.float32), y.astype(np.float32))
    assert model.dual_coef_.dtype == np.float64 and model.X_fit_.dtype == np.float32
    reference = KernelLeastSquares(gamma=0.5).fit(X.astype(np.float32).astype(np.float64), y.astype(np.float32))
    prediction = model.predict(X_test.astype(np.float32))
    assert prediction.dtype == np.float32
    # the float32 Gram of a well-conditioned problem (condition number about 30)
    np.testing.assert_allclose(prediction, reference.predict(X_test.astype(np.float32)), rtol=1e-4, atol=1e-5)


# -- Remark 11.4: GD in feature space ---------------------------------------------------------

def test_gradient_descent_in_feature_space_is_the_kernel_estimator_plus_the_kernel_part():
    rng = np.random.default_rng(9)
    X, X_test = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    y = rng.standard_normal(5)
    Phi, Phi_test = polynomial_features(X, 2), polynomial_features(X_test, 2)  # 10 features, rank 5
    kernel = KernelLeastSquares(kernel="polynomial", degree=2, coef0=1.0).fit(X, y)
    P_ker = np.eye(Phi.shape[1]) - np.linalg.pinv(Phi) @ Phi  # projector onto H~^perp

    def gd_predictions(w0, points):
        result = gradient_descent(Phi, y, w0, max_step(Phi), steps=4000, record_every=4000)
        return points @ result.w

    w0 = rng.standard_normal(Phi.shape[1])
    assert np.linalg.norm(P_ker @ w0) > 0.5
    # (11.2.3): the kernel least-squares estimator plus <phi(x), w^_0>
    np.testing.assert_allclose(gd_predictions(w0, Phi_test), kernel.predict(X_test) + Phi_test @ P_ker @ w0,
                               atol=1e-9)
    # from w0 = 0 or w0 in H~ = span{phi(x_j)}: the kernel estimator itself
    for start in (np.zeros(Phi.shape[1]), Phi.T @ rng.standard_normal(5)):
        np.testing.assert_allclose(gd_predictions(start, Phi_test), kernel.predict(X_test), atol=1e-9)
    # on the set (11.2.4), e.g. at the training points, independent of w0
    np.testing.assert_allclose(gd_predictions(w0, Phi), kernel.predict(X), atol=1e-9)
    np.testing.assert_allclose(kernel.predict(X), y, atol=1e-9)


# -- MinNormLeastSquares ---------------------------------------------------------------------

def test_min_norm_least_squares_coefficients():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((4, 6))  # underdetermined: many interpolants
    y = rng.standard_normal(4)
    model = MinNormLeastSquares().fit(X, y)
    np.testing.assert_allclose(model.coef_, np.linalg.pinv(X) @ y, rtol=1e-10)
    assert model.intercept_ == 0.0
    with_bias = MinNormLeastSquares(fit_intercept=True).fit(X, y)
    b_w = np.linalg.pinv(np.hstack([np.ones((4, 1)), X])) @ y  # Remark 11.1, bias in the norm
    assert with_bias.intercept_ == pytest.approx(b_w[0], rel=1e-10)
    np.testing.assert_allclose(with_bias.coef_, b_w[1:], rtol=1e-10)
    Y = np.column_stack([y, 2 * y])
    several = MinNormLeastSquares(fit_intercept=True).fit(X, Y)
    assert several.coef_.shape == (2, 6) and several.intercept_.shape == (2,)
    np.testing.assert_allclose(several.predict(X), Y, atol=1e-10)


def test_score_is_the_coefficient_of_determination():
    X, y, _ = regression_data(m=30, seed=11)
    model = MinNormLeastSquares(fit_intercept=True).fit(X, y)
    residual = y - model.predict(X)
    assert model.score(X, y) == pytest.approx(1 - residual @ residual / np.sum((y - y.mean()) ** 2), rel=1e-12)
    Y = np.column_stack([y, np.cos(X[:, 0])])
    model.fit(X, Y)
    residual = Y - model.predict(X)
    per_column = 1 - np.sum(residual**2, axis=0) / np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    assert model.score(X, Y) == pytest.approx(per_column.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="y"):
        model.score(X, y)  # one column for a model of two
    one = MinNormLeastSquares(fit_intercept=True).fit(X, y)
    assert one.score(X, y[:, None]) == pytest.approx(one.score(X, y), rel=1e-15)
    # constant targets (scikit-learn's convention): 1 if predicted exactly, else 0
    zeros = np.zeros(30)
    assert MinNormLeastSquares().fit(X, zeros).score(X, zeros) == 1.0
    assert MinNormLeastSquares().fit(X, y).score(X, zeros) == 0.0


# -- conventions -----------------------------------------------------------------------------

ESTIMATORS = [MinNormLeastSquares(), MinNormLeastSquares(fit_intercept=True), KernelLeastSquares(),
              KernelLeastSquares(kernel="polynomial", degree=2, coef0=0.5, ridge=1e-3),
              KernelLeastSquares(kernel="laplace", gamma=0.5)]


@pytest.fixture(params=ESTIMATORS, ids=repr)
def model(request):
    """A new, unfitted copy of each estimator of :data:`ESTIMATORS`."""
    return type(request.param)(**request.param.get_params())


def test_get_params_and_set_params_round_trip():
    model = KernelLeastSquares(kernel="polynomial", degree=4)
    assert model.get_params() == {"kernel": "polynomial", "gamma": None, "degree": 4, "coef0": 1.0, "ridge": 0.0}
    assert model.set_params(gamma=0.5, ridge=1e-2) is model
    assert model.gamma == 0.5 and model.ridge == 1e-2
    again = KernelLeastSquares(**model.get_params())
    assert again.get_params() == model.get_params()
    assert MinNormLeastSquares(fit_intercept=True).get_params(deep=False) == {"fit_intercept": True}
    with pytest.raises(ValueError, match="alpha"):
        model.set_params(alpha=1.0)
    assert repr(model) == "KernelLeastSquares(degree=4, gamma=0.5, kernel='polynomial', ridge=0.01)"
    assert repr(MinNormLeastSquares()) == "MinNormLeastSquares()"


def test_init_only_stores_hyper_parameters():
    model = KernelLeastSquares(kernel=12, gamma=-1.0, degree="x", ridge=-5)  # not checked until fit
    assert vars(model) == {"kernel": 12, "gamma": -1.0, "degree": "x", "coef0": 1.0, "ridge": -5}


def test_fit_returns_self_and_sets_trailing_underscore_attributes(model):
    X, y, _ = regression_data(seed=12)
    fitted = model.fit(X, y)
    assert fitted is model and model.n_features_in_ == 3
    names = ("coef_", "intercept_") if isinstance(model, MinNormLeastSquares) else \
        ("dual_coef_", "X_fit_", "kernel_", "rank_")
    for name in names:
        assert hasattr(model, name)
    assert set(model.get_params()) <= set(vars(model))


def test_using_an_unfitted_estimator_raises(model):
    X, y, _ = regression_data(seed=13)
    for method in (lambda: model.predict(X), lambda: model.score(X, y)):
        with pytest.raises(NotFittedError, match="fit"):
            method()
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_bad_inputs_raise_naming_the_argument():
    X, y, _ = regression_data(seed=14)
    model = KernelLeastSquares()
    cases = [
        (ValueError, "X", lambda: model.fit(X[:, 0], y)),
        (ValueError, "X", lambda: model.fit(X[:0], y[:0])),
        (ValueError, "X", lambda: model.fit(np.where(X > 1, np.nan, X), y)),
        (TypeError, "X", lambda: model.fit(X.astype(complex).astype(str), y)),
        (ValueError, "y", lambda: model.fit(X, y[:-1])),
        (ValueError, "y", lambda: model.fit(X, None)),
        (ValueError, "y", lambda: model.fit(X, np.full_like(y, np.inf))),
        (ValueError, "y", lambda: model.fit(X, y[:, None, None])),
        (ValueError, "kernel", lambda: KernelLeastSquares(kernel="sigmoid").fit(X, y)),
        (TypeError, "kernel", lambda: KernelLeastSquares(kernel=3).fit(X, y)),
        (ValueError, "gamma", lambda: KernelLeastSquares(gamma=-1.0).fit(X, y)),
        (ValueError, "degree", lambda: KernelLeastSquares(kernel="polynomial", degree=0).fit(X, y)),
        (ValueError, "coef0", lambda: KernelLeastSquares(kernel="polynomial", coef0=-1.0).fit(X, y)),
        (ValueError, "ridge", lambda: KernelLeastSquares(ridge=-1.0).fit(X, y)),
        (TypeError, "ridge", lambda: KernelLeastSquares(ridge="big").fit(X, y)),
        (TypeError, "fit_intercept", lambda: MinNormLeastSquares(fit_intercept="yes").fit(X, y)),
        (ValueError, "X has 2 features, but KernelLeastSquares is expecting 3",
         lambda: KernelLeastSquares().fit(X, y).predict(X[:, :2])),
        (ValueError, "Reshape", lambda: MinNormLeastSquares().fit(X, y).predict(X[0])),
    ]
    for error, pattern, call in cases:
        with pytest.raises(error, match=pattern):
            call()


def test_inputs_are_not_modified(model):
    X, y, X_test = regression_data(seed=15)
    before = snapshot(X, y, X_test)
    params = dict(model.get_params())
    model.fit(X, y).predict(X_test)
    model.score(X, y)
    for original, copy in zip((X, y, X_test), before):
        np.testing.assert_array_equal(original, copy)
    assert model.get_params() == params
    if isinstance(model, KernelLeastSquares):
        assert model.X_fit_ is not X  # a copy: changing X later does not change the model
        X[0, 0] += 1.0
        np.testing.assert_array_equal(model.X_fit_, before[0])


# -- with scikit-learn -------------------------------------------------------------------------
# The estimators declare their properties through __sklearn_tags__ (scikit-learn >= 1.6).
def require_sklearn():
    pytest.importorskip("sklearn", minversion="1.6")


def test_clone_and_pipeline_tools():
    require_sklearn()
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, cross_val_score

    model = KernelLeastSquares(kernel="polynomial", degree=2, ridge=0.1)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    X, y, _ = regression_data(m=40, d=2, seed=16)
    search = GridSearchCV(KernelLeastSquares(), {"gamma": [0.1, 1.0], "ridge": [1e-3, 1e-1]}, cv=3).fit(X, y)
    assert set(search.best_params_) == {"gamma", "ridge"}
    scores = cross_val_score(MinNormLeastSquares(fit_intercept=True), X, y, cv=4)
    assert scores.shape == (4,)


def test_score_matches_sklearn_r2():
    require_sklearn()
    from sklearn.metrics import r2_score

    X, y, X_test = regression_data(m=20, seed=17)
    Y = np.column_stack([y, np.cos(y)])
    model = KernelLeastSquares(ridge=0.5).fit(X, Y)
    assert model.score(X, Y) == pytest.approx(r2_score(Y, model.predict(X)), rel=1e-12)
    y_test = np.sin(X_test.sum(axis=1))
    model.fit(X, y)
    assert model.score(X_test, y_test) == pytest.approx(r2_score(y_test, model.predict(X_test)), rel=1e-12)


@pytest.mark.parametrize("kernel, params, d", [
    ("rbf", {"gamma": 0.4}, 3),
    ("polynomial", {"gamma": 0.5, "degree": 3, "coef0": 1.0}, 3),
    ("linear", {}, 8),  # m = 6 < d: a nonsingular Gram
    ("laplace", {"gamma": 0.6}, 1),  # sklearn's "laplacian" uses |x - z|_1: equal in one dimension
])
@pytest.mark.parametrize("ridge", [0.0, 1e-10])
def test_matches_sklearn_kernel_ridge(kernel, params, d, ridge):
    require_sklearn()
    from sklearn.kernel_ridge import KernelRidge

    rng = np.random.default_rng(18)
    m = 6 if kernel == "linear" else 15
    X = np.linspace(-2, 2, m)[:, None] if d == 1 else rng.standard_normal((m, d))
    y, X_test = np.cos(X.sum(axis=1)), rng.standard_normal((7, d))
    names = {"polynomial": "poly", "laplace": "laplacian"}
    theirs = KernelRidge(alpha=1e-10, kernel=names.get(kernel, kernel), **params).fit(X, y)
    ours = KernelLeastSquares(kernel=kernel, ridge=ridge, **params).fit(X, y)
    expected = theirs.predict(X_test)
    np.testing.assert_allclose(ours.predict(X_test), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


# every estimator of ESTIMATORS but the Laplace one (its kernel is covered above; the checks
# take ~1 s per kernel estimator)
CHECKED = [estimator for estimator in ESTIMATORS if estimator.get_params().get("kernel") != "laplace"]


@sklearn_estimator_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_the_library_does_not_import_sklearn():
    code = ("import sys; sys.modules['sklearn'] = None; import numpy as np; import widenet.regression.estimators as e; "
            "X = np.arange(6.0).reshape(3, 2); e.KernelLeastSquares().fit(X, X[:, 0]).predict(X); "
            "e.MinNormLeastSquares().fit(X, X[:, 0]).score(X, X[:, 0]); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
