"""Property-based tests of hostile inputs, with hypothesis.

Every public entry point is called with arguments drawn from hostile families: random
shapes (``m = 1``, ``d = 1``, ``n = 1``, empty, the wrong number of dimensions, 0-d),
dtypes (float64, float32, float16, long double, non-native byte order, int, uint, bool,
complex, object, str, bytes, datetime), layouts (C and Fortran order, negative strides,
non-contiguous slices, zero-stride broadcasts, nested and ragged lists, read-only arrays, masked
arrays), NaN and Inf at random places, and huge (1e300), tiny (1e-300) and subnormal
magnitudes. For every call the property is:

* EITHER the documented exception -- ValueError for a bad value or shape, TypeError for
  a bad type -- whose message starts with the name of the offending argument,
* OR a result equal to the numpy reference (:mod:`widenet.reference`, or for the
  pure-numpy entry points the same function on a clean C-contiguous copy of the converted
  input) computed on the same converted input, within a rounding bound derived from
  the magnitudes of the terms (see :func:`assert_equivalent`);
* and the arguments are never modified (values and the writeable flag), read-only
  and zero-stride arrays are accepted, and no result aliases an input.

The *oracle* (:func:`expect_array`) is written here independently of
``widenet._validation``: it states which inputs are valid (real numeric dtype, the
expected shape, finite, representable in the compute dtype) and which errors an
invalid one may raise. When several arguments are invalid, any of their errors is
accepted; when all are valid, the call must succeed.

Huge and tiny magnitudes (documented behaviour, asserted below):

* values the compute dtype cannot hold (1e300 into a float32 network, 1e400 in long
  double into float64) are refused with ValueError by the validation layer;
* otherwise the computation is IEEE arithmetic: an intermediate that overflows gives
  Inf or NaN, and both backends agree on which entries are non-finite wherever the
  rounding bound of an entry is finite (where it overflows, the entry's value is not
  determined by the inputs at working precision, e.g. ``sin(1e300 * (1 + eps))``, and
  only finite-versus-non-finite is compared). The compiled kernels never warn; the
  numpy backend, and the numpy code around the kernels when a result overflows, may
  emit numpy's ``RuntimeWarning: overflow``. Gradient descent whose loss overflows stops
  with :class:`widenet.DivergenceError` at the same step in both backends.
* subnormal inputs are computed, not flushed; results may differ from the reference by
  a few times the smallest normal number (Eigen's vectorised ``exp`` returns a
  subnormal, not 0, far in the left tail).

The number of examples scales with the hypothesis profile (``HYPOTHESIS_PROFILE=ci``,
the default, or ``thorough``; registered in ``conftest.py``). The examples run by each
property are counted and printed in the terminal summary.
"""

from __future__ import annotations

import collections
import copy
import re
import warnings
from fractions import Fraction

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, assume, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

with warnings.catch_warnings():
    # On a failure hypothesis's pytest plugin imports libcst to print the failing example
    # as a patch, and libcst touches the deprecated mypy_extensions.TypedDict: under
    # ``filterwarnings = error`` that DeprecationWarning turns the report into an
    # INTERNALERROR hiding the failure. Importing it once here, quietly, avoids that.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass

import widenet  # noqa: E402
from widenet import reference  # noqa: E402
from widenet.reference import activations as ref_act  # noqa: E402
from widenet.reference import shallow as ref_shallow  # noqa: E402

# --------------------------------------------------------------------------------------
# budget and bookkeeping
# --------------------------------------------------------------------------------------

BASE_EXAMPLES = settings().max_examples  # from the loaded profile (conftest.py)
EXAMPLES: collections.Counter = collections.Counter()
OUTCOMES: dict = collections.defaultdict(collections.Counter)  # property -> computed / refused
_current = [""]


