"""The one place where public entry points check and convert their arguments.

Every check raises ValueError (a bad value or shape) or TypeError (a bad type) with a
message that names the argument, what it received and what was expected. Arrays are
returned as new or read-only-used C-contiguous arrays: callers' arrays are never modified.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, Optional, SupportsIndex, TypeVar, Union, cast, get_args

import numpy as np
from numpy.typing import NDArray

from widenet._types import Backend, Loss

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
BACKENDS: tuple[Backend, ...] = get_args(Backend)
LOSS_NAMES: tuple[Loss, ...] = get_args(Loss)

Option = TypeVar("Option", bound=str)


def float_dtype(dtype: object) -> np.dtype[Any]:
    """Return the compute dtype, float32 or float64, that ``dtype`` names."""
    try:
        resolved = np.dtype(cast(Any, dtype))  # anything numpy cannot read raises TypeError here
    except TypeError as error:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dtype!r}") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {resolved}")
    return resolved


def asarray(value: object, name: str) -> NDArray[Any]:
    """Return ``np.asarray(value)``, refusing what it would silently misread.

    Masked arrays (the mask would be dropped) and ragged nested sequences (numpy's own error
    names nothing) are refused. For callers that look at an argument before converting it
    with :func:`as_array`.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name}: expected a plain array, got a masked array (pass {name}.filled(value) or "
                        f"drop the masked entries)")
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: expected a rectangular array of numbers, got a {type(value).__name__} numpy "
                         f"cannot convert ({error})") from None


