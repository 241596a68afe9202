"""The Cholesky path of the well-posed solves: the same answers as the eigendecomposition (or
the SVD) to a tolerance set by the condition number, checked against numpy's solve and
lstsq; the fall-back to the eigendecomposition when the factorization fails or its condition
estimate is beyond the bound; and which path ran, spied on."""

import warnings

import numpy as np
import pytest

import widenet
from widenet import _cholesky, _core
from widenet.predict import gp_inference, gradient_descent_mse

from conftest import main_thread_steps_during

EPS = np.finfo(np.float64).eps


def gram_with_spectrum(values, seed=0):
    """A symmetric matrix with exactly the eigenvalues ``values`` (random eigenvectors)."""
    values = np.asarray(values, dtype=np.float64)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((values.size, values.size)))
    G = (Q * values) @ Q.T
    return 0.5 * (G + G.T)


def spectrum_of_condition(m, kappa):
    return np.geomspace(1.0 / kappa, 1.0, m)


def tolerance(kappa, m):
    """The accuracy both paths have on a system of condition number ``kappa``, with room."""
    return 10.0 * m * kappa * EPS


def assert_close(actual, expected, rtol):
    """Equal to ``rtol`` relative to the largest entry; and a 1% error would not pass."""
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)
    assert rtol < 1e-3, "the check could not see a 1% error"
    assert not np.allclose(1.01 * np.asarray(actual), expected, rtol=0, atol=rtol * scale)


class Paths:
    """Counts the eigendecompositions, SVDs and Cholesky factorizations (and their outcomes) made."""

    def __init__(self, monkeypatch):
        self.eigh = self.svd = 0
        self.cholesky = []  # True: factorized and accepted; False: fell back
        eigh, svd, factorize = np.linalg.eigh, np.linalg.svd, _cholesky.factorize

        def counted_eigh(*args, **kwargs):
            self.eigh += 1
            return eigh(*args, **kwargs)

        def counted_svd(*args, **kwargs):
            self.svd += 1
            return svd(*args, **kwargs)

        def recorded_factorize(*args, **kwargs):
            result = factorize(*args, **kwargs)
            self.cholesky.append(result is not None)
            return result

        monkeypatch.setattr(np.linalg, "eigh", counted_eigh)
        monkeypatch.setattr(np.linalg, "svd", counted_svd)
        monkeypatch.setattr(_cholesky, "factorize", recorded_factorize)


@pytest.fixture
def paths(monkeypatch):
    return Paths(monkeypatch)


@pytest.fixture
def eigh_only(monkeypatch):
    """Every well-posed solve refused: the eigendecomposition's (or the SVD's) answer."""
    monkeypatch.setattr(_cholesky, "factorize", lambda *args, **kwargs: None)


# -- the factorization itself ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kappa", [10.0, 1e6])
def test_factorize_solves_and_estimates_the_condition(kappa):
    m = 60
    G = gram_with_spectrum(spectrum_of_condition(m, kappa))
    y = np.random.default_rng(1).standard_normal((m, 3))
    cholesky = _cholesky.factorize(G, 1e-15)
    assert cholesky is not None
    assert_close(cholesky.solve(y), np.linalg.solve(G, y), tolerance(kappa, m))
    assert_close(cholesky.solve(y[:, 0]), np.linalg.solve(G, y[:, 0]), tolerance(kappa, m))
    exact = 1.0 / np.linalg.cond(G, 1)
    assert 0.999 * exact <= cholesky.rcond <= 10 * exact  # an estimate from above (to rounding), rarely far


def test_factorize_adds_the_shift_and_reads_the_lower_triangle():
    m, shift = 40, 0.5
    G = gram_with_spectrum(np.linspace(0.1, 2.0, m), seed=3)
    unsymmetric = np.tril(G) + np.triu(np.full_like(G, 7.0), 1)  # numpy's eigh reads the lower triangle too
    y = np.arange(m, dtype=np.float64)
    cholesky = _cholesky.factorize(unsymmetric, 1e-15, shift)
    assert cholesky is not None
    assert_close(cholesky.solve(y), np.linalg.solve(G + shift * np.eye(m), y), tolerance(20.0, m))


