"""The tests of the Grams' mean, fluctuation and eigenvalues against their predictions."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import numpy.typing as npt

from widenet.app.experiments import _rates
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_convergence._measure import expected_gram
from widenet.app.experiments.kernel_convergence._setup import LEVEL, RATE, Design
from widenet.sweeps import SlopeFit, student_t_quantile


def mean_z(grams: FloatArray, expected: FloatArray) -> FloatArray:
    """Return ``(mean - expected) / standard error`` of every entry of the upper triangle.

    The standard error is from the sample of networks.
    """
    rows, columns = np.triu_indices(grams.shape[1])
    entries = grams[:, rows, columns]
    standard_error = entries.std(axis=0, ddof=1) / math.sqrt(len(entries))
    return (entries.mean(axis=0) - expected[rows, columns]) / standard_error


def _largest(values: npt.ArrayLike) -> float:
    """Return the largest absolute value of ``values``."""
    return float(np.max(np.abs(values)))


def t_threshold(tests: int, networks: int) -> float:
    """Return the two-sided Bonferroni threshold of ``tests`` t statistics over ``networks`` at level :data:`LEVEL`."""
    return student_t_quantile(1.0 - LEVEL / (2 * tests), networks - 1)


def rayleigh_z(grams: FloatArray, expected: FloatArray) -> tuple[float, ...]:
    """Test the Rayleigh quotients ``a.G a`` at the extreme eigenvectors ``a`` of ``expected``.

    Returns their mean minus the eigenvalue in standard errors, for the smallest and the largest.
    """
    values, vectors = np.linalg.eigh(expected)
    extremes = vectors[:, [0, -1]]
    quotients = np.einsum("ia,nij,ja->na", extremes, grams, extremes)
    standard_error = quotients.std(axis=0, ddof=1) / math.sqrt(len(quotients))
    return tuple(float(value) for value in (quotients.mean(axis=0) - values[[0, -1]]) / standard_error)


def frobenius_errors(grams: dict[int, FloatArray], widths: Sequence[int], limit: FloatArray,
                     part: FloatArray) -> tuple[npt.NDArray[np.int_], FloatArray]:
    """Return ``(widths, abs(G - E[G])_F)`` of every network at each of ``widths``."""
    return _rates.frobenius_errors(grams, widths, lambda width: expected_gram(limit, part, width))


def rate_fit(grams: dict[int, FloatArray], design: Design, limit: FloatArray,
             part: FloatArray) -> tuple[SlopeFit, npt.NDArray[np.int_], FloatArray]:
    """Fit the exponent of ``abs(G - E[G])_F ~ n^slope`` over the grid and the wide networks.

    Returns the fit with its ``1 - LEVEL`` interval, the networks' widths and their errors.
    """
    return _rates.fluctuation_fit(grams, (*design.grid, design.wide), lambda width: expected_gram(limit, part, width),
                                  1.0 - LEVEL)


def slope_z(fit: SlopeFit) -> float:
    """Return the fitted exponent's distance from -1/2 in standard errors."""
    return _rates.slope_z(fit, RATE)
