"""The infinite-width kernels meet their accuracy guarantee at every scale.

``widenet.limit_kernel`` promises each expectation ``E_ss = E[s(u) s(v)]``,
``E_dd = E[s'(u) s'(v)]`` within ``1e-9`` of its scale ``sqrt(E[s(u)^2] E[s(v)^2])`` (resp.
``s'``), hence every entry within ``1e-9 sqrt(K(x, x) K(z, z))``, for every activation, every
pre-activation variance and every correlation. Checked here against computations that share
nothing with it:

- an adaptive scipy integral over the Gaussian pair, its panels cut at the activations'
  features (written here, with the activations written here too);
- Monte Carlo over the pair, with a z-test on the standard error;
- the library's graded quadrature against its closed forms and scale mixtures (different
  mathematics: the quadrature integrates the activation, the others integrate closed
  kernels over mixing scales) over a dense grid of variances and correlations;
- the overflow range, where the answer is finite, the IEEE limit, or a named error;
- the compiled kernel against its numpy twin, tight, at every scale.
"""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

import widenet
from widenet.reference import limit_kernels as L

TOLERANCE = widenet.limit_kernels.TOLERANCE
ACTIVATIONS = widenet.ACTIVATIONS


# -- an independent reference: nested adaptive quadrature ------------------------------------------
def _sigmoid(t):
    return 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))


def _sech2(t):
    return 0.0 if abs(t) > 350 else 1 / math.cosh(t) ** 2


ACTIVATION_FUNCTIONS = {  # name -> (s, s'), from math and scipy.special only
    "relu": (lambda t: max(t, 0.0), lambda t: 1.0 if t > 0 else 0.0),
    "tanh": (math.tanh, _sech2),
    "erf": (math.erf, lambda t: 2 / math.sqrt(math.pi) * math.exp(-t * t)),
    "arctan": (math.atan, lambda t: 1 / (1 + t * t)),
    "sigmoid": (_sigmoid, lambda t: _sigmoid(t) * _sigmoid(-t)),
    "softplus": (lambda t: max(t, 0.0) + math.log1p(math.exp(-abs(t))), _sigmoid),
    "gelu": (lambda t: t * special.ndtr(t), lambda t: special.ndtr(t) + t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)),
    "sin": (math.sin, math.cos),
    "identity": (lambda t: t, lambda t: 1.0),
}
REACH = 9.0  # standard deviations


def _phi(t):
    return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


def _edges(centre, widths):
    """[-REACH, REACH] cut at ``centre`` and at ``centre +- w 4^k`` for each feature width."""
    points = {-REACH, REACH, centre}
    for width in widths:
        if 0 < width < math.inf:
            offset = width
            while offset < 4 * REACH:
                points.update(p for p in (centre - offset, centre + offset) if -REACH < p < REACH)
                offset *= 4
    return sorted(p for p in points if -REACH <= p <= REACH)


def _integral(fn, edges, epsabs):
    """The integral over the panels, asserting that quad's error estimate stays 10 times
    below the tolerance under test (``epsabs`` is 1e-13 of the scale; quad warns, and is
    silenced, when rounding keeps it from its ``epsrel``)."""
    total = error = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for lo, hi in zip(edges[:-1], edges[1:]):
            value, estimate = integrate.quad(fn, lo, hi, epsabs=epsabs, epsrel=1e-13, limit=200)
            total, error = total + value, error + estimate
    assert error <= 1e-3 * TOLERANCE * abs(total) + 1000 * epsabs, (total, error)
    return total


def _second_moment(fn, q):
    """E[fn(u)^2], u ~ N(0, q)."""
    root = math.sqrt(q)
    return _integral(lambda a: fn(root * a) ** 2 * _phi(a), _edges(0.0, [1 / root if root else 0]), 1e-300)


