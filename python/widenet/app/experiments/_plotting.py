"""matplotlib for the report: imported only when figures are drawn (extra ``plot``)."""

from __future__ import annotations

from types import ModuleType

from widenet import _files
from widenet._optional import install_hint, optional_module_for

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


def figure(columns: int = 1, rows: int = 1, width: float = 5.0, height: float = 3.8):
    """A figure with ``rows x columns`` axes of a readable size; returns ``(fig, axes)``."""
    plt = pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False,
                             layout="constrained")
    return fig, axes


def save(fig, directory, name: str) -> str:
    """Writes ``fig`` as ``directory/name.png`` (atomically, or into the report run's set of
    files when ``directory`` is a staged one) and closes it; returns the file name."""
    file_name = f"{name}.png"
    try:
        with _files.open_in(directory, file_name) as stream:
            fig.savefig(stream, format="png", dpi=120)
    finally:
        pyplot().close(fig)
    return file_name


def power_law_panel(ax, widths, values, fit, label: str, color=None, reference_slope: float = -0.5):
    """Log-log scatter of ``values`` against ``widths`` (all seeds), the fitted line with its
    slope and interval in the legend, and a dashed ``n^reference_slope`` guide through the
    fit's centre."""
    import numpy as np

    widths, values = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    points = ax.loglog(widths, values, "o", alpha=0.45, markersize=4, color=color)[0]
    color = points.get_color()
    grid = np.geomspace(widths.min(), widths.max(), 50)
    low, high = fit.interval
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
              label=f"{label}: slope {fit.slope:.2f} [{low:.2f}, {high:.2f}]")
    centre = np.exp(np.mean(np.log(widths)))
    level = np.exp(fit.intercept) * centre ** fit.slope
    ax.loglog(grid, level * (grid / centre) ** reference_slope, "--", color="0.5", linewidth=1)
    ax.set_xlabel("width n")
