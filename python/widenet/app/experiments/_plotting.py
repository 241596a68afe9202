"""matplotlib for the report: imported only when figures are drawn (extra ``plot``)."""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy.typing as npt

from widenet import _files
from widenet._optional import install_hint, optional_module_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from widenet.sweeps import SlopeFit

# Where ``plot`` functions write their figures: a directory, or a report run's staged one.
Directory = Union[str, "os.PathLike[str]"]

PURPOSE = "Drawing the report's figures"
INSTALL_HINT = install_hint(PURPOSE, "matplotlib")


def matplotlib() -> ModuleType:
    """Return ``matplotlib``, or raise ImportError with the hint."""
    with optional_module_for(PURPOSE, "matplotlib"):
        import matplotlib
    return matplotlib


def pyplot() -> ModuleType:
    """Return ``matplotlib.pyplot`` with a non-interactive backend, or raise ImportError with the hint."""
    matplotlib().use("Agg")
    with optional_module_for(PURPOSE, "matplotlib"):
        import matplotlib.pyplot as plt
    return plt


def figure(columns: int = 1, rows: int = 1, width: float = 5.0, height: float = 3.8) -> tuple[Figure, Any]:
    """Return a figure with ``rows x columns`` axes of a readable size: ``(fig, axes)``.

    ``axes`` is a 2-d array (rows, columns) of matplotlib axes.
    """
    plt = pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False,
                             layout="constrained")
    return fig, axes


def save(fig: Figure, directory: Directory, name: str) -> str:
    """Write ``fig`` as ``directory/name.png`` and close it; return the file name.

    The file is written atomically, or into the report run's set of files when
    ``directory`` is a staged one.
    """
    file_name = f"{name}.png"
    try:
        with _files.open_in(directory, file_name) as stream:
            fig.savefig(stream, format="png", dpi=120)
    finally:
        pyplot().close(fig)
    return file_name


def power_law_panel(ax: Axes, widths: npt.ArrayLike, values: npt.ArrayLike, fit: SlopeFit, label: str,
                    color: Optional[str] = None, reference_slope: float = -0.5) -> None:
    """Draw a log-log scatter of ``values`` against ``widths`` (all seeds) on ``ax``.

    With it the fitted line with its slope and interval in the legend, and a dashed
    ``n^reference_slope`` guide through the fit's centre.
    """
    import numpy as np

    widths, values = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    points = ax.loglog(widths, values, "o", alpha=0.45, markersize=4, color=color)[0]
    line_color = points.get_color()
    grid = np.geomspace(widths.min(), widths.max(), 50)
    low, high = fit.interval
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=line_color,
              label=f"{label}: slope {fit.slope:.2f} [{low:.2f}, {high:.2f}]")
    centre = np.exp(np.mean(np.log(widths)))
    level = np.exp(fit.intercept) * centre ** fit.slope
    ax.loglog(grid, level * (grid / centre) ** reference_slope, "--", color="0.5", linewidth=1)
    ax.set_xlabel("width n")
