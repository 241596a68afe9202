"""One home for every fact: the constants and name lists shared by C++ and Python are
defined in the compiled core, and the package uses those; the numpy twin, which may not
import the core, keeps its own copies, checked here to agree."""

import ast
import inspect
import pathlib
import re

import numpy as np
import pytest

import widenet
from widenet import _core, _memory, reference
from widenet.kernels import classic as kernels
from widenet.kernels import limit as limit_kernels
from widenet.network import _backends, parameters
from widenet.regression import estimators
from widenet.reference import activations as reference_activations
from widenet.reference import kernels as reference_kernels
from widenet.reference import limit_kernels as reference_limit
from widenet.reference import linear_dynamics as reference_linear
from widenet.reference import shallow as reference_shallow
from widenet.reference import training as reference_training

EPS = np.finfo(np.float64).eps


def test_divergence_factor_is_the_cores():
    assert _core.DIVERGENCE_FACTOR == 1e10
    assert widenet.DIVERGENCE_FACTOR == _core.DIVERGENCE_FACTOR
    assert "DIVERGENCE_FACTOR" in widenet.__all__
    assert _backends.DIVERGENCE_FACTOR == _core.DIVERGENCE_FACTOR


def test_the_twin_is_given_the_divergence_factor():
    """The numpy twin has no factor of its own: its run options require one (widenet passes the
    core's), and its runs read it from there."""
    parameter = inspect.signature(reference_training.TrainingOptions).parameters["divergence_factor"]
    assert parameter.default is inspect.Parameter.empty
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    for function in (reference_training.train, reference_training.train_ensemble, reference_linear.linear_gd):
        assert "divergence_factor" not in inspect.signature(function).parameters


def test_the_core_defaults_are_the_divergence_factor():
    defaults = re.findall(r"divergence_factor: [^=,)]* = ([^,)]*)", _core.TrainingOptions.__init__.__doc__)
    assert len(defaults) == 1 and float(defaults[0]) == _core.DIVERGENCE_FACTOR
    assert _core.TrainingOptions(0.1, 1).divergence_factor == _core.DIVERGENCE_FACTOR
    for function in (_core.train, _core.train_ensemble, _core.linear_gd):  # the options carry it
        assert not re.findall(r"divergence_factor: ", function.__doc__)


def test_memory_estimates_use_the_cores_gram_layout():
    assert _memory.GRAM_BAND_ROWS == _core.GRAM_BAND_ROWS == 256
    assert _memory.default_width_chunk is _core.default_width_chunk
    # the rule: blocks of both inputs in about 64 MiB, at least 256 units, at most the width
    assert _core.default_width_chunk(10, 10**6, 8) == (64 << 20) // 8 // 20
    assert _core.default_width_chunk(10, 100, 8) == 100
    assert _core.default_width_chunk(10**6, 10**6, 4) == 256
    assert _core.default_width_chunk(1000, 10**6, 4) == 2 * _core.default_width_chunk(1000, 10**6, 8)


def test_name_lists_come_from_the_core():
    assert widenet.ACTIVATIONS is _core.ACTIVATIONS
    assert isinstance(widenet.ACTIVATIONS, tuple)
    assert widenet.ACTIVATIONS == ("relu", "tanh", "erf", "arctan", "sigmoid", "softplus", "gelu", "sin",
                                   "identity", "leaky_relu", "elu", "silu", "abs", "monomial2", "monomial3")
    assert widenet.LEAKY_RELU_SLOPE == _core.LEAKY_RELU_SLOPE == 0.01
    assert widenet.ELU_ALPHA == _core.ELU_ALPHA == 1.0
    assert parameters.PARAMETRIZATIONS is _core.PARAMETRIZATIONS == ("lecun", "ntk")
    assert estimators.KERNEL_NAMES is _core.KERNELS == ("linear", "polynomial", "rbf", "laplace")
    assert set(kernels._BY_NAME) == set(_core.KERNELS) | {"poly"}
    assert all(kernels._BY_NAME[name].kind == name for name in _core.KERNELS)
    assert limit_kernels.KINDS is _core.LIMIT_KINDS == ("ntk", "nngp")
    assert limit_kernels.METHODS == ("auto", *_core.LIMIT_METHODS, "monte_carlo")
    assert limit_kernels.CLOSED_FORMS is _core.CLOSED_FORMS
    assert limit_kernels.SCALE_MIXTURES is _core.SCALE_MIXTURES
    assert limit_kernels.TOLERANCE == _core.LIMIT_TOLERANCE == 1e-9
    # every activation has a method beyond the quadrature; silu and elu the expansion alone
    assert set(_core.CLOSED_FORMS) | set(_core.SCALE_MIXTURES) | set(_core.EXPANSIONS) == set(_core.ACTIVATIONS)
    assert not set(_core.CLOSED_FORMS) & set(_core.SCALE_MIXTURES)
    assert set(_core.ACTIVATIONS) - set(_core.CLOSED_FORMS) - set(_core.SCALE_MIXTURES) == {"silu", "elu"}


