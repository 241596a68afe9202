"""The infinite-width kernels of leaky_relu, elu, silu, abs, monomial2 and monomial3.

Checked against computations that share nothing with the library:

- closed forms written here (relu's arc-cosine kernels plus the covariance for leaky_relu and
  abs, Isserlis' theorem for the monomials) and, for every one of the six, the nested
  adaptive scipy integral of tests/test_limit_accuracy.py over variances 1e-3 .. 1e3 and
  correlations up to +-1;
- Monte Carlo over wide finite networks (shallow and deep, both parametrizations): the mean
  of ``K_n`` (NTK parametrization) and of the empirical NNGP over independent networks lies
  within four standard errors of the limit;

and each check is shown to reject the kernel made 1% larger (the Monte Carlo one with wider
networks, where the standard error is well below 1%).
"""

import math

import numpy as np
import pytest

import widenet
from test_limit_accuracy import TOLERANCE, pair_points, scipy_expectations

ADDED = ("leaky_relu", "elu", "silu", "abs", "monomial2", "monomial3")
GRID = [(q1, q2, rho) for q1, q2 in ((1e-3, 1e-3), (1.0, 3.0), (1e3, 1e3), (1e-3, 3e2))
        for rho in (-1.0, -0.999999, -0.4, 0.3, 0.999999, 1.0)]


def relu_pair(q1, q2, rho):
    """relu's E_ss and E_dd (Example 11.17, Exercise 11.36), written here."""
    theta = math.acos(rho)
    root = math.sqrt(q1 * q2)
    return root / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * rho), (math.pi - theta) / (2 * math.pi)


def closed_pair(activation, q1, q2, rho):
    """E_ss and E_dd of the four closed forms, written here from the definitions."""
    c = rho * math.sqrt(q1 * q2)
    if activation == "monomial2":  # E[u^2 v^2], E[2u 2v]
        return q1 * q2 + 2 * c * c, 4 * c
    if activation == "monomial3":  # E[u^3 v^3], E[3u^2 3v^2]
        return 9 * q1 * q2 * c + 6 * c ** 3, 9 * (q1 * q2 + 2 * c * c)
    a = 0.01 if activation == "leaky_relu" else -1.0  # the slope below 0; 1 above
    ss, dd = relu_pair(q1, q2, rho)
    return a * c + (1 - a) ** 2 * ss, a + (1 - a) ** 2 * dd


def kernels_at(activation, x, z, method="auto"):
    """E_ss (K_LC) and E_dd (from K_NTK with s_v^2 = 2^40) of the pair, and their scales."""
    X = np.stack([x, z])
    lecun = widenet.limit_kernel(X, activation=activation, method=method)
    big = 2.0 ** 40
    ntk = widenet.limit_kernel(X, activation=activation, parametrization="ntk", output_var=big, method=method)
    factors = X @ X.T / 2 + 1
    dd = (ntk - lecun - 1) / (big * factors)
    return (lecun[0, 1], dd[0, 1]), (math.sqrt(abs(lecun[0, 0] * lecun[1, 1])), math.sqrt(abs(dd[0, 0] * dd[1, 1])))


@pytest.mark.parametrize("activation", ["leaky_relu", "abs", "monomial2", "monomial3"])
def test_closed_forms_against_the_definitions(activation):
    """Within 1e-12 of the scale (the extraction of E_dd from K_NTK costs a few ulps of it);
    the same forms 1% off are far outside."""
    for q1, q2, rho in GRID:
        x, z = pair_points(q1, q2, rho)
        q1, q2 = x @ x / 2, z @ z / 2
        rho = max(-1.0, min(1.0, (x @ z / 2) / math.sqrt(q1 * q2)))
        got, scales = kernels_at(activation, x, z)
        expected = closed_pair(activation, q1, q2, rho)
        for value, want, scale in zip(got, expected, scales):
            assert abs(value - want) <= 1e-12 * scale + 1e-300, (activation, q1, q2, rho, value, want)
        assert abs(got[0] - 1.01 * expected[0]) > 1e-12 * scales[0] or expected[0] == 0


@pytest.mark.parametrize("activation", ADDED)
def test_every_method_against_an_independent_integral(activation):
    """auto (and the expansion and the quadrature of silu and elu) within the guarantee of the
    nested adaptive scipy integral, variances 1e-3 .. 1e3, correlations to +-1; a kernel 1% off
    is not."""
    methods = ["auto", "quadrature"] + (["expansion"] if activation in widenet.kernels.limit.EXPANSIONS else [])
    rejected = False
    for q1, q2, rho in GRID[::2] if activation in ("silu", "elu") else GRID[::3]:
        x, z = pair_points(q1, q2, rho)
        q1, q2 = x @ x / 2, z @ z / 2
        rho = max(-1.0, min(1.0, (x @ z / 2) / math.sqrt(q1 * q2)))
        expected, _ = scipy_expectations(activation, q1, q2, rho)
        for method in methods:
            got, scales = kernels_at(activation, x, z, method)
            for value, want, scale in zip(got, expected, scales):
                bound = TOLERANCE * scale + 1e-13 * scale
                assert abs(value - want) <= bound, (activation, method, q1, q2, rho, value, want)
                rejected |= abs(1.01 * value - want) > bound
    assert rejected


