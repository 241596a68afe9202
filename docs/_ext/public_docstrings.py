"""The public names of widenet, their docstrings, and what each docstring lacks.

Shared by the site's build (``api_coverage``: the build fails when a public name lacks a
description, a Parameters section or an Examples section) and by the test suite, which
runs every public docstring's examples (``tests/test_docstring_examples.py``). Needs the
standard library only.

A constant's docstring is the string literal under its assignment, in the module that
assigns it (found through the ``from ... import`` statements of the module that exports it).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from typing import Any, Callable, Iterator, NamedTuple, Optional

MODULES = ("widenet", "widenet.predict", "widenet.distributed")
_SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}\s*$", re.MULTILINE)
_NAMES = re.compile(r"^(\*{0,2}\w[\w, *]*?)(?:\s*:.*)?$")


class PublicName(NamedTuple):
    """A public name, its object and its docstring ("" when it has none)."""

    qualified: str
    value: Any
    docstring: str


def public_names() -> Iterator[PublicName]:
    """Yield every name in ``__all__`` of :data:`MODULES`, in order, with its docstring."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value):
                docstring = inspect.getdoc(value) or ""
            else:
                docstring = constant_docstring(module_name, name) or ""
            yield PublicName(f"{module_name}.{name}", value, docstring)


def constant_docstring(module_name: str, name: str) -> Optional[str]:
    """Return the docstring under the assignment of ``name``, following the module's imports."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and any(
                alias.name == name and alias.asname in (None, name) for alias in node.names):
            return constant_docstring(node.module, name)
    statements = ast.parse(source).body
    for statement, following in zip(statements, statements[1:]):
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        if any(isinstance(target, ast.Name) and target.id == name for target in targets) \
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str):
            return inspect.cleandoc(following.value.value)
    return None


def sections(docstring: str) -> dict[str, str]:
    """Return a numpydoc docstring's sections by title ("" for the description before them)."""
    parts = _SECTION.split(docstring)
    found = {"": parts[0].strip()}
    for title, body in zip(parts[1::2], parts[2::2]):
        found[title.strip()] = body
    return found


def documented_parameters(section: str) -> set[str]:
    """Return the names a Parameters section documents ("a, b : float" documents a and b)."""
    names = set()
    for line in section.splitlines():
        match = _NAMES.match(line) if line and not line[0].isspace() else None
        if match:
            names.update(part.strip().lstrip("*") for part in match.group(1).split(","))
    return names


def parameters(value: Any) -> list[str]:
    """Return the names of the parameters a call of ``value`` takes (a class: its constructor's).

    An exception or class whose ``__init__`` and ``__new__`` are Python's own
    (``Exception.__init__``, ``object.__init__``) and a constant take none.
    """
    if not callable(value):
        return []
    if inspect.isclass(value):
        owners = [next((base for base in value.__mro__ if method in vars(base)), object)
                  for method in ("__init__", "__new__")]
        if all(owner.__module__ == "builtins" for owner in owners):
            return []
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return []
    return [name for name in signature.parameters if name != "self"]


def problems(public: PublicName) -> list[str]:
    """Return what the docstring of ``public`` lacks, as phrases ("no Examples section")."""
    found = sections(public.docstring)
    lacks = []
    if not found[""]:
        lacks.append("no description")
    wanted = parameters(public.value)
    if wanted and "Parameters" not in found:
        lacks.append("no Parameters section")
    elif wanted:
        missing = [name for name in wanted if name not in documented_parameters(found["Parameters"])]
        if missing:
            lacks.append("parameters not in its Parameters section: " + ", ".join(missing))
    if "Examples" not in found or ">>>" not in found["Examples"]:
        lacks.append("no Examples section with code")
    return lacks


def report(check: Callable[[PublicName], list[str]] = problems) -> list[str]:
    """Return one line per public name whose docstring lacks something."""
    return [f"{public.qualified}: {'; '.join(lacking)}" for public in public_names() if (lacking := check(public))]
