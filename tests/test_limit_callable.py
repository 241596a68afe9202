"""Limit kernels of an activation given as a Python function (activation=callable).

- functions that wrap built-ins (tanh, erf, relu; with their derivatives, and tanh and erf
  with the finite-difference default) give the built-ins' kernels within 1e-9 of the
  kernel's scale, both kinds, both parametrizations, depths 1 and 3, at pre-activation
  variances from 1e-3 to 1e6 and correlations up to |rho| = 1;
- t^3, which has no built-in, against its NNGP and NTK derived here from Gaussian moments
  (Isserlis), the derivation itself checked by a Monte Carlo over Gaussian pairs; swish
  (t sigmoid(t)) by the expansion against the graded quadrature and Monte Carlo;
- negative controls: a 1% error in the checked quantity makes each check fail;
- bad functions are refused naming the argument; LimitKernel and NTKRegressor hold
  functions (pickling, scikit-learn's clone).
"""

import math
import pickle

import numpy as np
import pytest
import scipy.special

import widenet
from widenet.reference.limit_kernels import functions as twin

TOLERANCE = 1e-9  # the built-ins' guarantee, relative to sqrt(K(x, x) K(z, z))


# Module-level functions: a LimitKernel holding them pickles.
def tanh_derivative(t):
    decay = np.exp(-2 * np.abs(t))  # 1 / cosh(t)^2, without overflow
    return 4 * decay / (1 + decay) ** 2


def erf_derivative(t):
    return 2.0 / math.sqrt(math.pi) * np.exp(-t * t)


def relu(t):
    return np.maximum(t, 0.0)


def relu_derivative(t):
    return (t > 0).astype(np.float64)


def swish(t):
    return t * scipy.special.expit(t)


def swish_derivative(t):
    return scipy.special.expit(t) * (1 + t * scipy.special.expit(-t))


def cube(t):
    return t ** 3


def cube_derivative(t):
    return 3 * t ** 2


WRAPPERS = {  # built-in name -> the same activation as a function
    "tanh": widenet.CallableActivation(np.tanh, derivative=tanh_derivative),
    "erf": widenet.CallableActivation(scipy.special.erf, derivative=erf_derivative),
    "relu": widenet.CallableActivation(relu, derivative=relu_derivative),
    "tanh, finite difference": np.tanh,
    "erf, finite difference": scipy.special.erf,
}
VARIANTS = {
    "K_LC": dict(parametrization="lecun", kind="ntk"),
    "K_NTK": dict(parametrization="ntk", kind="ntk", output_var=2.0),
    "NNGP": dict(parametrization="ntk", kind="nngp", output_var=2.0, output_bias_var=0.3),
}


def points_at(variances, angles):
    """Points of d = 2 with |x|^2 / 2 = q (unit weight variance, no bias: the
    pre-activation variance q) at each angle: pairs at every ratio of variances and every
    correlation cos(angle difference), exactly 1 and -1 among them."""
    return np.array([[math.sqrt(2 * q) * math.cos(a), math.sqrt(2 * q) * math.sin(a)]
                     for q in variances for a in angles])


VARIANCES = (1e-3, 0.5, 30.0, 1e6)
POINTS = points_at(VARIANCES, (0.0, 0.5, math.pi / 2, math.pi))
# Deeper, a pair of exactly collinear points of different norms has correlation 1 up to the
# rounding of the covariances, where relu's E_dd is infinitely steep (it turns a 1e-13
# difference into 1e-7, whatever the method: the built-in quadrature differs as much from the
# closed form). The deep kernels are compared on points rotated by variance, no two collinear.
DEEP_POINTS = np.vstack([points_at((q,), (0.1 * k, 0.5 + 0.1 * k, math.pi / 2 + 0.1 * k, math.pi + 0.1 * k))
                         for k, q in enumerate(VARIANCES)])


