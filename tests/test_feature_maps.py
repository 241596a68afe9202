"""Explicit feature maps (docs/theory.md, section 2): Example 11.5 and Exercises 11.33-11.35,
checked against the kernels they reproduce, evaluated pair by pair."""

import math

import numpy as np
import pytest

from conftest import snapshot
from widenet.regression.estimators import KernelLeastSquares, MinNormLeastSquares
from widenet.kernels.feature_maps import (example_11_5_datasets, polynomial_features, quadratic_features, rbf_features,
                                  separating_features)


def pairwise(function, X, Z):
    """``function(x, z)`` for every pair of rows, in a plain double loop."""
    return np.array([[function(x, z) for z in Z] for x in X])


# -- Example 11.5 ------------------------------------------------------------------------------

def test_quadratic_features_are_those_of_11_2_6():
    X = np.array([[2.0, -3.0], [0.5, 0.0]])
    np.testing.assert_array_equal(quadratic_features(X), [[1, 2, -3, -6, 4, 9], [1, 0.5, 0, 0, 0.25, 0]])


def test_quadratic_features_need_two_columns():
    with pytest.raises(ValueError, match="X"):
        quadratic_features(np.ones((3, 3)))


def test_datasets_shapes_labels_and_seed():
    (X1, y1), (X2, y2) = example_11_5_datasets(m=31, seed=7)
    for X, y in ((X1, y1), (X2, y2)):
        assert X.shape == (31, 2) and y.shape == (31,)
        assert np.all(np.abs(X) <= 1)
        assert set(np.unique(y)) == {-1.0, 1.0}
        assert np.sum(y < 0) == 15 and np.sum(y > 0) == 16
    again = example_11_5_datasets(m=31, seed=7)
    np.testing.assert_array_equal(again[1][0], X2)
    other = example_11_5_datasets(m=31, seed=8)
    assert not np.array_equal(other[1][0], X2)


def test_first_dataset_is_separated_by_its_line_second_by_its_ellipse():
    (X1, y1), (X2, y2) = example_11_5_datasets(m=60, seed=0, margin=0.2)
    line = X1[:, 1] - 0.5 * X1[:, 0] - 0.1
    np.testing.assert_array_equal(np.sign(line), y1)
    assert np.min(np.abs(line)) > 0.2
    ellipse = 1 - (X2[:, 0] / 0.7) ** 2 - (X2[:, 1] / 0.5) ** 2
    np.testing.assert_array_equal(np.sign(ellipse), y2)
    assert np.min(np.abs(ellipse)) > 0.2 and np.min(ellipse) > -1.2  # -1 points on a ring
    # a hyperplane in the features x1^2, x2^2 (features 5 and 6 of (11.2.6)) separates it
    phi = quadratic_features(X2)
    w = np.array([1, 0, 0, 0, -1 / 0.49, -1 / 0.25])
    np.testing.assert_array_equal(np.sign(phi @ w), y2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadratic_features_classify_the_second_dataset_and_linear_ones_do_not(seed):
    """Example 11.5: sign(Phi(x, w)) with the min-norm least-squares w."""
    (X1, y1), (X2, y2) = example_11_5_datasets(m=40, seed=seed)
    linear = MinNormLeastSquares(fit_intercept=True)
    assert np.array_equal(np.sign(linear.fit(X1, y1).predict(X1)), y1)
    assert not np.array_equal(np.sign(linear.fit(X2, y2).predict(X2)), y2)
    quadratic = MinNormLeastSquares().fit(quadratic_features(X2), y2)
    np.testing.assert_array_equal(np.sign(quadratic.predict(quadratic_features(X2))), y2)
    # the same through the kernel trick: K(x, z) = <phi(x), phi(z)> ...
    explicit = KernelLeastSquares(kernel=lambda A, B: quadratic_features(A) @ quadratic_features(B).T)
    np.testing.assert_array_equal(np.sign(explicit.fit(X2, y2).predict(X2)), y2)
    # ... or the polynomial kernel (1 + x.z)^2, the same features up to scaling
    polynomial = KernelLeastSquares(kernel="polynomial", degree=2, coef0=1.0)
    np.testing.assert_array_equal(np.sign(polynomial.fit(X2, y2).predict(X2)), y2)


def test_dataset_arguments_are_checked():
    with pytest.raises(ValueError, match="m"):
        example_11_5_datasets(m=1)
    with pytest.raises(ValueError, match="margin"):
        example_11_5_datasets(margin=1.0)
    with pytest.raises(TypeError, match="seed"):
        example_11_5_datasets(seed="a")


# -- Exercise 11.35 ---------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_polynomial_features_reproduce_the_polynomial_kernel(d, degree):
    rng = np.random.default_rng(10 * d + degree)
    X, Z = rng.standard_normal((4, d)), rng.standard_normal((5, d))
    features = polynomial_features(X, degree) @ polynomial_features(Z, degree).T
    kernel = pairwise(lambda x, z: (1 + x @ z) ** degree, X, Z)
    # the sum has terms of size up to (1 + |x||z|)^r: that is the scale of its rounding
    scale = pairwise(lambda x, z: (1 + np.linalg.norm(x) * np.linalg.norm(z)) ** degree, X, Z)
    np.testing.assert_array_less(np.abs(features - kernel), 1e-12 * np.maximum(np.abs(kernel), scale))
    assert polynomial_features(X, degree).shape == (4, math.comb(d + degree, degree))


@pytest.mark.parametrize("coef0", [0.0, 0.3, 2.5])
def test_polynomial_features_with_other_offsets(coef0):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((6, 3))
    features = polynomial_features(X, 3, coef0=coef0)
    kernel = pairwise(lambda x, z: (coef0 + x @ z) ** 3, X, X)
    np.testing.assert_allclose(features @ features.T, kernel, rtol=1e-12, atol=1e-12 * np.abs(kernel).max())
    expected_count = math.comb(3 + 3 - 1, 3) if coef0 == 0 else math.comb(3 + 3, 3)
    assert features.shape == (6, expected_count)


def test_degree_two_polynomial_features_are_scaled_quadratic_features():
    X = np.random.default_rng(12).standard_normal((5, 2))
    scaled = quadratic_features(X) * np.sqrt([1, 2, 2, 2, 1, 1])
    polynomial = polynomial_features(X, 2)
    # same columns, possibly in another order
    for column in scaled.T:
        assert np.any(np.all(np.isclose(polynomial.T, column, rtol=1e-14, atol=1e-15), axis=1))


# -- Exercise 11.34 ---------------------------------------------------------------------------

def test_truncated_rbf_features_converge_to_the_rbf_kernel():
    rng = np.random.default_rng(13)
    X = rng.uniform(-1, 1, size=(6, 2)) / np.sqrt(2)  # |x| <= 1
    gamma = 0.5
    kernel = pairwise(lambda x, z: np.exp(-gamma * np.sum((x - z) ** 2)), X, X)
    errors = []
    for order in range(0, 21, 2):
        features = rbf_features(X, gamma, order)
        assert features.shape == (6, math.comb(2 + order, order))
        errors.append(np.abs(features @ features.T - kernel).max())
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]) if earlier > 1e-15)
    assert errors[0] > 0.1
    order_14 = rbf_features(X, gamma, 14)
    assert np.abs(order_14 @ order_14.T - kernel).max() < 1e-10