def test_the_core_parses_exactly_its_lists():
    """Every listed name is accepted by the compiled parsers and nothing else is: the lists
    are the parsers' own tables."""
    X = np.ones((2, 3))
    U, b, v = np.ones((4, 3)), np.zeros(4), np.ones(4)
    for activation in _core.ACTIVATIONS:
        _core.activation(np.zeros(2), activation)
        for parametrization in _core.PARAMETRIZATIONS:
            _core.forward(_core.Network(U, b, v, 0.0, activation, parametrization), X)
    for kind in _core.KERNELS:
        _core.kernel_gram(X, None, kind, 1.0, 2, 1.0)
    for kind in _core.LIMIT_KINDS:
        for method in _core.LIMIT_METHODS:
            for activation in _core.ACTIVATIONS:
                applies = {"closed_form": activation in _core.CLOSED_FORMS,
                           "scale_mixture": activation in _core.SCALE_MIXTURES,
                           "expansion": activation in _core.EXPANSIONS}.get(method, True)
                if applies:
                    _core.limit_kernel(X, None, activation, "lecun", kind, (1.0, 0.0, 1.0, 0.0), method)
                else:
                    with pytest.raises(ValueError, match="method: no"):
                        _core.limit_kernel(X, None, activation, "lecun", kind, (1.0, 0.0, 1.0, 0.0), method)
    listed = ", ".join(_core.ACTIVATIONS)
    with pytest.raises(ValueError, match=f"activation: expected one of {listed}; got 'swish'"):
        _core.activation(np.zeros(2), "swish")
    with pytest.raises(ValueError, match="parametrization: expected 'lecun' or 'ntk'; got 'mup'"):
        _core.Network(U, b, v, 0.0, "relu", "mup")
    with pytest.raises(ValueError, match="kernel: expected one of linear, polynomial, rbf, laplace; got 'cosine'"):
        _core.kernel_gram(X, None, "cosine", 1.0, 2, 1.0)
    with pytest.raises(ValueError, match="kind: expected 'ntk' or 'nngp'; got 'x'"):
        _core.limit_kernel(X, None, "relu", "lecun", "x", (1.0, 0.0, 1.0, 0.0), "closed_form")
    with pytest.raises(ValueError,
                       match="method: expected 'closed_form', 'scale_mixture', 'quadrature' or 'expansion'; got 'x'"):
        _core.limit_kernel(X, None, "relu", "lecun", "ntk", (1.0, 0.0, 1.0, 0.0), "x")


def test_the_twins_lists_equal_the_cores():
    """The twin keeps its own lists (it may not import the core): they must not drift."""
    assert reference.ACTIVATIONS == reference_activations.ACTIVATIONS == _core.ACTIVATIONS
    assert reference_activations.LEAKY_RELU_SLOPE == _core.LEAKY_RELU_SLOPE
    assert reference_activations.ELU_ALPHA == _core.ELU_ALPHA
    assert reference_limit.PARAMETRIZATIONS == reference_shallow._PARAMETRIZATIONS == _core.PARAMETRIZATIONS
    assert reference_kernels.KERNELS == _core.KERNELS
    assert reference_limit.KINDS == _core.LIMIT_KINDS
    assert reference_limit.METHODS == ("auto", *_core.LIMIT_METHODS)
    assert reference_limit.CLOSED_FORMS == _core.CLOSED_FORMS
    assert reference_limit.SCALE_MIXTURES == _core.SCALE_MIXTURES
    assert reference_limit.EXPANSIONS == _core.EXPANSIONS
    assert {name: reference_limit.auto_method(name) for name in _core.ACTIVATIONS} == _core.LIMIT_AUTO_METHODS
    assert reference_limit.EXPANSION_TOLERANCE == _core.EXPANSION_TOLERANCE
    assert reference_limit.EXPANSION_DEGREE == _core.EXPANSION_DEGREE
    assert reference_limit.DISTRIBUTIONS == parameters.DISTRIBUTIONS  # drawn in Python: no C++ list
    assert reference_limit.TOLERANCE == _core.LIMIT_TOLERANCE
    assert reference_limit.ORDER == _core.LIMIT_ORDER
    assert reference_limit.MAX_ORDER == _core.LIMIT_MAX_ORDER
    assert reference_limit.LOGISTIC_NODES == _core.LOGISTIC_NODES
    assert reference_limit.QUADRATURE_MAX_VARIANCE == _core.QUADRATURE_MAX_VARIANCE


