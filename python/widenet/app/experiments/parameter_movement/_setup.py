"""The setting: the data's shape, the steps, the designs of the full and the quick run, Adam's settings."""

from __future__ import annotations

from dataclasses import dataclass

from widenet._types import Activation
from widenet.app.experiments._base import Parametrization

ACTIVATION: Activation = "tanh"
POINTS, INPUT_DIM = 4, 12
BIAS_VAR = OUTPUT_BIAS_VAR = 1.0  # Exercise 11.37
STEP_FRACTION = 0.9
PLANNED_LOSS = 1e-8  # the steps are planned for this relative loss at the slowest linear rate
CONVERGED = 1e-6  # the hypothesis: every run ends below this relative loss
MAX_STEPS_FACTOR = 4  # runs that lag behind the plan get up to this many times the planned steps
PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
NAMES = {"lecun": "LeCun with Exercise 11.37 biases", "ntk": "NTK parametrization with Exercise 11.37 biases"}
SHORT = {"lecun": "LeCun", "ntk": "NTK"}


@dataclass(frozen=True)
class Design:
    """Widths and networks of the gradient-descent runs and of the Adam runs, and the allowances.

    The allowances are those of the movement exponents (``"lecun"``, ``"ntk"``: the ratios;
    ``"adam"``) and of the gradient norms' (``"gradient"``) on this grid.
    """

    widths: tuple[int, ...]
    networks: int
    adam_widths: tuple[int, ...]
    adam_networks: int
    allowance: dict[str, float]


# Allowances: bounds on each fitted exponent's bias beyond its prediction, measured over data
# seeds 0 .. 19 (quick) and 0 .. 13 (full) as in the lazy-training experiment: abs(mean bias) +
# 2 (its standard error) + 3 tau, tau^2 the variance over seeds beyond the fits' own squared
# standard errors; rounded up. Mean bias (sd over seeds; mean standard error), quick / full:
#   gradient norms U, b   -0.0012 (0.0110; 0.0119) / +0.0003 (0.0017; 0.0028)
#   gradient norm v       -0.0014 (0.0040; 0.0046) / -0.0002 (0.0007; 0.0011)
#   LeCun v/U             +0.0096 (0.0095; 0.0273) / +0.0061 (0.0058; 0.0111)
#   LeCun v/b             +0.0188 (0.0178; 0.0247) / +0.0126 (0.0107; 0.0104)
#   LeCun v/c             +0.0064 (0.0208; 0.1724) / +0.0003 (0.0092; 0.0928)
#   NTK v/U               -0.0025 (0.0177; 0.0205) / -0.0015 (0.0070; 0.0077)
#   Adam abs(dU)/abs(dv)  +0.0002 (0.0036; 0.0028) / +0.0007 (0.0025; 0.0017; tau 0.0014)
# The predictions with the linearization's finite-width terms ranged over the seeds, quick /
# full: v/U 0.953 .. 1.047 / 0.979 .. 1.024, v/b 0.944 .. 1.056 / 0.993 .. 1.019, v/c 0.22 .. 1.01
# / 0.41 .. 0.70 (the movement of the single c is heavy-tailed), NTK v/U -0.035 .. 0.039 /
# -0.011 .. 0.019: exactly 1, 1, 1/2, 0 would be off by several standard errors.
FULL = Design((64, 256, 1024, 4096, 16384), 6, (64, 256, 1024, 4096), 6,
              {"lecun": 0.025, "ntk": 0.006, "adam": 0.007, "gradient": 0.002})
QUICK = Design((64, 256, 1024), 8, (64, 256, 1024), 4,
               {"lecun": 0.03, "ntk": 0.011, "adam": 0.005, "gradient": 0.006})

# The ratios of relative movements and the exponents of the order argument.
RATIOS = {"lecun": {"U": 1.0, "b": 1.0, "c": 0.5}, "ntk": {"U": 0.0}}

ADAM_STEPS = 10
ADAM_RATE = 0.01  # the learning rate is ADAM_RATE / n: the function moves by O(ADAM_RATE) per step at every width
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8

CONTROL_GRADIENT = 2.0
CONTROL_MOVEMENT = 2.0
CONTROL_EPSILON = 1e9

_NETWORK_STREAM = 1106
_ADAM_STREAM = 1129


EXPERIMENT_NAME = "parameter-movement"
