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


def _gd_powers(eigenvalues: np.ndarray, lr: float, steps) -> tuple:
    """``((1 - x)^k, 1 - (1 - x)^k)`` with ``x = 2 lr l``; one row per ``k`` when ``steps`` is
    an array. Where ``|x| < 1/2`` both come from ``k log1p(-x)``, so that neither loses
    relative accuracy for tiny ``x`` or large ``k``.
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


def gd_decay(eigenvalues: np.ndarray, lr: float, steps) -> np.ndarray:
    """``(1 - 2 lr l)^k`` for every ``k`` in ``steps`` (rows) and eigenvalue ``l`` (columns)."""
    return _gd_powers(eigenvalues, lr, steps)[0]


def gd_filter(eigenvalues: np.ndarray, lr: float, steps) -> np.ndarray:
    """``g(l) = 2 lr sum_{j<k} (1 - 2 lr l)^j = (1 - (1 - 2 lr l)^k) / l``, and ``2 lr k`` at
    ``l = 0``; one row per ``k`` in ``steps`` when ``steps`` is an array.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    complement = _gd_powers(eigenvalues, lr, steps)[1]
    at_zero = 2.0 * lr * np.multiply.outer(np.asarray(steps, dtype=np.float64), np.ones_like(eigenvalues))
    return np.divide(complement, eigenvalues, out=at_zero, where=eigenvalues != 0)


def flow_decay(eigenvalues: np.ndarray, rate: float, times) -> np.ndarray:
    """``exp(-2 rate l t)`` for every ``t`` in ``times`` (rows) and eigenvalue ``l``."""
    return np.exp(-2.0 * rate * np.multiply.outer(times, np.asarray(eigenvalues, dtype=np.float64)))


def flow_filter(eigenvalues: np.ndarray, rate: float, times) -> np.ndarray:
    """``(1 - exp(-2 rate l t)) / l``, and ``2 rate t`` at ``l = 0``: the time integral
    ``2 rate int_0^t exp(-2 rate l u) du`` of gradient flow.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    exponent = -2.0 * rate * np.multiply.outer(times, eigenvalues)
    at_zero = 2.0 * rate * np.multiply.outer(times, np.ones_like(eigenvalues))
    return np.divide(-np.expm1(exponent), eigenvalues, out=at_zero, where=eigenvalues != 0)
