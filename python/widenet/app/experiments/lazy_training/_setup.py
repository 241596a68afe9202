"""The setting: the steps, the designs of the full and the quick run, the predicted exponents."""

from __future__ import annotations

import math
from dataclasses import dataclass

from widenet._types import Activation
from widenet.app.experiments._base import Parametrization

ACTIVATION: Activation = "tanh"
POINTS, INPUT_DIM, TEST_POINTS = 4, 12, 4
STEP_FRACTION = 0.9  # of Theorem 11.23's limit (LeCun) and of (11.4.4) (NTK parametrization)
PLANNED_LOSS = 1e-8  # the run is planned to reach this relative loss at the slowest linear rate
CONVERGED = 1e-6  # the hypothesis: every run ends below this relative loss
CHECKPOINTS = 12  # steps where the tangent Gram is computed (log-spaced, the last among them)
BOUND = -0.5  # the chapter's exponent in Theorem 11.23 and Propositions 11.25 and 11.26
TANH_LIPSCHITZ_DERIVATIVE = 4.0 / (3.0 * math.sqrt(3.0))  # sup abs(tanh'') at tanh(x)^2 = 1/3


@dataclass(frozen=True)
class Design:
    """The widths of each parametrization, the networks at every width of each, and the allowances.

    The allowances (``{parametrization: {quantity: bound}}``) bound the bias of the fitted
    exponents on this grid.
    """

    widths: dict[str, tuple[int, ...]]
    networks: dict[str, int]
    allowance: dict[str, dict[str, float]]


# The allowances bound the bias of each fitted exponent from the orders in 1/n the prediction
# leaves out. Measured over data seeds 0 .. 19 (quick) and 0 .. 13 (full): for each seed the
# fitted slope minus the prediction; allowance = abs(mean) + 2 (its standard error) + 3 tau,
# where tau^2 is the variance over seeds beyond the fits' own squared standard errors (the bias
# varies with the data), rounded up; the two LeCun grids are the same widths, so their seeds are
# pooled. Mean bias (sd over seeds; mean standard error of a fit):
#   LeCun, quick and full      distance -0.0004 (0.0018; 0.0020-0.0027)  gap +0.145 (0.094; 0.08-0.11)
#                              kernel +0.058 (0.052; 0.030-0.045; tau 0.024-0.037)
#   NTK, full (64 .. 4096)     distance -0.0007 (0.0027; 0.0026)  gap +0.077 (0.054; 0.058)
#                              kernel -0.017 (0.033; 0.033)
#   NTK, quick (64 .. 1024)    distance +0.0007 (0.0095; 0.0083)  gap +0.090 (0.099; 0.126)
#                              kernel -0.000 (0.095; 0.081)   (6 networks a width when measured)
# The LeCun gap and kernel change approach n^-2 from above: their local exponents between
# neighbouring widths, 16 networks each (seed 0), were -1.26 / -1.64 (256 -> 1024), -1.59 / -1.90
# (-> 4096), -2.00 / -1.95 (-> 16384) and -2.18 / -2.06 (-> 65536), the gap and the kernel change;
# hence the grid from 1024. Without the B/n term in its prediction the LeCun distance's exponent
# would be off by +0.002 to +0.018 over the seeds (mean +0.0065: 2.4 (quick) and 3.3 (full) standard
# errors).
FULL = Design({"lecun": (1024, 4096, 16384), "ntk": (64, 256, 1024, 4096)}, {"lecun": 12, "ntk": 12},
              {"lecun": {"distance": 0.002, "gap": 0.18, "kernel": 0.19},
               "ntk": {"distance": 0.005, "gap": 0.11, "kernel": 0.04}})
QUICK = Design({"lecun": (1024, 4096, 16384), "ntk": (64, 256, 1024)}, {"lecun": 6, "ntk": 12},
               {"lecun": {"distance": 0.002, "gap": 0.18, "kernel": 0.19},
                "ntk": {"distance": 0.02, "gap": 0.14, "kernel": 0.15}})

PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
NAMES = {"lecun": "LeCun", "ntk": "NTK parametrization"}
QUANTITIES = ("distance", "gap", "kernel")
PREDICTED = {"lecun": {"distance": -0.5, "gap": -2.0, "kernel": -2.0},
             "ntk": {"distance": -0.5, "gap": -1.0, "kernel": -1.0}}
CONTROL_STEP = 0.5  # halved: twice the NTK parametrization's step would diverge
CONTROL_EXPONENT = 2.0 ** 0.1
CONTROL_GRAM = 1.01

_NETWORK_STREAM = {"lecun": 1123, "ntk": 1163}


EXPERIMENT_NAME = "lazy-training"
