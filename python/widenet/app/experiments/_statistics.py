"""Sampling distributions for the experiments' statistical claims (numpy only).

A claim that compares a Monte Carlo estimate with a prediction states a false-alarm level
and tests against the estimate's sampling distribution: normal deviates for means,
chi-square deviates (Wilson-Hilferty) for variances and quadratic forms, the Kolmogorov
distribution for a goodness-of-fit test. Where a prediction is known only up to a
computable term that is not sampling error (a finite-width correction, say), that term is
an ``allowance``: the deviate measures how far the estimate lies outside the band
``prediction +- allowance``, in standard errors, and is 0 inside it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from widenet.sweeps.statistics import normal_quantile  # the package's quantiles live in widenet.sweeps

# The experiments' arrays of real numbers (float64 in practice; numpy's linear algebra is typed floating).
FloatArray = npt.NDArray[np.floating[Any]]

# The largest deviate reported: a prediction that is impossible for the sample (a negative
# variance, say) gives this instead of inf, so that results stay valid JSON.
LARGEST_DEVIATE = 1e12


def normal_cdf(z: npt.ArrayLike) -> FloatArray:
    """Return ``Phi(z)`` elementwise."""
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-np.asarray(z, dtype=float) / math.sqrt(2.0))


def two_sided_threshold(tests: int, level: float) -> float:
    """Return ``t`` with ``P(max_i |Z_i| > t) <= level`` for ``tests`` standard normals.

    This holds however they are correlated (Bonferroni: ``t = Phi^{-1}(1 - level / (2 tests))``).
    """
    return normal_quantile(1.0 - level / (2.0 * tests))


def one_sided_threshold(tests: int, level: float) -> float:
    """Return ``t`` with ``P(max_i Z_i > t) <= level`` for ``tests`` standard normals (Bonferroni)."""
    return normal_quantile(1.0 - level / tests)


def _capped(z: npt.ArrayLike) -> FloatArray:
    """Return the deviates ``z`` as floats within ``+-LARGEST_DEVIATE`` (NaN as the largest)."""
    return np.clip(np.nan_to_num(np.asarray(z, dtype=float), nan=LARGEST_DEVIATE, posinf=LARGEST_DEVIATE,
                                 neginf=-LARGEST_DEVIATE), -LARGEST_DEVIATE, LARGEST_DEVIATE)


def chi_square_z(statistic: npt.ArrayLike, dof: npt.ArrayLike) -> FloatArray:
    """Return the normal deviate of a chi-square statistic with ``dof`` degrees of freedom.

    Wilson-Hilferty: ``(X / dof)^(1/3)`` is close to ``N(1 - 2/(9 dof), 2/(9 dof))``; for
    ``dof >= 79`` the deviate of a quantile is within 0.03 of the normal one out to
    ``|z| = 4.8``; use :func:`chi_square_sf` for few degrees of freedom.
    """
    degrees = np.asarray(dof, dtype=float)
    spread = 2.0 / (9.0 * degrees)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _capped((np.cbrt(np.asarray(statistic, dtype=float) / degrees) - (1.0 - spread)) / np.sqrt(spread))


def beyond(measured: npt.ArrayLike, predicted: npt.ArrayLike, allowance: npt.ArrayLike = 0.0) -> FloatArray:
    """Return how far ``measured`` lies outside ``[predicted - allowance, predicted + allowance]``.

    Signed, and 0 inside.
    """
    difference = np.asarray(measured, dtype=float) - np.asarray(predicted, dtype=float)
    return np.sign(difference) * np.maximum(np.abs(difference) - np.abs(allowance), 0.0) + 0.0  # no -0.0


def mean_z(sample_mean: npt.ArrayLike, predicted: npt.ArrayLike, sd: npt.ArrayLike, count: int,
           allowance: npt.ArrayLike = 0.0) -> FloatArray:
    """Return normal deviates of sample means against ``predicted +- allowance``.

    The means are of ``count`` draws with standard deviation ``sd``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _capped(beyond(sample_mean, predicted, allowance) / (np.asarray(sd, dtype=float) / math.sqrt(count)))


