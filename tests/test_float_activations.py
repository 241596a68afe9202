"""float32 activations evaluated in float (cpp/include/widenet/vector_math_float.hpp): the
largest error, value and derivative, over 10^6 points per activation (the tails, subnormal
and huge arguments included), on every elementwise path this CPU runs (the lower ones forced
by WIDENET_ELEMENTWISE in a child process), against float64 references computed here in
numpy: np.tanh, np.exp, np.log1p, np.arctan, np.sin and np.cos, and math.erf / math.erfc for
erf and the normal cdf. A double reference errs by about 2^-29 ulp of float, far below the
bounds. Errors are counted as in test_vector_math (gelu' in ulps of max(|gelu'|, Phi) where
it crosses 0).
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import widenet
from widenet import _core

import test_vector_math as accuracy

F32, F64 = np.float32, np.float64
POINTS = 10**6
# Largest errors in ulps of float32 (value, derivative): test_vector_math's float32 bounds, a
# little above the largest measured on 10^6 points on any path (the table in
# vector_math_float.hpp).
BOUNDS = {name: accuracy.BOUNDS[(name, F32)] for name in accuracy.FUNCTIONS}
FUNCTIONS = tuple(BOUNDS)
SQRT_2PI = math.sqrt(2 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def reference(name: str, z: np.ndarray):
    """(value, derivative) at float32 z, in float64, by numpy and math alone."""
    if name not in ("erf", "gelu"):  # numpy's own functions, in double
        return accuracy.exact(name, z, F64)
    x = z.astype(F64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if name == "erf":  # x * x is exact in double for a float32 x
            return _erf(x).astype(F64), 2 / math.sqrt(math.pi) * np.exp(-x * x)
        cdf = 0.5 * _erfc(-x / math.sqrt(2)).astype(F64)  # relative to Phi however small
        pdf = np.exp(-0.5 * x * x) / SQRT_2PI
        return x * cdf, cdf + np.where(np.isfinite(x), x * pdf, 0)


def errors(name: str, z: np.ndarray, values: np.ndarray, derivatives: np.ndarray):
    value, derivative = reference(name, z)
    scale = None
    if name == "gelu":
        cdf = 0.5 * _erfc(-z.astype(F64) / math.sqrt(2)).astype(F64)
        window = (z >= accuracy.GELU_ROOT_WINDOW[0]) & (z <= accuracy.GELU_ROOT_WINDOW[1])
        scale = np.where(window, np.maximum(np.abs(derivative), cdf), derivative)
    finite = np.isfinite(value) & np.isfinite(derivative)
    e_value = accuracy.ulps(values[finite], value[finite], F32)
    e_derivative = accuracy.ulps(derivatives[finite], derivative[finite], F32,
                                 None if scale is None else scale[finite])
    return e_value, e_derivative


@functools.lru_cache(maxsize=None)
def points(name: str) -> np.ndarray:
    """About 10^6 float32 points: test_vector_math's grids, random and log-uniform points
    (subnormal to the largest float) and edges, then more log-uniform ones up to POINTS."""
    z = accuracy.points(name, F32, int(POINTS * 0.8))
    rng = np.random.default_rng(7)
    count = max(POINTS - z.size, 0)
    extra = np.exp(rng.uniform(np.log(1e-45), np.log(3.4e38), count)) * rng.choice([-1, 1], count)
    return np.unique(np.concatenate([z, extra.astype(F32)]))


def largest_errors(name: str):
    z = points(name)
    values, derivatives = _core.activation(z, name)
    e_value, e_derivative = errors(name, z, values, derivatives)
    return z, e_value, e_derivative


@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_documented_ulps_on_a_million_points(name):
    z, e_value, e_derivative = largest_errors(name)
    assert z.size >= 0.95 * POINTS
    bound_value, bound_derivative = BOUNDS[name]
    assert e_value.max() <= bound_value, f"{name}: {e_value.max():.3f} ulp"
    assert e_derivative.max() <= bound_derivative, f"{name}': {e_derivative.max():.3f} ulp"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_few_ulps_off_fails_the_check(name):
    # The control: the same outputs moved by one ulp more than the bound fail it.
    z = np.ascontiguousarray(points(name)[::50])
    values, derivatives = _core.activation(z, name)
    bound_value, bound_derivative = BOUNDS[name]
    moved = values + np.sign(values) * (bound_value + 1) * np.spacing(np.abs(values))
    slopes = derivatives + np.sign(derivatives) * (bound_derivative + 1) * np.spacing(np.abs(derivatives))
    assert errors(name, z, moved, derivatives)[0].max() > bound_value
    assert errors(name, z, values, slopes)[1].max() > bound_derivative


def test_the_double_evaluation_stays_available():
    # float32 through the double evaluation (rounded once) is within about half an ulp, and
    # float64 does not depend on the setting.
    z = np.linspace(-30, 30, 200001)
    before = {name: _core.activation(z, name) for name in FUNCTIONS}
    previous = _core._set_float32_in_double(True)
    try:
        for name in FUNCTIONS:
            values, derivatives = _core.activation(z.astype(F32), name)
            e_value, e_derivative = errors(name, z.astype(F32), values, derivatives)
            assert max(e_value.max(), e_derivative.max()) <= 0.6, name
            np.testing.assert_array_equal(_core.activation(z, name)[0], before[name][0])
            np.testing.assert_array_equal(_core.activation(z, name)[1], before[name][1])
    finally:
        _core._set_float32_in_double(previous)


_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
import widenet, test_float_activations as t
out = {{"simd": widenet.build_info()["elementwise_simd"]}}
for name in t.FUNCTIONS:
    z, e_value, e_derivative = t.largest_errors(name)
    out[name] = [float(e_value.max()), float(e_derivative.max())]
print(json.dumps(out))
"""


@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_the_lower_paths_on_a_million_points(level):
    name = "avx2+fma" if level == "avx2" else level
    if accuracy.LEVELS.index(widenet.build_info()["elementwise_simd"]) <= accuracy.LEVELS.index(name):
        pytest.skip(f"this CPU runs the {name} path already, or not even that")
    env = dict(os.environ, WIDENET_ELEMENTWISE=level)
    script = _CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)
    assert result.pop("simd") == name
    for function, (worst_value, worst_derivative) in result.items():
        assert worst_value <= BOUNDS[function][0] and worst_derivative <= BOUNDS[function][1], (function, worst_value,
                                                                                                worst_derivative)