def budget(weight: float):
    """``settings`` for one property: ``weight`` times the profile's example count."""
    return settings(max_examples=max(1, int(round(weight * BASE_EXAMPLES))), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def count(name: str) -> None:
    """Counts one example of the property ``name``; outcomes are filed under it."""
    EXAMPLES[name] += 1
    _current[0] = name


def outcome(kind: str) -> None:
    OUTCOMES[_current[0]][kind] += 1


class _ExampleReport:
    """Prints the number of examples each property ran at the end of the session."""

    @staticmethod
    def pytest_terminal_summary(terminalreporter):
        if not EXAMPLES:
            return
        terminalreporter.write_sep("-", f"hypothesis examples run: {sum(EXAMPLES.values())} "
                                        f"(profile {settings.get_current_profile_name()})")
        for name, number in sorted(EXAMPLES.items()):
            split = ", ".join(f"{kind} {n}" for kind, n in sorted(OUTCOMES[name].items()))
            terminalreporter.write_line(f"  {name}: {number} ({split})")


@pytest.fixture(scope="module", autouse=True)
def _report_examples(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("widenet-hypothesis-examples"):
        manager.register(_ExampleReport(), "widenet-hypothesis-examples")
    yield


# --------------------------------------------------------------------------------------
# hostile arrays
# --------------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
NICE = st.floats(-2.0, 2.0)  # includes 0, -0, subnormals and tiny normals

# Values injected at random places, per dtype family.
SPECIALS = {
    "float64": (NAN, INF, -INF, 1e300, -1e300, 1e-300, 5e-324, -1e-310, -0.0),
    "float32": (NAN, INF, -INF, 3e38, -1e30, 1e-40, 1e-45),
    "float16": (NAN, INF, 6e4, 6e-8),
    "longdouble": (NAN, -INF, np.longdouble("1e400"), np.longdouble("-1e-4000"), 1e300),
    "int64": (2**62, -(2**63), 2**53 + 1),
    "int32": (2**31 - 1, -(2**31)),
    "uint64": (2**64 - 1,),
}
SPECIALS["object"] = (10**400, None, "1.5", Fraction(1, 3), 1 + 0j, np.float32(0.5), True)
SPECIALS["float64-swapped"] = SPECIALS["float64"]
SPECIALS["float32-swapped"] = SPECIALS["float32"]

REAL_FAMILIES = ("float64", "float64", "float64", "float32", "float32", "float16", "longdouble",
                 "float64-swapped", "float32-swapped", "int64", "int32", "uint8", "uint64", "bool")
OTHER_FAMILIES = ("complex128", "complex64", "object", "str", "bytes", "datetime")
LAYOUTS = ("C", "C", "C", "fortran", "reversed", "strided", "list", "readonly", "broadcast", "masked", "0-d",
           "ragged")


def _family_array(family: str, base: np.ndarray, imaginary: bool) -> np.ndarray:
    """``base`` (float64) as an array of the dtype family."""
    whole = np.round(3 * base)
    if family in ("float64", "float32", "float16", "longdouble"):
        return base.astype(family)
    if family.endswith("-swapped"):
        dtype = np.dtype(family.split("-")[0])
        return base.astype(dtype.newbyteorder())
    if family in ("int64", "int32"):
        return whole.astype(family)
    if family in ("uint8", "uint64"):
        return np.abs(whole).astype(family)
    if family == "bool":
        return base > 0
    if family in ("complex128", "complex64"):
        return (base + (1j * base if imaginary else 0)).astype(family)
    if family == "object":
        return base.astype(object)
    if family == "str":
        return base.astype(str)
    if family == "bytes":
        return base.astype("S")
    if family == "datetime":
        return whole.astype(np.int64).astype("datetime64[s]")
    raise AssertionError(family)


def _layout(layout: str, array: np.ndarray):
    """The same values presented in a hostile way."""
    if layout == "C" or array.ndim == 0:
        return np.ascontiguousarray(array)
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "reversed":  # negative strides on every axis
        flipped = tuple(slice(None, None, -1) for _ in range(array.ndim))
        return np.ascontiguousarray(array[flipped])[flipped]
    if layout == "strided":  # every other column of a larger array whose other columns hold NaN
        big = np.empty(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        if array.dtype.kind == "f":
            big[...] = np.nan
        big[..., ::2] = array
        return big[..., ::2]
    if layout == "list":
        return array.tolist()
    if layout == "readonly":
        frozen = array.copy()
        frozen.flags.writeable = False
        return frozen
    if layout == "broadcast":  # zero strides, read-only: every row is the first row
        if array.shape[0] == 0:
            return array
        return np.broadcast_to(array[:1], array.shape)
    if layout == "masked":
        if array.dtype.kind not in "biufc":
            return array
        # (fill_value 0: numpy's default 1e20 overflows float16 and warns on every copy)
        return np.ma.masked_array(array, mask=np.zeros(array.shape, dtype=bool), fill_value=0)
    if layout == "0-d":
        return array.reshape(-1)[0] if array.size else np.float64(0.5)
    if layout == "ragged":  # nested lists of unequal lengths
        rows = array.tolist()
        if array.ndim == 1:
            return [rows[:1]] + rows[1:] if rows else [[]]
        if array.shape[0] < 1 or array.shape[1] < 1:
            return rows + [[0.5]]
        return rows[:-1] + [rows[-1][:-1]] if array.shape[0] > 1 else rows + [rows[0] + [0.5]]
    raise AssertionError(layout)


BENIGN_LAYOUTS = ("C", "C", "fortran", "reversed", "strided", "list", "readonly", "broadcast")


@st.composite
def hostile(draw, shape, families=REAL_FAMILIES + OTHER_FAMILIES, layouts=LAYOUTS, reshape=True):
    """An array-like meant to have ``shape`` (a tuple of ints). Three times in five it is a
    valid one -- a real dtype, the shape asked for, finite, maybe with huge, tiny or
    subnormal entries, in any memory layout -- so that calls with several arguments often
    compute; otherwise anything: any dtype family and layout, NaN and Inf, the wrong
    shape or number of dimensions (when ``reshape``)."""
    shape = tuple(shape)
    valid = draw(st.sampled_from((True, True, True, False, False)))
    if not valid and reshape:
        mode = draw(st.sampled_from(("same",) * 4 + ("extra", "missing", "grow", "empty")))
        if mode == "extra":
            shape = shape + (1,)
        elif mode == "missing" and shape:
            shape = shape[:-1]
        elif mode == "grow" and shape:
            axis = draw(st.integers(0, len(shape) - 1))
            shape = shape[:axis] + (shape[axis] + 1,) + shape[axis + 1:]
        elif mode == "empty" and shape:
            shape = (0,) + shape[1:]
    family = draw(st.sampled_from([f for f in families if f in REAL_FAMILIES] if valid else families))
    base = draw(hnp.arrays(np.float64, shape, elements=NICE))
    array = _family_array(family, base, draw(st.booleans()))
    specials = SPECIALS.get(family, ())
    if valid:
        specials = tuple(v for v in specials if np.isfinite(v))
    if specials and array.size:
        for _ in range(draw(st.sampled_from((0, 1, 1, 2) if valid else (0, 0, 1, 2)))):
            index = draw(st.integers(0, array.size - 1))
            value = draw(st.sampled_from(specials))
            with np.errstate(all="ignore"):
                array.reshape(-1)[index] = value
    layout = draw(st.sampled_from(tuple(l for l in layouts if l in BENIGN_LAYOUTS) if valid else layouts))
    value = _layout(layout, array)
    note(f"{family} {layout} shape {shape}: {value!r}")
    return value


# --------------------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------------------


class Expect:
    """What validating one argument must do: ``errors`` it may raise (empty if valid) and
    ``value``, the converted array when valid."""

    def __init__(self, value=None, errors=()):
        self.value, self.errors = value, list(errors)

    @property
    def valid(self) -> bool:
        return not self.errors


def expect_array(value, name: str, dtype, ndim, rows=None, columns=None, min_rows: int = 1,
                 min_columns: int = 0, objects: bool = False, complex_error=TypeError) -> Expect:
    """The oracle for an array argument converted to ``dtype`` with ``ndim`` dimensions
    (a tuple: any of them), ``rows`` / ``columns`` exact sizes (None: any), at least
    ``min_rows`` rows and ``min_columns`` columns. ``objects``: object arrays of numbers are
    converted (the estimators); ``complex_error``: the error for complex input."""
    prefix = rf"^{re.escape(name)}: "
    ndims = ndim if isinstance(ndim, tuple) else (ndim,)
    if isinstance(value, np.ma.MaskedArray):
        return Expect(errors=[(TypeError, prefix + "expected a plain array, got a masked array")])
    try:
        array = np.asarray(value)
    except ValueError:
        return Expect(errors=[(ValueError, prefix + "expected a rectangular array")])
    errors = []
    if array.dtype.kind == "O" and objects:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            return Expect(errors=[(TypeError, prefix), (ValueError, prefix)])
    if array.dtype.kind == "c":
        errors.append((complex_error, prefix))
    elif array.dtype.kind not in "biuf":
        errors.append((TypeError, prefix + "expected a real numeric array"))
    if array.ndim not in ndims:
        errors.append((ValueError, prefix + "expected a"))
    else:
        if array.ndim >= 1 and ((rows is not None and array.shape[0] != rows) or array.shape[0] < min_rows):
            errors.append((ValueError, prefix))
        if array.ndim == 2 and ((columns is not None and array.shape[1] != columns)
                                or array.shape[1] < min_columns):
            errors.append((ValueError, prefix))
    if array.dtype.kind not in "biuf":
        return Expect(errors=errors)
    if not np.isfinite(array).all():
        errors.append((ValueError, prefix + "contains NaN or Inf"))
        return Expect(errors=errors)
    with np.errstate(over="ignore"):
        converted = np.array(array, dtype=dtype, order="C", copy=True)
    if not np.isfinite(converted).all():
        errors.append((ValueError, prefix + "expected values within the range of"))
    return Expect(converted, errors)


def expect_targets(value, dtype, rows) -> Expect:
    """The oracle for the targets of a model with one output: shape (rows,) or the column (rows, 1),
    converted to shape (rows,)."""
    expect = expect_array(value, "y", dtype, (1, 2), rows=rows, columns=1)
    if expect.valid:
        expect.value = expect.value.reshape(-1)
    return expect


def expect_scalar(value, name: str, kind: str, minimum=None, maximum=2**63 - 1) -> Expect:
    """The oracle for a scalar: ``kind`` "integer" (in ``[minimum, maximum]``; counts go to
    the compiled core's int64, ``maximum=None`` for seeds), "positive" or "non-negative" (a
    finite real number, bools refused), or "normal" (positive and a normal float64, for a
    scalar used in the compute dtype: a subnormal step would round the updates to 0)."""
    prefix = rf"^{re.escape(name)}: "
    if isinstance(value, (bool, np.bool_)):
        return Expect(errors=[(TypeError, prefix)])
    if kind == "integer":
        if isinstance(value, (int, np.integer)) or (isinstance(value, np.ndarray) and value.ndim == 0
                                                    and value.dtype.kind in "iu"):
            number = int(value)
            if number < minimum or (maximum is not None and number > maximum):
                return Expect(errors=[(ValueError, prefix)])
            return Expect(number)
        return Expect(errors=[(TypeError, prefix)])
    real = isinstance(value, (int, float, Fraction, np.integer, np.floating)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf")
    if not real:
        return Expect(errors=[(TypeError, prefix)])
    try:
        number = float(value)
    except OverflowError:
        number = INF
    good = np.isfinite(number) and {"positive": number > 0, "non-negative": number >= 0,
                                    "normal": number >= np.finfo(np.float64).tiny}[kind]
    return Expect(number) if good else Expect(errors=[(ValueError, prefix)])


def hostile_scalar(kind: str):
    """Scalars of every type: ints, floats, bools, numpy scalars, 0-d and 1-element arrays,
    strings, None, complex, NaN, Inf, huge and tiny."""
    numbers = st.sampled_from((0, 1, 2, 3, -1, 2**40, 10**400, -(10**400), 0.0, -0.0, 0.5, 1.0, 2.5, -0.5,
                               1e300, 1e-300, 5e-324, NAN, INF, -INF, Fraction(1, 3)))
    return st.one_of(
        numbers,
        numbers.map(lambda x: np.float64(x) if not isinstance(x, int) or abs(x) < 2**62 else x),
        st.sampled_from((np.int32(2), np.int64(-1), np.uint8(3), np.float32(0.25), np.float32(1e-40),
                         np.longdouble("1e400"), np.float16(1.5), np.bool_(True), True, False)),
        st.sampled_from((np.array(2), np.array(0.5), np.array([3]), np.array(1 + 0j), np.array("2"),
                         "2", "0.5", None, 1j, [1], (2,), b"1")),
    )


# --------------------------------------------------------------------------------------
# calling and comparing
# --------------------------------------------------------------------------------------


def snapshot(value):
    """A deep copy of an argument and its writeable flag."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True, subok=True), value.flags.writeable
    if isinstance(value, list):
        return [snapshot(v) for v in value], None
    return value, None


def assert_unmodified(value, saved, name):
    before, writeable = saved
    if isinstance(value, np.ndarray):
        assert value.flags.writeable == writeable, f"{name}: the writeable flag changed"
        if value.dtype.kind in "fc":
            same = np.array_equal(value, before, equal_nan=True)
        else:
            same = np.array_equal(value, before)
        assert same and value.dtype == before.dtype and value.shape == before.shape, f"{name} was modified"
    elif isinstance(value, list):
        assert len(value) == len(before), f"{name} was modified"
        for item, item_before in zip(value, before):
            assert_unmodified(item, item_before, name)
    elif isinstance(value, float) and np.isnan(value):
        assert isinstance(before, float) and np.isnan(before)
    else:
        assert value is before or value == before, f"{name} was modified"


def _arrays_in(result):
    if isinstance(result, np.ndarray):
        yield result
    elif isinstance(result, (tuple, list)):
        for item in result:
            yield from _arrays_in(item)
    elif isinstance(result, widenet.Parameters):
        yield from result.arrays()[:3]


def call_checked(call, arguments: dict, expectations: list, allowed_warnings=()):
    """Runs ``call()``; returns its result when every expectation is valid, checks the error
    otherwise; the arguments must come back unmodified and the result must not alias them.

    Returns ``(result, caught_warnings)``, or None when the call raised as it had to.
    """
    saved = {name: snapshot(value) for name, value in arguments.items()}
    errors = [error for expectation in expectations for error in expectation.errors]
    raised = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 - the property is about which one
            raised = error
    for name, value in arguments.items():
        assert_unmodified(value, saved[name], name)
    outcome("refused" if errors else "computed")
    if errors:
        assert raised is not None, f"expected one of {errors}, the call returned"
        matched = any(isinstance(raised, kind) and re.search(pattern, str(raised)) for kind, pattern in errors)
        assert matched, f"expected one of {errors}, got {type(raised).__name__}: {raised}"
        documented = {ValueError, TypeError}
        assert type(raised) in documented or any(isinstance(raised, kind) for kind, _ in errors
                                                 if kind not in documented), (
            f"a bare {type(raised).__name__} escaped: {raised}")
        return None
    if raised is not None:
        raise AssertionError(f"valid arguments raised {type(raised).__name__}: {raised}") from raised
    for array in _arrays_in(result):
        for name, value in arguments.items():
            if isinstance(value, np.ndarray):
                assert not np.shares_memory(array, value), f"the result aliases the argument {name}"
    caught = [w for w in caught if not issubclass(w.category, allowed_warnings)]
    return result, caught


def assert_warnings(caught, backend: str, *results):
    """The compiled kernels never warn. numpy's ``RuntimeWarning`` (overflow, invalid value)
    may come from the numpy backend where an intermediate overflows -- even when the final
    value is right, e.g. the RBF diagonal of a point of norm 1e300 -- and from either
    backend when a result overflows in the numpy code around the kernels (the float32
    loss ``r . r`` of residuals of 1e38)."""
    overflowed = any(not np.isfinite(np.asarray(r, dtype=np.float64)).all() for r in _flatten(results))
    for w in caught:
        assert issubclass(w.category, RuntimeWarning) and (backend == "numpy" or overflowed), (
            f"unexpected warning: {w.message}")


def assert_equivalent(actual, expected, tolerance, err_msg="", dtype=None):
    """``actual`` equals ``expected`` within ``tolerance`` (broadcastable: an absolute bound
    per entry, derived from the magnitudes of the terms). Non-finite entries must agree
    exactly (NaN with NaN, +Inf with +Inf) where the bound is finite; where the bound
    itself overflows, the entry is not determined at working precision: finite and
    infinite must still agree, and NaN on either side is accepted."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    if dtype is not None:
        assert actual.dtype == np.dtype(dtype), f"dtype {actual.dtype} != {np.dtype(dtype)} {err_msg}"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), e.shape)
    bounded = np.isfinite(tolerance)
    for label, test in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        differ = (test(a) != test(e)) & bounded
        assert not differ.any(), (f"{label} at different places {err_msg}: actual {a[differ][:4]}, "
                                  f"expected {e[differ][:4]}")
    # Unbounded entries: an intermediate overflowed (a pre-activation of inf, a variance of
    # inf); NaN -- "undetermined" -- from either backend is accepted there, but a finite
    # number against an infinity is not.
    differ = (np.isfinite(a) != np.isfinite(e)) & ~bounded & ~np.isnan(a) & ~np.isnan(e)
    assert not differ.any(), f"finite against infinite {err_msg}: {a[differ][:4]} vs {e[differ][:4]}"
    both = np.isfinite(a) & np.isfinite(e) & bounded
    error = np.abs(a[both] - e[both])
    assert (error <= tolerance[both]).all(), (
        f"{err_msg}: max error {np.max(error - tolerance[both], initial=0):.3g} over the bound; "
        f"actual {a[both][error > tolerance[both]][:4]}, expected {e[both][error > tolerance[both]][:4]}")


def rounding(dtype, terms: int) -> float:
    """The relative rounding bound of a computation summing ``terms`` terms in ``dtype``."""
    return 16 * float(np.finfo(dtype).eps) * (terms + 4)


def tiny(dtype) -> float:
    """The absolute slack for subnormal arithmetic: a few times the smallest normal."""
    return 8 * float(np.finfo(dtype).tiny)


# --------------------------------------------------------------------------------------
# shallow networks: rounding bounds from the magnitudes of the terms
# --------------------------------------------------------------------------------------

ACTIVATIONS = widenet.ACTIVATIONS


@st.composite
def networks(draw, dtypes=(np.float64, np.float32), max_dim=3, max_width=4):
    """A small network: every activation and parametrization, d and n from 1, zero and
    nonzero bias variances (zero ones make subnormal inputs reach the activations)."""
    return widenet.ShallowNetwork(
        draw(st.integers(1, max_dim)), draw(st.integers(1, max_width)), draw(st.sampled_from(ACTIVATIONS)),
        draw(st.sampled_from(("lecun", "ntk"))), bias_var=draw(st.sampled_from((0.0, 0.5))),
        output_bias_var=draw(st.sampled_from((0.0, 0.3))), seed=draw(st.integers(0, 2**32 - 1)),
        dtype=draw(st.sampled_from(dtypes)))


def term_bounds(net, X: np.ndarray, params=None) -> tuple:
    """``(F, G)`` per row of ``X``: bounds on the sum of the magnitudes of the terms of
    ``Phi(x_i)`` and of the entries of its gradient, including the rounding error of the
    pre-activations propagated through the activation (|sigma'|, |sigma''| <= ~1) and an
    absolute ``eps`` for every activation value (the reference's sigmoid and gelu are
    accurate to ``eps`` absolutely, not relatively, in their left tails)."""
    U, b, v, c = net.params.arrays() if params is None else params
    U, b, v = (np.asarray(p, dtype=np.float64) for p in (U, b, v))
    with np.errstate(all="ignore"):
        Xf = np.asarray(X, dtype=np.float64)
        Z, a, s = ref_shallow._preactivations(Xf, U, b, net.parametrization)
        spread = s * (np.abs(Xf) @ np.abs(U).T) + np.abs(b)  # the scale of Z's rounding error
        A = np.abs(ref_act.activation(net.activation, Z))
        D = np.abs(ref_act.activation_derivative(net.activation, Z))
        F = a * ((A + D * spread + 1) @ np.abs(v)) + abs(float(c))
        x1 = s * np.abs(Xf).sum(axis=1)
        G = a * (((D + spread + 1) @ np.abs(v)) * (x1 + 1) + (A + D * spread + 1).sum(axis=1)) + 1
        # where a pre-activation overflows the compute dtype, nothing is determined
        overflowing = (spread > float(np.finfo(net.dtype).max)).any(axis=1)
    return np.where(overflowing, INF, F), np.where(overflowing, INF, G)


# A loss or gradient that overflows (inputs ~1e300) is refused, naming X.
OVERFLOWED = Expect(errors=[(ValueError, r"^X: the loss or its gradient overflows")])


def reference_call(function, *args, **kwargs):
    with np.errstate(all="ignore"):
        return function(*args, **kwargs)


NETWORK_METHODS = ("forward", "call", "jacobian", "jacobian_chunks", "ntk", "ntk-X2", "ntk-same", "ntk_diag",
                   "loss", "loss_grad")


@budget(4)
@given(data=st.data())
def test_network_methods(data):
    """forward, __call__, jacobian, jacobian_chunks, ntk (symmetric, X2, X2 is X1),
    ntk_diag, loss and loss_grad on hostile X (and X2, y), both backends."""
    count("network methods")
    net = data.draw(networks(), label="net")
    method = data.draw(st.sampled_from(NETWORK_METHODS), label="method")
    backend = data.draw(st.sampled_from(("cpp", "numpy")), label="backend")
    dtype, d, n = net.dtype, net.input_dim, net.width
    m = data.draw(st.integers(1, 4), label="m")
    first = "X1" if method.startswith("ntk-") or method == "ntk" else "X"
    X = data.draw(hostile((m, d)), label=first)
    eX = expect_array(X, first, dtype, 2, columns=d)
    arguments, expectations = {first: X}, [eX]
    rows = eX.value.shape[0] if eX.valid else None
    if method in ("loss", "loss_grad"):
        y = data.draw(hostile((m,)), label="y")
        arguments["y"] = y
        expectations.append(expect_targets(y, dtype, rows))
    if method == "ntk-X2":
        X2 = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X2")
        arguments["X2"] = X2
        expectations.append(expect_array(X2, "X2", dtype, 2, columns=d))
    loss = data.draw(st.sampled_from(("sum", "mean", "half_sum")), label="loss")
    calls = {
        "forward": lambda: net.forward(X, backend=backend),
        "call": lambda: net(X, backend=backend),
        "jacobian": lambda: net.jacobian(X, backend=backend),
        "jacobian_chunks": lambda: np.vstack([block for _, block in net.jacobian_chunks(X, 2, backend=backend)]),
        "ntk": lambda: net.ntk(X, backend=backend, width_chunk=data.draw(st.sampled_from((None, 1, 3)))),
        "ntk-X2": lambda: net.ntk(X, arguments.get("X2"), backend=backend),
        "ntk-same": lambda: net.ntk(X, X, backend=backend),
        "ntk_diag": lambda: net.ntk_diag(X, backend=backend),
        "loss": lambda: net.loss(X, arguments.get("y"), loss=loss, backend=backend),
        "loss_grad": lambda: net.loss_grad(X, arguments.get("y"), loss=loss, backend=backend),
    }
    if method == "loss_grad" and all(e.valid for e in expectations):
        value, ((gU, gb), (gv, gc)) = reference_call(reference.loss_grad, net.state, expectations[0].value,
                                                     expectations[1].value, 1.0)
        if not all(np.isfinite(block).all() for block in (value, gU, gb, gv, gc)):
            expectations.append(OVERFLOWED)
    before = net.params.to_vector()
    outcome = call_checked(calls[method], arguments, expectations)
    np.testing.assert_array_equal(net.params.to_vector(), before)
    if outcome is None:
        return
    result, caught = outcome
    Xc = expectations[0].value
    state = net.state
    rtol = rounding(dtype, n + d)
    F, G = term_bounds(net, Xc)
    if method in ("forward", "call"):
        expected = reference_call(reference.forward, state, Xc)
        assert_equivalent(result, expected, rtol * F + tiny(dtype), method, dtype)
    elif method in ("jacobian", "jacobian_chunks"):
        expected = reference_call(reference.jacobian, state, Xc)
        assert_equivalent(result, expected, rtol * G[:, None] + tiny(dtype), method, dtype)
    elif method in ("ntk", "ntk-same", "ntk-X2"):
        X2c = expectations[1].value if method == "ntk-X2" else Xc
        G2 = term_bounds(net, X2c)[1] if method == "ntk-X2" else G
        expected = reference_call(reference.ntk_gram, state, Xc, X2c)
        assert_equivalent(result, expected, rtol * np.outer(G, G2) + tiny(dtype), method, dtype)
    elif method == "ntk_diag":
        expected = reference_call(reference.ntk_diag, state, Xc)
        assert_equivalent(result, expected, rtol * G**2 + tiny(dtype), method, dtype)
    else:
        yc = expectations[1].value
        scale = {"sum": 1.0, "mean": 1.0 / Xc.shape[0], "half_sum": 0.5}[loss]
        outputs = reference_call(reference.forward, state, Xc).astype(np.float64)
        with np.errstate(all="ignore"):
            size = np.abs(outputs - yc) + F + np.abs(yc)
            loss_bound = 2 * scale * rtol * np.sum(size**2) + tiny(dtype)
            grad_bound = 2 * scale * rtol * np.sum(size * G) + tiny(dtype)
        expected = reference_call(reference.loss_grad, state, Xc, yc, scale)
        if method == "loss":
            assert isinstance(result, float)
            assert_equivalent(result, expected[0], loss_bound, method)
        else:
            assert isinstance(result[0], float) and isinstance(result[1], widenet.Parameters)
            assert_equivalent(result[0], expected[0], loss_bound, method)
            (gU, gb), (gv, gc) = expected[1]
            vector = np.concatenate([gU.ravel(), gb, gv, [gc]])
            assert_equivalent(result[1].to_vector(), vector.astype(dtype), grad_bound, method, dtype)
        expected = expected[0]
    assert_warnings(caught, backend, expected)


def determined(net, X: np.ndarray, params=None) -> bool:
    """Whether the activations at the pre-activations of ``X`` are determined to 1e-3 by
    the inputs at working precision: not for ``sin(1.8e19 (1 + eps))``, whose rounding
    error ``eps * |s X U^T + b|`` exceeds its period."""
    U, b = (net.params.arrays() if params is None else params)[:2]
    _, _, s = ref_shallow._preactivations(np.zeros((1, U.shape[-1])), np.asarray(U, np.float64),
                                          np.asarray(b, np.float64), net.parametrization)
    with np.errstate(all="ignore"):
        spread = s * (np.abs(X.astype(np.float64)) @ np.abs(np.asarray(U, np.float64)).T) + np.abs(b)
    return bool(rounding(net.dtype, U.shape[-1]) * np.max(spread, initial=0.0) < 1e-3)


def assert_records(actual, expected, dtype, terms, label, exact=True, floor=0.0):
    """Training records: bounded by the largest finite magnitude of each record, or
    ``floor`` (the magnitude of its terms) if larger -- errors of a few GD steps spread
    over all entries; a record whose reference overflows, or any when not ``exact`` (a
    trajectory not determined at working precision), is compared by finiteness only."""
    expected = np.asarray(expected)
    with np.errstate(all="ignore"):
        magnitude = float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0))
    if exact and np.isfinite(expected).all() and np.isfinite(floor):
        bound = 1e3 * rounding(dtype, terms) * max(magnitude, floor) + tiny(dtype)
    else:
        bound = INF
    assert_equivalent(actual, expected, bound, label)


