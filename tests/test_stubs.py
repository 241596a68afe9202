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
