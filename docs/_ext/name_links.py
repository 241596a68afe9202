"""Sphinx extension: a public name written as code in a Markdown page links to its API page.

The theory, the benchmarks, the guarantees and the other Markdown pages name the functions
and classes that compute each formula as code (``min_norm_solution``,
``widenet.predict.max_learning_rate``, ``LimitKernel()``); on the site each becomes a link to
the name's page. Names of modules other than widenet's public ones, and code that is not
exactly a name, stay as they are.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.nodes import make_refnode

MODULES = ("widenet", "widenet.predict", "widenet.distributed")
_NAME = re.compile(r"^(?:widenet\.)?((?:predict\.|distributed\.)?[A-Za-z_][A-Za-z0-9_]*)(?:\(\))?$")


def _target(objects: dict[str, Any], text: str) -> Optional[Any]:
    """Return the domain entry of the public name ``text`` is, or None."""
    match = _NAME.match(text)
    if match is None:
        return None
    name = match.group(1)
    for candidate in (f"widenet.{name}", *(f"{module}.{name}" for module in MODULES[1:])):
        entry = objects.get(candidate)
        if entry is not None and entry.objtype in ("class", "function", "exception", "data"):
            return entry
    return None


def link_names(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Turn the code spans of ``docname`` that are public names into links, outside the API pages."""
    if docname.startswith("api/") or app.builder.format != "html":
        return
    if not app.env.doc2path(docname).suffix == ".md":
        return
    objects = app.env.get_domain("py").objects  # type: ignore[attr-defined]
    for literal in list(doctree.findall(nodes.literal)):
        if isinstance(literal.parent, nodes.reference):
            continue
        entry = _target(objects, literal.astext())
        if entry is not None:
            reference = make_refnode(app.builder, docname, entry.docname, entry.node_id, literal.deepcopy(),
                                     literal.astext())
            literal.parent.replace(literal, reference)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the links."""
    app.connect("doctree-resolved", link_names)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
