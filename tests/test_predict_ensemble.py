"""The infinite ensemble's Gaussian against the closed forms of Lee et al. (2019) computed here
from the limit kernels with scipy's matrix exponential and solves, and against a Monte Carlo
over ensembles of wide networks trained by gradient descent, within the sampling error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import widenet
from widenet.predict import gradient_descent_mse_ensemble

from test_predict import assert_relative

SETTINGS = dict(activation="erf", parametrization="ntk", bias_var=0.1, output_bias_var=0.1)
X = np.array([[0.8, -0.2], [-0.5, 0.9], [0.3, 0.4], [-1.0, -0.6]])
Y = np.array([0.5, -0.3, 0.8, 0.1])
X_TEST = np.array([[0.1, 0.2], [1.2, -0.7], [-0.4, -0.1]])


def grams(kind, depth=1):
    options = dict(SETTINGS, kind=kind, depth=depth)
    return (widenet.limit_kernel(X, **options), widenet.limit_kernel(X_TEST, X, **options),
            widenet.limit_kernel(X_TEST, **options))


def lee_et_al(t, eta, kind, depth=1):
    """Mean and covariance of the trained ensemble on X_TEST and on X (Lee et al. 2019, written here)."""
    theta, theta_star, _ = grams("ntk" if kind == "ntk" else "nngp", depth)
    K, K_star, K_star_star = grams("nngp", depth)
    N = Y.size
    E = scipy.linalg.expm(-eta * t * theta / N) if np.isfinite(t) else np.zeros_like(theta)
    F = np.linalg.solve(theta, np.eye(len(theta)) - E)
    mean = theta_star @ F @ Y
    cov = K_star_star + theta_star @ F @ K @ F @ theta_star.T - theta_star @ F @ K_star.T - K_star @ F @ theta_star.T
    train_mean, train_cov = (np.eye(len(theta)) - E) @ Y, E @ K @ E
    return mean, cov, train_mean, train_cov


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("t", [0.0, 0.7, 6.0, None])
@pytest.mark.parametrize("depth", [1, 2])
def test_the_gaussian_is_lee_et_al(kind, t, depth):
    eta = 1.3
    kernel = widenet.LimitKernel(**SETTINGS, depth=depth)
    predict = gradient_descent_mse_ensemble(kernel, X, Y, learning_rate=eta)
    mean, cov = predict(t, X_TEST, get=kind, compute_cov=True)
    train_mean, train_cov = predict(t, None, get=kind, compute_cov=True)
    expected = lee_et_al(math.inf if t is None else t, eta, kind, depth)
    prior = grams("nngp", depth)[0]
    for got, want, scale in zip((mean, cov, train_mean, train_cov), expected, (1.0, prior.max(), 1.0, prior.max())):
        assert_relative(got, want, 1e-9, scale)  # relative to the data's and the prior's scales (0 at t = 0)


def test_at_infinity_the_readout_ensemble_is_the_posterior():
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y)
    mean, cov = predict(None, X_TEST, get="nngp", compute_cov=True)
    K, K_star, K_star_star = grams("nngp")
    assert_relative(mean, K_star @ np.linalg.solve(K, Y), 1e-9)
    assert_relative(cov, K_star_star - K_star @ np.linalg.solve(K, K_star.T), 1e-9)


def test_at_time_zero_the_ensemble_is_the_prior():
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y)
    mean, cov = predict(0.0, X_TEST, compute_cov=True)
    np.testing.assert_array_equal(mean, np.zeros(3))
    assert_relative(cov, grams("nngp")[2], 1e-12)


def test_times_in_an_array_and_both_kinds_at_once():
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y)
    times = np.array([[0.5, 1.0], [2.0, np.inf]])
    both = predict(times, X_TEST, get=("nngp", "ntk"), compute_cov=True)
    assert set(both) == {"nngp", "ntk"}
    mean, cov = both["ntk"]
    assert mean.shape == (2, 2, 3) and cov.shape == (2, 2, 3, 3)
    single_mean, single_cov = predict(2.0, X_TEST, compute_cov=True)
    assert_relative(mean[1, 0], single_mean, 1e-12)
    assert_relative(cov[1, 0], single_cov, 1e-12)


def test_a_one_percent_error_in_the_time_is_detected():
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y)
    expected = lee_et_al(2.0, 1.0, "ntk")
    assert_relative(predict(2.0, X_TEST, compute_cov=True)[1], expected[1], 1e-9)
    with pytest.raises(AssertionError):
        assert_relative(predict(2.02, X_TEST, compute_cov=True)[1], expected[1], 1e-9)


def test_a_monte_carlo_over_trained_networks_agrees_within_its_standard_error():
    """400 networks of width 2048 trained by gradient descent on the sum loss with a small step h
    for k steps, against the flow at t = 2 N h k: mean and variance of the outputs at the test
    and the training points, within 4 standard errors of the sampling plus the discretization
    and finite-width terms (2%). Half that time, an error of the units, is refused (its
    outputs are 7 to 11 standard errors away); errors of 1% are below what 400 networks resolve,
    and are caught by the closed-form tests above."""
    R, n, h, k = 400, 2048, 0.01, 60
    ensemble = widenet.ShallowEnsemble(R, input_dim=2, width=n, seed=11, **SETTINGS)
    ensemble.train(X, Y, lr=h, steps=k, loss="sum")
    points = np.vstack([X_TEST, X])
    outputs = ensemble.forward(points)  # (R, 7)
    sample_mean, sample_variance = outputs.mean(axis=0), outputs.var(axis=0, ddof=1)
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y)

    def agrees(t):
        mean, cov = predict(t, points, compute_cov=True)
        variance = np.diag(cov)
        slack = 0.02 * (np.abs(mean) + np.sqrt(variance))
        return bool((np.abs(sample_mean - mean) <= 4 * np.sqrt(variance / R) + slack).all() and
                    (np.abs(sample_variance - variance) <= (4 * math.sqrt(2 / (R - 1)) + 0.02) * variance).all())

    t = 2 * Y.size * h * k
    assert agrees(t)
    assert not agrees(t / 2)
    assert np.diag(predict(t, X_TEST, compute_cov=True)[1]).min() > 1e-3  # off the data the ensemble spreads


def test_a_deep_network_gives_its_linearization_s_ensemble():
    """With a Network as the kernel, the empirical NTK and NNGP of that network are used."""
    net = widenet.Network(2, [64, 64], "erf", "ntk", bias_var=0.1, output_bias_var=0.1, seed=0)
    predict = gradient_descent_mse_ensemble(net, X, Y)
    mean = predict(3.0, X_TEST)
    theta, theta_star = net.ntk(X), net.ntk(X_TEST, X)
    E = scipy.linalg.expm(-3.0 * theta / Y.size)
    assert_relative(mean, theta_star @ np.linalg.solve(theta, (np.eye(4) - E) @ Y), 1e-9)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gradient_descent_mse_ensemble("relu", X, Y), TypeError, "^kernel: expected a widenet.LimitKernel"),
    (lambda: gradient_descent_mse_ensemble(widenet.LimitKernel("erf"), X, Y[:3]), ValueError, "^y_train"),
    (lambda: gradient_descent_mse_ensemble(widenet.LimitKernel("erf"), X, Y)(1.0, get="nngg"), ValueError, "^get"),
    (lambda: gradient_descent_mse_ensemble(widenet.LimitKernel("erf"), X, Y)(1.0, np.ones((2, 3))), ValueError,
     "^X_test"),
    (lambda: gradient_descent_mse_ensemble(widenet.LimitKernel("erf"), X, Y)(-1.0), ValueError, "^t: expected"),
    (lambda: gradient_descent_mse_ensemble(widenet.LimitKernel("erf"), X, Y, learning_rate=-1), ValueError,
     "^learning_rate"),
])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()
