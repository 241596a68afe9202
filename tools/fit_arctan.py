"""Derives the polynomial of widenet's vectorisable arctan (cpp/include/widenet/activations.hpp).

After reducing the argument to |u| <= tan(pi/8), arctan(u) = u + u s P(s) with s = u^2.
P is interpolated at Chebyshev nodes of [0, tan(pi/8)^2] in 50-digit arithmetic and
written in the monomial basis (the C++ evaluates it by Estrin's scheme). Prints the coefficients and the largest
relative error of the double-precision evaluation against mpmath.

    pip install mpmath && python tools/fit_arctan.py   (a development tool; mpmath is not a dependency)
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50
DEGREE = 11


def reduced_part(s):
    """P(s) = (arctan(sqrt s) / sqrt s - 1) / s, with its limit -1/3 at s = 0."""
    if s == 0:
        return mp.mpf(-1) / 3
    u = mp.sqrt(s)
    return (mp.atan(u) / u - 1) / s


def coefficients(degree):
    end = mp.tan(mp.pi / 8) ** 2
    nodes = [end / 2 * (1 + mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (degree + 1))) for k in range(degree + 1)]
    vandermonde = mp.matrix([[s**j for j in range(degree + 1)] for s in nodes])
    solution = mp.lu_solve(vandermonde, mp.matrix([reduced_part(s) for s in nodes]))
    return [float(solution[j]) for j in range(degree + 1)]


def largest_error(coeffs, samples=2001):
    worst = 0.0
    for u in np.linspace(1e-6, float(mp.tan(mp.pi / 8)), samples):
        s = u * u
        p = 0.0
        for c in reversed(coeffs):
            p = p * s + c
        exact = mp.atan(mp.mpf(u))
        worst = max(worst, abs(float((mp.mpf(u + u * s * p) - exact) / exact)))
    return worst


if __name__ == "__main__":
    coeffs = coefficients(DEGREE)
    print(",\n".join(repr(c) for c in coeffs))
    print(f"largest relative error: {largest_error(coeffs):.2e}")