@budget(2)
@given(data=st.data())
def test_training(data):
    """ShallowNetwork.train and ShallowEnsemble.train on hostile X, y and X_test, the
    compiled backend against the numpy one on the converted input (a copy of the model):
    the same records, the same final parameters, the same divergence (DivergenceError,
    or ``diverged_at`` with ``on_divergence="return"``); a failed call leaves the
    parameters untouched."""
    count("training")
    ensemble = data.draw(st.booleans(), label="ensemble")
    net = data.draw(networks(max_width=3), label="net")
    if ensemble:
        size = data.draw(st.integers(1, 2), label="size")
        model = widenet.ShallowEnsemble(size, net.input_dim, net.width, activation=net.activation,
                                        parametrization=net.parametrization, bias_var=net.bias_var,
                                        output_bias_var=net.output_bias_var, seed=data.draw(st.integers(0, 99)),
                                        dtype=net.dtype)
    else:
        model = net
    twin = copy.deepcopy(model)
    dtype, d = net.dtype, net.input_dim
    m = data.draw(st.integers(1, 3), label="m")
    X = data.draw(hostile((m, d)), label="X")
    eX = expect_array(X, "X", dtype, 2, columns=d)
    y = data.draw(hostile((m,)), label="y")
    ey = expect_targets(y, dtype, eX.value.shape[0] if eX.valid else None)
    arguments, expectations = {"X": X, "y": y}, [eX, ey]
    X_test = None
    if data.draw(st.booleans(), label="with X_test"):
        X_test = data.draw(hostile((data.draw(st.integers(1, 2)), d)), label="X_test")
        arguments["X_test"] = X_test
        expectations.append(expect_array(X_test, "X_test", dtype, 2, columns=d))
    options = dict(lr=data.draw(st.sampled_from((1e-3, 0.02)), label="lr"),
                   steps=data.draw(st.integers(0, 3), label="steps"),
                   record_every=data.draw(st.integers(1, 2), label="record_every"),
                   loss=data.draw(st.sampled_from(("sum", "mean", "half_sum")), label="loss"))
    on_divergence = data.draw(st.sampled_from(("raise", "return")), label="on_divergence")

    def blocks(params):
        return tuple(np.array(p, copy=True) for p in (params if ensemble else params.arrays()))

    start = blocks(model.params)
    expected = None
    if all(e.valid for e in expectations):
        X_testc = expectations[2].value if X_test is not None else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = twin.train(eX.value, ey.value, X_test=X_testc, backend="numpy", on_divergence="return",
                                      **options)
        except Exception as error:  # noqa: BLE001 - the compiled run must raise the same
            expectations.append(Expect(errors=[(type(error), "^" + re.escape(str(error)[:40]))]))
        else:
            if expected.diverged_at is not None and on_divergence == "raise":
                first = int(np.min(np.where(np.atleast_1d(expected.diverged_at) >= 0, expected.diverged_at,
                                            np.iinfo(np.int64).max)))
                expectations.append(Expect(errors=[(widenet.DivergenceError,
                                                    rf"^gradient descent diverged at step {first}\b")]))
    outcome = call_checked(lambda: model.train(X, y, X_test=X_test, backend="cpp", on_divergence=on_divergence,
                                               **options), arguments, expectations)
    if outcome is None:
        for now, before in zip(blocks(model.params), start):
            np.testing.assert_array_equal(now, before)
        return
    result, caught = outcome
    terms = (net.width + d + eX.value.shape[0]) * (options["steps"] + 1)
    members = [model.params.member(r, dtype).arrays() for r in range(size)] if ensemble else [None]
    points = [eX.value] + ([expectations[2].value] if X_test is not None else [])
    exact = all(determined(net, points_, params) for points_ in points for params in members)
    # the magnitudes of the terms (from the starting parameters: a few small steps away)
    with np.errstate(all="ignore"):
        bounds = [term_bounds(net, eX.value, params) for params in members]
        loss_terms = max(float(np.sum((F + np.abs(ey.value)) ** 2)) for F, _ in bounds)
        test_terms = max(float(np.max(term_bounds(net, points[-1], params)[0])) for params in members)
        # the parameters move by lr * 2 sum_i r_i grad Phi(x_i) per step: cancellations there
        # leave errors relative to the terms' magnitude, not to the (small) distance moved
        step_terms = 1.0 + options["lr"] * (options["steps"] + 1) * max(
            float(np.sum(2 * (2 * F + np.abs(ey.value)) * G)) for F, G in bounds)
    np.testing.assert_array_equal(result.steps, expected.steps)
    if exact:
        np.testing.assert_array_equal(np.asarray(result.diverged_at, dtype=object),
                                      np.asarray(expected.diverged_at, dtype=object))
    assert_records(result.losses, expected.losses, dtype, terms, "losses", exact, loss_terms)
    assert_records(result.distances, expected.distances, dtype, terms, "distances", exact, step_terms)
    if X_test is None:
        assert result.test_outputs is None
    else:
        assert_records(result.test_outputs, expected.test_outputs, dtype, terms, "test_outputs", exact, test_terms)
    for name, now, want in zip("Ubvc", blocks(model.params), blocks(twin.params)):
        assert np.ndim(now) == 0 or now.dtype == dtype, f"{name} has dtype {now.dtype}"
        assert_records(now, want, dtype, terms, name, exact, step_terms)
    assert_warnings(caught, "cpp", expected.losses)


