"""Derives the polynomials and constants of widenet's float-precision elementary functions
(cpp/include/widenet/vector_math_float_polynomials.hpp; the functions built from them are in
vector_math_float.hpp, vector_math_float_normal.hpp and vector_math_float_trig.hpp).

These compute in float throughout (16 entries per AVX-512 vector), so their polynomials only
need a relative error well below float's 2^-24; double references are ample for that, and
numpy is all this needs. Each polynomial is a weighted minimax fit by Lawson's iteration
(least squares reweighted by the error until it levels) on a dense Chebyshev grid, with the
weight chosen so that the quantity minimised is the relative error of what the C++ assembles
from the polynomial. The coefficients are then rounded to float and the assembled function's
largest relative error, in double, printed next to float's half ulp (2^-24 = 6.0e-8). A
polynomial whose constant term the C++ carries as a float pair (mills: gelu's tail rounds its
products once) also prints that term's rest, and its error is measured with the pair.

    python tools/fit_vector_math_float.py            (a development tool; numpy only)
    python tools/fit_vector_math_float.py --only mills

The approximations:
  expm1     expm1(r) = r + r^2 Q(r),            |r| <= ln(2)/2 (after r = x - k ln 2)
  log1p     log1p(g) = g - s (g - s^2 U(s^2)),  s = g/(2+g), 0 <= g <= 1
  tanh      tanh(x) = x + x^3 T(x^2),           |x| <= 0.55
  erf       erf(x) = x + x R(x^2),              |x| <= 1
  erf_tail  erfc(x) = (2/sqrt(pi)) e^{-x^2} t P(t - t0),  t = c/(x + c), 1 <= x <= 4
  cdf       Phi(z) = 1/2 + z S(z^2),            -0.5 <= z <= 1
  mills     Phi(-a) = phi(a) t P(t - t0),       t = c/(a + c), 0.5 <= a <= 14.7
  arctan    arctan(u) = u + u s A(s),           s = u^2 <= tan(pi/8)^2
sin and cos take their Taylor polynomials (no fit needed at float's precision); this also
prints pi/2 cut into four floats for their argument reduction.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

erf = np.vectorize(math.erf)
erfc = np.vectorize(math.erfc)
SQRT2, SQRT_PI = math.sqrt(2.0), math.sqrt(math.pi)
ERF_TAIL_C, ERF_TAIL_T0 = 3.0, 0.6
MILLS_C, MILLS_T0 = 2.0, 0.4


@dataclass
class Spec:
    """Fit P of `degree` in the variable v on [low, high]: target P(v), weight of P's error."""
    name: str
    low: float
    high: float
    degree: int
    target: Callable[[np.ndarray], np.ndarray]
    weight: Callable[[np.ndarray], np.ndarray]
    constant_as_pair: bool = False


def _atanh_parts(v):  # v = s^2, s = g/(2 + g)
    s = np.sqrt(v)
    g = 2 * s / (1 - s)
    return s, g, np.log1p(g)


def _mills(a):
    """Phi(-a)/phi(a), from erfc in double (its relative error is a few 1e-16)."""
    return 0.5 * erfc(a / SQRT2) * np.exp(0.5 * a * a) * math.sqrt(2 * math.pi)


def _t_of(x, c):
    return c / (x + c)


def _x_of(t, c):
    return c / t - c


