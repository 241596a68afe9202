"""The compiled infinite-width kernels of deep networks against their numpy twin: depth 1 to 3,
every activation and method, both parametrizations and kinds, with and without biases and
multipliers, symmetric and cross; and depth 1 against the one-hidden-layer kernel."""

from __future__ import annotations

import numpy as np
import pytest

from widenet import _core
from widenet.reference.limit_kernels.deep import deep_limit_kernel

VARIANCES = (1.4, 0.3, 0.8, 0.2)
CONFIGURATIONS = [("lecun", "ntk", False), ("lecun", "nngp", False), ("ntk", "ntk", False), ("ntk", "ntk", True),
                  ("ntk", "nngp", True)]


def _methods(activation):
    methods = ["quadrature"]
    methods += ["closed_form"] if activation in _core.CLOSED_FORMS else []
    methods += ["scale_mixture"] if activation in _core.SCALE_MIXTURES else []
    return methods + (["expansion"] if activation in _core.EXPANSIONS else [])


@pytest.mark.parametrize("activation", list(_core.ACTIVATIONS))
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("parametrization, kind, multipliers", CONFIGURATIONS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_the_compiled_recursion_matches_the_twin(activation, depth, parametrization, kind, multipliers, bias):
    rng = np.random.default_rng(depth)
    X, Z = 0.8 * rng.standard_normal((5, 3)), 0.8 * rng.standard_normal((4, 3))
    network = _core.LimitNetwork(activation, parametrization, depth, bias, multipliers)
    # the quadrature (slow: a tensor rule per pair) at one depth and configuration, with and without biases
    quadrature = depth == 2 and (parametrization, kind, multipliers) == ("ntk", "ntk", False)
    for method in _methods(activation)[0 if quadrature else 1:]:
        for second in (None, Z):
            got = _core.limit_kernel(X, second, network, kind, VARIANCES, method)
            expected = deep_limit_kernel(X, X if second is None else second, activation, depth, parametrization, kind,
                                         *VARIANCES, bias=bias, multipliers=multipliers, method=method)
            scale = np.max(np.abs(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * scale)
            if second is None:
                assert np.array_equal(got, got.T)


@pytest.mark.parametrize("activation", list(_core.ACTIVATIONS))
@pytest.mark.parametrize("parametrization, kind", [("lecun", "ntk"), ("ntk", "ntk"), ("lecun", "nngp")])
def test_depth_one_is_the_one_hidden_layer_kernel(activation, parametrization, kind):
    X = np.random.default_rng(7).standard_normal((6, 2))
    method = _methods(activation)[1]
    shallow = _core.limit_kernel(X, None, activation, parametrization, kind, VARIANCES, method)
    deep = _core.limit_kernel(X, None, _core.LimitNetwork(activation, parametrization), kind, VARIANCES, method)
    np.testing.assert_allclose(deep, shallow, rtol=1e-14, atol=1e-14 * np.max(np.abs(shallow)))


def test_bad_networks_and_variances_are_refused_by_name():
    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="^depth: expected an integer >= 1"):
        _core.LimitNetwork("relu", "ntk", 0)
    with pytest.raises(ValueError, match="^multipliers: expected False"):
        _core.LimitNetwork("relu", "lecun", 2, True, True)
    with pytest.raises(ValueError, match="^activation"):
        _core.LimitNetwork("swish", "ntk", 2)
    with pytest.raises(ValueError, match="^X1: the pre-activation variance of hidden layer 2"):
        # sin's quadrature takes variances up to 8: the first layer's is 0.6, the second's about 21
        _core.limit_kernel(0.1 * X, None, _core.LimitNetwork("sin", "ntk", 2), "ntk", (60.0, 0.0, 1.0, 0.0),
                           "quadrature")


@pytest.mark.parametrize("activation", ["relu", "tanh", "arctan"])
@pytest.mark.parametrize("multipliers", [False, True])
def test_the_public_kernel_and_the_network_method(activation, multipliers):
    import widenet
    from widenet.network.deep import Network

    X = np.random.default_rng(8).standard_normal((5, 3))
    config = dict(activation=activation, parametrization="ntk", weight_var=1.4, bias_var=0.3, output_var=0.8,
                  output_bias_var=0.2, multipliers=multipliers)
    net = Network(3, [16, 16, 16], **config)
    for kind in ("ntk", "nngp"):
        got = net.limit_kernel(X, kind=kind)
        twin = widenet.limit_kernel(X, kind=kind, depth=3, backend="numpy", **config)
        np.testing.assert_allclose(got, twin, rtol=1e-10, atol=1e-10 * np.max(np.abs(twin)))
        expected = deep_limit_kernel(X, X, activation, 3, "ntk", kind, *VARIANCES, multipliers=multipliers)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * np.max(np.abs(expected)))
    one_layer = widenet.limit_kernel(X, activation=activation, parametrization="ntk", depth=1)
    np.testing.assert_array_equal(one_layer, widenet.limit_kernel(X, activation=activation, parametrization="ntk"))


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("activation, method", [("softplus", "expansion"), ("gelu", "expansion"),
                                                ("gelu", "closed_form"), ("identity", "closed_form")])
def test_a_deeper_layers_overflowing_variance_is_refused_by_name(activation, method, backend):
    """With s_w^2 = 3 each layer of softplus, gelu or identity multiplies the variance by 1.5
    to 3: inputs whose first layer is within the float64 range overflow at a deeper one, where
    every method would give NaN. Every depth below is finite; that one is refused, by name."""
    import widenet

    X = 5.3e153 * np.array([[1.0, 1.0], [1.0, -0.5]])
    options = dict(activation=activation, method=method, weight_var=3.0, backend=backend, kind="nngp")
    for depth in range(1, 6):
        try:
            K = widenet.limit_kernel(X, depth=depth, **options)
        except ValueError as error:
            assert str(error).startswith(f"X1: the pre-activation variance of hidden layer {depth} overflows float64")
            with pytest.raises(ValueError, match=f"^X1: the pre-activation variance of hidden layer {depth}"):
                widenet.limit_kernel(X, X[:1], depth=depth, **options)
            break
        assert np.all(np.isfinite(K)), depth
    else:
        pytest.fail("no layer overflowed")


def test_the_public_kernel_refuses_by_name():
    import widenet
    from widenet.network.deep import Network

    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="^depth: expected an integer >= 1"):
        widenet.limit_kernel(X, activation="relu", depth=0)
    with pytest.raises(ValueError, match="^multipliers: expected False"):
        widenet.limit_kernel(X, activation="relu", multipliers=True)
    with pytest.raises(TypeError, match="^bias: expected True or False"):
        widenet.limit_kernel(X, activation="relu", bias="yes")
    with pytest.raises(ValueError, match="^method: 'monte_carlo' is for one hidden layer"):
        widenet.limit_kernel(X, activation="relu", depth=2, method="monte_carlo")
    with pytest.raises(ValueError, match="^distribution: the limit kernels assume normal"):
        Network(2, [3, 3], distribution="uniform").limit_kernel(X)
