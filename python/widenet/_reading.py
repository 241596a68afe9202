"""Every file widenet reads is opened here.

:func:`open_regular` opens without blocking and refuses anything but a regular file (a FIFO
or a device would block or never end); :func:`parse_json` refuses nesting deeper than
:data:`MAX_JSON_DEPTH` before Python's parser recurses into it.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
from typing import Any, NoReturn, Union

import numpy as np

PathLike = Union[str, os.PathLike]

MAX_JSON_DEPTH = 64


def file_kind(mode: int) -> str:
    """Return what a file of ``mode`` is, in words (``"a FIFO"``)."""
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


class NotARegularFile(ValueError):
    """A FIFO, a device or a socket where a regular file was expected."""


def open_regular(path: PathLike) -> io.BufferedReader:
    """Open ``path`` for reading in binary mode, after checking that it is a regular file.

    Opens without blocking (a FIFO without a writer would block) and checks the open file
    itself, so the check holds for what is read. A directory raises IsADirectoryError,
    anything else but a regular file :class:`NotARegularFile` (a ValueError) naming the
    path; a missing file FileNotFoundError.
    """
    name = os.fspath(path)
    descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{os.fsdecode(name)}: {file_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_text(path: PathLike, limit: int) -> str:
    """Return the UTF-8 text of the regular file ``path``.

    Raises ValueError when it holds more than ``limit`` bytes or is not UTF-8 (see
    :func:`open_regular` for the rest).
    """
    with open_regular(path) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{os.fsdecode(os.fspath(path))}: larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{os.fsdecode(os.fspath(path))}: not UTF-8 text ({error})") from None


_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_STRING = re.compile(r'"[^"]*"')


def json_depth(text: str) -> int:
    """Return the deepest nesting of arrays and objects in the JSON ``text``.

    Brackets inside strings do not count. Takes time linear in the length of ``text``,
    without recursion.
    """
    # Escapes first (``\"`` is no quote), then strings: two passes without backtracking.
    outside = _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(outside, dtype=np.uint8)
    steps = (codes == ord("[")).astype(np.int64) + (codes == ord("{")) - (codes == ord("]")) - (codes == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def _reject_constant(name: str) -> NoReturn:
    """Refuse the JSON constant ``name`` (NaN, Infinity, -Infinity)."""
    raise ValueError(f"{name} is not a finite number")


def parse_json(text: str, allow_nan: bool = False, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Return ``json.loads(text)``, refusing deep nesting and non-finite constants.

    Nesting deeper than ``max_depth`` raises ValueError, and so do the constants NaN,
    Infinity and -Infinity unless ``allow_nan``.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"nested {depth} levels deep, more than the {max_depth} allowed")
    if allow_nan:
        return json.loads(text)
    return json.loads(text, parse_constant=_reject_constant)
