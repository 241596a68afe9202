"""The runs: gradient descent to convergence, and the movement of each weight block."""

from __future__ import annotations

import math

import numpy as np

from widenet.app.experiments._base import Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_parameter_movement._setup import (
    _NETWORK_STREAM,
    ACTIVATION,
    BLOCKS,
    DEPTH,
    Design,
)
from widenet.app.experiments.parameter_movement import STEP_FRACTION, train_to_convergence
from widenet.network.deep import Network
from widenet.sweeps import sweep


def cell_network(base: int, width: int, index: int, input_dim: int) -> Network:
    """Return the NTK-parametrized network of a cell at its initialization: ``DEPTH`` layers of ``width``, no biases."""
    seed = np.random.default_rng([_NETWORK_STREAM, base, width, index])
    return Network(input_dim, (width,) * DEPTH, ACTIVATION, "ntk", bias=False, seed=seed)


def initial_scale(block: str, width: int, input_dim: int) -> float:
    """Return ``sqrt(E abs(B_0)^2)`` of a weight block under the NTK parametrization (unit variances).

    Every entry has variance 1, so it is the root of the block's number of entries.
    """
    entries = {"W1": width * input_dim, "W2": width * width, "v": width}[block]
    return math.sqrt(entries)


def _linearized_movement(network: Network, X: FloatArray, y: FloatArray) -> dict[str, float]:
    """Return ``abs(Delta B)`` per block of the linearization's limit ``Delta w = -J0^T Theta0^{-1} r0``.

    The point gradient descent on the linearized model converges to, computed at ``w0``.
    """
    J = network.jacobian(X)
    coefficients = np.linalg.solve(J @ J.T, network.forward(X) - y)
    sizes = [weights.size for weights in network.params.weights]
    bounds = np.cumsum([0, *sizes])
    return {block: float(np.linalg.norm(J[:, start:stop].T @ coefficients))
            for block, start, stop in zip(BLOCKS, bounds[:-1], bounds[1:])}


def movement_cell(width: int, seed: int, *, base: int, data: tuple[FloatArray, FloatArray]) -> dict[str, float]:
    """Train network ``seed`` of ``width`` to convergence; return each block's movement, relative too.

    With the linearization's limit movement, the relative final loss, the step and the steps.
    """
    X, y = data
    network = cell_network(base, width, seed, X.shape[1])
    initial = network.params
    gram = network.ntk(X)
    low, high = np.linalg.eigvalsh(gram)[[0, -1]]
    lr = STEP_FRACTION / float(low + high)  # Theorem 11.13's (11.4.4) step for the network's own Gram
    linearized = _linearized_movement(network, X, y)
    relative_loss, steps = train_to_convergence(network, X, y, lr, gram)
    record: dict[str, float] = {"relative_loss": relative_loss, "lr": lr, "steps": float(steps)}
    squares = 0.0
    for block, now, then in zip(BLOCKS, network.params.weights, initial.weights):
        moved = float(np.linalg.norm(now - then))
        squares += moved ** 2
        scale = initial_scale(block, width, X.shape[1])
        record.update({f"movement_{block}": moved, f"relative_{block}": moved / scale,
                       f"linearized_{block}": linearized[block] / scale})
    total_scale = math.sqrt(sum(initial_scale(block, width, X.shape[1]) ** 2 for block in BLOCKS))
    record["relative_total"] = math.sqrt(squares) / total_scale
    record["linearized_total"] = math.sqrt(sum((linearized[block]) ** 2 for block in BLOCKS)) / total_scale
    return record


def measure(design: Design, seed: int, data: tuple[FloatArray, FloatArray],
            progress: Progress) -> dict[str, FloatArray]:
    """Run the sweep; return one array per quantity, one entry per network (``widths`` naming its width)."""
    table = sweep(movement_cell, design.widths, range(design.networks), progress=progress.enabled, base=seed,
                  data=data).table()
    names = table.dtype.names
    assert names is not None  # a sweep's table is a structured array
    measured = {key: np.asarray(table[key]) for key in names if key != "seed"}
    measured["widths"] = measured.pop("width")
    return measured
