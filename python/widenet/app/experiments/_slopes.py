"""Two-sided tests of a fitted exponent against a predicted one.

They serve the experiments that measure how a quantity scales with the width (lazy
training, parameter movement).

A test holds when ``abs(slope - predicted) <= t_q stderr + allowance``: ``t_q`` is the
two-sided Student quantile at the claim's false-alarm level (Bonferroni over the tests of
one claim), ``stderr`` the fit's own standard error, and ``allowance`` a stated bound on the
bias of the fitted exponent from the next order in ``1/n`` that the prediction leaves out
(measured over many seeds; each experiment says where its numbers come from). Where the
``1/n`` correction is known in closed form it is put into ``predicted`` instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from widenet.sweeps import SlopeFit, student_t_quantile

# False-alarm level of every claim (a claim with several tests splits it, Bonferroni).
LEVEL = 1e-3


def power_law_fit(widths: npt.ArrayLike, values: npt.ArrayLike, quantity: str,
                  weights: Optional[npt.ArrayLike] = None, confidence: float = 1.0 - LEVEL) -> SlopeFit:
    """Fit ``log(values) = intercept + slope log(widths)`` by (weighted) least squares.

    Every network is one point; the fit has the slope's standard error and ``confidence``
    interval.

    ``weights`` are inverse variances up to a common factor (for a quantity whose scatter on
    the log scale falls like ``n^-1/2``: ``weights = widths``); the factor is estimated from
    the weighted residuals, ``points - 2`` degrees of freedom. Without weights this is
    :func:`widenet.sweeps.fit_slope`.
    """
    width_array, value_array = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    if not np.all(np.isfinite(value_array)) or np.any(value_array <= 0):
        raise ValueError(f"{quantity}: cannot fit a power law to non-positive or non-finite values")
    weight_array = np.ones_like(width_array) if weights is None else np.asarray(weights, dtype=float)
    x, y = np.log(width_array), np.log(value_array)
    x_mean, y_mean = np.average(x, weights=weight_array), np.average(y, weights=weight_array)
    sxx = float(np.sum(weight_array * (x - x_mean) ** 2))
    slope = float(np.sum(weight_array * (x - x_mean) * (y - y_mean)) / sxx)
    intercept = float(y_mean - slope * x_mean)
    residual = y - (intercept + slope * x)
    dof = value_array.size - 2
    stderr = math.sqrt(float(np.sum(weight_array * residual ** 2)) / dof / sxx)
    half = student_t_quantile(0.5 + confidence / 2, dof) * stderr
    return SlopeFit(quantity, slope, intercept, stderr, (slope - half, slope + half), int(value_array.size),
                    confidence)


@dataclass(frozen=True)
class SlopeTest:
    """A fitted exponent against its prediction.

    Attributes
    ----------
    quantity : str
    slope, stderr : float
        The fitted exponent and its standard error.
    points : int
        Networks in the fit.
    predicted : float
        The predicted exponent (with its known ``1/n`` correction, where there is one).
    allowance : float
        The stated bound on the fitted exponent's remaining bias.
    threshold : float
        The two-sided t quantile (``points - 2`` degrees of freedom) at the test's level.
    """

    quantity: str
    slope: float
    stderr: float
    points: int
    predicted: float
    allowance: float
    threshold: float

    @property
    def t(self) -> float:
        """``(slope - predicted) / stderr``."""
        return (self.slope - self.predicted) / self.stderr

    @property
    def tolerance(self) -> float:
        """The test's tolerance, ``threshold stderr + allowance``."""
        return self.threshold * self.stderr + self.allowance

    @property
    def holds(self) -> bool:
        """Whether ``abs(slope - predicted) <= tolerance``."""
        return bool(abs(self.slope - self.predicted) <= self.tolerance)

    def text(self) -> str:
        """Return the fitted exponent, its standard error and ``t`` as text, e.g. ``"-0.497 +- 0.002 (t = +1.3)"``."""
        return f"{self.slope:.3f} +- {self.stderr:.3f} (t = {self.t:+.1f})"

    def criterion(self) -> str:
        """Return the test in words, with its numbers."""
        allowance = f" + {self.allowance:.3f} (allowance)" if self.allowance else ""
        return (f"abs(slope - {self.predicted:.3f}) <= {self.threshold:.2f} x {self.stderr:.4f}{allowance} = "
                f"{self.tolerance:.3f}")

    def record(self) -> dict[str, Any]:
        """Return the test as plain numbers, with ``t``, ``tolerance`` and ``holds``."""
        return {**asdict(self), "t": self.t, "tolerance": self.tolerance, "holds": self.holds}


def slope_test(fit: SlopeFit, predicted: float, allowance: float = 0.0, tests: int = 1,
               level: float = LEVEL) -> SlopeTest:
    """Test ``fit`` against ``predicted``, as one of ``tests`` tests of a claim at family level ``level``."""
    threshold = student_t_quantile(1.0 - level / (2 * tests), fit.points - 2)
    return SlopeTest(fit.quantity, fit.slope, fit.stderr, fit.points, float(predicted), float(allowance), threshold)


def per_doubling(widths: npt.ArrayLike, factor: float) -> npt.NDArray[np.float64]:
    """Return ``factor ** log2(n / n_min)`` for every width ``n``.

    A factor ``2^a`` per doubling of the width is an error of ``n^a`` (the negative controls
    that scale a quantity wrongly with ``n``).
    """
    width_array = np.asarray(widths, dtype=float)
    return factor ** np.log2(width_array / width_array.min())