def variance_z(sample_variance: npt.ArrayLike, predicted: npt.ArrayLike, dof: int,
               allowance: npt.ArrayLike = 0.0) -> FloatArray:
    """Return normal deviates of sample variances against a variance in ``predicted +- allowance``.

    The sample variances have ``dof`` degrees of freedom: ``dof s^2 / sigma^2`` is
    chi-square for Gaussian draws, tested at the end of the band nearest to ``s^2`` (0
    inside the band). A band below zero (an impossible variance) gives
    :data:`LARGEST_DEVIATE`.
    """
    variance = np.asarray(sample_variance, dtype=float)
    low = np.asarray(predicted, dtype=float) - np.abs(allowance)
    high = np.asarray(predicted, dtype=float) + np.abs(allowance)
    nearest = np.clip(variance, low, high)
    inside = (variance >= low) & (variance <= high)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(nearest > 0.0, chi_square_z(dof * variance / np.where(nearest > 0, nearest, 1.0), dof),
                     LARGEST_DEVIATE)
    return _capped(np.where(inside, 0.0, z))


def whiten(values: npt.ArrayLike, mean: npt.ArrayLike, covariance: FloatArray) -> FloatArray:
    """Return ``L^{-1} (v - mean)`` for every row ``v`` of ``values``, ``L L^T = covariance``.

    These are independent standard normals when the rows are draws of ``N(mean, covariance)``.
    """
    factor = np.linalg.cholesky(covariance)
    return np.linalg.solve(factor, (np.asarray(values) - mean).T).T


def covariance_statistic(whitened: FloatArray) -> tuple[float, int]:
    """Return the likelihood-ratio statistic of ``covariance = I`` and its degrees of freedom.

    For rows of known mean 0 the statistic is ``R (tr S - log det S - p)`` with
    ``S = W^T W / R``, with ``p (p + 1) / 2`` degrees of freedom (chi-square for large
    ``R``; the Bartlett correction is ``O(p / R)``).
    """
    count, dimension = whitened.shape
    scatter = whitened.T @ whitened / count
    sign, log_determinant = np.linalg.slogdet(scatter)
    statistic = count * (np.trace(scatter) - log_determinant - dimension) if sign > 0 else math.inf
    return float(statistic), dimension * (dimension + 1) // 2


def mean_statistic(whitened: FloatArray) -> tuple[float, int]:
    """Return ``R |mean of the rows|^2`` and its degrees of freedom ``p``.

    It is chi-square with ``p`` degrees of freedom for rows of independent standard normals
    (mean 0 tested with the covariance known).
    """
    count, dimension = whitened.shape
    return float(count * np.sum(whitened.mean(axis=0) ** 2)), dimension


def chi_square_sf(values: npt.ArrayLike, dof: int) -> FloatArray:
    """Return the chi-square upper tail ``P(X > t)`` for an even number ``dof`` of degrees of freedom.

    In closed form, ``exp(-t/2) sum_(j < dof/2) (t/2)^j / j!`` (accurate in the tail).
    """
    if dof < 2 or dof % 2:
        raise ValueError(f"dof: expected an even number of degrees of freedom >= 2, got {dof!r}")
    half = np.asarray(values, dtype=float) / 2.0
    with np.errstate(over="ignore", invalid="ignore"):
        terms = np.sum([half ** j / math.factorial(j) for j in range(dof // 2)], axis=0)
        return np.where(np.isinf(half), 0.0, np.exp(-half) * terms)


def chi_square_cdf(values: npt.ArrayLike, dof: int) -> FloatArray:
    """Return the chi-square distribution function ``1 - P(X > t)`` for an even ``dof``."""
    return 1.0 - chi_square_sf(values, dof)


def kolmogorov_smirnov(values: npt.ArrayLike,
                       cdf: Callable[[FloatArray], FloatArray] = normal_cdf) -> tuple[float, float]:
    """Return the Kolmogorov-Smirnov distance of ``values`` from the distribution ``cdf`` and its p-value.

    ``cdf`` is ``N(0, 1)`` by default. The p-value is from Kolmogorov's limit law with
    Stephens' finite-sample factor ``sqrt(N) + 0.12 + 0.11 / sqrt(N)``, accurate to a few
    percent of the p-value for ``N >= 35``.
    """
    ordered = np.sort(np.ravel(np.asarray(values, dtype=float)))
    count = ordered.size
    probabilities = cdf(ordered)
    distance = float(max(np.max(np.arange(1, count + 1) / count - probabilities),
                         np.max(probabilities - np.arange(count) / count)))
    scaled = (math.sqrt(count) + 0.12 + 0.11 / math.sqrt(count)) * distance
    if scaled < 0.3:  # the p-value exceeds 0.9999, where the alternating series converges slowly
        return distance, 1.0
    terms = [(-1) ** (j - 1) * math.exp(-2.0 * j * j * scaled * scaled) for j in range(1, 101)]
    return distance, float(min(max(2.0 * sum(terms), 0.0), 1.0))
