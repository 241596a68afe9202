"""The resumable cache of :func:`widenet.sweep`: one small JSON file per finished cell.

A cell's file is named after the function and the cell and carries a hash of everything
that determines its value as far as the sweep can see: the function's identity (module and
qualified name), the user's ``cache_version``, widenet's version (an upgrade computes the
cells again), the width, the seed and every fixed keyword argument (arrays by dtype, shape
and bytes). The function's *code* is not part of the key: after changing it, use a new
directory or a new ``cache_version``.

Files are written whole or not at all (a temporary file in the same directory, then an
atomic rename), so an interrupted sweep leaves only complete cells behind. Values are
stored with ``repr`` precision and a checksum, so a loaded cell equals the computed one bit
for bit; a file that is not exactly what the cache writes for its values (damaged, edited,
a value of the wrong type) is not a cell, and the cell is computed again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union, cast

import numpy as np

from widenet import _files, _runtime
from widenet.sweeps.cells import Record, checked_record

FORMAT = "widenet-sweep-cell-2"
MAX_CELL_BYTES = 16 * 2**20  # far more than a cell of any sweep; a larger file is not one


def function_identity(function: Callable[..., Any]) -> str:
    """Return ``module:qualified.name`` of ``function``.

    That of ``partial.func`` for a partial, of the type for a callable object. Refuses
    lambdas: they share one name and would collide.
    """
    target = function.func if isinstance(function, functools.partial) else function
    if not hasattr(target, "__qualname__"):
        target = type(target)
    qualname = getattr(target, "__qualname__", type(target).__name__)
    if "<lambda>" in qualname:
        raise ValueError("function: a lambda has no name of its own to key the sweep cache (cache_dir); "
                         "define it with def")
    return f"{getattr(target, '__module__', '?')}:{qualname}"


def _feed(digest: Any, value: object, where: str) -> None:
    """Feed a canonical encoding of ``value`` into ``digest``: equal arguments, equal bytes."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, np.generic):
        _feed(digest, np.asarray(value), where)
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"ndarray:{array.dtype.str}:{array.shape};".encode())
        if array.dtype.kind == "O":
            for index, item in enumerate(array.ravel()):
                _feed(digest, item, f"{where}[{index}]")
        else:
            digest.update(array.tobytes())
    elif isinstance(value, dict):
        digest.update(f"dict:{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key, where)
            _feed(digest, value[key], f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        # a NamedTuple's type is part of what it means
        digest.update(f"{type(value).__module__}.{type(value).__qualname__}:{len(value)};".encode())
        for index, item in enumerate(value):
            _feed(digest, item, f"{where}[{index}]")
    elif isinstance(value, np.random.SeedSequence):
        _feed(digest, ("SeedSequence", value.entropy, value.spawn_key, value.pool_size), where)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed(digest, (type(value).__qualname__, dataclasses.asdict(value)), where)
    else:
        # Anything else by its pickle: a different pickle of an equal object only costs a
        # recomputation, never a wrong value.
        try:
            payload = pickle.dumps(value, protocol=4)
        except Exception as error:
            raise TypeError(f"{where}: cannot key the sweep cache on a {type(value).__name__} (not picklable: "
                            f"{error}); pass arrays, numbers and strings, or run without cache_dir") from None
        digest.update(f"pickle:{len(payload)};".encode())
        digest.update(payload)


class SweepCache:
    """The cell files of one sweep (one function, one set of fixed arguments) in ``directory``."""

    def __init__(self, directory: Union[str, os.PathLike[str]], function: Callable[..., Any], fixed: Dict[str, Any],
                 version: Optional[str] = None) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"cache_dir: expected a directory path (str or os.PathLike), got {directory!r}")
        if version is not None and not isinstance(version, str):
            raise TypeError(f"cache_version: expected a string or None, got {version!r}")
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache_dir: expected a directory, got the file {str(self.directory)!r}")
        self.identity = function_identity(function)
        self.version = version
        self.widenet_version = _runtime.__version__  # an upgrade may change what a function computes
        digest = hashlib.sha256(FORMAT.encode())
        _feed(digest, (self.identity, version, _runtime.__version__), "function")
        if isinstance(function, functools.partial):
            _feed(digest, (function.args, function.keywords), "function")
        for name in sorted(fixed):
            _feed(digest, name, name)
            _feed(digest, fixed[name], name)
        self._base = digest.copy()
        stem = self.identity.rsplit(":", 1)[-1].replace("<locals>.", "").replace(".", "-")
        self._stem = "".join(char if char.isalnum() or char in "-_" else "_" for char in stem)[:60]
        if self.directory.is_dir():
            _files.remove_stale_temporaries(self.directory)

    def _key(self, width: int, seed: int) -> str:
        digest = self._base.copy()
        _feed(digest, (width, seed), "cell")
        return digest.hexdigest()

    def path(self, width: int, seed: int) -> Path:
        """Return the path of the cell's file."""
        return self.directory / f"{self._stem}-w{width}-s{seed}-{self._key(width, seed)[:20]}.json"

    def load(self, width: int, seed: int) -> Optional[Record]:
        """Return the stored record of the cell, or None.

        None when the file is missing, or not a valid cell this cache wrote (unreadable,
        damaged, edited, of another key or format), in which case the cell is computed again
        and the file replaced. Something other than a regular file at the cell's path (a
        directory, a FIFO) raises ValueError naming it, before any cell is
        computed: the cell could not be stored there, and widenet replaces only files.
        """
        path = self.path(width, seed)
        try:
            text = _files.read_text(path, MAX_CELL_BYTES)
            stored = _files.parse_json(text, allow_nan=True)
        except FileNotFoundError:
            return None
        except (IsADirectoryError, _files.NotARegularFile) as error:
            what = "a directory" if isinstance(error, IsADirectoryError) else str(error).rsplit(": ", 1)[-1]
            raise ValueError(f"cache_dir: {str(path)!r}, where the cell width={width}, seed={seed} is stored, is "
                             f"{what}; remove it or use another cache_dir") from None
        except (OSError, ValueError):  # unreadable, too large, not UTF-8, not JSON, nested junk
            return None
        values = stored.get("values") if isinstance(stored, dict) else None
        if not isinstance(values, dict) or self._text(width, seed, values) != text:
            return None  # only what store() writes for these values, byte for byte, is a cell
        try:
            return checked_record(values, width, seed)
        except (TypeError, ValueError):
            return None

    def _text(self, width: int, seed: int, values: Dict[str, Any]) -> str:
        """Return the file of the cell with these values.

        The checksum makes an edited value (even
        to another valid number) a damaged file; floats are written by repr, so they read
        back bit for bit.
        """
        values_text = json.dumps(values)
        return json.dumps({"format": FORMAT, "key": self._key(width, seed), "function": self.identity,
                           "cache_version": self.version, "widenet_version": self.widenet_version, "width": width,
                           "seed": seed, "values": values,
                           "checksum": hashlib.sha256(values_text.encode()).hexdigest()})

    def store(self, record: Record) -> None:
        """Write one finished cell atomically."""
        width, seed = cast(int, record["width"]), cast(int, record["seed"])  # a record's cell: integers
        values = {name: value for name, value in record.items() if name not in ("width", "seed")}
        self.directory.mkdir(parents=True, exist_ok=True)
        # Stale temporaries are removed once per sweep (in __init__), not at every cell; no
        # fsync (10 ms a cell): a cell lost or cut by a crash of the machine is recomputed.
        _files.write_text(self.path(width, seed), self._text(width, seed, values), clean=False, durable=False)
