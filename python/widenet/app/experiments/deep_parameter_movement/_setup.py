"""The setting: the network, the data's shape, the designs of the full and the quick run, the predictions."""

from __future__ import annotations

from dataclasses import dataclass

from widenet._types import Activation

ACTIVATION: Activation = "tanh"
DEPTH = 2
POINTS, INPUT_DIM = 4, 12  # the data of the one-layer experiment
# The weight blocks of a network without biases, in the parameter vector's order.
BLOCKS = ("W1", "W2", "v")
# The order argument's exponents of each block's relative movement (module docstring).
EXPONENTS = {"W1": -0.5, "W2": -1.0, "v": -0.5}
# The claims: the blocks of O(n) entries (the statement as for one hidden layer), and the
# hidden-to-hidden block of n^2 entries with the whole vector, which it dominates.
CLAIMS = {"deep-movement-outer": ("W1", "v"), "deep-movement-hidden": ("W2", "total")}
TOTAL_EXPONENT = -1.0


@dataclass(frozen=True)
class Design:
    """``networks`` gradient-descent runs at each width of ``widths``."""

    widths: tuple[int, ...]
    networks: int


FULL = Design(widths=(64, 128, 256, 512, 1024), networks=6)
QUICK = Design(widths=(64, 128, 256, 512), networks=4)

CONTROL_EXPONENT = 0.5  # the negative control's error of the hidden block's scale: n^1/2 instead of n

_NETWORK_STREAM = 1181  # the networks' random stream, apart from the other experiments'

EXPERIMENT_NAME = "deep-parameter-movement"
BEYOND_CHAPTER = ("the chapter shows for one hidden layer that gradient descent moves the parameters of a wide "
                  "NTK-parametrized network little and says that similar considerations hold for deep networks; "
                  "this measures it at depth 2, block by block")