def specs() -> list[Spec]:
    tan8 = math.tan(math.pi / 8) ** 2
    return [
        Spec("expm1", -0.35, 0.35, 4, lambda r: (np.expm1(r) - r) / (r * r), lambda r: r * r / np.exp(r)),
        Spec("tanh", 1e-12, 0.55**2, 4, lambda v: (np.tanh(np.sqrt(v)) - np.sqrt(v)) / v**1.5,
             lambda v: v**1.5 / np.tanh(np.sqrt(v))),
        Spec("log1p", 1e-12, 1 / 9, 3,
             lambda v: (_atanh_parts(v)[2] - _atanh_parts(v)[1] * (1 - np.sqrt(v))) / v**1.5,
             lambda v: v**1.5 / _atanh_parts(v)[2]),
        Spec("erf", 1e-12, 1.0, 6, lambda v: (erf(np.sqrt(v)) - np.sqrt(v)) / np.sqrt(v),
             lambda v: np.sqrt(v) / erf(np.sqrt(v))),
        # erf = 1 - erfc: erfc's relative error counts times erfc/erf
        Spec("erf_tail", _t_of(4.0, ERF_TAIL_C) - ERF_TAIL_T0, _t_of(1.0, ERF_TAIL_C) - ERF_TAIL_T0, 7,
             lambda u: (erfc(_x_of(u + ERF_TAIL_T0, ERF_TAIL_C)) * np.exp(_x_of(u + ERF_TAIL_T0, ERF_TAIL_C) ** 2)
                        * SQRT_PI / 2 / (u + ERF_TAIL_T0)),
             lambda u: (u + ERF_TAIL_T0) * 2 / SQRT_PI * np.exp(-_x_of(u + ERF_TAIL_T0, ERF_TAIL_C) ** 2)
             / erf(_x_of(u + ERF_TAIL_T0, ERF_TAIL_C))),
        Spec("cdf", 1e-12, 1.0, 5, lambda v: (0.5 * erfc(-np.sqrt(v) / SQRT2) - 0.5) / np.sqrt(v),
             lambda v: np.sqrt(v) / (0.5 * erfc(np.where(v <= 0.25, 1, -1) * np.sqrt(v) / SQRT2))),
        Spec("mills", _t_of(14.7, MILLS_C) - MILLS_T0, _t_of(0.5, MILLS_C) - MILLS_T0, 11,
             lambda u: _mills(_x_of(u + MILLS_T0, MILLS_C)) / (u + MILLS_T0),
             lambda u: (u + MILLS_T0) / _mills(_x_of(u + MILLS_T0, MILLS_C)), constant_as_pair=True),
        Spec("arctan", 1e-12, tan8 * 1.01, 5,
             lambda v: (np.arctan(np.sqrt(v)) - np.sqrt(v)) / v**1.5, lambda v: v**1.5 / np.arctan(np.sqrt(v))),
    ]


def lawson(spec: Spec, points: int = 3000, iterations: int = 300) -> np.ndarray:
    """Coefficients, lowest order first, minimising max |weight (P - target)| on the grid."""
    v = spec.low + (spec.high - spec.low) * (1 - np.cos(np.pi * np.arange(points) / (points - 1))) / 2
    f, w = spec.target(v), spec.weight(v)
    basis = np.vander(v, spec.degree + 1, increasing=True)
    lawson_weights = np.full(points, 1.0 / points)
    for _ in range(iterations):
        root = np.sqrt(lawson_weights)[:, None] * w[:, None]
        coefficients = np.linalg.lstsq(root * basis, root[:, 0] * f, rcond=None)[0]
        error = np.abs(w * (basis @ coefficients - f))
        lawson_weights *= error + 1e-300
        lawson_weights /= lawson_weights.sum()
    return coefficients


def largest_error(spec: Spec, coefficients, samples: int = 20000) -> float:
    v = np.linspace(spec.low, spec.high, samples)
    return float(np.max(np.abs(spec.weight(v) * (np.polyval(coefficients[::-1], v) - spec.target(v)))))


def pi_over_2_parts(bits_each: int = 11) -> list[float]:
    """pi/2 = p1 + p2 + p3 + p4 with the first three of `bits_each` significant bits (k p_j is
    exact for |k| < 2^(24 - bits_each)) and the fourth rounded to float."""
    pi = Fraction("3.14159265358979323846264338327950288419716939937510582097494459")
    rest, parts = pi / 2, []
    for _ in range(3):
        exponent = math.floor(math.log2(float(rest))) - bits_each + 1
        part = Fraction(math.floor(rest / Fraction(2) ** exponent)) * Fraction(2) ** exponent
        parts.append(float(part))
        rest -= part
    parts.append(float(np.float32(float(rest))))
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="approximations to fit (default: all)")
    args = parser.parse_args()
    for spec in specs():
        if args.only and spec.name not in args.only:
            continue
        coefficients = lawson(spec)
        rounded = coefficients.astype(np.float32).astype(np.float64)
        listed = ", ".join(f"{c!r}f" for c in rounded.astype(np.float32).tolist())
        constant_rest = float(np.float32(coefficients[0] - rounded[0])) if spec.constant_as_pair else 0.0
        rounded[0] += constant_rest
        print(f"{spec.name} (degree {spec.degree}, largest relative error {largest_error(spec, rounded):.2e}):")
        print(f"  {{{listed}}}")
        if spec.constant_as_pair:
            print(f"  constant term's rest: {constant_rest!r}f")
    if not args.only:
        print("pi/2 parts:", ", ".join(float(p).hex() for p in pi_over_2_parts()))


if __name__ == "__main__":
    main()
