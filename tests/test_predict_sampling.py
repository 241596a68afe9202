"""Samples against their laws (sample means and covariances within their standard errors, and a
1% error in the covariance beyond what they allow), finite samples from singular, indefinite and
huge covariances with a ConditioningWarning, and the stable step against gradient descent."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import widenet
from widenet.predict import (
    gradient_descent_mse_ensemble,
    max_learning_rate,
    sample_gaussian,
    sample_posterior,
    sample_prior,
)

X = np.array([[0.8, -0.2], [-0.5, 0.9], [0.3, 0.4], [-1.0, -0.6]])
Y = np.array([0.5, -0.3, 0.8, 0.1])
NNGP = widenet.LimitKernel("erf", "ntk", kind="nngp", bias_var=0.1, output_bias_var=0.1)


def covariance_error(samples, mean, cov):
    """The largest |sample covariance - cov| in units of its standard error (normal fourth moments)."""
    centered = samples - mean
    sample_cov = centered.T @ centered / len(samples)
    standard_error = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / len(samples))
    return float(np.max(np.abs(sample_cov - cov) / standard_error))


def test_samples_have_their_mean_and_covariance():
    cov = NNGP(X)
    mean = np.array([1.0, -2.0, 0.5, 0.0])
    samples = sample_gaussian(mean, cov, 40000, seed=1)
    assert samples.shape == (40000, 4)
    assert float(np.max(np.abs(samples.mean(axis=0) - mean) / np.sqrt(np.diag(cov) / 40000))) < 5
    assert covariance_error(samples, mean, cov) < 5
    assert covariance_error(samples, mean, 1.1 * cov) > 5  # a 10% error is resolved by 40000 draws
    many = sample_gaussian(mean, cov, 400000, seed=2)
    assert covariance_error(many, mean, 1.01 * cov) > 5  # and a 1% error by 400000


def test_columns_are_independent_draws_with_the_shared_covariance():
    cov = NNGP(X)
    samples = sample_gaussian(np.zeros((4, 2)), cov, 20000, seed=3)
    assert samples.shape == (20000, 4, 2)
    assert covariance_error(samples[:, :, 0], 0.0, cov) < 5 and covariance_error(samples[:, :, 1], 0.0, cov) < 5
    cross = samples[:, :, 0].T @ samples[:, :, 1] / 20000
    assert float(np.max(np.abs(cross) / np.sqrt(np.outer(np.diag(cov), np.diag(cov)) / 20000))) < 5


@pytest.mark.parametrize("cov, message", [
    (np.ones((3, 3)), "cov is singular"),                                   # rank 1
    (np.diag([1.0, 0.0, 2.0]), "cov is singular"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "cov is not positive semi-definite"),  # eigenvalues 3 and -1
    (1e300 * np.ones((3, 3)), "cov is singular"),                           # near the float64 limit
    (np.diag([1.0, 1e-12]), "ill-conditioned"),
])
def test_difficult_covariances_give_finite_samples_and_a_warning(cov, message):
    with pytest.warns(widenet.ConditioningWarning, match=message):
        samples = sample_gaussian(np.zeros(len(cov)), cov, 1000, seed=4)
    assert np.isfinite(samples).all()


def test_a_regular_covariance_gives_no_warning_and_zero_gives_the_mean():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample_gaussian(np.zeros(4), NNGP(X), 10, seed=5)
        np.testing.assert_array_equal(sample_gaussian(np.ones(3), np.zeros((3, 3)), 2, seed=0), np.ones((2, 3)))


def test_the_prior_and_the_posterior_are_the_predictions_gaussians():
    prior = sample_prior(NNGP, X, 40000, seed=6)
    assert covariance_error(prior, 0.0, NNGP(X)) < 5
    network = widenet.Network(2, [32, 32], "erf", "ntk", seed=0)
    assert sample_prior(network, X, 3, seed=0).shape == (3, 4)
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel("erf", "ntk", bias_var=0.1, output_bias_var=0.1),
                                            X, Y)
    X_test = X[:2] + 0.3
    mean, cov = predict(5.0, X_test, compute_cov=True)
    draws = sample_posterior(predict, X_test, 5.0, 40000, seed=7)
    assert float(np.max(np.abs(draws.mean(axis=0) - mean) / np.sqrt(np.diag(cov) / 40000))) < 5
    assert covariance_error(draws, mean, cov) < 5
    at_data = sample_posterior(predict, None, None, 5, seed=8, get="nngp")  # the posterior is exact at the data
    np.testing.assert_allclose(at_data, np.broadcast_to(Y, (5, 4)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("loss", ["sum", "mean", "half_sum"])
def test_the_stable_step_is_the_edge_of_convergence(loss):
    """Gradient descent on the model's own quadratic: the residual's norm after many steps decays
    below the step bound and grows above it (1% either side)."""
    K = widenet.limit_kernel(X, activation="erf", parametrization="ntk", bias_var=0.1)
    h = max_learning_rate(K, loss=loss)
    s = {"sum": 1.0, "mean": 1 / 4, "half_sum": 0.5}[loss]
    assert math.isclose(h, 1 / (s * np.linalg.eigvalsh(K)[-1]), rel_tol=1e-12)
    for factor, decays in ((0.99, True), (1.01, False)):
        r = Y.copy()
        for _ in range(3000):
            r = r - 2 * factor * h * s * K @ r
        assert (np.linalg.norm(r) < np.linalg.norm(Y)) == decays
    kernel = widenet.LimitKernel("erf", "ntk", bias_var=0.1)
    assert max_learning_rate(kernel, X, loss) == pytest.approx(h, rel=1e-12)
    network = widenet.Network(2, [16], "tanh", "ntk", seed=0)
    assert max_learning_rate(network, X) == pytest.approx(1 / np.linalg.eigvalsh(network.ntk(X))[-1], rel=1e-12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: sample_gaussian(np.zeros(3), np.eye(4)), ValueError, "^cov: expected shape"),
    (lambda: sample_gaussian(np.zeros(3), np.eye(3), 0), ValueError, "^n_samples"),
    (lambda: sample_gaussian(np.zeros(2), [[1.0, np.nan], [np.nan, 1.0]]), ValueError, "^cov"),
    (lambda: sample_prior("nngp", X), TypeError, "^kernel: expected a kernel object"),
    (lambda: sample_posterior(NNGP, X), TypeError, "^prediction: expected the result"),
    (lambda: max_learning_rate(np.zeros((2, 2))), ValueError, "^kernel: its Gram has no positive eigenvalue"),
    (lambda: max_learning_rate(np.eye(2), loss="total"), ValueError, "^loss"),
    (lambda: max_learning_rate(3.0, X), TypeError, "^kernel: expected a Gram matrix"),
])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()