def _first_bad(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    """Return the index of the first True entry of ``mask``."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _converted(array: NDArray[Any], name: str, dtype: np.dtype[Any], check_finite: bool) -> NDArray[Any]:
    """Return ``array`` (real numeric) as a C-contiguous ``dtype`` array.

    NaN or Inf raise when ``check_finite``; finite values beyond the range of ``dtype``
    (1e300 into float32, 1e400 in long double) always raise, never silently become Inf.
    """
    if check_finite and array.dtype.kind == "f":
        # one mask, inverted in place (numpy's elision of temporaries is not always on)
        bad = np.isfinite(array, out=np.empty(array.shape, dtype=bool))  # an array also for 0-d input
        np.logical_not(bad, out=bad)
        if bad.any():
            where = _first_bad(bad)
            raise ValueError(f"{name}: contains NaN or Inf (first at index {where}: {array[where]})")
    with np.errstate(over="ignore"):
        converted = np.asarray(array, dtype=dtype, order="C")  # not ascontiguousarray: it makes 0-d 1-d
    if array.dtype.kind == "f" and converted.size and np.finfo(array.dtype).max > np.finfo(dtype).max:
        overflowed = np.isfinite(array)
        overflowed &= ~np.isfinite(converted)
        if overflowed.any():
            where = _first_bad(overflowed)
            raise ValueError(f"{name}: expected values within the range of {dtype} (|x| <= "
                             f"{float(np.finfo(dtype).max):.4g}), got {array[where]:.4g} at index {where}")
    return converted


def as_array(value: object, name: str, dtype: np.dtype[Any], ndim: Union[int, tuple[int, ...]],
             check_finite: bool = True) -> NDArray[Any]:
    """Return ``value`` as a C-contiguous array of ``dtype`` with ``ndim`` dimensions.

    ``ndim`` is an int, or a tuple of the numbers of dimensions accepted.

    Accepts any array-like of real numbers (lists, 0-d arrays, any memory order, strides
    or byte order, read-only arrays); integers and booleans are converted. Complex,
    object, string and date arrays, and masked arrays, raise TypeError; ragged sequences
    and the wrong number of dimensions raise ValueError. NaN or Inf raise ValueError when
    ``check_finite``, and so do finite values that ``dtype`` cannot hold (1e300 into
    float32). The result may be ``value`` itself when it already is such an array:
    callers copy before writing.
    """
    array = asarray(value, name)
    if array.dtype.kind not in "biuf":
        hint = f" (convert with numpy.asarray({name}, dtype=float))" if array.dtype.kind == "O" else ""
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}{hint}")
    accepted = ndim if isinstance(ndim, tuple) else (ndim,)
    if array.ndim not in accepted:
        shape_word = " or ".join({0: "a scalar", 1: "a 1-D array", 2: "a 2-D array", 3: "a 3-D array"}[k]
                                 for k in accepted)
        hint = " (use X.reshape(-1, 1) for one input feature)" if accepted == (2,) and array.ndim == 1 else ""
        raise ValueError(f"{name}: expected {shape_word}, got shape {array.shape}{hint}")
    return _converted(array, name, dtype, check_finite)


def float_dtype_of(array: NDArray[Any]) -> np.dtype[Any]:
    """Return the dtype data are computed in: float32 for float32 data, float64 for anything else."""
    return FLOAT_DTYPES[0] if array.dtype == FLOAT_DTYPES[0] else FLOAT_DTYPES[1]


INPUT_DIMENSION = " (the input dimension)"
"""What ``columns`` is for the inputs of a network (``columns_of`` of :func:`as_points`)."""


def as_points(value: object, name: str = "X", *, dtype: Optional[np.dtype[Any]] = None, columns: Optional[int] = None,
              columns_of: str = "", min_rows: int = 1, min_columns: int = 0,
              check_finite: bool = True) -> NDArray[Any]:
    """Return points, one per row: a C-contiguous 2-D array, checked as :func:`as_array` checks.

    The one check of input points (network inputs, kernel arguments, regression data);
    every failure names ``name`` and the shape received.

    Parameters
    ----------
    value : array_like, shape (m, d)
    name : str
        The argument's name, for the messages.
    dtype : numpy dtype, optional
        The dtype of the result; None keeps float32 data float32 and makes anything else
        float64 (:func:`float_dtype_of`).
    columns : int, optional
        The number of columns expected (None: any).
    columns_of : str
        Says in the message what ``columns`` is, such as :data:`INPUT_DIMENSION` or
        ``" like X1"``.
    min_rows, min_columns : int
        The fewest rows (points) and columns (features) accepted.
    check_finite : bool
        Refuse NaN and Inf.
    """
    if dtype is None:
        value = asarray(value, name)
        dtype = float_dtype_of(value)
    X = as_array(value, name, dtype, 2, check_finite)
    if X.shape[0] < min_rows:
        count = "one row (point)" if min_rows == 1 else f"{min_rows} rows (points)"
        raise ValueError(f"{name}: expected at least {count}, got shape {X.shape}")
    if X.shape[1] < min_columns:
        count = "one column (feature)" if min_columns == 1 else f"{min_columns} columns (features)"
        raise ValueError(f"{name}: expected at least {count}, got shape {X.shape}")
    if columns is not None and X.shape[1] != columns:
        raise ValueError(f"{name}: expected {columns} columns{columns_of}, got shape {X.shape}")
    return X


def as_inputs(value: object, name: str, dtype: np.dtype[Any], input_dim: int) -> NDArray[Any]:
    """Return a batch of network inputs: (m, input_dim) with m >= 1 (:func:`as_points`)."""
    return as_points(value, name, dtype=dtype, columns=input_dim, columns_of=INPUT_DIMENSION)


def as_targets(value: object, name: str, dtype: np.dtype[Any], rows: int, outputs: int = 1) -> NDArray[Any]:
    """Return the targets of a model of ``outputs`` outputs on ``rows`` input rows.

    One output: shape (rows,), from shape (rows,) or the column (rows, 1). ``k > 1``
    outputs: shape (rows, k), one row of k targets per input row, exactly.
    """
    y = as_array(value, name, dtype, (1, 2))
    if outputs > 1:
        if y.shape != (rows, outputs):
            raise ValueError(f"{name}: expected shape ({rows}, {outputs}), one row of {outputs} targets per row of X "
                             f"(the model's {outputs} outputs), got {y.shape}")
        return y
    if y.shape not in ((rows,), (rows, 1)):
        more = (f"; a model with one output takes one column, so fit {y.shape[1]} columns one at a time"
                if y.ndim == 2 and y.shape[0] == rows else "")
        raise ValueError(f"{name}: expected shape ({rows},) or ({rows}, 1), one target per row of X, got "
                         f"{y.shape}{more}")
    return y.reshape(rows)


def one_output(outputs: object, where: str, reason: str) -> None:
    """Refuse a network of several outputs where only one is supported: ValueError naming ``outputs``."""
    if integer(outputs, "outputs", 1) != 1:
        raise ValueError(f"outputs: expected 1 ({where} supports one output: {reason}), got {outputs}")


def as_shaped(value: object, name: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """Return an array of exactly ``shape``."""
    array = as_array(value, name, dtype, len(shape))
    if array.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {array.shape}")
    return array


def _real_scalar(value: object, name: str, word: str) -> Union[np.integer[Any], np.floating[Any]]:
    """Return ``value`` as a numpy real scalar.

    ``value`` is a Python or numpy real number (not a bool) or a 0-d real array. A Python
    integer beyond float64 becomes an infinity (which the callers refuse as not finite),
    never an OverflowError.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected {word}, got {value!r}")
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        try:
            return np.float64(float(value))
        except OverflowError:
            return np.float64(-np.inf if value < 0 else np.inf)
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "iuf":
        # a 0-d array indexed by () is its scalar
        return cast(Union[np.integer[Any], np.floating[Any]], np.asarray(value)[()])
    raise TypeError(f"{name}: expected {word}, got {value!r}")


def as_real(value: object, name: str, dtype: np.dtype[Any]) -> float:
    """Return a finite real scalar that ``dtype`` can hold.

    ``value`` is a Python or numpy number, or a 0-d or size-1 array (booleans count as 0 and
    1, as in an array).
    """
    if not isinstance(value, (numbers.Number, np.generic)):
        array = asarray(value, name)
        if array.size == 1 and array.dtype.kind in "biuf":
            value = array.reshape(())[()]
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    scalar = _real_scalar(value, name, "a real number")
    if not np.isfinite(scalar):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    with np.errstate(over="ignore"):
        result = dtype.type(scalar)
    if not np.isfinite(result):
        raise ValueError(f"{name}: expected a finite number within the range of {dtype} (|x| <= "
                         f"{float(np.finfo(dtype).max):.4g}), got {value!r}")
    return float(result)


def _bounded_real(value: object, name: str, strictly_positive: bool) -> float:
    """Return ``value`` as a finite non-negative float, positive when ``strictly_positive``."""
    word = "positive" if strictly_positive else "non-negative"
    scalar = _real_scalar(value, name, f"a {word} real number")
    with np.errstate(over="ignore"):
        result = float(scalar)
    if not np.isfinite(result) or result < 0 or (strictly_positive and result == 0):
        raise ValueError(f"{name}: expected a finite {word} number, got {value!r}")
    return result


def positive_real(value: object, name: str) -> float:
    """Return ``value``, a finite positive real number (not a bool), as a float."""
    return _bounded_real(value, name, strictly_positive=True)


def normal_in(value: float, name: str, dtype: np.dtype[Any]) -> float:
    """Return ``value`` (a finite nonzero real, already checked) if ``dtype`` holds it as a normal number.

    A scalar that a kernel uses in ``dtype`` must not silently become 0 or inf there (a step
    of 1e-46, or a gamma of 1e-50, is 0 in float32).
    """
    info = np.finfo(dtype)
    with np.errstate(over="ignore", under="ignore"):
        rounded = dtype.type(value)
    if not info.tiny <= abs(rounded) <= info.max:
        raise ValueError(f"{name}: expected a number within the normal range of {dtype} (the compute dtype), "
                         f"{float(info.tiny):.4g} <= |x| <= {float(info.max):.4g}, got {value!r} (which is "
                         f"{rounded} in {dtype}); compute in float64 for this value")
    return value


def seed(value: object, name: str = "seed") -> int:
    """Return a non-negative integer seed of any size (numpy's generators take them all)."""
    return integer(value, name, 0, maximum=None)


def non_negative_real(value: object, name: str) -> float:
    """Return ``value``, a finite non-negative real number (not a bool), as a float."""
    return _bounded_real(value, name, strictly_positive=False)


INDEX_MAX = 2**63 - 1
"""The largest count the compiled core takes (its indices are int64): a larger one is
refused by name here rather than by pybind11's "incompatible function arguments"."""


def integer(value: object, name: str, minimum: int, maximum: Optional[int] = INDEX_MAX) -> int:
    """Return ``value`` as an integer in ``[minimum, maximum]`` (``maximum=None``: unbounded, for seeds).

    ``value`` is a Python or numpy integer or a 0-d integer array, not a bool or a float.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    try:
        result = operator.index(cast(SupportsIndex, value))  # anything else raises TypeError here
    except TypeError as error:
        raise TypeError(f"{name}: expected an integer, got {value!r}") from error
    if result < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {result}")
    return result


def choice(value: object, name: str, options: tuple[Option, ...]) -> Option:
    """Return ``value``, one of the strings ``options``."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    return value


def boolean(value: object, name: str) -> bool:
    """Return ``value``, True or False (a Python or numpy bool; not 0 or 1)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def backend(value: object) -> Backend:
    """Return ``value``, a backend name (``"cpp"`` or ``"numpy"``)."""
    return choice(value, "backend", BACKENDS)


def loss_scale(loss: object, rows: int) -> float:
    """Return the factor on ``sum (Phi - y)^2``: the chapter's f, its mean, or half of it."""
    name = choice(loss, "loss", LOSS_NAMES)
    return {"sum": 1.0, "mean": 1.0 / rows, "half_sum": 0.5}[name]


def generator(seed: object) -> np.random.Generator:
    """Return a numpy Generator from None, an int, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool):
        raise TypeError(f"seed: expected None, an int or a numpy.random.Generator, got {seed!r}")
    try:
        value = operator.index(cast(SupportsIndex, seed))  # anything else raises TypeError here
    except TypeError as error:
        raise TypeError(f"seed: expected None, an int or a numpy.random.Generator, got {seed!r}") from error
    if value < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {value}")
    return np.random.default_rng(value)
