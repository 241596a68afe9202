"""The one place where public entry points check and convert their arguments.

Every check raises ValueError (a bad value or shape) or TypeError (a bad type) with a
message that names the argument, what it received and what was expected. Arrays are
returned as new or read-only-used C-contiguous arrays: callers' arrays are never modified.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
BACKENDS = ("cpp", "numpy")
LOSS_NAMES = ("sum", "mean", "half_sum")


def float_dtype(dtype) -> np.dtype:
    """The compute dtype: float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dtype!r}") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {resolved}")
    return resolved


def as_array(value, name: str, dtype: np.dtype, ndim: int, check_finite: bool = True) -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype`` with ``ndim`` dimensions.

    Integers and booleans are converted; complex, object, string and date arrays raise
    TypeError. NaN or Inf raise ValueError when ``check_finite``.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    if array.ndim != ndim:
        shape_word = {0: "a scalar", 1: "a 1-D array", 2: "a 2-D array", 3: "a 3-D array"}[ndim]
        hint = " (use X.reshape(-1, 1) for one input feature)" if ndim == 2 and array.ndim == 1 else ""
        raise ValueError(f"{name}: expected {shape_word}, got shape {array.shape}{hint}")
    array = np.ascontiguousarray(array, dtype=dtype)
    if check_finite and not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return array


def as_inputs(value, name: str, dtype: np.dtype, input_dim: int) -> np.ndarray:
    """A batch of inputs: (m, input_dim) with m >= 1."""
    X = as_array(value, name, dtype, 2)
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row (point), got shape {X.shape}")
    if X.shape[1] != input_dim:
        raise ValueError(f"{name}: expected {input_dim} columns (the input dimension), got shape {X.shape}")
    return X


def as_targets(value, name: str, dtype: np.dtype, rows: int) -> np.ndarray:
    """One target per input row: shape (rows,)."""
    y = as_array(value, name, dtype, 1)
    if y.shape != (rows,):
        raise ValueError(f"{name}: expected shape ({rows},), one target per row of X, got {y.shape}")
    return y


def as_shaped(value, name: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
    """An array of exactly ``shape``."""
    array = as_array(value, name, dtype, len(shape))
    if array.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {array.shape}")
    return array


def as_real(value, name: str, dtype: np.dtype) -> float:
    """A finite real scalar (a Python number or a 0-d / size-1 array)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.size != 1:
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    result = dtype.type(array.reshape(()))
    if not np.isfinite(result):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(result)


def _bounded_real(value, name: str, strictly_positive: bool) -> float:
    word = "positive" if strictly_positive else "non-negative"
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a {word} real number, got {value!r}")
    result = float(value)
    if not np.isfinite(result) or result < 0 or (strictly_positive and result == 0):
        raise ValueError(f"{name}: expected a finite {word} number, got {value!r}")
    return result


def positive_real(value, name: str) -> float:
    return _bounded_real(value, name, strictly_positive=True)


def non_negative_real(value, name: str) -> float:
    return _bounded_real(value, name, strictly_positive=False)


def integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    try:
        result = operator.index(value)
    except TypeError as error:
        raise TypeError(f"{name}: expected an integer, got {value!r}") from error
    if result < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {result}")
    return result


def choice(value, name: str, options: tuple) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    return value


def backend(value) -> str:
    return choice(value, "backend", BACKENDS)


def loss_scale(loss: str, rows: int) -> float:
    """The factor on ``sum (Phi - y)^2``: the chapter's f, its mean, or half of it."""
    name = choice(loss, "loss", LOSS_NAMES)
    return {"sum": 1.0, "mean": 1.0 / rows, "half_sum": 0.5}[name]


def generator(seed) -> np.random.Generator:
    """A numpy Generator from None, an int, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool):
        raise TypeError(f"seed: expected None, an int or a numpy.random.Generator, got {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError as error:
        raise TypeError(f"seed: expected None, an int or a numpy.random.Generator, got {seed!r}") from error
    if value < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {value}")
    return np.random.default_rng(value)