# --------------------------------------------------------------------------------------
# parameters, construction and scalar arguments
# --------------------------------------------------------------------------------------


def expect_real(value, name: str, dtype) -> Expect:
    """The oracle for a real scalar stored in ``dtype`` (``Parameters.c``): a number, a bool
    (0 or 1) or a size-1 real array, finite and within the range of ``dtype``."""
    prefix = rf"^{re.escape(name)}: "
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, float, Fraction, np.integer, np.floating)):
        try:
            number = float(value)
        except OverflowError:
            number = INF
    elif isinstance(value, np.ma.MaskedArray):
        return Expect(errors=[(TypeError, prefix)])
    else:
        try:
            array = np.asarray(value)
        except ValueError:
            return Expect(errors=[(ValueError, prefix)])
        if array.size != 1 or array.dtype.kind not in "biuf":
            return Expect(errors=[(TypeError, prefix)])
        number = float(array.reshape(())[()])
    with np.errstate(over="ignore"):
        stored = np.dtype(dtype).type(number)
    if not np.isfinite(stored):
        return Expect(errors=[(ValueError, prefix)])
    return Expect(float(stored))


DTYPE_ARGUMENTS = (np.float64, np.float32, "float32", "f8", np.dtype(np.float64), None, np.float16, np.int64,
                   complex, ">f8", "bogus", object)


def expect_dtype(value) -> Expect:
    try:
        resolved = np.dtype(value)
    except TypeError:
        return Expect(errors=[(TypeError, "^dtype: ")])
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        return Expect(errors=[(TypeError, "^dtype: ")])
    return Expect(resolved)


@budget(1.5)
@given(data=st.data())
def test_parameters(data):
    """Parameters(U, b, v, c, dtype), Parameters.from_vector and the U, b, v, c setters:
    stored values equal the converted input, as copies; a failed set changes nothing."""
    count("parameters")
    n, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    way = data.draw(st.sampled_from(("construct", "from_vector", "set U", "set b", "set v", "set c")))
    if way in ("construct", "from_vector"):
        dtype_argument = data.draw(st.sampled_from(DTYPE_ARGUMENTS), label="dtype")
        e_dtype = expect_dtype(dtype_argument)
        dtype = e_dtype.value if e_dtype.valid else np.dtype(np.float64)
    else:
        dtype = np.dtype(data.draw(st.sampled_from((np.float64, np.float32))))
    if way == "construct":
        U = data.draw(hostile((n, d)), label="U")
        eU = expect_array(U, "U", dtype, 2, min_columns=1)
        rows = eU.value.shape[0] if eU.valid else n
        b, v = data.draw(hostile((rows,)), label="b"), data.draw(hostile((rows,)), label="v")
        c = data.draw(st.one_of(hostile_scalar("real"), hostile(())), label="c")
        arguments = {"U": U, "b": b, "v": v, "c": c}
        expectations = [e_dtype, eU, expect_array(b, "b", dtype, 1, rows=rows if eU.valid else None),
                        expect_array(v, "v", dtype, 1, rows=rows if eU.valid else None), expect_real(c, "c", dtype)]
        outcome = call_checked(lambda: widenet.Parameters(U, b, v, c, dtype_argument), arguments, expectations)
        if outcome is None:
            return
        params = outcome[0]
        expected = [e.value for e in expectations[1:]]
    elif way == "from_vector":
        size = n * (d + 2) + 1
        w = data.draw(hostile((size,)), label="w")
        expectations = [e_dtype, expect_array(w, "w", dtype, 1, rows=size)]
        outcome = call_checked(lambda: widenet.Parameters.from_vector(w, n, d, dtype_argument), {"w": w},
                               expectations)
        if outcome is None:
            return
        params = outcome[0]
        vector = expectations[1].value
        expected = [vector[:n * d].reshape(n, d), vector[n * d:n * d + n], vector[n * d + n:-1], float(vector[-1])]
    else:
        params = widenet.Parameters(np.ones((n, d)), np.ones(n), np.ones(n), 1.0, dtype)
        before = params.to_vector()
        field = way[-1]
        shape = {"U": (n, d), "b": (n,), "v": (n,)}.get(field)
        value = data.draw(hostile(shape) if shape else st.one_of(hostile_scalar("real"), hostile(())), label=field)
        expectation = (expect_array(value, field, dtype, len(shape), rows=shape[0],
                                    columns=shape[1] if len(shape) == 2 else None)
                       if shape else expect_real(value, "c", dtype))
        outcome = call_checked(lambda: setattr(params, field, value), {field: value}, [expectation])
        if outcome is None:
            np.testing.assert_array_equal(params.to_vector(), before)
            return
        for name, array in zip("Ubvc", params.arrays()):
            if name == field:
                assert_equivalent(array, expectation.value, 0.0, name)
                if isinstance(value, np.ndarray):
                    assert not np.shares_memory(array, value)
        return
    assert params.dtype == dtype
    for name, array, value in zip("Ubvc", params.arrays(), expected):
        assert_equivalent(array, value, 0.0, name, dtype if name != "c" else None)
    assert isinstance(params.c, float)


def _expected_initialization(input_dim, width, parametrization, distribution, variances, rng, dtype) -> list:
    """The documented initialization (11.5.3, 11.6.2): float64 draws of the law D in the
    order U, b, v, c, scaled by the standard deviations, then rounded to ``dtype``."""
    def draws(size):
        if distribution == "normal":
            return rng.standard_normal(size)
        if distribution == "uniform":
            return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size)
        return 2.0 * rng.integers(0, 2, size).astype(np.float64) - 1.0

    weight_var, bias_var, output_var, output_bias_var = variances
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    blocks = [draws((width, input_dim)) * np.sqrt(weight_var / fan_in), draws(width) * np.sqrt(bias_var),
              draws(width) * np.sqrt(output_var / fan_out), draws(1)[0] * np.sqrt(output_bias_var)]
    with np.errstate(over="ignore"):
        return [np.asarray(block, dtype=np.float64).astype(dtype) for block in blocks]


SIZES = st.sampled_from((1, 2, 3, 0, -1, True, 2.0, np.int64(2), np.uint8(1), np.array(3), "2", None, 1.5,
                         np.float64(2.0), 10**400))
CHOICES = {"activation": widenet.ACTIVATIONS, "parametrization": ("lecun", "ntk"),
           "distribution": ("normal", "uniform", "rademacher")}


def expect_choice(value, name, options) -> Expect:
    if not isinstance(value, str):
        return Expect(errors=[(TypeError, rf"^{name}: expected one of")])
    if value not in options:
        return Expect(errors=[(ValueError, rf"^{name}: expected one of")])
    return Expect(value)


@budget(1.5)
@given(data=st.data())
def test_network_construction(data):
    """ShallowNetwork and ShallowEnsemble with hostile sizes, variances, choices, seeds and
    dtypes: the documented error, or exactly the documented initialization."""
    count("network construction")
    arguments, expectations = {}, []
    names = ("input_dim", "width", *CHOICES, "weight_var", "bias_var", "output_var", "output_bias_var", "seed",
             "dtype")
    attacked = data.draw(st.sampled_from(names + ("several",) * 3), label="attacked")

    def pick(name, valid, hostile_values):
        """One argument: hostile when it is the one attacked, mostly valid otherwise."""
        if attacked == name or (attacked == "several" and data.draw(st.booleans())):
            return data.draw(hostile_values, label=name)
        return data.draw(valid, label=name)

    for name in ("input_dim", "width"):
        arguments[name] = pick(name, st.integers(1, 3), SIZES)
        expectations.append(expect_scalar(arguments[name], name, "integer", 1))
        # sizes beyond int64 are refused by name (test_huge_sizes_are_refused_by_name);
        # valid ones are kept small
        assume(not expectations[-1].valid or expectations[-1].value <= 3)
    for name, options in CHOICES.items():
        arguments[name] = pick(name, st.sampled_from(options), st.sampled_from(
            ("bogus", "RELU", "", None, 1, np.str_(options[0]))))
        expectations.append(expect_choice(arguments[name], name, options))
    for name in ("weight_var", "bias_var", "output_var", "output_bias_var"):
        arguments[name] = pick(name, st.sampled_from((1.0, 0.5, 0.0, 2)), hostile_scalar("real"))
        expectations.append(expect_scalar(arguments[name], name, "non-negative"))
    seed = pick("seed", st.sampled_from((0, 7, 2**40)), st.sampled_from(
        (None, 0, 7, 2**40, 2**200, -1, 1.5, True, "0", np.int64(3), np.uint64(2**63), np.random.SeedSequence(5),
         np.random.default_rng(11))))
    # Generators and seed sequences are stateful (spawning advances them): a fresh one per
    # example, and another fresh one to compute the expected draws.
    if isinstance(seed, np.random.Generator):
        seed, twin_seed = np.random.default_rng(11), np.random.default_rng(11)
    elif isinstance(seed, np.random.SeedSequence):
        seed, twin_seed = np.random.SeedSequence(5), np.random.SeedSequence(5)
    else:
        twin_seed = seed
    if seed is None:
        seed_expect = Expect(None)
    elif isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        seed_expect = Expect(seed)
    else:
        seed_expect = expect_scalar(seed, "seed", "integer", 0, maximum=None)
    expectations.append(seed_expect)
    dtype_argument = pick("dtype", st.sampled_from((np.float64, np.float32)), st.sampled_from(DTYPE_ARGUMENTS))
    expectations.append(expect_dtype(dtype_argument))
    ensemble = data.draw(st.booleans(), label="ensemble")
    valid = all(e.valid for e in expectations)
    # A variance too large for float32 overflows the drawn parameters: refused, naming the
    # variance (see test_float32_variance_overflow_names_the_variance).
    if valid:
        values = {name: e.value for name, e in zip(list(arguments) + ["seed", "dtype"], expectations)}
        if not ensemble:
            rng = np.random.default_rng(twin_seed)
        elif isinstance(twin_seed, np.random.Generator):
            rng = twin_seed.spawn(1)[0]  # member r is the r-th generator spawned from the seed
        else:
            root = twin_seed if isinstance(twin_seed, np.random.SeedSequence) else np.random.SeedSequence(
                None if twin_seed is None else int(twin_seed))
            rng = np.random.default_rng(root.spawn(1)[0])
        variances = [values[k] for k in ("weight_var", "bias_var", "output_var", "output_bias_var")]
        expected = _expected_initialization(values["input_dim"], values["width"], values["parametrization"],
                                            values["distribution"], variances, rng, values["dtype"])
        overflow = [name for name, block in zip(("weight_var", "bias_var", "output_var", "output_bias_var"), expected)
                    if not np.isfinite(block).all()]
        if overflow:
            expectations.append(Expect(errors=[(ValueError, rf"^({'|'.join(overflow)}): the initial weights drawn")]))
    config = {k: arguments[k] for k in arguments if k not in ("input_dim", "width")}

    def make():
        if ensemble:
            return widenet.ShallowEnsemble(1, arguments["input_dim"], arguments["width"], seed=seed,
                                           dtype=dtype_argument, **config)
        return widenet.ShallowNetwork(arguments["input_dim"], arguments["width"], seed=seed, dtype=dtype_argument,
                                      **config)

    outcome = call_checked(make, {k: v for k, v in arguments.items() if isinstance(v, np.ndarray)}, expectations)
    if outcome is None:
        return
    model = outcome[0]
    network = model.member(0) if ensemble else model
    assert network.dtype == values["dtype"]
    for name, array, value in zip("Ubvc", network.params.arrays(), expected):
        if seed is None:  # fresh entropy: only the shapes and finiteness are known
            assert np.shape(array) == np.shape(value) and np.isfinite(array).all()
        else:
            assert_equivalent(array, value, 0.0, name)
    np.testing.assert_array_equal(network.initial_params.to_vector(), network.params.to_vector())


