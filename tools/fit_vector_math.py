"""Derives the polynomials and constants of widenet's vectorisable elementary functions
(cpp/include/widenet/vector_math_polynomials.hpp; the functions built from them are in
vector_math_exp.hpp, vector_math_normal.hpp and vector_math_trig.hpp).

All of them compute in double; results meant for float are computed in double too, by
polynomials of lower degree, and rounded once at the end (so float results are within
about half an ulp). Every polynomial is a weighted minimax fit: the Remez exchange
algorithm on a dense Chebyshev grid in 40-digit arithmetic, with the weight chosen so that
the quantity minimised is the relative error of what the C++ assembles from the polynomial
(expm1(r) from r + r^2 Q(r), erf(x) from x + x R(x^2), ...). The coefficients are then
rounded to double one at a time, highest order first, the lower ones refitted after each
rounding so that they absorb it. Last, each function is assembled from its rounded
polynomial in double, in the order the C++ uses, on random points, rounded to the target
precision, and its largest error against mpmath printed in ulps.

    python tools/fit_vector_math.py            (needs mpmath; a development tool, not a dependency)
    python tools/fit_vector_math.py --only erf_tail --precision float

The approximations (see those headers for how they are combined):
  expm1     expm1(r) = r + r^2 Q(r),            |r| <= ln(2)/2 (after r = x - k ln 2)
  log1p     log1p(g) = g - s (g - s^2 U(s^2)),  s = g/(2+g), g in [sqrt(1/2) - 1, sqrt(2) - 1]
  tanh      tanh(x) = x + x^3 T(x^2),           |x| <= 0.55
  erf       erf(x) = x + x R(x^2),              |x| <= 1
  erf_tail  erfc(x) = (2/sqrt(pi)) e^{-x^2} t P(t - t0),  t = c/(x + c), x in [1, X]
  cdf       Phi(z) = 1/2 + z S(z^2),            -0.5 <= z <= 1
  mills     Phi(-a) = phi(a) t P(t - t0),       t = c/(a + c), a in [0.5, A]
X and A are where erf reaches 1 and where gelu underflows, for each precision. Estrin's
scheme evaluates Q, U, T, R and S (their rounding errors are damped by the terms around
them); the tails, whose rounding errors are not, take Horner's scheme for their first
terms, with the constant as a double-double, and Estrin's for the rest.
"""

from __future__ import annotations

import argparse

import mpmath as mp
import numpy as np

mp.mp.dps = 40
PRECISIONS = {"double": np.float64, "float": np.float32}


# -- Remez exchange ----------------------------------------------------------------------
def chebyshev_grid(a, b, count):
    return [a + (b - a) * (1 - mp.cos(mp.pi * i / (count - 1))) / 2 for i in range(count)]


def remez(F, W, B, iterations=40):
    """Coefficients c minimising max_i |W_i (sum_j c_j B_ij - F_i)| over the grid, and
    that maximum. F, W: target and weight on the grid; B: basis functions on the grid."""
    points, n = len(F), len(B[0])
    reference = [round(k * (points - 1) / n) for k in range(n + 1)]
    best = None
    for _ in range(iterations):
        A, rhs = mp.matrix(n + 1, n + 1), mp.matrix(n + 1, 1)
        for k, i in enumerate(reference):
            for j in range(n):
                A[k, j] = B[i][j]
            A[k, n] = (-1) ** k / W[i]
            rhs[k] = F[i]
        solution = mp.lu_solve(A, rhs)
        c = [solution[j] for j in range(n)]
        level = abs(solution[n])
        err = [W[i] * (mp.fsum(c[j] * B[i][j] for j in range(n)) - F[i]) for i in range(points)]
        worst = max(abs(e) for e in err)
        if best is None or worst < best[1]:
            best = (c, worst)
        if worst <= level * (1 + mp.mpf("1e-3")):
            break  # equioscillation: the levelled error is the maximum
        # New reference: local extrema of the error, the largest of each run of one sign,
        # then trimmed from the ends (smaller end first) to n + 1 alternating points.
        extrema = [i for i in range(points)
                   if (i == 0 or abs(err[i]) >= abs(err[i - 1]))
                   and (i == points - 1 or abs(err[i]) >= abs(err[i + 1]))]
        alternating = []
        for i in extrema:
            if alternating and (err[i] > 0) == (err[alternating[-1]] > 0):
                if abs(err[i]) > abs(err[alternating[-1]]):
                    alternating[-1] = i
            else:
                alternating.append(i)
        while len(alternating) > n + 1:
            alternating.pop(0 if abs(err[alternating[0]]) < abs(err[alternating[-1]]) else -1)
        if len(alternating) < n + 1:
            break
        reference = alternating
    return best


