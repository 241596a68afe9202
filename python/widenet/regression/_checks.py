"""The estimators' checks of their inputs, worded as scikit-learn's (its estimator checks look for the words).

Points ``X`` (2-D, finite, at least one row and one column; float32 stays float32, anything
else becomes float64), targets ``y`` ((m,) or (m, t), float64) and, for
``kernel="precomputed"``, the Gram matrices that stand in place of the points.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from widenet import _validation as check
from widenet._types import FloatArray
from widenet.errors import ConditioningWarning

_FLOAT64 = np.dtype(np.float64)

PRECOMPUTED = "precomputed"
"""The ``kernel`` value by which an estimator takes Gram matrices in place of points."""


def _as_real_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as an array of real numbers.

    Object arrays of numbers are converted, sparse matrices and complex numbers are refused
    (with scikit-learn's wording).
    """
    if hasattr(value, "toarray"):
        raise TypeError(f"{name}: sparse input is not supported, pass a dense array ({name}.toarray())")
    array = check.asarray(value, name)
    if array.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported, got dtype {array.dtype}")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: expected numbers ({error})") from error
        except OverflowError as error:  # a Python int beyond float64
            raise ValueError(f"{name}: expected numbers within the range of float64 ({error})") from error
    return array


def check_X(X: object, name: str = "X") -> FloatArray:
    """Return ``X`` as a 2-D, finite array with at least one row and one column.

    float32 if given float32, float64 otherwise.
    """
    array = _as_real_array(X, name)
    if array.ndim == 1:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape}. Reshape your data: "
                         f"{name}.reshape(-1, 1) for one feature, {name}.reshape(1, -1) for one sample")
    points = check.as_points(array, name, min_rows=0)  # the empty cases with scikit-learn's wording
    for axis, word in ((0, "sample"), (1, "feature")):
        if points.shape[axis] == 0:
            raise ValueError(f"{name}: found array with 0 {word}(s) (shape={points.shape}) while a minimum of 1 "
                             "is required.")
    return points


def check_y(y: object, rows: int, estimator: str) -> npt.NDArray[np.float64]:
    """Return the targets, of shape (rows,) or (rows, t), t >= 1, finite float64."""
    if y is None:
        raise ValueError(f"y: {estimator} requires y to be passed, but the target y is None")
    array = _as_real_array(y, "y")
    targets = check.as_array(array, "y", _FLOAT64, 2 if array.ndim == 2 else 1)
    if targets.shape[0] != rows or (targets.ndim == 2 and targets.shape[1] == 0):
        raise ValueError(f"y: expected shape ({rows},) or ({rows}, t) with t >= 1, one row per row of X, "
                         f"got {targets.shape}")
    return targets


def _symmetry_tolerance(dtype: np.dtype) -> float:
    # A Gram computed in this dtype is symmetric to a few eps of its largest entry (exactly, when
    # computed symmetrically); sqrt(eps) leaves room for one computed entry by entry and still
    # refuses a matrix that is no Gram.
    return float(np.sqrt(np.finfo(dtype).eps))


# Rows of the Gram compared with its transpose at a time: temporaries of about this many
# entries, so that checking a Gram costs no m x m copies besides the fit's own.
_SYMMETRY_BLOCK_ENTRIES = 2**20


def _largest_asymmetry(gram: FloatArray, scale: float) -> float:
    """Return ``max |G - G^T| / scale``, in float64 at unit size (no overflow near the float limit)."""
    rows = max(1, _SYMMETRY_BLOCK_ENTRIES // gram.shape[0])
    largest = 0.0
    for start in range(0, gram.shape[0], rows):
        block = gram[start:start + rows].astype(np.float64) / scale
        block -= gram[:, start:start + rows].T / scale
        largest = max(largest, float(np.max(np.abs(block))))
    return largest


def check_train_gram(X: object) -> FloatArray:
    """Return the precomputed Gram ``K(X_train, X_train)``: square, finite, symmetric to rounding.

    In the dtype :func:`check_X` gives; the matrix itself is not symmetrized (the solves read
    one triangle).
    """
    gram = check_X(X)
    if gram.shape[0] != gram.shape[1]:
        raise ValueError(f"X: with kernel='precomputed', expected the square Gram matrix K(X_train, X_train) of "
                         f"shape (m, m), got shape {gram.shape}")
    largest = max(float(np.max(gram)), -float(np.min(gram)))
    asymmetry = _largest_asymmetry(gram, largest or 1.0)
    if asymmetry > _symmetry_tolerance(gram.dtype):
        raise ValueError(f"X: with kernel='precomputed', expected a symmetric Gram matrix K(X_train, X_train); its "
                         f"transpose differs by up to {asymmetry * largest:.3g} (largest entry {largest:.3g})")
    return gram


def wrong_columns(columns: int, expected: int, estimator: str, on_gram: bool) -> ValueError:
    """Return the error for an ``X`` to predict with ``columns`` columns where the fit had ``expected``."""
    error = f"X has {columns} features, but {estimator} is expecting {expected} features as input"
    if on_gram:
        error += (f": with kernel='precomputed', X is the Gram matrix K(X_test, X_train) of shape "
                  f"(m_test, {expected}), one column per training point")
    return ValueError(error)


def warn_if_indefinite(eigenvalues: npt.NDArray[np.float64]) -> None:
    """Warn (:class:`widenet.ConditioningWarning`) when a precomputed Gram has a negative eigenvalue beyond rounding.

    A Gram computed in float32 (it may come as float64) has eigenvalues exact to about
    ``m eps_float32`` times the largest; below minus that the matrix is no kernel's (an
    integer-rounded Gram, say). It is used as it is, so the warning says what that means.
    """
    largest = float(np.max(np.abs(eigenvalues)))
    if eigenvalues[0] < -float(np.finfo(np.float32).eps) * eigenvalues.size * largest:
        warnings.warn(ConditioningWarning(
            f"X: the precomputed Gram matrix is not positive semi-definite (smallest eigenvalue {eigenvalues[0]:.3g} "
            f"against a largest {eigenvalues[-1]:.3g}), so it is no kernel's: it is used as it is, and gradient "
            "descent on it grows without bound along the eigenvectors of its negative eigenvalues"), stacklevel=3)