def _scalar_calls():
    """(entry point, argument, kind, minimum, call(value)) for the scalar arguments, each on
    a cheap call (no steps, tiny arrays)."""
    net = widenet.ShallowNetwork(2, 3, "tanh", bias_var=0.5, seed=0)
    X, y = np.array([[0.5, -1.0], [1.5, 0.25]]), np.array([0.3, -0.2])
    A = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]])
    return [
        ("ShallowNetwork.train", "lr", "normal", None, lambda value: net.train(X, y, value, 0)),
        ("LinearizedModel.train", "lr", "normal", None, lambda value: widenet.linearize(net).train(X, y, value, 0)),
        ("ShallowNetwork.train", "steps", "integer", 0, lambda value: net.train(X, y, 0.01, value)),
        ("ShallowNetwork.train", "record_every", "integer", 1,
         lambda value: net.train(X, y, 0.01, 1, record_every=value)),
        ("ShallowNetwork.ntk", "width_chunk", "integer", 1, lambda value: net.ntk(X, width_chunk=value)),
        ("ShallowNetwork.jacobian_chunks", "rows", "integer", 1, lambda value: list(net.jacobian_chunks(X, value))),
        ("RBFKernel", "gamma", "normal", None, lambda value: widenet.RBFKernel(gamma=value)(X)),
        ("PolynomialKernel", "coef0", "non-negative", None,
         lambda value: widenet.PolynomialKernel(degree=2, coef0=value)(X)),
        ("PolynomialKernel", "degree", "integer", 1, lambda value: widenet.PolynomialKernel(degree=value)(X)),
        ("polynomial_features", "degree", "integer", 1, lambda value: widenet.polynomial_features(X, value)),
        ("rbf_features", "order", "integer", 0, lambda value: widenet.rbf_features(X, 0.5, value)),
        ("rbf_features", "gamma", "positive", None, lambda value: widenet.rbf_features(X, value, 2)),
        ("KernelLeastSquares.fit", "ridge", "non-negative", None,
         lambda value: widenet.KernelLeastSquares("linear", ridge=value).fit(X, y)),
        ("min_norm_solution", "rcond", "non-negative", None,
         lambda value: widenet.min_norm_solution(A, np.ones(3), rcond=value)),
        ("gradient_descent", "lr", "positive", None,
         lambda value: widenet.regression.least_squares.gradient_descent(A, np.ones(3), np.zeros(2), value, 0)),
        ("limit_kernel", "weight_var", "non-negative", None,
         lambda value: widenet.limit_kernel(X, activation="relu", weight_var=value)),
        ("limit_kernel", "order", "integer", 2,
         lambda value: widenet.limit_kernel(X, activation="tanh", method="quadrature", order=value)),
        ("limit_kernel", "samples", "integer", 2,
         lambda value: widenet.limit_kernel(X, activation="tanh", method="monte_carlo", samples=value, seed=0)),
    ]


# Counts the compiled core takes as int64 (or int): a valid larger integer fails inside
# pybind11 with "incompatible function arguments", naming nothing -- reported, see
# test_huge_counts_are_refused_by_name.
CORE_COUNTS = {("PolynomialKernel", "degree"): 2**31 - 1,  # an int in the core; other counts are int64
               ("limit_kernel", "order"): 64}  # nodes per panel: more gain nothing in float64
COSTLY = {("ShallowNetwork.train", "steps"), ("polynomial_features", "degree"), ("rbf_features", "order"),
          ("limit_kernel", "order"), ("limit_kernel", "samples")}
GD_MATRIX = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]])


SCALAR_CALLS = _scalar_calls()


@budget(2)
@given(data=st.data())
def test_scalar_arguments(data):
    """Every scalar argument (step sizes, counts, kernel and solver hyper-parameters) with
    hostile values: ints, floats, bools, numpy scalars, 0-d and 1-element arrays, strings,
    None, complex, NaN, Inf, 10**400, 1e300, subnormals, fractions."""
    count("scalar arguments")
    entry, name, kind, minimum, call = data.draw(st.sampled_from(SCALAR_CALLS), label="argument")
    value = data.draw(hostile_scalar(kind), label=f"{entry}({name}=...)")
    expectation = expect_scalar(value, name, kind, minimum, maximum=CORE_COUNTS.get((entry, name), 2**63 - 1))
    if value is None and (name in ("width_chunk", "rcond") or (entry, name) == ("limit_kernel", "order")):
        expectation = Expect(None)  # None: automatic, the default
    if expectation.valid and kind == "integer" and expectation.value is not None and expectation.value > 8:
        assume((entry, name) not in COSTLY)  # valid, but 2**40 steps take too long here
    if expectation.valid and entry == "gradient_descent":
        # GD on |Aw - y|^2 diverges from lr = 1/s_max(A)^2 on: refused, naming lr.
        if expectation.value >= 1.0 / np.linalg.norm(GD_MATRIX, 2) ** 2:
            expectation = Expect(errors=[(ValueError, "^lr: ")])
    warnings_allowed = (UserWarning,) if entry == "gradient_descent" else ()
    outcome = call_checked(lambda: call(value), {name: value} if isinstance(value, np.ndarray) else {},
                           [expectation], warnings_allowed)
    if outcome is not None:
        assert not outcome[1], [str(w.message) for w in outcome[1]]


# --------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------

KERNEL_FACTORIES = {
    "linear": lambda draw: widenet.LinearKernel(),
    "polynomial": lambda draw: widenet.PolynomialKernel(degree=draw(st.integers(1, 4)),
                                                       coef0=draw(st.sampled_from((0.0, 1.0, 0.5))),
                                                       gamma=draw(st.sampled_from((1.0, 0.5)))),
    "rbf": lambda draw: widenet.RBFKernel(gamma=draw(st.sampled_from((1.0, 0.3, 5.0)))),
    "laplace": lambda draw: widenet.LaplaceKernel(gamma=draw(st.sampled_from((1.0, 0.3)))),
}


def kernel_dtype(value) -> np.dtype:
    """The kernels compute in float32 for a float32 array (native byte order), else float64."""
    try:
        array = np.asarray(value.data if isinstance(value, np.ma.MaskedArray) else value)
    except ValueError:
        return np.dtype(np.float64)
    return np.dtype(np.float32) if array.dtype == np.float32 else np.dtype(np.float64)


def kernel_bounds(kernel, X1: np.ndarray, X2: np.ndarray, rtol: float) -> np.ndarray:
    """Per-entry rounding bounds of the classic kernels computed through inner products:
    ``|x.z| <= |x||z|``; the squared distance ``|x|^2 + |z|^2 - 2 x.z`` carries an error
    ``rtol (|x|^2 + |z|^2)``, which Laplace's square root amplifies to its square root."""
    with np.errstate(all="ignore"):
        n1 = np.sum(X1.astype(np.float64) ** 2, axis=1)[:, None]
        n2 = np.sum(X2.astype(np.float64) ** 2, axis=1)[None, :]
        largest = float(np.finfo(X1.dtype).max)  # beyond it the computation overflows
        n1, n2 = np.where(n1 > largest, INF, n1), np.where(n2 > largest, INF, n2)
        if kernel.kind == "linear":
            return rtol * np.sqrt(n1 * n2)
        if kernel.kind == "polynomial":
            base = kernel.gamma * np.sqrt(n1 * n2) + kernel.coef0
            return 2 * rtol * kernel.degree * base**kernel.degree
        if kernel.kind == "rbf":
            return kernel.gamma * rtol * (n1 + n2) + rtol  # and the rounding of K <= 1 itself
        return kernel.gamma * np.sqrt(rtol * (n1 + n2)) + rtol


@budget(2)
@given(data=st.data())
def test_classic_kernels(data):
    """LinearKernel, PolynomialKernel, RBFKernel and LaplaceKernel: ``kernel(X1)``,
    ``kernel(X1, X1)``, ``kernel(X1, X2)`` and ``kernel.diag(X)`` on hostile inputs, both
    backends, against reference.kernel_gram / kernel_diag."""
    count("classic kernels")
    kind = data.draw(st.sampled_from(tuple(KERNEL_FACTORIES)), label="kernel")
    kernel = KERNEL_FACTORIES[kind](data.draw)
    backend = data.draw(st.sampled_from(("cpp", "numpy")), label="backend")
    form = data.draw(st.sampled_from(("symmetric", "same", "pair", "diag")), label="form")
    d = data.draw(st.integers(1, 3), label="d")
    first = "X" if form == "diag" else "X1"
    X1 = data.draw(hostile((data.draw(st.integers(1, 4)), d)), label=first)
    dtype = kernel_dtype(X1)
    e1 = expect_array(X1, first, dtype, 2)
    arguments, expectations = {first: X1}, [e1]
    if form == "pair":
        X2 = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X2")
        arguments["X2"] = X2
        # X2 is computed in X1's dtype (and refused by name if it does not fit)
        expectations.append(expect_array(X2, "X2", dtype if e1.valid else kernel_dtype(X2), 2,
                                         columns=e1.value.shape[1] if e1.valid else None))
    calls = {"symmetric": lambda: kernel(X1, backend=backend), "same": lambda: kernel(X1, X1, backend=backend),
             "pair": lambda: kernel(X1, arguments.get("X2"), backend=backend),
             "diag": lambda: kernel.diag(X1, backend=backend)}
    outcome = call_checked(calls[form], arguments, expectations)
    if outcome is None:
        return
    result, caught = outcome
    Xc = e1.value
    rtol = rounding(dtype, d)
    hyper = (kernel.kind, kernel.gamma, kernel.degree, kernel.coef0)
    if form == "diag":
        expected = reference_call(reference.kernel_diag, Xc, *hyper)
        bound = np.diagonal(kernel_bounds(kernel, Xc, Xc, rtol)) if kind in ("linear", "polynomial") else 0.0
    else:
        X2c = expectations[1].value.astype(dtype) if form == "pair" else Xc
        expected = reference_call(reference.kernel_gram, Xc, X2c, *hyper)  # X2c is Xc: symmetric
        bound = kernel_bounds(kernel, Xc, X2c, rtol)
    assert_equivalent(result, expected, bound + tiny(dtype), f"{kind} {form}", dtype)
    assert_warnings(caught, backend, expected)


