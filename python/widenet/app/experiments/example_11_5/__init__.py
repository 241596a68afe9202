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

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.example_11_5._certificate import certificate_clearance, orientation, triangle_certificate
from widenet.app.experiments.example_11_5._claims import CLASSIFIED
from widenet.app.experiments.example_11_5._features import (
    FEATURES,
    X2_COLUMN,
    X2_SQUARED_COLUMN,
    accuracy,
    classification,
    coordinates,
    feature_scales,
    features,
    fit,
    linear_features,
    output_rounding,
    squares_features,
)
from widenet.app.experiments.example_11_5._figure import plot
from widenet.app.experiments.example_11_5._run import NAME, run
from widenet.kernels import example_11_5_datasets

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


__all__ = ["accuracy", "certificate_clearance", "classification", "CLASSIFIED", "coordinates", "example_11_5_datasets",
           "EXPERIMENT", "feature_scales", "FEATURES", "features", "fit", "linear_features", "NAME", "orientation",
           "output_rounding", "plot", "run", "squares_features", "triangle_certificate", "X2_COLUMN",
           "X2_SQUARED_COLUMN"]
