"""The experiment: lazy training measured over the widths in both parametrizations."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import SILENT, Claim, ExperimentResult, Perturbation, Progress, factor_of
from widenet.app.experiments._rates import fit_record
from widenet.app.experiments._slopes import LEVEL
from widenet.app.experiments.lazy_training._claims import _claims, _corrections, _remark_claim
from widenet.app.experiments.lazy_training._limits import limit_kernels
from widenet.app.experiments.lazy_training._measure import distance_in_limit_units, measure, slope_tests
from widenet.app.experiments.lazy_training._remark import remark_run
from widenet.app.experiments.lazy_training._setup import (
    ACTIVATION,
    CHECKPOINTS,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    PARAMETRIZATIONS,
    PLANNED_LOSS,
    POINTS,
    QUICK,
    STEP_FRACTION,
    TEST_POINTS,
)
from widenet.dynamics.lazy_training import lazy_training_data


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure lazy training against Theorem 11.23, Propositions 11.25 and 11.26 and Remark 11.24.

    For both parametrizations (see the module docstring).

    Parameters
    ----------
    quick : bool
        LeCun widths 1024, 4096, 16384 with 6 networks each and NTK-parametrization widths 64,
        256, 1024 with 12, instead of 12 networks at every width and NTK widths up to 4096.
    seed : int
        Seed of the data (:func:`widenet.dynamics.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).
    """
    design = QUICK if quick else FULL
    data = lazy_training_data(points=POINTS, input_dim=INPUT_DIM, test_points=TEST_POINTS, seed=seed)
    limits = limit_kernels(data.X)
    numbers: dict[str, Any] = {}
    plot_data: dict[str, Any] = {}
    claims: list[Claim] = []
    for parametrization in PARAMETRIZATIONS:
        measured = measure(parametrization, design, seed, data, limits, perturbation, progress)
        tests = slope_tests(parametrization, measured, design, perturbation)
        claims += _claims(parametrization, tests, measured, limits, data)
        numbers[parametrization] = {
            "fits": {quantity: fit_record(fit) for quantity, (fit, _) in tests.items()},
            "tests": {quantity: test.record() for quantity, (_, test) in tests.items()},
            "steps": [int(min(measured["steps"])), int(max(measured["steps"]))],
            "largest_relative_loss": float(np.max(measured["relative_loss"])),
            "largest_relative_loss_linearized": float(np.max(measured["relative_loss_linearized"])),
            "limit_eigenvalues": np.linalg.eigvalsh(limits[parametrization]),
        }
        plot_data[parametrization] = {
            "widths": measured["widths"],
            "scaled_distance": distance_in_limit_units(parametrization, measured, perturbation),
            **{key: measured[key] for key in ("distance", "limit_factor", "initial_norm", "gap", "gap_train",
                                               "gap_test", "kernel", "relative_loss", "lr", "steps")}}
    remark = remark_run(design, seed, data, limits, factor_of(perturbation, "closed-form step"))
    numbers["remark_11_24"] = {key: value for key, value in remark.items() if not key.endswith("_by_step")}
    plot_data["remark_11_24"] = {key: remark[key] for key in ("corrected_error_by_step", "printed_error_by_step")}
    claims.insert(3, _remark_claim(remark))
    settings = {"activation": ACTIVATION, "loss": "sum", "points": POINTS, "input_dim": INPUT_DIM,
                "test_points": TEST_POINTS, "widths": {p: list(design.widths[p]) for p in PARAMETRIZATIONS},
                "networks_per_width": dict(design.networks), "step_fraction": STEP_FRACTION,
                "planned_loss": PLANNED_LOSS,
                "checkpoints": CHECKPOINTS, "data_seed": seed, "level": LEVEL, "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, plot_data, _corrections(remark))