# --------------------------------------------------------------------------------------
# pure-numpy entry points: the same function on the clean converted input
# --------------------------------------------------------------------------------------


def same_outcome(call, clean_call, arguments: dict, expectations: list, tolerance: float = 1e-12,
                 allowed_warnings=(), project=lambda result: result):
    """For an entry point written in numpy: the call on the hostile arguments behaves
    exactly as on their clean conversions -- the same exception and message, or results
    equal within ``tolerance`` relative to their largest finite magnitude (the same
    arithmetic on possibly differently aligned memory)."""
    outcome = call_checked(call, arguments, expectations, allowed_warnings)
    if outcome is None:
        return None
    result, caught = outcome
    with warnings.catch_warnings(record=True) as clean_caught:
        warnings.simplefilter("always")
        try:
            expected = clean_call()
        except Exception as error:  # noqa: BLE001
            raise AssertionError(f"the call succeeded, its clean twin raised {error!r}") from error
    clean_caught = [w for w in clean_caught if not issubclass(w.category, allowed_warnings)]
    assert len(caught) == len(clean_caught), ([str(w.message) for w in caught], [str(w.message) for w in clean_caught])
    for got, want in zip(_flatten(project(result)), _flatten(project(expected)), strict=True):
        want, slack = np.asarray(want), tiny(np.float64)
        if np.asarray(got).dtype == np.float32 and want.dtype == np.float64:
            # a float32 result is the float64 one rounded once: inf beyond float32's range,
            # coarser among its subnormals
            with np.errstate(over="ignore"):
                want = want.astype(np.float32)
            slack = tiny(np.float32)
        with np.errstate(all="ignore"):
            magnitude = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0)) if want.dtype.kind in "fc" else 0
        assert_equivalent(got, want, tolerance * magnitude + slack)
    return result, expected, caught


def _flatten(result):
    if isinstance(result, (tuple, list)):
        for item in result:
            yield from _flatten(item)
    elif isinstance(result, dict):
        for key in sorted(result):
            yield from _flatten(result[key])
    elif hasattr(result, "__dataclass_fields__"):
        for key in result.__dataclass_fields__:
            yield from _flatten(getattr(result, key))
    elif result is not None and not isinstance(result, str):
        yield result


def raises_like(clean_call):
    """Runs the clean twin first: if it raises (a valid-looking input the function refuses
    on its values, e.g. two equal points), the hostile call must raise the same."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean_call()
    except Exception as error:  # noqa: BLE001 - whatever it is, the hostile call must raise it too
        return Expect(errors=[(type(error), "^" + re.escape(str(error).split(",")[0]))])
    return Expect()


@budget(1.5)
@given(data=st.data())
def test_least_squares(data):
    """min_norm_solution(A, y) and least_squares.gradient_descent(A, y, w0, lr, steps) with
    hostile A, y (1-D or 2-D) and w0."""
    count("least squares")
    m, d = data.draw(st.integers(1, 4), label="m"), data.draw(st.integers(1, 3), label="d")
    targets = data.draw(st.sampled_from(((), (2,))), label="targets")
    A = data.draw(hostile((m, d)), label="A")
    y = data.draw(hostile((m,) + targets), label="y")
    eA = expect_array(A, "A", np.float64, 2, min_columns=1)
    ey = expect_array(y, "y", np.float64, (1, 2), rows=eA.value.shape[0] if eA.valid else None, min_columns=1)
    arguments, expectations = {"A": A, "y": y}, [eA, ey]
    if data.draw(st.booleans(), label="gradient descent"):
        columns = eA.value.shape[1] if eA.valid else d
        shape = (columns,) + (ey.value.shape[1:] if ey.valid else targets)
        w0 = data.draw(hostile(shape), label="w0")
        ew = expect_array(w0, "w0", np.float64, len(shape), rows=shape[0],
                          columns=shape[1] if len(shape) == 2 else None)
        arguments["w0"] = w0
        expectations.append(ew)
        fraction = data.draw(st.sampled_from((0.3, 1.0, 1.5, 2.5)), label="lr / max_step")
        steps = data.draw(st.integers(0, 3), label="steps")
        lr = 0.1
        if eA.valid:
            with np.errstate(all="ignore"):
                bound = widenet.regression.least_squares.max_step(eA.value)
            lr = fraction * bound if np.isfinite(bound) and 0 < fraction * bound < INF else 0.1
            if lr >= 2 * bound:
                expectations.append(Expect(errors=[(ValueError, "^lr: ")]))
        gd = widenet.regression.least_squares.gradient_descent
        same_outcome(lambda: gd(A, y, w0, lr, steps),
                     lambda: gd(eA.value, ey.value, expectations[2].value, lr, steps),
                     arguments, expectations, allowed_warnings=(UserWarning,))
    else:
        same_outcome(lambda: widenet.min_norm_solution(A, y), lambda: widenet.min_norm_solution(eA.value, ey.value),
                     arguments, expectations)


@budget(2)
@given(data=st.data())
def test_estimators(data):
    """MinNormLeastSquares and KernelLeastSquares fit / predict / score with hostile X, y
    and prediction points (object arrays of numbers are converted, complex data is a
    ValueError, as in scikit-learn). A float32 X is fitted in float32, and the prediction
    points are converted to the fitted dtype."""
    count("estimators")
    if data.draw(st.booleans(), label="kernel estimator"):
        kernel = data.draw(st.sampled_from(("linear", "polynomial", "rbf", "laplace")), label="kernel")
        ridge = data.draw(st.sampled_from((0.0, 0.1)), label="ridge")

        def make():
            return widenet.KernelLeastSquares(kernel, degree=2, ridge=ridge)
    else:
        intercept = data.draw(st.booleans(), label="fit_intercept")

        def make():
            return widenet.MinNormLeastSquares(fit_intercept=intercept)
    m, d = data.draw(st.integers(1, 4), label="m"), data.draw(st.integers(1, 3), label="d")
    X = data.draw(hostile((m, d)), label="X")
    y = data.draw(hostile((m,) + data.draw(st.sampled_from(((), (2,))))), label="y")
    options = dict(objects=True, complex_error=ValueError)
    eX = expect_array(X, "X", kernel_dtype(X), 2, min_columns=1, **options)
    ey = expect_array(y, "y", np.float64, (1, 2), rows=eX.value.shape[0] if eX.valid else None, min_columns=1,
                      **options)
    columns = eX.value.shape[1] if eX.valid else d
    X_new = data.draw(hostile((data.draw(st.integers(1, 3)), columns)), label="X_new")
    e_new = expect_array(X_new, "X_new", eX.value.dtype if eX.valid else np.float64, 2, min_columns=1, **options)
    if e_new.valid and eX.valid and e_new.value.shape[1] != columns:
        e_new = Expect(errors=[(ValueError, r"^X has \d+ features")])
    e_new.errors = [(kind, pattern.replace("^X_new: ", "^X: ")) for kind, pattern in e_new.errors]

    def fitted_twin():
        return make().fit(eX.value, ey.value)

    if eX.valid and ey.valid:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted_twin()
        except (ValueError, TypeError):
            pass
        expectations = [eX, ey, raises_like(fitted_twin)]
    else:
        expectations = [eX, ey]
    fitted = ("coef_", "intercept_", "dual_coef_", "X_fit_", "rank_", "n_features_in_")
    outcome = same_outcome(lambda: make().fit(X, y), fitted_twin, {"X": X, "y": y}, expectations,
                           project=lambda estimator: [getattr(estimator, name) for name in fitted
                                                      if hasattr(estimator, name)])
    if outcome is None:
        return
    estimator, twin, _ = outcome
    same_outcome(lambda: estimator.predict(X_new), lambda: twin.predict(e_new.value), {"X_new": X_new}, [e_new])


# --------------------------------------------------------------------------------------
# infinite-width kernels, linearization, linear models, feature maps
# --------------------------------------------------------------------------------------


@budget(1.5)
@given(data=st.data())
def test_limit_kernel(data):
    """limit_kernel(X1, X2, ...) on hostile X1, X2: closed forms and quadrature, both
    backends, against reference.limit_kernels.limit_kernel; a Monte Carlo estimate equals
    the same estimate on the converted input."""
    count("limit kernel")
    activation = data.draw(st.sampled_from(ACTIVATIONS), label="activation")
    method = data.draw(st.sampled_from(("auto", "quadrature", "monte_carlo")), label="method")
    options = dict(activation=activation, parametrization=data.draw(st.sampled_from(("lecun", "ntk"))),
                   kind=data.draw(st.sampled_from(("ntk", "nngp"))), weight_var=data.draw(st.sampled_from((1.0, 2.0))),
                   bias_var=data.draw(st.sampled_from((0.0, 0.5))), output_var=1.0,
                   output_bias_var=data.draw(st.sampled_from((0.0, 0.3))), method=method)
    if method == "quadrature":
        options["order"] = 8
    if method == "monte_carlo":
        options.update(samples=64, seed=3)
    else:
        options["backend"] = data.draw(st.sampled_from(("cpp", "numpy")), label="backend")
    d = data.draw(st.integers(1, 3), label="d")
    X1 = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X1")
    e1 = expect_array(X1, "X1", np.float64, 2, min_columns=1)
    arguments, expectations = {"X1": X1}, [e1]
    pair = data.draw(st.booleans(), label="X2")
    if pair:
        X2 = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X2")
        arguments["X2"] = X2
        expectations.append(expect_array(X2, "X2", np.float64, 2, columns=e1.value.shape[1] if e1.valid else None))
    largest = 0.0
    for expect, name in zip(expectations, ("X1", "X2")):
        if expect.valid:  # points whose pre-activation variance overflows are refused by name
            with np.errstate(over="ignore"):
                variance = options["weight_var"] * np.sum(expect.value**2, axis=1) / expect.value.shape[1]
            if not np.isfinite(variance + options["bias_var"]).all():
                expect.errors.append((ValueError, f"^{name}: the pre-activation variance"))
            else:
                largest = max(largest, float(np.max(variance + options["bias_var"])))
    limit = reference.limit_kernels.QUADRATURE_MAX_VARIANCE.get(activation, INF)
    if method == "quadrature" and largest > limit and all(expect.valid for expect in expectations):
        # the quadrature of arctan and sin takes bounded variances only (its cost grows with them)
        expectations[0].errors.append((ValueError, "^method: the quadrature of"))
    X2 = arguments.get("X2")
    if method == "monte_carlo":
        same_outcome(lambda: widenet.limit_kernel(X1, X2, **options),
                     lambda: widenet.limit_kernel(e1.value, expectations[-1].value if pair else None, **options),
                     arguments, expectations, tolerance=1e-12)
        return
    outcome = call_checked(lambda: widenet.limit_kernel(X1, X2, **options), arguments, expectations)
    if outcome is None:
        return
    result, caught = outcome
    X1c = e1.value
    X2c = expectations[1].value if pair else X1c
    reference_options = {k: v for k, v in options.items() if k not in ("backend",)}
    expected = reference_call(reference.limit_kernels.limit_kernel, X1c, X2c, **reference_options)
    # |K(x, z)| <= sqrt(K(x, x) K(z, z)) for these positive semidefinite kernels; the closed
    # forms take an arccos (arcsin) of the correlation, which has a square-root singularity
    # at +-1: one rounding of a correlation near 1 moves the kernel by ~sqrt(eps).
    with np.errstate(all="ignore"):
        diag1 = np.abs(np.diagonal(reference_call(reference.limit_kernels.limit_kernel, X1c, X1c,
                                                  **reference_options)))
        diag2 = diag1 if not pair else np.abs(np.diagonal(reference_call(
            reference.limit_kernels.limit_kernel, X2c, X2c, **reference_options)))
        scale = np.sqrt(np.outer(diag1, diag2)) + 1.0
        scale = np.where(np.isnan(scale), INF, scale)
    assert_equivalent(result, expected, 1e-7 * scale, f"{activation} {method}", np.float64)
    assert_warnings(caught, options["backend"], expected)


LINEARIZED = ("forward", "ntk", "loss", "train", "iterate", "flow")


@budget(1.5)
@given(data=st.data())
def test_linearized_network(data):
    """linearize(network).forward / ntk / loss / train (closed form and iterated) / flow on
    hostile X, y and X_test; the reference is the numpy backend on the converted input."""
    count("linearized network")
    net = data.draw(networks(max_width=3), label="net")
    dtype, d = net.dtype, net.input_dim
    method = data.draw(st.sampled_from(LINEARIZED), label="method")
    backend = data.draw(st.sampled_from(("cpp", "numpy")), label="backend")
    m = data.draw(st.integers(1, 3), label="m")
    first = "X1" if method == "ntk" else "X"
    X = data.draw(hostile((m, d)), label=first)
    eX = expect_array(X, first, dtype, 2, columns=d)
    arguments, expectations = {first: X}, [eX]
    if method != "forward" and method != "ntk":
        y = data.draw(hostile((m,)), label="y")
        arguments["y"] = y
        expectations.append(expect_targets(y, dtype, eX.value.shape[0] if eX.valid else None))
    X_test = None
    if method in ("train", "iterate", "flow") and data.draw(st.booleans(), label="with X_test"):
        X_test = data.draw(hostile((2, d)), label="X_test")
        arguments["X_test"] = X_test
        expectations.append(expect_array(X_test, "X_test", dtype, 2, columns=d))
    model, twin = widenet.linearize(net), widenet.linearize(net)
    y = arguments.get("y")
    steps, lr = data.draw(st.integers(0, 3), label="steps"), 0.01
    times = [0.0, 0.5]

    def run(lin, X, y, X_test, backend):
        if method == "forward":
            return lin.forward(X, backend=backend)
        if method == "ntk":
            return lin.ntk(X, backend=backend)
        if method == "loss":
            return lin.loss(X, y, backend=backend)
        if method == "flow":
            result = lin.flow(X, y, times, X_test=X_test, backend=backend)
        else:
            result = lin.train(X, y, lr, steps, X_test=X_test, backend=backend,
                               method="iterate" if method == "iterate" else "closed_form")
        return [result.losses, result.distances, result.train_outputs, result.test_outputs,
                lin.params.to_vector()]

    start = model.params.to_vector()
    if all(e.valid for e in expectations):
        clean = [e.value for e in expectations] + [None] * (3 - len(expectations))
        # whatever the numpy twin raises on the same clean input (a DivergenceError when
        # GD overflows), the compiled backend must raise alike
        expectations.append(raises_like(lambda: run(widenet.linearize(net), clean[0],
                                                    clean[1] if "y" in arguments else None,
                                                    clean[2] if X_test is not None else None, "numpy")))
    outcome = call_checked(lambda: run(model, X, y, X_test, backend), arguments, expectations)
    if outcome is None:
        np.testing.assert_array_equal(model.params.to_vector(), start)
        return
    result, caught = outcome
    clean = [e.value for e in expectations] + [None] * (3 - len(expectations))
    Xc = clean[0]
    yc = clean[1] if "y" in arguments else None
    X_testc = clean[2] if X_test is not None else None
    expected = reference_call(run, twin, Xc, yc, X_testc, "numpy")
    F, G = term_bounds(net, Xc)
    rtol = rounding(dtype, net.width + d)
    if method == "forward":
        assert_equivalent(result, expected, rtol * F + tiny(dtype), method, dtype)
    elif method == "ntk":
        assert_equivalent(result, expected, rtol * np.outer(G, G) + tiny(dtype), method, dtype)
    else:
        with np.errstate(all="ignore"):
            loss_terms = float(np.sum((F + np.abs(yc)) ** 2))
            output_terms = float(np.max(F))
            test_terms = output_terms if X_testc is None else float(np.max(term_bounds(net, X_testc)[0]))
        if method == "loss":
            assert_records(result, expected, dtype, net.width + d + m, method, floor=loss_terms)
        else:
            exact = determined(net, Xc) and (X_testc is None or determined(net, X_testc))
            with np.errstate(all="ignore"):
                step_terms = 1.0 + (lr * (steps + 1) + max(times)) * float(np.sum(2 * (2 * F + np.abs(yc)) * G))
                moved = output_terms + float(np.max(np.abs(yc))) + step_terms * float(np.max(G))
                tested = test_terms + step_terms * (float(np.max(term_bounds(net, X_testc)[1]))
                                                    if X_testc is not None else 0.0)
            floors = (loss_terms, step_terms, moved, tested, step_terms)
            for label, got, want, floor in zip(("losses", "distances", "train_outputs", "test_outputs", "params"),
                                               result, expected, floors):
                if want is None:
                    assert got is None, label
                else:
                    assert_records(got, want, dtype, (net.width + d + m) * (steps + 2), label, exact, floor)
    assert_warnings(caught, backend, expected)


@budget(1)
@given(data=st.data())
def test_linear_models(data):
    """LinearModel and FeatureModel forward / jacobian / ntk / ntk_diag, and their
    linearization, on hostile X: the same outcome as on the converted input, and no result
    aliases the caller's array."""
    count("linear models")
    d = data.draw(st.integers(1, 3), label="d")
    if data.draw(st.booleans(), label="feature model"):
        degree = data.draw(st.integers(1, 2))
        size = widenet.polynomial_features(np.zeros((1, d)), degree).shape[1]
        model = widenet.FeatureModel(lambda X: widenet.polynomial_features(X, degree), np.linspace(-1, 1, size))
        name = "X"
    else:
        bias = data.draw(st.booleans(), label="bias")
        model = widenet.LinearModel(d, bias=bias, weights=np.linspace(-1, 1, d + bias))
        name = "X"
    method = data.draw(st.sampled_from(("forward", "jacobian", "ntk", "ntk_diag", "linearized")), label="method")
    X = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X")
    e = expect_array(X, name, np.float64, 2, columns=d if isinstance(model, widenet.LinearModel) else None,
                     min_rows=1 if isinstance(model, widenet.LinearModel) else 0)
    if isinstance(model, widenet.FeatureModel) and e.valid:
        expectation = raises_like(lambda: model.forward(e.value))
        e = expectation if not expectation.valid else e

    def call(X):
        if method == "linearized":
            return widenet.linearize(model).forward(X)
        return getattr(model, method)(X)

    same_outcome(lambda: call(X), lambda: call(e.value), {"X": X}, [e])


