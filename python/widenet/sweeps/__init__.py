"""Width sweeps: a measurement repeated over widths and seeds, and its power law in the width.

The cells are cached and run on threads or a Dask cluster.
"""

from widenet.sweeps.results import CellFailure, SweepResult
from widenet.sweeps.statistics import SlopeFit, fit_slope, normal_quantile, student_t_quantile
from widenet.sweeps.sweep import sweep, sweeps_on

__all__ = ["CellFailure", "SlopeFit", "SweepResult", "fit_slope", "normal_quantile", "student_t_quantile", "sweep",
           "sweeps_on"]
