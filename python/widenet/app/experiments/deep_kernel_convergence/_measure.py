"""The tangent Grams of deep networks over the widths."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import Parametrization, Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_kernel_convergence._setup import _NETWORK_STREAM, ACTIVATION, Design
from widenet.network.deep import Network
from widenet.sweeps import sweep


def cell_seed(base: int, depth: int, width: int, index: int) -> np.random.Generator:
    """Return the random generator of one network: independent for every (base seed, depth, width, index).

    Both parametrizations draw the same standard variables (the same function at initialization).
    """
    return np.random.default_rng([_NETWORK_STREAM, base, depth, width, index])


def deep_network(input_dim: int, depth: int, width: int, parametrization: Parametrization,
                 seed: np.random.Generator) -> Network:
    """Return a network of ``depth`` hidden layers of ``width`` units, without biases."""
    return Network(input_dim, (width,) * depth, ACTIVATION, parametrization, bias=False, seed=seed)


def scaled_gram(X: FloatArray, depth: int, width: int, parametrization: Parametrization,
                seed: np.random.Generator) -> FloatArray:
    """Return ``K_n(X, X) / n`` (LeCun) or ``K_n(X, X)`` (NTK parametrization) of one network."""
    gram = deep_network(X.shape[1], depth, width, parametrization, seed).ntk(X)
    return gram / width if parametrization == "lecun" else gram


def gram_cell(width: int, seed: int, *, depth: int, base: int, X: FloatArray) -> dict[str, float]:
    """Return the scaled Grams of network ``seed`` under both parametrizations, their upper triangles by name."""
    record: dict[str, float] = {}
    rows, columns = np.triu_indices(len(X))
    for parametrization in ("lecun", "ntk"):
        gram = scaled_gram(X, depth, width, parametrization, cell_seed(base, depth, width, seed))
        record.update({f"{parametrization}_{i}_{j}": float(gram[i, j]) for i, j in zip(rows, columns)})
    return record


def _grams(table: npt.NDArray[np.void], parametrization: Parametrization, points: int) -> FloatArray:
    """Return the symmetric Grams ``(networks, points, points)`` of ``parametrization`` in a sweep's table."""
    grams = np.empty((len(table), points, points))
    for i, j in zip(*np.triu_indices(points)):
        grams[:, i, j] = grams[:, j, i] = table[f"{parametrization}_{i}_{j}"]
    return grams


def measure_grams(depth: int, design: Design, base: int, X: FloatArray,
                  progress: Progress) -> dict[Parametrization, dict[int, FloatArray]]:
    """Return ``{parametrization: {width: Grams (networks, m, m)}}`` of every network of ``depth`` in ``design``."""
    table = sweep(gram_cell, design.widths, range(design.networks), progress=progress.enabled, depth=depth,
                  base=base, X=X).table()
    return {parametrization: {width: _grams(table[table["width"] == width], parametrization, len(X))
                              for width in design.widths} for parametrization in ("lecun", "ntk")}
