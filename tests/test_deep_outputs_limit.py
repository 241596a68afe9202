"""At large widths the kernel of a deep network traced over its k outputs approaches the limit kernel.

Over networks of several seeds, in the NTK parametrization: the mean over seeds of the
traced kernel is within five standard errors of the mean of ``limit_kernel(depth=2)`` at
every width, and the off-diagonal blocks ``K_ii'``, ``i != i'``, have the mean 0. At finite
width the deep kernel's mean is not exactly the limit, so a width-dependent allowance of
``C / n`` (``C`` the limit's largest entry) is added. Negative controls: a limit kernel 10%
off on its largest entry and off-diagonal blocks offset by 10% of the limit's scale fail.
The controls are 10%, not 1%: five standard errors of 24 seeds at width 1024 are about 3%
of the kernel's scale (a 1% resolution would take widths beyond 4096, too slow for a test).
"""

import functools

import numpy as np
import pytest

import widenet

K_OUTPUTS, SEEDS, BIAS_VAR, WIDTHS = 3, 24, 0.5, (256, 1024)
X = np.random.default_rng(0).standard_normal((4, 3))


@functools.lru_cache(maxsize=None)
def samples(activation, width):
    traced, off_diagonal = [], []
    for seed in range(SEEDS):
        net = widenet.Network(X.shape[1], (width, width), activation, "ntk", seed=seed, outputs=K_OUTPUTS,
                              bias_var=BIAS_VAR)
        blocks = net.ntk(X, trace_outputs=False)
        traced.append(net.ntk(X))
        off_diagonal.append([blocks[:, i, :, j] for i in range(K_OUTPUTS) for j in range(K_OUTPUTS) if i != j])
    return np.array(traced), np.array(off_diagonal)


def assert_mean_within(sampled, expected, allowance, what):
    mean = sampled.mean(axis=0)
    error = sampled.std(axis=0, ddof=1) / np.sqrt(len(sampled))
    excess = np.abs(mean - expected) - (5 * error + allowance)
    assert (excess <= 0).all(), f"{what}: the mean is off by up to {np.max(excess):.3g} beyond 5 standard errors"


@pytest.mark.parametrize("activation", ["relu", "tanh", "erf"])
def test_the_traced_kernel_approaches_the_deep_limit_kernel(activation):
    limit = widenet.limit_kernel(X, activation=activation, parametrization="ntk", bias_var=BIAS_VAR, depth=2)
    for width in WIDTHS:
        traced, off_diagonal = samples(activation, width)
        allowance = np.max(np.abs(limit)) / width
        assert_mean_within(traced, limit, allowance, f"width {width}")
        assert_mean_within(off_diagonal, 0.0, 0.0, f"off-diagonal, width {width}")
    wrong = limit.copy()
    wrong[np.unravel_index(np.argmax(np.abs(limit)), limit.shape)] *= 1.10
    with pytest.raises(AssertionError):
        assert_mean_within(traced, wrong, allowance, "10% off")
    with pytest.raises(AssertionError):
        assert_mean_within(off_diagonal + 0.10 * np.max(np.abs(limit)), 0.0, 0.0, "offset by 10%")
