"""The laws D of the initial parameters (Assumption 11.14, Example 11.15): zero mean, unit variance."""

from __future__ import annotations

import math
from typing import Union, get_args

import numpy as np
from numpy.typing import NDArray

from widenet._types import Distribution

DISTRIBUTIONS: tuple[Distribution, ...] = get_args(Distribution)
"""The laws D of the initial parameters (drawn in Python, never by the compiled core)."""


def standard_draws(rng: np.random.Generator, distribution: Distribution,
                   size: Union[int, tuple[int, ...]]) -> NDArray[np.float64]:
    """Draw zero-mean, unit-variance float64 samples from the law ``distribution``."""
    if distribution == "normal":
        return rng.standard_normal(size)
    if distribution == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size)
    return 2.0 * rng.integers(0, 2, size).astype(np.float64) - 1.0
