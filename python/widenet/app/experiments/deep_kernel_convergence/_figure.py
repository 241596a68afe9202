"""The figure: the error of one network's kernel against the width, per depth and parametrization."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments._rates import as_fit
from widenet.app.experiments.deep_kernel_convergence._setup import (
    CONTROL_ERROR,
    DEPTHS,
    LIMIT,
    NAME,
    PARAMETRIZATIONS,
    SCALED,
)

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: a log-log panel per depth and parametrization.

    Each with every network's error, the fit (slope and interval in the legend), an ``n^-1/2``
    guide and, in grey, the errors against the limit off by the control's error.
    """
    from widenet.app.experiments._plotting import figure, power_law_panel, save

    fig, axes = figure(columns=len(PARAMETRIZATIONS), rows=len(DEPTHS), width=4.8, height=3.4)
    for row, depth in zip(axes, DEPTHS):
        for ax, parametrization in zip(row, PARAMETRIZATIONS):
            key = f"{parametrization}_depth_{depth}"
            data = result.data[key]
            ax.loglog(np.asarray(data["widths"], dtype=float), np.asarray(data["control_error"], dtype=float), "x",
                      color="0.6", markersize=4, label=f"against {1 + CONTROL_ERROR:g} {LIMIT[parametrization]}")
            power_law_panel(ax, data["widths"], data["error"], as_fit(result.numbers[key]["fit"]), "fit")
            ax.set_ylabel(f"abs({SCALED[parametrization]} - {LIMIT[parametrization]})_F")
            ax.set_title(f"{NAME[parametrization]}, {depth} hidden layers", fontsize=10)
            ax.legend(fontsize=7)
    fig.suptitle(f"Beyond the chapter: the tangent kernel of deep {result.settings['activation']} networks "
                 f"(dashed: n^-1/2)", fontsize=10)
    return [save(fig, directory, "deep-kernel-convergence")]
