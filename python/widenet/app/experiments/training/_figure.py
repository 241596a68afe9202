"""The figures: the loss curves of every run and the Theorem 11.13 run against its bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw two figures into ``directory``: the loss curves and the Theorem 11.13 run.

    The normalised loss ``f(w_k)/f(w0)`` of every run against the step (semilog, one colour
    per width; the bound dashed), and the Theorem 11.13 run (loss and distance against their
    bounds).
    """
    from widenet.app.experiments._plotting import figure, save

    data = result.data
    steps = np.asarray(data["steps"], dtype=float)
    losses = np.asarray(data["losses"], dtype=float)
    widths = np.asarray(data["widths"])
    fig, axes = figure()
    ax = axes[0, 0]
    for color, width in enumerate(np.unique(widths)):
        members = np.flatnonzero(widths == width)
        for position, index in enumerate(members):
            normalised = losses[index] / losses[index, 0]
            shown = np.isfinite(normalised) & (normalised > 0)
            ax.semilogy(steps[shown], normalised[shown], color=f"C{color}", linewidth=0.9, alpha=0.8,
                        label=f"n = {int(width)} ({members.size} networks)" if position == 0 else None)
    ax.semilogy(steps, data["bound_factor"] ** (2 * steps), "k--", linewidth=1.2,
                label=f"bound (1 - h n lmin_LC/2)^(2k), factor {data['bound_factor']:.4f}")
    ax.set_xlabel("step k")
    ax.set_ylabel("f(w_k) / f(w0)")
    ax.set_title(f"Theorem 11.23: LeCun, {result.settings['activation']}, sum loss, h = c/n; all {len(widths)} runs",
                 fontsize=10)
    ax.legend(fontsize=8)
    files = [save(fig, directory, "training-loss")]

    fig, axes = figure(columns=2)
    steps = np.asarray(data["check_steps"], dtype=float)
    check_losses = np.asarray(data["check_losses"], dtype=float)
    positive = check_losses > 0
    ax = axes[0, 0]
    ax.semilogy(steps[positive], check_losses[positive], "C0", label="f(w_k)")
    ax.semilogy(steps, np.asarray(data["check_loss_bounds"], dtype=float), "k--",
                label="(1 - h lambda_min)^(2k) f(w0)")
    ax.set_xlabel("step k")
    ax.set_title("Theorem 11.13 (11.4.6b)", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(steps, np.asarray(data["check_distances"], dtype=float), "C1", label="abs(w_k - w0)")
    ax.axhline(data["check_distance_bound"], color="k", linestyle="--", label="r (11.4.6a), U estimated")
    ax.axhline(data["check_certified_radius"], color="k", linestyle=":", label="r, U certified")
    ax.set_xlabel("step k")
    ax.set_title("Theorem 11.13 (11.4.6a)", fontsize=10)
    ax.legend(fontsize=8)
    certificate = result.numbers["convergence_check"]["certificate"]
    settings = result.settings
    fig.suptitle(f"check_convergence: {settings['activation']}, LeCun, 3 points in R^3 at "
                 f"{', '.join(f'{angle:g}' for angle in settings['check_angles'])} degrees, n = "
                 f"{settings['check_width']}; Assumption 11.12 (c) "
                 f"{'certified' if certificate['held'] else 'NOT certified'} (L/bound <= {certificate['ratio']:.2f})",
                 fontsize=10)
    files.append(save(fig, directory, "training-theorem-11-13"))
    return files
