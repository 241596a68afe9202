"""Predictions from Gram matrices against closed forms computed here independently: the matrix
exponential by scipy's Pade approximant, inverses by solves and least squares, the flow's
differential equation by finite differences; and a 1% error in the checked quantity beyond
the tolerance used."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import widenet
from widenet.predict import gp_inference, gradient_descent_mse

TOLERANCE = 1e-10  # relative to the largest magnitude compared


def assert_relative(actual, expected, tolerance=TOLERANCE, scale=0.0):
    """``actual`` within ``tolerance`` of ``expected``, relative to its largest magnitude (or ``scale``)."""
    scale = max(float(np.max(np.abs(expected))), scale, 1e-300)
    assert float(np.max(np.abs(np.asarray(actual) - expected))) <= tolerance * scale


def kernels(m=7, m_test=4, features=12, seed=0):
    """A PSD kernel on m + m_test points (rank min(features, m + m_test)), split into its blocks."""
    F = np.random.default_rng(seed).standard_normal((m + m_test, features))
    K = F @ F.T / features
    return K[:m, :m], K[m:, :m], K[m:, m:]


def flow(K, eta, t, N, ridge=0.0):
    """exp(-eta t (K + ridge I) / N), by scipy's expm."""
    return scipy.linalg.expm(-eta * t * (K + ridge * np.eye(len(K))) / N)


@pytest.mark.parametrize("outputs", [None, 2])
@pytest.mark.parametrize("t", [0.0, 0.3, 5.0, 200.0])
def test_the_outputs_follow_gradient_flow(outputs, t):
    K, K_star, _ = kernels()
    rng = np.random.default_rng(1)
    shape = (7,) if outputs is None else (7, outputs)
    y, f0 = rng.standard_normal(shape), rng.standard_normal(shape)
    f_star0 = rng.standard_normal((4,) + shape[1:])
    eta, N = 0.7, y.size
    train, test = gradient_descent_mse(K, y, learning_rate=eta)(t, f0, f_star0, K_star)
    E = flow(K, eta, t, N)
    assert_relative(train, y + E @ (f0 - y))
    assert_relative(test, f_star0 - K_star @ np.linalg.solve(K, (np.eye(7) - E) @ (f0 - y)))


def test_the_flow_solves_its_differential_equation():
    """df/dt = -(eta / N) (K + ridge I) (f - y) on the training points, and the test points move by
    -(eta / N) K_* (f - y), by central differences of the prediction itself."""
    K, K_star, _ = kernels()
    y, f0, f_star0 = np.linspace(-1, 1, 7), np.cos(np.arange(7.0)), np.zeros(4)
    eta, N, ridge, t, dt = 2.0, 7, 0.05, 1.5, 1e-4
    predict = gradient_descent_mse(K, y, learning_rate=eta, diag_reg=ridge, diag_reg_absolute_scale=True)
    (before, test_before), (now, _), (after, test_after) = (predict(s, f0, f_star0, K_star) for s in
                                                            (t - dt, t, t + dt))
    assert_relative((after - before) / (2 * dt), -(eta / N) * (K + ridge * np.eye(7)) @ (now - y), 1e-7)
    assert_relative((test_after - test_before) / (2 * dt), -(eta / N) * K_star @ (now - y), 1e-7)


def test_times_in_an_array_add_leading_axes():
    K, K_star, _ = kernels()
    y = np.arange(7.0)
    predict = gradient_descent_mse(K, y)
    times = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, np.inf]])
    train, test = predict(times, 0.0, 0.0, K_star)
    assert train.shape == (2, 3, 7) and test.shape == (2, 3, 4)
    for index in np.ndindex(times.shape):
        single_train, single_test = predict(times[index], 0.0, 0.0, K_star)
        assert_relative(train[index], single_train)
        assert_relative(test[index], single_test)


@pytest.mark.parametrize("t", [None, np.inf])
@pytest.mark.parametrize("features", [12, 4])  # nonsingular, and rank 4 < m = 7
def test_infinite_time_is_the_minimum_norm_interpolant(t, features):
    K, K_star, _ = kernels(features=features)
    y, f0, f_star0 = np.sin(np.arange(7.0)), np.full(7, 0.25), np.full(4, -0.5)
    train, test = gradient_descent_mse(K, y)(t, f0, f_star0, K_star)
    coefficients = np.linalg.lstsq(K, y - f0, rcond=1e-10)[0]
    assert_relative(test, f_star0 + K_star @ coefficients, 1e-8)
    if features >= 7:
        assert_relative(train, y)
    assert np.isfinite(train).all() and np.isfinite(test).all()


