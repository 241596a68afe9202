"""widenet.GPKernel: the infinite-width kernels as scikit-learn Gaussian-process kernels.

Values against ``limit_kernel``; the analytic gradient against central finite differences
in log-theta (with a control that a 1% error is caught); the expectations' partials against
finite differences of the closed forms and Price's theorem by Gauss-Hermite quadrature;
composition with scikit-learn's kernels; fitting the variances of data drawn from an NNGP by
marginal likelihood; and the optional import of scikit-learn (docs/theory.md, section 10).
"""

import itertools
import pickle
import subprocess
import sys

import numpy as np
import pytest

import widenet
from widenet.reference.limit_kernels import GRADIENT_ACTIVATIONS, expectation_partials, expectations
from widenet.reference.limit_kernels import deep_limit_kernel_gradient


@pytest.fixture(scope="module")
def sk():
    """scikit-learn's Gaussian-process module, or skip."""
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn import gaussian_process
    from sklearn.gaussian_process import kernels

    return gaussian_process, kernels


def points(m=7, d=3, seed=0):
    """Gaussian points with a repeated row and a parallel one (correlation exactly 1)."""
    X = np.random.default_rng(seed).standard_normal((m, d))
    X[3], X[4] = X[1], 2.5 * X[0]
    return X


VARIANCES = dict(weight_var=1.3, bias_var=0.4, output_var=0.8, output_bias_var=0.3)
ALL = ("bias_var", "output_bias_var", "output_var", "weight_var")  # scikit-learn's (alphabetical) order


def free_names(kernel):
    return [h.name for h in kernel.hyperparameters if not h.fixed]


# -- values ------------------------------------------------------------------------------

@pytest.mark.parametrize("depth, parametrization, kind, bias",
                         list(itertools.product([1, 2, 3], ["lecun", "ntk"], ["nngp", "ntk"], [True, False])))
def test_values_equal_limit_kernel(sk, depth, parametrization, kind, bias):
    X, Z = points(), points(5, seed=1)
    options = dict(parametrization=parametrization, kind=kind, depth=depth, bias=bias, **VARIANCES)
    kernel = widenet.GPKernel("relu", **options)
    expected = widenet.limit_kernel(X, activation="relu", **options)
    np.testing.assert_array_equal(kernel(X), expected)
    np.testing.assert_array_equal(kernel(X, Z), widenet.limit_kernel(X, Z, activation="relu", **options))
    np.testing.assert_allclose(kernel.diag(X), np.diag(expected), rtol=1e-14)
    # The numpy recursion the gradient differentiates computes the same kernel: to rounding,
    # but relu's E_dd has an infinite slope at correlation 1 (the parallel rows), where a
    # rounding of the correlation moves it by about sqrt(eps).
    K, _ = deep_limit_kernel_gradient(X, "relu", depth, free=ALL, **{k: v for k, v in options.items() if k != "depth"})
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-8 * np.abs(expected).max())


def test_values_with_multipliers_and_erf(sk):
    X = points()
    options = dict(activation="erf", parametrization="ntk", kind="ntk", depth=2, multipliers=True, **VARIANCES)
    np.testing.assert_array_equal(widenet.GPKernel(**options)(X), widenet.limit_kernel(X, **options))


# -- the gradient --------------------------------------------------------------------------

def finite_differences(kernel, X, step):
    """Central differences of K in each entry of theta, and an estimate of their error.

    Differences with steps ``h`` and ``h/2``: their gap bounds the truncation error of the
    second (which errs by a quarter as much as the first); rounding adds ``eps |K| / h``.
    """
    theta = kernel.theta

    def central(h):
        columns = []
        for j in range(theta.size):
            shift = np.zeros_like(theta)
            shift[j] = h
            columns.append((kernel.clone_with_theta(theta + shift)(X) - kernel.clone_with_theta(theta - shift)(X))
                           / (2 * h))
        return np.stack(columns, axis=-1)

    coarse, fine = central(step), central(step / 2)
    rounding = 50 * np.finfo(np.float64).eps * np.abs(kernel(X)).max() / step
    return fine, np.abs(coarse - fine) + rounding


