"""The runs: gradient descent to convergence and Adam, and the movement of each block."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from widenet.app.experiments._base import Parametrization
from widenet.app.experiments._rates import network_seed
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training import gradient_descent_step, planned_steps
from widenet.app.experiments.parameter_movement._predictions import initial_scale
from widenet.app.experiments.parameter_movement._setup import (
    _ADAM_STREAM,
    _NETWORK_STREAM,
    ACTIVATION,
    ADAM_BETAS,
    ADAM_RATE,
    ADAM_STEPS,
    BIAS_VAR,
    INPUT_DIM,
    MAX_STEPS_FACTOR,
    OUTPUT_BIAS_VAR,
    PARAMETRIZATIONS,
    PLANNED_LOSS,
)
from widenet.dynamics.lazy_training import BLOCKS
from widenet.network.deep import Network
from widenet.network.parameters import Parameters
from widenet.network.shallow import ShallowNetwork


def _jacobian_blocks(network: ShallowNetwork, X: FloatArray) -> dict[str, FloatArray]:
    """Return the Jacobian's column blocks at the network's parameters (``U`` row-major, ``b``, ``v``, ``c``)."""
    J = network.jacobian(X)
    n, d = network.width, network.input_dim
    bounds = np.cumsum([0, n * d, n, n, 1])
    return {block: J[:, start:stop] for block, start, stop in zip(BLOCKS, bounds[:-1], bounds[1:])}


def _initial_analysis(network: ShallowNetwork, X: FloatArray, y: FloatArray) -> dict[str, float]:
    """Return the gradient norms and the linearized limit's movement per block, at ``w0``.

    The mean over the rows of ``X`` of ``abs(grad_B Phi)`` per block, and the movement
    ``abs(Delta B)`` of the linearization's limit ``Delta w = -J0^T Theta0^{-1} r0`` (the point
    gradient descent on the linearized model converges to).
    """
    blocks = _jacobian_blocks(network, X)
    gram = sum(block @ block.T for block in blocks.values())
    coefficients = np.linalg.solve(gram, network.forward(X) - y)
    result = {f"gradient_{name}": float(np.mean(np.linalg.norm(block, axis=1))) for name, block in blocks.items()}
    result.update({f"linearized_{name}": float(np.linalg.norm(block.T @ coefficients))
                   for name, block in blocks.items()})
    return result


def _block_movement(after: Parameters, before: Parameters) -> dict[str, float]:
    """Return ``abs(B_after - B_before)`` for every block ``B``."""
    return {block: float(np.linalg.norm(np.asarray(now) - np.asarray(then)))
            for block, now, then in zip(BLOCKS, after.arrays(), before.arrays())}


def cell_network(base: int, parametrization: Parametrization, width: int, index: int, input_dim: int = INPUT_DIM,
                 stream: Optional[int] = None) -> ShallowNetwork:
    """Return the network of a cell at its initialization.

    Both parametrizations draw the same standard variables (the same function at initialization).
    """
    seed = network_seed(base, _NETWORK_STREAM if stream is None else stream, width, index)
    return ShallowNetwork(input_dim, width, ACTIVATION, parametrization, bias_var=BIAS_VAR,
                          output_bias_var=OUTPUT_BIAS_VAR, seed=seed)


def train_to_convergence(network: Union[ShallowNetwork, Network], X: FloatArray, y: FloatArray, lr: float,
                         gram: FloatArray) -> tuple[float, int]:
    """Run gradient descent until the loss has fallen by ``PLANNED_LOSS`` at the slowest linear rate.

    And on while it is above ``10 PLANNED_LOSS`` of its start (a Gram that changes on the
    way can slow a narrow network), up to ``MAX_STEPS_FACTOR`` times the plan. Returns
    ``(relative loss, steps)``.
    """
    planned = planned_steps(lr, gram, PLANNED_LOSS)
    initial = network.loss(X, y)
    steps, chunk = 0, planned
    while True:
        run = network.train(X, y, lr=lr, steps=chunk, record_every=chunk, loss="sum")
        steps += chunk
        relative = float(run.losses[-1] / initial)
        if relative <= 10 * PLANNED_LOSS or steps >= MAX_STEPS_FACTOR * planned:
            return relative, steps
        chunk = max(planned // 2, 1)


def movement_cell(width: int, seed: int, *, base: int, data: tuple[FloatArray, FloatArray],
                  limits: dict[str, FloatArray]) -> dict[str, float]:
    """Train both parametrizations of network ``seed`` of ``width`` to convergence and measure them.

    Per block the movement, relative to the initialization's scale too, the gradient norm
    and the linearized limit's movement at ``w0``; the relative final loss, the step and the
    steps.
    """
    X, y = data
    record: dict[str, float] = {}
    for parametrization in PARAMETRIZATIONS:
        network = cell_network(base, parametrization, width, seed, X.shape[1])
        initial = network.params.copy()
        gram = network.ntk(X)
        lr = gradient_descent_step(parametrization, width, limits[parametrization], gram)
        analysis = _initial_analysis(network, X, y)
        relative_loss, steps = train_to_convergence(network, X, y, lr, gram)
        movement = _block_movement(network.params, initial)
        for block in BLOCKS:
            record[f"{parametrization}_movement_{block}"] = movement[block]
            record[f"{parametrization}_relative_{block}"] = movement[block] / initial_scale(
                parametrization, block, width, X.shape[1])
        record.update({f"{parametrization}_{key}": value for key, value in analysis.items()})
        record.update({f"{parametrization}_relative_loss": relative_loss, f"{parametrization}_lr": lr,
                       f"{parametrization}_steps": float(steps)})
    return record


# -- Adam (Remark 11.29) -------------------------------------------------------------------
def adam_movement(network: ShallowNetwork, X: FloatArray, y: FloatArray, rate: float, steps: int,
                  epsilon: float) -> dict[str, float]:
    """Return ``abs(B_k - B_0)`` per block after ``steps`` Adam steps on the sum loss.

    The steps start from ``network``'s parameters, with bias-corrected moments and the betas
    ``ADAM_BETAS``; ``network`` is left at the last step.
    """
    start = network.params.copy()
    current = [np.array(block, dtype=float) for block in start.arrays()]
    first = [np.zeros_like(block) for block in current]
    second = [np.zeros_like(block) for block in current]
    beta1, beta2 = ADAM_BETAS
    for k in range(1, steps + 1):
        _, gradient = network.loss_grad(X, y, loss="sum")
        for index, g in enumerate(np.asarray(block, dtype=float) for block in gradient.arrays()):
            first[index] = beta1 * first[index] + (1 - beta1) * g
            second[index] = beta2 * second[index] + (1 - beta2) * g ** 2
            update = (first[index] / (1 - beta1 ** k)) / (np.sqrt(second[index] / (1 - beta2 ** k)) + epsilon)
            current[index] = current[index] - rate * update
        network.params = Parameters(*current)
    return _block_movement(network.params, start)


def adam_cell(width: int, seed: int, *, base: int, data: tuple[FloatArray, FloatArray],
              epsilon: float) -> dict[str, float]:
    """Measure Adam's per-block movement of LeCun network ``seed`` of ``width``."""
    X, y = data
    network = cell_network(base, "lecun", width, seed, X.shape[1], stream=_ADAM_STREAM)
    moved = adam_movement(network, X, y, ADAM_RATE / width, ADAM_STEPS, epsilon)
    return {f"adam_{block}": moved[block] for block in BLOCKS}
