"""The claims: the tangent kernel of a deep network converges like ``n^-1/2``, under both parametrizations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from widenet.app.experiments._base import Claim, Parametrization
from widenet.app.experiments._rates import fit_record, fluctuation_fit, interval_contains, slope_text, slope_z
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_kernel_convergence._setup import (
    ACTIVATION,
    CONTROL_ERROR,
    EXTENDS,
    LEVEL,
    LIMIT,
    NAME,
    RATE,
    REPORTED_CONFIDENCE,
    SCALED,
    Design,
)


def _hypothesis(depth: int, parametrization: Parametrization) -> str:
    """Return the hypotheses of the infinite-width limit at ``depth``, each with whether it holds here."""
    scaling = "every hidden width n, K_n divided by n" if parametrization == "lecun" else "every hidden width n"
    return (f"{depth} hidden layers of equal width ({scaling}): yes; abs(erf) <= 1 and erf' <= 2/sqrt(pi), so the "
            f"activation and its derivative grow at most linearly: yes; normal initial weights (the recursion's "
            f"Gaussian pre-activations): yes; no biases")


def rate_claim(depth: int, parametrization: Parametrization, design: Design, grams: dict[int, FloatArray],
               limit: FloatArray) -> tuple[Claim, dict[str, Any], dict[str, Any]]:
    """Return the claim that ``abs(G - limit)_F`` of one network decays like ``n^-1/2`` at ``depth``.

    With it its numbers and the errors the figure draws (``G`` is ``K_n/n`` under LeCun's
    parametrization, ``K_n`` under the NTK parametrization).
    """
    fit, widths, errors = fluctuation_fit(grams, design.widths, lambda _: limit, 1.0 - LEVEL)
    reported = fluctuation_fit(grams, design.widths, lambda _: limit, REPORTED_CONFIDENCE)[0]
    control, _, control_errors = fluctuation_fit(grams, design.widths, lambda _: (1 + CONTROL_ERROR) * limit,
                                                 1.0 - LEVEL)
    numbers = {"fit": fit_record(fit), "z": slope_z(fit, RATE), "interval_contains_rate": interval_contains(fit, RATE),
               "fit_95": fit_record(reported), "interval_95_contains_rate": interval_contains(reported, RATE),
               "control_fit": fit_record(control), "control_z": slope_z(control, RATE),
               "relative_error_times_sqrt_n": [float(np.mean(errors[widths == width]) * math.sqrt(width)
                                                     / np.linalg.norm(limit)) for width in design.widths]}
    low, high = reported.interval
    claim = Claim(
        key=f"deep-kernel-{parametrization}-depth-{depth}",
        reference=f"{EXTENDS[parametrization]} at depth {depth} (beyond the chapter)",
        statement=(f"{NAME[parametrization]}, {depth} hidden layers ({ACTIVATION}): abs({SCALED[parametrization]} - "
                   f"{LIMIT[parametrization]})_F of one network decays like n^-1/2, {LIMIT[parametrization]} the "
                   f"infinite-width tangent kernel of the layer recursion"),
        predicted=f"slope {RATE}",
        measured=(f"slope {slope_text(fit)} (t = {slope_z(fit, RATE):+.2f}; 95% interval [{low:.3f}, {high:.3f}]) over "
                  f"{fit.points} networks, widths {design.widths[0]}..{design.widths[-1]}. With "
                  f"{LIMIT[parametrization]} off by {CONTROL_ERROR:.0%}: slope {control.slope:.3f} "
                  f"(t = {slope_z(control, RATE):+.1f})"),
        holds=interval_contains(fit, RATE),
        hypothesis=_hypothesis(depth, parametrization),
        hypothesis_holds=True,
        criterion=(f"the fitted exponent's {1 - LEVEL:.1%} t interval (least squares of log error on log n, every "
                   f"network one point) contains -1/2 (level {LEVEL:g}; the 95% interval is reported too)"))
    data = {"widths": widths, "error": errors, "control_error": control_errors}
    return claim, numbers, data
