"""Accuracy of the vectorised elementary functions behind tanh, erf, sigmoid, softplus and
gelu (cpp/include/widenet/vector_math.hpp), through ``_core.activation``.

Errors are in ulps of the correctly rounded value, against references that are exact to
far below an ulp: mpmath at 40 digits (erf and gelu in float64), numpy's long double where
it is wider than double (tanh, sigmoid, softplus in float64), float64 numpy for float32
results. gelu' changes sign near z = -0.75, where any evaluation of Phi + z phi cancels;
its error is counted in ulps of the largest of |Phi|, |z phi| and |gelu'|. Points: a dense grid,
random points, log-uniform magnitudes down to subnormals, and the edges (branch switches,
where results turn subnormal and underflow, saturation). Then exact edge values (signed
zeros, +-inf, NaN, saturation), the numpy reference at the cross-check tolerances, and the
portable path (``WIDENET_ELEMENTWISE=baseline``) against the same bounds.

Run as a script for the table of largest errors on many points (both paths: run it once
more with WIDENET_ELEMENTWISE=baseline)::

    python tests/test_vector_math.py --points 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest

import widenet
from widenet import _core
from widenet import reference as ref

from conftest import assert_close

mp.mp.dps = 40
FUNCTIONS = ("tanh", "erf", "sigmoid", "softplus", "gelu")
F64, F32 = np.float64, np.float32

# Largest errors in ulps (value, derivative), as documented in vector_math.hpp; the
# measured maxima on 10^6 points per function are a little below.
BOUNDS = {
    ("tanh", F64): (1.5, 1.5), ("tanh", F32): (0.52, 0.51),
    ("erf", F64): (1.5, 1.0), ("erf", F32): (0.52, 0.51),
    ("sigmoid", F64): (1.5, 1.5), ("sigmoid", F32): (0.51, 0.51),
    ("softplus", F64): (1.5, 1.5), ("softplus", F32): (0.52, 0.51),
    ("gelu", F64): (2.5, 2.5), ("gelu", F32): (0.51, 0.51),
}

LONG_DOUBLE_IS_WIDER = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


# -- points --------------------------------------------------------------------------------
def _around(values, dtype, steps=3):
    """Each value and its neighbours `steps` ulps either side, in dtype."""
    out = []
    for v in np.asarray(values, dtype=dtype):
        w = v
        for _ in range(steps):
            w = np.nextafter(w, dtype(np.inf))
        for _ in range(2 * steps + 1):
            out.append(w)
            w = np.nextafter(w, dtype(-np.inf))
    return np.array(out, dtype=dtype)


def points(name, dtype, count, seed=0):
    """A dense grid, uniform and log-uniform random points and the edges of `name`, for
    results in dtype; `count` sets the number of random points."""
    rng = np.random.default_rng(seed)
    double = dtype == F64
    low, high = {  # where results are neither saturated nor zero, for the dtype
        "tanh": (-20.0, 20.0) if double else (-9.5, 9.5),
        "erf": (-6.5, 6.5) if double else (-4.5, 4.5),
        "sigmoid": (-746.0, 40.0) if double else (-104.0, 18.0),
        "softplus": (-746.0, 40.0) if double else (-104.0, 18.0),
        "gelu": (-38.8, 10.0) if double else (-14.7, 6.0),
    }[name]
    tiny = np.finfo(dtype).smallest_subnormal
    magnitudes = np.exp(rng.uniform(np.log(float(tiny)), np.log(max(-low, high)), count // 4))
    edges = {
        "tanh": [0.55, 19.06, 9.01, 0.5, 1.0],
        "erf": [1.0, 6.0, 5.93, 4.0, 3.92, 26.55, 27.3, 27.5, 10.0],
        "sigmoid": [-708.4, -745.13, -745.0, -103.3, -87.3, 36.7, 16.6],
        "softplus": [-708.4, -745.13, -745.0, -103.3, -87.3, 36.7, 16.6, 0.41, -0.88],
        "gelu": [-0.5, 1.0, -26.0, -37.5, -38.0, -38.5, -38.6, -14.0, -14.5, -0.7518, 38.7, 14.6],
    }[name]
    edges = np.array(edges)
    grid = np.linspace(low, high, max(count // 4, 101))
    z = np.concatenate([
        grid, rng.uniform(low, high, count // 4), rng.uniform(-3, 3, count // 4),
        magnitudes, -magnitudes, _around(np.concatenate([edges, -edges]), dtype),
        [0.0, tiny, -tiny, np.finfo(dtype).tiny, 1e-30],
    ])
    with np.errstate(over="ignore"):
        return np.unique(z.astype(dtype))


# -- references ----------------------------------------------------------------------------
def _mp_exact(name, x):
    """(value, derivative, derivative's scale) at x in 40-digit arithmetic."""
    x = mp.mpf(x)
    if name == "tanh":
        return mp.tanh(x), 1 / mp.cosh(x) ** 2, None
    if name == "erf":
        return mp.erf(x), 2 / mp.sqrt(mp.pi) * mp.exp(-x * x), None
    if name == "sigmoid":
        e = mp.exp(-abs(x))
        return (1 if x >= 0 else e) / (1 + e), e / (1 + e) ** 2, None
    if name == "softplus":
        e = mp.exp(-abs(x))
        return max(x, 0) + mp.log1p(e), (1 if x >= 0 else e) / (1 + e), None
    cdf, pdf = mp.ncdf(x), mp.npdf(x)
    return x * cdf, cdf + x * pdf, max(abs(cdf), abs(x * pdf), abs(cdf + x * pdf))


def _wide_exact(name, z, wide):
    """The same in the floating type `wide` (long double, or float64 for float32 results)."""
    x = z.astype(wide)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        if name == "tanh":
            return np.tanh(x), 1 / np.cosh(x) ** 2, None
        e = np.exp(-np.abs(x))
        sigmoid = np.where(x >= 0, 1, e) / (1 + e)
        if name == "sigmoid":
            return sigmoid, e / (1 + e) ** 2, None
        if name == "softplus":
            return np.maximum(x, 0) + np.log1p(e), sigmoid, None
        erf = np.frompyfunc(math.erf, 1, 1)
        if name == "erf":
            return erf(x).astype(wide), 2 / np.sqrt(np.pi) * np.exp(-x * x), None
        cdf = 0.5 * np.frompyfunc(math.erfc, 1, 1)(-x / np.sqrt(2)).astype(wide)
        pdf = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
        return x * cdf, cdf + x * pdf, np.maximum(np.maximum(np.abs(cdf), np.abs(x * pdf)), np.abs(cdf + x * pdf))


def _ulps(got, exact, dtype, scale=None):
    """|got - exact| in ulps of exact rounded to dtype (of `scale` when given)."""
    reference = exact if scale is None else scale
    ulp = np.spacing(np.abs(np.asarray(reference, dtype=np.float64)).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(exact.dtype) - exact).astype(np.float64) / ulp


def errors(name, z, values, derivatives):
    """Errors in ulps of `values` and `derivatives` computed at z."""
    dtype = z.dtype.type
    if dtype == F32:
        exact = _wide_exact(name, z, np.float64)
    elif name in ("tanh", "sigmoid", "softplus") and LONG_DOUBLE_IS_WIDER:
        exact = _wide_exact(name, z, np.longdouble)
    else:  # mpmath, point by point
        triples = [_mp_exact(name, float(x)) for x in z]
        result = []
        for k, got in enumerate((values, derivatives)):
            exact = [t[k] for t in triples]
            scale = [t[2] for t in triples] if (k == 1 and triples[0][2] is not None) else exact
            ulp = np.spacing(np.abs(np.array([float(v) for v in scale])))
            result.append(np.array([float(abs(mp.mpf(float(g)) - e) / mp.mpf(float(u))) for g, e, u in zip(got, exact, ulp)]))
        return tuple(result)
    value, derivative, scale = exact
    return (_ulps(values, value, dtype), _ulps(derivatives, derivative, dtype, scale))


def measure(name, dtype, count, seed=0):
    z = points(name, dtype, count, seed)
    values, derivatives = _core.activation(z, name)
    e_value, e_derivative = errors(name, z, values, derivatives)
    return z, e_value, e_derivative


# -- tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_documented_ulps(name, dtype):
    slow = dtype == F64 and (name in ("erf", "gelu") or not LONG_DOUBLE_IS_WIDER)
    z, e_value, e_derivative = measure(name, dtype, 4000 if slow else 200000)
    bound_value, bound_derivative = BOUNDS[(name, dtype)]
    worst = int(np.argmax(e_value))
    assert e_value[worst] <= bound_value, f"{name}({z[worst]!r}): {e_value[worst]:.3f} ulp"
    worst = int(np.argmax(e_derivative))
    assert e_derivative[worst] <= bound_derivative, f"{name}'({z[worst]!r}): {e_derivative[worst]:.3f} ulp"


def _at(name, dtype, *z):
    values, derivatives = _core.activation(np.array(z, dtype=dtype), name)
    return values, derivatives


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_signed_zeros(dtype):
    for name in ("tanh", "erf", "gelu"):  # odd, or z Phi(z): the sign of zero is kept
        values, _ = _at(name, dtype, 0.0, -0.0)
        assert values[0] == 0 and not np.signbit(values[0]), name
        assert values[1] == 0 and np.signbit(values[1]), name
    expected = {  # (value, derivative) at +-0
        "tanh": (0.0, 1.0), "erf": (0.0, 2 / math.sqrt(math.pi)), "sigmoid": (0.5, 0.25),
        "softplus": (math.log(2), 0.5), "gelu": (0.0, 0.5),
    }
    for name, (value, derivative) in expected.items():
        values, derivatives = _at(name, dtype, 0.0, -0.0)
        np.testing.assert_array_equal(values, dtype(value), err_msg=name)
        np.testing.assert_array_equal(derivatives, dtype(derivative), err_msg=name)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_infinities_give_limits(dtype):
    expected = {  # (value at +inf, derivative at +inf, value at -inf, derivative at -inf)
        "tanh": (1, 0, -1, 0), "erf": (1, 0, -1, 0), "sigmoid": (1, 0, 0, 0),
        "softplus": (np.inf, 1, 0, 0), "gelu": (np.inf, 1, 0, 0),
    }
    for name, limits in expected.items():
        values, derivatives = _at(name, dtype, np.inf, -np.inf)
        np.testing.assert_array_equal([values[0], derivatives[0], values[1], derivatives[1]],
                                      np.array(limits, dtype=dtype), err_msg=name)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_nan_propagates(name, dtype):
    values, derivatives = _at(name, dtype, np.nan, 1.0, -np.nan)
    assert np.isnan(values[[0, 2]]).all() and np.isnan(derivatives[[0, 2]]).all()
    assert np.isfinite(values[1]) and np.isfinite(derivatives[1])


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
    np.testing.assert_array_equal(_at("tanh", dtype, *z)[0], z)  # tanh(z) = z - z^3/3 rounds to z
    values = _at("gelu", dtype, *z)[0]
    np.testing.assert_array_equal(values[1:], z[1:] / 2)  # z Phi(z) = z/2 to first order
    erf = _at("erf", dtype, *z)[0]
    exact = np.array([float(mp.erf(mp.mpf(float(x)))) for x in z]).astype(dtype)
    assert (np.abs(erf - exact) <= np.spacing(np.abs(exact))).all()


def test_subnormal_results_rounded_once():
    # e^z below 2^-1022 comes out of one rounding: sigmoid, softplus and gelu reach it
    z = np.array([-709.0, -720.5, -740.25, -744.9, -745.1])
    exact = np.array([float(mp.exp(mp.mpf(x))) for x in z])
    for name in ("sigmoid", "softplus"):
        values, _ = _core.activation(z, name)
        np.testing.assert_array_equal(values, exact, err_msg=name)
    z = np.array([-37.6, -38.0, -38.3, -38.55])
    exact = np.array([float(x * mp.ncdf(x)) for x in map(mp.mpf, z)])
    values, _ = _core.activation(z, "gelu")
    assert (np.abs(values - exact) <= np.spacing(np.abs(exact))).all()


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_against_numpy_reference(name, dtype):
    z = np.concatenate([np.linspace(-40, 40, 4001), np.linspace(-3, 3, 2001)]).astype(dtype)
    values, derivatives = _core.activation(z, name)
    with np.errstate(over="ignore", invalid="ignore"):
        assert_close(values, ref.activation(name, z), dtype, scale=1.0, err_msg="values")
        assert_close(derivatives, ref.activation_derivative(name, z), dtype, scale=1.0, err_msg="derivatives")


_BASELINE_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
import widenet
import test_vector_math as t
out = {{"simd": widenet.build_info()["elementwise_simd"]}}
for name in t.FUNCTIONS:
    for dtype in (t.F64, t.F32):
        z, e_value, e_derivative = t.measure(name, dtype, 2000)
        out[name + np.dtype(dtype).name] = [float(e_value.max()), float(e_derivative.max())]
print(json.dumps(out))
"""


def test_baseline_path_within_the_same_bounds():
    if widenet.build_info()["elementwise_simd"] == "baseline":
        pytest.skip("this CPU runs the portable path already; there is no second path")
    env = dict(os.environ, WIDENET_ELEMENTWISE="baseline")
    script = _BASELINE_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)
    assert result.pop("simd") == "baseline"
    for name in FUNCTIONS:
        for dtype in (F64, F32):
            worst = result[name + np.dtype(dtype).name]
            bounds = BOUNDS[(name, dtype)]
            assert worst[0] <= bounds[0] and worst[1] <= bounds[1], (name, dtype, worst)


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
