"""The experiment: which parameters gradient descent and Adam move, over the widths."""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress
from widenet.app.experiments._rates import fit_record
from widenet.app.experiments._slopes import LEVEL
from widenet.app.experiments.parameter_movement._claims import _claims, _corrections
from widenet.app.experiments.parameter_movement._measure import adam_test, gradient_tests, measure, ratio_tests
from widenet.app.experiments.parameter_movement._setup import (
    ACTIVATION,
    ADAM_RATE,
    ADAM_STEPS,
    BIAS_VAR,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    OUTPUT_BIAS_VAR,
    PARAMETRIZATIONS,
    PLANNED_LOSS,
    POINTS,
    QUICK,
    STEP_FRACTION,
)
from widenet.dynamics.lazy_training import BLOCKS, lazy_training_data


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure the per-block movement and gradient norms for both parametrizations, and Adam's movement.

    Against Section 11.6 and Remark 11.29 (see the module docstring).

    Parameters
    ----------
    quick : bool
        Widths 64, 256, 1024 instead of 64 .. 16384 (Adam: 64 .. 4096), 4 networks each.
    seed : int
        Seed of the data (:func:`widenet.dynamics.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).
    """
    design = QUICK if quick else FULL
    data = lazy_training_data(points=POINTS, input_dim=INPUT_DIM, seed=seed)
    measured = measure(design, seed, data, perturbation, progress)
    gradients = {p: gradient_tests(p, measured, INPUT_DIM, design.allowance["gradient"]) for p in PARAMETRIZATIONS}
    ratios = {p: ratio_tests(p, measured, design) for p in PARAMETRIZATIONS}
    adam = adam_test(measured, design)
    claims = _claims(measured, gradients, ratios, adam, design)
    fits = {f"{p}_gradient_{block}": fit for p in PARAMETRIZATIONS for block, (fit, _) in gradients[p].items()}
    fits.update({f"{p}_v_over_{block}": fit for p in PARAMETRIZATIONS for block, (fit, _) in ratios[p].items()})
    fits["adam_U_over_v"] = adam[0]
    tests = {f"{p}_gradient_{block}": test for p in PARAMETRIZATIONS for block, (_, test) in gradients[p].items()}
    tests.update({f"{p}_v_over_{block}": test for p in PARAMETRIZATIONS for block, (_, test) in ratios[p].items()})
    tests["adam_U_over_v"] = adam[1]
    numbers = {
        "fits": {name: fit_record(fit) for name, fit in fits.items()},
        "tests": {name: test.record() for name, test in tests.items()},
        "steps": {p: [int(min(measured[f"{p}_steps"])), int(max(measured[f"{p}_steps"]))] for p in PARAMETRIZATIONS},
        "largest_relative_loss": {p: float(np.max(measured[f"{p}_relative_loss"])) for p in PARAMETRIZATIONS},
        "median_relative_movement": {p: {block: [float(np.median(measured[f"{p}_relative_{block}"][
            measured["widths"] == width])) for width in design.widths] for block in BLOCKS} for p in PARAMETRIZATIONS},
    }
    arrays = {key: value for key, value in measured.items() if isinstance(value, np.ndarray)}
    settings = {"activation": ACTIVATION, "loss": "sum", "points": POINTS, "input_dim": INPUT_DIM,
                "bias_var": BIAS_VAR, "output_bias_var": OUTPUT_BIAS_VAR, "widths": list(design.widths),
                "networks_per_width": design.networks, "adam_widths": list(design.adam_widths),
                "adam_networks_per_width": design.adam_networks, "adam_steps": ADAM_STEPS, "adam_rate": ADAM_RATE,
                "step_fraction": STEP_FRACTION, "planned_loss": PLANNED_LOSS, "data_seed": seed, "level": LEVEL,
                "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, arrays, _corrections(measured, gradients))
