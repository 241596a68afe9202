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

from typing import Any, Callable, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet._native import _core


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


def spectral_records(theta: np.ndarray, residual: np.ndarray, y: np.ndarray, decay_of: Callable[..., np.ndarray],
                     filter_of: Callable[..., np.ndarray], rate: float, when: np.ndarray, scale: float,
                     shift: np.ndarray, offset: np.ndarray, cross: Optional[np.ndarray],
                     test_start: Optional[np.ndarray]) -> tuple[Any, ...]:
    """Return the records of a linearized run (``LinearizedModel.train`` or ``flow``) from one eigendecomposition.

    The records are ``(train_outputs, losses, distances, test_outputs, coefficients, stopped)`` up to the
    first record that diverges by the C++ loop's rule (not finite, or above
    ``DIVERGENCE_FACTOR`` times the first), whose index is ``stopped`` (-1 when none does);
    ``coefficients`` are those of the last record.

    With ``Theta = Q diag(l) Q^T`` and ``c = Q^T r_0``: ``r_k = Q (decay c)``, the
    accumulated ``a_k = Q (filter c)`` (so ``p_k - p_start = -J0^T a_k``) and
    ``|p_k - w0|^2 = |delta|^2 - 2 <J0 delta, a_k> + sum l filter^2 c^2`` with
    ``delta = p_start - w0``. The records are formed ``_memory.RECORD_BLOCK / m`` at a time.
    """
    eigenvalues, Q = np.linalg.eigh(np.asarray(theta, dtype=np.float64))
    eigenvalues = np.maximum(eigenvalues, 0.0)  # Theta = J0 J0^T is PSD: negatives are rounding
    c = Q.T @ residual.astype(np.float64)
    count, m = len(when), len(c)
    outputs, losses, distances = np.empty((count, m)), np.empty(count), np.empty(count)
    tests = None if cross is None else np.empty((count, cross.shape[0]))
    block = max(1, _memory.RECORD_BLOCK // m)
    for begin in range(0, count, block):
        rows = slice(begin, min(count, begin + block))
        decay, accumulated = decay_of(eigenvalues, rate, when[rows]), filter_of(eigenvalues, rate, when[rows])
        residuals = (decay * c) @ Q.T
        coefficients = (accumulated * c) @ Q.T
        squared = (float(np.dot(offset, offset)) - 2.0 * coefficients @ shift.astype(np.float64)
                   + (eigenvalues * (accumulated * c) ** 2).sum(axis=-1))
        distances[rows] = np.sqrt(np.maximum(squared, 0.0))
        losses[rows] = scale * (residuals**2).sum(axis=-1)
        np.add(residuals, y, out=outputs[rows])
        if tests is not None and cross is not None and test_start is not None:  # all three or none
            tests[rows] = test_start.astype(np.float64) - coefficients @ cross.T.astype(np.float64)
        bad = ~np.isfinite(losses[rows]) | (losses[rows] > _core.DIVERGENCE_FACTOR * losses[0])
        if bad.any():
            stop = begin + int(np.argmax(bad))
            kept = slice(0, stop + 1)
            return (outputs[kept], losses[kept], distances[kept], None if tests is None else tests[kept],
                    coefficients[stop - begin], stop)
    return outputs, losses, distances, tests, coefficients[-1], -1
