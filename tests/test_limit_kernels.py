"""The compiled infinite-width kernels against their numpy twins, and the public API."""

import numpy as np
import pytest

import widenet
from widenet.reference import limit_kernels as reference

from conftest import ACTIVATIONS, PARAMETRIZATIONS

VARIANCES = dict(weight_var=1.5, bias_var=0.4, output_var=0.8, output_bias_var=0.3)


def points(seed, m, d=3):
    return np.random.default_rng(seed).standard_normal((m, d))


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cpp_quadrature_equals_numpy_twin(activation, parametrization, kind):
    X, Z = points(1, 5), points(2, 4)
    options = dict(activation=activation, parametrization=parametrization, kind=kind, method="quadrature",
                   order=32, **VARIANCES)
    for second in (None, Z):
        cpp = widenet.limit_kernel(X, second, **options)
        ref = widenet.limit_kernel(X, second, backend="numpy", **options)
        np.testing.assert_allclose(cpp, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
@pytest.mark.parametrize("activation", ["relu", "erf", "identity"])
def test_cpp_closed_form_equals_numpy_twin(activation, parametrization, kind):
    X, Z = points(3, 6), points(4, 3)
    options = dict(activation=activation, parametrization=parametrization, kind=kind, **VARIANCES)
    for second in (None, Z):
        cpp = widenet.limit_kernel(X, second, **options)
        ref = widenet.limit_kernel(X, second, backend="numpy", **options)
        np.testing.assert_allclose(cpp, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_symmetric_kernel_is_the_cross_kernel_with_itself(activation):
    X = points(5, 7)
    same = widenet.limit_kernel(X, activation=activation, parametrization="ntk", **VARIANCES)
    cross = widenet.limit_kernel(X, X.copy(), activation=activation, parametrization="ntk", **VARIANCES)
    np.testing.assert_allclose(same, cross, rtol=1e-14, atol=0)
    assert np.array_equal(same, same.T)


def test_combinations_follow_the_theorems():
    """K_LC = E_ss, K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1, NNGP = s_v^2 E_ss + s_c^2,
    from the closed-form expectations of the reference."""
    X, Z = points(6, 4), points(7, 5)
    S11, S22, S12 = reference.covariances(X, Z, VARIANCES["weight_var"], VARIANCES["bias_var"])
    e_ss, e_dd = reference.closed_form_expectations(S11, S22, S12, "erf")
    sv, sc = VARIANCES["output_var"], VARIANCES["output_bias_var"]
    common = dict(activation="erf", **VARIANCES)
    np.testing.assert_allclose(widenet.limit_kernel(X, Z, parametrization="lecun", **common), e_ss, rtol=1e-13)
    np.testing.assert_allclose(widenet.limit_kernel(X, Z, parametrization="ntk", **common),
                               sv * (X @ Z.T / 3 + 1) * e_dd + e_ss + 1, rtol=1e-13)
    np.testing.assert_allclose(widenet.limit_kernel(X, Z, kind="nngp", **common), sv * e_ss + sc, rtol=1e-13)


def test_float32_points_are_computed_in_float64():
    X = points(8, 4).astype(np.float32)
    K = widenet.limit_kernel(X, activation="relu")
    assert K.dtype == np.float64
    np.testing.assert_allclose(K, widenet.limit_kernel(X.astype(np.float64), activation="relu"), rtol=1e-15)


def test_network_limit_kernel_uses_its_configuration():
    net = widenet.ShallowNetwork(3, 8, activation="erf", parametrization="ntk", seed=0, **VARIANCES)
    X = points(9, 4)
    np.testing.assert_array_equal(net.limit_kernel(X, kind="nngp"),
                                  widenet.limit_kernel(X, activation="erf", parametrization="ntk", kind="nngp",
                                                       **VARIANCES))


def test_monte_carlo_returns_standard_errors_that_cover_the_closed_form():
    X = points(10, 3)
    exact = widenet.limit_kernel(X, activation="relu", kind="nngp", **VARIANCES)
    estimate, error = widenet.limit_kernel(X, activation="relu", kind="nngp", method="monte_carlo", samples=20_000,
                                           seed=1, return_std=True, **VARIANCES)
    assert np.all(error > 0)
    assert np.all(np.abs(estimate - exact) <= 5 * error)


@pytest.mark.parametrize("arguments, error, message", [
    (dict(activation="tanh", method="closed_form"), ValueError, "method"),
    (dict(activation="relu", kind="gram"), ValueError, "kind"),
    (dict(activation="relu", method="exact"), ValueError, "method"),
    (dict(activation="relu", weight_var=-1.0), ValueError, "weight_var"),
    (dict(activation="relu", return_std=True), ValueError, "return_std"),
    (dict(activation="tanh", method="quadrature", order=65), ValueError, "order"),
    (dict(activation="tanh", method="quadrature", order=1), ValueError, "order"),
    (dict(activation="swish"), ValueError, "activation"),
])
def test_bad_arguments_name_themselves(arguments, error, message):
    with pytest.raises(error, match=message):
        widenet.limit_kernel(points(11, 3), **arguments)


def test_bad_points_name_themselves():
    with pytest.raises(ValueError, match="X2"):
        widenet.limit_kernel(points(12, 3), points(13, 3, d=4), activation="relu")
    with pytest.raises(ValueError, match="X1"):
        widenet.limit_kernel(np.array([[np.nan, 1.0, 2.0]]), activation="relu")
    with pytest.raises(TypeError, match="X1"):
        widenet.limit_kernel(points(14, 2).astype(complex), activation="relu")
