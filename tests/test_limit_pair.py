"""Both kernels of a limit network from one pass (``limit_kernel_pair``): the compiled pair against
its numpy twin over every activation, method, parametrization and depth, with and without biases
and multipliers, symmetric and cross; each of the two equal to ``limit_kernel`` of its kind; the
public function's checks; and the one pass spied on."""

from __future__ import annotations

import numpy as np
import pytest

import widenet
from widenet import _core
from widenet.reference import limit_kernels as reference

VARIANCES = (1.4, 0.3, 0.8, 0.2)
LAYERS = [(1, True, False), (1, False, True), (2, True, False), (3, True, True), (3, False, False)]


def _methods(activation):
    """Every method of the activation but the quadrature (the expansion's pairs that fall back
    on it take it for silu and elu, which have neither a closed form nor a scale mixture)."""
    return [method for method, names in (("closed_form", _core.CLOSED_FORMS), ("scale_mixture", _core.SCALE_MIXTURES),
                                         ("expansion", _core.EXPANSIONS)) if activation in names]


def assert_close(got, expected, rtol):
    """Equal to ``rtol`` of the largest entry; a 1% error would not pass."""
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * scale)
    assert not np.allclose(1.01 * got, expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("activation", list(_core.ACTIVATIONS))
@pytest.mark.parametrize("parametrization, depth, bias, multipliers",
                         [(parametrization, *layers) for parametrization in ("lecun", "ntk") for layers in LAYERS
                          if parametrization == "ntk" or not layers[2]])  # multipliers: the NTK parametrization's
def test_the_compiled_pair_matches_the_twin(activation, parametrization, depth, bias, multipliers):
    rng = np.random.default_rng(depth)
    X, Z = 0.8 * rng.standard_normal((6, 3)), 0.8 * rng.standard_normal((4, 3))
    shallow = (depth, bias, multipliers) == (1, True, False)
    for method in _methods(activation):
        for second in (None, Z):
            if shallow:
                got = _core.limit_kernel_pair(X, second, activation, parametrization, VARIANCES, method)
                expected = reference.limit_kernel_pair(X, X if second is None else second, activation,
                                                       parametrization, *VARIANCES, method=method)
            else:
                network = _core.LimitNetwork(activation, parametrization, depth, bias, multipliers)
                got = _core.limit_kernel_pair(X, second, network, VARIANCES, method)
                expected = reference.deep_limit_kernel_pair(X, X if second is None else second, activation, depth,
                                                            parametrization, *VARIANCES, bias=bias,
                                                            multipliers=multipliers, method=method)
            for got_kind, expected_kind in zip(got, expected):
                assert_close(got_kind, expected_kind, 1e-10)
                if second is None:
                    assert np.array_equal(got_kind, got_kind.T)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "arctan"])
@pytest.mark.parametrize("depth, bias, multipliers", LAYERS)
def test_each_of_the_pair_is_limit_kernel_of_its_kind(backend, activation, depth, bias, multipliers):
    rng = np.random.default_rng(3)
    X, Z = rng.standard_normal((7, 2)), 2.0 * rng.standard_normal((3, 2))
    options = dict(activation=activation, parametrization="ntk", depth=depth, bias=bias, multipliers=multipliers,
                   weight_var=1.4, bias_var=0.3, output_var=0.8, output_bias_var=0.2, backend=backend)
    for second in (None, Z):
        nngp, ntk = widenet.limit_kernel_pair(X, second, **options)
        np.testing.assert_array_equal(nngp, widenet.limit_kernel(X, second, kind="nngp", **options))
        np.testing.assert_array_equal(ntk, widenet.limit_kernel(X, second, kind="ntk", **options))


def test_an_activation_given_as_a_function_takes_the_twin():
    activation = widenet.CallableActivation(np.tanh, derivative=lambda t: 1.0 / np.cosh(t) ** 2)
    X = np.random.default_rng(4).standard_normal((5, 2))
    nngp, ntk = widenet.limit_kernel_pair(X, activation=activation, parametrization="ntk", depth=2)
    assert_close(nngp, widenet.limit_kernel(X, activation="tanh", parametrization="ntk", depth=2, kind="nngp"), 1e-8)
    assert_close(ntk, widenet.limit_kernel(X, activation="tanh", parametrization="ntk", depth=2), 1e-8)
    with pytest.raises(ValueError, match="^method: an activation given as a function has no closed form"):
        widenet.limit_kernel_pair(X, activation=activation, method="closed_form")


@pytest.mark.parametrize("call, error, message", [
    (lambda X: widenet.limit_kernel_pair(X, activation="relu", method="monte_carlo"), ValueError,
     "^method: the pair needs a deterministic method"),
    (lambda X: widenet.limit_kernel_pair(X, activation="softsign"), ValueError, "^activation"),
    (lambda X: widenet.limit_kernel_pair(X, activation="relu", depth=0), ValueError, "^depth"),
    (lambda X: widenet.limit_kernel_pair(X, activation="relu", weight_var=-1.0), ValueError, "^weight_var"),
    (lambda X: widenet.limit_kernel_pair(X, activation="relu", backend="gpu"), ValueError, "^backend"),
    (lambda X: widenet.limit_kernel_pair(X, X[:, :1], activation="relu"), ValueError, "^X2"),
    (lambda X: widenet.limit_kernel_pair(X, activation="relu", method="closed_form", parametrization="lecun",
                                         multipliers=True), ValueError, "^multipliers"),
])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call(np.ones((3, 2)))


def test_the_pair_is_one_pass(monkeypatch):
    """One compiled call gives both (no call of the single kernel), and a caller's array is left alone."""
    calls = []
    for name in ("limit_kernel", "limit_kernel_pair"):
        original = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda *args, _name=name, _f=original, **kwargs: calls.append(_name) or
                            _f(*args, **kwargs))
    X = np.random.default_rng(5).standard_normal((8, 3))
    before = X.copy()
    widenet.limit_kernel_pair(X, activation="relu", parametrization="ntk", depth=3, multipliers=True)
    assert calls == ["limit_kernel_pair"]
    np.testing.assert_array_equal(X, before)