def round_to(value):
    return mp.mpf(float(value))


def fit(spec, n, points):
    """n coefficients of spec's basis, rounded to double one at a time (each rounding
    absorbed by refitting the lower ones), the weighted error before and after rounding,
    and how large the terms are against the function."""
    xs = chebyshev_grid(spec.a, spec.b, points)
    F = [spec.target(x) for x in xs]
    W = [spec.weight(x) for x in xs]
    B = [[spec.basis(x, j) for j in range(n)] for x in xs]
    exact_error = remez(F, W, B)[1]
    # Highest order first: the terms left to refit always include the lowest ones, so
    # they never share a zero inside the interval (which would break the exchange).
    # With spec.split_constant the constant is kept as a double-double (hi, lo): its
    # rounding would otherwise be an error of up to half an ulp that nothing absorbs.
    fixed = {}
    for j in reversed(range(n)):
        residual = [F[i] - mp.fsum(c * B[i][k] for k, c in fixed.items()) for i in range(points)]
        c, _ = remez(residual, W, [row[:j + 1] for row in B])
        fixed[j] = c[j] if (j == 0 and spec.split_constant) else round_to(c[j])
    fixed = [fixed[j] for j in range(n)]
    rounded_error = max(abs(W[i] * (mp.fsum(fixed[k] * B[i][k] for k in range(n)) - F[i]))
                        for i in range(points))
    # The terms relative to the function assembled: rounding errors of the evaluation
    # are amplified by this (about 1 for the tails, small for x + x R(x^2) and the like).
    cancellation = max(W[i] * mp.fsum(abs(fixed[k] * B[i][k]) for k in range(n)) for i in range(points))
    return fixed, exact_error, rounded_error, cancellation


# -- the approximations --------------------------------------------------------------------
def erfcx(x):
    return mp.erfc(x) * mp.exp(x * x)


def normal_cdf(z):
    return mp.erfc(-z / mp.sqrt(2)) / 2


def mills(a):
    """Phi(-a) / phi(a)."""
    return erfcx(a / mp.sqrt(2)) * mp.sqrt(mp.pi / 2)


SQRT2 = mp.sqrt(2)
S_MAX = (SQRT2 - 1) / (SQRT2 + 1)  # |g/(2+g)| at the ends of the log1p interval
LN2_HALF = mp.log(2) / 2


def estrin(coeffs, x):
    """The C++ evaluation order: split at the largest power of two below the length."""
    if len(coeffs) == 1:
        return np.full_like(x, coeffs[0])
    half = 1 << (len(coeffs) - 1).bit_length() - 1
    power = x
    for _ in range(half.bit_length() - 1):
        power = power * power
    return estrin(coeffs[:half], x) + power * estrin(coeffs[half:], x)


class Spec:
    """One approximation: target, weight and basis on [a, b] in the fitted variable; for
    the check, how the C++ assembles the function from its argument (`check`, in float64),
    the exact function (`reference`, mp) and the argument's range."""

    def __init__(self, name, a, b, target, weight, basis, count, check, reference, argument):
        self.name, self.a, self.b = name, mp.mpf(a), mp.mpf(b)
        self.target, self.weight, self.basis = target, weight, basis
        self.count, self.check, self.reference, self.argument = count, check, reference, argument
        self.split_constant = False


def horner(coeffs, x):
    result = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        result = result * x + c
    return result


HORNER_STEPS = 4


def horner_estrin(coeffs, x):
    """The C++ order for the tails: Horner's scheme for the first HORNER_STEPS
    coefficients (whose rounding reaches the result), Estrin's for the rest (short chains)."""
    if len(coeffs) <= HORNER_STEPS:
        return horner(coeffs, x)
    result = estrin(coeffs[HORNER_STEPS:], x)
    for c in reversed(coeffs[:HORNER_STEPS]):
        result = result * x + c
    return result