def gradient_matches(gradient, fine, error):
    return bool(np.all(np.abs(gradient - fine) <= error))


GRADIENT_CASES = [(activation, depth, parametrization, kind)
                  for activation in ("relu", "erf") for depth in (1, 2, 3)
                  for parametrization in ("lecun", "ntk") for kind in ("nngp", "ntk")]
GRADIENT_CASES += [(activation, 2, "ntk", kind) for activation in ("identity", "sin", "gelu", "tanh", "sigmoid",
                                                                    "softplus") for kind in ("nngp", "ntk")]
GRADIENT_CASES += [(activation, 2, "ntk", kind) for activation in ("leaky_relu", "abs", "monomial2", "monomial3")
                   for kind in ("nngp", "ntk")]


@pytest.mark.parametrize("activation, depth, parametrization, kind", GRADIENT_CASES)
def test_gradient_equals_finite_differences(sk, activation, depth, parametrization, kind):
    X = points()
    kernel = widenet.GPKernel(activation, parametrization, kind, depth, **VARIANCES)
    assert free_names(kernel) == list(ALL)
    K, gradient = kernel(X, eval_gradient=True)
    np.testing.assert_array_equal(K, kernel(X))
    assert gradient.shape == (7, 7, 4)
    fine, error = finite_differences(kernel, X, 1e-3)
    assert gradient_matches(gradient, fine, error), np.abs(gradient - fine).max()
    # negative control: a gradient 1% off fails the same comparison
    assert not gradient_matches(1.01 * gradient, fine, error)


@pytest.mark.parametrize("multipliers, bias", [(True, True), (True, False), (False, False)])
def test_gradient_with_multipliers_and_without_biases(sk, multipliers, bias):
    X = points()
    kernel = widenet.GPKernel("erf", "ntk", "ntk", 2, bias=bias, multipliers=multipliers, **VARIANCES)
    assert free_names(kernel) == (list(ALL) if bias else ["output_var", "weight_var"])
    _, gradient = kernel(X, eval_gradient=True)
    fine, error = finite_differences(kernel, X, 1e-3)
    assert gradient_matches(gradient, fine, error) and not gradient_matches(1.01 * gradient, fine, error)


def test_fixed_variances_leave_the_gradient(sk):
    X = points()
    kernel = widenet.GPKernel("relu", depth=2, bias_var=0.5, weight_var_bounds="fixed")
    assert free_names(kernel) == ["bias_var", "output_var"]  # output_bias_var = 0: fixed
    _, gradient = kernel(X, eval_gradient=True)
    _, full = widenet.GPKernel("relu", depth=2, bias_var=0.5)(X, eval_gradient=True)
    np.testing.assert_array_equal(gradient, full[:, :, :2])
    nothing = widenet.GPKernel("relu", weight_var_bounds="fixed", output_var_bounds="fixed")
    assert nothing(X, eval_gradient=True)[1].shape == (7, 7, 0)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("activation", GRADIENT_ACTIVATIONS)
def test_gradient_is_finite_at_every_scale(sk, scale, activation):
    X = points() * scale
    X[5] = 0.0  # a zero input: relu's variance 0 without biases
    for bias, kind in itertools.product([True, False], ["nngp", "ntk"]):
        kernel = widenet.GPKernel(activation, "ntk", kind, 2, bias=bias, **VARIANCES)
        K, gradient = kernel(X, eval_gradient=True)
        assert np.isfinite(K).all() and np.isfinite(gradient).all()


def test_gradient_refused_where_there_is_no_analytic_one(sk):
    X = points()
    with pytest.raises(ValueError, match="eval_gradient: .*relu, erf"):
        widenet.GPKernel("arctan")(X, eval_gradient=True)
    for activation in ("silu", "elu"):
        with pytest.raises(ValueError, match=f"eval_gradient: .*activation='{activation}'"):
            widenet.GPKernel(activation)(X, eval_gradient=True)
    with pytest.raises(ValueError, match="eval_gradient: .*method"):
        widenet.GPKernel("erf", method="quadrature")(X, eval_gradient=True)
    np.testing.assert_array_equal(widenet.GPKernel("arctan")(X), widenet.limit_kernel(X, activation="arctan",
                                                                                       kind="nngp"))


