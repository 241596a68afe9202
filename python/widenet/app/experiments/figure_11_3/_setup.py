"""The configuration of Figure 11.3: the chapter's networks and data, and the design of the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet.app.experiments import _statistics as stats

NAME = "figure-11-3"

# The chapter's architecture and initialization (11.5.11): U ~ N(0, 3/d), v ~ N(0, 3/n),
# b, c ~ N(0, 2), arctan, LeCun parametrization (11.5.1).
CONFIG: dict[str, Any] = dict(activation="arctan", parametrization="lecun", weight_var=3.0, output_var=3.0,
                              bias_var=2.0, output_bias_var=2.0)
# Three data points in [-1, 1.5] (the chapter does not list its data; these match the
# benchmark of the same figure).
DATA_X = (-1.0, 0.5, 1.5)
DATA_Y = (0.3, -0.4, 0.8)
GRID = (-2.0, 2.5)
WIDTH, STEPS, FIGURE_NETWORKS = 250, 1000, 80
LEVEL = 1e-3  # false-alarm probability of each claim (Bonferroni over the claim's tests)
FAMILY_LEVEL = LEVEL
STATISTICS_NETWORKS = {True: 4000, False: 8000}  # quick, full: initialization and the first steps
TRAINED_NETWORKS = {True: FIGURE_NETWORKS, False: 400}  # trained for all 1000 steps
EARLY_STEPS = (10, 30)  # where the k-step GP and kernel interpolation differ
RATE_WINDOW = (300, 400)  # steps between which the loss decay is measured (far above rounding)
# Points where the NNGP covariance is well conditioned (condition number 82): the full
# covariance at initialization is tested there.
COVARIANCE_POINTS = (-2.0, -0.25, 1.0, 2.5)
# The data points and three away from them: the GP after 10 and 30 steps is tested there.
EARLY_POINTS = (-2.0, -1.0, -0.25, 0.5, 1.5, 2.5)
AT_DATA = [i for i, x in enumerate(EARLY_POINTS) if x in DATA_X]  # the data among them
# After 1000 steps grid points are tested where the GP's sd is at least this (the data
# points and their immediate neighbours are interpolated; the loss claim covers them).
SMALLEST_TESTED_SD = 0.01
VARIANCE_GRID_STRIDE = 4  # the initial variance is tested at every 4th grid point (neighbours correlate ~1)
DIVERGENCE_STEPS = 20  # steps of the sum-loss run that shows the divergence
ROUNDING = np.finfo(np.float64).eps / 2


def bonferroni_threshold(points: int, level: float = LEVEL) -> float:
    """Return ``t`` with ``P(max_i |Z_i| > t) <= level`` for ``points`` standard normals.

    This holds however they are correlated (Bonferroni: ``t = Phi^{-1}(1 - level / (2 points))``).
    """
    return stats.two_sided_threshold(points, level)
