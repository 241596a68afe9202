"""The figure: the fluctuation's decay, the mean's deviations and the eigenvalues against Lemma 11.19."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from widenet.app.experiments._base import ExperimentResult, Parametrization
from widenet.app.experiments._rates import as_fit
from widenet.app.experiments.kernel_convergence._setup import _LIMIT, _NAME, _SCALED, LEVEL, PARAMETRIZATIONS, RATE
from widenet.sweeps import SlopeFit

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory


def _rate_panel(ax: Axes, data: dict[str, Any], fit: SlopeFit, parametrization: Parametrization) -> None:
    """Draw the errors against the width (log-log), the fit and the n^-1/2 prediction on ``ax``.

    The prediction is drawn apart from the fit (a factor 3 below the data, so it never hides
    under the fitted line), and in grey the errors against the limit off by 1%, which stop
    decaying.
    """
    widths = np.asarray(data["widths"], dtype=float)
    ax.loglog(widths, np.asarray(data["control_error"], dtype=float), "x", color="0.6", markersize=4,
              label=f"against 1.01 {_LIMIT[parametrization]} (a control)")
    ax.loglog(widths, np.asarray(data["error"], dtype=float), "o", color="C0", alpha=0.45, markersize=4)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    low, high = fit.interval
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color="C0",
              label=f"fit: slope {fit.slope:.3f} [{low:.3f}, {high:.3f}]")
    centre = np.mean(np.log(widths))
    level = np.exp(fit.intercept + (fit.slope - RATE) * centre)  # n^-1/2 through the fit at the centre
    ax.loglog(grid, level * grid ** RATE / 3.0, "--", color="k", linewidth=1.2,
              label="n^-1/2 (the prediction, drawn 3x lower)")
    ax.set_xlabel("width n")
    ax.set_ylabel("abs(G - E[G])_F")
    ax.set_title(f"{_NAME[parametrization]}: fluctuation of {_SCALED[parametrization]}", fontsize=10)
    ax.legend(fontsize=7)


def _mean_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the t statistics of the mean tests, entry by entry, with their thresholds, on ``ax``.

    In grey those of the controls (the limit off by 1%; for LeCun at the narrow width, the
    1/n part left out).
    """
    labels = []
    for offset, parametrization in enumerate(PARAMETRIZATIONS):
        mean = result.numbers[parametrization]["mean"]
        for shift, width in enumerate(mean["widths"]):
            position = 2 * offset + shift
            for key, marker, color in (("z", "o", f"C{offset}"), ("control_z", "x", "0.5")):
                values = np.asarray(mean[key][shift], dtype=float)
                ax.plot(position + np.linspace(-0.25, 0.25, values.size), values, marker, color=color, markersize=4)
            threshold = mean["threshold"][shift]
            ax.plot([position - 0.35, position + 0.35], [threshold] * 2, "--", color="0.3", linewidth=1)
            ax.plot([position - 0.35, position + 0.35], [-threshold] * 2, "--", color="0.3", linewidth=1)
            labels.append(f"{_SCALED[parametrization]}\nn = {width}")
        if "without_finite_width_part_z" in mean:
            values = np.asarray(mean["without_finite_width_part_z"], dtype=float)
            ax.plot(2 * offset + np.linspace(-0.25, 0.25, values.size), values, "^", color="0.7", markersize=4)
    ax.set_yscale("symlog", linthresh=5.0)
    ticks = [-30, -10, -5, -2, 0, 2, 5, 10, 30]
    ax.set_yticks(ticks, [str(tick) for tick in ticks])
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("t = (mean - exact expectation) / s.e.")
    ax.set_title(f"Mean over networks, entry by entry (dashed: thresholds, level {LEVEL:g});\n"
                 f"grey: limit off by 1% (x), LeCun's 1/n part left out (triangles)", fontsize=9)


def _spectrum_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw Lemma 11.19 on ``ax``: the fraction of networks inside the band at each width.

    And the fraction of those where the proof's sufficient condition holds.
    """
    lemma = result.numbers["lemma_11_19"]
    networks = np.asarray(lemma["networks"], dtype=float)
    for key, style, label in (("inside_band", "o-", "eigenvalues of K_n in [n lmin/2, 2 n lmax]"),
                              ("proof_condition_held", "s--", "proof's condition abs(K_n/n - K_LC)_2 <= lmin/2")):
        ax.semilogx(lemma["widths"], np.asarray(lemma[key]) / networks, style, label=label)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("width n")
    ax.set_ylabel("fraction of networks")
    ax.set_title("Lemma 11.19 (LeCun)", fontsize=10)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the fluctuation against the width for each parametrization.

    With the n^-1/2 prediction and the 1%-off control, the mean tests' t statistics, and
    Lemma 11.19's band at each width.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2)
    for ax, parametrization in zip(axes[0], PARAMETRIZATIONS):
        _rate_panel(ax, result.data[parametrization], as_fit(result.numbers[parametrization]["fit"]),
                    parametrization)
    _mean_panel(axes[1][0], result)
    _spectrum_panel(axes[1][1], result)
    fig.suptitle(f"Theorems 11.16, 11.30 and Lemma 11.19: the tangent Gram at initialization, "
                 f"{result.settings['activation']}")
    return [save(fig, directory, "kernel-convergence")]
