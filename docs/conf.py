"""Sphinx configuration of widenet's documentation site.

Build (from the repository's root, after ``pip install ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The toolchain, and why:

- Sphinx with autodoc, autosummary and napoleon: the docstrings are in numpy's format
  (checked by ruff's numpy convention); napoleon ships with Sphinx and renders them, and
  autosummary writes one page per public name (``docs/api``).
- MyST through myst-nb: the theory, the benchmarks and the changelog stay Markdown where
  they are, and the user guide's pages are Markdown text notebooks that myst-nb executes at
  every build (a failing cell fails the build).
- sphinx-gallery for ``examples/``; the gallery of ``widenet reproduce``'s experiments is
  written at every build by ``_ext/experiment_gallery.py``, from a quick run.
- sphinx-argparse documents the command line from its own parser.
- furo as the theme: its fonts are the system's and all its assets are in the package, so
  the built site loads nothing from the web.
- Local extensions in ``_ext/``: the experiments' gallery; the check that the API reference
  lists every public name; links from "docs/theory.md, section N" in docstrings to the
  section, from public names written as code in the Markdown pages to their API pages, and
  from references to attributes listed in a class's "Attributes" section to the class.

Nothing is fetched at build time (no intersphinx): references to numpy, scikit-learn, Dask
and Python's standard library are left as plain text (``nitpick_ignore_regex`` below).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import widenet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "widenet"
author = "the widenet developers"
copyright = "the widenet developers"  # noqa: A001  (Sphinx's name)
release = version = widenet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "experiment_gallery",
    "api_coverage",
    "theory_links",
    "attribute_links",
    "name_links",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "tests", "_templates", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.json", "auto_examples/*.md5"]
templates_path = ["_templates"]

# Every reference must resolve, with the exceptions below:
nitpicky = True
nitpick_ignore_regex = [
    # numpy, scikit-learn, Dask, matplotlib and the standard library: no inventories offline
    (r"py:.*", r"(numpy|np|sklearn|dask|distributed|matplotlib|scipy|concurrent|collections|contextvars|os|pathlib"
               r"|typing|numbers|contextlib|argparse|threading|types|abc)(\..*)?"),
    # the types of the docstrings' parameters are prose ("ndarray of float64, shape (m, d)"), whose
    # words Sphinx would link one by one: only dotted names among them are checked
    (r"py:class", r"[^.]*"),
    # widenet's private modules and classes (the file format, the memory guard, a compiled state, a lock)
    # appear in a few docstrings and annotations, for maintainers; they have no pages
    (r"py:.*", r"widenet\.(.*\.)?_.*"),
    # the numpy reference implementation (widenet.reference) mirrors the compiled kernels name for name;
    # docstrings cite it for the detail of a method, and it has no pages of its own
    (r"py:.*", r"widenet\.reference(\..*)?"),
]

# autodoc / autosummary / napoleon
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" as fields: the properties are documented once, as members
# The names a module re-exports from another (widenet.distributed.LimitKernel is widenet.LimitKernel):
# their pages say so and show the same documentation without indexing it twice.
autosummary_context = {"reexports": sorted(
    f"{module}.{name}" for module in ("widenet.predict", "widenet.distributed")
    for name in __import__(module, fromlist=["__all__"]).__all__ if name in widenet.__all__)}

# MyST and myst-nb: every notebook page is executed at every build, and an error fails it
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_merge_streams = True
nb_output_stderr = "warn"  # a warning printed by an example (e.g. a ConditioningWarning) fails the build too

# sphinx-gallery: examples/ (each script run once, its figures captured; callables by name, so that
# Sphinx can cache the configuration). The backreferences list, for every widenet name an example
# calls, the examples that call it: the API pages show them as a gallery of thumbnails
# ("Examples using ...", the templates' minigallery), all made at build time.
sphinx_gallery_conf = {
    "examples_dirs": [str(HERE.parent / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r".*\.py",
    "reset_argv": "example_arguments.output_outside_sources",
    "download_all_examples": False,
    "write_computation_times": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_signature": False,
    "doc_module": ("widenet",),
    "backreferences_dir": "api/generated/backreferences",
}

# theme: furo, whose assets ship in the package
html_theme = "furo"
html_title = f"widenet {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}


def _public_bases(app: object, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Show only the bases a reader can look up: widenet's public classes and other packages' classes."""
    bases[:] = [base for base in bases if not base.__module__.startswith("widenet.")
                or base.__name__ in widenet.__all__]


def _skip_foreign_members(app: object, what: str, name: str, obj: object, skip: bool, options: object) -> bool | None:
    """Leave out members that another package defines on widenet's classes (scikit-learn's metadata requests)."""
    module = getattr(obj, "__module__", None) or ""
    return True if module.startswith("sklearn") else None


_GROUPED_FIELD = re.compile(r"^(\s*:(?:ivar|vartype) )([\w, ]+?):")


def _grouped_attributes(app: object, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    """Keep attributes documented together ("lambda_min, lambda_max : float") as one field.

    Sphinx reads the first word of a field's argument as a type; the names are joined by a
    zero-width space, which does not separate words, after napoleon has written the fields.
    """
    for index, line in enumerate(lines):
        lines[index] = _GROUPED_FIELD.sub(lambda match: match.group(1) + match.group(2).replace(", ", ",\u200b") + ":",
                                          line)


def setup(app: object) -> None:
    """Connect the hooks above."""
    app.connect("autodoc-process-docstring", _grouped_attributes, priority=600)  # type: ignore[attr-defined]
    app.connect("autodoc-process-bases", _public_bases)  # type: ignore[attr-defined]
    app.connect("autodoc-skip-member", _skip_foreign_members)  # type: ignore[attr-defined]
