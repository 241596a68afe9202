"""Figure 11.3 drawn: the networks before and after training, with the GP's band."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw Figure 11.3 into ``directory``: the networks at initialization (a) and after training (b).

    With them their mean, the data and the infinite-width GP mean with its
    two-standard-deviation band, on one y-range so the two spreads compare.
    """
    from widenet.app.experiments._plotting import figure, save

    data, settings = result.data, result.settings
    grid = np.asarray(data["grid"])
    fig, axes = figure(columns=2, width=5.6, height=4.2)
    panels = (
        ("(a) at initialization", np.asarray(data["outputs_before"]), np.zeros_like(grid),
         np.asarray(data["gp_sd_before"]), "NNGP: mean 0"),
        (f"(b) after {settings['steps']} GD steps (h = 1/n, mean loss)", np.asarray(data["outputs_after"]),
         np.asarray(data["gp_mean_after"]), np.asarray(data["gp_sd_after"]), "infinite width: mean"),
    )
    for ax, (title, outputs, mean, sd, mean_label) in zip(axes[0], panels):
        for r, curve in enumerate(outputs):
            ax.plot(grid, curve, color="tab:blue", linewidth=0.5, alpha=0.3,
                    label=f"{outputs.shape[0]} networks" if r == 0 else None)
        ax.fill_between(grid, mean - 2.0 * sd, mean + 2.0 * sd, color="tab:orange", alpha=0.2,
                        label="infinite width: mean +- 2 sd")
        ax.plot(grid, mean, color="tab:orange", linewidth=1.8, label=mean_label)
        ax.plot(grid, outputs.mean(axis=0), "--", color="navy", linewidth=2.0, label="mean of the networks")
        ax.plot(data["X"], data["y"], "o", color="red", markersize=7, zorder=5, label="data")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("Phi(x, w)")
        ax.set_xlim(grid[0], grid[-1])
    low = min(ax.get_ylim()[0] for ax in axes[0])
    high = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(low, high)
    _legend_below(fig, axes[0][1])
    fig.suptitle(f"Figure 11.3: {settings['networks']} arctan networks, n = {settings['width']}, LeCun "
                 "parametrization (11.5.1) with the initialization (11.5.11)")
    return [save(fig, directory, "figure_11_3")]


def _legend_below(fig: Figure, ax: Axes) -> None:
    """Draw one legend for the figure, below the panels (matplotlib >= 3.7), else inside ``ax``."""
    from widenet.app.experiments._plotting import matplotlib

    handles, labels = ax.get_legend_handles_labels()
    major, minor = (int(part) for part in matplotlib().__version__.split(".")[:2])
    if (major, minor) >= (3, 7):
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    else:
        ax.legend(handles, labels, loc="upper left", fontsize=8)