def split(value):
    """A double-double (hi, lo) with hi + lo = value to about 2^-106."""
    hi = float(value)
    return hi, float(value - mp.mpf(hi))


def tail_spec(name, function, low, high, c, t0, count):
    """function(x) = t P(t - t0) with t = c/(x + c), relative error, on x in [low, high].
    The C++ evaluates P = hi + (u H(u) + lo) with a double-double constant and H by
    horner_estrin."""
    c, t0 = mp.mpf(c), mp.mpf(t0)

    def check(coeffs, x):
        t = float(c) / (x + float(c))
        u = t - float(t0)
        hi, lo = split(coeffs[0])
        rest = [float(v) for v in coeffs[1:]]
        return t * (hi + (u * horner_estrin(rest, u) + lo))

    spec = Spec(name, c / (high + c), c / (low + c),
                target=lambda t: function(c / t - c), weight=lambda t: 1 / function(c / t - c),
                basis=lambda t, j: t * (t - t0) ** j, count=count, check=check,
                reference=function, argument=(low, high))
    spec.split_constant = True
    return spec


def specs(precision):
    """The approximations for results in `precision` ("float" results are computed in
    double too, by polynomials of lower degree)."""
    double = precision == "double"
    erf_end = 6 if double else 4  # erfc below half an ulp of 1 beyond this
    gelu_end = mp.mpf("38.7") if double else mp.mpf("14.6")  # gelu underflows beyond -this
    r_max = LN2_HALF * (1 + mp.mpf(2) ** -40)  # rounding of k leaves |r| a little above ln(2)/2

    def log1p_u(v):
        s = mp.sqrt(v)
        return (2 * mp.atanh(s) - 2 * s) / (s * v) if v > 0 else mp.mpf(2) / 3

    def cdf_weight(s):
        """Relative to Phi: the polynomial serves -0.5 <= z <= 1 (where Phi(z) >= Phi(-0.5))."""
        z = mp.sqrt(s)
        return z / normal_cdf(-z if z <= mp.mpf("0.5") else z)

    def log1p_check(coeffs, g):
        s = g / (2 + g)
        v = s * s
        return g - s * (g - v * estrin(coeffs, v))

    return [
        Spec("expm1", -r_max, r_max,
             target=lambda r: (mp.expm1(r) - r) / r**2, weight=lambda r: r**2 / mp.expm1(r),
             basis=lambda r, j: r**j, count=(11 if double else 6),
             check=lambda coeffs, r: r + r * r * estrin(coeffs, r),
             reference=mp.expm1, argument=(-r_max, r_max)),
        Spec("log1p", mp.mpf("1e-20"), S_MAX**2 * (1 + mp.mpf(2) ** -40),
             target=log1p_u, weight=lambda v: mp.sqrt(v) * v / (2 * mp.atanh(mp.sqrt(v))),
             basis=lambda v, j: v**j, count=(7 if double else 3), check=log1p_check,
             reference=mp.log1p, argument=(1 / SQRT2 - 1, SQRT2 - 1)),
        Spec("tanh", 0, mp.mpf("0.55") ** 2,
             target=lambda s: mp.tanh(mp.sqrt(s)) / mp.sqrt(s) - 1 if s > 0 else mp.mpf(0),
             weight=lambda s: mp.sqrt(s) / mp.tanh(mp.sqrt(s)) if s > 0 else mp.mpf(1),
             basis=lambda s, j: s**(j + 1), count=(11 if double else 5),
             check=lambda coeffs, x: x + x * (x * x) * estrin(coeffs, x * x),
             reference=mp.tanh, argument=(0, mp.mpf("0.55"))),
        Spec("erf", 0, 1,
             target=lambda s: mp.erf(mp.sqrt(s)) / mp.sqrt(s) - 1 if s > 0 else 2 / mp.sqrt(mp.pi) - 1,
             weight=lambda s: mp.sqrt(s) / mp.erf(mp.sqrt(s)) if s > 0 else mp.sqrt(mp.pi) / 2,
             basis=lambda s, j: s**j, count=(13 if double else 7),
             check=lambda coeffs, x: x + x * estrin(coeffs, x * x),
             reference=mp.erf, argument=(0, 1)),
        tail_spec("erf_tail", lambda x: erfcx(x) * mp.sqrt(mp.pi) / 2, 1, erf_end,
                  c=3, t0="0.6", count=(17 if double else 8)),
        Spec("cdf", mp.mpf("1e-20"), 1,
             target=lambda s: (normal_cdf(mp.sqrt(s)) - mp.mpf(1) / 2) / mp.sqrt(s) if s > 0
             else 1 / mp.sqrt(2 * mp.pi),
             weight=cdf_weight,
             basis=lambda s, j: s**j, count=(12 if double else 6),
             check=lambda coeffs, z: 0.5 + z * estrin(coeffs, z * z),
             reference=normal_cdf, argument=(-0.5, 1)),
        # Double only: gelu takes the double Mills polynomial for float results too (its
        # derivative cancels near z = -0.75, where a float-accurate one is not enough).
        *([tail_spec("mills", mills, mp.mpf("0.5"), gelu_end, c=2, t0="0.15", count=26)] if double else []),
    ]


