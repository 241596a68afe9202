"""Every public docstring's examples run and print what they show.

The public names are those of ``__all__`` in ``widenet``, ``widenet.predict`` and
``widenet.distributed`` (the API reference's pages); the examples of their methods run too.
Each example runs in a namespace of its own, with ``np`` (numpydoc's convention) and
numpy's print options fixed, so the printed arrays do not depend on the numpy version.
"""

from __future__ import annotations

import doctest
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
import public_docstrings  # noqa: E402  (the docs' list of public names, shared with the site's check)

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests(public: public_docstrings.PublicName) -> list[doctest.DocTest]:
    """The doctests of a public name's docstring, of its methods' and of its widenet base classes'."""
    if not callable(public.value):
        return [doctest.DocTestParser().get_doctest(public.docstring, {}, public.qualified, None, 0)]
    owners = [public.value]
    if inspect.isclass(public.value):
        owners += [base for base in public.value.__mro__[1:] if base.__module__.startswith("widenet")]
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for owner in owners for test in finder.find(owner, public.qualified, module=False, globs={})
            if test.examples]


BY_NAME = {public.qualified: _doctests(public) for public in public_docstrings.public_names()}
# a name re-exported by two modules has one docstring: run it once
EXAMPLES = list({(test.docstring, test.lineno): test for tests in BY_NAME.values() for test in tests}.values())


def test_every_public_name_has_examples():
    own = {name: [test for test in tests if test.name == name] for name, tests in BY_NAME.items()}
    assert [name for name, tests in own.items() if not tests] == []


@pytest.mark.parametrize("test", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_example_runs(test: doctest.DocTest):
    test.globs = {"np": np}
    runner, failures = doctest.DocTestRunner(optionflags=OPTIONS), []
    with np.printoptions(precision=6, suppress=True, legacy="1.25"):
        runner.run(test, out=lambda text: failures.append(text))
    assert not failures, "".join(failures)
