"""The experiment: both classifiers fitted on both datasets."""

from __future__ import annotations

from typing import Optional

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress, factor_of
from widenet.app.experiments.example_11_5._certificate import certificate_clearance, triangle_certificate
from widenet.app.experiments.example_11_5._claims import _claims
from widenet.app.experiments.example_11_5._features import (
    FEATURES,
    classification,
    coordinates,
    feature_scales,
    features,
)
from widenet.kernels import example_11_5_datasets

NAME = "example-11-5"


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
    claims = _claims(results, certificate, clearance)
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
