"""The Hermite expansion of the limit kernels (method="expansion"): Mehler's series in the
correlation, each point's coefficients computed once, each pair summed to the degree its tail
bound asks for, the pairs it cannot bound computed by the activation's other method.

- the compiled kernel against its numpy twin, tight, at depths 1-3, both kinds, both
  parametrizations (with and without multipliers), at input scales where pairs fall back;
- both against methods that share nothing with it: the graded quadrature at a high order,
  the closed forms of erf and gelu, the scale mixtures, at pre-activation variances from 1e-6
  to 1e6 and correlations up to |rho| = 1 (identical and antipodal points), within the
  expansion's own bound;
- negative controls: a 1% error in one coefficient, or a truncation at too small a degree,
  makes that agreement fail;
- no NaN over the float64 range, "auto" takes the expansion, the memory guard counts its
  tables, and Ctrl-C stops it.
"""

import math
import textwrap

import numpy as np
import pytest

import widenet
from child_signals import interrupt_child
from widenet import _core
from widenet.reference import limit_kernels as L
from widenet.reference.limit_kernels import expansion as twin

EXPANSIONS = ("tanh", "sigmoid", "softplus", "arctan", "erf", "gelu", "silu", "elu")
# The expansion's bound on each expectation, relative to its scale (as documented), and what
# the references themselves may err by (the quadrature at order 20, the closed forms, the
# scale mixtures: below 1e-11 of the scale, docs/guarantees.md).
BOUND = 1e-10
REFERENCE_ERROR = 1e-11


def test_documented_constants():
    assert _core.EXPANSIONS == L.EXPANSIONS == EXPANSIONS
    assert _core.EXPANSION_TOLERANCE == L.EXPANSION_TOLERANCE == BOUND
    assert _core.EXPANSION_DEGREE == L.EXPANSION_DEGREE


def points_at(variances, angles):
    """Points of d = 2 with |x|^2 / 2 = q for each variance and each angle: pairs at every
    ratio of variances and correlation cos(angle difference), exactly 1 and -1 among them."""
    return np.array([[math.sqrt(2 * q) * math.cos(a), math.sqrt(2 * q) * math.sin(a)]
                     for q in variances for a in angles])


VARIANCES = (1e-6, 1e-2, 0.7, 3.0, 40.0, 1e3, 1e6)
ANGLES = (0.0, 0.4, math.pi / 2, 2.5, math.pi - 1e-6, math.pi)
VARIANTS = {  # the kernels, with output variances that weigh E_ss and E_dd alike
    "K_LC": dict(parametrization="lecun", kind="ntk"),
    "K_NTK": dict(parametrization="ntk", kind="ntk", output_var=1e3),
    "NNGP": dict(parametrization="ntk", kind="nngp", output_var=2.0, output_bias_var=0.3),
}


def excess(K, reference, bound):
    """The largest amount by which |K - reference| exceeds bound sqrt(K(x, x) K(z, z)) (plus
    the rounding of the final sums); <= 0 when every entry is within it."""
    diagonal = np.sqrt(np.abs(np.diagonal(K)))
    allowed = bound * np.outer(diagonal, diagonal) + 1e-15 * (np.abs(reference) + 1)
    return float(np.max(np.abs(K - reference) - allowed))


def reference_kernel(X, activation, **options):
    """The kernel by the methods independent of the expansion: the closed form for erf and
    gelu, else the graded quadrature at order 20."""
    method = "closed_form" if activation in _core.CLOSED_FORMS else "quadrature"
    return widenet.limit_kernel(X, activation=activation, method=method, order=20, **options)


def expansion_excess(activation, backend="cpp", bias_var=0.0):
    """The worst excess of the expansion over its bound against the reference, over the
    three kernels on the grid of VARIANCES x ANGLES."""
    X = points_at(VARIANCES, ANGLES)
    worst = -math.inf
    for options in VARIANTS.values():
        K = widenet.limit_kernel(X, activation=activation, method="expansion", bias_var=bias_var, backend=backend,
                                 **options)
        assert np.all(np.isfinite(K))
        reference = reference_kernel(X, activation, bias_var=bias_var, **options)
        worst = max(worst, excess(K, reference, BOUND + REFERENCE_ERROR))
    return worst


