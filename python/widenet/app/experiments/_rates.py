"""Helpers of the experiments that fit rates in the width.

Fitted slopes as plain numbers, their text, and the test of a fitted slope against a rate.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._statistics import FloatArray
from widenet.sweeps import SlopeFit, fit_slope

# A fitted exponent "agrees with" a rate when its 95% interval meets [rate - 0.1, rate + 0.1]:
# the interval assumes a pure power law, and over widths 2^6 .. 2^15 the measured quantities
# carry 1/n corrections that steepen the fit by a few hundredths (measured in
# the comments of kernel_convergence's design).
TOLERANCE = 0.1


def fit_record(fit: SlopeFit) -> dict[str, Any]:
    """Return a :class:`~widenet.sweeps.SlopeFit` as plain numbers (``SlopeFit(**record)`` rebuilds it)."""
    record = asdict(fit)
    record["interval"] = [float(value) for value in fit.interval]
    return record


def as_fit(record: dict[str, Any]) -> SlopeFit:
    """Return the :class:`~widenet.sweeps.SlopeFit` of :func:`fit_record`'s output."""
    return SlopeFit(**{**record, "interval": tuple(record["interval"])})


def slope_text(fit: SlopeFit) -> str:
    """Return the fitted exponent and its interval as text, e.g. ``"-0.528 [-0.561, -0.495]"``."""
    low, high = fit.interval
    return f"{fit.slope:.3f} [{low:.3f}, {high:.3f}]"


def interval_meets(fit: SlopeFit, rate: float, tolerance: float = TOLERANCE) -> bool:
    """Whether the fit's interval meets ``[rate - tolerance, rate + tolerance]``."""
    low, high = fit.interval
    return bool(low <= rate + tolerance and high >= rate - tolerance)


def interval_contains(fit: SlopeFit, rate: float) -> bool:
    """Whether the fit's interval contains ``rate``."""
    low, high = fit.interval
    return bool(low <= rate <= high)


def frobenius_errors(grams: dict[int, FloatArray], widths: Sequence[int],
                     expected: Callable[[int], FloatArray]) -> tuple[npt.NDArray[np.int_],
                                                                                  FloatArray]:
    """Return ``(widths, abs(G - expected(n))_F)`` of every network's Gram ``G`` at each width ``n`` of ``widths``.

    ``grams[n]`` holds the Grams of the networks of width ``n``, shape ``(networks, m, m)``.
    """
    sizes = np.concatenate([np.full(len(grams[width]), width) for width in widths])
    errors = np.concatenate([np.linalg.norm(grams[width] - expected(width), axis=(1, 2)) for width in widths])
    return sizes, errors


def fluctuation_fit(grams: dict[int, FloatArray], widths: Sequence[int],
                    expected: Callable[[int], FloatArray],
                    confidence: float) -> tuple[SlopeFit, npt.NDArray[np.int_], FloatArray]:
    """Fit the exponent of ``abs(G - expected(n))_F ~ n^slope`` over the networks of ``widths``.

    Least squares of the log error on ``log n``, every network one point, with the slope's
    ``confidence`` interval. Returns the fit, the networks' widths and their errors.
    """
    sizes, errors = frobenius_errors(grams, widths, expected)
    return fit_slope(sizes, errors, "error", confidence=confidence), sizes, errors


def slope_z(fit: SlopeFit, rate: float) -> float:
    """Return the fitted exponent's distance from ``rate`` in standard errors."""
    return (fit.slope - rate) / fit.stderr


def network_seed(base: int, stream: int, width: int, index: int) -> int:
    """Return an integer seed for one network, independent for every (base, stream, width, index)."""
    return int(np.random.SeedSequence([stream, base, width, index]).generate_state(1, dtype=np.uint32)[0])