def test_factorize_refuses_a_matrix_that_is_not_positive_definite_or_beyond_the_bound():
    m = 50
    assert _cholesky.factorize(gram_with_spectrum(np.linspace(-1.0, 1.0, m)), 1e-15) is None
    assert _cholesky.factorize(np.full((m, m), np.nan), 1e-15) is None
    bound = 1.0 / _cholesky.reciprocal_condition_bound(m * EPS)  # about 1e8 in float64
    assert _cholesky.factorize(gram_with_spectrum(spectrum_of_condition(m, 100 * bound)), m * EPS) is None
    assert _cholesky.factorize(gram_with_spectrum(spectrum_of_condition(m, bound / 100)), m * EPS) is not None
    # the float32 cut-off m eps_float32 keeps only well-conditioned matrices on this path
    tolerance32 = m * float(np.finfo(np.float32).eps)
    assert _cholesky.factorize(gram_with_spectrum(spectrum_of_condition(m, 1e4)), tolerance32) is None


# -- kernel least squares -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kappa, ridge", [(30.0, 0.0), (1e6, 0.0), (1e5, 1e-3)])
def test_kernel_least_squares_on_a_well_posed_gram_is_solved_by_cholesky(paths, dtype, kappa, ridge):
    m = 50
    G = gram_with_spectrum(spectrum_of_condition(m, kappa), seed=4).astype(dtype)
    y = np.random.default_rng(5).standard_normal(m)
    model = widenet.KernelLeastSquares("precomputed", ridge=ridge).fit(G, y)
    shifted = kappa if not ridge else (1.0 + ridge) / (1.0 / kappa + ridge)
    # float32: a cut-off of m eps_float32 leaves only the well-conditioned Gram to Cholesky; the
    # eigendecomposition of the others drops the eigenvalues below it, as lstsq with that rcond
    took_cholesky = dtype == np.float64 or shifted < 100
    assert paths.cholesky == [took_cholesky] and paths.eigh == (0 if took_cholesky else 1)
    system = G.astype(np.float64) + ridge * np.eye(m)
    cut = 0.0 if took_cholesky else m * float(np.finfo(dtype).eps)
    expected = np.linalg.lstsq(system, y, rcond=cut)[0]
    assert_close(model.dual_coef_, expected, tolerance(min(shifted, 1.0 / max(cut, EPS)), m))
    assert model.rank_ == m or not took_cholesky


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_least_squares_gives_the_eigendecompositions_answer(eigh_only, dtype, monkeypatch):
    X = np.random.default_rng(6).standard_normal((80, 5)).astype(dtype)
    y = np.sin(X[:, 0]).astype(dtype)
    by_eigh = widenet.KernelLeastSquares("rbf", ridge=1e-3).fit(X, y)
    monkeypatch.undo()
    by_cholesky = widenet.KernelLeastSquares("rbf", ridge=1e-3).fit(X, y)
    G = widenet.RBFKernel(1.0 / 5)(X).astype(np.float64) + 1e-3 * np.eye(80)
    assert_close(by_cholesky.dual_coef_, by_eigh.dual_coef_, tolerance(np.linalg.cond(G), 80))
    assert by_cholesky.rank_ == by_eigh.rank_ == 80


