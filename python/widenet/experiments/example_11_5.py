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
"""

from __future__ import annotations

import itertools

import numpy as np

from ..feature_maps import example_11_5_datasets, quadratic_features
from ..least_squares import augment, min_norm_solution
from ._base import Claim, Experiment, ExperimentResult, Progress

NAME = "example-11-5"


def linear_features(X: np.ndarray) -> np.ndarray:
    """``(1, x1, x2)``: the affine model of Example 11.5 as least squares (Remark 11.1)."""
    return augment(X)


def squares_features(X: np.ndarray) -> np.ndarray:
    """``(1, x1^2, x2^2)``: features 5 and 6 of (11.2.6) with a constant."""
    return quadratic_features(X)[:, [0, 4, 5]]


FEATURES = {"linear": linear_features, "quadratic": quadratic_features, "squares": squares_features}


def fit(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimum-norm least-squares weights ``w* = F^+ y`` on the ``+-1`` labels (11.1.3)."""
    return min_norm_solution(features, y)


def accuracy(features: np.ndarray, weights: np.ndarray, y: np.ndarray) -> float:
    """The fraction of points whose label is ``sign(<phi(x), w>)`` (11.2.5)."""
    return float(np.mean(np.sign(features @ weights) == y))


def triangle_certificate(X: np.ndarray, y: np.ndarray, inside_label: float = 1.0) -> list:
    """A point of label ``inside_label`` strictly inside a triangle of points of the other
    label, as ``[point, corner, corner, corner]`` (indices), or ``[]`` if there is none.

    Such a point proves that no line separates the two labels: a closed half-plane that
    contains the three corners contains their convex hull, so the point is on their side.
    """
    inner = np.flatnonzero(y == inside_label)
    outer = np.flatnonzero(y != inside_label)
    if inner.size == 0 or outer.size < 3:
        return []
    P = X[inner]
    corners = np.array(list(itertools.combinations(outer, 3)))  # (T, 3) indices
    A, B, C = (X[corners[:, j]] for j in range(3))  # (T, 2) each

    def side(p, q):  # sign of the cross product (q - p) x (P - p), shape (T, points)
        return np.sign((q - p)[:, :1] * (P[:, 1] - p[:, 1:]) - (q - p)[:, 1:] * (P[:, 0] - p[:, :1]))

    s1, s2, s3 = side(A, B), side(B, C), side(C, A)
    strictly = (s1 == s2) & (s2 == s3) & (s1 != 0)
    if strictly.any():
        triangle, point = np.unravel_index(np.argmax(strictly), strictly.shape)
        return [int(inner[point]), *(int(i) for i in corners[triangle])]
    return []


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """Fits both classifiers on both datasets and measures their training accuracy.

    Parameters
    ----------
    quick : bool
        40 points per dataset instead of 100.
    seed : int
        Seed of the datasets.
    progress : Progress

    Returns
    -------
    ExperimentResult
    """
    m = 40 if quick else 100
    datasets = dict(zip(("separable", "ring"), example_11_5_datasets(m=m, seed=seed)))
    weights, accuracies = {}, {}
    for name in progress.steps(datasets, len(datasets), "datasets"):
        X, y = datasets[name]
        for kind in ("linear", "quadratic", "squares"):
            features = FEATURES[kind](X)
            weights[f"{kind}_{name}"] = fit(features, y)
            accuracies[f"{kind}_{name}"] = accuracy(features, weights[f"{kind}_{name}"], y)
    certificate = triangle_certificate(*datasets["ring"])
    separable_certificate = triangle_certificate(*datasets["separable"]) + triangle_certificate(
        *datasets["separable"], inside_label=-1.0)

    claims = [
        Claim(
            reference="Example 11.5 (dataset 1)",
            statement="The first dataset is separable by an affine line, and the linear least-squares classifier "
                      "sign(x^T w + b) classifies every point correctly.",
            predicted="training accuracy 1",
            measured=f"training accuracy {accuracies['linear_separable']:.3f} ({m} points)",
            holds=accuracies["linear_separable"] == 1.0,
        ),
        Claim(
            reference="Example 11.5 (dataset 2)",
            statement="No affine line separates the second dataset: a +1 point lies inside a triangle of -1 points "
                      "(a certificate found by searching all triangles), so the linear classifier must err.",
            predicted="a certificate exists; linear accuracy < 1",
            measured=(f"certificate: point {certificate[0]} inside the triangle {certificate[1:]}; "
                      if certificate else "no certificate found; ")
                     + f"linear least-squares accuracy {accuracies['linear_ring']:.3f}",
            holds=bool(certificate) and accuracies["linear_ring"] < 1.0,
        ),
        Claim(
            reference="Example 11.5, (11.2.6)",
            statement="With the quadratic feature map phi(x) = (1, x1, x2, x1 x2, x1^2, x2^2), least squares on the "
                      "+-1 labels followed by sign separates both datasets.",
            predicted="training accuracy 1 on both",
            measured=(f"accuracy {accuracies['quadratic_separable']:.3f} (dataset 1), "
                      f"{accuracies['quadratic_ring']:.3f} (dataset 2)"),
            holds=accuracies["quadratic_separable"] == 1.0 and accuracies["quadratic_ring"] == 1.0,
        ),
        Claim(
            reference="Example 11.5 (features 5 and 6)",
            statement="In the features x1^2 and x2^2 the second dataset is separated by a line: least squares on "
                      "(1, x1^2, x2^2) classifies every point correctly.",
            predicted="training accuracy 1",
            measured=f"training accuracy {accuracies['squares_ring']:.3f}",
            holds=accuracies["squares_ring"] == 1.0,
        ),
    ]
    numbers = {"accuracy": accuracies, "weights": weights, "ring_certificate": certificate,
               "separable_dataset_certificates": separable_certificate}
    data = {f"{part}_{name}": array for name, (X, y) in datasets.items() for part, array in (("X", X), ("y", y))}
    settings = {"points_per_dataset": m, "seed": seed, "quick": quick, "solver": "min_norm_solution",
                "labels": "+-1", "linear_features": "(1, x1, x2)",
                "quadratic_features": "(1, x1, x2, x1 x2, x1^2, x2^2)", "squares_features": "(1, x1^2, x2^2)"}
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data)


def plot(result: ExperimentResult, directory) -> list:
    """The two datasets with the decision boundaries of both classifiers, and dataset 2 in
    the features ``x1^2, x2^2`` with the line that separates it there."""
    from ._plotting import figure, save

    data, weights = result.data, result.numbers["weights"]
    fig, axes = figure(columns=3, width=4.4, height=4.2)
    side = np.linspace(-1.05, 1.05, 301)
    g1, g2 = np.meshgrid(side, side)
    plane = np.column_stack([g1.ravel(), g2.ravel()])
    styles = {"linear": ("tab:green", "--", "linear"), "quadratic": ("black", "-", "quadratic features")}

    def scatter(ax, X, y):
        ax.plot(X[y > 0, 0], X[y > 0, 1], "s", color="tab:cyan", markersize=5, label="+1")
        ax.plot(X[y < 0, 0], X[y < 0, 1], "o", color="tab:red", markersize=5, label="-1")

    for ax, (name, title) in zip(axes[0], (("separable", "dataset 1"), ("ring", "dataset 2"))):
        X, y = np.asarray(data[f"X_{name}"]), np.asarray(data[f"y_{name}"])
        scatter(ax, X, y)
        for kind, (color, line, label) in styles.items():
            values = (FEATURES[kind](plane) @ np.asarray(weights[f"{kind}_{name}"])).reshape(g1.shape)
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
)