def _pair_expectation(f, g, q1, q2, rho, epsabs):
    """E[f(u) g(v)] with u = sqrt(q1) a, v = sqrt(q2) (rho a + s b) over independent normals."""
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    s = math.sqrt((1 - rho) * (1 + rho))
    tau = r2 * s

    def inner(a):
        if tau == 0:
            return g(r2 * rho * a)
        centre = -rho * a / s
        return _integral(lambda b: g(r2 * rho * a + tau * b) * _phi(b), _edges(centre, [1 / tau]), epsabs)

    widths = [1 / r1 if r1 else 0.0]
    if r2 * abs(rho) > 0:
        widths += [1 / (r2 * abs(rho)), max(1.0, tau) / (r2 * abs(rho))]
    return _integral(lambda a: f(r1 * a) * inner(a) * _phi(a), _edges(0.0, widths), epsabs)


def scipy_expectations(activation, q1, q2, rho):
    """(E_ss, E_dd) and their scales, by scipy.integrate.quad, to about 1e-12 of the scales."""
    s, ds = ACTIVATION_FUNCTIONS[activation]
    scales = [math.sqrt(_second_moment(fn, q1)) * math.sqrt(_second_moment(fn, q2)) for fn in (s, ds)]
    values = [_pair_expectation(fn, fn, q1, q2, rho, 1e-13 * scale) for fn, scale in zip((s, ds), scales)]
    return values, scales


def pair_points(q1, q2, rho):
    """x, z in d = 2 with |x|^2/2 = q1, |z|^2/2 = q2 and x.z / (|x||z|) = rho."""
    s = math.sqrt((1 - rho) * (1 + rho))
    return (np.array([math.sqrt(2 * q1), 0.0]), np.array([math.sqrt(2 * q2) * rho, math.sqrt(2 * q2) * s]))


VARIANT_OPTIONS = {  # the three kernels, with output variances that weigh E_ss and E_dd alike
    "K_LC": dict(parametrization="lecun", kind="ntk"),
    "K_NTK": dict(parametrization="ntk", kind="ntk", output_var=1e6),
    "NNGP": dict(parametrization="ntk", kind="nngp", output_var=2.0, output_bias_var=0.3),
}


def expected_kernels(E_ss, E_dd, x, z, output_var=1.0, output_bias_var=0.0):
    """The three kernels from the expectations (Theorems 11.16, 11.30; Prop. 11.28), written here."""
    factor = x @ z / x.size + 1
    return {"K_LC": E_ss, "K_NTK": 1e6 * factor * E_dd + E_ss + 1, "NNGP": 2.0 * E_ss + 0.3}


def check_pair(activation, x, z, bias_var=0.0, method="auto", backend="cpp", reference=None):
    """widenet's three kernels at (x, z) against the kernels of ``reference`` expectations
    (default: scipy's) at the covariances widenet computes, within the guarantee
    ``TOLERANCE sqrt(K(x, x) K(z, z))`` plus the rounding of the final sums."""
    d = x.size
    q1, q2, c = x @ x / d + bias_var, z @ z / d + bias_var, x @ z / d + bias_var
    rho = max(-1.0, min(1.0, c / math.sqrt(q1 * q2))) if q1 * q2 > 0 else 0.0
    (E_ss, E_dd) = (reference or (lambda *a: scipy_expectations(*a)[0]))(activation, q1, q2, rho)
    expected = expected_kernels(E_ss, E_dd, x, z)
    for name, options in VARIANT_OPTIONS.items():
        K = widenet.limit_kernel(np.stack([x, z]), activation=activation, bias_var=bias_var, method=method,
                                 backend=backend, **options)
        bound = TOLERANCE * math.sqrt(abs(K[0, 0] * K[1, 1]))
        rounding = 1e-15 * (abs(1e6 * (x @ z / d + 1) * E_dd) + abs(E_ss) + 1)
        assert abs(K[0, 1] - expected[name]) <= bound + rounding, (activation, name, q1, q2, rho, K[0, 1],
                                                                    expected[name], bound)