@pytest.mark.parametrize("activation", EXPANSIONS)
def test_the_expansion_agrees_with_the_independent_methods(activation):
    """Within the expansion's bound 1e-10 (plus the reference's 1e-11) of the quadrature at
    order 20, or of the closed form (erf, gelu), at variances 1e-6 .. 1e6 and correlations up
    to +-1: identical points, antipodal points, pairs where the series stops after a few terms
    and pairs that fall back on the other method; with and without a bias variance."""
    for bias_var in (0.0, 0.5):
        assert expansion_excess(activation, bias_var=bias_var) <= 0, (activation, bias_var)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "arctan"])
def test_the_expansion_agrees_with_the_scale_mixtures(activation):
    """The scale mixtures integrate closed kernels over mixing scales, the expansion sums
    products of Hermite coefficients: within the bound of each other on the grid."""
    X = points_at(VARIANCES, ANGLES)
    for options in VARIANTS.values():
        K = widenet.limit_kernel(X, activation=activation, method="expansion", **options)
        mixture = widenet.limit_kernel(X, activation=activation, method="scale_mixture", **options)
        assert excess(K, mixture, BOUND + REFERENCE_ERROR) <= 0, options


@pytest.mark.parametrize("activation", EXPANSIONS)
def test_the_twin_agrees_with_the_independent_methods(activation):
    """The numpy twin meets the same bound on the same grid (without biases: the twin of the
    fallback is slow)."""
    assert expansion_excess(activation, backend="numpy") <= 0


# -- negative controls: the agreement test can fail ----------------------------------------
def test_a_one_percent_error_in_one_coefficient_fails_the_agreement(monkeypatch):
    """The twin with its third coefficient of sigma 1% off, everywhere: the same comparison
    with the quadrature now fails."""
    exact_side = twin.expansion_side

    def perturbed(activation, variance):
        side = exact_side(activation, variance)
        coefficients = side.coefficients.copy()
        coefficients[3] *= 1.01
        return side._replace(coefficients=coefficients)

    monkeypatch.setattr(twin, "expansion_side", perturbed)
    assert expansion_excess("tanh", backend="numpy") > 0


def test_a_truncation_at_too_small_a_degree_fails_the_agreement(monkeypatch):
    """The twin stopping its series where the rest is below 1e-5 of the scale rather than
    1e-10 (fewer terms, and fewer pairs handed to the other method): the comparison fails."""
    monkeypatch.setattr(twin, "EXPANSION_TOLERANCE", 1e-5)
    assert expansion_excess("arctan", backend="numpy") > 0


# -- the compiled kernel against its twin ----------------------------------------------------------
CONFIGURATIONS = [("lecun", "ntk", False), ("lecun", "nngp", False), ("ntk", "ntk", False), ("ntk", "ntk", True),
                  ("ntk", "nngp", False)]


@pytest.mark.parametrize("activation", EXPANSIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("parametrization, kind, multipliers", CONFIGURATIONS)
def test_the_compiled_expansion_equals_the_twin(activation, depth, parametrization, kind, multipliers):
    """Symmetric and cross Grams at input scales 1e-3, 1 and 30 (where pairs near |rho| = 1
    fall back), with identical and opposite points among them: equal to 1e-12 of the scale
    (the float64 sums differ in their order only)."""
    rng = np.random.default_rng(depth)
    base = rng.standard_normal((4, 3))
    base = np.concatenate([base, base[:1], -base[1:2], 1.001 * base[2:3]])
    other = rng.standard_normal((3, 3))
    options = dict(activation=activation, depth=depth, parametrization=parametrization, kind=kind,
                   multipliers=multipliers, weight_var=1.4, bias_var=0.3, output_var=0.8, output_bias_var=0.2,
                   method="expansion")
    for scale in (1e-3, 1.0, 30.0):
        for second in (None, scale * other):
            cpp = widenet.limit_kernel(scale * base, second, **options)
            numpy = widenet.limit_kernel(scale * base, second, backend="numpy", **options)
            diagonals = [np.abs(np.diagonal(widenet.limit_kernel(points, **options)))
                         for points in (scale * base, scale * base if second is None else second)]
            bound = 1e-12 * np.sqrt(diagonals[0])[:, None] * np.sqrt(diagonals[1])[None, :] + 1e-300
            assert np.all(np.abs(cpp - numpy) <= bound), (scale, second is None)


# -- the float64 range, "auto", memory and interrupts ---------------------------------------------
def fallback_of(activation):
    """The method the expansion hands the pairs it cannot bound to (silu and elu have no other form)."""
    if activation in _core.CLOSED_FORMS:
        return "closed_form"
    return "scale_mixture" if activation in _core.SCALE_MIXTURES else "quadrature"


@pytest.mark.parametrize("activation", EXPANSIONS)
def test_no_nan_over_the_float64_range(activation):
    """Inputs of scale 1e-3 to 1e150 (variances to 1e300): every kernel finite, at depths 1
    and 2, and the NNGP within the bound of the other method (closed form, scale mixture or
    quadrature)."""
    X = points_at((5e-7, 1.0, 1e30, 1e100, 1e300), (0.0, 2.0, math.pi))
    other = fallback_of(activation)
    for depth in (1, 2):
        for options in VARIANTS.values():
            K = widenet.limit_kernel(X, activation=activation, method="expansion", depth=depth, **options)
            assert np.all(np.isfinite(K)), (depth, options)
    nngp = widenet.limit_kernel(X, activation=activation, method="expansion", kind="nngp")
    reference = widenet.limit_kernel(X, activation=activation, method=other, kind="nngp")
    assert excess(nngp, reference, BOUND + REFERENCE_ERROR) <= 0


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "arctan", "silu", "elu"])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_auto_takes_the_expansion(activation, backend):
    X = np.random.default_rng(3).standard_normal((5, 4))
    for depth in (1, 2):
        auto = widenet.limit_kernel(X, activation=activation, parametrization="ntk", depth=depth, backend=backend)
        series = widenet.limit_kernel(X, activation=activation, parametrization="ntk", depth=depth, backend=backend,
                                      method="expansion")
        np.testing.assert_array_equal(auto, series)