def test_the_regularizer_is_relative_to_the_mean_diagonal_unless_absolute():
    K, K_star, _ = kernels()
    y = np.arange(7.0)
    relative = gradient_descent_mse(K, y, diag_reg=0.1)(None, 0.0, 0.0, K_star)[1]
    absolute = gradient_descent_mse(K, y, diag_reg=0.1 * np.mean(np.diag(K)), diag_reg_absolute_scale=True)
    assert_relative(relative, absolute(None, 0.0, 0.0, K_star)[1])
    assert_relative(relative, K_star @ np.linalg.solve(K + 0.1 * np.mean(np.diag(K)) * np.eye(7), y))


def test_a_one_percent_error_in_the_learning_rate_is_detected():
    K, K_star, _ = kernels()
    y = np.arange(7.0)
    expected = y + flow(K, 1.0, 3.0, 7) @ (0.0 - y)
    assert_relative(gradient_descent_mse(K, y, learning_rate=1.0)(3.0), expected)
    with pytest.raises(AssertionError):
        assert_relative(gradient_descent_mse(K, y, learning_rate=1.01)(3.0), expected)


def test_only_the_outputs_asked_for_are_returned():
    K, K_star, _ = kernels()
    predict = gradient_descent_mse(K, np.ones(7))
    assert predict(1.0).shape == (7,)
    assert predict(1.0, None, 0.0, K_star).shape == (4,)
    with pytest.raises(ValueError, match="^fx_train_0: expected outputs at the training points"):
        predict(1.0, None, None)
    with pytest.raises(ValueError, match="^k_test_train: required with fx_test_0"):
        predict(1.0, 0.0, 0.0)


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_the_posterior_is_the_gaussian_conditional(ridge):
    K, K_star, K_star_star = kernels(features=20)
    y = np.random.default_rng(3).standard_normal((7, 2))
    mean, cov = gp_inference(K, y, diag_reg=ridge, diag_reg_absolute_scale=True)(K_star, K_star_star)
    noisy = K + ridge * np.eye(7)
    assert_relative(mean, K_star @ np.linalg.solve(noisy, y), 1e-9)
    assert_relative(cov, K_star_star - K_star @ np.linalg.solve(noisy, K_star.T), 1e-9)
    np.testing.assert_array_equal(cov, cov.T)
    with pytest.raises(AssertionError):  # a 1% error in the prior covariance is beyond the tolerance
        assert_relative(cov, 1.01 * K_star_star - K_star @ np.linalg.solve(noisy, K_star.T), 1e-9)


def test_the_posterior_at_the_training_points_interpolates_without_noise():
    K, _, _ = kernels(features=20)
    y = np.cos(np.arange(7.0))
    mean, cov = gp_inference(K, y)(K, K)
    assert_relative(mean, y, 1e-8)
    assert float(np.max(np.abs(cov))) <= 1e-8 * float(np.max(K))
    assert (np.diag(cov) >= 0).all()


@pytest.mark.parametrize("call, error, message", [
    (lambda: gradient_descent_mse(np.ones((3, 4)), np.ones(3)), ValueError, "^k_train_train: expected a square"),
    (lambda: gradient_descent_mse(np.triu(np.ones((3, 3))), np.ones(3)), ValueError,
     "^k_train_train: expected a symmetric"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(4)), ValueError, "^y_train: expected 3 rows"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones((3, 2, 2))), ValueError, "^y_train: expected"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3), learning_rate=0.0), ValueError, "^learning_rate"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3), diag_reg=-1.0), ValueError, "^diag_reg"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3), diag_reg_absolute_scale=1), TypeError,
     "^diag_reg_absolute_scale"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(-1.0), ValueError, "^t: expected times >= 0"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(np.nan), ValueError, "^t: expected times >= 0"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))("soon"), TypeError, "^t: expected real times"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(1.0, np.ones(2)), ValueError, "^fx_train_0"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(1.0, 0.0, 0.0, np.ones((2, 4))), ValueError,
     "^k_test_train: expected shape"),
    (lambda: gp_inference(np.eye(3), np.ones(3))(np.ones((2, 3)), np.ones((3, 3))), ValueError, "^k_test_test"),
    (lambda: gp_inference(np.full((2, 2), np.nan), np.ones(2)), ValueError, "^k_train_train"),
])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_caller_arrays_are_not_modified():
    K, K_star, K_star_star = kernels()
    y = np.arange(7.0)
    copies = [array.copy() for array in (K, K_star, K_star_star, y)]
    gradient_descent_mse(K, y, diag_reg=0.1)(2.0, y, y[:4], K_star)
    gp_inference(K, y, diag_reg=0.1)(K_star, K_star_star)
    for array, copy in zip((K, K_star, K_star_star, y), copies):
        np.testing.assert_array_equal(array, copy)