# -- the partials (Price's theorem) ------------------------------------------------------

def pairs(seed=0):
    rng = np.random.default_rng(seed)
    q1, q2 = rng.uniform(0.2, 3.0, 4), rng.uniform(0.2, 3.0, 5)
    c = rng.uniform(-0.9, 0.9, (4, 5)) * np.sqrt(np.outer(q1, q2))
    return q1, q2, c


@pytest.mark.parametrize("activation", GRADIENT_ACTIVATIONS)
def test_partials_equal_finite_differences_of_the_closed_forms(activation):
    q1, q2, c = pairs()
    p = expectation_partials(q1, q2, c, activation)
    method = "closed_form" if activation in widenet.kernels.limit.CLOSED_FORMS else "scale_mixture"  # the partials'
    h = 1e-5
    for shift, (ss, dd) in (((0, 0, h), (p.ss_c, p.dd_c)), ((h, 0, 0), (p.ss_1, p.dd_1)),
                            ((0, h, 0), (p.ss_2, p.dd_2))):
        plus = expectations(q1 + shift[0], q2 + shift[1], c + shift[2], activation, method)
        minus = expectations(q1 - shift[0], q2 - shift[1], c - shift[2], activation, method)
        np.testing.assert_allclose(ss, (plus[0] - minus[0]) / (2 * h), atol=1e-8)
        np.testing.assert_allclose(dd, (plus[1] - minus[1]) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(p.ss_c, expectations(q1, q2, c, activation, method)[1], rtol=1e-12)  # Price: dE_ss/dc = E_dd



def _normal_density(t):
    return np.exp(-t * t / 2) / np.sqrt(2 * np.pi)


def _tanh_prime(t):
    return 1 - np.tanh(t) ** 2


# sigma'' and sigma''' written out by hand, for the Price expectations
SECOND_THIRD = {
    "erf": (lambda t: -4 / np.sqrt(np.pi) * t * np.exp(-t * t),
            lambda t: 4 / np.sqrt(np.pi) * (2 * t * t - 1) * np.exp(-t * t)),
    "sin": (lambda t: -np.sin(t), lambda t: -np.cos(t)),
    "tanh": (lambda t: -2 * np.tanh(t) * _tanh_prime(t), lambda t: _tanh_prime(t) * (6 * np.tanh(t) ** 2 - 2)),
    "gelu": (lambda t: (2 - t * t) * _normal_density(t), lambda t: (t ** 3 - 4 * t) * _normal_density(t)),
    "identity": (np.zeros_like, np.zeros_like),
    "monomial2": (lambda t: 2 + 0 * t, np.zeros_like),
    "monomial3": (lambda t: 6 * t, lambda t: 6 + 0 * t),
}


@pytest.mark.parametrize("activation", sorted(SECOND_THIRD))
def test_partials_are_the_price_expectations(activation):
    """dE_ss/dq1 = E[s''(u) s(v)]/2, dE_dd/dc = E[s''(u) s''(v)], dE_dd/dq1 = E[s'''(u) s'(v)]/2.

    By a 300-node Gauss-Hermite rule in each of two independent standard normals. At
    variances up to 3 it is accurate to 1e-12 for these integrands but tanh's, whose poles
    at +-i pi/2 slow it down (2e-11 here; 2e-6 with 120 nodes).
    """
    from widenet.reference.activations import activation as sigma
    from widenet.reference.activations import activation_derivative as sigma_prime

    second, third = SECOND_THIRD[activation]
    nodes, weights = np.polynomial.hermite_e.hermegauss(300)
    w = np.outer(weights, weights) / (2 * np.pi)
    q1, q2, c = pairs(seed=2)
    p = expectation_partials(q1, q2, c, activation)
    for i, j in itertools.product(range(4), range(5)):
        rho = c[i, j] / np.sqrt(q1[i] * q2[j])
        u = np.sqrt(q1[i]) * nodes[:, None] + np.zeros((1, nodes.size))
        v = np.sqrt(q2[j]) * (rho * nodes[:, None] + np.sqrt(1 - rho * rho) * nodes[None, :])
        np.testing.assert_allclose(p.ss_1[i, j], 0.5 * np.sum(w * second(u) * sigma(activation, v)), atol=1e-10)
        np.testing.assert_allclose(p.dd_c[i, j], np.sum(w * second(u) * second(v)), atol=1e-10)
        np.testing.assert_allclose(p.dd_1[i, j], 0.5 * np.sum(w * third(u) * sigma_prime(activation, v)), atol=1e-10)


def test_relu_partials_are_the_densities_price_gives():
    """relu'' is a delta: dE_ss/dq1 = p_u(0) E[relu(v) | u = 0] / 2, dE_dd/dc = the density of (u, v) at 0."""
    q1, q2, c = pairs(seed=3)
    p = expectation_partials(q1, q2, c, "relu")
    determinant = np.outer(q1, q2) - c * c
    conditional_sd = np.sqrt(determinant / q1[:, None])  # of v given u = 0
    density_at_zero = 1 / np.sqrt(2 * np.pi * q1[:, None])
    np.testing.assert_allclose(p.ss_1, 0.5 * density_at_zero * conditional_sd / np.sqrt(2 * np.pi), rtol=1e-12)
    np.testing.assert_allclose(p.dd_c, 1 / (2 * np.pi * np.sqrt(determinant)), rtol=1e-12)


# -- composition with scikit-learn's kernels ------------------------------------------------

def test_sum_with_a_white_kernel(sk):
    _, kernels = sk
    X = points()
    gp = widenet.GPKernel("relu", depth=2, bias_var=0.5)
    total = gp + kernels.WhiteKernel(0.1)
    K, gradient = total(X, eval_gradient=True)
    K_gp, gradient_gp = gp(X, eval_gradient=True)
    np.testing.assert_allclose(K, K_gp + 0.1 * np.eye(7), rtol=1e-15)
    np.testing.assert_array_equal(gradient[:, :, :3], gradient_gp)
    np.testing.assert_allclose(gradient[:, :, 3], 0.1 * np.eye(7), rtol=1e-15)  # d(noise I)/d log noise
    fine, error = finite_differences(total, X, 1e-3)
    assert gradient_matches(gradient, fine, error)


def test_product_with_a_constant_kernel(sk):
    _, kernels = sk
    X = points()
    gp = widenet.GPKernel("erf", "ntk", "ntk", 2, **VARIANCES)
    product = kernels.ConstantKernel(2.0) * gp
    K, gradient = product(X, eval_gradient=True)
    K_gp, gradient_gp = gp(X, eval_gradient=True)
    np.testing.assert_allclose(K, 2.0 * K_gp, rtol=1e-15)
    np.testing.assert_allclose(gradient[:, :, 0], 2.0 * K_gp, rtol=1e-15)  # d(c K)/d log c
    np.testing.assert_allclose(gradient[:, :, 1:], 2.0 * gradient_gp, rtol=1e-15)
    fine, error = finite_differences(product, X, 1e-3)
    assert gradient_matches(gradient, fine, error)
    assert np.allclose((gp * gp)(X), K_gp ** 2) and np.allclose((gp + gp).diag(X), 2 * np.diag(K_gp))


def test_clone_pickle_and_parameters(sk):
    from sklearn.base import clone

    kernel = widenet.GPKernel("erf", "ntk", "ntk", 3, bias=False, weight_var=2.0, output_var_bounds="fixed")
    X = points()
    for copy in (clone(kernel), pickle.loads(pickle.dumps(kernel))):
        assert copy == kernel and copy is not kernel
        np.testing.assert_array_equal(copy(X), kernel(X))
    params = kernel.get_params()
    assert params["depth"] == 3 and params["weight_var"] == 2.0 and params["output_var_bounds"] == "fixed"
    changed = clone(kernel).set_params(weight_var=3.0)
    assert changed != kernel and changed.weight_var == 3.0
    moved = kernel.clone_with_theta(np.log([0.5]))  # the only free variance: weight_var
    assert moved.weight_var == pytest.approx(0.5) and kernel.weight_var == 2.0
    assert not kernel.is_stationary() and kernel.requires_vector_input


def test_repr_is_readable(sk):
    text = repr(widenet.GPKernel("relu", depth=2, bias_var=0.25, weight_var_bounds="fixed"))
    assert text == ("GPKernel('relu', 'lecun', 'nngp', depth=2, weight_var=1 (fixed), bias_var=0.25, output_var=1, "
                    "output_bias_var=0)")


def test_bounds_and_theta(sk):
    kernel = widenet.GPKernel("relu", bias_var=0.5, output_var=2.0, bias_var_bounds=(0.01, 10.0))
    assert free_names(kernel) == ["bias_var", "output_var", "weight_var"]
    np.testing.assert_allclose(kernel.theta, np.log([0.5, 2.0, 1.0]))
    np.testing.assert_allclose(kernel.bounds, np.log([[0.01, 10.0], [1e-5, 1e5], [1e-5, 1e5]]))
    with pytest.raises(ValueError, match="bias_var: 20.0 lies outside its bounds"):
        widenet.GPKernel("relu", bias_var=20.0, bias_var_bounds=(0.01, 10.0))
    with pytest.raises(ValueError, match="weight_var_bounds: expected low <= high"):
        widenet.GPKernel("relu", weight_var_bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match="weight_var_bounds: expected 'fixed'"):
        widenet.GPKernel("relu", weight_var_bounds="frozen")
    with pytest.raises(TypeError, match="output_var_bounds"):
        widenet.GPKernel("relu", output_var_bounds=1.0)
    with pytest.raises(ValueError, match="output_var_bounds"):
        widenet.GPKernel("relu", output_var_bounds=(0.0, 1.0))


# -- bad arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("options, error, name", [
    (dict(activation="swish"), ValueError, "activation"),
    (dict(weight_var=-1.0), ValueError, "weight_var"),
    (dict(output_bias_var=-0.1), ValueError, "output_bias_var"),
    (dict(depth=0), ValueError, "depth"),
    (dict(depth=1.5), TypeError, "depth"),
    (dict(kind="cov"), ValueError, "kind"),
    (dict(parametrization="mup"), ValueError, "parametrization"),
    (dict(method="monte_carlo"), ValueError, "method"),
    (dict(multipliers=True), ValueError, "multipliers"),
    (dict(bias="yes"), TypeError, "bias"),
])
def test_bad_arguments_are_refused_by_name(sk, options, error, name):
    with pytest.raises(error, match=name):
        widenet.GPKernel(**options)


