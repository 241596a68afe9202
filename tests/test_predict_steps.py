"""Predictions after k steps of gradient descent, in the losses of ``train``, against the
residual's recursion ``r -> (I - 2 h s K) r`` applied here k times by matrix powers, against
an ensemble of wide networks trained by ``train`` itself, and a 1% error in the step refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

import widenet
from widenet.predict import gradient_descent_mse, gradient_descent_mse_ensemble

from test_predict import assert_relative, kernels
from test_predict_ensemble import SETTINGS, X, X_TEST, Y, grams

SCALES = {"sum": lambda m: 1.0, "mean": lambda m: 1.0 / m, "half_sum": lambda m: 0.5}


def step_power(K, h, s, k):
    """(I - 2 h s K)^k by repeated multiplication."""
    return np.linalg.matrix_power(np.eye(len(K)) - 2 * h * s * K, k)


@pytest.mark.parametrize("loss", ["sum", "mean", "half_sum"])
@pytest.mark.parametrize("k", [0, 1, 7, 300])
def test_the_outputs_after_k_steps_follow_the_recursion(loss, k):
    K, K_star, _ = kernels()
    rng = np.random.default_rng(2)
    y, f0, f_star0 = rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal(4)
    s = SCALES[loss](7)
    h = 0.8 / (s * np.linalg.eigvalsh(K)[-1])  # stable: below 1 / (s l_max)
    train, test = gradient_descent_mse(K, y, learning_rate=h, loss=loss)(None, f0, f_star0, K_star, steps=k)
    train_k, test_k = f0.copy(), f_star0.copy()
    for _ in range(k):  # the steps themselves: f <- f - 2 h s K (f - y), test outputs by K_*
        residual = train_k - y
        train_k, test_k = train_k - 2 * h * s * K @ residual, test_k - 2 * h * s * K_star @ residual
    assert_relative(train, train_k)
    assert_relative(test, test_k)


def test_steps_in_an_array_add_leading_axes_and_many_small_steps_approach_the_flow():
    K, K_star, _ = kernels()
    y = np.linspace(-1, 1, 7)
    predict = gradient_descent_mse(K, y, learning_rate=1e-4, loss="sum")
    outputs = predict(fx_train_0=0.0, steps=np.array([[10, 20], [30, 40000]]))
    assert outputs.shape == (2, 2, 7)
    assert_relative(outputs[0, 1], predict(fx_train_0=0.0, steps=20), 1e-14)
    flow = predict(40000.0, fx_train_0=0.0)  # the flow for a time t is the limit of t steps
    assert_relative(outputs[1, 1], flow, 1e-3)
    assert not np.allclose(outputs[1, 0], flow, rtol=1e-2)


def lee_et_al_after_steps(k, h, s, kind):
    """The trained ensemble's Gaussian after k steps, written here: F = Theta^-1 (I - E), E = (I - 2 h s Theta)^k."""
    theta, theta_star, _ = grams(kind)
    K, K_star, K_star_star = grams("nngp")
    E = step_power(theta, h, s, k)
    F = np.linalg.solve(theta, np.eye(len(theta)) - E)
    mean = theta_star @ F @ Y
    cov = K_star_star + theta_star @ F @ K @ F @ theta_star.T - theta_star @ F @ K_star.T - K_star @ F @ theta_star.T
    return mean, cov, (np.eye(len(theta)) - E) @ Y, E @ K @ E.T


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("loss", ["sum", "mean"])
@pytest.mark.parametrize("k", [0, 5, 80])
def test_the_ensemble_after_k_steps_is_lee_et_al_discretized(kind, loss, k):
    s = SCALES[loss](len(X))
    h = 0.9 / (s * np.linalg.eigvalsh(grams(kind)[0])[-1])
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y, learning_rate=h, loss=loss)
    got = (*predict(None, X_TEST, get=kind, compute_cov=True, steps=k),
           *predict(None, None, get=kind, compute_cov=True, steps=k))
    prior = grams("nngp")[0].max()
    for actual, expected, scale in zip(got, lee_et_al_after_steps(k, h, s, kind), (1.0, prior, 1.0, prior)):
        assert_relative(actual, expected, 1e-9, scale)


def test_a_one_percent_error_in_the_step_is_detected():
    h = 0.05
    expected = lee_et_al_after_steps(40, h, 1.0, "ntk")
    for rate, agrees in ((h, True), (1.01 * h, False)):
        predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y, learning_rate=rate, loss="sum")
        mean, cov = predict(X_test=X_TEST, compute_cov=True, steps=40)
        close = np.abs(cov - expected[1]).max() <= 1e-9 * expected[1].max()
        assert close == agrees


def test_a_monte_carlo_over_networks_trained_by_train_agrees_within_its_standard_error():
    """400 networks of width 2048 trained by ``train`` for k steps on the mean loss; the prediction
    after the same k steps has no discretization error, only the sampling and a finite-width
    term (2%). The same prediction after half the steps is refused."""
    R, n, h, k = 400, 2048, 0.05, 60
    ensemble = widenet.ShallowEnsemble(R, input_dim=2, width=n, seed=12, **SETTINGS)
    ensemble.train(X, Y, lr=h, steps=k, loss="mean")
    points = np.vstack([X_TEST, X])
    outputs = ensemble.forward(points)
    sample_mean, sample_variance = outputs.mean(axis=0), outputs.var(axis=0, ddof=1)
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y, learning_rate=h, loss="mean")

    def agrees(steps):
        mean, cov = predict(X_test=points, compute_cov=True, steps=steps)
        variance = np.diag(cov)
        slack = 0.02 * (np.abs(mean) + np.sqrt(variance))
        return bool((np.abs(sample_mean - mean) <= 4 * np.sqrt(variance / R) + slack).all() and
                    (np.abs(sample_variance - variance) <= (4 * math.sqrt(2 / (R - 1)) + 0.02) * variance).all())

    assert agrees(k)
    assert not agrees(k // 2)


@pytest.mark.parametrize("call, error, message", [
    (lambda p: p(1.0, X_TEST, steps=3), ValueError, "^steps: a time t .* not both"),
    (lambda p: p(X_test=X_TEST, steps=2.5), TypeError, "^steps: expected integers"),
    (lambda p: p(X_test=X_TEST, steps=-1), ValueError, "^steps: expected step counts >= 0"),
    (lambda p: p(X_test=X_TEST, steps=np.array([], dtype=int)), TypeError, "^steps"),
])
def test_bad_steps_are_refused_by_name(call, error, message):
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y, learning_rate=0.01, loss="sum")
    with pytest.raises(error, match=message):
        call(predict)


@pytest.mark.parametrize("loss", ["sum", "mean", "half_sum", None])
def test_a_step_that_does_not_converge_is_refused_with_the_bound(loss):
    K, _, _ = kernels()
    y = np.ones(7)
    bound = widenet.predict.max_learning_rate(K, loss=loss or "half_sum") * (7 if loss is None else 1)
    stable = gradient_descent_mse(K, y, learning_rate=0.999 * bound, loss=loss)(fx_train_0=0.0, steps=10_000)
    assert np.isfinite(stable).all()
    with pytest.raises(ValueError, match="^learning_rate: gradient descent with this step does not converge"):
        gradient_descent_mse(K, y, learning_rate=1.001 * bound, loss=loss)(fx_train_0=0.0, steps=3)
    with pytest.raises(ValueError, match="^loss"):
        gradient_descent_mse(K, y, loss="squared")
