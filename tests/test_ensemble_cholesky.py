"""The infinite ensemble at t = infinity by Cholesky: the mean and covariance of both kinds, at
test and training points, with and without diag_reg, equal to the eigendecomposition's answer
(every factorization refused) and to numpy's solves of Lee et al.'s formulas; the fall-back to
the eigendecomposition (minimum-norm answer, ConditioningWarning) on singular Grams; one
eigendecomposition for all finite times; and the NNGP and tangent Grams of a LimitKernel from
one pass. Which path ran is spied on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import widenet
from widenet import _cholesky, _core
from widenet.predict import gradient_descent_mse_ensemble

from test_cholesky_solves import Paths, gram_with_spectrum

SETTINGS = dict(activation="relu", parametrization="ntk", multipliers=True, bias_var=0.3, output_bias_var=0.2)
RNG = np.random.default_rng(20)
X, X_TEST = RNG.standard_normal((30, 4)), RNG.standard_normal((6, 4))
Y = np.stack([np.sin(X[:, 0]), np.cos(X[:, 1])], axis=1)


@pytest.fixture
def paths(monkeypatch):
    return Paths(monkeypatch)


def assert_close(got, expected, rtol, scale=None):
    """Equal to ``rtol`` of ``scale`` (the expected answer's largest entry); a 1% error would not pass."""
    scale = np.max(np.abs(expected)) if scale is None else scale
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * scale)
    assert not np.allclose(1.01 * np.asarray(got), expected, rtol=0, atol=rtol * scale)


def predictions(kernel, diag_reg, monkeypatch=None, **call):
    """The prediction at t = infinity (mean, covariance) at the test points and at the training points."""
    predict = gradient_descent_mse_ensemble(kernel, X, Y, learning_rate=0.7, diag_reg=diag_reg)
    return predict(None, X_TEST, compute_cov=True, **call), predict(None, None, compute_cov=True, **call)


def lee_et_al(kind, diag_reg, depth):
    """Mean and covariance at t = infinity on X_TEST, by numpy's solves (docs/theory.md, section 9)."""
    grams = {}
    for name in ("ntk", "nngp"):
        options = dict(SETTINGS, kind=name, depth=depth)
        grams[name] = (widenet.limit_kernel(X, **options), widenet.limit_kernel(X_TEST, X, **options))
    K, K_star = grams["nngp"]
    theta, theta_star = grams[kind]
    prior = widenet.limit_kernel(X_TEST, **dict(SETTINGS, kind="nngp", depth=depth))
    shifted = theta + diag_reg * np.mean(np.diag(theta)) * np.eye(len(theta))
    moved = np.linalg.solve(shifted, theta_star.T)
    mean = moved.T @ Y
    if kind == "nngp":
        return mean, prior - K_star @ moved
    return mean, prior + moved.T @ K @ moved - K_star @ moved - moved.T @ K_star.T


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("diag_reg", [0.0, 1e-3])
@pytest.mark.parametrize("depth", [1, 3])
def test_at_infinity_cholesky_gives_the_eigendecomposition_s_answer(paths, monkeypatch, kind, diag_reg, depth):
    kernel = widenet.LimitKernel(**SETTINGS, depth=depth)
    (mean, cov), (train_mean, train_cov) = predictions(kernel, diag_reg, get=kind)
    assert paths.cholesky == [True] and paths.eigh == 0  # one factorization served both calls
    monkeypatch.setattr(_cholesky, "factorize", lambda *args, **kwargs: None)
    (mean_eigh, cov_eigh), (train_mean_eigh, train_cov_eigh) = predictions(kernel, diag_reg, get=kind)
    assert paths.eigh == 1
    assert_close(mean, mean_eigh, 1e-10)
    assert_close(cov, cov_eigh, 1e-10)
    expected_mean, expected_cov = lee_et_al(kind, diag_reg, depth)
    assert_close(mean, expected_mean, 1e-10)
    assert_close(cov, expected_cov, 1e-10, scale=np.max(np.abs(np.diag(expected_cov))) + np.max(np.abs(cov_eigh)))
    # at the training points every direction has converged: the targets, and no spread
    np.testing.assert_array_equal(train_mean, Y)
    np.testing.assert_allclose(train_mean_eigh, Y, rtol=0, atol=1e-10 * np.max(np.abs(Y)))
    assert np.count_nonzero(train_cov) == 0
    np.testing.assert_allclose(train_cov_eigh, 0.0, atol=1e-10 * np.max(np.abs(cov_eigh)))


