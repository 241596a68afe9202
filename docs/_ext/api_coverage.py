"""Sphinx extension: the build fails unless the API reference lists and documents every public name.

The public names are those in ``__all__`` of :mod:`widenet`, :mod:`widenet.predict` and
:mod:`widenet.distributed`; the reference lists them in the ``autosummary`` tables of
``docs/api/*.rst`` (fully qualified, or relative to the page's module), each on its own page.
Each one's docstring needs a description, an Examples section with code and, unless the
name takes no parameters, a Parameters section naming every parameter (a class: its
constructor's; an exception or class with Python's own constructor and a constant take
none). ``public_docstrings`` says what each lacks; the test suite runs the examples.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from public_docstrings import MODULES, report
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

_MODULE = re.compile(r"^\.\. (?:current)?module:: ([\w.]+)\s*$", re.MULTILINE)
_TABLE = re.compile(r"^\.\. autosummary::\n((?:(?: {3}.*)?\n)*)", re.MULTILINE)


def public_names() -> set[str]:
    """Return the fully qualified public names of widenet's modules."""
    return {f"{module}.{name}" for module in MODULES for name in importlib.import_module(module).__all__}


def listed_names(api_directory: Path) -> set[str]:
    """Return the fully qualified names in the autosummary tables of ``api_directory``'s pages.

    An entry is fully qualified, or relative to the page's ``module`` directive.
    """
    names = set()
    for page in api_directory.glob("*.rst"):
        text = page.read_text("utf-8")
        module = _MODULE.search(text)
        entries = (line.strip() for table in _TABLE.findall(text) for line in table.splitlines())
        for name in (entry for entry in entries if entry and not entry.startswith(":")):
            names.add(name if name.startswith("widenet.") or module is None else f"{module.group(1)}.{name}")
    return names


def check(app: Sphinx) -> None:
    """Raise when a public name is missing from the API reference (it may list more) or its docstring lacks a part."""
    public, listed = public_names(), listed_names(Path(app.srcdir) / "api")
    problems = []
    if public - listed:
        problems.append("public names missing from docs/api: " + ", ".join(sorted(public - listed)))
    problems += [f"docstring of {line}" for line in report()]
    if problems:
        raise ExtensionError("; ".join(problems))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the check."""
    app.connect("builder-inited", check)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
