"""Power laws in the width: the least-squares slope on the log-log scale and its interval.

A sweep's cells are independent draws; :func:`fit_slope` fits ``log(value) = intercept +
slope * log(width)`` through all of them, with a confidence interval from Student's t
distribution (``student_t_quantile``).

This is also the package's one home for quantiles: :func:`normal_quantile` and
``student_t_quantile``, both without scipy.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from widenet import _validation as check

__all__ = ["SlopeFit", "fit_slope", "normal_quantile", "student_t_quantile"]


# -- quantiles -----------------------------------------------------------------------------
def _probability(probability: float) -> float:
    """``probability`` as a float in the open interval (0, 1), or ValueError naming it."""
    p = check.as_real(probability, "probability", np.dtype(np.float64))
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability: expected a number in (0, 1), got {probability!r}")
    return p


def normal_quantile(probability: float) -> float:
    """Return the standard normal quantile ``z_p``, ``Phi(z_p) = probability``.

    Wichura's algorithm AS 241 (:meth:`statistics.NormalDist.inv_cdf`), accurate to about
    1e-16 relative.

    Parameters
    ----------
    probability : float
        In the open interval (0, 1).
    """
    return statistics.NormalDist().inv_cdf(_probability(probability))


def _t_cdf_central(t: float, dof: int) -> float:
    """Return ``P(|T| <= t)`` for Student's t with an integer number of degrees of freedom.

    The finite series in ``theta = arctan(t / sqrt(dof))`` (Abramowitz and Stegun 26.7.3).
    """
    theta = math.atan(t / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    if dof % 2 == 1:
        term, total = math.cos(theta), 0.0
        # cos(theta) * (1 + 2/3 cos^2 + (2 4)/(3 5) cos^4 + ... up to cos^(dof-3))
        for j in range(1, (dof - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * j) / (2 * j + 1)
        return 2.0 / math.pi * (theta + math.sin(theta) * total)
    term, total = 1.0, 0.0
    # 1 + 1/2 cos^2 + (1 3)/(2 4) cos^4 + ... up to cos^(dof-2)
    for j in range(1, dof // 2 + 1):
        total += term
        term *= cos2 * (2 * j - 1) / (2 * j)
    return math.sin(theta) * total


def _t_density(t: float, dof: int) -> float:
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    return math.exp(log_norm - (dof + 1) / 2 * math.log1p(t * t / dof))


def _cornish_fisher(z: float, dof: int) -> float:
    """Expand the t quantile in powers of ``1/dof`` around the normal quantile ``z``.

    See Abramowitz and Stegun 26.7.5.
    """
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + (g1 + (g2 + (g3 + g4 / dof) / dof) / dof) / dof


# Above this many degrees of freedom the expansion alone is accurate to ~1e-12 and the
# series (dof / 2 terms) is not needed.
_SERIES_LIMIT = 1000


def student_t_quantile(probability: float, dof: int) -> float:
    """Return the quantile ``t_p`` of Student's t distribution with ``dof`` degrees of freedom.

    The quantile satisfies ``P(T <= t_p) = probability``.

    Exact closed forms for 1 and 2 degrees of freedom; otherwise the Cornish-Fisher
    expansion around the normal quantile (Abramowitz and Stegun 26.7.5), refined by Newton
    steps on the exact finite-series distribution function of integer ``dof`` (26.7.3)
    while ``dof <= 1000`` (beyond, the expansion itself is accurate to about 1e-11).
    Agrees with ``scipy.stats.t.ppf`` to about 1e-10 for ``1e-6 <= probability <= 1 - 1e-6``
    (further in the tails the series loses digits to cancellation: about 1e-7 relative at
    ``1e-10``). Needs no scipy.

    Parameters
    ----------
    probability : float
        In the open interval (0, 1).
    dof : int
        Degrees of freedom, at least 1.
    """
    p = _probability(probability)
    dof = check.integer(dof, "dof", 1)
    if p == 0.5:
        return 0.0
    sign, tail = (1.0, 1.0 - p) if p > 0.5 else (-1.0, p)  # 1 - p is exact for p > 1/2
    if dof == 1:
        return sign / math.tan(math.pi * tail)
    if dof == 2:
        return sign * (1 - 2 * tail) / math.sqrt(2 * tail * (1 - tail))
    t = _cornish_fisher(-normal_quantile(tail), dof)
    if dof > _SERIES_LIMIT:
        return sign * t
    target = 1.0 - 2.0 * tail  # P(|T| <= t) at the upper quantile
    for _ in range(50):
        step = (_t_cdf_central(t, dof) - target) / (2 * _t_density(t, dof))
        t -= step
        if abs(step) <= 1e-15 * max(1.0, abs(t)):
            break
    return sign * t


# -- the fit -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlopeFit:
    """Least-squares fit of ``log(value) = intercept + slope * log(width)``.

    Every (width, seed) cell of a sweep is an independent draw, so every cell is one point
    of the fit (no averaging over seeds first). The interval assumes a pure power law with
    independent scatter of equal variance on the log scale; it does not cover a curvature
    of ``log(value)`` against ``log(width)`` (pre-asymptotic corrections at small widths).

    Parameters
    ----------
    quantity, slope, intercept, stderr, interval, points, confidence
        The attributes below, by the same names: :func:`fit_slope` fills them in.

    Attributes
    ----------
    quantity : str
        The name of the fitted quantity.
    slope : float
        The fitted exponent ``a`` of ``value ~ exp(intercept) * width^a``.
    intercept : float
        The fitted ``log C`` (natural logarithm).
    stderr : float
        The standard error of the slope, ``sqrt(s^2 / sum (log n_j - mean)^2)`` with the
        residual variance ``s^2 = SSR / (points - 2)``.
    interval : tuple of float
        The ``confidence`` interval of the slope, ``slope -+ t_q stderr`` with ``t_q`` the
        ``(1 + confidence) / 2`` quantile of Student's t with ``points - 2`` degrees of
        freedom (``student_t_quantile``).
    points : int
        The number of (width, seed) cells in the fit.
    confidence : float
        The level of ``interval``, 0.95 by default.

    Examples
    --------
    >>> import widenet
    >>> fit = widenet.fit_slope([64, 256, 1024], [0.25, 0.125, 0.0625], quantity="distance")
    >>> round(fit.slope, 6), fit.points
    (-0.5, 3)
    """

    quantity: str
    slope: float
    intercept: float
    stderr: float
    interval: tuple
    points: int
    confidence: float = 0.95

    def __str__(self) -> str:
        low, high = self.interval
        return (f"{self.quantity}: slope {self.slope:.3f} +- {self.stderr:.3f}, "
                f"{self.confidence:.0%} interval [{low:.3f}, {high:.3f}], {self.points} points")


def fit_slope(widths: npt.ArrayLike, values: npt.ArrayLike, quantity: str = "value",
              confidence: float = 0.95) -> SlopeFit:
    """Fit the power law ``values ~ exp(intercept) * widths^slope``.

    By ordinary least squares of ``log(values)`` on ``log(widths)``, each pair one point (see :class:`SlopeFit`); what
    :meth:`SweepResult.slope` computes.

    Parameters
    ----------
    widths : array_like, shape (N,)
        Positive widths; at least two distinct ones.
    values : array_like, shape (N,)
        Positive values (ValueError naming ``quantity`` otherwise: no log scale).
    quantity : str
        The name used in the result and in error messages.
    confidence : float
        The level of the interval, in (0, 1).

    Examples
    --------
    >>> import widenet
    >>> fit = widenet.fit_slope([64, 128, 256, 512], [0.5, 0.35, 0.25, 0.177], quantity="distance")
    >>> round(fit.slope, 2), fit.interval[0] < -0.5 < fit.interval[1]
    (-0.5, True)
    """
    float64 = np.dtype(np.float64)
    widths = check.as_array(widths, "widths", float64, 1)
    if np.any(widths <= 0):
        raise ValueError(f"widths: expected positive widths, got {widths[widths <= 0][0]!r}")
    values = check.as_array(values, quantity, float64, 1, check_finite=False)
    if values.shape != widths.shape:
        raise ValueError(f"{quantity}: expected one value per width, shape {widths.shape}, got {values.shape}")
    confidence = check.as_real(confidence, "confidence", float64)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        bad = values[~(np.isfinite(values) & (values > 0))]
        raise ValueError(f"{quantity}: cannot fit a power law, the values must be finite and positive for a "
                         f"log scale; got {bad.size} value(s) such as {bad[0]!r}")
    points = values.size
    x, y = np.log(widths), np.log(values)
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(np.sum((x - x_mean) ** 2))
    if points < 3 or sxx == 0.0:
        raise ValueError(f"{quantity}: a slope with an interval needs at least 3 cells and 2 distinct widths, got "
                         f"{points} cell(s) and {np.unique(widths).size} width(s)")
    slope = float(np.sum((x - x_mean) * (y - y_mean)) / sxx)
    intercept = float(y_mean - slope * x_mean)
    residual = y - (intercept + slope * x)
    dof = points - 2
    stderr = math.sqrt(float(residual @ residual) / dof / sxx)
    half = student_t_quantile(0.5 + confidence / 2, dof) * stderr
    return SlopeFit(quantity, slope, intercept, stderr, (slope - half, slope + half), points, confidence)