FEATURE_MAPS = {
    "quadratic_features": (lambda X, gamma: widenet.quadratic_features(X), 2),
    "polynomial_features": (lambda X, gamma: widenet.polynomial_features(X, 3, coef0=gamma), None),
    "rbf_features": (lambda X, gamma: widenet.rbf_features(X, gamma + 0.5, 3), None),
    "separating_features": (lambda X, gamma: widenet.separating_features(X, gamma=None if gamma == 0 else gamma),
                            None),
}


@budget(1)
@given(data=st.data())
def test_feature_maps(data):
    """quadratic_features, polynomial_features, rbf_features and separating_features on
    hostile X: the same outcome as on the converted input (values, errors, warnings)."""
    count("feature maps")
    name = data.draw(st.sampled_from(tuple(FEATURE_MAPS)), label="map")
    feature_map, columns = FEATURE_MAPS[name]
    gamma = data.draw(st.sampled_from((0.0, 1.0)), label="gamma / coef0")
    d = columns or data.draw(st.integers(1, 3), label="d")
    X = data.draw(hostile((data.draw(st.integers(1, 3)), d)), label="X")
    argument = "X_train" if name == "separating_features" else "X"
    e = expect_array(X, argument, np.float64, 2, columns=columns)
    if e.valid:
        expectation = raises_like(lambda: feature_map(e.value, gamma))
        e = expectation if not expectation.valid else e
    same_outcome(lambda: feature_map(X, gamma), lambda: feature_map(e.value, gamma), {argument: X}, [e])


# --------------------------------------------------------------------------------------
# what the properties found, each fixed and pinned here as an example
# --------------------------------------------------------------------------------------


@pytest.fixture
def net32():
    return widenet.ShallowNetwork(2, 3, "tanh", bias_var=0.5, seed=0, dtype=np.float32)


@pytest.fixture
def net64():
    return widenet.ShallowNetwork(2, 3, "tanh", bias_var=0.5, seed=0)


FIXED = {
    # values a float32 network cannot hold: refused by name, not a RuntimeWarning then "NaN or Inf"
    "float32 overflow": (lambda net: net["32"].forward(np.array([[1e300, 0.0]])), ValueError,
                         r"^X: expected values within the range of float32 .*got 1e\+300 at index \(0, 0\)"),
    "long double overflow": (lambda net: net["64"].forward(np.full((1, 2), np.longdouble("1e400"))), ValueError,
                             "^X: expected values within the range of float64"),
    "c overflow": (lambda net: setattr(net["32"].params, "c", 1e300), ValueError,
                   "^c: expected a finite number within the range of float32"),
    "ragged list": (lambda net: net["64"].forward([[1.0, 2.0], [3.0]]), ValueError,
                    "^X: expected a rectangular array of numbers, got a list"),
    "masked array": (lambda net: net["64"].forward(np.ma.masked_array(np.ones((2, 2)), mask=[[1, 0], [0, 0]])),
                     TypeError, "^X: expected a plain array, got a masked array"),
    "masked array (estimator)": (lambda net: widenet.MinNormLeastSquares().fit(
        np.ma.masked_array(np.ones((2, 1)), mask=[[1], [0]]), np.ones(2)), TypeError, "^X: expected a plain array"),
    "masked targets (least squares)": (lambda net: widenet.min_norm_solution(np.ones((2, 1)), np.ma.masked_array(
        np.ones(2), mask=[1, 0])), TypeError, "^y: expected a plain array"),
    "ragged list (estimator)": (lambda net: widenet.KernelLeastSquares().fit([[1.0], [2.0, 3.0]], [1.0, 2.0]),
                                ValueError, "^X: expected a rectangular array"),
    "NaN position": (lambda net: net["64"].forward(np.array([[0.0, 1.0], [np.nan, 2.0]])), ValueError,
                     r"^X: contains NaN or Inf \(first at index \(1, 0\): nan\)"),
    "huge Python int lr": (lambda net: net["64"].train(np.ones((1, 2)), np.ones(1), 10**400, 0), ValueError,
                           "^lr: expected a finite positive number"),
    "huge Python int variance": (lambda net: widenet.ShallowNetwork(2, 3, weight_var=10**400), ValueError,
                                 "^weight_var: expected a finite non-negative number"),
    "huge Python int c": (lambda net: setattr(net["32"].params, "c", 10**40), ValueError,
                          "^c: expected a finite number within the range of float32"),
    "max_step overflow": (lambda net: widenet.regression.least_squares.gradient_descent(
        np.array([[1e300]]), np.ones(1), np.zeros(1), 0.1, 1), ValueError, "^lr: GD on"),
}


@pytest.mark.parametrize("case", list(FIXED))
def test_found_and_fixed(case, net32, net64):
    call, error, message = FIXED[case]
    with pytest.raises(error, match=message):
        call({"32": net32, "64": net64})