def test_bad_points_are_refused_by_name(sk):
    kernel = widenet.GPKernel("relu")
    X = points()
    with pytest.raises(ValueError, match="X: .*NaN"):
        kernel(np.where(np.eye(7, 3) > 0, np.nan, X))
    with pytest.raises(ValueError, match="Y: expected 3 columns like X"):
        kernel(X, np.ones((2, 4)))
    with pytest.raises(ValueError, match="eval_gradient: .*Y=None"):
        kernel(X, X[:2], eval_gradient=True)
    with pytest.raises(ValueError, match="X: "):
        kernel.diag(np.ones(3))
    before = X.copy()
    kernel(X, eval_gradient=True)
    np.testing.assert_array_equal(X, before)  # the caller's array is left alone


# -- fitting the variances by marginal likelihood ------------------------------------------

@pytest.fixture(scope="module")
def nngp_data():
    """2000 points, and standard normal draws to turn into NNGP outputs with any variances.

    Directions uniform, norms spread over two decades, so that the marginal variances
    (which grow with the norm) say how bias and weights share them. Several independent
    outputs, as a network with several output units has: the variances are weakly
    determined by one draw of a smooth process (the Fisher information gives standard
    errors of 12% for bias_var and 6% for output_var from one output; five outputs bring
    them to 5% and 3%, well inside the 15% asked).
    """
    rng = np.random.default_rng(7)
    m, d, outputs = 2000, 5, 5
    directions = rng.standard_normal((m, d))
    norms = np.sqrt(d) * np.exp(rng.uniform(-np.log(10), np.log(10), (m, 1)))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True) * norms, rng.standard_normal((m, outputs))