def test_a_gram_beyond_the_bound_falls_back_to_the_eigendecomposition(paths):
    m = 40
    G = gram_with_spectrum(spectrum_of_condition(m, 1e9), seed=7)  # positive definite; no warning below 1e10
    y = np.random.default_rng(8).standard_normal(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = widenet.KernelLeastSquares("precomputed").fit(G, y)
    assert paths.cholesky == [False] and paths.eigh == 1
    assert_close(model.dual_coef_, np.linalg.solve(G, y), tolerance(1e9, m))


def test_a_gram_that_is_not_positive_definite_falls_back_to_the_eigendecomposition(paths):
    m = 30
    G = gram_with_spectrum(np.concatenate([[-0.5], np.linspace(0.5, 2.0, m - 1)]), seed=9)
    y = np.random.default_rng(10).standard_normal(m)
    model = widenet.KernelLeastSquares("precomputed").fit(G, y)
    assert paths.cholesky == [False] and paths.eigh == 1
    assert_close(model.dual_coef_, np.linalg.solve(G, y), tolerance(4.0, m))


def test_a_singular_gram_keeps_its_minimum_norm_answer_and_warning(paths):
    X = np.random.default_rng(11).standard_normal((20, 3))
    X = np.vstack([X, X[:5]])  # duplicated points: a singular Gram
    y = np.random.default_rng(12).standard_normal(25)
    model = widenet.KernelLeastSquares("linear").fit(X, y)  # rank 3
    assert paths.cholesky == [False] and paths.eigh == 1 and model.rank_ == 3
    G = X @ X.T
    assert_close(model.dual_coef_, np.linalg.lstsq(G, y, rcond=None)[0], 1e-10)
    near = gram_with_spectrum(spectrum_of_condition(30, 1e12), seed=13)
    with pytest.warns(widenet.ConditioningWarning, match="ill-conditioned"):
        widenet.KernelLeastSquares("precomputed").fit(near, np.ones(30))


# -- the infinite-width regressor -----------------------------------------------------------------------------------

def test_ntk_regressor_with_a_ridge_is_solved_by_cholesky_and_its_spectrum_made_on_demand(paths):
    X = np.random.default_rng(14).standard_normal((60, 4))
    y = np.cos(X[:, 1])
    model = widenet.NTKRegressor(activation="relu", ridge=1e-3).fit(X, y)
    K = widenet.limit_kernel(X, activation="relu", parametrization="ntk")
    assert paths.cholesky == [True] and paths.eigh == 0
    shifted = K + 1e-3 * np.eye(60)
    assert_close(model.dual_coef_, np.linalg.solve(shifted, y), tolerance(np.linalg.cond(shifted), 60))
    assert "eigenvalues_" not in vars(model)
    np.testing.assert_allclose(model.eigenvalues_, np.linalg.eigvalsh(K), rtol=1e-12, atol=1e-12 * np.abs(K).max())
    assert paths.eigh == 1 and model.eigenvectors_.shape == (60, 60)
    assert paths.eigh == 1  # made once
    with pytest.raises(AttributeError):
        model.not_an_attribute_  # noqa: B018


def test_ntk_regressor_with_steps_keeps_its_eigendecomposition(paths):
    X = np.random.default_rng(15).standard_normal((30, 3))
    widenet.NTKRegressor(activation="relu", ridge=1e-3, steps=5, lr=0.01).fit(X, X[:, 0])
    assert paths.cholesky == [] and paths.eigh == 1


# -- the minimum-norm solution --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(30, 80), (80, 30), (40, 40)])
def test_min_norm_solution_of_full_rank_is_solved_by_cholesky(paths, shape, dtype):
    rng = np.random.default_rng(16)
    U, _ = np.linalg.qr(rng.standard_normal((shape[0], min(shape))))
    V, _ = np.linalg.qr(rng.standard_normal((shape[1], min(shape))))
    kappa = 100.0
    A = ((U * spectrum_of_condition(min(shape), kappa)) @ V.T).astype(dtype)
    y = rng.standard_normal((shape[0], 2))
    w = widenet.min_norm_solution(A, y)
    assert paths.cholesky == [True] and paths.svd == 0 and w.dtype == dtype
    expected = np.linalg.lstsq(A.astype(np.float64), y, rcond=None)[0]
    rtol = 1e-5 if dtype == np.float32 else tolerance(kappa**2, max(shape))
    assert_close(w, expected, rtol)
    limit = widenet.regression.least_squares.predicted_limit(A, y, np.ones((shape[1], 2)))
    w0 = np.ones((shape[1], 2))
    assert_close(limit, expected + w0 - np.linalg.pinv(A.astype(np.float64)) @ (A.astype(np.float64) @ w0), rtol)


def test_min_norm_solution_of_an_ill_conditioned_or_deficient_matrix_takes_the_svd(paths):
    rng = np.random.default_rng(17)
    U, _ = np.linalg.qr(rng.standard_normal((30, 20)))
    V, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    A = (U * spectrum_of_condition(20, 1e6)) @ V.T  # a Gram of condition 1e12: beyond the bound
    y = rng.standard_normal(30)
    assert_close(widenet.min_norm_solution(A, y), np.linalg.lstsq(A, y, rcond=None)[0], tolerance(1e6, 30))
    deficient = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 20))
    assert_close(widenet.min_norm_solution(deficient, y), np.linalg.lstsq(deficient, y, rcond=None)[0], 1e-9)
    assert paths.cholesky == [False, False] and paths.svd == 2


