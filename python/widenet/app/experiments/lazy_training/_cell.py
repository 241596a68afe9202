"""One network trained: its distance, its gap to the linearized model and its kernel's change."""

from __future__ import annotations

import numpy as np

from widenet.app.experiments._base import Parametrization
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training._limits import (
    _checkpoints,
    cell_network,
    gradient_descent_step,
    planned_steps,
)
from widenet.dynamics.linearization import linearize


def lazy_cell(width: int, seed: int, *, parametrization: Parametrization, base: int,
              data: tuple[FloatArray, FloatArray, FloatArray], limits: dict[str, FloatArray],
              linearized_step: float = 1.0, initial_gram: float = 1.0) -> dict[str, float]:
    """Train network ``seed`` of ``width`` and its linearization and measure it (see the module docstring).

    Also measured: what the hypotheses and the predictions need. ``linearized_step`` and
    ``initial_gram`` scale the linearization's step and ``Theta(w0)`` in the kernel change
    (negative controls).
    """
    X, y, X_test = data
    m = X.shape[0]
    network = cell_network(base, parametrization, width, seed, X.shape[1])
    gram = network.ntk(X)
    scale = width if parametrization == "lecun" else 1
    lr = gradient_descent_step(parametrization, width, limits[parametrization], gram)
    steps = planned_steps(lr, gram)
    linearized = linearize(network)
    residual = network.forward(X) - y
    initial_norm = float(np.linalg.norm(network.params.to_vector()))

    records: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    kernel, done = 0.0, 0
    for checkpoint in _checkpoints(steps):
        run = network.train(X, y, lr=lr, steps=int(checkpoint - done), record_every=1, X_test=np.vstack([X, X_test]),
                            loss="sum")
        assert run.test_outputs is not None  # recorded: X_test is given
        start = 0 if done == 0 else 1  # a segment's first record is the previous one's last
        records.append((run.test_outputs[start:], run.distances[start:], run.losses[start:]))
        done = int(checkpoint)
        kernel = max(kernel, float(np.linalg.norm(network.ntk(X) - initial_gram * gram, 2)) / scale)
    outputs, distances, losses = (np.concatenate(parts) for parts in zip(*records))
    linear = linearized.train(X, y, lr=linearized_step * lr, steps=steps, X_test=X_test, record_every=1, loss="sum")

    limit = limits[parametrization]
    spectrum = np.linalg.eigvalsh(gram / scale)
    record = {
        "distance": float(np.max(distances)), "initial_norm": initial_norm,
        "limit_factor": float(residual @ np.linalg.solve(limit, residual)),
        "gap_train": float(np.max(np.abs(outputs[:, :m] - linear.train_outputs))),
        "gap_test": float(np.max(np.abs(outputs[:, m:] - linear.test_outputs))),
        "kernel": kernel,
        "relative_loss": float(losses[-1] / losses[0]),
        "relative_loss_linearized": float(linear.losses[-1] / linear.losses[0]),
        "smallest_eigenvalue": float(spectrum[0]), "largest_eigenvalue": float(spectrum[-1]),
        "lr": lr, "steps": float(steps),
    }
    record["gap"] = max(record["gap_train"], record["gap_test"])
    if parametrization == "lecun":
        corrected = limit + limits["B"] / width
        record["corrected_factor"] = float(residual @ np.linalg.solve(corrected, residual))
    return record
