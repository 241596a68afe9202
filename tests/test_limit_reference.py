"""The numpy reference of the infinite-width kernels (docs/theory.md, sections 5 and 6).

Every check is independent of the code under test: Gaussian moments from the
incomplete gamma function, closed forms at hand-computed angles, Price's theorem
(``d E_ss / d S12 = E_dd`` for a Gaussian pair), plain Monte Carlo written here, exact
expectations for Rademacher and uniform weights in one dimension, and the tangent Gram
and outputs of real :class:`widenet.ShallowNetwork` instances.
"""

import math

import numpy as np
import pytest
from scipy import integrate, special

import widenet
from widenet.reference import limit_kernels as L


def double_factorial(k):
    """``(k-1)!! = E[a^k]`` for even ``k`` and a standard normal ``a``."""
    return float(np.prod(np.arange(k - 1, 0, -2))) if k > 0 else 1.0


def random_points(seed, m, d, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((m, d))


def max_error(pair, reference):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(pair, reference))


# Variances of the pre-activations used across the file; (1, 1) is Exercise 11.37.
VARIANCES = [(1.0, 0.0), (2.0, 0.0), (1.0, 1.0), (0.5, 1.0), (3.0, 0.5)]


# -- the one-dimensional rule ----------------------------------------------------------------
@pytest.mark.parametrize("order, half_width, panels", [(64, 8.0, None), (128, 8.0, None), (96, 10.0, 2),
                                                       (128, 8.0, 4)])
def test_gaussian_rule_integrates_truncated_gaussian_moments(order, half_width, panels):
    nodes, weights = L.gaussian_rule(order, half_width, panels)
    assert nodes.shape == weights.shape == (order,)
    assert np.all(np.diff(nodes) > 0) and np.all(weights > 0)
    assert np.all(np.abs(nodes) < half_width)
    # int_{-L}^{L} a^k phi(a) da = (k-1)!! P(chi^2_{k+1} <= L^2)
    for k in range(0, 21, 2):
        exact = double_factorial(k) * special.gammainc((k + 1) / 2, half_width ** 2 / 2)
        assert weights @ nodes ** k == pytest.approx(exact, rel=1e-12, abs=0), k
    for k in range(1, 21, 2):
        assert abs(weights @ nodes ** k) <= 1e-14 * double_factorial(k + 1), k


def test_gaussian_rule_gives_gaussian_moments_and_unit_mass():
    nodes, weights = L.gaussian_rule()
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)  # dropped mass 2 P(a > 8) = 1.2e-15
    nodes, weights = L.gaussian_rule(128, half_width=12.0)  # dropped mass ~ 1e-32
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    for k in range(0, 21, 2):
        assert weights @ nodes ** k == pytest.approx(double_factorial(k), rel=1e-12, abs=0), k


def test_gaussian_rule_panels_meet_at_zero():
    nodes, weights = L.gaussian_rule(64, panels=8)
    assert np.count_nonzero(nodes < 0) == 32 and np.count_nonzero(nodes > 0) == 32
    np.testing.assert_array_equal(nodes, -nodes[::-1])
    np.testing.assert_array_equal(weights, weights[::-1])
    assert weights.sum() == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"order": 63}, "multiple of panels"),
    ({"order": 64, "panels": 3}, "panels must be an even"),
    ({"order": 64, "panels": 6}, "multiple of panels"),
    ({"order": 0}, "order must be"),
    ({"order": 64.0}, "order must be"),
    ({"order": 64, "half_width": 0.0}, "half_width"),
    ({"order": 64, "half_width": math.inf}, "half_width"),
])
def test_gaussian_rule_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.gaussian_rule(**kwargs)


