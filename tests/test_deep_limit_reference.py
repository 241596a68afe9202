"""The infinite-width kernels of deep networks (numpy twin) against independent computations:
the one-hidden-layer kernels, the relu arc-cosine recursion written out here, and wide networks
(Monte Carlo over seeds, with a tolerance from the standard error that a 1% error exceeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from widenet.network.deep import Network
from widenet.reference.limit_kernels import limit_kernel
from widenet.reference.limit_kernels.deep import deep_limit_kernel

ACTIVATIONS = ["relu", "erf", "tanh", "arctan", "sigmoid", "softplus", "gelu", "sin", "identity"]
VARIANCES = dict(weight_var=1.4, bias_var=0.3, output_var=0.8, output_bias_var=0.2)


def points(m=5, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((m, d))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_one_hidden_layer_is_the_shallow_limit_kernel(activation, parametrization, kind):
    X, Z = points(), points(4, seed=1)
    for second in (X, Z):
        got = deep_limit_kernel(X, second, activation, 1, parametrization, kind, **VARIANCES)
        expected = limit_kernel(X, second, activation, parametrization, kind, **VARIANCES)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def _arccos_recursion(X, Z, depth, parametrization, kind, s_w2, s_b2, s_v2, s_c2, bias, multipliers):
    """The relu kernels by the arc-cosine formulas, written out independently of the library."""
    b2, c2 = (s_b2, s_c2) if bias else (0.0, 0.0)
    d = X.shape[1]
    q_x = s_w2 * np.sum(X * X, 1)[:, None] / d + b2
    q_z = s_w2 * np.sum(Z * Z, 1)[None, :] / d + b2
    cov = s_w2 * X @ Z.T / d + b2
    mw2, mb2 = (s_w2, b2) if multipliers else (1.0, 1.0 if bias else 0.0)
    theta = mw2 * X @ Z.T / d + mb2
    ss_list, dd_list = [], []
    for layer in range(depth):
        root = np.sqrt(q_x * q_z)
        angle = np.arccos(np.clip(cov / root, -1, 1))
        ss = root * (np.sin(angle) + (math.pi - angle) * np.cos(angle)) / (2 * math.pi)
        dd = (math.pi - angle) / (2 * math.pi)
        ss_list.append(ss)
        dd_list.append(dd)
        if layer < depth - 1:
            theta = mw2 * ss + mb2 + s_w2 * dd * theta
            cov, q_x, q_z = s_w2 * ss + b2, s_w2 * q_x / 2 + b2, s_w2 * q_z / 2 + b2  # E[relu(h)^2] = q / 2
    if kind == "nngp":
        return s_v2 * ss_list[-1] + c2
    if parametrization == "ntk":
        mv2, mc2 = (s_v2, c2) if multipliers else (1.0, 1.0 if bias else 0.0)
        return mv2 * ss_list[-1] + mc2 + s_v2 * dd_list[-1] * theta
    total, back = ss_list[-1].copy(), s_v2 * dd_list[-1]
    for layer in range(depth - 2, -1, -1):
        total += ss_list[layer] * back
        back = s_w2 * dd_list[layer] * back
    return total


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("parametrization, kind, multipliers", [
    ("lecun", "ntk", False), ("lecun", "nngp", False), ("ntk", "ntk", False), ("ntk", "ntk", True),
    ("ntk", "nngp", True)])
@pytest.mark.parametrize("bias", [True, False])
def test_relu_against_the_arc_cosine_recursion(depth, parametrization, kind, multipliers, bias):
    X, Z = points(6, 4, seed=2), points(3, 4, seed=3)
    expected = _arccos_recursion(X, Z, depth, parametrization, kind, 1.4, 0.3, 0.8, 0.2, bias, multipliers)
    got = deep_limit_kernel(X, Z, "relu", depth, parametrization, kind, **VARIANCES, bias=bias,
                            multipliers=multipliers)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.max(np.abs(1.01 * got - expected)) > 1e-3 * np.max(np.abs(expected))
    symmetric = deep_limit_kernel(X, X, "relu", depth, parametrization, kind, **VARIANCES, bias=bias,
                                  multipliers=multipliers)
    assert np.array_equal(symmetric, symmetric.T)
    # on the diagonal the recursion above rounds cov / root to just below 1, where arccos is
    # steep (an angle of ~1e-8 instead of 0); the library takes a point's correlation as exactly 1
    np.testing.assert_allclose(np.diag(symmetric), np.diag(_arccos_recursion(
        X, X, depth, parametrization, kind, 1.4, 0.3, 0.8, 0.2, bias, multipliers)), rtol=1e-7)


@pytest.mark.parametrize("activation, parametrization, kind, multipliers", [
    ("tanh", "ntk", "ntk", False), ("erf", "ntk", "ntk", True), ("softplus", "ntk", "nngp", False),
    ("tanh", "lecun", "nngp", False)])
def test_wide_networks_converge_to_the_limit_within_their_standard_error(activation, parametrization, kind,
                                                                         multipliers):
    """Depth 2, width 3000, 12 seeds: the mean empirical kernel against the limit within 4 standard
    errors of that mean (about 2% here; the finite-width bias, O(1/n), is well inside it). The
    recursion itself is held to 1% by the exact checks above (depth 1 for every activation, the
    relu recursion at depths 2 and 3); this checks the numerical expectations inside it."""
    X = points(4, 3, seed=4)
    samples = []
    for seed in range(12):
        net = Network(3, [3000, 3000], activation, parametrization, multipliers=multipliers, seed=seed,
                      **VARIANCES)
        samples.append(net.ntk(X) if kind == "ntk" else net.nngp(X))
    samples = np.array(samples)
    mean, error = samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(len(samples))
    limit = deep_limit_kernel(X, X, activation, 2, parametrization, kind, **VARIANCES, multipliers=multipliers)
    assert np.all(np.abs(mean - limit) < 4 * error + 1e-3 * np.abs(limit))


def test_lecun_tangent_kernel_is_the_limit_of_k_over_n():
    X = points(3, 3, seed=5)
    n, samples = 4000, []
    for seed in range(10):
        samples.append(Network(3, [n, n], "erf", "lecun", seed=seed, **VARIANCES).ntk(X) / n)
    samples = np.array(samples)
    mean, error = samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(len(samples))
    limit = deep_limit_kernel(X, X, "erf", 2, "lecun", "ntk", **VARIANCES)
    # the first layer's and the biases' terms are O(1/n) of it: 3e-3 here
    assert np.all(np.abs(mean - limit) < 4 * error + 3e-3 * np.abs(limit))


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="^depth: expected an integer >= 1"):
        deep_limit_kernel(points(), points(), "relu", 0)
