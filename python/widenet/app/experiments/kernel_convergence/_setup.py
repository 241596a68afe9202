"""The setting: the points, the designs of the full and the quick run, the claims' level."""

from __future__ import annotations

from dataclasses import dataclass

from widenet._types import Activation
from widenet.app.experiments._base import Parametrization

ACTIVATION: Activation = "erf"
POINTS = 6
INPUT_DIM = 8
RATE = -0.5
# False-alarm level of every claim (Bonferroni over the tests inside a claim).
LEVEL = 1e-3
CONTROL_ERROR = 0.01  # the limits' perturbation of the negative controls


@dataclass(frozen=True)
class Design:
    """The networks of one run: how many at which widths.

    ``grid_networks`` at each width of ``grid`` and ``wide_networks`` at ``wide`` (the rate
    fit), ``narrow_networks`` at ``narrow`` (with the wide ones, the mean tests).
    """

    grid: tuple[int, ...]
    grid_networks: int
    narrow: int
    narrow_networks: int
    wide: int
    wide_networks: int


# Why these numbers (d = 8): at the wide width the standard error of each entry of the mean
# is about 0.04% (full) / 0.06% (quick) of the diagonal of K_LC, so the 1% controls sit 18 to
# 24 standard errors away in quick mode (base seeds 0 .. 5); at width 64 the 1/n part of
# E[K_n/n] is about 40 standard errors.
# The wide networks in the rate fit give it the power to see a 1% error of the limit (the
# error then stops decaying near n = 2^15). The grid starts at 256: below, the LeCun
# fluctuation carries a visible 1/n^2 part (from the U and b blocks), which made the fitted
# exponent 0.004 too shallow with the grid from 64 (t statistic biased by +0.3 over base
# seeds 100 .. 172). From 256 (quick design, base seeds 100 .. 179 LeCun, 100 .. 159 NTK):
# the t statistic of the exponent against -1/2 has mean +0.04 / +0.08 and standard
# deviation 1.05 / 1.08, none beyond 2.7; the exponent -0.4995 +- 0.011 / -0.499 +- 0.018.
FULL = Design(grid=tuple(2 ** k for k in range(8, 15)), grid_networks=16, narrow=64, narrow_networks=256,
              wide=2 ** 16, wide_networks=96)
QUICK = Design(grid=tuple(2 ** k for k in range(8, 14)), grid_networks=16, narrow=64, narrow_networks=256,
               wide=2 ** 15, wide_networks=48)

PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
_NAME = {"lecun": "LeCun", "ntk": "NTK parametrization"}
_LIMIT = {"lecun": "K_LC", "ntk": "K_NTK"}
_REFERENCE = {"lecun": "Theorem 11.16", "ntk": "Theorem 11.30"}
_SCALED = {"lecun": "K_n/n", "ntk": "K_n"}

_POINTS_STREAM = 1116  # random streams of the points and of the networks, apart from other experiments
_NETWORK_STREAM = 1130


EXPERIMENT_NAME = "kernel-convergence"