def measured_ulps(spec, coeffs, precision, samples, seed=0):
    """Largest error of the assembled function (evaluated in double, then rounded to the
    precision), in ulps of the correctly rounded value."""
    dtype = PRECISIONS[precision]
    rng = np.random.default_rng(seed)
    lo, hi = (float(v) for v in spec.argument)
    x = np.concatenate([rng.uniform(lo, hi, samples), np.linspace(lo, hi, 257)]).astype(dtype)
    x = x[x != 0].astype(np.float64)
    approx = spec.check(coeffs if spec.split_constant else [float(c) for c in coeffs], x).astype(dtype)
    worst = 0.0
    for xi, yi in zip(x, approx):
        exact = spec.reference(mp.mpf(float(xi)))
        ulp = float(np.spacing(dtype(abs(float(exact)))))
        worst = max(worst, float(abs(mp.mpf(float(yi)) - exact)) / ulp)
    return worst


def constants():
    """Constants of the range reductions (k ln2_hi is exact for |k| < 2^11)."""
    ln2 = mp.log(2)
    scale = mp.mpf(2) ** (53 - 11)
    ln2_hi = mp.floor(ln2 * scale + mp.mpf(1) / 2) / scale
    values = {
        "log2e": 1 / ln2,
        "ln2_hi": ln2_hi,
        "ln2_lo": ln2 - ln2_hi,
        "ln2": ln2,
        "ln2_tail": ln2 - round_to(ln2),
        "log_two_over_sqrt_pi": mp.log(2 / mp.sqrt(mp.pi)),
        "log_inv_sqrt_two_pi": -mp.log(mp.sqrt(2 * mp.pi)),
    }
    return {key: float(value) for key, value in values.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="approximations to fit (default: all)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), nargs="+", default=["double", "float"])
    parser.add_argument("--points", type=int, default=1200, help="grid points of the Remez exchange")
    parser.add_argument("--samples", type=int, default=2000, help="random points of the final check")
    args = parser.parse_args()
    print("// constants")
    for key, value in constants().items():
        print(f"static constexpr double {key} = {value!r};")
    for precision in args.precision:
        print(f"// results in {precision}")
        for spec in specs(precision):
            if args.only and spec.name not in args.only:
                continue
            coeffs, exact, rounded, terms = fit(spec, spec.count, args.points)
            ulps = measured_ulps(spec, coeffs, precision, args.samples)
            print(f"// {spec.name}: {spec.count} coefficients, weighted error {mp.nstr(exact, 3)} (exact), "
                  f"{mp.nstr(rounded, 3)} (rounded), terms / function <= {mp.nstr(terms, 3)}; "
                  f"assembled in double and rounded to {precision}: {ulps:.3f} ulp")
            text = ", ".join(repr(float(c)) for c in coeffs)
            print(f"static constexpr double {spec.name}[] = {{{text}}};")
            if spec.split_constant:
                print(f"static constexpr double {spec.name}_lo = {split(coeffs[0])[1]!r};  // {spec.name}[0] + this")


if __name__ == "__main__":
    main()
