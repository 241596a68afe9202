"""The shared parts of the claims: the z thresholds and the claim of one closed form."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import Claim
from widenet.app.experiments._statistics import FloatArray, two_sided_threshold
from widenet.app.experiments.kernel_closed_forms._measure import Sample
from widenet.app.experiments.kernel_closed_forms._setup import LEVEL, WIDTH, Design


def z_threshold(tests: int) -> float:
    """Return the two-sided Bonferroni threshold of ``tests`` z statistics at family level :data:`LEVEL`."""
    return two_sided_threshold(tests, LEVEL)


def _largest(values: npt.ArrayLike) -> float:
    """Return the largest absolute value of ``values``."""
    return float(np.max(np.abs(values)))


_RELU_HYPOTHESIS = ("relu: abs(relu(x)) <= 1 (1 + abs(x)) and abs(relu'(x)) <= 1 (Theorems 11.16, 11.30 with R = 1): "
                    "yes; D = N(0, 1), which the closed forms need: yes; points nonzero: yes")


def _closed_form_claim(key: str, reference: str, statement: str, predicted: str,
                       samples: list[tuple[Sample, FloatArray, FloatArray]], design: Design, hypothesis: str,
                       extra_control: str = "") -> tuple[Claim, dict[str, Any]]:
    """Return a claim over ``samples`` = [(Sample, prediction, control prediction)], each entry a z-test."""
    z = np.concatenate([sample.z(prediction) for sample, prediction, _ in samples])
    control = np.concatenate([sample.z(wrong) for sample, _, wrong in samples])
    threshold = z_threshold(z.size)
    numbers = {"z": z, "largest_abs_z": _largest(z), "threshold": threshold, "control_largest_abs_z": _largest(control)}
    claim = Claim(
        key=key, reference=reference, statement=statement, predicted=predicted,
        measured=(f"max abs(z) = {_largest(z):.2f} over {z.size} entries, {design.units} hidden units of "
                  f"{design.networks} networks of width {WIDTH}. With the closed form off by 1%: max abs(z) = "
                  f"{_largest(control):.1f}{extra_control}"),
        holds=bool(_largest(z) <= threshold), hypothesis=hypothesis, hypothesis_holds=True,
        criterion=(f"every entry's z = (mean over units - closed form) / standard error (from the sample) has "
                   f"abs(z) <= {threshold:.2f}: Bonferroni over {z.size} entries at family level {LEVEL:g}"))
    return claim, numbers
