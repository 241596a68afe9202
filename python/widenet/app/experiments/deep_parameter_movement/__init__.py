"""Beyond the chapter: gradient descent moves the weights of a wide deep network little.

For one hidden layer under the NTK parametrization, the chapter's order argument (Section
11.6.1) has every weight of the first layer and of the readout move by ``O(n^-1/2)``: each
block moves by ``O(1)`` against a scale ``sqrt(n)``, and it says that similar considerations
hold for deep networks. This experiment trains NTK-parametrized networks of two hidden layers
of width ``n`` (docs/theory.md, section 8), without biases, by gradient descent on the
chapter's objective (11.0.1b) to convergence, with Theorem 11.13's step ``0.9/(lambda_min +
lambda_max)`` of every network's own Gram, on the data of the one-layer experiment. Per
weight block ``B`` it measures ``abs(B_k - B_0)`` at the end, relative to the initialization's
scale ``sqrt(E abs(B_0)^2)`` (the root of the block's number of entries, all of variance 1).

The order argument at depth 2: the network ends near the linearization's limit
``Delta w = -J0^T Theta0^{-1} r0``, whose block norms are ``O(1)`` (each block's share of the
kernel is ``O(1)``). Against their scales, ``W^1`` (``n d`` entries) and ``v`` (``n``) move
relatively by ``n^-1/2``, as for one hidden layer; the hidden-to-hidden ``W^2`` (``n^2``
entries) by ``n^-1``, and so does the whole parameter vector, whose norm ``W^2`` dominates.
Each fitted exponent is tested two-sided against the fitted exponent of the same block's
movement to the linearization's limit of every network (the order argument's exponent with
the data's finite-width terms, computed without training), as in the one-layer experiment.

Negative controls: the relative movement of ``W^1`` and ``v`` off by a factor ``n^1/2`` (as
when a block is measured against the scale of one row or one entry instead of the whole
block), and that of ``W^2`` (and so of the whole vector) off by ``n^1/2`` (a scale of ``n``
entries instead of ``n^2``).
"""

from __future__ import annotations

from typing import Optional

from widenet.app.experiments._base import (
    SILENT,
    Control,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._slopes import LEVEL, per_doubling
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_parameter_movement._claims import claims, movement_tests, numbers_of
from widenet.app.experiments.deep_parameter_movement._figure import plot
from widenet.app.experiments.deep_parameter_movement._measure import cell_network, initial_scale, measure, movement_cell
from widenet.app.experiments.deep_parameter_movement._setup import (
    ACTIVATION,
    BEYOND_CHAPTER,
    BLOCKS,
    CONTROL_EXPONENT,
    DEPTH,
    EXPERIMENT_NAME,
    EXPONENTS,
    FULL,
    INPUT_DIM,
    POINTS,
    QUICK,
    Design,
)
from widenet.dynamics.lazy_training import lazy_training_data


def _perturbed(measured: dict[str, FloatArray], perturbation: Optional[Perturbation]) -> dict[str, FloatArray]:
    """Return ``measured`` with the negative controls' errors applied to the movements."""
    changed = {}
    for quantity, blocks in (("outer scale", ("W1", "v")), ("hidden scale", ("W2", "total"))):
        factor = per_doubling(measured["widths"], factor_of(perturbation, quantity))  # the factor per doubling of n
        changed.update({f"relative_{block}": measured[f"relative_{block}"] * factor for block in blocks})
    return {**measured, **changed}


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure every weight block's relative movement over the widths (see the module docstring).

    ``quick`` runs 4 networks at each width 64 .. 512 instead of 6 at 64 .. 1024; ``seed`` seeds
    the data (:func:`widenet.dynamics.lazy_training.lazy_training_data`) and is the networks'
    base seed; ``perturbation`` is one of ``EXPERIMENT.controls``' negative controls.
    """
    design = QUICK if quick else FULL
    data = lazy_training_data(points=POINTS, input_dim=INPUT_DIM, seed=seed)
    measured = _perturbed(measure(design, seed, (data.X, data.y), progress), perturbation)
    found, tests = claims(measured)
    settings = {"activation": ACTIVATION, "depth": DEPTH, "parametrization": "ntk", "bias": False, "loss": "sum",
                "points": POINTS, "input_dim": INPUT_DIM, "widths": list(design.widths),
                "networks_per_width": design.networks, "data_seed": seed, "level": LEVEL, "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers_of(measured, tests, design.widths), found, measured)


EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Which weights move in a deep network, NTK parametrization (beyond the chapter)",
    reference="Section 11.6.1 at depth 2",
    run=run,
    plot=plot,
    controls={
        "outer blocks off by n^1/2": Control(
            Perturbation("outer scale", 2.0 ** CONTROL_EXPONENT), ("deep-movement-outer",),
            "the relative movement of W^1 and v scaled by n^1/2 (W^1 against sqrt(d) instead of sqrt(n d), v against "
            "1 instead of sqrt(n))"),
        "hidden block off by n^1/2": Control(
            Perturbation("hidden scale", 2.0 ** CONTROL_EXPONENT), ("deep-movement-hidden",),
            "the relative movement of W^2 and of the whole vector scaled by n^1/2 (a scale of n entries, not n^2)"),
    },
    beyond_chapter=BEYOND_CHAPTER,
)


__all__ = ["ACTIVATION", "BLOCKS", "cell_network", "claims", "CONTROL_EXPONENT", "DEPTH", "Design", "EXPERIMENT",
           "EXPERIMENT_NAME", "EXPONENTS", "FULL", "initial_scale", "INPUT_DIM", "measure", "movement_cell",
           "movement_tests", "plot", "POINTS", "QUICK", "run"]
