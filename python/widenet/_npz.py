"""Reading a ``.npz`` archive defensively: every entry a plain ``.npy`` array, sizes checked first.

The archive is read completely (so a truncated or corrupt file fails here, before anything
is built from it); each array's declared size is checked against the file and widenet's
memory limit before it is allocated, and nothing is unpickled. :mod:`widenet._archive`
checks what the entries mean.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from widenet import _files, _memory


def read_npz(file_name: str) -> dict[str, NDArray[Any]]:
    """Return every entry of the ``.npz`` file, read completely.

    A truncated or corrupt file fails here, before anything is checked or built; each
    array's size is checked against the file before it is allocated.
    """
    with _files.open_regular(file_name) as file:  # FileNotFoundError, IsADirectoryError, PermissionError as they are
        start = file.read(6)
        file.seek(0)
        if not zipfile.is_zipfile(file):
            if start and b"PK\x03\x04".startswith(start[:4]):
                what = "a truncated or corrupt .npz (zip) archive"
            elif start == b"\x93NUMPY":
                what = "a .npy file of one array, not an .npz archive"
            else:
                what = "not an .npz archive" + (" (the file is empty)" if not start else "")
            raise ValueError(f"{file_name}: not a widenet file: {what}")
        try:
            with zipfile.ZipFile(file) as archive:
                infos = _entry_infos(file_name, archive, os.fstat(file.fileno()).st_size)
                return {name: _read_array(file_name, archive, info, name) for name, info in infos.items()}
        except (_memory.MemoryLimitError, _NotAWidenetFile):
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, NotImplementedError) as error:
            raise ValueError(f"{file_name}: not a readable widenet file (truncated or corrupt .npz archive: "
                             f"{error})") from None


class _NotAWidenetFile(ValueError):
    """A readable archive that is not one :func:`save` writes (its message names the file)."""


def _entry_infos(file_name: str, archive: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """Return entry name (without ``.npy``) -> zip entry, after checking the entries.

    Every entry must be a ``.npy`` array named once whose sizes fit the file and widenet's
    memory limit.
    """
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name == info.filename:
            raise _NotAWidenetFile(f"{file_name}: not a widenet file (entry {name!r} is not a .npy array)")
        if name in infos:
            raise _NotAWidenetFile(f"{file_name}: not a widenet file (entry {name!r} appears more than once)")
        if info.compress_size > file_size or (info.compress_type == zipfile.ZIP_STORED
                                              and info.file_size != info.compress_size):
            raise ValueError(f"entry {name!r}: the archive's directory gives it {info.compress_size} bytes stored "
                             f"and {info.file_size} in all, which a file of {file_size} bytes does not hold")
        infos[name] = info
    total = sum(info.file_size for info in infos.values())
    _memory.require(f"loading {file_name}", [("file contents", (total,), np.uint8, 1)],
                    "Raise the limit if a file this large is expected.")
    return infos


def _read_array(file_name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> NDArray[Any]:
    """Return the array of one ``.npy`` entry.

    Its header's shape and dtype must account for the entry's size exactly before anything
    is allocated.
    """
    with archive.open(info) as entry:
        try:
            version = np.lib.format.read_magic(entry)
        except ValueError:
            raise _NotAWidenetFile(f"{file_name}: not a widenet file (entry {name!r} is not a .npy array)") from None
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"entry {name!r}: .npy format version {version} is not one widenet writes")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(entry)
        if dtype.hasobject:
            raise _NotAWidenetFile(f"{file_name}: not a widenet file (entry {name!r} holds Python objects)")
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - entry.tell()
        if declared != held:
            raise _NotAWidenetFile(f"{file_name}: entry {name!r}: its header declares shape {shape} of {dtype} "
                                   f"({_memory.format_bytes(declared)}) but the entry holds {held} bytes")
        entry.seek(0)
        array = np.lib.format.read_array(entry, allow_pickle=False)  # allocates the size just checked
        entry.read()  # nothing is left, but reaching the end is where the archive checks the CRC-32
    return array
