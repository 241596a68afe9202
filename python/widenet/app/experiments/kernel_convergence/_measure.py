"""The measurement of the tangent Grams over the widths, and the predictions of their mean."""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import Parametrization, Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_convergence._setup import (
    _NETWORK_STREAM,
    _POINTS_STREAM,
    ACTIVATION,
    INPUT_DIM,
    POINTS,
    Design,
)
from widenet.network.shallow import ShallowNetwork
from widenet.reference.limit_kernels import closed_form_expectations, covariances
from widenet.sweeps import sweep


def kernel_points(seed: int = 0, points: int = POINTS, input_dim: int = INPUT_DIM) -> FloatArray:
    """Return ``points`` random points with ``abs(x)^2 = input_dim`` (so ``Sigma(x, x) = 1``)."""
    X = np.random.default_rng([_POINTS_STREAM, seed]).standard_normal((points, input_dim))
    return X * math.sqrt(input_dim) / np.linalg.norm(X, axis=1, keepdims=True)


def cell_seed(base: int, width: int, index: int) -> np.random.SeedSequence:
    """Return the seed of one network: independent for every (base seed, width, index)."""
    return np.random.SeedSequence([_NETWORK_STREAM, base, width, index])


def scaled_gram(X: FloatArray, width: int, parametrization: Parametrization,
                seed: np.random.SeedSequence) -> FloatArray:
    """Return ``K_n(X, X) / n`` (LeCun, Theorem 11.16) or ``K_n(X, X)`` (NTK, Theorem 11.30)."""
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, parametrization, seed=seed)
    gram = network.ntk(X)
    return gram / width if parametrization == "lecun" else gram


def _entry(i: Union[int, np.integer[Any]], j: Union[int, np.integer[Any]]) -> str:
    """Return the record name of the Gram entry ``(i, j)``."""
    return f"g{i}_{j}"


def gram_cell(width: int, seed: int, *, parametrization: Parametrization, base: int, X: FloatArray) -> dict[str, float]:
    """Return one network's scaled Gram, its upper triangle as ``{"g{i}_{j}": value}``."""
    gram = scaled_gram(X, width, parametrization, cell_seed(base, width, seed))
    rows, columns = np.triu_indices(len(X))
    return {_entry(i, j): float(gram[i, j]) for i, j in zip(rows, columns)}


def _grams(table: npt.NDArray[np.void], points: int) -> FloatArray:
    """Return the symmetric Grams ``(cells, points, points)`` of a sweep's table."""
    grams = np.empty((len(table), points, points))
    for i, j in zip(*np.triu_indices(points)):
        grams[:, i, j] = grams[:, j, i] = table[_entry(i, j)]
    return grams


def measure_grams(parametrization: Parametrization, design: Design, base: int, X: FloatArray,
                  progress: Progress) -> dict[int, FloatArray]:
    """Return ``{width: Grams (networks, m, m)}`` of every network of ``design``."""
    groups = (((design.narrow,), design.narrow_networks), (design.grid, design.grid_networks),
              ((design.wide,), design.wide_networks))
    grams: dict[int, FloatArray] = {}
    for widths, networks in groups:
        table = sweep(gram_cell, widths, range(networks), progress=progress.enabled, parametrization=parametrization,
                      base=base, X=X).table()
        grams.update({width: _grams(table[table["width"] == width], len(X)) for width in widths})
    return grams


# -- the predictions -----------------------------------------------------------------------
def erf_expectations(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``E_ss = K_LC`` and ``E_dd`` of erf at the rows of ``X`` (closed forms)."""
    S11, S22, S12 = covariances(X, X)
    return closed_form_expectations(S11, S22, S12, ACTIVATION)


def finite_width_part(X: FloatArray) -> FloatArray:
    """Return ``B`` of ``E[K_n/n] = K_LC + B/n`` (LeCun, zero biases): ``(1 + x.z) E_dd + 1``.

    It is the mean of the ``U``, ``b`` and ``c`` blocks of ``K_n`` (proof of Theorem 11.16).
    """
    return (1.0 + X @ X.T) * erf_expectations(X)[1] + 1.0


def expected_gram(limit: FloatArray, part: FloatArray, width: int) -> FloatArray:
    """Return the exact ``E[K_n/n]`` (LeCun: ``part`` = B) or ``E[K_n]`` (NTK: ``part`` = 0)."""
    return limit + part / width
