"""The hand-written stubs of the compiled module list exactly its functions and classes."""

import ast
import pathlib

import widenet
from widenet import _core


def test_every_core_function_has_a_stub_and_every_stub_a_function():
    stub_path = pathlib.Path(widenet.__file__).with_name("_core.pyi")
    tree = ast.parse(stub_path.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    # classes, but not the TypedDicts that describe the returned dicts
    stubbed |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)
                and not any(getattr(base, "id", None) == "TypedDict" for base in node.bases)}
    compiled = {name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name))}
    assert stubbed == compiled


def test_the_literal_aliases_name_exactly_the_options_the_checks_accept():
    """The stubs type the core's name lists by the Literal aliases: they must name the same options."""
    from typing import get_args

    from widenet import _laws, _types, _validation
    from widenet.errors import ON_DIVERGENCE
    from widenet.kernels import limit

    assert get_args(_types.Activation) == _core.ACTIVATIONS == widenet.ACTIVATIONS
    assert get_args(_types.Parametrization) == _core.PARAMETRIZATIONS
    assert set(get_args(_types.KernelName)) == set(_core.KERNELS) | {"poly"}
    assert get_args(_types.Kind) == _core.LIMIT_KINDS
    assert set(_core.LIMIT_METHODS) < set(get_args(_types.Method))
    assert get_args(_types.Method) == limit.METHODS
    assert get_args(_types.Backend) == _validation.BACKENDS == ("cpp", "numpy")
    assert get_args(_types.Loss) == _validation.LOSS_NAMES == ("sum", "mean", "half_sum")
    assert get_args(_types.Distribution) == _laws.DISTRIBUTIONS == ("normal", "uniform", "rademacher")
    assert get_args(_types.OnDivergence) == ON_DIVERGENCE == ("raise", "return")
