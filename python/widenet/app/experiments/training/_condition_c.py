"""The table of Assumption 11.12 (c) on the experiments' data."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from widenet.app.experiments import figure_11_3, linearization_1d
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.training._setup import (
    _TABLE_STREAM,
    ACTIVATION,
    FIGURE_11_3_WIDTH,
    TABLE_ESTIMATES,
    TABLE_LARGEST_WIDTH,
    Estimates,
    cell_seed,
    training_data,
)
from widenet.dynamics.convergence import check_assumptions
from widenet.network.shallow import ShallowNetwork


def _estimated_row(setting: str, network: ShallowNetwork, X: FloatArray, y: FloatArray,
                   seed: np.random.SeedSequence, estimates: Estimates) -> dict[str, Any]:
    """Return a row of the (c) table from check_assumptions' estimates.

    They are lower bounds of U and L: a ratio above 1 is a definite violation, by at least
    that factor.
    """
    report = check_assumptions(network, X, y, seed=seed, **estimates)
    return {"setting": setting, "width": network.width, "points": X.shape[0], "L": report.L_lower,
            "bound": report.condition_c_bound, "ratio": report.L_lower / report.condition_c_bound,
            "U": report.U_lower, "lambda_min": report.lambda_min, "f0": report.f0, "r": report.r,
            "method": "estimates (lower bounds of U, L)"}


def condition_c_table(seed: int, widths: Sequence[int],
                      estimates: Estimates = TABLE_ESTIMATES) -> list[dict[str, Any]]:
    """Return how far Assumption 11.12 (c) is from holding on the experiments' data.

    Rows of ``L / (lambda_min^2 / (12 m^(3/2) U^2 sqrt(f(w0))))`` for the Theorem 11.23 runs
    (the first network at each width), Figures 11.1 and 11.2 (exact) and Figure 11.3 (one
    network of its configuration, at the chapter's width).
    """
    X, y = training_data(seed)
    rows = [_estimated_row("Theorem 11.23 runs", ShallowNetwork(X.shape[1], width, ACTIVATION, "lecun",
                                                                 seed=cell_seed(seed, width, 0)),
                           X, y, np.random.SeedSequence([_TABLE_STREAM, seed, width]), estimates)
            for width in widths if width <= TABLE_LARGEST_WIDTH]
    for figure, case in (("Figure 11.1", "good"), ("Figure 11.2", "bad")):
        exact = linearization_1d.assumption_11_12(linearization_1d.TARGETS[case])
        rows.append({"setting": figure, "width": 1, "points": 1, "L": exact["L"], "bound": exact["bound"],
                     "ratio": exact["ratio"], "U": exact["U"], "lambda_min": exact["lambda"], "f0": exact["f0"],
                     "r": exact["r"], "method": "exact (closed forms)"})
    X3, y3 = np.array(figure_11_3.DATA_X)[:, None], np.array(figure_11_3.DATA_Y)
    network = ShallowNetwork(1, FIGURE_11_3_WIDTH, **figure_11_3.CONFIG,
                             seed=np.random.SeedSequence([_TABLE_STREAM, seed, 0]))
    rows.append(_estimated_row("Figure 11.3", network, X3, y3, np.random.SeedSequence([_TABLE_STREAM, seed, 1]),
                               estimates))
    return rows


def _table_text(rows: list[dict[str, Any]]) -> str:
    """Return the (c) table as text, the settings' runs of widths grouped.

    For example ``"Figure 11.1: 3.81; Figure 11.3, n = 250: 524"``.
    """
    parts: list[str] = []
    previous = None
    for row in rows:
        width = "" if row["width"] == 1 else f"n = {row['width']}: "
        setting = "" if row["setting"] == previous else row["setting"] + (": " if row["width"] == 1 else ", ")
        parts.append(f"{setting}{width}{row['ratio']:.3g}")
        previous = row["setting"]
    return "; ".join(parts)
