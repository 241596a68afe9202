"""The hand-written stubs of the compiled module list exactly its functions."""

import ast
import pathlib

import widenet
from widenet import _core


def test_every_core_function_has_a_stub_and_every_stub_a_function():
    stub_path = pathlib.Path(widenet.__file__).with_name("_core.pyi")
    tree = ast.parse(stub_path.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    compiled = {name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name))}
    assert stubbed == compiled


def test_the_literal_aliases_name_exactly_the_options_the_checks_accept():
    from typing import get_args

    from widenet import _types, _validation
    from widenet.errors import ON_DIVERGENCE
    from widenet.kernels import limit
    from widenet.kernels.classic import _BY_NAME
    from widenet.reference.activations import ACTIVATIONS
    from widenet.reference.limit_kernels import KINDS as REFERENCE_KINDS
    from widenet.reference.limit_kernels import METHODS as REFERENCE_METHODS

    assert get_args(_types.Activation) == ACTIVATIONS == widenet.ACTIVATIONS
    assert _validation.ACTIVATIONS == ACTIVATIONS
    assert get_args(_types.Backend) == _validation.BACKENDS == ("cpp", "numpy")
    assert get_args(_types.Loss) == _validation.LOSS_NAMES == ("sum", "mean", "half_sum")
    assert get_args(_types.Parametrization) == _validation.PARAMETRIZATIONS == ("lecun", "ntk")
    assert get_args(_types.Distribution) == _validation.DISTRIBUTIONS == ("normal", "uniform", "rademacher")
    assert get_args(_types.Kind) == limit.KINDS == REFERENCE_KINDS
    # the deterministic methods, and Monte Carlo on top
    assert get_args(_types.Method) == limit.METHODS == (*REFERENCE_METHODS, "monte_carlo")
    assert get_args(_types.OnDivergence) == ON_DIVERGENCE == ("raise", "return")
    assert set(get_args(_types.KernelName)) == set(_BY_NAME)
