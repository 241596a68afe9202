"""Accuracy of the activations leaky_relu, elu, silu, abs, monomial2 and monomial3
(activations.hpp, vector_math_rectifiers.hpp), through ``_core.activation``, on every
elementwise path the CPU runs (the lower ones forced by WIDENET_ELEMENTWISE in a subprocess).

Errors are in ulps of the exact value, against long-double references written here
(``expm1``, ``exp`` and products in numpy's long double; the helpers of test_vector_math).
silu' crosses 0 at z = -1.2785, where sigmoid + z sigmoid' cancels: between -2 and -0.5 its
error is counted in ulps of max(|silu'|, sigmoid(z)), elsewhere of silu' itself.

Run as a script for the table of largest errors (10^6 random points per function and dtype,
plus the grid and the tails)::

    python tests/test_vector_math_rectifiers.py --points 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import widenet
from widenet import _core
from widenet import reference as ref

from test_vector_math import F32, F64, LD, LEVELS, LONG_DOUBLE_IS_WIDER, _around, ulps

FUNCTIONS = ("leaky_relu", "elu", "silu", "abs", "monomial2", "monomial3")
# Largest errors in ulps (value, derivative): the table of vector_math_rectifiers.hpp (and the
# exact ones of activations.hpp), a little above the largest measured on 10^6 points per
# function on every path.
BOUNDS = {
    ("leaky_relu", F64): (0.51, 0.0), ("leaky_relu", F32): (0.51, 0.51),
    ("elu", F64): (1.2, 1.1), ("elu", F32): (0.51, 0.51),
    ("silu", F64): (2.5, 4.5), ("silu", F32): (0.51, 0.51),
    ("abs", F64): (0.0, 0.0), ("abs", F32): (0.0, 0.0),
    ("monomial2", F64): (0.51, 0.0), ("monomial2", F32): (0.51, 0.0),
    ("monomial3", F64): (1.35, 1.35), ("monomial3", F32): (0.51, 0.51),
}
SILU_ROOT_WINDOW = (-2.0, -0.5)
POINTS = 10**6


def exact(name, z, wide):
    """(value, derivative) at z, in `wide`, and the scale the derivative's error is counted in."""
    x = np.asarray(z).astype(wide)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if name == "leaky_relu":
            slope = wide(_core.LEAKY_RELU_SLOPE)
            return np.where(x > 0, x, slope * x), np.where(x > 0, 1, slope).astype(wide), None
        if name == "elu":
            negative = np.minimum(x, 0)
            return np.where(x < 0, np.expm1(negative), x), np.where(x < 0, np.exp(negative), 1).astype(wide), None
        if name == "silu":
            e = np.exp(-np.abs(x))
            sigmoid = np.where(x >= 0, 1, e) / (1 + e)
            derivative = sigmoid + x * (e / (1 + e) ** 2)
            window = (x >= SILU_ROOT_WINDOW[0]) & (x <= SILU_ROOT_WINDOW[1])
            return x * sigmoid, derivative, np.where(window, np.maximum(np.abs(derivative), sigmoid), derivative)
        if name == "abs":
            return np.abs(x), np.sign(x), None
        if name == "monomial2":
            return x * x, 2 * x, None
        return x * x * x, 3 * x * x, None


