"""The checks every prediction makes of its Gram matrices, targets and regularizer."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np
from numpy.typing import NDArray

from widenet import _validation as check

_FLOAT64 = np.dtype(np.float64)

# A Gram whose transpose differs from it by more than this, relative to its largest entry, is
# not a kernel's Gram (rounding in a symmetric computation stays far below).
_SYMMETRY_TOLERANCE = 1e-8


def train_gram(value: object, name: str = "k_train_train") -> NDArray[np.float64]:
    """Return a finite, symmetric, square Gram matrix as float64 (a copy, symmetrized)."""
    gram = check.as_array(value, name, _FLOAT64, 2)
    if gram.shape[0] != gram.shape[1] or gram.shape[0] < 1:
        raise ValueError(f"{name}: expected a square m x m Gram matrix with m >= 1, got shape {gram.shape}")
    if np.array_equal(gram, gram.T):  # the common case, and a kernel's own Grams: no transposed arithmetic
        return gram.copy()
    largest = float(np.max(np.abs(gram)))
    unit = gram / largest if largest > 0 else gram  # differences at unit size: no overflow near the float limit
    asymmetry = float(np.max(np.abs(unit - unit.T)))
    if asymmetry > _SYMMETRY_TOLERANCE:
        raise ValueError(f"{name}: expected a symmetric Gram matrix; its transpose differs by up to "
                         f"{asymmetry * largest:.3g} (largest entry {largest:.3g})")
    return 0.5 * gram + 0.5 * gram.T


def targets(value: object, rows: int, name: str = "y_train") -> NDArray[np.float64]:
    """Return targets of shape (m,) or (m, k), k >= 1, as a float64 copy, finite, one row per training point."""
    y = check.as_array(value, name, _FLOAT64, (1, 2))
    if y.shape[0] != rows or y.size == 0:
        raise ValueError(f"{name}: expected {rows} rows, one per training point, and at least one column, got shape "
                         f"{y.shape}")
    return y.copy()


def cross_gram(value: object, columns: int, name: str = "k_test_train") -> NDArray[np.float64]:
    """Return a test-by-train Gram (m_test x m) as float64, finite."""
    if check.asarray(value, name).ndim == 1:  # before the generic check, whose hint is about features
        raise ValueError(f"{name}: expected a 2-D array (m_test, {columns}); for one test point use "
                         f"{name}.reshape(1, -1)")
    gram = check.as_array(value, name, _FLOAT64, 2)
    if gram.shape[1] != columns or gram.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (m_test, {columns}) with m_test >= 1, got {gram.shape}")
    return gram


def outputs(value: object, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    """Return initial outputs: a scalar (every point's) or an array of exactly ``shape``, as float64."""
    array = check.as_array(value, name, _FLOAT64, (0, 1, 2))
    if array.ndim and array.shape != shape:
        raise ValueError(f"{name}: expected a scalar or an array of shape {shape}, got {array.shape}")
    return np.broadcast_to(array, shape).astype(np.float64)


def regularizer(gram: NDArray[np.float64], diag_reg: object, absolute: object) -> float:
    """Return the ridge added to the Gram's diagonal.

    ``diag_reg`` itself when ``absolute``, else ``diag_reg`` times the mean of the Gram's
    diagonal (neural-tangents' convention), computed without overflow.
    """
    value = check.non_negative_real(diag_reg, "diag_reg")
    if check.boolean(absolute, "diag_reg_absolute_scale") or value == 0.0:
        return value
    diagonal = np.diag(gram)
    largest = float(np.max(np.abs(diagonal)))
    return value * float(np.mean(diagonal / largest)) * largest if largest > 0 else 0.0


class Schedule(NamedTuple):
    """When to predict: times of gradient flow, or numbers of gradient-descent steps (``discrete``)."""

    values: NDArray[np.float64]
    discrete: bool


def schedule(t: Optional[object], steps: Optional[object]) -> Optional[Schedule]:
    """Return the times ``t`` or the step counts ``steps`` (at most one given), or None for infinity."""
    if steps is None:
        flow = times(t)
        return None if flow is None else Schedule(flow, False)
    if t is not None:
        raise ValueError(f"steps: a time t of gradient flow or a number of gradient-descent steps, not both (got "
                         f"t={t!r} and steps={steps!r})")
    array = check.asarray(steps, "steps")
    if array.dtype.kind not in "iu" or array.size == 0:
        raise TypeError(f"steps: expected integers (an int or an array of ints, at least one), got {steps!r}")
    if (array < 0).any():
        raise ValueError(f"steps: expected step counts >= 0, got {steps!r}")
    return Schedule(array.astype(np.float64), True)


def loss_rate(learning_rate: object, loss: Optional[object], rows: int, size: int) -> float:
    """Return ``eta s``: the residual moves by ``I - 2 eta s K`` per step, ``exp(-2 eta s K t)`` over a time ``t``.

    ``s`` is the factor on ``sum (f - y)^2`` of the loss: ``1 / (2 size)`` for neural-tangents'
    ``|f - Y|^2 / (2N)`` (``loss=None``), else that of ``train``'s loss on ``rows`` points.
    """
    rate = check.positive_real(learning_rate, "learning_rate")
    scale = 0.5 / size if loss is None else check.loss_scale(loss, rows)
    return rate * scale


def times(value: Optional[object]) -> Optional[NDArray[np.float64]]:
    """Return the times as a non-empty float64 array of any shape (>= 0, inf allowed), or None for infinity."""
    if value is None:
        return None
    array = check.asarray(value, "t")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"t: expected real times (numbers, not booleans), got dtype {array.dtype}")
    t: NDArray[Any] = array.astype(np.float64)
    if t.size == 0:
        raise ValueError("t: expected at least one time, got an empty array")
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError(f"t: expected times >= 0 (inf allowed), got {value!r}")
    return t
