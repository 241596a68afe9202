"""Remark 11.24: the linearized model's closed form, printed and corrected, on one run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training._limits import cell_network, gradient_descent_step, planned_steps
from widenet.app.experiments.lazy_training._setup import Design
from widenet.dynamics.lazy_training import LazyTrainingData
from widenet.dynamics.linearization import linearize
from widenet.network.shallow import ShallowNetwork


def remark_11_24(network: ShallowNetwork, X: FloatArray, y: FloatArray, lr: float, steps: int,
                 step_factor: float = 1.0) -> dict[str, Any]:
    """Compare the linearized model's gradient descent with Remark 11.24's closed form.

    The linearized model's training outputs from gradient descent iterated step by step
    (:meth:`widenet.LinearizedModel.train`, ``method="iterate"``) against Remark 11.24's
    closed form with ``A = 2 h Theta0`` and ``B = I - A``: as corrected, ``B^k Phi_lin(X, p0) +
    sum_{j<k} B^j A y``, and as printed, with ``B^k`` in the sum. ``step_factor`` scales ``h``
    in the closed forms only (a negative control). Also the corrected Neumann series
    ``sum_j B^j`` against ``A^{-1}``.
    """
    iterated = linearize(network).train(X, y, lr=lr, steps=steps, method="iterate", record_every=1,
                                        loss="sum").train_outputs
    assert iterated is not None  # recorded at every step
    A = 2.0 * step_factor * lr * network.ntk(X)
    B = np.eye(len(X)) - A
    start, pushed = network.forward(X), A @ y
    power, partial = np.eye(len(X)), np.zeros_like(A)
    corrected: list[FloatArray] = []
    printed: list[FloatArray] = []
    for k in range(steps + 1):
        corrected.append(power @ start + partial @ pushed)
        printed.append(power @ start + k * (power @ pushed))
        partial, power = partial + power, power @ B
    # rounding: every step adds a few ulps of the largest value to each output
    scale = max(float(np.max(np.abs(start))), float(np.max(np.abs(y))), 1.0)
    tolerance = 16.0 * (steps + 1) * len(X) * np.finfo(np.float64).eps * scale
    radius = float(np.max(np.abs(np.linalg.eigvalsh(B))))
    terms = int(math.ceil(math.log(np.finfo(np.float64).eps / 16) / math.log(radius)))
    neumann, power = np.zeros_like(A), np.eye(len(X))
    for _ in range(terms):
        neumann, power = neumann + power, power @ B
    inverse = np.linalg.inv(A)
    corrected_error = np.max(np.abs(np.array(corrected) - iterated), axis=1)
    printed_error = np.max(np.abs(np.array(printed) - iterated), axis=1)
    return {"corrected_error": float(np.max(corrected_error)), "printed_error": float(np.max(printed_error)),
            "corrected_error_by_step": corrected_error, "printed_error_by_step": printed_error,
            "tolerance": tolerance, "steps": steps, "width": network.width, "neumann_terms": terms,
            "spectral_radius": radius,
            "neumann_error": float(np.linalg.norm(neumann - inverse, 2) / np.linalg.norm(inverse, 2))}


def remark_run(design: Design, seed: int, data: LazyTrainingData, limits: dict[str, FloatArray],
               step_factor: float) -> dict[str, Any]:
    """Run :func:`remark_11_24` on the first LeCun network of the smallest width, with its step and steps."""
    width = design.widths["lecun"][0]
    network = cell_network(seed, "lecun", width, 0, data.X.shape[1])
    gram = network.ntk(data.X)
    lr = gradient_descent_step("lecun", width, limits["lecun"], gram)
    return remark_11_24(network, data.X, data.y, lr, planned_steps(lr, gram), step_factor)
