"""The figure: the distance, the gap and the kernel's change against the width, and Remark 11.24."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments._rates import as_fit
from widenet.app.experiments.lazy_training._setup import BOUND, CONVERGED, NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory


def _rate_panel(ax: Axes, result: ExperimentResult, quantity: str, title: str, field: Optional[str] = None) -> None:
    """Draw both parametrizations' values (``field``, default ``quantity``) against the width on ``ax``.

    With their fits, the sharp predictions (dashed, through each fit's centre) and the
    chapter's bound n^-1/2 (dotted).
    """
    for color, parametrization in (("C0", "lecun"), ("C1", "ntk")):
        data = result.data[parametrization]
        widths = np.asarray(data["widths"], dtype=float)
        values = np.asarray(data[field or quantity], dtype=float)
        fit = as_fit(result.numbers[parametrization]["fits"][quantity])
        test = result.numbers[parametrization]["tests"][quantity]
        ax.loglog(widths, values, "o", color=color, alpha=0.4, markersize=4)
        grid = np.geomspace(widths.min(), widths.max(), 50)
        ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
                  label=f"{NAMES[parametrization]}: slope {fit.slope:.2f}, predicted {test['predicted']:.2f}")
        centre = np.exp(np.mean(np.log(widths)))
        level = np.exp(fit.intercept) * centre ** fit.slope
        ax.loglog(grid, level * (grid / centre) ** test["predicted"] * 3.0, "--", color=color, linewidth=1)
        ax.loglog(grid, level * (grid / centre) ** BOUND * 3.0, ":", color=color, linewidth=1)
    ax.set_xlabel("width n")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def _remark_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw on ``ax`` Remark 11.24's closed forms' errors against the iterated linearized GD, step by step."""
    remark, numbers = result.data["remark_11_24"], result.numbers["remark_11_24"]
    for key, label, style in (("corrected_error_by_step", "sum_j B^j A y (corrected)", "o-"),
                              ("printed_error_by_step", "sum_j B^k A y (printed)", "s-")):
        values = np.maximum(np.asarray(remark[key], dtype=float), 1e-18)
        ax.semilogy(np.arange(values.size), values, style, markersize=3, label=label)
    ax.axhline(numbers["tolerance"], color="0.5", linestyle="--", linewidth=1, label="rounding bound")
    ax.set_xlabel("step k")
    ax.set_ylabel("max abs(closed form - iterated)")
    ax.set_title(f"Remark 11.24 (LeCun, n = {numbers['width']})", fontsize=9)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the distance, the output gap and the kernel change against the width.

    The distance is in units of the linearization's limit; both parametrizations, with fits,
    the sharp predictions (dashed) and the chapter's n^-1/2 (dotted), drawn 3x above the
    data; and Remark 11.24's closed forms against the iterated linearized gradient descent.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2, width=5.2, height=3.8)
    _rate_panel(axes[0, 0], result, "distance", "sup_k abs(w_k - w0) / sqrt(r0.K^-1 r0) (NTK: also / abs(w0))",
                "scaled_distance")
    _rate_panel(axes[0, 1], result, "gap", "sup_k max_x abs(Phi(x, w_k) - Phi_lin(x, p_k))")
    _rate_panel(axes[1, 0], result, "kernel", "sup_k abs(Theta(w_k) - Theta(w0))_2 (LeCun: / n)")
    _remark_panel(axes[1, 1], result)
    fig.suptitle(f"Lazy training: {result.settings['activation']}, {result.settings['points']} points in d = "
                 f"{result.settings['input_dim']}, gradient descent to relative loss <= {CONVERGED:g}; dashed: sharp "
                 f"prediction, dotted: the chapter's n^-1/2", fontsize=9)
    return [save(fig, directory, "lazy-training")]