def excess(K, reference, bound=TOLERANCE):
    """The largest amount by which |K - reference| exceeds bound sqrt(K(x, x) K(z, z)) plus
    the rounding of the final sums (<= 0 when every entry is within it)."""
    diagonal = np.sqrt(np.abs(np.diagonal(reference)))
    allowed = bound * np.outer(diagonal, diagonal) + 1e-14 * (np.abs(reference) + 1)
    return float(np.max(np.abs(K - reference) - allowed))


def kernels(activation, depth, **options):
    X = POINTS if depth == 1 else DEEP_POINTS
    return {name: widenet.limit_kernel(X, activation=activation, depth=depth, bias=False, **variant, **options)
            for name, variant in VARIANTS.items()}


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_wrapped_builtins_give_the_builtin_kernels(wrapper, depth):
    name = wrapper.split(",")[0]
    expected = kernels(name, depth)
    got = kernels(WRAPPERS[wrapper], depth)
    for variant in VARIANTS:
        assert excess(got[variant], expected[variant]) <= 0, (wrapper, depth, variant)
        # control: 1% off the kernel fails the same check
        assert excess(1.01 * got[variant], expected[variant]) > 0


def test_a_one_percent_error_in_the_derivative_fails():
    off = widenet.CallableActivation(np.tanh, derivative=lambda t: 1.01 * tanh_derivative(t))
    expected = widenet.limit_kernel(POINTS, activation="tanh", parametrization="ntk")
    assert excess(widenet.limit_kernel(POINTS, activation=off, parametrization="ntk"), expected) > 0


def test_biases_and_multipliers_follow_the_builtin():
    options = dict(parametrization="ntk", depth=2, bias_var=0.4, multipliers=True, weight_var=1.5)
    expected = widenet.limit_kernel(POINTS, activation="tanh", **options)
    got = widenet.limit_kernel(POINTS, POINTS[::-1], activation=WRAPPERS["tanh"], **options)
    assert excess(got, expected[:, ::-1]) <= 0


@pytest.mark.parametrize("function", [np.tanh, scipy.special.erf, swish])
def test_the_finite_difference_meets_its_stated_accuracy(function):
    exact = {np.tanh: tanh_derivative, scipy.special.erf: erf_derivative, swish: swish_derivative}[function]
    t = np.concatenate([np.linspace(-30, 30, 2001), np.geomspace(1e-8, 1e8, 200)])
    error = np.abs(twin.CentralDifference(function)(t) - exact(t))
    assert np.max(error / np.maximum(1.0, np.abs(function(t)))) < 2e-12
    # control: a step 100 times larger is visibly worse
    assert np.max(np.abs((function(t + 1e-1) - function(t - 1e-1)) / 2e-1 - exact(t))) > 1e-4


def cube_expectations(q1, q2, c):
    """E[u^3 v^3] and E[3u^2 3v^2] for centred Gaussians of variances q1, q2, covariance c.

    Isserlis: of the 15 pairings of (u, u, u, v, v, v), 9 pair two u's, two v's and one u
    with one v (3 choices of the lone u, 3 of the lone v): q1 q2 c; 6 pair every u with a v:
    c^3. E[u^2 v^2] = q1 q2 + 2 c^2 (one pairing within, two across)."""
    return 9 * q1 * q2 * c + 6 * c ** 3, 9 * (q1 * q2 + 2 * c * c)


def cube_kernels(X, output_var):
    G = X @ X.T / X.shape[1]
    q = np.diag(G)
    E_ss, E_dd = cube_expectations(q[:, None], q[None, :], G)
    return {"nngp": output_var * E_ss, "ntk": output_var * (G + 1) * E_dd + E_ss + 1}


