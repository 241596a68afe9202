"""The measurement: the hidden units' products of wide relu networks, and with the uniform law."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_closed_forms._setup import (
    _NETWORK_STREAM,
    _POINTS_STREAM,
    _UNIFORM_STREAM,
    ACTIVATION,
    BIAS_VARIANCE,
    INPUT_DIM,
    POINTS,
    QUANTITIES,
    WIDTH,
    Design,
)
from widenet.network.shallow import ShallowNetwork
from widenet.sweeps import sweep


def relu_points(seed: int = 0) -> FloatArray:
    """Return :data:`POINTS` points in ``R^3`` in random directions.

    Their ``abs(x)^2 / d`` are uniform in ``[1/2, 2]`` (so the norms in Example 11.17 matter).
    """
    rng = np.random.default_rng([_POINTS_STREAM, seed])
    X = rng.standard_normal((POINTS, INPUT_DIM))
    radii = np.sqrt(INPUT_DIM * rng.uniform(0.5, 2.0, POINTS))
    return X * (radii / np.linalg.norm(X, axis=1))[:, None]


def _moments(name: str, first: FloatArray, second: FloatArray) -> dict[str, float]:
    """Return the records ``{name}{i}_{j}`` and ``{name}2_{i}_{j}`` of the upper triangle.

    They are the sums over units of a per-unit product and of its square (``first``,
    ``second``: ``(m, m)``).
    """
    rows, columns = np.triu_indices(first.shape[0])
    return {**{f"{name}{i}_{j}": float(first[i, j]) for i, j in zip(rows, columns)},
            **{f"{name}2_{i}_{j}": float(second[i, j]) for i, j in zip(rows, columns)}}


def _products(left: FloatArray, right: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the sums over units ``i`` of ``left[j, i] right[k, i]`` and of its square, for all ``j, k``."""
    return left @ right.T, (left * left) @ (right * right).T


def unit_moments(X: FloatArray, pre_activations: FloatArray, v: FloatArray) -> dict[str, float]:
    """Return the sums over hidden units of three per-unit products and of their squares.

    The products are ``relu(h_i(x)) relu(h_i(z))``, ``relu'(h_i(x)) relu'(h_i(z))`` and the
    unit's share of ``K_n`` in NTK parametrization (11.6.3),
    ``(x.z/d + 1) v_i^2 relu'(h_i(x)) relu'(h_i(z)) + relu(h_i(x)) relu(h_i(z))``.
    ``pre_activations``: ``h_i(x)``, shape ``(m, n)``.
    """
    values = np.maximum(pre_activations, 0.0)  # a = relu(h)
    slopes = (pre_activations > 0).astype(np.float64)  # s = relu'(h): s^2 = s and s a = a
    weights = slopes * (v * v)  # w = v^2 s
    gram = X @ X.T / X.shape[1] + 1.0  # g = x.z/d + 1
    ss, ss_squares = _products(values, values)
    dd = slopes @ slopes.T  # its squares sum to the same
    share = gram * (weights @ slopes.T) + ss
    # (g w s_x s_z + a_x a_z)^2 = g^2 w^2 s_x s_z + 2 g w a_x a_z + a_x^2 a_z^2
    share_squares = gram ** 2 * ((weights * v * v) @ slopes.T) + 2 * gram * ((weights * values) @ values.T) + ss_squares
    return {**_moments("ss", ss, ss_squares), **_moments("dd", dd, dd), **_moments("ntk", share, share_squares)}


def relu_cell(width: int, seed: int, *, base: int, X: FloatArray) -> dict[str, float]:
    """Measure one network in NTK parametrization with biases ``b_i, c ~ N(0, 1)`` (Exercise 11.37).

    Returns the sums over its units (:func:`unit_moments`) with its biases (``"b"``-prefixed
    names) and with them set to zero (as in (11.6.2), the same ``U`` and ``v``).
    """
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, "ntk", bias_var=BIAS_VARIANCE,
                             output_bias_var=BIAS_VARIANCE, seed=np.random.SeedSequence([_NETWORK_STREAM, base, seed]))
    params = network.params
    plain = X @ params.U.T / math.sqrt(X.shape[1])  # d^-1/2 U x, the law of u.x with u ~ N(0, I/d)
    moments = unit_moments(X, plain, params.v)
    biased = unit_moments(X, plain + params.b, params.v)
    return {**moments, **{f"b{name}": value for name, value in biased.items()}}


def uniform_cell(width: int, seed: int, *, base: int, X: FloatArray) -> dict[str, float]:
    """Measure one LeCun network with the uniform law: the sums of ``relu(u_i.x) relu(u_i.z)`` over its units."""
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, "lecun", distribution="uniform",
                             seed=np.random.SeedSequence([_UNIFORM_STREAM, base, seed]))
    values = np.maximum(X @ network.params.U.T, 0.0)
    return _moments("ss", *_products(values, values))


@dataclass(frozen=True)
class Sample:
    """Mean and standard error of each entry (upper triangle) of a per-unit average."""

    mean: FloatArray
    standard_error: FloatArray

    def z(self, predicted: FloatArray, other_error: Union[float, FloatArray] = 0.0) -> FloatArray:
        """Return the z statistic of each entry against the upper triangle of ``predicted``.

        ``other_error`` is the standard error of the prediction (0 for a closed form).
        """
        rows, columns = np.triu_indices(predicted.shape[0])
        return (self.mean - predicted[rows, columns]) / np.sqrt(self.standard_error ** 2 + other_error ** 2)


def _sample(table: npt.NDArray[np.void], name: str, points: int, units: int) -> Sample:
    """Return the per-unit mean and its standard error of the records ``name`` over the sweep's ``table``."""
    rows, columns = np.triu_indices(points)
    total = np.array([np.sum(table[f"{name}{i}_{j}"]) for i, j in zip(rows, columns)])
    squares = np.array([np.sum(table[f"{name}2_{i}_{j}"]) for i, j in zip(rows, columns)])
    mean = total / units
    variance = np.maximum(squares / units - mean ** 2, 0.0) * units / (units - 1)
    return Sample(mean, np.sqrt(variance / units))


def measure_units(design: Design, base: int, X: FloatArray,
                  progress: Progress) -> tuple[dict[str, Sample], dict[str, Sample]]:
    """Return ``{quantity: Sample}`` over ``design.units`` hidden units, without and with biases.

    For ``"ntk"`` the mean is the units' shares plus 1 (the bias ``c``): the mean of ``K_n``.
    """
    table = sweep(relu_cell, (WIDTH,), range(design.networks), progress=progress.enabled, base=base, X=X).table()
    families: list[dict[str, Sample]] = []
    for prefix in ("", "b"):
        samples = {name: _sample(table, prefix + name, len(X), design.units) for name in QUANTITIES}
        samples["ntk"] = Sample(samples["ntk"].mean + 1.0, samples["ntk"].standard_error)
        families.append(samples)
    plain, biased = families
    return plain, biased