def test_accepted_forms(net64):
    """Forms the layer accepts (found refused or mishandled before): 0-d arrays and numpy
    scalars as scalars, size-1 arrays for c, non-native byte order, zero strides."""
    X, y = np.array([[0.5, -1.0]]), np.array([0.25])
    net64.train(X, y, np.array(0.01), 1)
    net64.train(X, y, np.float32(0.01), np.array(1))
    widenet.ShallowNetwork(2, 3, weight_var=np.array(2.0), bias_var=Fraction(1, 2))
    net64.params.c = np.array([[0.5]])
    assert net64.params.c == 0.5
    swapped = np.array([[0.5, -1.0]], dtype=np.dtype(np.float64).newbyteorder())
    np.testing.assert_array_equal(net64.forward(swapped), net64.forward(X))
    np.testing.assert_array_equal(net64.forward(np.broadcast_to(X, (3, 2))), np.repeat(net64.forward(X), 3))


def test_distance_kernels_with_overflowing_norms():
    """classic_kernels.hpp: |x|^2 = inf made |x|^2 + |z|^2 - 2 x.z NaN, so K(x, x) was NaN
    and so were pairs of huge points. Such entries are now recomputed from x - z, in both
    backends: 1 on the diagonal, exp(-gamma |x - z|) elsewhere (0 here)."""
    X = np.array([[1e300], [0.0], [2e300], [1e300]])
    for kernel in (widenet.RBFKernel(), widenet.LaplaceKernel()):
        expected = (X == X.T).astype(float)
        for backend in ("cpp", "numpy"):
            np.testing.assert_array_equal(kernel(X, backend=backend), expected)
            np.testing.assert_array_equal(kernel(X, X.copy(), backend=backend), expected)


def test_laplace_float32_overflowing_distances():
    """classic_kernels.hpp, Laplace in float32: where the squared distance overflows to
    inf, the vectorised lanes gave NaN (a sqrt of inf through a reciprocal square root)
    while a scalar tail lane gave 0; the numpy backend gives 0 everywhere, now both do."""
    X1, X2 = np.zeros((1, 1), np.float32), np.array([[3e38], [0.0], [0.0], [0.0], [-3e38]], np.float32)
    for backend in ("cpp", "numpy"):
        np.testing.assert_array_equal(widenet.LaplaceKernel()(X1, X2, backend=backend), [[0, 1, 1, 1, 0]])


def test_kernel_X2_range():
    """kernels._pair validated X2 as float64 and then cast it to X1's float32: 1e300
    became Inf (with a RuntimeWarning) instead of a ValueError naming X2."""
    with pytest.raises(ValueError, match="^X2: expected values within the range of float32"):
        widenet.LinearKernel()(np.ones((1, 1), np.float32), np.array([[1e300]]))


@pytest.mark.parametrize("X", [[[1.0, 2.0], [3.0]], np.ma.masked_array(np.ones((2, 1)), mask=[[1], [0]])],
                         ids=["ragged", "masked"])
def test_kernels_name_ragged_and_masked_inputs(X):
    """kernels._as_points called np.asarray before the validation layer: a ragged list got
    numpy's own ValueError (no argument named) and a masked array's mask was dropped."""
    with pytest.raises((ValueError, TypeError), match="^X1: expected a"):
        widenet.RBFKernel()(X)


def test_kernel_estimator_with_a_huge_point():
    """KernelLeastSquares.fit with a point of norm 1e300: the RBF Gram was NaN on that
    diagonal and numpy's eigh raised LinAlgError naming nothing. The Gram is now exact
    (that point is orthogonal to the others), so the fit interpolates."""
    X, y = np.array([[1e300], [0.0], [1.0]]), np.array([1.0, 2.0, 3.0])
    model = widenet.KernelLeastSquares("rbf").fit(X, y)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-12)


def test_object_overflow():
    """estimators._as_real_array converted object arrays with astype(float64) and caught
    TypeError and ValueError only: a Python int beyond float64 escaped as OverflowError."""
    with pytest.raises(ValueError, match="^X: expected numbers within the range of float64"):
        widenet.MinNormLeastSquares().fit(np.array([[10**400], [1]], dtype=object), np.ones(2))


@pytest.mark.parametrize("call", [
    lambda net: net.train(np.ones((1, 2)), np.ones(1), 0.01, 2**63, record_every=2**62),
    lambda net: net.train(np.ones((1, 2)), np.ones(1), 0.01, 1, record_every=10**400),
    lambda net: net.ntk(np.ones((1, 2)), width_chunk=2**63),
    lambda net: widenet.PolynomialKernel(degree=2**31)(np.ones((1, 2))),
], ids=["steps", "record_every", "width_chunk", "degree"])
def test_huge_counts_are_refused_by_name(call, net64):
    """Counts beyond the compiled core's int64 (int for degree) passed check.integer and
    failed in pybind11 with "incompatible function arguments", naming nothing."""
    with pytest.raises(ValueError, match="^(steps|record_every|width_chunk|degree): expected an integer <="):
        call(net64)


def test_rbf_features_with_huge_gamma():
    """feature_maps.rbf_features: (2 gamma)^|a| overflowed and exp(-gamma |x|^2) underflowed,
    and 0 * inf is NaN; the features of exp(-1e300 |x - z|^2) are 0, or 1 (the constant
    feature) at x = 0. Such entries are now computed through logarithms."""
    features = widenet.rbf_features(np.array([[1.0], [0.0]]), 1e300, 2)
    np.testing.assert_array_equal(features, [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])


def test_rbf_features_by_logs_equal_the_direct_product():
    """The logarithmic route agrees with the direct product where both are finite."""
    from widenet.kernels.feature_maps import _exponents, _rbf_features_by_logs
    X = np.random.default_rng(0).normal(size=(5, 2)) * [1.0, 3.0]
    np.testing.assert_allclose(_rbf_features_by_logs(X, 0.7, _exponents(2, 4)), widenet.rbf_features(X, 0.7, 4),
                               rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("call", [
    lambda: widenet.ShallowNetwork(2, 1, "relu", seed=0).train(np.array([[1e300, 0.0]]), np.zeros(1), 0.001, 1),
    lambda: widenet.linearize(widenet.ShallowNetwork(1, 1, "relu", seed=0, dtype=np.float32)).train(
        np.array([[3e38]], np.float32), np.zeros(1), 0.01, 1),
], ids=["network", "linearized"])
def test_training_overflow_is_a_divergence(call):
    """GD whose loss overflows (inputs of 1e300, or near 3e38 in float32) stops with a
    DivergenceError -- found first as "U: contains NaN or Inf" from Parameters, before
    divergence detection landed."""
    with pytest.raises(widenet.DivergenceError, match="^gradient descent diverged at step"):
        call()


def test_float32_variance_overflow_names_the_variance():
    """ShallowNetwork(weight_var=1e300, dtype=float32): the float64 draws scaled by
    sqrt(1e300) overflow float32 and were refused as "U: expected values within the range
    of float32", naming the block, not the argument weight_var."""
    with pytest.raises(ValueError, match="^weight_var: the initial weights drawn with variance 1e"):
        widenet.ShallowNetwork(2, 3, weight_var=1e300, dtype=np.float32)


def test_reference_activation_tails():
    """reference/activations.py: sigmoid = (1 + tanh(z/2)) / 2 and the gelu's normal CDF
    (1 + erf(z/sqrt 2)) / 2 cancelled in the left tail (sigmoid(-40) was 0, not 4.2e-18),
    and tanh' = 1 - tanh^2 in both tails. Compared with closed forms in exact exponentials."""
    z = np.array([-40.0, -10.0, 10.0, 40.0])
    np.testing.assert_allclose(reference.activation("sigmoid", z), 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(reference.activation_derivative("tanh", z), 1 / np.cosh(z) ** 2, rtol=1e-13)
    # Phi(-10) = erfc(10 / sqrt 2) / 2 = 7.619853024160527e-24
    np.testing.assert_allclose(reference.activation("gelu", np.array([-10.0])), [-10 * 7.619853024160527e-24],
                               rtol=1e-14)


def test_gradient_overflow_names_the_input():
    """ShallowNetwork.loss_grad: a gradient that overflows (an input of 1e300) was wrapped
    in Parameters, which refused it as "U: contains NaN or Inf", a block the user never
    passed. It now names X."""
    net = widenet.ShallowNetwork(2, 1, "relu", seed=0)
    with pytest.raises(ValueError, match="^X: the loss or its gradient overflows float64"):
        net.loss_grad(np.array([[1e300, 0.0]]), np.zeros(1))


@pytest.mark.parametrize("name", ["input_dim", "width"])
def test_huge_sizes_are_refused_by_name(name):
    """ShallowNetwork(input_dim=10**400): check.integer accepted it (no maximum) and numpy
    failed with "Maximum allowed dimension exceeded", naming nothing."""
    with pytest.raises(ValueError, match=f"^{name}: "):
        widenet.ShallowNetwork(**{"input_dim": 2, "width": 3, name: 10**400})


def test_pullback_overflow():
    """gradient.hpp, pullback: ``diag(g) X`` is formed first, so for float32 inputs near 3e38
    g_k x_kj overflowed and (diag(g) X)^T sigma'(Z) was inf * 0 = NaN, while the gradient
    (g v sigma'(Z))^T X is 0 (the numpy reference's order). The core now falls back to that
    order when the fast one is not finite."""
    net = widenet.ShallowNetwork(1, 1, "tanh", seed=0, dtype=np.float32)
    X, y = np.array([[3e38]], np.float32), np.zeros(1)
    np.testing.assert_array_equal(net.loss_grad(X, y)[1].U, net.loss_grad(X, y, backend="numpy")[1].U)


@pytest.mark.parametrize("method", ["quadrature", "closed_form", "monte_carlo"])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_limit_kernel_overflowing_variance(method, backend):
    """limit_kernel(X1=[[0]], X2=[[1e300]]): the pre-activation variance of z overflows; the
    compiled quadrature happened to give 0 and the other methods NaN. Now refused by name."""
    with pytest.raises(ValueError, match="^X2: the pre-activation variance .* overflows float64 at row 0"):
        widenet.limit_kernel(np.array([[0.0]]), np.array([[1e300]]), activation="relu", method=method,
                             backend=backend)


def test_divergence_with_overflowing_gram():
    """errors.divergence_error computed the admissible step from eigvalsh of the tangent
    Gram at the start; when that Gram overflows (inputs of 1e300) numpy raised
    LinAlgError("Eigenvalues did not converge") instead of the DivergenceError."""
    net = widenet.ShallowNetwork(1, 1, "relu", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(widenet.DivergenceError) as caught:
            net.train(np.array([[0.0], [1e300], [1e300]]), np.zeros(3), 0.001, 0)
    assert caught.value.admissible_lr is None


def test_reference_gelu_at_infinity():
    """reference/activations.py: gelu(-inf) = -inf * Phi(-inf) = -inf * 0 was NaN, and
    gelu'(+-inf) likewise; the limits are 0, and 0 and 1."""
    z = np.array([-np.inf, np.inf])
    np.testing.assert_array_equal(reference.activation("gelu", z), [0.0, np.inf])
    np.testing.assert_array_equal(reference.activation_derivative("gelu", z), [0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_gelu_at_infinity(dtype):
    """Found by the thorough profile: a float32 gelu network on an input of 2**62 overflows
    its pre-activations after one step; the compiled gelu gave NaN at +-inf (inf * 0) where
    the reference gives the limits, so one backend diverged and the other did not."""
    z = np.array([-np.inf, np.inf], dtype)
    value, derivative = widenet._core.activation(z, "gelu")[:2]
    np.testing.assert_array_equal(value, [0.0, np.inf])
    np.testing.assert_array_equal(derivative, [0.0, 1.0])
    net = widenet.ShallowNetwork(1, 1, "gelu", seed=0, dtype=np.float32)
    X, y = np.array([[2.0**62]]), np.zeros(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the numpy twin's overflow warnings
        runs = [copy.deepcopy(net).train(X, y, 0.001, 1, backend=backend, on_divergence="return")
                for backend in ("cpp", "numpy")]
    assert runs[0].diverged_at == runs[1].diverged_at
    np.testing.assert_array_equal(runs[0].losses, runs[1].losses)
