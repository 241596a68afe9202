"""The setting: the steps, the kernel case's points and features."""

from __future__ import annotations

import math

import numpy.typing as npt

from widenet.app.experiments._statistics import FloatArray
from widenet.kernels import polynomial_features

NAME = "least-squares"

# The step, as a fraction of the end 1/(2 s_max^2) of Theorem 11.3's open interval.
STEP_FRACTION = 0.9
# Steps outside the interval, in the same unit: its endpoint, one below the stability limit
# 1/s_max^2 (= 2 in this unit) and one just beyond it.
OUTSIDE_STEPS = (1.0, 1.9, 2.04)
OUTSIDE_CHANGE = 1e6  # the runs outside the interval stop once the measured component changed by this factor

# The kernel case: four points on the line, the polynomial kernel of degree 6 (7 features).
KERNEL_X = (-0.9, -0.3, 0.4, 0.8)
KERNEL_DEGREE = 6
KERNEL_GRID = (-1.1, 1.1)


def feature_map(X: npt.ArrayLike) -> FloatArray:
    """Return the explicit feature map of the polynomial kernel ``(1 + x z)^6`` (Exercise 11.35)."""
    return polynomial_features(X, KERNEL_DEGREE)


def steps_to(rate: float, reduction: float = 1e-15) -> int:
    """Return the number of steps after which ``rate^k`` is below ``reduction``."""
    return int(math.ceil(math.log(reduction) / math.log(rate))) if 0.0 < rate < 1.0 else 1
