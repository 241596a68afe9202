"""Accuracy of the vectorised activations (cpp/include/widenet/vector_math.hpp and
activations.hpp), through ``_core.activation``.

Errors are in ulps of the exact value (the spacing of the result's dtype at it), against
references computed here in numpy's long double, which is wider than double on x86-64:
numpy's tanh, exp, log1p, arctan, sin and cos in long double, and erf and the normal cdf
from their power series and continued fraction (other formulas than the C++ uses), each
checked first against ``math.erf`` / ``math.erfc``. Where long double is no wider than
double the float64 bounds are not checked (float32 ones are, against double).

gelu' changes sign at z = -0.7518, where Phi + z phi cancels: between -1.5 and -0.25 its
error is counted in ulps of max(|gelu'|, Phi), elsewhere of gelu' itself.

Run as a script for the table of largest errors (both paths: once more with
WIDENET_ELEMENTWISE=baseline)::

    python tests/test_vector_math.py --points 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import widenet
from widenet import _core
from widenet import reference as ref

from conftest import assert_close

FUNCTIONS = ("tanh", "erf", "sigmoid", "softplus", "gelu", "arctan", "sin")
F64, F32 = np.float64, np.float32
LD = np.longdouble
LONG_DOUBLE_IS_WIDER = np.finfo(LD).nmant >= 63

# Largest errors in ulps (value, derivative), a little above the largest measured on 10^6
# points per function, seeds 0 to 2 (portable: 0 to 3), on every path (the tables in vector_math.hpp and, for
# float32, which is evaluated in float, vector_math_float.hpp).
# float64 is checked here on 10^6 points per function and path; float32 on 10^6 in
# test_float_activations.py, on fewer here.
POINTS = {F64: 10**6, F32: 40000}
BOUNDS = {
    ("tanh", F64): (1.2, 1.6), ("tanh", F32): (1.3, 2.1),
    ("erf", F64): (1.4, 1.2), ("erf", F32): (1.6, 1.2),
    ("sigmoid", F64): (1.4, 1.6), ("sigmoid", F32): (1.5, 1.6),
    ("softplus", F64): (1.7, 1.4), ("softplus", F32): (2.4, 1.5),
    ("gelu", F64): (2.5, 3.0), ("gelu", F32): (2.3, 2.1),
    ("arctan", F64): (2.2, 2.3), ("arctan", F32): (2.0, 2.5),
    ("sin", F64): (1.6, 1.6), ("sin", F32): (1.0, 1.0),
}
GELU_ROOT_WINDOW = (-1.5, -0.25)

# -- long-double references ------------------------------------------------------------------
PI = LD("3.14159265358979323846264338327950288")
SQRT_PI = np.sqrt(PI)
SQRT2 = np.sqrt(LD(2))


def _exp_minus_square(x, half=False):
    """e^{-x^2} (e^{-x^2/2} when `half`) for double x: x^2 = h^2 + l (2h + l) with h the
    high 26 bits of x, so that h^2 is exact and rounding x^2 costs nothing."""
    x = np.asarray(x, dtype=F64)
    with np.errstate(over="ignore", invalid="ignore"):
        split = x * 134217729.0
        h = np.where(np.abs(x) < 1e150, split - (split - x), x)
        l = np.where(np.isfinite(x), x.astype(LD) - h.astype(LD), LD(0))
        a, b = h.astype(LD) ** 2, l * (2 * h.astype(LD) + l)
        if half:
            a, b = a / 2, b / 2
        return np.where(a > 20000, LD(0), np.exp(-np.minimum(a, 20000)) * np.exp(-b))


def _erf_series(x):
    """erf(x) e^{x^2} sqrt(pi) / (2x) = sum (2x^2)^n / (2n+1)!!: positive terms, for |x| <= 3."""
    t = 2 * x * x
    term, total = np.ones_like(x), np.ones_like(x)
    for n in range(120):
        term = term * t / (2 * n + 3)
        total = total + term
    return total


def _erfc_fraction(a, e):
    """erfc(a) = e/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))) for a >= 1, e = e^{-a^2}."""
    a = np.maximum(a, 1)
    f = a.copy()
    for k in range(400, 0, -1):
        f = a + (LD(k) / 2) / f
    return e / SQRT_PI / f


def reference_erf(z):
    """erf at double z, in long double."""
    x = np.asarray(z, dtype=F64).astype(LD)
    inner = np.abs(x) <= 3
    xi = np.where(inner, x, LD(0))
    body = 2 * xi / SQRT_PI * _exp_minus_square(np.where(inner, z, 0.0)) * _erf_series(xi)
    with np.errstate(invalid="ignore"):
        tail = 1 - _erfc_fraction(np.abs(x), _exp_minus_square(z))
    return np.where(inner, body, np.copysign(tail, x))


def reference_normal(z):
    """(Phi(z), phi(z)) at double z, in long double, Phi accurate relative to itself."""
    z = np.asarray(z, dtype=F64)
    a = np.abs(z).astype(LD) / SQRT2
    e = _exp_minus_square(z, half=True)  # e^{-a^2}
    inner = a <= 1  # erfc >= 0.157: 1 - erf loses under 3 bits of long double's 64
    ai = np.where(inner, a, LD(0))
    with np.errstate(invalid="ignore"):
        erfc = np.where(inner, 1 - 2 * ai / SQRT_PI * e * _erf_series(ai), _erfc_fraction(a, e))
    return np.where(z < 0, erfc / 2, 1 - erfc / 2), e / np.sqrt(2 * PI)


def exact(name, z, wide=LD):
    """(value, derivative) at z in `wide` (long double, or double for float32 results);
    for gelu also the scale its derivative's error is counted in."""
    x = np.asarray(z).astype(wide)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        if name == "tanh":
            return np.tanh(x), 1 / np.cosh(x) ** 2
        if name in ("sigmoid", "softplus"):
            e = np.exp(-np.abs(x))
            sigmoid = np.where(x >= 0, 1, e) / (1 + e)
            if name == "sigmoid":
                return sigmoid, e / (1 + e) ** 2
            return np.maximum(x, 0) + np.log1p(e), sigmoid
        if name == "arctan":
            return np.arctan(x), 1 / (1 + x * x)
        if name == "sin":
            return np.sin(x), np.cos(x)
        z64 = np.asarray(z, dtype=F64)
        if name == "erf":
            return reference_erf(z64).astype(wide), (2 / SQRT_PI * _exp_minus_square(z64)).astype(wide)
        cdf, pdf = reference_normal(z64)
        return (x * cdf).astype(wide), (cdf + z64.astype(LD) * pdf).astype(wide)


