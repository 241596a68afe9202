"""Example 11.5: a linear classifier and one on the quadratic features (11.2.6).

Two labelled datasets in ``[-1, 1]^2`` (:func:`widenet.example_11_5_datasets`): the first
is separable by a line, the second has its ``-1`` points on a ring around the ``+1``
points. Both classifiers are least squares on the ``+-1`` labels (minimum-norm solution,
:func:`widenet.min_norm_solution`) followed by ``sign`` (11.2.5):

- linear: ``Phi(x) = x^T w + b``, least squares on ``(1, x)`` (Remark 11.1);
- quadratic: ``Phi(x) = w^T phi(x)`` with ``phi(x) = (1, x1, x2, x1 x2, x1^2, x2^2)`` (11.2.6),
  whose decision boundaries are conic sections.

The chapter says no line separates the second dataset. Measured rather than assumed: a
``+1`` point inside a triangle of ``-1`` points is a certificate (every half-plane that
holds the triangle's corners holds the triangle), searched over all triangles. In the
features 5 and 6 (``x1^2, x2^2``) the second dataset is separated by a line, found by
least squares on ``(1, x1^2, x2^2)``.

A point counts as classified (or misclassified) only when ``y Phi(x)`` is beyond the
rounding bound of ``Phi(x)``, and a certificate only when each of its orientation
determinants is beyond its own rounding bound, so no verdict rests on rounding.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._rounding import backward_error, gamma
from widenet.app.experiments._statistics import FloatArray
from widenet.kernels import example_11_5_datasets, quadratic_features
from widenet.regression.least_squares import augment, min_norm_solution

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory

NAME = "example-11-5"


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


def _products(p: FloatArray, q: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``(a d, c b)``, the two products of the cross product ``(q - p) x (points - p)``."""
    a, d = (q - p)[..., :1], (points[..., 1] - p[..., 1:])
    c, b = (q - p)[..., 1:], (points[..., 0] - p[..., :1])
    return a * d, c * b