NOISE = 0.01


def fit_relu_variances(sk, X, y):
    """Fit bias_var, output_var and the noise of a one-hidden-layer relu NNGP from a wrong start.

    weight_var is fixed: relu is positively homogeneous, so the NNGP
    s_v^2 E[relu(h_x) relu(h_z)] with Sigma = s_w^2 x.z/d + s_b^2 equals the one with
    (1, s_b^2 / s_w^2, s_v^2 s_w^2): only two of the three variances are identifiable.
    """
    gaussian_process, kernels = sk
    start = widenet.GPKernel("relu", bias_var=0.65, output_var=1.5, weight_var_bounds="fixed") + \
        kernels.WhiteKernel(0.015)
    regressor = gaussian_process.GaussianProcessRegressor(kernel=start, n_restarts_optimizer=0).fit(X, y)
    fitted = regressor.kernel_
    assert regressor.log_marginal_likelihood_value_ > regressor.log_marginal_likelihood(start.theta) + 10
    for value, (low, high) in zip(np.exp(fitted.theta), np.exp(fitted.bounds)):
        assert low <= value <= high
    mean, std = regressor.predict(X[:3] * 1.01, return_std=True)  # K(X*, X) and diag(X*) serve too
    assert mean.shape == (3, y.shape[1]) and np.all(std > 0) and np.isfinite(mean).all()
    return dict(bias_var=fitted.k1.bias_var, output_var=fitted.k1.output_var, noise=fitted.k2.noise_level)