def test_the_expansion_is_refused_where_it_does_not_apply():
    for activation in ("relu", "sin", "identity"):
        with pytest.raises(ValueError, match=f"^method: no expansion for activation '{activation}'"):
            widenet.limit_kernel(np.ones((2, 2)), activation=activation, method="expansion")
        with pytest.raises(ValueError, match="^method: no expansion"):
            _core.limit_kernel(np.ones((2, 2)), None, activation, "lecun", "ntk", (1.0, 0.0, 1.0, 0.0), "expansion")


def test_the_memory_guard_counts_the_coefficient_tables():
    """Each point holds its coefficients, their tail roots and four moments (3 x 65 + 4
    floats), and the table of the method it falls back on: counted before allocating."""
    degree = _core.EXPANSION_DEGREE
    for activation in EXPANSIONS:
        floats = _core.limit_point_floats(activation, "expansion", 1.0, _core.LIMIT_ORDER)
        fallback = fallback_of(activation)
        assert floats == 3 * (degree + 1) + 4 + _core.limit_point_floats(activation, fallback, 1.0,
                                                                          _core.LIMIT_ORDER)
    limit = widenet.get_memory_limit()
    m = 2000
    try:
        widenet.set_memory_limit(m * m * 8 + 2 * m * 100 * 8)  # the kernel, not the tables
        with pytest.raises(widenet.MemoryLimitError, match="tables of the points"):
            widenet.limit_kernel(np.ones((m, 2)), activation="sigmoid", method="expansion")
    finally:
        widenet.set_memory_limit(limit)


INTERRUPT_SCRIPT = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np, widenet
    rng = np.random.default_rng(0)
    phase = sys.argv[1]
    if phase == "points":  # the coefficients of 60,000 points of huge variance (graded rules)
        X1, X2 = 1e150 * rng.standard_normal((60_000, 2)), np.ones((1, 2))
    else:  # nearly parallel points of large variance: every pair falls back on the scale mixture
        X1, X2 = 1e3 * (1 + 1e-3 * rng.standard_normal((2500, 4))), None
    depth = int(sys.argv[2])
    widenet.limit_kernel(X1[:50], X2, activation="tanh", method="expansion", depth=depth)  # warm up
    print("start", flush=True)
    started = time.perf_counter()
    try:
        widenet.limit_kernel(X1, X2, activation="tanh", method="expansion", depth=depth)
        print("finished", time.perf_counter() - started, flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.perf_counter() - started, flush=True)
""")


@pytest.mark.parametrize("phase, depth", [("points", 1), ("pairs", 1), ("pairs", 3)])
def test_a_long_expansion_stops_on_ctrl_c(phase, depth):
    """Both phases poll the stop token: the points' coefficients (once per point) and the
    pairs (once per pair); KeyboardInterrupt within 0.1 s of work (2 s allowed here, for a
    loaded machine)."""
    line, stopped = interrupt_child(INTERRUPT_SCRIPT, phase, str(depth))
    assert line[0] == "interrupted", line
    assert stopped < 2.0
