"""The figure: the movements by block, their ratios, the gradient norms and Adam's movements."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments._rates import as_fit
from widenet.app.experiments.parameter_movement._setup import CONVERGED, PARAMETRIZATIONS, SHORT
from widenet.dynamics.lazy_training import BLOCKS
from widenet.sweeps import SlopeFit

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory


def _bars(ax: Axes, result: ExperimentResult) -> None:
    """Draw the median relative movement per block on ``ax``: both parametrizations, smallest and largest width."""
    widths = result.settings["widths"]
    movement = result.numbers["median_relative_movement"]
    positions = np.arange(len(BLOCKS))
    bars = [(p, index) for p in PARAMETRIZATIONS for index in (0, len(widths) - 1)]
    span = 0.8 / len(bars)
    for offset, (p, index) in enumerate(bars):
        heights = [movement[p][block][index] for block in BLOCKS]
        ax.bar(positions + (offset - (len(bars) - 1) / 2) * span, heights, span, log=True,
               color="C0" if p == "lecun" else "C1", alpha=0.45 if index == 0 else 0.95,
               label=f"{SHORT[p]}, n = {widths[index]}")
    ax.set_xticks(positions, BLOCKS)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1e3)  # room for the legend above the bars
    ax.set_ylabel("abs(B_k - B_0) / sqrt(E abs(B_0)^2), median")
    ax.set_title("relative movement per block, gradient descent to convergence\n(both with Exercise 11.37 biases)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="upper left")


def _series(ax: Axes, widths: npt.ArrayLike, values: npt.ArrayLike, fit: SlopeFit, predicted: float, label: str,
            marker: str, color: str) -> None:
    """Draw ``values`` against ``widths`` (log-log) on ``ax`` with the fitted line, labelled with both exponents."""
    widths, values = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    ax.loglog(widths, values, marker, color=color, alpha=0.5, markersize=4)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
              label=f"{label}: slope {fit.slope:.2f} (predicted {predicted:.2f})")


def _ratio_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the ratios of relative movements against the width on ``ax``."""
    data, fits, tests = result.data, result.numbers["fits"], result.numbers["tests"]
    series = [("lecun", "U", "o", "C0"), ("lecun", "b", "s", "C2"), ("lecun", "c", "^", "C3"), ("ntk", "U", "v", "C1")]
    for p, block, marker, color in series:
        name = f"{p}_v_over_{block}"
        values = np.asarray(data[f"{p}_relative_v"]) / np.asarray(data[f"{p}_relative_{block}"])
        _series(ax, data["widths"], values, as_fit(fits[name]), tests[name]["predicted"], f"{SHORT[p]} v/{block}",
                marker, color)
    ax.set_xlabel("width n")
    ax.set_title("ratios of relative movements (Exercise 11.37 biases)", fontsize=9)
    ax.legend(fontsize=7)


def _gradient_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the gradient norms at initialization against the width on ``ax``."""
    data, fits, tests = result.data, result.numbers["fits"], result.numbers["tests"]
    series = [("lecun", "v", "o", "C0", ""), ("lecun", "U", "s", "C2", " (= LeCun b, unit x)"),
              ("lecun", "b", "x", "C3", ""), ("ntk", "v", "v", "C1", ""), ("ntk", "U", "D", "C4", ""),
              ("ntk", "b", "+", "C5", " (= LeCun b)")]
    for p, block, marker, color, note in series:
        name = f"{p}_gradient_{block}"
        _series(ax, data["widths"], data[name], as_fit(fits[name]), tests[name]["predicted"],
                f"{SHORT[p]} {block}{note}", marker, color)
    ax.loglog(data["widths"], data["lecun_gradient_c"], "_", color="k", label="grad_c = 1 (both)")
    ax.set_xlabel("width n")
    ax.set_title("E abs(grad_B Phi(x, w0)) (Exercise 11.37 biases)", fontsize=9)
    ax.legend(fontsize=6)


def _adam_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw Adam's ``abs(Delta U) / abs(Delta v)`` against gradient descent's on ``ax`` (Remark 11.29)."""
    data, fits = result.data, result.numbers["fits"]
    adam = np.asarray(data["adam_U"]) / np.asarray(data["adam_v"])
    _series(ax, data["adam_widths"], adam, as_fit(fits["adam_U_over_v"]), 0.0, "Adam", "o", "C3")
    gd = np.asarray(data["lecun_movement_U"]) / np.asarray(data["lecun_movement_v"])
    ax.loglog(data["widths"], gd, "s", color="C0", alpha=0.5, markersize=4, label="gradient descent (predicted n^-1/2)")
    ax.axhline(math.sqrt(result.settings["input_dim"]), color="0.5", linestyle="--", linewidth=1, label="sqrt(d)")
    ax.set_xlabel("width n")
    ax.set_title("Remark 11.29: abs(Delta U) / abs(Delta v), LeCun with Exercise 11.37 biases", fontsize=9)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the relative movement per block, the ratios and the gradient norms.

    The relative movement per block (bars), the ratios of relative movements and the
    gradient norms against the width (every series in the legend, with its fitted and
    predicted exponent), and Adam's movement against gradient descent's.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2, width=5.2, height=3.9)
    _bars(axes[0, 0], result)
    _ratio_panel(axes[0, 1], result)
    _gradient_panel(axes[1, 0], result)
    _adam_panel(axes[1, 1], result)
    fig.suptitle(f"Section 11.6: {result.settings['activation']}, gradient descent to relative loss <= "
                 f"{CONVERGED:g}, biases of variance 1 (Exercise 11.37)", fontsize=10)
    return [save(fig, directory, "parameter-movement")]