def test_truncation_error_is_the_tail_of_the_exponential_series():
    x, z, gamma, order = np.array([[0.7, -0.4]]), np.array([[0.3, 0.9]]), 1.5, 5
    approx = (rbf_features(x, gamma, order) @ rbf_features(z, gamma, order).T)[0, 0]
    t = 2 * gamma * float(x[0] @ z[0])
    envelope = math.exp(-gamma * (np.sum(x**2) + np.sum(z**2)))
    partial = envelope * sum(t**k / math.factorial(k) for k in range(order + 1))
    assert approx == pytest.approx(partial, rel=1e-13)


# -- Exercise 11.33 ---------------------------------------------------------------------------

@pytest.mark.parametrize("m, d", [(12, 2), (25, 4), (8, 1)])
def test_every_labelling_is_separable(m, d):
    rng = np.random.default_rng(m + d)
    X = rng.standard_normal((m, d))
    features = separating_features(X)
    assert features.shape == (m, m)
    for _ in range(20):
        y = rng.choice([-1.0, 1.0], size=m)
        # the hyperplane through 0 with normal y separates the two classes ...
        np.testing.assert_array_equal(np.sign(features @ y), y)
        # ... and min-norm least squares in feature space interpolates the labels
        fitted = MinNormLeastSquares().fit(features, y)
        np.testing.assert_allclose(fitted.predict(features), y, atol=1e-10)


def test_separating_features_are_rbf_values_against_the_training_points():
    rng = np.random.default_rng(14)
    X_train, X = rng.standard_normal((5, 3)), rng.standard_normal((2, 3))
    features = separating_features(X_train, X, gamma=0.7)
    expected = pairwise(lambda x, z: np.exp(-0.7 * np.sum((x - z) ** 2)), X, X_train)
    np.testing.assert_allclose(features, expected, rtol=1e-13)
    # the default width keeps every off-diagonal entry of the training Gram below 1/m^2
    G = separating_features(X_train)
    np.testing.assert_allclose(np.diag(G), 1.0)
    assert np.max(G - np.diag(np.diag(G))) <= 1 / 25 * (1 + 1e-12)


def test_close_points_stay_separable():
    X = np.array([[0.0, 0.0], [1e-6, 0.0], [5.0, 5.0]])
    features = separating_features(X)
    for y in ([1, -1, 1], [-1, 1, 1], [1, 1, -1]):
        np.testing.assert_array_equal(np.sign(features @ np.array(y, float)), y)


def test_separating_features_need_distinct_points():
    with pytest.raises(ValueError, match="X_train"):
        separating_features(np.array([[1.0, 2.0], [0.0, 0.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="X"):
        separating_features(np.ones((2, 2)) * [[1], [2]], np.ones((1, 3)))
    assert separating_features(np.ones((1, 2))).shape == (1, 1)


# -- validation ------------------------------------------------------------------------------

def test_bad_arguments_name_themselves():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="degree"):
        polynomial_features(X, 0)
    with pytest.raises(TypeError, match="degree"):
        polynomial_features(X, 2.5)
    with pytest.raises(ValueError, match="coef0"):
        polynomial_features(X, 2, coef0=-1)
    with pytest.raises(ValueError, match="gamma"):
        rbf_features(X, 0.0, 3)
    with pytest.raises(ValueError, match="order"):
        rbf_features(X, 1.0, -1)
    with pytest.raises(ValueError, match="X"):
        polynomial_features(np.ones(3), 2)
    with pytest.raises(ValueError, match="X"):
        rbf_features(np.array([[np.inf, 1.0]]), 1.0, 2)
    with pytest.raises(ValueError, match="gamma"):
        separating_features(X * [[1], [2], [3]], gamma=-1.0)


def test_inputs_are_not_modified():
    X = np.random.default_rng(15).standard_normal((4, 2))
    (before,) = snapshot(X)
    quadratic_features(X)
    polynomial_features(X, 3)
    rbf_features(X, 1.0, 4)
    separating_features(X)
    np.testing.assert_array_equal(X, before)