def test_grams_near_the_float_limit_give_the_answers_of_unit_grams():
    """Entries of 1e308: the symmetrization, the regularizer and the eigendecomposition stay finite."""
    K, K_star, K_star_star = kernels()
    y = np.arange(7.0)
    big = 1e308 / np.max(np.abs(K))
    unit = gradient_descent_mse(K, y, diag_reg=0.1)(None, 0.0, 0.0, K_star)
    huge = gradient_descent_mse(big * K, y, diag_reg=0.1)(None, 0.0, 0.0, big * K_star)
    assert_relative(huge[1], unit[1], 1e-9)
    assert_relative(gradient_descent_mse(big * K, y, learning_rate=1 / big)(2.0),
                    gradient_descent_mse(K, y)(2.0), 1e-9)
    mean = gp_inference(big * K, y)(big * K_star)
    assert_relative(mean, gp_inference(K, y)(K_star), 1e-8)


def test_a_singular_gram_moves_continuously_to_infinite_time():
    """Duplicated training points: the zero eigenvalue's direction never moves, so large finite
    times approach t = infinity, and two copies of a point keep the same output."""
    K, K_star, _ = kernels(m=7, features=12)
    K = np.block([[K, K[:, :1]], [K[:1, :], K[:1, :1]]])  # the first point twice
    K_star = np.hstack([K_star, K_star[:, :1]])
    y = np.append(np.arange(7.0), 0.0)
    predict = gradient_descent_mse(K, y)
    train_inf, test_inf = predict(None, 0.0, 0.0, K_star)
    for t in (1e10, 1e16, 1e20, 1e300):
        train, test = predict(t, 0.0, 0.0, K_star)
        assert np.isfinite(test).all()
        assert_relative(test, test_inf, 1e-6)
        assert abs(train[0] - train[-1]) <= 1e-9 * np.max(np.abs(train))


def test_an_indefinite_matrix_is_refused_by_name():
    with pytest.raises(ValueError, match="^k_train_train: expected a positive semi-definite Gram"):
        gradient_descent_mse([[1.0, 2.0], [2.0, 1.0]], [1.0, 0.0])
    with pytest.raises(ValueError, match="^k_train_train: expected a positive semi-definite Gram"):
        gp_inference([[1.0, 2.0], [2.0, 1.0]], [1.0, 0.0])


def test_the_predictions_do_not_follow_later_changes_to_the_caller_s_arrays():
    K, _, _ = kernels()
    y = np.arange(7.0)
    predict = gradient_descent_mse(K, y)
    before = predict(1.0)
    y[:] = 0.0
    np.testing.assert_array_equal(predict(1.0), before)


def test_an_ill_conditioned_gram_warns_when_inverted():
    K, K_star, _ = kernels(features=20)
    ill = K + 1e-14 * np.eye(7)
    ill[:, 0], ill[0, :] = ill[:, 1], ill[1, :]
    ill[0, 0] = ill[1, 1] * (1 + 1e-13)  # two nearly equal points
    y = np.arange(7.0)
    with pytest.warns(widenet.ConditioningWarning, match="ill-conditioned"):
        gradient_descent_mse(ill, y)(None, 0.0, 0.0, K_star)
    with pytest.warns(widenet.ConditioningWarning, match="ill-conditioned"):
        gp_inference(ill, y)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gradient_descent_mse(np.eye(3), np.ones((3, 0))), ValueError, "^y_train: expected 3 rows"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(np.array([])), ValueError, "^t: expected at least one"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(True), TypeError, "^t: expected real times"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones(3))(1.0, 0.0, 0.0, np.ones(3)), ValueError,
     r"^k_test_train: expected a 2-D array \(m_test, 3\); for one test point use"),
    (lambda: gradient_descent_mse(np.eye(3), np.ones((3, 3)))(1.0, np.ones(3)), ValueError, "^fx_train_0"),
])
def test_more_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()