# -- covariances and closed forms --------------------------------------------------------------
def test_covariances_by_hand():
    X1 = np.array([[1.0, 2.0], [0.0, 0.0]])
    X2 = np.array([[3.0, -1.0]])
    S11, S22, S12 = L.covariances(X1, X2, weight_var=2.0, bias_var=0.5)
    np.testing.assert_allclose(S11, [2 * 5 / 2 + 0.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(S22, [2 * 10 / 2 + 0.5], rtol=1e-15)
    np.testing.assert_allclose(S12, [[2 * 1 / 2 + 0.5], [0.5]], rtol=1e-15)


def test_relu_closed_form_at_known_angles():
    # x, z with |x| = |z| = sqrt(2) in d = 2 and s_w^2 = 2: S = 2, angles 0, pi/2, pi.
    x = np.array([[1.0, 1.0]])
    Z = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [0.0, 0.0]])
    E_ss, E_dd = L.closed_form_expectations(*L.covariances(x, Z, weight_var=2.0), "relu")
    # t = 0: E[relu(h)^2] = S/2, P(h > 0) = 1/2; t = pi/2: S/(2 pi), 1/4; t = pi: 0, 0; z = 0: 0, 0.
    np.testing.assert_allclose(E_ss, [[1.0, 1 / math.pi, 0.0, 0.0]], rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(E_dd, [[0.5, 0.25, 0.0, 0.0]], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("activation", widenet.ACTIVATIONS)
@pytest.mark.parametrize("weight_var, bias_var", VARIANCES)
def test_price_theorem_links_the_two_expectations(activation, weight_var, bias_var):
    """For a Gaussian pair, d E[s(h_x) s(h_z)] / d Sigma_xz = E[s'(h_x) s'(h_z)]: the two
    expectations are derived independently (closed forms, and the scale mixtures' arcsine
    and density sums, arctan's two integrals), so this checks one against the other."""
    S11, S22, S12 = L.covariances(random_points(1, 4, 3), random_points(2, 5, 3), weight_var, bias_var)
    rho = S12 / np.sqrt(S11[:, None] * S22[None, :])
    assert np.max(np.abs(rho)) < 0.999
    step = 1e-5 * np.sqrt(S11[:, None] * S22[None, :])
    upper, _ = L.expectations(S11, S22, S12 + step, activation)
    lower, _ = L.expectations(S11, S22, S12 - step, activation)
    _, E_dd = L.expectations(S11, S22, S12, activation)
    np.testing.assert_allclose((upper - lower) / (2 * step), E_dd, rtol=1e-7)


def test_erf_closed_form_against_direct_integration():
    S11, S22, S12 = 1.3, 0.7, -0.4
    cov = np.array([[S11, S12], [S12, S22]])
    inverse, det = np.linalg.inv(cov), np.linalg.det(cov)

    def density(a, b):
        v = np.array([a, b])
        return math.exp(-0.5 * v @ inverse @ v) / (2 * math.pi * math.sqrt(det))

    lim = 12.0
    E_ss = integrate.dblquad(lambda b, a: math.erf(a) * math.erf(b) * density(a, b), -lim, lim, -lim, lim,
                             epsabs=1e-11)[0]
    E_dd = integrate.dblquad(lambda b, a: 4 / math.pi * math.exp(-a * a - b * b) * density(a, b),
                             -lim, lim, -lim, lim, epsabs=1e-11)[0]
    closed = L.closed_form_expectations(np.array([S11]), np.array([S22]), np.array([[S12]]), "erf")
    assert closed[0][0, 0] == pytest.approx(E_ss, abs=1e-9)
    assert closed[1][0, 0] == pytest.approx(E_dd, abs=1e-9)


def test_closed_form_rejects_other_activations():
    S = L.covariances(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"activation.*relu, erf, identity.*'tanh'"):
        L.closed_form_expectations(*S, "tanh")


def test_example_11_31_indicator_expectation_by_monte_carlo():
    """E[1(u.x >= 0) 1(u.z >= 0)] = (pi - t) / (2 pi) for u ~ N(0, I) (Exercise 11.36)."""
    rng = np.random.default_rng(11)
    X = random_points(3, 3, 4)
    Z = np.vstack([random_points(4, 2, 4), -X[0] + 0.1 * rng.standard_normal(4)])
    samples = 200_000
    U = rng.standard_normal((samples, 4))
    hits = ((X @ U.T) >= 0).astype(float) @ ((Z @ U.T) >= 0).astype(float).T / samples
    se = np.sqrt(hits * (1 - hits) / samples)
    _, E_dd = L.closed_form_expectations(*L.covariances(X, Z), "relu")
    assert np.all(np.abs(hits - E_dd) <= 5 * se + 1e-12)


# -- the two-dimensional quadrature ---------------------------------------------------------
@pytest.mark.parametrize("weight_var, bias_var", VARIANCES)
def test_quadrature_matches_erf_closed_form(weight_var, bias_var):
    S = L.covariances(random_points(5, 6, 3), random_points(6, 5, 3), weight_var, bias_var)
    quadrature = L.quadrature_expectations(*S, "erf", *L.gaussian_rule())
    # measured 1e-13 .. 1.1e-9 (the largest for s_w^2 = 3, variances up to 4.9)
    assert max_error(quadrature, L.closed_form_expectations(*S, "erf")) < 1e-8


def test_quadrature_matches_identity_closed_form():
    S = L.covariances(random_points(7, 5, 3), random_points(8, 4, 3), 2.0, 0.5)
    E_ss, E_dd = L.quadrature_expectations(*S, "identity", *L.gaussian_rule())
    np.testing.assert_allclose(E_ss, S[2], rtol=0, atol=1e-12 * np.max(np.abs(S[2])))
    np.testing.assert_allclose(E_dd, 1.0, rtol=1e-13)


@pytest.mark.parametrize("weight_var, bias_var", [(1.0, 0.0), (1.0, 1.0), (3.0, 0.5)])
def test_quadrature_relu_converges_to_closed_form(weight_var, bias_var):
    """Without the split inner rule (below), the kink of relu(h_z) sits at
    b = -rho a / sqrt(1 - rho^2), inside a panel for almost every node a_p: the tensor rule converges only algebraically (E_ss ~ Q^-2, the step
    function relu' in E_dd ~ Q^-1). Measured at orders 64 / 256 / 1024: E_ss 4e-4 / 2e-5 /
    5e-7, E_dd 1.3e-2 / 3e-3 / 7e-4."""
    S = L.covariances(random_points(9, 6, 3), random_points(10, 6, 3), weight_var, bias_var)
    closed = L.closed_form_expectations(*S, "relu")
    errors = {}
    for order in (64, 256):
        E_ss, E_dd = L.quadrature_expectations(*S, "relu", *L.gaussian_rule(order))
        errors[order] = (np.max(np.abs(E_ss - closed[0])), np.max(np.abs(E_dd - closed[1])))
    assert errors[64][0] < 1e-3 and errors[64][1] < 3e-2
    assert errors[256][0] < 3e-5 and errors[256][1] < 1e-2
    assert errors[256][0] < errors[64][0] / 8 and errors[256][1] < errors[64][1] / 2


@pytest.mark.parametrize("weight_var, bias_var", [(1.0, 0.0), (1.0, 1.0), (3.0, 0.5)])
def test_quadrature_relu_with_the_split_inner_rule_matches_the_closed_form(weight_var, bias_var):
    """Cutting the inner integral at the kink of relu(h_z) makes each piece smooth: at the
    default order the rule then agrees with Example 11.17 / Exercise 11.36 to 1e-6 (the
    accuracy asked of it), against 4e-4 and 1e-2 for the plain tensor rule above. Measured: the worst
    pair has rho = 0.994, where the smoothed inner integrand is itself nearly a kink in a
    (E_dd off by 2e-7 at order 64, below 2e-10 at order 96); pairs with |rho| < 0.9 reach 1e-9."""
    S = L.covariances(random_points(9, 6, 3), random_points(10, 6, 3), weight_var, bias_var)
    closed = L.closed_form_expectations(*S, "relu")
    split = L.quadrature_expectations(*S, "relu", *L.gaussian_rule(), legendre=L.legendre_rule())
    assert max_error(split, closed) < 1e-6
    rho = S[2] / np.sqrt(S[0][:, None] * S[1][None, :])
    away = np.abs(rho) < 0.9
    assert max(float(np.max(np.abs(a - b)[away])) for a, b in zip(split, closed)) < 1e-9
    finer = L.quadrature_expectations(*S, "relu", *L.gaussian_rule(96), legendre=L.legendre_rule(96))
    assert max_error(finer, closed) < 1e-9


def test_quadrature_relu_is_exact_for_orthogonal_points():
    """With rho = 0 both kinks sit on the panel boundary at 0 and the rule is accurate."""
    X = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    Z = np.array([[0.0, 0.0, 3.0]])
    S = L.covariances(X, Z, weight_var=3.0)
    quadrature = L.quadrature_expectations(*S, "relu", *L.gaussian_rule())
    assert max_error(quadrature, L.closed_form_expectations(*S, "relu")) < 1e-13


def test_quadrature_arctan_error_against_order():
    """arctan with pre-activation variances 4 (docs/theory.md, section 5: Gauss-Hermite errs
    by 8e-5 at order 64). Measured against order 1024: 5e-9 (64), 2e-14 (128), 1e-14 (256)."""
    X = random_points(12, 5, 3)
    X *= math.sqrt(3) / np.linalg.norm(X, axis=1, keepdims=True)  # |x|^2 / d = 1
    S = L.covariances(X, X, weight_var=4.0)
    np.testing.assert_allclose(S[0], 4.0, rtol=1e-14)
    reference = L.quadrature_expectations(*S, "arctan", *L.gaussian_rule(1024))
    other = L.quadrature_expectations(*S, "arctan", *L.gaussian_rule(640, half_width=11.0, panels=10))
    assert max_error(other, reference) < 1e-13  # two different fine rules agree
    errors = [max_error(L.quadrature_expectations(*S, "arctan", *L.gaussian_rule(q)), reference)
              for q in (64, 128, 256)]
    assert errors[0] < 3e-8 and errors[1] < 1e-12 and errors[2] < 1e-12


def test_quadrature_degenerate_points():
    """x = 0 and no bias: h_x = 0 almost surely."""
    X = np.array([[0.0, 0.0], [1.0, -0.5]])
    S = L.covariances(X, X)
    rule = L.gaussian_rule()
    for activation in ("relu", "erf"):
        quadrature = L.quadrature_expectations(*S, activation, *rule)
        assert max_error(quadrature, L.closed_form_expectations(*S, activation)) < 1e-9
    E_ss, E_dd = L.quadrature_expectations(*S, "tanh", *rule)
    assert E_ss[0, 0] == 0 and E_ss[0, 1] == 0 and E_dd[0, 0] == pytest.approx(1.0, abs=1e-14)


def test_quadrature_blocks_do_not_change_the_sum(monkeypatch):
    S = L.covariances(random_points(13, 4, 2), random_points(14, 3, 2), 1.5, 0.5)
    rule = L.gaussian_rule()
    whole = L.quadrature_expectations(*S, "gelu", *rule)
    monkeypatch.setattr(L.fixed_rule, "_BLOCK_FLOATS", 1)
    blocked = L.quadrature_expectations(*S, "gelu", *rule)
    assert max_error(blocked, whole) < 1e-15


def test_quadrature_validation():
    S = L.covariances(np.ones((2, 2)), np.ones((3, 2)))
    nodes, weights = L.gaussian_rule()
    with pytest.raises(ValueError, match="nodes and weights"):
        L.quadrature_expectations(*S, "tanh", nodes, weights[:-1])
    with pytest.raises(ValueError, match="S11"):
        L.quadrature_expectations(S[0], S[1], S[2].T, "tanh", nodes, weights)
    with pytest.raises(ValueError, match="activation"):
        L.quadrature_expectations(*S, "swish", nodes, weights)


# -- Monte Carlo ----------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_monte_carlo_normal_matches_closed_form(activation):
    X1, X2 = random_points(15, 4, 3), random_points(16, 3, 3)
    E_ss, E_dd, se_ss, se_dd = L.monte_carlo_expectations(X1, X2, activation, weight_var=2.0, bias_var=0.5,
                                                          samples=40_000, seed=3)
    closed = L.closed_form_expectations(*L.covariances(X1, X2, 2.0, 0.5), activation)
    assert np.all(se_ss > 0) and np.all(se_dd > 0)
    assert np.all(np.abs(E_ss - closed[0]) <= 5 * se_ss)
    assert np.all(np.abs(E_dd - closed[1]) <= 5 * se_dd)


def test_monte_carlo_rademacher_in_one_dimension_is_exact():
    """d = 1, no bias, u = +-s_w: erf is odd and erf' even, so every sample gives
    erf(s_w x) erf(s_w z) and erf'(s_w x) erf'(s_w z): zero variance, not the Gaussian value."""
    x, z = np.array([[1.0], [-0.3]]), np.array([[0.5], [2.0]])
    s = 2.0
    E_ss, E_dd, se_ss, se_dd = L.monte_carlo_expectations(x, z, "erf", weight_var=s * s, samples=500,
                                                          distribution="rademacher", seed=0)
    erf = np.vectorize(math.erf)
    exact_ss = erf(s * x) @ erf(s * z).T
    exact_dd = (2 / math.sqrt(math.pi)) ** 2 * np.exp(-(s * x) ** 2) @ np.exp(-(s * z) ** 2).T
    np.testing.assert_allclose(E_ss, exact_ss, rtol=1e-13)
    np.testing.assert_allclose(E_dd, exact_dd, rtol=1e-13)
    assert np.all(se_ss < 1e-7) and np.all(se_dd < 1e-7)
    gaussian = L.closed_form_expectations(*L.covariances(x, z, s * s), "erf")
    assert np.min(np.abs(exact_ss - gaussian[0])) > 0.02


def test_monte_carlo_uniform_in_one_dimension():
    """d = 1, no bias, u = s_w xi with xi uniform on [-sqrt 3, sqrt 3]: a one-dimensional
    integral, against which the estimate is within 5 standard errors, while the Gaussian
    closed form is many standard errors away."""
    x, z = np.array([[1.0]]), np.array([[0.5]])
    s, r3 = 2.0, math.sqrt(3.0)
    exact = integrate.quad(lambda t: math.erf(s * t) * math.erf(s * 0.5 * t), -r3, r3, epsabs=1e-13)[0] / (2 * r3)
    E_ss, _, se_ss, _ = L.monte_carlo_expectations(x, z, "erf", weight_var=s * s, samples=100_000,
                                                   distribution="uniform", seed=np.random.default_rng(5))
    assert abs(E_ss[0, 0] - exact) <= 5 * se_ss[0, 0]
    gaussian = L.closed_form_expectations(*L.covariances(x, z, s * s), "erf")[0][0, 0]
    assert abs(gaussian - exact) > 20 * se_ss[0, 0]


def test_monte_carlo_seed_and_chunks(monkeypatch):
    X = random_points(17, 3, 2)
    first = L.monte_carlo_expectations(X, X, "tanh", samples=1000, seed=7)
    again = L.monte_carlo_expectations(X, X, "tanh", samples=1000, seed=np.random.default_rng(7))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(L.monte_carlo, "_BLOCK_FLOATS", 60)  # chunks of 10 units
    chunked = L.monte_carlo_expectations(X, X, "tanh", samples=1000, seed=7)
    assert max_error(chunked[:2], first[:2]) < 0.2  # other draws, same law
    np.testing.assert_allclose(chunked[0], chunked[0].T, rtol=1e-14)


def test_monte_carlo_validation():
    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="distribution"):
        L.monte_carlo_expectations(X, X, "tanh", distribution="cauchy")
    with pytest.raises(ValueError, match="samples"):
        L.monte_carlo_expectations(X, X, "tanh", samples=1)
    with pytest.raises(ValueError, match="columns"):
        L.monte_carlo_expectations(X, np.ones((2, 3)), "tanh")


# -- kernels --------------------------------------------------------------------------------
def test_combine_by_hand():
    X1 = np.array([[1.0, 2.0]])
    X2 = np.array([[3.0, -1.0], [0.0, 1.0]])
    E_ss, E_dd = np.array([[0.5, 0.25]]), np.array([[0.2, 0.4]])
    np.testing.assert_array_equal(L.combine(E_ss, E_dd, X1, X2, "lecun", "ntk", 2.0, 0.3), E_ss)
    ntk = L.combine(E_ss, E_dd, X1, X2, "ntk", "ntk", output_var=2.0, output_bias_var=0.3)
    np.testing.assert_allclose(ntk, [[2 * (1 / 2 + 1) * 0.2 + 0.5 + 1, 2 * (2 / 2 + 1) * 0.4 + 0.25 + 1]],
                               rtol=1e-15)
    for parametrization in ("lecun", "ntk"):
        nngp = L.combine(E_ss, E_dd, X1, X2, parametrization, "nngp", output_var=2.0, output_bias_var=0.3)
        np.testing.assert_allclose(nngp, [[1.3, 0.8]], rtol=1e-15)
    with pytest.raises(ValueError, match="kind"):
        L.combine(E_ss, E_dd, X1, X2, "ntk", "gp")
    with pytest.raises(ValueError, match="parametrization"):
        L.combine(E_ss, E_dd, X1, X2, "standard", "ntk")


def test_limit_kernel_methods():
    X1, X2 = random_points(18, 4, 3), random_points(19, 3, 3)
    kwargs = dict(parametrization="ntk", kind="ntk", weight_var=1.5, bias_var=0.5, output_var=2.0)
    auto = L.limit_kernel(X1, X2, "erf", **kwargs)
    np.testing.assert_array_equal(auto, L.limit_kernel(X1, X2, "erf", method="closed_form", **kwargs))
    assert np.max(np.abs(auto - L.limit_kernel(X1, X2, "erf", method="quadrature", **kwargs))) < 1e-10
    series = L.limit_kernel(X1, X2, "tanh", **kwargs)
    np.testing.assert_array_equal(series, L.limit_kernel(X1, X2, "tanh", method="expansion", **kwargs))
    for method in ("scale_mixture", "quadrature"):
        assert np.max(np.abs(series - L.limit_kernel(X1, X2, "tanh", method=method, **kwargs))) < 1e-9
    with pytest.raises(ValueError, match="closed forms"):
        L.limit_kernel(X1, X2, "tanh", method="closed_form")
    with pytest.raises(ValueError, match="scale mixtures"):
        L.limit_kernel(X1, X2, "erf", method="scale_mixture")
    with pytest.raises(ValueError, match="expansion"):
        L.limit_kernel(X1, X2, "relu", method="expansion")
    with pytest.raises(ValueError, match="method"):
        L.limit_kernel(X1, X2, "tanh", method="monte_carlo")
    with pytest.raises(ValueError, match="kind"):
        L.limit_kernel(X1, X2, "tanh", kind="NTK")


# -- against real networks ---------------------------------------------------------------------
WIDE = 2 ** 15
SEEDS = range(16)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_tangent_gram_of_a_wide_network(activation, parametrization):
    """Theorem 11.16 (LeCun: K_n / n -> K_LC) and Theorem 11.30 (NTK: K_n -> K_NTK).

    LeCun: E[K_n] / n = K_LC + (s_v^2 (1 + x.z) E_dd + 1) / n exactly (v independent of
    U, b), so that known O(1/n) term is removed; what remains fluctuates like n^{-1/2} and
    is compared with the spread over 16 seeds."""
    d, variances = 3, dict(weight_var=1.5, bias_var=0.5, output_var=2.0, output_bias_var=0.3)
    X = random_points(20, 4, d)
    grams = np.stack([widenet.ShallowNetwork(d, WIDE, activation, parametrization, seed=s, **variances).ntk(X)
                      for s in SEEDS])
    E_ss, E_dd = L.quadrature_expectations(*L.covariances(X, X, 1.5, 0.5), activation, *L.gaussian_rule(256))
    if parametrization == "lecun":
        grams = (grams - (2.0 * (1 + X @ X.T) * E_dd + 1)) / WIDE
    expected = L.limit_kernel(X, X, activation, parametrization, "ntk", **variances, order=128)
    mean, spread = grams.mean(axis=0), grams.std(axis=0, ddof=1) / math.sqrt(len(SEEDS))
    assert np.all(np.abs(mean - expected) <= 6 * spread + 1e-3 * np.max(np.abs(expected)))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_output_covariance_is_the_nngp_kernel(activation, parametrization):
    """Prop. 11.28: E[Phi(x) Phi(z)] = s_v^2 E_ss + s_c^2 at initialization, exactly for
    every width when D is normal (then u.x + b is Gaussian); the estimate over 8000
    networks is within 5 standard errors (dropping s_c^2 = 1 would be 25-48 of them)."""
    d, n, networks = 2, 16, 8000
    variances = dict(weight_var=1.5, bias_var=0.5, output_var=0.5, output_bias_var=1.0)
    X = random_points(21, 3, d)
    rng = np.random.default_rng(22)
    outputs = np.stack([widenet.ShallowNetwork(d, n, activation, parametrization, seed=rng, **variances).forward(X)
                        for _ in range(networks)])
    products = outputs[:, :, None] * outputs[:, None, :]
    mean, se = products.mean(axis=0), products.std(axis=0, ddof=1) / math.sqrt(networks)
    expected = L.limit_kernel(X, X, activation, parametrization, "nngp", **variances)
    assert np.all(np.abs(mean - expected) <= 5 * se)


@pytest.mark.parametrize("method", ["quadrature", "closed_form", "scale_mixture"])
def test_limit_kernel_of_a_set_with_itself_mirrors_the_lower_triangle(method):
    """``X2 is X1``: rows are the outer point, the lower triangle is mirrored (as in the C++
    kernel); the numerical methods are symmetric in the two points only up to their error.
    The variances come from the Gram's diagonal there, from the squared norms otherwise:
    the two agree to rounding."""
    X = random_points(23, 5, 3)
    activation = "tanh" if method == "scale_mixture" else "erf"
    kwargs = dict(parametrization="ntk", weight_var=1.5, bias_var=0.5, method=method, order=8)
    same = L.limit_kernel(X, X, activation, **kwargs)
    cross = L.limit_kernel(X, X.copy(), activation, **kwargs)
    np.testing.assert_array_equal(same, same.T)
    np.testing.assert_allclose(np.tril(same), np.tril(cross), rtol=1e-14, atol=0)
    if method == "quadrature":
        assert 0 < np.max(np.abs(cross - cross.T)) < 1e-6
