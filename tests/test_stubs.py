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
