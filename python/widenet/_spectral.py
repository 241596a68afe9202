"""Gradient descent and gradient flow on a quadratic, eigenvalue by eigenvalue.

For the loss ``s |r|^2`` with a residual that moves as ``r -> (I - 2 h s K) r`` (docs/theory.md,
section 3; Remark 11.24 corrected), every eigenvector of ``K`` evolves on its own: after ``k``
steps its component is multiplied by ``(1 - 2 h s l)^k`` (:func:`gd_decay`), and the
accumulated ``2 h s sum_{j<k} r_j`` by ``(1 - (1 - 2 h s l)^k) / l`` (:func:`gd_filter`).
Gradient flow (``h -> 0`` with ``t = h k``) has ``exp(-2 s l t)`` and
``(1 - exp(-2 s l t)) / l``. These functions keep full relative accuracy where
``2 h s l`` is tiny, where the plain formulas would cancel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _gd_powers(eigenvalues: ArrayLike, lr: float,
               steps: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``((1 - x)^k, 1 - (1 - x)^k)`` with ``x = 2 lr l``.

    One row per ``k`` when ``steps`` is an array. Where ``|x| < 1/2`` both come from
    ``k log1p(-x)``, so that neither loses relative accuracy for tiny ``x`` or large ``k``.
    """
    x = 2.0 * lr * np.asarray(eigenvalues, dtype=np.float64)
    k = np.asarray(steps, dtype=np.float64)[..., None]
    small = np.abs(x) < 0.5
    logarithm = k * np.log1p(-np.where(small, x, 0.0))
    with np.errstate(over="ignore"):  # an unstable step overflows to inf: the caller detects it
        power = np.where(small, np.exp(logarithm), (1.0 - x) ** k)
    complement = np.where(small, -np.expm1(logarithm), 1.0 - power)
    shape = np.shape(steps) + x.shape
    return power.reshape(shape), complement.reshape(shape)


def gd_decay(eigenvalues: ArrayLike, lr: float, steps: ArrayLike) -> NDArray[np.float64]:
    """Return ``(1 - 2 lr l)^k`` for every ``k`` in ``steps`` (rows) and eigenvalue ``l`` (columns)."""
    return _gd_powers(eigenvalues, lr, steps)[0]


def gd_filter(eigenvalues: ArrayLike, lr: float, steps: ArrayLike) -> NDArray[np.float64]:
    """Return ``g(l) = 2 lr sum_{j<k} (1 - 2 lr l)^j = (1 - (1 - 2 lr l)^k) / l``, and ``2 lr k`` at ``l = 0``.

    One row per ``k`` in ``steps`` when ``steps`` is an array.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    complement = _gd_powers(values, lr, steps)[1]
    at_zero = 2.0 * lr * np.multiply.outer(np.asarray(steps, dtype=np.float64), np.ones_like(values))
    return np.divide(complement, values, out=at_zero, where=values != 0)


def flow_decay(eigenvalues: ArrayLike, rate: float, times: ArrayLike) -> NDArray[np.float64]:
    """Return ``exp(-2 rate l t)`` for every ``t`` in ``times`` (rows) and eigenvalue ``l``."""
    return np.exp(-2.0 * rate * np.multiply.outer(times, np.asarray(eigenvalues, dtype=np.float64)))


def flow_filter(eigenvalues: ArrayLike, rate: float, times: ArrayLike) -> NDArray[np.float64]:
    """Return ``(1 - exp(-2 rate l t)) / l``, and ``2 rate t`` at ``l = 0``.

    This is the time integral ``2 rate int_0^t exp(-2 rate l u) du`` of gradient flow.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    exponent = -2.0 * rate * np.multiply.outer(times, values)
    at_zero = 2.0 * rate * np.multiply.outer(times, np.ones_like(values))
    return np.divide(-np.expm1(exponent), values, out=at_zero, where=values != 0)
