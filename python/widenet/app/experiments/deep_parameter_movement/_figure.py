"""The figure: every block's relative movement against the width, with its fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments._rates import as_fit

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory

_SERIES = (("W1", "o", "C0"), ("v", "s", "C1"), ("W2", "^", "C2"), ("total", "x", "k"))


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: each block's relative movement against the width (log-log)."""
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(width=6.0, height=4.4)
    ax = axes[0, 0]
    widths = np.asarray(result.data["widths"], dtype=float)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    for block, marker, color in _SERIES:
        fit = as_fit(result.numbers["fits"][block])
        ax.loglog(widths, np.asarray(result.data[f"relative_{block}"], dtype=float), marker, color=color, alpha=0.5,
                  markersize=4)
        ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
                  label=f"{block}: slope {fit.slope:.2f} (order {result.numbers['order_exponents'][block]:g})")
    ax.set_xlabel("width n")
    ax.set_ylabel("abs(B_k - B_0) / sqrt(E abs(B_0)^2)")
    ax.set_title("Beyond the chapter: relative movement per block, NTK parametrization, depth "
                 f"{result.settings['depth']}, gradient descent to convergence", fontsize=9)
    ax.legend(fontsize=7)
    return [save(fig, directory, "deep-parameter-movement")]
