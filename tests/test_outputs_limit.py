"""At large width the k outputs become independent, each with the limit kernel of one output.

Over networks of several seeds at a few widths: the kernel traced over the outputs
(``K_n`` in the NTK parametrization, ``K_n / n`` in LeCun's) has the mean the limit kernel
(``limit_kernel``), and the off-diagonal blocks ``K_ii'``, ``i != i'``, the mean 0, each
within a Monte Carlo tolerance of five standard errors of the mean over seeds (plus, in
LeCun parametrization, the bound of the ``O(1/n)`` terms that division by ``n`` leaves).
The off-diagonal blocks shrink like ``n^(-1/2)``. Negative controls: a limit kernel 1% off
on its largest entry, and off-diagonal blocks offset by 1% of the diagonal's scale, fail.
"""

import functools

import numpy as np
import pytest

import widenet

K_OUTPUTS, SEEDS, BIAS_VAR = 3, 32, 0.5
WIDTHS = {"ntk": (2**10, 2**12, 2**14), "lecun": (2**12, 2**14, 2**16)}
X = np.random.default_rng(0).standard_normal((4, 3))
# the largest sigma'^2 of each activation: it bounds the O(1/n) terms of K_n / n in LeCun's
DERIVATIVE_BOUND = {"relu": 1.0, "tanh": 1.0, "erf": 4 / np.pi}


@functools.lru_cache(maxsize=None)
def samples(activation, parametrization, width):
    """The traced kernels and the off-diagonal blocks of SEEDS networks, each scaled to its limit."""
    scale = 1.0 if parametrization == "ntk" else 1.0 / width
    traced, off_diagonal = [], []
    for seed in range(SEEDS):
        net = widenet.ShallowNetwork(X.shape[1], width, activation, parametrization, seed=seed, outputs=K_OUTPUTS,
                                     bias_var=BIAS_VAR)
        blocks = net.ntk(X, trace_outputs=False) * scale
        traced.append(net.ntk(X) * scale)
        off_diagonal.append([blocks[:, i, :, j] for i in range(K_OUTPUTS) for j in range(K_OUTPUTS) if i != j])
    return np.array(traced), np.array(off_diagonal)


def bias_bound(activation, parametrization, width):
    """What ``E[K_n / n] - K_LC`` may be in LeCun parametrization: ``((1 + |x.z|) s_v^2 E_dd + 1) / n``."""
    if parametrization == "ntk":  # E[K_n] is the limit at every width
        return 0.0
    return ((1 + np.abs(X @ X.T)) * DERIVATIVE_BOUND[activation] + 1) / width


def assert_mean_within(sampled, expected, allowance, what):
    """The mean over seeds within five standard errors (and ``allowance``) of ``expected``, entry by entry."""
    mean = sampled.mean(axis=0)
    error = sampled.std(axis=0, ddof=1) / np.sqrt(len(sampled))
    excess = np.abs(mean - expected) - (5 * error + allowance)
    assert (excess <= 0).all(), f"{what}: the mean is off by up to {np.max(excess):.3g} beyond 5 standard errors"


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "erf"])
def test_the_traced_kernel_approaches_the_limit_kernel(activation, parametrization):
    limit = widenet.limit_kernel(X, activation=activation, parametrization=parametrization, bias_var=BIAS_VAR)
    for width in WIDTHS[parametrization]:
        traced, _ = samples(activation, parametrization, width)
        assert_mean_within(traced, limit, bias_bound(activation, parametrization, width), f"width {width}")
    wrong = limit.copy()
    wrong[np.unravel_index(np.argmax(np.abs(limit)), limit.shape)] *= 1.01
    with pytest.raises(AssertionError):
        assert_mean_within(traced, wrong, bias_bound(activation, parametrization, width), "1% off")


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "erf"])
def test_the_off_diagonal_blocks_approach_zero(activation, parametrization):
    spread = []
    for width in WIDTHS[parametrization]:
        _, off_diagonal = samples(activation, parametrization, width)
        assert_mean_within(off_diagonal, 0.0, 0.0, f"width {width}")
        spread.append(np.sqrt(np.mean(off_diagonal**2)))
    # a width four times larger: n^(-1/2) halves them in the NTK parametrization (n^(-3/2) in LeCun's K / n)
    ratios = np.array(spread[:-1]) / np.array(spread[1:])
    expected = 2.0 if parametrization == "ntk" else 8.0
    assert ((ratios > expected / 1.4) & (ratios < expected * 1.4)).all(), ratios
    traced, _ = samples(activation, parametrization, WIDTHS[parametrization][-1])
    with pytest.raises(AssertionError):
        assert_mean_within(off_diagonal + 0.01 * np.max(np.abs(traced.mean(axis=0))), 0.0, 0.0, "offset by 1%")
