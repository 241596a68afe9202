"""The claims: each weight block's relative movement shrinks with the width at its order's rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet.app.experiments._base import Claim
from widenet.app.experiments._slopes import LEVEL, SlopeTest, power_law_fit, slope_test
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_parameter_movement._setup import (
    ACTIVATION,
    DEPTH,
    EXPONENTS,
    TOTAL_EXPONENT,
)
from widenet.app.experiments.parameter_movement import CONVERGED, STEP_FRACTION
from widenet.sweeps import SlopeFit

_ORDER = {**EXPONENTS, "total": TOTAL_EXPONENT}
_NAMES = {"W1": "W^1 (n x d)", "W2": "W^2 (n x n)", "v": "v (n)", "total": "the whole vector w"}


def movement_tests(measured: dict[str, FloatArray], blocks: tuple[str, ...]) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the exponent of each block's relative movement against the linearization's.

    The prediction is the fitted exponent of the same block's movement to the linearization's
    limit of every network (computed at ``w0``, without training): the order argument's
    exponent with the data's finite-width terms. Bonferroni over ``blocks``.
    """
    widths = measured["widths"]
    tests: dict[str, tuple[SlopeFit, SlopeTest]] = {}
    for block in blocks:
        fit = power_law_fit(widths, measured[f"relative_{block}"], f"relative_{block}")
        predicted = power_law_fit(widths, measured[f"linearized_{block}"], "linearized").slope
        tests[block] = (fit, slope_test(fit, predicted, tests=len(blocks)))
    return tests


def _hypothesis(measured: dict[str, FloatArray]) -> tuple[str, bool]:
    """Return the hypotheses of the runs (convergence, the step), with the constants, and whether they hold."""
    largest = float(np.max(measured["relative_loss"]))
    steps = measured["steps"]
    held = largest <= CONVERGED
    return (f"NTK parametrization, {DEPTH} hidden layers of equal width, no biases, N(0, 1) weights; step "
            f"{STEP_FRACTION} / (lambda_min + lambda_max) of every network's Gram (Theorem 11.13's (11.4.4)): yes; "
            f"trained to convergence: largest final f(w_k)/f(w0) {largest:.1e} <= {CONVERGED:g} after "
            f"{int(min(steps))} to {int(max(steps))} steps: {'yes' if held else 'no'}"), held


def movement_claim(key: str, tests: dict[str, tuple[SlopeFit, SlopeTest]], measured: dict[str, FloatArray],
                   statement: str) -> Claim:
    """Return the claim ``key`` on the exponents ``tests``, with its hypotheses and criterion."""
    hypothesis, held = _hypothesis(measured)
    order = ", ".join(f"{_ORDER[block]:g} ({block})" for block in tests)
    return Claim(
        key=key,
        reference=f"Section 11.6.1 at depth {DEPTH} (beyond the chapter)",
        statement=statement,
        predicted=(f"slopes {order} (order argument); with the linearization's finite-width terms "
                   + ", ".join(f"{test.predicted:.3f} ({block})" for block, (_, test) in tests.items())),
        measured="; ".join(f"{block}: slope {test.text()}, 95% interval [{fit.slope - 1.96 * fit.stderr:.3f}, "
                           f"{fit.slope + 1.96 * fit.stderr:.3f}]" for block, (fit, test) in tests.items())
                 + f" over {len(measured['widths'])} networks",
        holds=all(test.holds for _, test in tests.values()),
        hypothesis=hypothesis,
        hypothesis_holds=held,
        criterion=("two-sided, per exponent: " + "; ".join(f"{block}: {test.criterion()}"
                                                           for block, (_, test) in tests.items())
                   + f" (least squares, every network one point, t quantile at level {LEVEL:g}, Bonferroni over "
                     f"{len(tests)})"))


def claims(measured: dict[str, FloatArray]) -> tuple[list[Claim], dict[str, tuple[SlopeFit, SlopeTest]]]:
    """Return both claims and every exponent's fit and test."""
    outer = movement_tests(measured, ("W1", "v"))
    hidden = movement_tests(measured, ("W2", "total"))
    found = [
        movement_claim("deep-movement-outer", outer, measured,
                       f"NTK parametrization, {DEPTH} hidden layers ({ACTIVATION}), gradient descent to convergence: "
                       f"the movement abs(B_k - B_0) of the first layer's weights and of the readout, relative to the "
                       f"initialization's scale sqrt(E abs(B_0)^2), shrinks like n^-1/2 (each moves by O(1) against a "
                       f"scale sqrt(n)), as for one hidden layer"),
        movement_claim("deep-movement-hidden", hidden, measured,
                       "the same runs: the hidden-to-hidden weights W^2 move by O(1) too, against a scale n (n^2 "
                       "entries), so their relative movement shrinks like n^-1, and so does that of the whole "
                       "parameter vector, which they dominate"),
    ]
    return found, {**outer, **hidden}


def numbers_of(measured: dict[str, FloatArray], tests: dict[str, tuple[SlopeFit, SlopeTest]],
               widths: tuple[int, ...]) -> dict[str, Any]:
    """Return the run's numbers: the fits, the tests and the median relative movement per width."""
    from widenet.app.experiments._rates import fit_record

    return {"fits": {block: fit_record(fit) for block, (fit, _) in tests.items()},
            "tests": {block: test.record() for block, (_, test) in tests.items()},
            "order_exponents": {block: _ORDER[block] for block in tests},
            "median_relative_movement": {block: [float(np.median(measured[f"relative_{block}"][
                measured["widths"] == width])) for width in widths] for block in tests},
            "steps": [int(np.min(measured["steps"])), int(np.max(measured["steps"]))],
            "largest_relative_loss": float(np.max(measured["relative_loss"]))}
