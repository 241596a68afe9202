"""The setting: the data, the widths and steps, the estimates' effort and the random streams."""

from __future__ import annotations

import math
from typing import Sequence, TypedDict

import numpy as np

from widenet._types import Activation
from widenet.app.experiments._statistics import FloatArray

ACTIVATION: Activation = "tanh"
# tanh: sigma(0) = 0, sup |sigma'| = 1 (at 0), sup |sigma''| = 4 / (3 sqrt 3) (where tanh^2 = 1/3).
TANH_SLOPE = 1.0
TANH_CURVATURE = 4.0 / (3.0 * math.sqrt(3.0))
POINTS = 5
INPUT_DIM = 5
STEPS = 300
# h = STEP_FRACTION * 2 / ((lmin_LC + 4 lmax_LC) n): strictly below Theorem 11.23's limit.
STEP_FRACTION = 0.9
WIDTHS = (64, 256, 1024, 4096, 16384)
QUICK_WIDTHS = (64, 256, 1024)
SEEDS = 3
QUICK_SEEDS = 2
# The tail fit uses the records with f(w_k) above this fraction of f(w0): far above the
# rounding floor of the sum of squares in float64 (about 1e-30 relative).
FLOOR = 1e-20
# Comparisons of a loss with its bound allow rounding only.
ROUNDING = 1e-12
# The fit's statistical part of the error: this many standard errors of the fitted slope.
FIT_STANDARD_ERRORS = 3.0
EPS = float(np.finfo(np.float64).eps)

# Part 2: three points of norm sqrt(2) in R^3 at these pairwise angles (degrees; x1-x2, x1-x3,
# x2-x3), so K_LC has lmax/lmin = 10, and a width where (c) holds with a margin on every seed.
CHECK_WIDTH = 32768
CHECK_ANGLES = (40.0, 50.0, 60.0)
CHECK_NORM = math.sqrt(2.0)
CHECK_TARGETS = np.array([0.5, -0.5, 0.25])
CHECK_STEPS = 60
# h = CHECK_STEP_FRACTION / (lambda_min + lambda_max), inside (11.4.4). At the largest admissible
# step the two extreme modes contract equally fast and the tail would mix them; below it the
# slowest mode dominates the tail, as in Part 1.
CHECK_STEP_FRACTION = 0.9


class Estimates(TypedDict):
    """The effort of :func:`widenet.check_assumptions`' estimates (its keyword arguments)."""

    samples: int
    path_steps: int
    lanczos_steps: int
    refinements: int


# check_assumptions' effort in Part 2 (its estimates are shown beside the certificate) and in
# the table of (c) (any violation found there is definite, whatever the effort; more effort
# finds larger lower bounds). The quick run makes the least effort in both.
CHECK_ESTIMATES: Estimates = {"samples": 4, "path_steps": 20, "lanczos_steps": 3, "refinements": 0}
TABLE_ESTIMATES: Estimates = {"samples": 8, "path_steps": 30, "lanczos_steps": 4, "refinements": 1}
QUICK_ESTIMATES: Estimates = {"samples": 1, "path_steps": 0, "lanczos_steps": 1, "refinements": 0}
# The table covers the widths of the runs up to this one (check_assumptions at 16384 takes ~20 s).
TABLE_LARGEST_WIDTH = 4096
FIGURE_11_3_WIDTH = 250  # the chapter's width of Figure 11.3

_DATA_STREAM = 1123
_NETWORK_STREAM = 1124
_CHECK_STREAM = 1113
_TABLE_STREAM = 1125


def points_at_angles(angles: Sequence[float], norm: float) -> FloatArray:
    """Return three points of norm ``norm`` in ``R^3`` whose pairwise angles are ``angles``.

    The angles are in degrees, of the pairs 1-2, 1-3, 2-3; the points are the rows of the
    Cholesky factor of their Gram matrix.
    """
    c12, c13, c23 = (math.cos(math.radians(angle)) for angle in angles)
    gram = np.array([[1.0, c12, c13], [c12, 1.0, c23], [c13, c23, 1.0]])
    return norm * np.linalg.cholesky(gram)


CHECK_POINTS = points_at_angles(CHECK_ANGLES, CHECK_NORM)


def training_data(seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """Return ``POINTS`` random points with ``abs(x)^2 = d`` and their targets.

    The targets are ``sin(pi a.x / sqrt(d))`` for a random unit vector ``a``. ``K_LC`` (tanh)
    is then regular and moderately conditioned (``lmax / lmin`` = 33 for seed 0, between 7
    and 175 over seeds 0 to 19), so the slowest mode decays visibly within a few hundred
    steps.
    """
    rng = np.random.default_rng([_DATA_STREAM, seed])
    X = rng.standard_normal((POINTS, INPUT_DIM))
    X *= math.sqrt(INPUT_DIM) / np.linalg.norm(X, axis=1, keepdims=True)
    direction = rng.standard_normal(INPUT_DIM)
    direction /= np.linalg.norm(direction)
    return X, np.sin(math.pi * X @ direction / math.sqrt(INPUT_DIM))


def cell_seed(base: int, width: int, index: int) -> np.random.SeedSequence:
    """Return the seed of the network of run (width, index) for the base seed ``base``."""
    return np.random.SeedSequence([_NETWORK_STREAM, base, width, index])


EXPERIMENT_NAME = "training"
