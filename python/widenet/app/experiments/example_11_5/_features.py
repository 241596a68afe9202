"""The feature maps, the least-squares classifier and its accuracy with the rounding of its outputs."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import Perturbation, factor_of
from widenet.app.experiments._rounding import backward_error, gamma
from widenet.app.experiments._statistics import FloatArray
from widenet.kernels import quadratic_features
from widenet.regression.least_squares import augment, min_norm_solution


def linear_features(X: FloatArray) -> FloatArray:
    """Return the features ``(1, x1, x2)``: the affine model of Example 11.5 as least squares (Remark 11.1)."""
    return augment(X)


def squares_features(X: FloatArray) -> FloatArray:
    """Return the features ``(1, x1^2, x2^2)``: features 5 and 6 of (11.2.6) with a constant."""
    return quadratic_features(X)[:, [0, 4, 5]]


FEATURES = {"linear": linear_features, "quadratic": quadratic_features, "squares": squares_features}
# The column of x2 in the linear features and of x2^2 in the quadratic and squares ones:
# the negative controls scale them (0 drops the feature).
X2_COLUMN = {"linear": 2}
X2_SQUARED_COLUMN = {"quadratic": 5, "squares": 2}


def feature_scales(perturbation: Optional[Perturbation]) -> dict[str, dict[int, float]]:
    """Return ``{kind: {column: factor}}``: the feature columns a negative control scales."""
    scales: dict[str, dict[int, float]] = {kind: {} for kind in FEATURES}
    for kind, column in X2_COLUMN.items():
        scales[kind][column] = factor_of(perturbation, "linear_feature_x2")
    for kind, column in X2_SQUARED_COLUMN.items():
        scales[kind][column] = factor_of(perturbation, "feature_x2_squared")
    return scales


def features(kind: str, X: FloatArray, scales: Optional[dict[str, dict[int, float]]] = None) -> FloatArray:
    """Return the feature matrix of ``kind`` for the points ``X``, columns scaled by ``scales[kind]``."""
    F = FEATURES[kind](X)
    for column, factor in (scales or {}).get(kind, {}).items():
        F[:, column] *= factor
    return F


def coordinates(X: FloatArray, power: float) -> FloatArray:
    """Return ``x^power`` entrywise: the points themselves for ``power = 1``.

    A negative control feeds the linear model and the certificate search ``(x1^2, x2^2)``
    with ``power = 2``.
    """
    if not float(power).is_integer():
        raise ValueError(f"perturbation: the coordinates are raised to whole powers only, got {power!r}")
    return X if power == 1.0 else X ** int(power)


def fit(features: FloatArray, y: FloatArray) -> FloatArray:
    """Return the minimum-norm least-squares weights ``w* = F^+ y`` on the ``+-1`` labels (11.1.3)."""
    return min_norm_solution(features, y)


def accuracy(features: FloatArray, weights: FloatArray, y: FloatArray) -> float:
    """Return the fraction of points whose label is ``sign(<phi(x), w>)`` (11.2.5)."""
    return float(np.mean(np.sign(features @ weights) == y))


def output_rounding(features: FloatArray, weights: FloatArray, y: FloatArray) -> FloatArray:
    """Return a bound on the rounding error of each computed ``Phi(x_i) = <phi(x_i), w*>``.

    ``w* = F^+ y`` comes from an SVD, exact for ``F + E`` with ``|E| <= e |F|``, ``e =
    gamma_(m k)`` for ``F`` of shape ``m x k`` (Householder reductions; Higham, Theorem
    19.4), so by the least-squares perturbation bound (Higham, Theorem 20.1)
    ``|dw| <= kappa e (2 |w| + (kappa + 1) |r| / s_max) / (1 - kappa e)``, ``kappa`` the
    condition number of ``F`` on its rank and ``r`` the residual; then ``|dPhi_i| <=
    |phi_i| |dw| + gamma_(k+1) |phi_i| |w|`` (the features' own rounding and the dot product
    of ``k`` terms).
    """
    singular = np.linalg.svd(features, compute_uv=False)
    singular = singular[singular > np.finfo(np.float64).eps * max(features.shape) * singular[0]]
    kappa, e = float(singular[0] / singular[-1]), backward_error(features.shape)
    norm_w = float(np.linalg.norm(weights))
    residual = float(np.linalg.norm(features @ weights - y))
    weight_error = kappa * e * (2.0 * norm_w + (kappa + 1.0) * residual / singular[0]) / (1.0 - kappa * e)
    row_norms = np.linalg.norm(features, axis=1)
    return row_norms * weight_error + gamma(features.shape[1] + 1) * row_norms * norm_w


def classification(features: FloatArray, y: FloatArray) -> dict[str, Any]:
    """Classify with least squares on ``features`` followed by ``sign``.

    Returns the weights, the accuracy, the smallest ``y_i Phi(x_i)`` (the margin), the
    largest rounding bound of ``Phi``, and how many points are certainly right and certainly
    wrong (beyond their rounding bound).
    """
    weights = fit(features, y)
    outputs = features @ weights
    rounding = output_rounding(features, weights, y)
    signed = y * outputs
    return {"weights": weights, "accuracy": accuracy(features, weights, y), "margin": float(np.min(signed)),
            "rounding": float(np.max(rounding)), "certainly_right": int(np.count_nonzero(signed > rounding)),
            "certainly_wrong": int(np.count_nonzero(signed < -rounding)), "points": int(y.size)}
