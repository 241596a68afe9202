"""The measurements of a run over the widths, and their slope tests."""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet.app.experiments._base import Parametrization, Perturbation, Progress, factor_of
from widenet.app.experiments._slopes import SlopeTest, per_doubling, power_law_fit, slope_test
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training._cell import lazy_cell
from widenet.app.experiments.lazy_training._setup import PREDICTED, QUANTITIES, Design
from widenet.dynamics.lazy_training import LazyTrainingData
from widenet.sweeps import SlopeFit, sweep


def measure(parametrization: Parametrization, design: Design, seed: int, data: LazyTrainingData,
            limits: dict[str, FloatArray], perturbation: Optional[Perturbation],
            progress: Progress) -> dict[str, FloatArray]:
    """Run :func:`lazy_cell` for every network of ``design`` (a width sweep).

    Returns one array per quantity, one entry per network, ``widths`` naming each network's
    width.
    """
    table = sweep(lazy_cell, design.widths[parametrization], range(design.networks[parametrization]),
                  progress=progress.enabled,
                  parametrization=parametrization, base=seed, data=tuple(data), limits=limits,
                  linearized_step=factor_of(perturbation, "linearized step"),
                  initial_gram=factor_of(perturbation, "initial Gram")).table()
    names = table.dtype.names
    assert names is not None  # a sweep's table is a structured array
    measured = {key: np.asarray(table[key]) for key in names if key != "seed"}
    measured["widths"] = measured.pop("width")
    return measured


def distance_in_limit_units(parametrization: Parametrization, measured: dict[str, FloatArray],
                            perturbation: Optional[Perturbation]) -> FloatArray:
    """Return ``sup_k abs(w_k - w0)`` in units of the linearization's limit.

    That is, divided by the n-independent factor ``sqrt(r0 . K^{-1} r0)`` of the network's
    own initial residual (NTK parametrization: also by ``abs(w0)``), times the control's
    wrong scaling with the width.
    """
    values = measured["distance"] / np.sqrt(measured["limit_factor"])
    if parametrization == "ntk":
        values = values / measured["initial_norm"]
    return values * per_doubling(measured["widths"], factor_of(perturbation, "distance per doubling"))


def slope_tests(parametrization: Parametrization, measured: dict[str, FloatArray], design: Design,
                perturbation: Optional[Perturbation]) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the fitted exponent of every quantity against its prediction; ``{quantity: (fit, test)}``."""
    widths = measured["widths"]
    predicted = dict(PREDICTED[parametrization])
    if parametrization == "lecun":  # the known B/n term's effect on the fitted exponent
        correction = np.sqrt(measured["corrected_factor"] / measured["limit_factor"])
        predicted["distance"] += power_law_fit(widths, correction, "correction", weights=widths).slope
    fits = {"distance": power_law_fit(widths, distance_in_limit_units(parametrization, measured, perturbation),
                                      "distance", weights=widths),
            "gap": power_law_fit(widths, measured["gap"], "gap"),
            "kernel": power_law_fit(widths, measured["kernel"], "kernel")}
    return {quantity: (fits[quantity], slope_test(fits[quantity], predicted[quantity],
                                                  design.allowance[parametrization][quantity]))
            for quantity in QUANTITIES}
