"""The experiment: GD on an underdetermined and an overdetermined problem and on a feature model."""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress, factor_of
from widenet.app.experiments.least_squares._claims import _claims, _corrections
from widenet.app.experiments.least_squares._kernel import _kernel_case
from widenet.app.experiments.least_squares._linear import _gd_inside, _gd_outside
from widenet.app.experiments.least_squares._problem import _draw
from widenet.app.experiments.least_squares._setup import (
    KERNEL_DEGREE,
    KERNEL_GRID,
    KERNEL_X,
    NAME,
    OUTSIDE_STEPS,
    STEP_FRACTION,
)


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Run GD on an underdetermined and an overdetermined least-squares problem and on a feature model.

    Parameters
    ----------
    quick : bool
        ``A`` of shapes 20 x 50 and 50 x 20 and 100 grid points (instead of 40 x 120,
        120 x 40 and 400).
    seed : int
        Seed of ``A``, ``y`` and the initial points ``w0``.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see :data:`EXPERIMENT`): ``"step"`` scales the step in the
        predicted per-step factors, ``"kernel_part"`` the ``P_ker w0`` part of the
        predicted limits, ``"gram"`` the kernel estimator's Gram, ``"min_loss"`` the
        predicted ``min f``.

    Returns
    -------
    ExperimentResult
    """
    m, d, points = (20, 50, 100) if quick else (40, 120, 400)
    step_factor, kernel_part_factor = factor_of(perturbation, "step"), factor_of(perturbation, "kernel_part")
    rng = np.random.default_rng(seed)
    under = _draw(m, d, rng)
    kernel, kernel_data = _kernel_case(points, rng, kernel_part_factor, factor_of(perturbation, "gram"))
    over = _draw(d, m, rng)
    results = {}
    for name, problem in progress.steps((("underdetermined", under), ("overdetermined", over)), 2, "least-squares GD"):
        results[name] = _gd_inside(problem, step_factor, kernel_part_factor)
    (under_numbers, data), (over_numbers, _) = results["underdetermined"], results["overdetermined"]
    outside = _gd_outside(under, step_factor)
    claims = _claims(under_numbers, over_numbers, outside, kernel, factor_of(perturbation, "min_loss"))
    settings = {"linear_shapes": [[m, d], [d, m]], "seed": seed, "quick": quick,
                "step": f"{STEP_FRACTION:g} / (2 s_max^2)", "outside_steps": list(OUTSIDE_STEPS),
                "kernel_X": list(KERNEL_X), "kernel_targets": "cos(2x) + 0.3x", "kernel": f"(1 + x z)^{KERNEL_DEGREE}",
                "kernel_grid": [*KERNEL_GRID, points],
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    outside_data = {f"outside_distances_{i}": row.pop("distances") for i, row in enumerate(outside)}
    return ExperimentResult(name=NAME, settings=settings,
                            numbers={"linear": under_numbers, "overdetermined": over_numbers, "outside": outside,
                                     "kernel": kernel},
                            claims=claims, data={**data, **outside_data, **kernel_data},
                            corrections=_corrections(under_numbers, over_numbers, kernel))
