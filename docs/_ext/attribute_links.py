"""Sphinx extension: a reference to an attribute listed in its class's "Attributes" section links to the class.

napoleon writes a class's "Attributes" section as fields of the class's description, which
have no anchors of their own; ``:attr:`SweepResult.failures``` then finds no target. Such a
reference links to the class instead, when the class is documented and its docstring names
the attribute.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.nodes import make_refnode


def _class_named(name: str) -> Optional[type]:
    """Return the class with the dotted ``name``, or None."""
    module, _, attribute = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if isinstance(found, type) else None


def _owners(node: pending_xref) -> list[str]:
    """Return the dotted names the class of the attribute ``node`` refers to may have."""
    owner = node["reftarget"].rpartition(".")[0]
    module, current = node.get("py:module"), node.get("py:class")
    if not owner:
        return [f"{module}.{current}"] if module and current else []
    return [owner, f"{module}.{owner}", f"widenet.{owner}"] if module else [owner, f"widenet.{owner}"]


def link_to_class(app: Sphinx, env: BuildEnvironment, node: pending_xref,
                  contnode: nodes.Element) -> Optional[nodes.Element]:
    """Resolve a missing ``py:attr`` reference to its class, when the class documents the attribute."""
    if node.get("refdomain") != "py" or node.get("reftype") != "attr":
        return None
    attribute = node["reftarget"].rpartition(".")[2]
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    for owner in _owners(node):
        entry = objects.get(owner)
        cls = _class_named(owner)
        if entry is not None and entry.objtype == "class" and cls is not None and attribute in (cls.__doc__ or ""):
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, owner)
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the resolver."""
    app.connect("missing-reference", link_to_class)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