def orientation(p: FloatArray, q: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``((q - p) x (points - p), rounding bound)``.

    The cross product's sign says on which side of the line through ``p`` and ``q`` each
    point lies; computed as ``a d - c b`` from rounded differences, its error is at most
    ``gamma_4 (|a d| + |c b|)``.
    """
    first, second = _products(p, q, points)
    return first - second, gamma(4) * (np.abs(first) + np.abs(second))


def triangle_certificate(X: FloatArray, y: FloatArray, inside_label: float = 1.0) -> list[int]:
    """Find a point of label ``inside_label`` strictly inside a triangle of points of the other label.

    It is returned as ``[point, corner, corner, corner]`` (indices), or ``[]`` if there is none.

    Such a point proves that no line separates the two labels: a closed half-plane that
    contains the three corners contains their convex hull, so the point is on their side.
    Candidates found from the computed orientations count only once each of their three
    orientations is beyond its rounding bound, so the certificate is exact.
    """
    inner = np.flatnonzero(y == inside_label)
    outer = np.flatnonzero(y != inside_label)
    if inner.size == 0 or outer.size < 3:
        return []
    P = X[inner]
    corners = np.array(list(itertools.combinations(outer, 3)))  # (T, 3) indices
    A, B, C = (X[corners[:, j]] for j in range(3))  # (T, 2) each

    def side(p: FloatArray, q: FloatArray) -> FloatArray:  # the computed orientation's sign, shape (T, points)
        first, second = _products(p, q, P)
        return np.sign(first - second)

    s1, s2, s3 = side(A, B), side(B, C), side(C, A)
    for triangle, point in np.argwhere((s1 == s2) & (s2 == s3) & (s1 != 0)):
        certificate = [int(inner[point]), *(int(i) for i in corners[triangle])]
        if certificate_clearance(X, certificate) > 1.0:
            return certificate
    return []


def certificate_clearance(X: FloatArray, certificate: list[int]) -> float:
    """Return the smallest ``|orientation| / rounding bound`` of the certificate's three sides.

    Above 1: every side certain; 0 for no certificate.
    """
    if not certificate:
        return 0.0
    point, *corners = certificate
    ratios = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        value, bound = orientation(X[corners[i]][None], X[corners[j]][None], X[point][None, None])
        ratios.append(float(np.abs(value).item() / bound.item()))
    return min(ratios)


def _certainly_all_right(result: dict[str, Any]) -> bool:
    """Whether every point of a :func:`classification` is certainly right."""
    return result["certainly_right"] == result["points"]


def _classification_text(result: dict[str, Any]) -> str:
    """Return a :func:`classification`'s accuracy, margin and rounding as text."""
    return (f"accuracy {result['accuracy']:.3f} ({result['points'] - result['certainly_right']} of "
            f"{result['points']} not certainly right); min y Phi = {result['margin']:.3g}, rounding of Phi <= "
            f"{result['rounding']:.1e}")


CLASSIFIED = ("every point certainly right: y_i Phi(x_i) > its rounding bound (the least-squares perturbation bound "
              "of w* for the SVD's backward error gamma_(m k), through the condition number of F, plus gamma_(k+1) "
              "of the dot product) for all i; below minus its bound a point counts as certainly wrong")


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Fit both classifiers on both datasets and measures their training accuracy.

    Parameters
    ----------
    quick : bool
        40 points per dataset instead of 100.
    seed : int
        Seed of the datasets.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see :data:`EXPERIMENT`): ``"feature_x2_squared"`` scales the
        feature ``x2^2`` of the quadratic and squares maps, ``"linear_feature_x2"`` the
        feature ``x2`` of the linear map, ``"coordinate_power"`` the power to which the
        coordinates are raised for the linear model and the certificate search.

    Returns
    -------
    ExperimentResult
    """
    m = 40 if quick else 100
    scales = feature_scales(perturbation)
    power = factor_of(perturbation, "coordinate_power")
    datasets = dict(zip(("separable", "ring"), example_11_5_datasets(m=m, seed=seed)))
    results = {}
    for name in progress.steps(datasets, len(datasets), "datasets"):
        X, y = datasets[name]
        for kind in FEATURES:
            points = coordinates(X, power) if kind == "linear" else X
            results[f"{kind}_{name}"] = classification(features(kind, points, scales), y)
    ring_X, ring_y = coordinates(datasets["ring"][0], power), datasets["ring"][1]
    certificate = triangle_certificate(ring_X, ring_y)
    clearance = certificate_clearance(ring_X, certificate)
    separable_X = coordinates(datasets["separable"][0], power)
    separable_certificate = (triangle_certificate(separable_X, datasets["separable"][1])
                             + triangle_certificate(separable_X, datasets["separable"][1], inside_label=-1.0))
    linear_ring = results["linear_ring"]
    examples = "an example, no hypotheses: the datasets of example_11_5_datasets (margin 0.3 around each boundary)"

    claims = [
        Claim(
            reference="Example 11.5 (dataset 1)",
            key="linear-separable",
            statement="The first dataset is separable by an affine line, and the linear least-squares classifier "
                      "sign(x^T w + b) classifies every point correctly.",
            predicted="every point certainly right (training accuracy 1)",
            measured=_classification_text(results["linear_separable"]),
            holds=_certainly_all_right(results["linear_separable"]),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
        Claim(
            reference="Example 11.5 (dataset 2)",
            key="ring-not-linear",
            statement="No affine line separates the second dataset: a +1 point lies inside a triangle of -1 points "
                      "(a certificate found by searching all triangles), so the linear classifier must err.",
            predicted="a certificate exists; the linear classifier certainly wrong on at least one point",
            measured=((f"certificate: point {certificate[0]} inside the triangle {certificate[1:]}, each orientation "
                       f"{clearance:.3g} times its rounding bound or more; " if certificate
                       else "no certificate found; ")
                      + f"linear least squares: {_classification_text(linear_ring)}, "
                        f"{linear_ring['certainly_wrong']} certainly wrong"),
            holds=bool(certificate) and clearance > 1.0 and linear_ring["certainly_wrong"] > 0,
            hypothesis=examples,
            criterion=("the certificate's three orientation determinants share one sign, each beyond its rounding "
                       "bound gamma_4 (|a b| + |c d|); at least one point with y Phi(x) below minus its rounding "
                       "bound"),
        ),
        Claim(
            reference="Example 11.5, (11.2.6)",
            key="quadratic",
            statement="With the quadratic feature map phi(x) = (1, x1, x2, x1 x2, x1^2, x2^2), least squares on the "
                      "+-1 labels followed by sign separates both datasets.",
            predicted="every point of both datasets certainly right (training accuracy 1 on both)",
            measured=(f"dataset 1: {_classification_text(results['quadratic_separable'])}; dataset 2: "
                      f"{_classification_text(results['quadratic_ring'])}"),
            holds=(_certainly_all_right(results["quadratic_separable"])
                   and _certainly_all_right(results["quadratic_ring"])),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
        Claim(
            reference="Example 11.5 (features 5 and 6)",
            key="squares",
            statement="In the features x1^2 and x2^2 the second dataset is separated by a line: least squares on "
                      "(1, x1^2, x2^2) classifies every point correctly.",
            predicted="every point certainly right (training accuracy 1)",
            measured=_classification_text(results["squares_ring"]),
            holds=_certainly_all_right(results["squares_ring"]),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
    ]
    numbers = {"accuracy": {key: result["accuracy"] for key, result in results.items()},
               "weights": {key: result["weights"] for key, result in results.items()},
               "classification": {key: {k: v for k, v in result.items() if k != "weights"}
                                  for key, result in results.items()},
               "ring_certificate": certificate, "ring_certificate_clearance": clearance,
               "separable_dataset_certificates": separable_certificate}
    data = {f"{part}_{name}": array for name, (X, y) in datasets.items() for part, array in (("X", X), ("y", y))}
    settings = {"points_per_dataset": m, "seed": seed, "quick": quick, "solver": "min_norm_solution",
                "labels": "+-1", "linear_features": "(1, x1, x2)",
                "quadratic_features": "(1, x1, x2, x1 x2, x1^2, x2^2)", "squares_features": "(1, x1^2, x2^2)",
                "feature_scales": {kind: {str(c): f for c, f in columns.items()} for kind, columns in scales.items()},
                "coordinate_power": power,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw the two datasets with the decision boundaries of both classifiers into ``directory``.

    And dataset 2 in the features ``x1^2, x2^2`` with the line that separates it there.
    """
    from widenet.app.experiments._plotting import figure, save

    data, weights = result.data, result.numbers["weights"]
    fig, axes = figure(columns=3, width=4.4, height=4.2)
    side = np.linspace(-1.05, 1.05, 301)
    g1, g2 = np.meshgrid(side, side)
    plane = np.column_stack([g1.ravel(), g2.ravel()])
    styles = {"linear": ("tab:green", "--", "linear"), "quadratic": ("black", "-", "quadratic features")}
    settings = result.settings
    scales = {kind: {int(c): f for c, f in columns.items()} for kind, columns in settings["feature_scales"].items()}

    def scatter(ax: Axes, X: FloatArray, y: FloatArray) -> None:
        ax.plot(X[y > 0, 0], X[y > 0, 1], "s", color="tab:cyan", markersize=5, label="+1")
        ax.plot(X[y < 0, 0], X[y < 0, 1], "o", color="tab:red", markersize=5, label="-1")

    for ax, (name, title) in zip(axes[0], (("separable", "dataset 1"), ("ring", "dataset 2"))):
        X, y = np.asarray(data[f"X_{name}"]), np.asarray(data[f"y_{name}"])
        scatter(ax, X, y)
        for kind, (color, line, label) in styles.items():
            points = coordinates(plane, settings["coordinate_power"]) if kind == "linear" else plane
            values = (features(kind, points, scales) @ np.asarray(weights[f"{kind}_{name}"])).reshape(g1.shape)
            ax.contour(g1, g2, values, levels=[0.0], colors=color, linestyles=line, linewidths=1.6)
            accuracy_value = result.numbers["accuracy"][f"{kind}_{name}"]
            ax.plot([], [], line, color=color, label=f"{label}: accuracy {accuracy_value:.2f}")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_aspect("equal")
        ax.set_title(f"{title}: decision boundaries")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        if name == "ring" and result.numbers["ring_certificate"]:
            point, *corners = result.numbers["ring_certificate"]
            triangle = X[corners + corners[:1]]
            ax.plot(triangle[:, 0], triangle[:, 1], ":", color="0.3", linewidth=1.2,
                    label="no line: a +1 point inside a -1 triangle")
            ax.plot(X[point, 0], X[point, 1], "s", markersize=9, markerfacecolor="none", markeredgecolor="0.1")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

    ax = axes[0][2]
    X, y = np.asarray(data["X_ring"]), np.asarray(data["y_ring"])
    squares = X**2
    scatter(ax, squares, y)
    b, a1, a2 = np.asarray(weights["squares_ring"])
    t = np.linspace(0.0, 1.05 * squares[:, 0].max(), 50)
    if abs(a2) > 1e-12:  # the line b + a1 s1 + a2 s2 = 0
        ax.plot(t, -(b + a1 * t) / a2, "-", color="black", linewidth=1.6,
                label=f"least squares: accuracy {result.numbers['accuracy']['squares_ring']:.2f}")
    ax.set_xlim(0.0, 1.05 * squares[:, 0].max())
    ax.set_ylim(0.0, 1.05 * squares[:, 1].max())
    ax.set_title("dataset 2 in features 5 and 6")
    ax.set_xlabel("x1^2")
    ax.set_ylabel("x2^2")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return [save(fig, directory, "example_11_5")]


EXPERIMENT = Experiment(
    name=NAME,
    title="Linear versus quadratic-feature classifiers on the two datasets of Example 11.5",
    reference="Example 11.5",
    run=run,
    plot=plot,
    controls={
        "missing-feature": Control(Perturbation("feature_x2_squared", 0.0), ("quadratic", "squares"),
                                   "the feature map (11.2.6) and the squares (1, x1^2, x2^2) without the feature "
                                   "x2^2"),
        "missing-linear-feature": Control(Perturbation("linear_feature_x2", 0.0), ("linear-separable",),
                                          "the linear model (1, x1, x2) without the feature x2"),
        "wrong-features": Control(Perturbation("coordinate_power", 2.0), ("ring-not-linear", "linear-separable"),
                                  "the linear model and the certificate search on (x1^2, x2^2) in place of "
                                  "(x1, x2): a boundary from the wrong features"),
    },
)
