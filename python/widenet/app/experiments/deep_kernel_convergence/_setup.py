"""The setting: the depths, the widths and networks of the full and the quick run, the claims' level."""

from __future__ import annotations

from dataclasses import dataclass

from widenet._types import Activation
from widenet.app.experiments._base import Parametrization

ACTIVATION: Activation = "erf"  # smooth, with closed-form expectations: the limit carries no quadrature error
DEPTHS = (2, 3)
RATE = -0.5
# False-alarm level of every claim, as in the one-layer kernel experiment.
LEVEL = 1e-3
# The 95% interval is reported next to the claim's own (the prediction is tested at LEVEL).
REPORTED_CONFIDENCE = 0.95
# The negative control's error of the limit kernel: the smallest round error the rate fit
# sees at these widths (the fluctuation of one network is still 3 to 6% of the kernel at
# n = 1024, so a 1% error leaves the decay almost unchanged below that width).
CONTROL_ERROR = 0.1


@dataclass(frozen=True)
class Design:
    """The networks of one run: ``networks`` at each width of ``widths``, for every depth and parametrization."""

    widths: tuple[int, ...]
    networks: int


# Why these numbers: the networks have no biases, so under LeCun's parametrization the only
# O(1) block of K_n (whose share of K_n/n is a bias of order 1/n) is the first layer's; from
# n = 64 on it no longer steepens the fitted exponent visibly, while at n = 32 it does. A
# depth-3 network of width 1024 costs about 40 ms; the grid ends there.
FULL = Design(widths=tuple(2 ** k for k in range(6, 11)), networks=20)
QUICK = Design(widths=tuple(2 ** k for k in range(6, 11)), networks=12)

PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
NAME = {"lecun": "LeCun", "ntk": "NTK parametrization"}
SCALED = {"lecun": "K_n/n", "ntk": "K_n"}
LIMIT = {"lecun": "Theta_LC", "ntk": "Theta"}
# The one-hidden-layer statements these claims extend to depth L.
EXTENDS = {"lecun": "Theorem 11.16", "ntk": "Theorem 11.30"}

_NETWORK_STREAM = 1180  # the networks' random stream, apart from the other experiments'

EXPERIMENT_NAME = "deep-kernel-convergence"
BEYOND_CHAPTER = ("the chapter proves the kernel's convergence for one hidden layer and says that similar "
                  "considerations hold for deep networks; this measures it at depths 2 and 3")
