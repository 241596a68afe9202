"""The figure: the deviations of the hidden units' means from the closed forms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from widenet.app.experiments._base import ExperimentResult

if TYPE_CHECKING:
    from widenet.app.experiments._plotting import Directory


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: each claim's z statistics (entry by entry) with its threshold.

    In grey the largest z of its 1% control, and for Example 11.15 the z against the
    Gaussian closed form.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=1, width=8.0)
    ax = axes[0][0]
    keys = [claim.key for claim in result.claims]
    for position, key in enumerate(keys):
        numbers = result.numbers[key]
        values = np.asarray(numbers["z"], dtype=float)
        first = position == 0
        ax.plot(position + np.linspace(-0.2, 0.2, values.size), values, "o", color="C0", markersize=4,
                label="z of each entry" if first else None)
        ax.plot([position], [numbers["control_largest_abs_z"]], "x", color="0.5", markersize=8,
                label="largest abs(z) with the closed form (limit) off by 1%" if first else None)
        for sign in (-1, 1):
            ax.plot([position - 0.3, position + 0.3], [sign * numbers["threshold"]] * 2, "--", color="0.3",
                    linewidth=1, label="two-sided threshold (level 1e-3)" if first and sign > 0 else None)
        if "gaussian_z" in numbers:
            ax.plot([position], [numbers["gaussian_z"]], "s", color="C3", markersize=6,
                    label="z against the Gaussian closed form (uniform law)")
    ax.set_yscale("symlog", linthresh=5.0)
    ticks = [-5, -2, 0, 2, 5, 10, 30, 100, 300]
    ax.set_yticks(ticks, [str(tick) for tick in ticks])
    ax.set_ylim(-6, 3000)  # room for the legend above the markers
    ax.set_xticks(range(len(keys)), [result.claim(key).reference for key in keys], fontsize=8)
    ax.set_ylabel("z = (mean over units - prediction) / s.e.")
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Closed forms of the limit kernels against the hidden units of wide networks", fontsize=11)
    return [save(fig, directory, "kernel-closed-forms")]
