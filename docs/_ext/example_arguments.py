"""The command-line arguments sphinx-gallery gives the scripts of ``examples/``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def output_outside_sources(gallery_conf: dict[str, Any], script_vars: dict[str, Any]) -> list[str]:
    """Give a script that writes its figure to the path in its first argument a path outside the sources.

    The gallery shows the figures the script leaves open; the file it writes is not needed.
    """
    directory = os.path.join(tempfile.gettempdir(), "widenet-docs-examples")
    os.makedirs(directory, exist_ok=True)
    return [os.path.join(directory, Path(script_vars["src_file"]).stem + ".png")]
