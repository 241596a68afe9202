"""The setting: the points, the width, the designs of the full and the quick run, the claims' level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from widenet._types import Activation

ACTIVATION: Activation = "relu"
POINTS = 4
INPUT_DIM = 3
WIDTH = 2 ** 16
LEVEL = 1e-3  # false-alarm level of every claim (Bonferroni over its entries)
CONTROL_ERROR = 0.01
BIAS_VARIANCE = 1.0  # Exercise 11.37: b_i, c ~ D(0, 1)
BIAS_CONTROL = 0.9  # the control takes the bias variance 10% low


@dataclass(frozen=True)
class Design:
    """The sizes of one run: networks per family, networks with the uniform law, Monte Carlo draws.

    ``networks`` relu networks of width :data:`WIDTH` per family (without and with biases),
    ``uniform_networks`` for Example 11.15 and ``samples`` draws of its Monte Carlo limit.
    """

    networks: int
    uniform_networks: int
    samples: int

    @property
    def units(self) -> int:
        """The hidden units of the ``networks`` networks of one family."""
        return self.networks * WIDTH


# Why these numbers: a diagonal entry of K_LC (relu) is a mean of terms relu(h)^2 whose
# standard deviation is sqrt(5) times the mean, so a 1% error is 0.0045 sqrt(units)
# standard errors: 5.6 with 1.5 million units (quick), 9.2 with 4.2 million (full); the other
# closed forms are tighter (see the claims' measured controls), and the largest of 4
# diagonal entries is what the controls see. Example 11.15 compares the units of the networks
# (3.1 / 4.2 million; they are cheaper than Monte Carlo draws) with 2.1 / 4.2 million Monte
# Carlo draws, where the diagonal's 1% is 7.0 / 8.9 combined standard errors.
FULL = Design(networks=64, uniform_networks=64, samples=64 * WIDTH)
QUICK = Design(networks=24, uniform_networks=48, samples=32 * WIDTH)

UNIFORM_POINTS = np.eye(2)  # x = e1, z = e2 in R^2 (Example 11.15)

_POINTS_STREAM = 1117
_NETWORK_STREAM = 1131
_UNIFORM_STREAM = 1115

QUANTITIES = ("ss", "dd", "ntk")  # relu relu, relu' relu', a unit's share of K_n


EXPERIMENT_NAME = "kernel-closed-forms"
