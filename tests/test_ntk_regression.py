"""NTKRegressor: kernel regression with the infinite-width kernels, after k GD steps or in
the limit (docs/theory.md, sections 3, 5 and 6: (11.5.9), Remark 11.24
corrected, Proposition 11.28).

Every expected value is computed here independently: Gram matrices from
widenet.limit_kernel solved by numpy (lstsq, pinv, solve), gradient descent as a plain
loop, the GP posterior from its formula, and ensembles of very wide trained networks."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import widenet
from conftest import sklearn_estimator_checks, snapshot
from widenet.regression.estimators import NotFittedError
from widenet._spectral import gd_filter
from widenet.regression.ntk_regression import NTKRegressor

CONFIGS = [  # keyword arguments shared by NTKRegressor and limit_kernel (kernel <-> kind)
    dict(activation="relu", parametrization="ntk", kernel="ntk"),
    dict(activation="erf", parametrization="lecun", kernel="ntk", bias_var=0.5),
    dict(activation="tanh", parametrization="ntk", kernel="nngp", bias_var=0.5, output_bias_var=0.3,
         method="quadrature"),
    dict(activation="relu", parametrization="ntk", kernel="ntk", weight_var=2.0, bias_var=0.5, output_var=0.7,
         output_bias_var=0.3),
]


def gram(config, A, B=None):
    """The limit kernel of ``config``, straight from widenet.limit_kernel."""
    args = {key: value for key, value in config.items() if key not in ("steps", "lr", "ridge")}
    args["kind"] = args.pop("kernel", "ntk")
    return widenet.limit_kernel(A, B, **args)


def data(m=7, d=3, m_test=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(m)
    return X, y, rng.standard_normal((m_test, d))


def largest_eigenvalue(K):
    return float(np.linalg.eigvalsh(K)[-1])


@pytest.fixture(params=range(len(CONFIGS)), ids=lambda i: "-".join(map(str, CONFIGS[i].values())))
def config(request):
    return CONFIGS[request.param]


# -- steps=None: kernel least squares (11.2.9)-(11.2.10) with the limit kernel ----------------

def test_limit_is_the_least_squares_solution_and_interpolates(config):
    X, y, X_test = data()
    model = NTKRegressor(**config).fit(X, y)
    K = gram(config, X)
    assert np.linalg.matrix_rank(K) == len(X) and model.rank_ == len(X)
    alpha = np.linalg.lstsq(K, y, rcond=None)[0]
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=1e-8, atol=1e-10 * np.abs(alpha).max())
    np.testing.assert_allclose(model.predict(X_test), gram(config, X_test, X) @ alpha, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-9)
    np.testing.assert_allclose(model.eigenvalues_, np.linalg.eigvalsh(K), rtol=1e-12, atol=1e-14)


def test_singular_gram_gives_the_min_norm_solution():
    X, y, X_test = data(m=6, seed=1)
    X = np.vstack([X, X[:2]])  # duplicated points with other targets: K singular
    y = np.concatenate([y, y[:2] + 1.0])
    model = NTKRegressor(activation="erf").fit(X, y)
    K = gram({"activation": "erf", "parametrization": "ntk"}, X)
    assert model.rank_ == 6
    alpha = np.linalg.pinv(K, rcond=1e-10, hermitian=True) @ y
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=1e-8, atol=1e-10 * np.abs(alpha).max())
    np.testing.assert_allclose(model.predict(X[:2]), y[:2] + 0.5, atol=1e-9)  # the mean of the two targets


def test_ridge_solves_the_shifted_system(config):
    X, y, X_test = data(seed=2)
    model = NTKRegressor(**config, ridge=0.05).fit(X, y)
    alpha = np.linalg.solve(gram(config, X) + 0.05 * np.eye(len(X)), y)
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=1e-10)
    np.testing.assert_allclose(model.predict(X_test), gram(config, X_test, X) @ alpha, rtol=1e-10, atol=1e-12)


# -- finite steps: the closed form of Remark 11.24 (corrected) --------------------------------

def gradient_descent_loop(K, K_test, y, lr, steps):
    """GD on sum (f - y)^2 from the zero function, in function space (11.5.9):
    ``r_{k+1} = r_k - 2h K r_k`` on the training points and
    ``f_{k+1}(x) = f_k(x) - 2h K(x, X) r_k`` elsewhere."""
    r = -np.asarray(y, dtype=np.float64)
    f = np.zeros((K_test.shape[0],) + r.shape[1:])
    for _ in range(steps):
        f = f - 2 * lr * K_test @ r
        r = r - 2 * lr * K @ r
    return f, r


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.9])  # 0.9: some factors 1 - 2hl < 0
@pytest.mark.parametrize("steps", [0, 1, 7, 250])
def test_closed_form_equals_the_gradient_descent_loop(config, fraction, steps):
    X, y, X_test = data(seed=3)
    Y = np.column_stack([y, np.cos(X[:, 0])])
    K = gram(config, X)
    lr = fraction / largest_eigenvalue(K)
    model = NTKRegressor(**config, steps=steps, lr=lr).fit(X, Y)
    points = np.vstack([X, X_test])
    f, r = gradient_descent_loop(K, gram(config, points, X), Y, lr, steps)
    np.testing.assert_allclose(model.predict(points), f, rtol=1e-9, atol=1e-11)
    # r_k = (I - 2hK)^k r_0, with the symmetric Gram K (a quadrature's cross Gram K(X, X)
    # differs from it by the quadrature error, ~1e-10 here)
    np.testing.assert_allclose(K @ model.dual_coef_ - Y, r, rtol=1e-9, atol=1e-11)
    if steps == 0:
        assert np.all(model.predict(X_test) == 0)  # the mean of the initial function


def test_ridge_with_steps_is_weight_decay_in_feature_space():
    """GD on |Phi p - y|^2 + ridge |p|^2 with explicit features of the limit kernel
    (a factor of the joint Gram of training and test points), from p = 0."""
    config = CONFIGS[1]
    X, y, X_test = data(seed=4)
    points = np.vstack([X, X_test])
    values, vectors = np.linalg.eigh(gram(config, points))
    features = vectors * np.sqrt(np.clip(values, 0, None))  # features @ features.T = joint Gram
    Phi = features[: len(X)]
    ridge, steps = 0.2, 60
    lr = 0.5 / (largest_eigenvalue(Phi @ Phi.T) + ridge)
    p = np.zeros(features.shape[1])
    for _ in range(steps):
        p = p - lr * (2 * Phi.T @ (Phi @ p - y) + 2 * ridge * p)
    model = NTKRegressor(**config, steps=steps, lr=lr, ridge=ridge).fit(X, y)
    np.testing.assert_allclose(model.predict(points), features @ p, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("ridge", [0.0, 0.1])
def test_many_steps_tend_to_the_limit(config, ridge):
    X, y, X_test = data(seed=5)
    lr = 0.9 / (largest_eigenvalue(gram(config, X)) + ridge)
    limit = NTKRegressor(**config, ridge=ridge).fit(X, y)
    expected = limit.predict(X_test)
    errors = [np.abs(NTKRegressor(**config, ridge=ridge, steps=steps, lr=lr).fit(X, y).predict(X_test)
                     - expected).max() for steps in (10, 100, 10**9)]
    assert errors[0] > 1e-3 and errors[0] >= errors[1] >= errors[2]
    assert errors[2] < 1e-9 * np.abs(expected).max()


def test_many_steps_with_a_singular_gram():
    config = CONFIGS[0]
    X, y, X_test = data(m=6, seed=6)
    X = np.vstack([X, X[:2]])
    y = np.concatenate([y, -y[:2]])
    lr = 0.5 / largest_eigenvalue(gram(config, X))
    model = NTKRegressor(**config, steps=10**7, lr=lr).fit(X, y)
    # the null directions of K grow in alpha (factor 2hk) but do not reach predictions
    expected = gram(config, X_test, X) @ np.linalg.pinv(gram(config, X), rcond=1e-10, hermitian=True) @ y
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=1e-6, atol=1e-6)


def test_gd_filter_is_accurate_for_tiny_and_zero_eigenvalues():
    lr, steps = 0.1, 1000
    eigenvalues = np.array([0.0, 1e-300, 1e-14, 1e-6, 0.3, 2.0, 9.0])  # 2 h l up to 1.8
    exact = [2 * Fraction(lr) * steps if l == 0 else
             (1 - (1 - 2 * Fraction(lr) * Fraction(l)) ** steps) / Fraction(l) for l in eigenvalues]
    np.testing.assert_allclose(gd_filter(eigenvalues, lr, steps), [float(v) for v in exact], rtol=1e-13)


# -- against very wide networks (Propositions 11.26 and 11.28) --------------------------------

@pytest.mark.parametrize("activation, parametrization", [("relu", "ntk"), ("erf", "ntk"), ("relu", "lecun")])
def test_trained_wide_networks_average_to_the_prediction(activation, parametrization):
    """``size`` networks of width ``n`` trained by GD (loss "sum"). Each trained output is,
    up to O(n^{-1/2}) (Proposition 11.26), ``Phi_0(x) + [NTKRegressor fitted to
    y - Phi_0(X)](x)``; the initial outputs average to 0, so the mean over networks is the
    prediction fitted to ``y``.

    Tolerances, from the spread over the ensemble (standard errors, SE) and the finite
    width: the plain mean within ``5 SE + 2 n^{-1/2}``; the mean of the per-network
    deviations within ``4 SE + n^{-1/2}``; each network within ``6 n^{-1/2}`` (measured over
    seeds, in units of ``n^{-1/2}``: mean deviations up to 1.3 for relu (outside
    Assumption 11.18) and 0.3 for erf, single networks up to 4.2)."""
    rng = np.random.default_rng(7)
    size, d, width, steps = 8, 2, 2**13, 100
    X = rng.standard_normal((5, d))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    points = np.vstack([X, rng.standard_normal((4, d))])
    settings = dict(activation=activation, parametrization=parametrization)
    lr = 0.5 / NTKRegressor(**settings).fit(X, y).eigenvalues_[-1]
    # K_LC is the limit of K_n / n: a LeCun network takes the step lr / n
    network_lr = lr / width if parametrization == "lecun" else lr
    ensemble = widenet.ShallowEnsemble(size=size, input_dim=d, width=width, seed=11, **settings)
    initial_train, initial = ensemble.forward(X), ensemble.forward(points)
    trained = ensemble.train(X, y, network_lr, steps, record_every=steps, X_test=points,
                             loss="sum").test_outputs[:, -1]
    finite_width = width ** -0.5

    def standard_error(samples):
        return samples.std(axis=0, ddof=1) / np.sqrt(size)

    # the plain ensemble mean: noisy (the initial functions), but unbiased
    mean_prediction = NTKRegressor(**settings, steps=steps, lr=lr).fit(X, y).predict(points)
    error = np.abs(trained.mean(axis=0) - mean_prediction)
    assert np.all(error <= 5 * standard_error(trained) + 2 * finite_width)

    # network by network, the initial function carried through the same linear dynamics
    def deviation(k):
        model = NTKRegressor(**settings, steps=k, lr=lr).fit(X, y[:, None] - initial_train.T)
        return trained - (initial + model.predict(points).T)

    dev = deviation(steps)
    tolerance = 4 * standard_error(dev) + finite_width
    assert np.all(np.abs(dev.mean(axis=0)) <= tolerance)
    assert np.abs(dev).max() <= 6 * finite_width
    for wrong in (steps // 4, 4 * steps):  # the test tells the step count apart
        assert np.any(np.abs(deviation(wrong).mean(axis=0)) > tolerance)


# -- the NNGP posterior (Proposition 11.28) --------------------------------------------------

NNGP = dict(activation="erf", parametrization="lecun", kernel="nngp", bias_var=0.5, output_bias_var=0.2)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_posterior_mean_and_std_follow_the_gp_formulas(ridge):
    X, y, X_test = data(seed=8)
    model = NTKRegressor(**NNGP, ridge=ridge).fit(X, y)
    K, K_test = gram(NNGP, X), gram(NNGP, X_test, X)
    inverse = np.linalg.pinv(K, hermitian=True) if ridge == 0 else np.linalg.inv(K + ridge * np.eye(len(X)))
    mean, std = model.predict(X_test, return_std=True)
    np.testing.assert_allclose(mean, K_test @ inverse @ y, rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(mean, model.predict(X_test))
    variance = np.diag(gram(NNGP, X_test)) - np.einsum("ij,jk,ik->i", K_test, inverse, K_test)
    np.testing.assert_allclose(std, np.sqrt(variance), rtol=1e-7)
    assert np.all(std > 0)
    _, at_data = model.predict(X, return_std=True)
    scale = np.sqrt(np.diag(K))
    if ridge == 0:
        np.testing.assert_allclose(at_data, 0.0, atol=1e-6 * scale.max())  # clipped rounding: ~sqrt(eps)
    else:
        assert np.all(at_data > 0) and np.all(at_data < scale)


def test_posterior_std_for_many_points_and_targets():
    X, y, _ = data(seed=9)
    X_test = np.random.default_rng(9).standard_normal((600, 3))  # more than one diagonal block
    Y = np.column_stack([y, 2 * y, -y])
    mean, std = NTKRegressor(**NNGP).fit(X, Y).predict(X_test, return_std=True)
    single_mean, single_std = NTKRegressor(**NNGP).fit(X, y).predict(X_test, return_std=True)
    assert mean.shape == std.shape == (600, 3) and single_std.shape == (600,)
    np.testing.assert_allclose(mean[:, 1], 2 * single_mean, rtol=1e-12, atol=1e-14)
    for column in range(3):
        np.testing.assert_array_equal(std[:, column], single_std)


def test_return_std_and_return_cov_are_checked():
    X, y, X_test = data(seed=10)
    model = NTKRegressor(**NNGP).fit(X, y)
    with pytest.raises(ValueError, match="^return_std, return_cov: at most one of them"):
        model.predict(X_test, return_std=True, return_cov=True)
    with pytest.raises(TypeError, match="^return_std"):
        model.predict(X_test, return_std="yes")
    with pytest.raises(TypeError, match="^return_cov"):
        model.predict(X_test, return_cov=1)


# -- estimator conventions --------------------------------------------------------------------

def test_several_targets_are_fitted_column_by_column():
    X, y, X_test = data(seed=11)
    Y = np.column_stack([y, y**2, -3 * y])
    for params in ({}, {"steps": 40, "lr": 0.01}, {"kernel": "nngp", "ridge": 0.1}):
        prediction = NTKRegressor(**params).fit(X, Y).predict(X_test)
        assert prediction.shape == (5, 3)
        for j in range(3):
            np.testing.assert_allclose(prediction[:, j], NTKRegressor(**params).fit(X, Y[:, j]).predict(X_test),
                                       rtol=1e-10, atol=1e-12)
    assert NTKRegressor().fit(X, Y[:, :1]).predict(X_test).shape == (5, 1)


def test_score_is_the_coefficient_of_determination():
    X, y, X_test = data(m=20, seed=12)
    model = NTKRegressor(steps=30, lr=0.005).fit(X, y)
    residual = y - model.predict(X)
    assert model.score(X, y) == pytest.approx(1 - residual @ residual / np.sum((y - y.mean()) ** 2), rel=1e-12)
    assert NTKRegressor().fit(X, y).score(X, y) == pytest.approx(1.0, abs=1e-12)


def test_get_params_set_params_and_repr():
    model = NTKRegressor(activation="erf", steps=10, lr=0.1)
    assert model.get_params() == {
        "activation": "erf", "parametrization": "ntk", "kernel": "ntk", "weight_var": 1.0, "bias_var": 0.0,
        "output_var": 1.0, "output_bias_var": 0.0, "steps": 10, "lr": 0.1, "ridge": 0.0, "method": "auto",
        "order": None, "depth": 1, "bias": True, "multipliers": False, "time": None,
        "loss": "sum"}
    assert model.set_params(kernel="nngp", ridge=0.5) is model
    assert model.kernel == "nngp" and model.ridge == 0.5
    assert NTKRegressor(**model.get_params()).get_params() == model.get_params()
    with pytest.raises(ValueError, match="alpha"):
        model.set_params(alpha=1.0)
    assert repr(model) == "NTKRegressor(activation='erf', kernel='nngp', lr=0.1, ridge=0.5, steps=10)"
    assert repr(NTKRegressor()) == "NTKRegressor()"


def test_init_only_stores_hyper_parameters():
    model = NTKRegressor(activation=3, kernel="rbf", steps=-1, lr="big", ridge=-5, order=0)
    assert vars(model) == {"activation": 3, "parametrization": "ntk", "kernel": "rbf", "weight_var": 1.0,
                           "bias_var": 0.0, "output_var": 1.0, "output_bias_var": 0.0, "steps": -1, "lr": "big",
                           "ridge": -5, "method": "auto", "order": 0, "depth": 1, "bias": True,
                           "multipliers": False, "time": None, "loss": "sum"}


def test_fit_returns_self_and_sets_trailing_underscore_attributes():
    X, y, _ = data(seed=13)
    model = NTKRegressor(steps=3, lr=0.01)
    assert model.fit(X, y) is model and model.n_features_in_ == 3
    assert model.dual_coef_.shape == (7,) and model.X_fit_.shape == (7, 3)
    assert model.eigenvalues_.shape == (7,) and model.eigenvectors_.shape == (7, 7) and model.rank_ == 7
    public = {name for name in vars(model) if not name.startswith("_")}
    assert public - set(model.get_params()) == {"dual_coef_", "X_fit_", "eigenvalues_", "eigenvectors_", "rank_",
                                                "n_features_in_"}


def test_using_an_unfitted_estimator_raises():
    X, y, _ = data(seed=14)
    model = NTKRegressor(kernel="nngp")
    for method in (lambda: model.predict(X), lambda: model.predict(X, return_std=True),
                   lambda: model.score(X, y)):
        with pytest.raises(NotFittedError, match="fit"):
            method()


def test_bad_arguments_are_named():
    X, y, _ = data(seed=15)
    lr_max = 1 / largest_eigenvalue(gram(CONFIGS[0], X))
    cases = [
        (ValueError, "kernel", dict(kernel="rbf")),
        (TypeError, "kernel", dict(kernel=None)),
        (ValueError, "activation", dict(activation="swish")),
        (ValueError, "parametrization", dict(parametrization="mup")),
        (ValueError, "weight_var", dict(weight_var=-1.0)),
        (ValueError, "output_bias_var", dict(output_bias_var=np.inf)),
        (ValueError, "method", dict(method="exact")),
        (ValueError, "method", dict(method="monte_carlo")),  # a new random kernel at every call
        (ValueError, "order", dict(method="quadrature", activation="tanh", order=65)),
        (ValueError, "ridge", dict(ridge=-1.0)),
        (TypeError, "ridge", dict(ridge="big")),
        (ValueError, "steps", dict(steps=-1, lr=0.1)),
        (TypeError, "steps", dict(steps=2.5, lr=0.1)),
        (ValueError, "lr: a step size is required", dict(steps=10)),
        (ValueError, "lr", dict(steps=10, lr=0.0)),
        (TypeError, "lr", dict(steps=10, lr="big")),
        (ValueError, "lr: gradient descent on loss=.sum. diverges", dict(steps=10, lr=lr_max * 1.0001)),
        (ValueError, "lr: gradient descent on loss=.sum. diverges", dict(steps=10, lr=lr_max * 0.9999, ridge=0.01)),
    ]
    for error, pattern, params in cases:
        with pytest.raises(error, match=pattern):
            NTKRegressor(**params).fit(X, y)
    NTKRegressor(steps=10, lr=lr_max * 0.9999).fit(X, y)  # just below the bound
    NTKRegressor(lr="ignored without steps").fit(X, y)
    model = NTKRegressor().fit(X, y)
    for error, pattern, call in [
        (ValueError, "X", lambda: model.fit(X[:, 0], y)),
        (ValueError, "X", lambda: model.fit(np.where(X > 1, np.nan, X), y)),
        (ValueError, "y", lambda: model.fit(X, y[:-1])),
        (ValueError, "y", lambda: model.fit(X, None)),
        (ValueError, "X has 2 features, but NTKRegressor is expecting 3", lambda: model.predict(X[:, :2])),
    ]:
        with pytest.raises(error, match=pattern):
            call()


@pytest.mark.parametrize("params", [{}, {"steps": 5, "lr": 0.01}, {"kernel": "nngp"}])
def test_inputs_are_not_modified(params):
    X, y, X_test = data(seed=16)
    before = snapshot(X, y, X_test)
    model = NTKRegressor(**params)
    settings = dict(model.get_params())
    model.fit(X, y).predict(X_test, return_std=params.get("kernel") == "nngp")
    model.score(X, y)
    for original, copy in zip((X, y, X_test), before):
        np.testing.assert_array_equal(original, copy)
    assert model.get_params() == settings
    X[0, 0] += 1.0  # the model keeps its own copy
    np.testing.assert_array_equal(model.X_fit_, before[0])


def test_float32_and_integer_inputs_are_fitted_in_float64():
    X, y, X_test = data(seed=17)
    model = NTKRegressor().fit(X.astype(np.float32), y.astype(np.float32))
    assert model.dual_coef_.dtype == np.float64 and model.X_fit_.dtype == np.float32
    reference = NTKRegressor().fit(X.astype(np.float32).astype(np.float64), y.astype(np.float32))
    # a float32 fit predicts in float32 (points converted to float32): the float64 prediction, rounded once
    expected = reference.predict(X_test.astype(np.float32).astype(np.float64)).astype(np.float32)
    for points in (X_test, X_test.astype(np.float32)):
        np.testing.assert_array_equal(model.predict(points), expected)
    integers = np.arange(12).reshape(6, 2)
    assert NTKRegressor().fit(integers, integers[:, 0]).predict(integers).dtype == np.float64


# -- with scikit-learn -------------------------------------------------------------------------

ESTIMATORS = [NTKRegressor(), NTKRegressor(kernel="nngp", ridge=1e-3),
              # sklearn's check data reach Gram eigenvalues ~5000, so a small step with many steps
              NTKRegressor(activation="erf", steps=10**7, lr=1e-5)]


@sklearn_estimator_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_clone_and_grid_search():
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    model = NTKRegressor(activation="erf", steps=50, lr=0.01)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    X, y, _ = data(m=30, d=2, seed=18)
    search = GridSearchCV(NTKRegressor(lr=0.005), {"steps": [10, 100, None], "ridge": [0.0, 0.1]}, cv=3).fit(X, y)
    assert set(search.best_params_) == {"steps", "ridge"}


def test_the_module_does_not_import_sklearn():
    code = ("import sys; sys.modules['sklearn'] = None; import numpy as np; "
            "from widenet.regression.ntk_regression import NTKRegressor; X = np.arange(6.0).reshape(3, 2); "
            "NTKRegressor(kernel='nngp').fit(X, X[:, 0]).predict(X, return_std=True); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("loss, scale", [("sum", 1.0), ("mean", 1 / 7), ("half_sum", 0.5)])
def test_gradient_flow_for_a_time_is_the_matrix_exponential(loss, scale):
    """K(x, X) K^-1 (I - exp(-2 s K t)) y with scipy's expm, for the loss scale s; a 1% error in the
    time is beyond the tolerance."""
    import scipy.linalg

    X, y, X_test = data(seed=21)
    settings = dict(activation="erf", parametrization="ntk", bias_var=0.2)
    t = 0.8
    model = NTKRegressor(**settings, time=t, loss=loss).fit(X, y)
    K = widenet.limit_kernel(X, **settings)
    K_star = widenet.limit_kernel(X_test, X, **settings)

    def expected(time):
        return K_star @ np.linalg.solve(K, (np.eye(len(K)) - scipy.linalg.expm(-2 * scale * K * time)) @ y)
    error = np.max(np.abs(model.predict(X_test) - expected(t)))
    assert error <= 1e-10 * np.max(np.abs(expected(t)))
    assert np.max(np.abs(model.predict(X_test) - expected(1.01 * t))) > 1e-10 * np.max(np.abs(expected(t)))


def test_steps_on_the_mean_loss_are_steps_on_the_sum_with_lr_over_m():
    X, y, X_test = data(seed=22)
    mean = NTKRegressor(activation="relu", steps=50, lr=0.2, loss="mean").fit(X, y).predict(X_test)
    total = NTKRegressor(activation="relu", steps=50, lr=0.2 / len(X), loss="sum").fit(X, y).predict(X_test)
    np.testing.assert_allclose(mean, total, rtol=1e-12, atol=1e-14)


def test_the_step_bound_follows_the_loss_scale_and_time_excludes_steps():
    X, y, _ = data(seed=23)
    l_max = NTKRegressor(activation="relu").fit(X, y).eigenvalues_[-1]
    NTKRegressor(activation="relu", steps=5, lr=0.99 * len(X) / l_max, loss="mean").fit(X, y)
    with pytest.raises(ValueError, match="^lr: gradient descent on loss='mean' diverges"):
        NTKRegressor(activation="relu", steps=5, lr=1.01 * len(X) / l_max, loss="mean").fit(X, y)
    with pytest.raises(ValueError, match="^time: gradient flow for a time, or gradient descent for steps"):
        NTKRegressor(activation="relu", steps=5, lr=0.1, time=1.0).fit(X, y)
    with pytest.raises(ValueError, match="^loss"):
        NTKRegressor(activation="relu", loss="total").fit(X, y)
    with pytest.raises(ValueError, match="^time"):
        NTKRegressor(activation="relu", time=-1.0).fit(X, y)
