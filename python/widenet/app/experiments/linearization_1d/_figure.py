"""The figure: the model, its linearization, both losses and GD's iterates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw Figures 11.1 and 11.2 into ``directory`` as a 2 x 2 grid.

    For each case (rows) the model against its linearization and the target (left), and
    the loss along ``w`` with the GD iterates (right).
    """
    from widenet.app.experiments._plotting import figure, save

    data, settings, numbers = result.data, result.settings, result.numbers
    w = np.asarray(data["w"])
    fig, axes = figure(columns=2, rows=2, width=5.4, height=3.7)
    titles = {"good": "Figure 11.1: Phi close to Phi_lin", "bad": "Figure 11.2: Phi far from Phi_lin"}
    for row, case in enumerate(("good", "bad")):
        y = settings["targets"][case]
        iterates = np.asarray(data[f"iterates_{case}"])
        left, right = axes[row]
        left.plot(w, data["model"], color="tab:blue", linewidth=2, label="Phi(x1, w)")
        left.plot(w, data["linearization"], "--", color="tab:green", linewidth=1.5, label="Phi_lin(x1, w)")
        left.axhline(y, color="red", linewidth=1, label=f"y1 = {y:g}")
        left.plot([settings["w0"]], [float(np.interp(settings["w0"], w, data["model"]))], "ko", label="w0")
        left.plot([iterates[-1]], [float(np.interp(iterates[-1], w, data["model"]))], "s", color="tab:purple",
                  label="GD limit")
        left.set_ylim(-1.5, 1.5 + 0.6 * (y > 1))
        left.set_title(f"{titles[case]} (y1 = {y:g})")
        left.set_xlabel("w")
        left.set_ylabel("model output")
        left.legend(fontsize=8, loc="lower left")
        losses = np.asarray(data[f"loss_{case}"])
        right.plot(w, losses, color="tab:blue", linewidth=2, label="(Phi(x1, w) - y1)^2")
        right.plot(w, (np.asarray(data["linearization"]) - y) ** 2, "--", color="tab:green", linewidth=1.2,
                   label="(Phi_lin(x1, w) - y1)^2")
        shown = iterates[:30]
        right.plot(shown, (np.interp(shown, w, data["model"]) - y) ** 2, "o-", color="tab:purple", markersize=3,
                   linewidth=0.8, label=f"GD iterates (first {shown.size})")
        minimizers = np.asarray(numbers[case]["global_minimizers"], dtype=float)
        right.plot(minimizers, np.zeros_like(minimizers), "*", color="red", markersize=11, label="global minima")
        if case == "good":  # zoom on w0 and the nearby minimizer; the loss there is small
            right.set_xlim(-0.5, 1.3)
            right.set_ylim(-0.005, 4.0 * numbers[case]["initial_loss"])
        else:
            right.set_ylim(-0.05, 1.2 * max(numbers[case]["initial_loss"], 0.5))
        condition = numbers[case]["assumption_11_12"]
        right.set_title(f"loss along w: GD ends at f = {numbers[case]['loss_at_w_gd']:.2g}\n"
                        f"(Assumption 11.12 (c) fails: L/bound = {condition['ratio']:.1f})", fontsize=9)
        right.set_xlabel("w")
        right.set_ylabel("loss f(w)")
        right.legend(fontsize=8, loc="upper right")
    return [save(fig, directory, "linearization_1d")]