def ulps(got, exact_value, dtype, scale=None):
    """|got - exact| in ulps of dtype at |scale| (default: at the exact value)."""
    at = np.abs(exact_value if scale is None else scale)
    rounded = at.astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        # the spacing of dtype in the binade of `at` (one below where it rounded up to a power of two)
        below = np.nextafter(rounded, dtype(0))
        spacing = np.where(rounded.astype(at.dtype) > at, np.spacing(below), np.spacing(rounded))
        spacing = np.maximum(spacing.astype(at.dtype), np.finfo(dtype).smallest_subnormal)
        error = (np.abs(got.astype(at.dtype) - exact_value) / spacing).astype(F64)
    return error


def errors(name, z, values, derivatives):
    """Errors in ulps of values and derivatives computed at z."""
    dtype = z.dtype.type
    value, derivative = exact(name, z, LD if LONG_DOUBLE_IS_WIDER else F64)
    scale = None
    if name == "gelu":
        cdf = reference_normal(z.astype(F64))[0].astype(derivative.dtype)
        window = (z >= GELU_ROOT_WINDOW[0]) & (z <= GELU_ROOT_WINDOW[1])
        scale = np.where(window, np.maximum(np.abs(derivative), cdf), derivative)
    return ulps(values, value, dtype), ulps(derivatives, derivative, dtype, scale)