CUBE_POINTS = points_at((1e-3, 0.3, 2.0, 50.0), (0.0, 1.0, 2.0, math.pi))


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
@pytest.mark.parametrize("activation", [widenet.CallableActivation(cube, derivative=cube_derivative), cube])
def test_the_cube_against_its_gaussian_moments(activation, kind):
    expected = cube_kernels(CUBE_POINTS, 2.0)[kind]
    got = widenet.limit_kernel(CUBE_POINTS, activation=activation, parametrization="ntk", kind=kind, output_var=2.0)
    assert excess(got, expected) <= 0
    assert excess(got * 1.01, expected) > 0


COVARIANCES = [(1.0, 1.0, 0.6), (0.5, 2.0, -0.4), (3.0, 0.2, 0.7)]


def test_the_cube_moments_by_an_exact_gaussian_rule():
    """The derivation above against a tensor Gauss-Hermite rule, exact for the polynomials of
    degree 6 here (u = sqrt(q1) a, v = (c a + sqrt(q1 q2 - c^2) b) / sqrt(q1)); a 1% error out."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(6)
    a, b = np.meshgrid(nodes, nodes, indexing="ij")
    w = np.outer(weights, weights) / (2 * math.pi)
    for q1, q2, c in COVARIANCES:
        u, v = math.sqrt(q1) * a, (c * a + math.sqrt(q1 * q2 - c * c) * b) / math.sqrt(q1)
        for values, exact in zip((u ** 3 * v ** 3, 9 * u * u * v * v), cube_expectations(q1, q2, c)):
            rule = float(np.sum(w * values))
            assert abs(rule - exact) < 1e-12 * abs(exact)
            assert abs(rule - 1.01 * exact) > 1e-12 * abs(exact)


def test_the_cube_moments_by_monte_carlo_over_gaussian_pairs():
    """The derivation above against samples, within 5 standard errors (a sanity check: seeing
    1% in these heavy-tailed products would take 10^8 samples; the exact rule above does)."""
    rng = np.random.default_rng(7)
    for q1, q2, c in COVARIANCES:
        L = np.linalg.cholesky(np.array([[q1, c], [c, q2]]))
        u, v = L @ rng.standard_normal((2, 1_000_000))
        for samples, exact in zip((u ** 3 * v ** 3, 9 * u * u * v * v), cube_expectations(q1, q2, c)):
            error = samples.std() / math.sqrt(samples.size)
            assert abs(samples.mean() - exact) < 5 * error
            assert abs(samples.mean() - 1.2 * exact) > 5 * error, "the check cannot see 20%"


SWISH = widenet.CallableActivation(swish, derivative=swish_derivative, name="swish")
SWISH_POINTS = points_at((0.01, 1.0, 20.0, 1e4), (0.0, 0.7, 2.0, math.pi))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_swish_by_the_expansion_against_the_quadrature(variant):
    options = dict(bias_var=0.2, **VARIANTS[variant])
    expansion = widenet.limit_kernel(SWISH_POINTS, activation=SWISH, **options)
    quadrature = widenet.limit_kernel(SWISH_POINTS, activation=SWISH, method="quadrature", order=20, **options)
    assert excess(expansion, quadrature) <= 0
    assert excess(expansion * 1.01, quadrature) > 0


def test_swish_by_monte_carlo():
    X = points_at((0.5, 2.0), (0.0, 1.0, 2.5))
    for kind in ("ntk", "nngp"):
        options = dict(parametrization="ntk", kind=kind, bias_var=0.3)
        exact = widenet.limit_kernel(X, activation=SWISH, **options)
        estimate, error = widenet.limit_kernel(X, activation=SWISH, method="monte_carlo", samples=3_000_000, seed=3,
                                               return_std=True, **options)
        assert np.all(np.abs(estimate - exact) < 5 * error + 1e-12)
        assert np.any(np.abs(estimate - 1.01 * exact) > 5 * error), "the check cannot see 1%"


def test_auto_is_the_expansion_and_the_builtin_methods_are_refused():
    X = POINTS[:4]
    assert np.array_equal(widenet.limit_kernel(X, activation=SWISH),
                          widenet.limit_kernel(X, activation=SWISH, method="expansion", backend="numpy"))
    for method in ("closed_form", "scale_mixture"):
        with pytest.raises(ValueError, match="^method:.*function"):
            widenet.limit_kernel(X, activation=SWISH, method=method)


def not_elementwise(t):
    return np.sum(t)


BAD = [
    (42, TypeError, "^activation:"),
    ("swish", ValueError, "^activation:"),
    (not_elementwise, ValueError, "^activation:.*shape"),
    (lambda t: t.astype(np.complex128), TypeError, "^activation:.*real"),
    (np.log, ValueError, "^activation:.*non-finite"),
    (lambda t: 1 / 0, TypeError, "^activation:.*ZeroDivisionError"),
    (lambda t: [str(x) for x in t.ravel()], TypeError, "^activation:"),
]


@pytest.mark.parametrize("activation, error, message", BAD)
def test_bad_functions_are_refused_by_name(activation, error, message):
    with pytest.raises(error, match=message):
        widenet.limit_kernel(POINTS, activation=activation)


def test_bad_derivatives_and_names_are_refused_by_name():
    with pytest.raises(ValueError, match="^derivative:.*shape"):
        widenet.CallableActivation(np.tanh, derivative=not_elementwise)
    with pytest.raises(TypeError, match="^function:"):
        widenet.CallableActivation("tanh")
    with pytest.raises(TypeError, match="^name:"):
        widenet.CallableActivation(np.tanh, name=3)


def nan_beyond_ten(t):
    return np.where(np.abs(t) > 10, np.nan, np.tanh(t))


@pytest.mark.parametrize("method", ["auto", "quadrature", "monte_carlo"])
def test_non_finite_values_where_the_kernels_reach_raise_naming_the_activation(method):
    with pytest.raises(ValueError, match="^activation: nan_beyond_ten"):
        widenet.limit_kernel(POINTS, activation=nan_beyond_ten, method=method, samples=1000)


def test_overflow_at_a_huge_variance_raises_naming_the_activation():
    X = np.array([[1e120, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="^activation: cube"):
        widenet.limit_kernel(X, activation=cube)
    # the same function at moderate inputs is fine
    assert np.all(np.isfinite(widenet.limit_kernel(X * 1e-120, activation=cube)))


def test_caller_arrays_are_not_mutated():
    X = POINTS.copy()
    widenet.limit_kernel(X, activation=SWISH, kind="nngp")
    assert np.array_equal(X, POINTS)


def test_a_limit_kernel_of_a_function_pickles_unless_it_is_a_lambda():
    kernel = widenet.LimitKernel(SWISH, "ntk", kind="nngp", bias_var=0.1)
    again = pickle.loads(pickle.dumps(kernel))
    assert np.array_equal(again(POINTS), kernel(POINTS))
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(widenet.LimitKernel(lambda t: t * scipy.special.expit(t)))


def test_the_regressor_takes_a_function():
    sklearn_base = pytest.importorskip("sklearn.base")
    rng = np.random.default_rng(0)
    X, X_test = rng.standard_normal((12, 3)), rng.standard_normal((5, 3))
    y = np.sin(X[:, 0])
    wrapped = widenet.NTKRegressor(activation=WRAPPERS["tanh"], ridge=1e-6).fit(X, y)
    builtin = widenet.NTKRegressor(activation="tanh", ridge=1e-6).fit(X, y)
    assert np.allclose(wrapped.predict(X_test), builtin.predict(X_test), rtol=1e-7, atol=1e-9)
    clone = sklearn_base.clone(wrapped)
    assert clone.get_params()["activation"] == WRAPPERS["tanh"]
    assert np.allclose(clone.fit(X, y).predict(X_test), wrapped.predict(X_test), rtol=0, atol=1e-12)
    restored = pickle.loads(pickle.dumps(wrapped))
    assert np.array_equal(restored.predict(X_test), wrapped.predict(X_test))