SCIPY_GRID = [  # (q1, q2, rho): tiny, unit, large and huge variances, mixed, rho from -1 to 1
    (1e-6, 3e-6, 0.6), (1.0, 2.0, -0.3), (1e4, 1e4, 1.0), (1e4, 3e4, 0.999), (1e12, 1e12, -0.5),
    (1e12, 1.0, 0.8), (0.5, 1e8, -1.0), (2.0, 2.0, 0.0),
]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_kernels_against_scipy_over_the_scales(activation):
    """Every kernel within 1e-9 sqrt(K(x, x) K(z, z)) of the one built from scipy's adaptive
    integrals, at variances from 1e-6 to 1e12 and correlations from -1 to 1, with and
    without a bias variance (sin, whose integrand oscillates ~sqrt(q) times, up to q = 100:
    its closed form is checked at larger q in test_sin_closed_form)."""
    for q1, q2, rho in SCIPY_GRID:
        if activation == "sin" and max(q1, q2) > 100:
            continue
        x, z = pair_points(q1, q2, rho)
        check_pair(activation, x, z)
        if q1 < 10:
            check_pair(activation, x, z, bias_var=0.7)


# -- the independent methods against each other over a dense grid -----------------------------
def grid_points(scales, angles):
    """Points of d = 2 at every scale (|x|^2 / 2 = s^2 / 2) and angle: pairs at every ratio of
    variances and at correlations cos(angle difference), among them exactly +-1."""
    return np.array([[s * math.cos(a), s * math.sin(a)] for s in scales for a in angles])


ANGLES = (0.0, 1.0, math.pi / 2, 2.0, math.pi - 1e-6, math.pi)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_quadrature_agrees_with_the_closed_forms_and_mixtures(activation):
    """The graded quadrature integrates the activation itself; the closed forms and scale
    mixtures integrate closed kernels over mixing scales. The two agree within the
    guarantee over every pair of 36-60 points at scales 1e-3 .. 1e6 (variances 5e-7 .. 5e11,
    as far as the quadrature takes arctan and sin), correlations from -1 to 1, with and
    without a bias variance; and at these sizes neither gives NaN or inf."""
    limit = L.QUADRATURE_MAX_VARIANCE.get(activation, math.inf)
    scales = [s for s in (1e-3, 0.1, 1.0, 10.0, 1e3, 1e6) if s * s / 2 <= limit] + [math.sqrt(limit)] * (
        limit < math.inf)
    X = grid_points(scales, ANGLES)
    for bias_var in (0.0, 0.5):
        for options in ({"parametrization": "lecun"}, {"parametrization": "ntk", "output_var": 1e6}):
            common = dict(activation=activation, bias_var=bias_var, **options)
            auto = widenet.limit_kernel(X, **common)
            quadrature = widenet.limit_kernel(X, method="quadrature", **common)
            assert np.all(np.isfinite(auto)) and np.all(np.isfinite(quadrature))
            diagonal = np.abs(np.diagonal(auto))
            bound = TOLERANCE * np.sqrt(np.outer(diagonal, diagonal))
            excess = np.abs(auto - quadrature) - bound
            worst = np.unravel_index(np.argmax(excess), excess.shape)
            assert excess[worst] <= 0, (bias_var, options, X[worst[0]], X[worst[1]], auto[worst], quadrature[worst])


@pytest.mark.parametrize("activation", ["relu", "tanh", "erf", "sigmoid", "softplus", "gelu", "identity"])
def test_quadrature_agrees_with_the_closed_forms_and_mixtures_at_extreme_variances(activation):
    """The same at scales 1e-150 .. 1e150 (variances 1e-300 .. 1e300), where no product of
    variances may be formed: the kernels (NNGP, whose entries stay finite) agree within the
    guarantee, and are finite."""
    X = grid_points((1e-150, 1e-30, 1.0, 1e30, 1e100, 1e150), ANGLES)
    common = dict(activation=activation, kind="nngp")
    auto = widenet.limit_kernel(X, **common)
    quadrature = widenet.limit_kernel(X, method="quadrature", **common)
    assert np.all(np.isfinite(auto)) and np.all(np.isfinite(quadrature))
    diagonal = np.abs(np.diagonal(auto))
    bound = TOLERANCE * np.sqrt(diagonal)[:, None] * np.sqrt(diagonal)[None, :]
    assert np.all(np.abs(auto - quadrature) <= bound)