# -- the predictions ------------------------------------------------------------------------------------------------

def kernel_problem(m=50, m_test=7, seed=18):
    rng = np.random.default_rng(seed)
    X, X_test = rng.standard_normal((m, 3)), rng.standard_normal((m_test, 3))
    kernel = widenet.RBFKernel(0.5)
    return kernel(X), kernel(X_test, X), kernel(X_test), np.sin(X[:, 0])


@pytest.mark.parametrize("ridge", [0.0, 1e-2])
def test_gp_inference_at_a_well_posed_gram_needs_no_eigendecomposition(paths, ridge):
    K, cross, prior, y = kernel_problem()
    mean, cov = gp_inference(K, y, diag_reg=ridge, diag_reg_absolute_scale=True)(cross, prior)
    assert paths.cholesky == [True] and paths.eigh == 0
    shifted = K + ridge * np.eye(K.shape[0])
    rtol = tolerance(np.linalg.cond(shifted), K.shape[0])
    assert_close(mean, cross @ np.linalg.solve(shifted, y), rtol)
    assert_close(cov, prior - cross @ np.linalg.solve(shifted, cross.T), rtol)


def test_gp_inference_with_a_ridge_still_refuses_an_indefinite_gram(paths):
    K = gram_with_spectrum(np.concatenate([[-0.1], np.linspace(0.5, 2.0, 19)]), seed=19)
    with pytest.raises(ValueError, match="positive semi-definite"):
        gp_inference(K, np.ones(20), diag_reg=1.0, diag_reg_absolute_scale=True)
    assert paths.eigh == 1


def test_gradient_descent_mse_at_infinity_by_cholesky_then_decomposes_once_for_times(paths, monkeypatch):
    K, cross, _, y = kernel_problem()
    ridge = 1e-2
    predict = gradient_descent_mse(K, y, diag_reg=ridge, diag_reg_absolute_scale=True)
    train, test = predict(None, 0.0, np.zeros(cross.shape[0]), cross)
    assert paths.cholesky == [True] and paths.eigh == 0
    rtol = tolerance(np.linalg.cond(K + ridge * np.eye(K.shape[0])), K.shape[0])
    assert_close(test, cross @ np.linalg.solve(K + ridge * np.eye(K.shape[0]), y), rtol)
    np.testing.assert_array_equal(train, y)
    times = np.array([1.0, 10.0, np.inf])
    at_times = predict(times, 0.0, np.zeros(cross.shape[0]), cross)[1]
    predict(2.0, 0.0, np.zeros(cross.shape[0]), cross)
    assert paths.eigh == 1  # made on the first finite time and kept
    assert_close(at_times[-1], test, rtol)
    monkeypatch.setattr(_cholesky, "factorize", lambda *args, **kwargs: None)
    by_eigh = gradient_descent_mse(K, y, diag_reg=ridge, diag_reg_absolute_scale=True)(None, 0.0, np.zeros(7), cross)
    assert_close(test, by_eigh[1], rtol)


# -- the GIL ----------------------------------------------------------------------------------------------------------

def test_the_factorization_releases_the_gil(restore_threads):
    """While a worker thread factorizes, the main thread keeps running (as for the other long calls)."""
    widenet.set_num_threads(1)  # leave a core free for the counting thread

    def factorize(m):
        G = np.full((m, m), 0.5) + m * np.eye(m)  # positive definite, made in O(m^2)
        for _ in range(3):
            _core.cholesky_factor(G, 0.0)

    inside, duration = main_thread_steps_during(factorize, lambda m: 1500 if m is None else 2 * m, tries=4)
    assert len(inside) >= 3, f"{len(inside)} main-thread steps during the middle of a {duration:.3f} s factorization"
