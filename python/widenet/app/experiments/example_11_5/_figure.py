"""The figure: the datasets with the decision boundaries, and dataset 2 in the squared features."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.example_11_5._features import coordinates, features

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory


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
