"""The figure: GD's distance to its predicted limit, inside and outside the interval, and the kernel case."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult
from widenet.app.experiments.least_squares._setup import STEP_FRACTION

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw four panels into ``directory``: GD's distance to its predicted limit, inside and outside the interval.

    ``|w_k - w_lim|`` against ``k`` (log scale) with the predicted rate and the rounding
    bound for the underdetermined case; the same at the steps outside the interval; the
    kernel case's distance in function space; its predictions (Remark 11.4).
    """
    from widenet.app.experiments._plotting import figure, save

    data, numbers = result.data, result.numbers
    linear, kernel = numbers["linear"], numbers["kernel"]
    fig, axes = figure(columns=4, width=4.6, height=4.2)
    ax = axes[0][0]
    steps = np.asarray(data["steps"], dtype=float)
    ax.semilogy(steps, data["distances"], color="tab:blue", linewidth=2, label="|w_k - w_lim|, start w0")
    ax.semilogy(steps, data["slowest_component"], color="tab:purple", linewidth=1.2,
                label="its slowest-direction component")
    ax.semilogy(steps, data["distances_row_space_start"], "--", color="tab:cyan", linewidth=1.2,
                label="|w_k - w*|, start P_row w0")
    ax.semilogy(steps, linear["rate"] ** steps * linear["initial_distance"], ":", color="black",
                linewidth=1.5, label=f"rate^k d_0, rate = {linear['rate']:.4f}")
    ax.semilogy(steps[1:], np.asarray(data["rounding"])[1:] + linear["limit_rounding"], "-.", color="0.5",
                linewidth=1, label="rounding bound")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to the predicted limit")
    ax.set_title(f"Theorem 11.3: A is {linear['shape'][0]} x {linear['shape'][1]}, h = {STEP_FRACTION:g}/(2 s_max^2)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][1]
    for i, row in enumerate(numbers["outside"]):
        distances = np.asarray(data[f"outside_distances_{i}"])
        ax.semilogy(np.arange(distances.size), distances, linewidth=1.6,
                    label=f"h = {row['multiple_of_endpoint']:g}/(2 s_max^2): factor {row['measured_factor']:.4f}")
    ax.semilogy(steps, data["distances"], ":", color="black", linewidth=1.2,
                label=f"h = {STEP_FRACTION:g}/(2 s_max^2) (inside)")
    ax.set_xlabel("GD step k")
    ax.set_ylabel("|w_k - w_lim|")
    ax.set_title("outside the interval: converges up to h = 1/s_max^2", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[0][2]
    kernel_steps = np.asarray(data["kernel_steps"], dtype=float)
    gaps = np.asarray(data["kernel_gaps"])
    ax.semilogy(kernel_steps, gaps, color="tab:orange", linewidth=2, label="max_x |Phi(x, w_k) - limit(x)|")
    ax.semilogy(kernel_steps, kernel["predicted_rate"] ** kernel_steps * gaps[0], ":", color="black",
                linewidth=1.5, label=f"rate^k, rate = {kernel['predicted_rate']:.4f}")
    ax.axhline(kernel["tolerance"], color="0.5", linestyle="-.", linewidth=1, label="rounding tolerance")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to KLS + <phi(x), P_ker w0>")
    ax.set_title("feature model: GD in function space", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][3]
    grid = np.asarray(data["kernel_grid"])
    ax.plot(grid, data["kernel_estimator"], color="black", linewidth=2, label="kernel least squares (KLS)")
    ax.plot(grid, data["gd_limit_prediction"], "--", color="tab:orange", linewidth=2, label="GD from w0, limit")
    ax.plot(grid, np.asarray(data["kernel_estimator"]) + np.asarray(data["initial_part"]), ":", color="tab:blue",
            linewidth=2, label="KLS + <phi(x), P_ker w0>")
    ax.plot(grid, data["gd_from_zero_prediction"], "-.", color="tab:green", linewidth=1.2, label="GD from 0, limit")
    ax.plot(data["kernel_X"], data["kernel_y"], "o", color="red", markersize=7, zorder=5, label="data")
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    ax.set_title(f"Remark 11.4: polynomial features, degree {kernel['degree']}", fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    return [save(fig, directory, "least_squares")]