def _monte_carlo(make, kernel_of, X, networks):
    """Mean and standard error of ``kernel_of(network, X)`` over independent networks."""
    samples = np.array([kernel_of(make(seed), X) for seed in range(networks)])
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(networks)


@pytest.mark.parametrize("activation", ADDED)
@pytest.mark.parametrize("depth", [1, 2])
def test_wide_networks_have_the_limit_kernel(activation, depth):
    """NTK parametrization: the mean of K_n over 24 networks of width 1024 (depth 1 and 2,
    biases 0.1) within 4 standard errors (plus the O(1/n) bias of a finite width) of
    ``limit_kernel``; LeCun: the empirical NNGP of a deep network alike. The limit made 1%
    larger falls outside for some entry."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((4, 3)) * 0.8
    options = dict(bias_var=0.1, weight_var=1.2, output_var=0.9)
    width = 1024

    def make(seed, parametrization="ntk"):
        return widenet.Network(3, [width] * depth, activation, parametrization, seed=seed, **options)

    for parametrization, kind, kernel_of in (("ntk", "ntk", lambda net, X: net.ntk(X)),
                                             ("lecun", "nngp", lambda net, X: net.nngp(X))):
        mean, error = _monte_carlo(lambda seed: make(seed, parametrization), kernel_of, X, 24)
        limit = widenet.limit_kernel(X, activation=activation, parametrization=parametrization, kind=kind,
                                     depth=depth, **options)
        slack = 4 * error + 4 * np.abs(limit) / width
        assert np.all(np.abs(mean - limit) <= slack), (parametrization, mean, limit, error)


@pytest.mark.parametrize("activation", ADDED[:-1])
def test_wide_networks_reject_a_limit_one_percent_off(activation):
    """The Monte Carlo check has the power to see 1%: the ratio sum K_n / sum K_NTK over 48
    networks of width 8192 (NTK parametrization, biases) is within 4 standard errors (plus the
    O(1/n) bias) of 1, and not of 1.01. (monomial3's K_n spreads 5% from network to network at
    this width: seeing 1% would take a thousand networks; its closed form is checked against the
    definition to 1e-12 above.)"""
    X = np.random.default_rng(12).standard_normal((4, 3)) * 0.8
    options = dict(bias_var=0.1, weight_var=1.2, output_var=0.9)
    width = 8192
    limit = widenet.limit_kernel(X, activation=activation, parametrization="ntk", **options).sum()
    ratios = np.array([widenet.Network(3, [width], activation, "ntk", seed=seed, **options).ntk(X).sum() / limit
                       for seed in range(48)])
    slack = 4 * ratios.std(ddof=1) / math.sqrt(ratios.size) + 4 / width
    assert abs(ratios.mean() - 1) <= slack
    assert abs(ratios.mean() - 1.01) > slack


def test_names_and_methods_are_checked_by_name():
    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="^activation"):
        widenet.limit_kernel(X, activation="leaky_relu(0.2)")
    with pytest.raises(ValueError, match="^activation"):
        widenet.Network(2, [4], "monomial4")
    with pytest.raises(ValueError, match="^method: no closed form for activation 'silu'"):
        widenet.limit_kernel(X, activation="silu", method="closed_form")
    with pytest.raises(ValueError, match="^method: no expansion for activation 'abs'"):
        widenet.limit_kernel(X, activation="abs", method="expansion")
    with pytest.raises(ValueError, match="^method: no scale mixture for activation 'elu'"):
        widenet.limit_kernel(X, activation="elu", method="scale_mixture")


def test_other_parameters_through_a_callable_activation():
    """A slope other than LEAKY_RELU_SLOPE reaches the kernels as a function, with its
    derivative: at slope 0.01 it reproduces the built-in's closed form within the guarantee."""
    slope = widenet.LEAKY_RELU_SLOPE
    leaky = widenet.CallableActivation(lambda t: np.where(t > 0, t, slope * t),
                                       lambda t: np.where(t > 0, 1.0, slope), name="leaky")
    X = np.random.default_rng(2).standard_normal((5, 3))
    built_in = widenet.limit_kernel(X, activation="leaky_relu", parametrization="ntk")
    given = widenet.limit_kernel(X, activation=leaky, parametrization="ntk")
    diagonal = np.sqrt(np.diagonal(built_in))
    assert np.all(np.abs(given - built_in) <= TOLERANCE * np.outer(diagonal, diagonal))
