"""The measurements of a run and their tests: the gradient norms, the movements' ratios, Adam's."""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet.app.experiments._base import Parametrization, Perturbation, Progress, factor_of
from widenet.app.experiments._slopes import SlopeTest, power_law_fit, slope_test
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.parameter_movement._descent import adam_cell, movement_cell
from widenet.app.experiments.parameter_movement._predictions import (
    GRADIENT_EXPONENTS,
    expected_gradient_norms,
    initial_scale,
)
from widenet.app.experiments.parameter_movement._setup import (
    ACTIVATION,
    ADAM_EPSILON,
    BIAS_VAR,
    INPUT_DIM,
    OUTPUT_BIAS_VAR,
    PARAMETRIZATIONS,
    RATIOS,
    Design,
)
from widenet.dynamics.lazy_training import BLOCKS, LazyTrainingData
from widenet.kernels import limit_kernel
from widenet.sweeps import SlopeFit, SweepResult, sweep


def _table(result: SweepResult) -> dict[str, FloatArray]:
    """Return a sweep's records as one array per quantity, ``widths`` naming each network's width."""
    table = result.table()
    names = table.dtype.names
    assert names is not None  # a sweep's table is a structured array
    measured = {key: np.asarray(table[key]) for key in names if key != "seed"}
    measured["widths"] = measured.pop("width")
    return measured


def measure(design: Design, seed: int, data: LazyTrainingData, perturbation: Optional[Perturbation],
            progress: Progress) -> dict[str, FloatArray]:
    """Run the gradient-descent sweep (both parametrizations) and the Adam sweep.

    Returns one array per quantity, one entry per network (``widths``, ``adam_widths`` name
    each network's width); the negative controls' errors applied.
    """
    limits = {p: limit_kernel(data.X, activation=ACTIVATION, parametrization=p, bias_var=BIAS_VAR,
                              output_bias_var=OUTPUT_BIAS_VAR) for p in PARAMETRIZATIONS}
    measured = _table(sweep(movement_cell, design.widths, range(design.networks), progress=progress.enabled,
                            base=seed, data=(data.X, data.y), limits=limits))
    adam = _table(sweep(adam_cell, design.adam_widths, range(design.adam_networks), progress=progress.enabled,
                        base=seed, data=(data.X, data.y),
                        epsilon=factor_of(perturbation, "Adam epsilon") * ADAM_EPSILON))
    measured.update({key: value for key, value in adam.items() if key != "widths"})
    measured["adam_widths"] = adam["widths"]
    for parametrization in PARAMETRIZATIONS:
        measured[f"{parametrization}_limit_eigenvalues"] = np.linalg.eigvalsh(limits[parametrization])
    largest = measured["widths"] == max(design.widths)
    for parametrization in PARAMETRIZATIONS:
        for block in BLOCKS:
            measured[f"{parametrization}_gradient_{block}"] = measured[f"{parametrization}_gradient_{block}"] * \
                np.where(largest, factor_of(perturbation, "gradient norms at the largest width"), 1.0)
        measured[f"{parametrization}_relative_v"] = measured[f"{parametrization}_relative_v"] * \
            np.where(largest, factor_of(perturbation, "v movement at the largest width"), 1.0)
    return measured


def gradient_tests(parametrization: Parametrization, measured: dict[str, FloatArray], input_dim: int,
                   allowance: float) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the fitted exponent of ``E abs(grad_B Phi)`` for ``U``, ``b``, ``v`` against its prediction.

    The prediction has the known ``1/n`` term; the fits are weighted by ``n``.
    """
    widths = measured["widths"]
    blocks = GRADIENT_EXPONENTS[parametrization]
    tests: dict[str, tuple[SlopeFit, SlopeTest]] = {}
    for block in blocks:
        values = measured[f"{parametrization}_gradient_{block}"]
        fit = power_law_fit(widths, values, f"{parametrization}_gradient_{block}", weights=widths)
        expected = np.array([expected_gradient_norms(parametrization, int(n), input_dim)[block] for n in widths])
        predicted = power_law_fit(widths, expected, "expected", weights=widths).slope
        in_claim = 1 if block == "v" and parametrization == "lecun" else len(blocks) - (parametrization == "lecun")
        tests[block] = (fit, slope_test(fit, predicted, allowance, tests=in_claim))
    return tests


def ratio_tests(parametrization: Parametrization, measured: dict[str, FloatArray],
                design: Design) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the exponent of the ratio of the relative movements of ``v`` and each other block.

    It is tested against the exponent of the same ratio for the linearization's limit of
    every network (the order argument's exponent with the ratio's data-dependent
    finite-width terms).
    """
    widths = measured["widths"]
    ratios = RATIOS[parametrization]
    scale = {block: np.array([initial_scale(parametrization, block, int(n), INPUT_DIM) for n in widths])
             for block in BLOCKS}
    tests: dict[str, tuple[SlopeFit, SlopeTest]] = {}
    for block in ratios:
        values = measured[f"{parametrization}_relative_v"] / measured[f"{parametrization}_relative_{block}"]
        linearized = (measured[f"{parametrization}_linearized_v"] / scale["v"]) / (
            measured[f"{parametrization}_linearized_{block}"] / scale[block])
        fit = power_law_fit(widths, values, f"{parametrization}_v_over_{block}")
        predicted = power_law_fit(widths, linearized, "linearized").slope
        tests[block] = (fit, slope_test(fit, predicted, design.allowance[parametrization], tests=len(ratios)))
    return tests


def adam_test(measured: dict[str, FloatArray], design: Design) -> tuple[SlopeFit, SlopeTest]:
    """Test the exponent of ``abs(Delta U) / abs(Delta v)`` after the Adam steps (prediction 0).

    The fit is weighted by ``n`` (a ratio of norms of ``n d`` and ``n`` nearly equal entries).
    """
    widths = measured["adam_widths"]
    fit = power_law_fit(widths, measured["adam_U"] / measured["adam_v"], "adam_U_over_v", weights=widths)
    return fit, slope_test(fit, 0.0, design.allowance["adam"])
