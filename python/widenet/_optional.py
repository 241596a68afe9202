"""Optional dependencies: one way to import them, naming the extra that installs them.

widenet itself needs numpy only. scikit-learn, tqdm, matplotlib and Dask are optional,
installed with the extras of the package (``pip install "widenet[plot]"`` and so on).
Every import of one of them is written inside :func:`optional_module_for`, which turns a
failed import into an ImportError that says what needs the package and how to install it;
:func:`progress_bar` is the one optional tqdm bar.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Optional

# by importable name, each optional dependency: its extra of widenet, its name, what pip installs
PACKAGES = {
    "sklearn": ("sklearn", "scikit-learn", "scikit-learn"),
    "tqdm": ("progress", "tqdm", "tqdm"),
    "matplotlib": ("plot", "matplotlib", "matplotlib"),
    "dask": ("distributed", "Dask", '"dask[distributed]"'),
    "distributed": ("distributed", "Dask", '"dask[distributed]"'),
}


def install_hint(purpose: str, module: str) -> str:
    """Return ``'<purpose> needs <package>: pip install "widenet[<extra>]" (or ...)'``.

    Parameters
    ----------
    purpose : str
        What needs the package, such as ``"widenet.distributed"``.
    module : str
        The module imported (``"dask.array"``); its top-level package is one of
        :data:`PACKAGES`.
    """
    extra, name, requirement = PACKAGES[module.partition(".")[0]]
    return f'{purpose} needs {name}: pip install "widenet[{extra}]" (or pip install {requirement})'


@contextlib.contextmanager
def optional_module_for(purpose: str, module: str) -> Iterator[None]:
    """Import optional modules inside the block; a failed import raises the install hint.

    The ImportError raised says what needs the package and which extra installs it
    (:func:`install_hint`); when the package is there but one of its own imports fails,
    that error's message follows in parentheses. The original error is the cause.

    Parameters
    ----------
    purpose : str
        What needs the package, for the message.
    module : str
        The optional package the block imports (a key of :data:`PACKAGES`).

    Examples
    --------
    >>> with optional_module_for("widenet.distributed", "dask"):  # doctest: +SKIP
    ...     import dask.array
    """
    try:
        yield
    except ImportError as error:
        missing = (error.name or "").partition(".")[0]
        detail = "" if missing in PACKAGES else f" ({error})"
        raise ImportError(install_hint(purpose, module) + detail) from error


def progress_bar(iterable: Optional[Iterable] = None, enabled: bool = True, **options: Any) -> Any:
    """Return a tqdm progress bar when tqdm is installed and ``enabled``.

    ``tqdm.auto.tqdm(iterable, **options)`` (a widget in a notebook); without tqdm, or
    when not ``enabled``, ``iterable`` itself (None when none is given, for a bar that is
    advanced by hand): nothing is shown and nothing fails.
    """
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, **options)