def test_the_twin_imports_numpy_only():
    """The reference package is independent: numpy, the standard library and itself."""
    folder = pathlib.Path(reference.__file__).parent
    allowed = {"numpy", "__future__", "math", "functools", "typing", "dataclasses", "itertools", "warnings"}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                inside = node.level == 1 or module == "widenet.reference" or module.startswith("widenet.reference.")
                roots = set() if inside else {module.split(".")[0]}
                assert node.level <= 1, f"{path.name} imports from outside the twin"
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_limit_kernels_production_path_does_not_use_the_twin():
    """The twin is called only where it is the implementation asked for or the only one: the
    built-ins' numpy backend (each call right after the core's ``if backend == "cpp"``
    return), and activations given as functions, which the core does not know."""
    tree = ast.parse(pathlib.Path(limit_kernels.__file__).read_text())
    uses: dict = {}
    for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        uses[function.name] = sorted(node.attr for node in ast.walk(function) if isinstance(node, ast.Attribute)
                               and isinstance(node.value, ast.Name) and node.value.id == "reference")
    assert {name: names for name, names in uses.items() if names} == {
        "limit_kernel": ["deep_limit_kernel", "limit_kernel"],
        "_function_kernel": ["ORDER", "deep_limit_kernel", "limit_kernel"]}
    body = [line.strip() for line in inspect.getsource(limit_kernels.limit_kernel).splitlines()]
    twin_calls = [i for i, line in enumerate(body) if line.startswith("return reference.")]
    assert len(twin_calls) == 2
    for i in twin_calls:
        assert body[i - 1].startswith("return _core.limit_kernel(") and body[i - 2] == 'if backend == "cpp":'


@pytest.mark.parametrize("order", range(1, 65))
def test_gauss_legendre_rule_of_the_core_against_numpys(order):
    """The core's rule (Newton on the Legendre recurrence) and numpy's (eigenvalues and one
    Newton step): nodes within an ulp of each other, weights within numpy's own error
    (measured against 40-digit weights: the core's are the closer)."""
    nodes, weights = _core.gauss_legendre(order)
    want_nodes, want_weights = np.polynomial.legendre.leggauss(order)
    assert np.max(np.abs(nodes - want_nodes)) <= EPS
    np.testing.assert_allclose(weights, want_weights, rtol=1e4 * EPS, atol=0)
    assert np.array_equal(nodes, -nodes[::-1]) and np.array_equal(weights, weights[::-1])
    assert abs(weights.sum() - 2.0) <= 4 * EPS
    # exact for polynomials of degree 2 order - 1
    for degree in range(0, 2 * order, max(1, order // 4)):
        exact = 2.0 / (degree + 1) if degree % 2 == 0 else 0.0
        assert abs(weights @ nodes**degree - exact) <= 1e-14


def test_gauss_legendre_refuses_other_orders():
    for order in (0, _core.LIMIT_MAX_ORDER + 1):
        with pytest.raises(ValueError, match="order"):
            _core.gauss_legendre(order)


def test_logistic_mixing_rule_of_the_core_against_the_twins():
    variances, weights = _core.logistic_mixing_rule()
    want_variances, want_weights = reference_limit.logistic_mixing_rule()
    assert variances.shape == weights.shape == (_core.LOGISTIC_NODES,)
    np.testing.assert_allclose(variances, want_variances, rtol=100 * EPS, atol=0)
    np.testing.assert_allclose(weights, want_weights, rtol=1000 * EPS, atol=0)
    assert abs(weights.sum() - 1.0) <= 4 * EPS


@pytest.mark.parametrize("variance", [1e-300, 1e-6, 0.5, 1.0, 1e4, 1e12, 1e100, 1e300])
def test_arctan_table_size_matches_the_twins_rule(variance):
    floats = _core.limit_point_floats("arctan", "scale_mixture", variance, _core.LIMIT_ORDER)
    assert floats == 3 * reference_limit.arctan_rule(variance)[0].size
    assert _core.limit_point_floats("arctan", "scale_mixture", 0.0, _core.LIMIT_ORDER) == 0
    assert _core.limit_point_floats("tanh", "scale_mixture", variance, 8) == 4 * _core.LOGISTIC_NODES
    assert _core.limit_point_floats("arctan", "quadrature", variance, 8) == 0


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sin"])
def test_monte_carlo_against_the_twins(activation, distribution):
    """Same seed, same draws: the production estimate (the core's activations) and the
    twin's (numpy's) agree to rounding."""
    rng = np.random.default_rng(5)
    X1, X2 = rng.standard_normal((4, 3)), rng.standard_normal((3, 3))
    options = dict(activation=activation, weight_var=1.5, bias_var=0.3, samples=3000, distribution=distribution)
    for parametrization in ("lecun", "ntk"):
        for kind in ("ntk", "nngp"):
            got, got_se = widenet.limit_kernel(X1, X2, parametrization=parametrization, kind=kind, output_var=1.2,
                                               output_bias_var=0.1, method="monte_carlo", seed=9, return_std=True,
                                               **options)
            E_ss, E_dd, se_ss, se_dd = reference_limit.monte_carlo_expectations(
                X1, X2, options["activation"], 1.5, 0.3, samples=3000, distribution=distribution, seed=9)
            want = reference_limit.combine(E_ss, E_dd, X1, X2, parametrization, kind, 1.2, 0.1)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
            want_se = 1.2 * se_ss if kind == "nngp" else se_ss if parametrization == "lecun" else None
            if want_se is not None:
                np.testing.assert_allclose(got_se, want_se, rtol=1e-9, atol=1e-14)