def draw(X, z, bias_var, output_var):
    covariance = widenet.GPKernel("relu", bias_var=bias_var, output_var=output_var)(X) + NOISE * np.eye(X.shape[0])
    return np.linalg.cholesky(covariance) @ z


def within(recovered, truth, tolerance=0.15):
    return all(abs(recovered[name] / truth[name] - 1) < tolerance for name in truth)


def test_marginal_likelihood_recovers_the_variances(sk, nngp_data):
    X, z = nngp_data
    truth = dict(bias_var=0.5, output_var=2.0, noise=NOISE)
    recovered = fit_relu_variances(sk, X, draw(X, z, truth["bias_var"], truth["output_var"]))
    assert within(recovered, truth), recovered


def test_variances_20_percent_off_are_detected(sk, nngp_data):
    """Negative control: data drawn with variances 20% off are not taken for the ones above."""
    X, z = nngp_data
    truth = dict(bias_var=0.5, output_var=2.0, noise=NOISE)
    recovered = fit_relu_variances(sk, X, draw(X, z, 1.2 * truth["bias_var"], 0.8 * truth["output_var"]))
    assert within(recovered, dict(bias_var=0.6, output_var=1.6, noise=NOISE))  # the fit itself is fine
    assert not within(recovered, truth), recovered


# -- the optional import ---------------------------------------------------------------------

def run(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_widenet_does_not_import_sklearn():
    assert run("import sys, widenet; print('sklearn' in sys.modules, 'GPKernel' in dir(widenet))") == "False True"


def test_without_sklearn_gp_kernel_says_how_to_install_it():
    code = ("import sys; sys.modules['sklearn'] = None; import widenet\n"
            "try:\n    widenet.GPKernel\nexcept ImportError as error:\n    print(error)")
    assert run(code) == ('widenet.GPKernel needs scikit-learn: pip install "widenet[sklearn]" '
                         '(or pip install scikit-learn)')