# -- points ----------------------------------------------------------------------------------
def _around(values, dtype, steps=3):
    """Each value and its neighbours `steps` ulps either side, in dtype."""
    values = np.asarray(values, dtype=dtype)
    out = [values]
    up = down = values
    for _ in range(steps):
        up, down = np.nextafter(up, dtype(np.inf)), np.nextafter(down, dtype(-np.inf))
        out += [up, down]
    return np.concatenate(out)


def points(name, dtype, count, seed=0):
    """A dense grid, uniform and log-uniform random points and the edges of `name` (branch
    switches, where results turn subnormal or saturate), for results in dtype."""
    rng = np.random.default_rng(seed)
    double = dtype == F64
    low, high = {  # where results are neither saturated nor zero
        "tanh": (-20.0, 20.0) if double else (-9.5, 9.5),
        "erf": (-6.5, 6.5) if double else (-4.5, 4.5),
        "sigmoid": (-746.0, 40.0) if double else (-104.0, 18.0),
        "softplus": (-746.0, 40.0) if double else (-104.0, 18.0),
        "gelu": (-38.8, 10.0) if double else (-14.7, 6.0),
        "arctan": (-100.0, 100.0),
        "sin": (-100.0, 100.0),
    }[name]
    tiny = float(np.finfo(dtype).smallest_subnormal)
    huge = 1e300 if double else 3e38
    magnitudes = np.exp(rng.uniform(np.log(tiny), np.log(huge), count // 4))
    edges = {
        "tanh": [0.55, 19.06, 9.01, 0.5, 1.0, 372.5],
        "erf": [1.0, 6.0, 5.93, 4.0, 3.92, 26.55, 27.3, 27.5, 10.0],
        "sigmoid": [-708.4, -745.13, -745.0, -103.3, -87.3, 36.7, 16.6],
        "softplus": [-708.4, -745.13, -745.0, -103.3, -87.3, 36.7, 16.6, 0.41, -0.88],
        "gelu": [-0.5, 1.0, -26.0, -37.5, -38.0, -38.5, -38.6, -14.0, -14.5, -0.7518, 38.7, 14.6, 40.0],
        "arctan": [0.41421356, 2.41421356, 1.0, 1.3e154, 1e150, 1e19],
        "sin": [0.785398, 65536.0, 1e5],
    }[name]
    edges = np.array(edges)
    extra = []
    if name == "sin":  # the doubles nearest to k pi/2, where the reduction cancels most
        k = np.arange(1, 41722, dtype=LD)
        extra = _around((k * PI / 2).astype(F64), F64, 1)
    with np.errstate(over="ignore"):  # edges beyond float's range become inf
        z = np.concatenate([
            np.linspace(low, high, max(count // 4, 101)), rng.uniform(low, high, count // 4),
            rng.uniform(-3, 3, count // 4), magnitudes, -magnitudes,
            _around(np.concatenate([edges, -edges]), dtype).astype(F64), extra,
            [0.0, tiny, -tiny, float(np.finfo(dtype).tiny), 1e-30],
        ])
        return np.unique(z.astype(dtype))


def measure(name, dtype, count, seed=0):
    z = points(name, dtype, count, seed)
    values, derivatives = _core.activation(z, name)
    e_value, e_derivative = errors(name, z, values, derivatives)
    return z, e_value, e_derivative


# -- tests -----------------------------------------------------------------------------------
needs_long_double = pytest.mark.skipif(not LONG_DOUBLE_IS_WIDER, reason="long double is not wider than double")


@needs_long_double
def test_references_agree_with_math():
    # The references must themselves be right: within an ulp of libm's double functions.
    z = np.concatenate([np.linspace(-6, 6, 2401), np.linspace(-38, 8, 461), [1e-300, -1e-8, 0.0]])
    erf = reference_erf(z).astype(F64)
    expected = np.array([math.erf(x) for x in z])
    assert np.all(np.abs(erf - expected) <= np.spacing(np.abs(expected)))
    cdf = reference_normal(z)[0].astype(F64)
    expected = np.array([0.5 * math.erfc(-x / math.sqrt(2)) for x in z])
    # rounding -x/sqrt(2) moves erfc by about x^2 ulps, and math.erfc's own error grows
    # in the tail: a loose check there, but one that catches a wrong formula
    assert np.all(np.abs(cdf - expected) <= (2 + 16 * z * z) * np.spacing(np.abs(expected)))


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_documented_ulps(name, dtype):
    if dtype == F64 and not LONG_DOUBLE_IS_WIDER:
        pytest.skip("no reference wider than double here")
    z, e_value, e_derivative = measure(name, dtype, POINTS[dtype])
    bound_value, bound_derivative = BOUNDS[(name, dtype)]
    worst = int(np.argmax(e_value))
    assert e_value[worst] <= bound_value, f"{name}({z[worst]!r}): {e_value[worst]:.3f} ulp"
    worst = int(np.argmax(e_derivative))
    assert e_derivative[worst] <= bound_derivative, f"{name}'({z[worst]!r}): {e_derivative[worst]:.3f} ulp"


def _at(name, dtype, *z):
    return _core.activation(np.array(z, dtype=dtype), name)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_signed_zeros(dtype):
    for name in ("tanh", "erf", "gelu", "arctan", "sin"):  # the sign of zero is kept
        values, _ = _at(name, dtype, 0.0, -0.0)
        assert values[0] == 0 and not np.signbit(values[0]), name
        assert values[1] == 0 and np.signbit(values[1]), name
    expected = {  # (value, derivative) at +-0
        "tanh": (0.0, 1.0), "erf": (0.0, 2 / math.sqrt(math.pi)), "sigmoid": (0.5, 0.25),
        "softplus": (math.log(2), 0.5), "gelu": (0.0, 0.5), "arctan": (0.0, 1.0), "sin": (0.0, 1.0),
    }
    for name, (value, derivative) in expected.items():
        values, derivatives = _at(name, dtype, 0.0, -0.0)
        np.testing.assert_array_equal(values, dtype(value), err_msg=name)
        np.testing.assert_array_equal(derivatives, dtype(derivative), err_msg=name)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_infinities_give_limits(dtype):
    # The numpy reference gives nan for gelu(-inf) and gelu'(+-inf) (inf * 0): the limits
    # are better.
    expected = {  # (value at +inf, derivative at +inf, value at -inf, derivative at -inf)
        "tanh": (1, 0, -1, 0), "erf": (1, 0, -1, 0), "sigmoid": (1, 0, 0, 0),
        "softplus": (np.inf, 1, 0, 0), "gelu": (np.inf, 1, -0.0, 0),
        "arctan": (math.pi / 2, 0, -math.pi / 2, 0), "sin": (np.nan, np.nan, np.nan, np.nan),
    }
    for name, limits in expected.items():
        values, derivatives = _at(name, dtype, np.inf, -np.inf)
        got = np.array([values[0], derivatives[0], values[1], derivatives[1]])
        want = np.array(limits, dtype=dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)
        signed = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(want[signed]), err_msg=name)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_nan_propagates(name, dtype):
    values, derivatives = _at(name, dtype, np.nan, 1.0, -np.nan, 1e5)
    assert np.isnan(values[[0, 2]]).all() and np.isnan(derivatives[[0, 2]]).all()
    assert np.isfinite(values[[1, 3]]).all() and np.isfinite(derivatives[[1, 3]]).all()


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["relu", "identity"])
def test_piecewise_linear_extremes_match_reference(name, dtype):
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        z = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e300, -1e300, 5e-324], dtype=dtype)
    values, derivatives = _core.activation(z, name)
    np.testing.assert_array_equal(values, ref.activation(name, z))
    np.testing.assert_array_equal(derivatives, ref.activation_derivative(name, z))


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_huge_arguments(dtype):
    # Nothing may overflow on the way (gelu once gave inf above 1.3e154 from z*z); the
    # results are the limits, z itself, or what libm gives (sin).
    big = np.array([1e300, 1.4e154, 1e160, np.finfo(F64).max] if dtype == F64 else
                   [3e38, 1.9e19, 1e30, np.finfo(F32).max], dtype=dtype)
    z = np.concatenate([big, -big])
    limits = {
        "tanh": (np.sign(z), 0 * z), "erf": (np.sign(z), 0 * z), "sigmoid": (z > 0, 0 * z),
        "softplus": (np.maximum(z, 0), z > 0), "gelu": (np.where(z > 0, z, -0.0), z > 0),
    }
    for name, (value, derivative) in limits.items():
        values, derivatives = _at(name, dtype, *z)
        np.testing.assert_array_equal(values, np.asarray(value, dtype=dtype), err_msg=name)
        np.testing.assert_array_equal(np.signbit(values), np.signbit(np.asarray(value, dtype=dtype)), err_msg=name)
        np.testing.assert_array_equal(derivatives, np.asarray(derivative, dtype=dtype), err_msg=name)
    values, derivatives = _at("sin", dtype, *z)
    wide = z.astype(LD if LONG_DOUBLE_IS_WIDER else F64)
    np.testing.assert_allclose(values, np.sin(wide), rtol=np.finfo(dtype).eps)
    np.testing.assert_allclose(derivatives, np.cos(wide), rtol=np.finfo(dtype).eps)
    values, derivatives = _at("arctan", dtype, *z)
    np.testing.assert_array_equal(values, np.copysign(dtype(math.pi / 2), z))
    # 1/z^2 rounded, where z^2 itself overflows (a subnormal or zero in double)
    expected = (1 / z.astype(LD) ** 2).astype(dtype)
    np.testing.assert_allclose(derivatives, expected, rtol=2 * np.finfo(dtype).eps,
                               atol=2 * float(np.finfo(dtype).smallest_subnormal))


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_saturation_is_exact(dtype):
    big = 40.0 if dtype == F64 else 20.0
    values, derivatives = _at("tanh", dtype, big, -big, 400.0)
    np.testing.assert_array_equal(values, [1, -1, 1])
    np.testing.assert_array_equal(derivatives[2], 0)
    values, derivatives = _at("erf", dtype, 6.0, -6.0, 30.0)
    np.testing.assert_array_equal(values, [1, -1, 1])
    np.testing.assert_array_equal(derivatives[2], 0)
    values, derivatives = _at("softplus", dtype, big, 1e3, 1e30, -800.0)
    np.testing.assert_array_equal(values, np.array([big, 1e3, 1e30, 0.0], dtype=dtype))
    np.testing.assert_array_equal(derivatives, [1, 1, 1, 0])
    values, derivatives = _at("sigmoid", dtype, big, -800.0)
    np.testing.assert_array_equal(values, [1, 0])
    np.testing.assert_array_equal(derivatives[1], 0)
    values, derivatives = _at("gelu", dtype, -40.0, -1e3, 40.0, 1e30)
    np.testing.assert_array_equal(values, np.array([-0.0, -0.0, 40.0, 1e30], dtype=dtype))
    np.testing.assert_array_equal(derivatives, [0, 0, 1, 1])


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_tiny_arguments(dtype):
    info = np.finfo(dtype)
    z = np.array([info.smallest_subnormal, info.tiny, 1e-30, -1e-30], dtype=dtype)
    for name in ("tanh", "arctan", "sin"):  # z - z^3/3 or z - z^3/6 rounds to z
        np.testing.assert_array_equal(_at(name, dtype, *z)[0], z, err_msg=name)
    values = _at("gelu", dtype, *z)[0]
    np.testing.assert_array_equal(values[1:], z[1:] / 2)  # z Phi(z) = z/2 to first order
    erf = _at("erf", dtype, *z)[0]
    expected = np.array([math.erf(x) for x in z.astype(F64)]).astype(dtype)
    assert (np.abs(erf - expected) <= np.spacing(np.abs(expected))).all()


def test_subnormal_results_rounded_once():
    # e^z below 2^-1022 comes out of one rounding: sigmoid, softplus and gelu reach it
    z = np.array([-709.0, -720.5, -740.25, -744.9, -745.1])
    expected = np.exp(z.astype(LD)).astype(F64)
    for name in ("sigmoid", "softplus"):
        values, _ = _core.activation(z, name)
        assert (np.abs(values - expected) <= np.spacing(expected)).all(), name
    z = np.array([-37.6, -38.0, -38.3, -38.55])
    expected = exact("gelu", z)[0].astype(F64)
    values, _ = _core.activation(z, "gelu")
    assert (np.abs(values - expected) <= np.spacing(np.abs(expected))).all()


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_against_numpy_reference(name, dtype):
    z = np.concatenate([np.linspace(-40, 40, 4001), np.linspace(-3, 3, 2001)]).astype(dtype)
    values, derivatives = _core.activation(z, name)
    with np.errstate(over="ignore", invalid="ignore"):
        assert_close(values, ref.activation(name, z), dtype, scale=1.0, err_msg="values")
        assert_close(derivatives, ref.activation_derivative(name, z), dtype, scale=1.0, err_msg="derivatives")


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_sin_beyond_the_vector_reduction_in_a_layer(dtype):
    # Pre-activations above 65536 take libm inside the fused bias-and-activation pass too.
    # Integer data and d = 4 make every pre-activation exact, so both sides see the same z.
    rng = np.random.default_rng(3)
    X = rng.integers(-100000, 100001, (7, 4)).astype(dtype)
    U = rng.integers(-3, 4, (300, 4)).astype(dtype)
    b, v = rng.integers(-5, 6, 300).astype(dtype), rng.standard_normal(300).astype(dtype)
    net = _core.Network(U, b, v, dtype(0.1), "sin", "ntk")
    assert_close(_core.forward(net, X), ref.forward(net, X), dtype, size=300, scale=np.sqrt(300))
    assert_close(_core.jacobian(net, X), ref.jacobian(net, X), dtype, scale=1e5)


_BASELINE_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
import widenet
import test_vector_math as t
out = {{"simd": widenet.build_info()["elementwise_simd"]}}
for name in t.FUNCTIONS:
    for dtype in (t.F64, t.F32):
        if dtype == t.F64 and not t.LONG_DOUBLE_IS_WIDER:
            continue
        z, e_value, e_derivative = t.measure(name, dtype, t.POINTS[dtype])
        out[name + np.dtype(dtype).name] = [float(e_value.max()), float(e_derivative.max())]
print(json.dumps(out))
"""


# The elementwise paths from the portable one up, as build_info names them.
LEVELS = ("baseline", "avx2+fma", "avx512")


@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_the_lower_paths_within_the_same_bounds(level):
    name = "avx2+fma" if level == "avx2" else level
    if LEVELS.index(widenet.build_info()["elementwise_simd"]) <= LEVELS.index(name):
        pytest.skip(f"this CPU runs the {name} path already, or not even that")
    env = dict(os.environ, WIDENET_ELEMENTWISE=level)
    script = _BASELINE_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)
    assert result.pop("simd") == name
    for key, worst in result.items():
        name, dtype = key[:-7], F64 if key.endswith("float64") else F32
        bounds = BOUNDS[(name, dtype)]
        assert worst[0] <= bounds[0] and worst[1] <= bounds[1], (key, worst)


def main():
    parser = argparse.ArgumentParser(description="Largest errors in ulps of the vectorised activations.")
    parser.add_argument("--points", type=int, default=100000, help="random points per function and dtype")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=FUNCTIONS)
    args = parser.parse_args()
    print(f"elementwise path: {widenet.build_info()['elementwise_simd']}")
    for name in args.only:
        for dtype in (F64, F32):
            z, e_value, e_derivative = measure(name, dtype, args.points, args.seed)
            i, j = int(np.argmax(e_value)), int(np.argmax(e_derivative))
            print(f"{name:9s} {np.dtype(dtype).name:8s} {z.size:9d} points  value {e_value[i]:6.3f} ulp "
                  f"(at {float(z[i])!r})  derivative {e_derivative[j]:6.3f} ulp (at {float(z[j])!r})", flush=True)


if __name__ == "__main__":
    main()
