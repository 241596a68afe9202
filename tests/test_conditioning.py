"""Ill-conditioned and singular systems in the solvers: minimum-norm answers,
and a ConditioningWarning with the condition number where accuracy is lost."""

import warnings

import numpy as np
import pytest

import widenet


def _matrix_with_singular_values(singular_values, rows, columns, seed=0):
    """``U diag(s) V^T`` with random orthonormal ``U`` and ``V``, and those factors."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(rows, len(singular_values))))[0]
    V = np.linalg.qr(rng.normal(size=(columns, len(singular_values))))[0]
    return U @ np.diag(singular_values) @ V.T, U, V


def test_ill_conditioned_least_squares_warns_with_its_condition_number():
    s = np.array([1.0, 1e-3, 1e-11])
    A, U, V = _matrix_with_singular_values(s, 8, 5)
    y = np.random.default_rng(1).normal(size=8)
    with pytest.warns(widenet.ConditioningWarning, match=r"condition number 1(\.0+)?e\+11 on the 3 directions kept"):
        w = widenet.min_norm_solution(A, y)
    # the exact answer from the construction: V diag(1/s) U^T y, to the accuracy the warning states
    exact = V @ ((U.T @ y) / s)
    error = np.linalg.norm(w - exact) / np.linalg.norm(exact)
    assert error < 10 * 1e11 * np.finfo(float).eps, error


def test_well_conditioned_least_squares_is_silent():
    A, U, V = _matrix_with_singular_values(np.array([2.0, 1.0, 0.5]), 6, 4)
    y = np.arange(6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = widenet.min_norm_solution(A, y)
    np.testing.assert_allclose(w, V @ ((U.T @ y) / [2.0, 1.0, 0.5]), rtol=1e-13)


def test_singular_least_squares_gives_the_minimum_norm_answer_silently():
    """An exactly rank-deficient A: its zero singular values are dropped (not a loss of
    accuracy), the answer lies in the row space and solves the normal equations."""
    A, U, V = _matrix_with_singular_values(np.array([1.0, 0.5]), 6, 4)
    A = np.vstack([A, A[:2]])  # repeated rows: rank 2 of 8 x 4
    y = np.random.default_rng(2).normal(size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = widenet.min_norm_solution(A, y)
    np.testing.assert_allclose(V @ (V.T @ w), w, atol=1e-14)  # in the row space of A
    np.testing.assert_allclose(A.T @ (A @ w - y), 0, atol=1e-13)  # a least-squares solution


def test_kernel_least_squares_warns_on_nearly_equal_points_and_ridge_silences_it():
    X = np.linspace(0, 1, 30)[:, None]
    y = np.sin(3 * X[:, 0])
    with pytest.warns(widenet.ConditioningWarning, match="The Gram matrix of 30 points is ill-conditioned"):
        widenet.KernelLeastSquares("rbf").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = widenet.KernelLeastSquares("rbf", ridge=1e-3).fit(X, y)
    # the ridge solution against a direct solve of (K + ridge I) alpha = y
    K = np.exp(-np.subtract.outer(X[:, 0], X[:, 0]) ** 2)
    np.testing.assert_allclose(model.dual_coef_, np.linalg.solve(K + 1e-3 * np.eye(30), y), rtol=1e-8)


@pytest.mark.parametrize("estimator", [
    lambda: widenet.KernelLeastSquares("rbf", gamma=0.5),
    lambda: widenet.NTKRegressor(activation="relu"),
], ids=["kernel", "ntk"])
def test_duplicated_points_give_the_same_predictor(estimator):
    """Repeated training points make the Gram exactly singular; the minimum-norm answer is
    the interpolant of the distinct points (same predictions), without a warning."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    X_test = rng.normal(size=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distinct = estimator().fit(X, y).predict(X_test)
        repeated = estimator().fit(np.vstack([X, X[:3]]), np.concatenate([y, y[:3]])).predict(X_test)
    np.testing.assert_allclose(repeated, distinct, rtol=1e-9, atol=1e-12)


def test_ntk_regression_warns_and_finite_steps_do_not():
    X = np.linspace(-1, 1, 40)[:, None] * np.array([[1.0, 1e-6]]) + np.array([[0.0, 1.0]])
    y = np.cos(2 * X[:, 0])
    with pytest.warns(widenet.ConditioningWarning, match="The ntk Gram matrix of 40 points is ill-conditioned"):
        widenet.NTKRegressor(activation="erf").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        widenet.NTKRegressor(activation="erf", steps=100, lr=0.01).fit(X, y)
