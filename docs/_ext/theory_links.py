"""Sphinx extension: "docs/theory.md, section N" in a docstring becomes a link to that section.

The docstrings cite the theory page as plain text (it reads the same in ``help()``); on the
site, the page's name links to the theory page and each section number to its section.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

THEORY = "theory"
_CITATION = re.compile(r"docs/theory\.md(,\s+sections?\s+(\d+)(?:\s+and\s+(\d+))?)?")
_SECTION_TITLE = re.compile(r"^(\d+)\.\s")


def _section_ids(app: Sphinx) -> dict[str, str]:
    """Return the HTML id of each numbered section of the theory page, by its number."""
    ids = {}
    for section in app.env.get_doctree(THEORY).findall(nodes.section):
        match = _SECTION_TITLE.match(section[0].astext())
        if match and section["ids"]:
            ids[match.group(1)] = section["ids"][0]
    return ids


def _link(text: str, uri: str) -> nodes.reference:
    """Return a link to ``uri`` reading ``text``."""
    return nodes.reference(text, text, internal=True, refuri=uri)


def _linked(text: str, page: str, ids: dict[str, str]) -> list[nodes.Node]:
    """Return ``text`` as nodes, its citations of the theory page as links."""
    pieces: list[nodes.Node] = []
    start = 0
    for match in _CITATION.finditer(text):
        pieces.append(nodes.Text(text[start:match.start()]))
        pieces.append(_link("docs/theory.md", page))
        if match.group(1):
            tail = match.group(1)
            for number in (match.group(2), match.group(3)):
                if number is None:
                    continue
                before, _, tail = tail.partition(number)
                pieces.append(nodes.Text(before))
                pieces.append(_link(number, f"{page}#{ids[number]}") if number in ids else nodes.Text(number))
            pieces.append(nodes.Text(tail))
        start = match.end()
    pieces.append(nodes.Text(text[start:]))
    return pieces


def link_citations(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Replace the theory page's citations in the text of ``docname`` by links."""
    if docname == THEORY or app.builder.format != "html":
        return
    ids, page = None, None
    for text in list(doctree.findall(nodes.Text)):
        if "docs/theory.md" not in text or isinstance(text.parent, (nodes.literal, nodes.literal_block,
                                                                    nodes.reference)):
            continue
        if ids is None:
            ids, page = _section_ids(app), app.builder.get_relative_uri(docname, THEORY)
        text.parent.replace(text, _linked(str(text), page, ids))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the links."""
    app.connect("doctree-resolved", link_citations)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