def points(name, dtype, count, seed=0):
    """A dense grid, uniform and log-uniform random points over the whole range and the edges
    (where elu's e^z - 1 changes its power of two, where results turn subnormal or overflow)."""
    rng = np.random.default_rng(seed)
    double = dtype == F64
    low = -746.0 if double else -104.0
    tiny = float(np.finfo(dtype).smallest_subnormal)
    huge = 1e300 if double else 3e38
    if name.startswith("monomial"):  # where the result neither overflows nor underflows
        power = 2 if name == "monomial2" else 3
        tiny, huge = (1e-300 ** (1 / power), 1e300 ** (1 / power)) if double else (1e-40 ** (1 / power), 3e38 ** (1 / power))
    magnitudes = np.exp(rng.uniform(np.log(tiny), np.log(huge), count // 4))
    edges = np.array([0.34657359, 1.03972077, 0.5, 1.0, 1.2785, 2.0, 36.7, 16.6, 87.3, 103.3, 708.4, 745.13])
    with np.errstate(over="ignore"):
        z = np.concatenate([
            np.linspace(low, 40.0, max(count // 4, 101)), rng.uniform(low, 40.0, count // 4),
            rng.uniform(-3, 3, count // 4), magnitudes, -magnitudes,
            _around(np.concatenate([edges, -edges]), dtype).astype(F64), [0.0, tiny, -tiny],
        ])
        return np.unique(z.astype(dtype))


def measure(name, dtype, count, seed=0):
    """Return the points and the errors (in ulps) of the values and derivatives there."""
    z = points(name, dtype, count, seed)
    values, derivatives = _core.activation(z, name)
    value, derivative, scale = exact(name, z, LD if LONG_DOUBLE_IS_WIDER else F64)
    return z, ulps(values, value, dtype), ulps(derivatives, derivative, dtype, scale)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_documented_ulps(name, dtype):
    if dtype == F64 and not LONG_DOUBLE_IS_WIDER:
        pytest.skip("no reference wider than double here")
    z, e_value, e_derivative = measure(name, dtype, POINTS)
    bound_value, bound_derivative = BOUNDS[(name, dtype)]
    worst = int(np.argmax(e_value))
    assert e_value[worst] <= bound_value, f"{name}({z[worst]!r}): {e_value[worst]:.3f} ulp"
    worst = int(np.argmax(e_derivative))
    assert e_derivative[worst] <= bound_derivative, f"{name}'({z[worst]!r}): {e_derivative[worst]:.3f} ulp"


def test_the_measure_sees_a_small_error():
    """A 1% slower slope, or elu's e^z - 1 off by one part in 10^15, is far outside the bounds."""
    z = points("elu", F64, 20000)
    value, derivative, _ = exact("leaky_relu", z, LD)
    assert ulps((value * LD(1.01)).astype(F64), value, F64).max() > 1e10
    value, _, _ = exact("elu", z, LD)
    assert ulps((value * LD(1 + 1e-15)).astype(F64), value, F64).max() > BOUNDS[("elu", F64)][0]


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_infinities_nan_and_huge_inputs(dtype):
    big = np.finfo(dtype).max
    z = np.array([np.inf, -np.inf, big, -big, 1e30, -1e30, np.nan], dtype=dtype)
    expected = {  # (values, derivatives) without the NaN
        "leaky_relu": ([np.inf, -np.inf, big, 0.01 * float(z[3]), float(z[4]), 0.01 * float(z[5])],
                       [1, 0.01, 1, 0.01, 1, 0.01]),
        "elu": ([np.inf, -1, big, -1, 1e30, -1], [1, 0, 1, 0, 1, 0]),
        "silu": ([np.inf, 0, big, 0, 1e30, 0], [1, 0, 1, 0, 1, 0]),
        "abs": ([np.inf, np.inf, big, big, 1e30, 1e30], [1, -1, 1, -1, 1, -1]),
    }
    for name, (values, derivatives) in expected.items():
        got, slope = _core.activation(z, name)
        np.testing.assert_array_equal(got[:-1], np.array(values, dtype=dtype), err_msg=name)
        np.testing.assert_array_equal(slope[:-1], np.array(derivatives, dtype=dtype), err_msg=name)
        assert np.isnan(got[-1]), name
    with np.errstate(over="ignore"):
        for name, power in (("monomial2", 2), ("monomial3", 3)):  # overflow is inf, with the sign
            got, slope = _core.activation(z[:6], name)
            tolerance = dict(rtol=2 * float(np.finfo(dtype).eps), err_msg=name)  # x^3 rounds twice
            np.testing.assert_allclose(got, (z[:6].astype(LD) ** power).astype(dtype), **tolerance)
            np.testing.assert_allclose(slope, (power * z[:6].astype(LD) ** (power - 1)).astype(dtype), **tolerance)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_against_numpy_reference(name, dtype):
    z = np.concatenate([np.linspace(-40, 40, 4001), np.linspace(-3, 3, 2001), [0.0, -0.0]]).astype(dtype)
    values, derivatives = _core.activation(z, name)
    tolerance = dict(rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)  # silu' cancels near -1.28
    np.testing.assert_allclose(values, ref.activation(name, z), **tolerance)
    np.testing.assert_allclose(derivatives, ref.activation_derivative(name, z), **tolerance)


def test_derivatives_match_finite_differences():
    """sigma' against a central difference of sigma (away from the kinks), with a 1% control."""
    z = np.concatenate([np.linspace(-6, -0.01, 600), np.linspace(0.01, 6, 600)])
    step = 1e-6
    for name in FUNCTIONS:
        difference = (ref.activation(name, z + step) - ref.activation(name, z - step)) / (2 * step)
        _, derivative = _core.activation(z, name)
        scale = np.maximum(1.0, np.abs(derivative))
        assert np.max(np.abs(derivative - difference) / scale) < 1e-6, name
        assert np.max(np.abs(1.01 * derivative - difference) / scale) > 1e-3, name


_LOWER_PATH_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np
import widenet
import test_vector_math_rectifiers as t
out = {{"simd": widenet.build_info()["elementwise_simd"]}}
for name in t.FUNCTIONS:
    for dtype in (t.F64, t.F32):
        if dtype == t.F64 and not t.LONG_DOUBLE_IS_WIDER:
            continue
        z, e_value, e_derivative = t.measure(name, dtype, t.POINTS)
        out[name + " " + np.dtype(dtype).name] = [float(e_value.max()), float(e_derivative.max())]
print(json.dumps(out))
"""


@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_the_lower_paths_within_the_same_bounds(level):
    name = "avx2+fma" if level == "avx2" else level
    if LEVELS.index(widenet.build_info()["elementwise_simd"]) <= LEVELS.index(name):
        pytest.skip(f"this CPU runs the {name} path already, or not even that")
    env = dict(os.environ, WIDENET_ELEMENTWISE=level)
    script = _LOWER_PATH_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)
    assert result.pop("simd") == name
    for key, worst in result.items():
        function, dtype = key.split()
        bounds = BOUNDS[(function, F64 if dtype == "float64" else F32)]
        assert worst[0] <= bounds[0] and worst[1] <= bounds[1], (key, worst)


def main():
    parser = argparse.ArgumentParser(description="Largest errors in ulps of leaky_relu, elu, silu, abs and the "
                                                 "monomials.")
    parser.add_argument("--points", type=int, default=POINTS, help="random points per function and dtype")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"elementwise path: {widenet.build_info()['elementwise_simd']}")
    for name in FUNCTIONS:
        for dtype in (F64, F32):
            z, e_value, e_derivative = measure(name, dtype, args.points, args.seed)
            i, j = int(np.argmax(e_value)), int(np.argmax(e_derivative))
            print(f"{name:10s} {np.dtype(dtype).name:8s} {z.size:9d} points  value {e_value[i]:6.3f} ulp "
                  f"(at {float(z[i])!r})  derivative {e_derivative[j]:6.3f} ulp (at {float(z[j])!r})", flush=True)


if __name__ == "__main__":
    main()