def test_an_infinite_time_in_an_array_takes_cholesky_and_a_finite_one_the_eigendecomposition_once(paths):
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y[:, 0], diag_reg=1e-3)
    at_infinity = predict(np.array([np.inf, np.inf]), X_TEST, compute_cov=True)
    assert paths.cholesky == [True] and paths.eigh == 0
    assert at_infinity[0].shape == (2, len(X_TEST)) and at_infinity[1].shape == (2, len(X_TEST), len(X_TEST))
    mixed = predict(np.array([1.0, 5.0, np.inf]), X_TEST, compute_cov=True)
    predict(2.0, X_TEST)
    later = predict(None, X_TEST, compute_cov=True)  # the eigendecomposition kept serves infinity too
    assert paths.eigh == 1 and paths.cholesky == [True]
    for got in (mixed, later):
        assert_close(got[0][-1] if got[0].ndim == 2 else got[0], at_infinity[0][0], 1e-10)
        assert_close(got[1][-1] if got[1].ndim == 3 else got[1], at_infinity[1][0], 1e-10)


def test_gradient_descent_steps_keep_the_eigendecomposition(paths):
    predict = gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, Y, learning_rate=1e-3,
                                            loss="mean")
    predict(steps=np.array([1, 10]), X_test=X_TEST, compute_cov=True)
    assert paths.cholesky == [] and paths.eigh == 1


class Grams:
    """A model whose kernels are given matrices (``ntk`` and ``nngp`` methods, as a network has)."""

    def __init__(self, train, cross, prior):
        self.train, self.cross, self.prior = train, cross, prior

    def ntk(self, X1, X2=None):
        return self.train if X2 is None and len(X1) == len(self.train) else self.cross if X2 is not None else self.prior

    nngp = ntk


def test_a_singular_gram_falls_back_to_the_minimum_norm_answer(paths):
    points = np.vstack([X[:10], X[:5]])  # duplicated points: a singular Gram
    gram = widenet.limit_kernel(points, **SETTINGS)
    cross, prior = widenet.limit_kernel(X_TEST, points, **SETTINGS), widenet.limit_kernel(X_TEST, **SETTINGS)
    y = np.sin(points[:, 0])
    mean, cov = gradient_descent_mse_ensemble(Grams(gram, cross, prior), points, y)(None, X_TEST, compute_cov=True)
    assert paths.cholesky == [False] and paths.eigh == 1
    pseudo_inverse = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
    assert_close(mean, cross @ pseudo_inverse @ y, 1e-9)
    moved = pseudo_inverse @ cross.T
    assert_close(cov, prior + moved.T @ gram @ moved - 2 * cross @ moved, 1e-8, scale=np.max(np.abs(prior)))


def test_an_ill_conditioned_gram_falls_back_and_warns():
    m = 20
    gram = gram_with_spectrum(np.geomspace(1e-12, 1.0, m), seed=21)
    points = RNG.standard_normal((m, 4))
    model = Grams(gram, RNG.standard_normal((3, m)), np.eye(3))
    with pytest.warns(widenet.ConditioningWarning, match="ill-conditioned"):
        gradient_descent_mse_ensemble(model, points, np.ones(m))(None, points[:3])
    well_posed = Grams(gram_with_spectrum(np.geomspace(1e-3, 1.0, m), seed=21), model.cross, model.prior)
    with warnings.catch_warnings():  # none: the factorization answers without a warning
        warnings.simplefilter("error")
        gradient_descent_mse_ensemble(well_posed, points, np.ones(m))(None, points[:3])


@pytest.mark.parametrize("get", [("nngp", "ntk"), "ntk"])
def test_a_limit_kernel_gives_both_grams_from_one_pass(monkeypatch, get):
    """With the NTK covariance (or both kinds) asked for, each block is one call of the pair."""
    calls = []
    for name in ("limit_kernel", "limit_kernel_pair"):
        original = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda *args, _name=name, _f=original, **kwargs: calls.append(_name) or
                            _f(*args, **kwargs))
    kernel = widenet.LimitKernel(**SETTINGS, depth=2)
    calls.clear()  # the LimitKernel's own check of its options
    got = gradient_descent_mse_ensemble(kernel, X, Y, diag_reg=1e-4)(3.0, X_TEST, get=get, compute_cov=True)
    # the training Grams and the test-by-training Grams as pairs; the test points' prior alone
    assert calls == ["limit_kernel_pair", "limit_kernel_pair", "limit_kernel"]

    class TwoPasses:  # each kind from a call of its own, as before
        def ntk(self, X1, X2=None):
            return kernel(X1, X2)

        def nngp(self, X1, X2=None):
            return widenet.LimitKernel(**SETTINGS, depth=2, kind="nngp")(X1, X2)

    expected = gradient_descent_mse_ensemble(TwoPasses(), X, Y, diag_reg=1e-4)(3.0, X_TEST, get=get, compute_cov=True)
    for kind in ("nngp", "ntk") if isinstance(get, tuple) else ("ntk",):
        for got_part, expected_part in zip(got[kind] if isinstance(get, tuple) else got,
                                           expected[kind] if isinstance(get, tuple) else expected):
            np.testing.assert_array_equal(got_part, expected_part)
