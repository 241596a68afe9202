"""Every file widenet writes goes through here; every file it reads is opened here.

Writing. New content goes to a temporary file in the target's directory and replaces the
target by a rename once it is complete and (unless told otherwise) on disk, so a reader, a
killed process or a crashed machine sees the old file or the new one, never a mix. The new
file keeps the target's permission bits (and its owner, where the process may set it); a
symbolic link is written through (its target is replaced, the link stays).
:class:`FileSet` replaces several files together: all are written first, then renamed in
one go with Ctrl-C and SIGTERM held off for the renames.

Temporary files are named ``.<target name>.<host>-<pid>-<random>.widenet-tmp``. Each write
removes the temporaries that processes of this host which are gone left beside the same
target (a killed process cannot clean up after itself); those of running processes or of
other hosts are in progress and left alone.

Reading lives in :mod:`widenet._reading` (its names are also reachable from here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import signal
import socket
import stat
import threading
from typing import Any, ContextManager, Iterator, Literal, Optional, Union

PathLike = Union[str, os.PathLike]

SUFFIX = ".widenet-tmp"
_LONGEST_NAME = 120  # of the target's name inside a temporary's name (file names end at 255 bytes)
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TOKEN = re.compile(r"^([0-9a-f]{8})-([0-9]+)-[0-9a-f]+$")


# -- temporary names -----------------------------------------------------------------------------


def _stem(name: str) -> str:
    """Return the target's name as it appears in its temporaries' names (a long one shortened by a hash)."""
    if len(name) <= _LONGEST_NAME:
        return name
    return name[:_LONGEST_NAME - 17] + "~" + hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()[:16]


def _temporary_name(name: str) -> str:
    """Return a new temporary's name for the target ``name``."""
    return f".{_stem(name)}.{_HOST}-{os.getpid()}-{secrets.token_hex(6)}{SUFFIX}"


def _owner(entry: str) -> Optional[tuple[str, str, int]]:
    """Return ``(stem, host, pid)`` of a temporary's name, or None for other names."""
    if not (entry.startswith(".") and entry.endswith(SUFFIX)):
        return None
    stem, _, token = entry[1:-len(SUFFIX)].rpartition(".")
    match = _TOKEN.match(token)
    return (stem, match.group(1), int(match.group(2))) if stem and match else None


def _process_is_gone(pid: int) -> bool:
    """Tell whether the process ``pid`` of this host has ended (False when that cannot be known)."""
    if pid == os.getpid() or os.name != "posix":
        return False  # another thread of this process may be writing; elsewhere os.kill would end the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process
        return False
    return False


def remove_stale_temporaries(directory: PathLike, name: Optional[str] = None) -> int:
    """Remove the temporaries in ``directory`` whose process, on this host, is gone.

    Only those of the target ``name`` are removed, or those of every target when ``name``
    is None. Returns how many were removed.
    """
    stem = None if name is None else _stem(name)
    removed = 0
    try:
        entries = os.listdir(directory)
    except OSError:
        return 0
    for entry in entries:
        owner = _owner(entry)
        if owner is None or (stem is not None and owner[0] != stem) or owner[1] != _HOST:
            continue
        if _process_is_gone(owner[2]):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))
                removed += 1
    return removed


# -- writing -------------------------------------------------------------------------------------


def _target(path: PathLike) -> str:
    """Return the file a write to ``path`` replaces: ``path`` itself or, through symbolic links, the file they name."""
    path = os.path.abspath(os.fspath(path))
    return os.path.realpath(path) if os.path.islink(path) else path


def _existing_status(target: str) -> Optional[os.stat_result]:
    """Return the target's status when it is a regular file, None when it does not exist; refuse the rest."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a directory", target)
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{target}: not a regular file ({file_kind(status.st_mode)}); "
                         "widenet writes regular files only")
    return status


def _create(target: str, clean: bool) -> tuple[str, int]:
    """Return ``(temporary name, open file descriptor)`` of a new temporary for ``target``.

    The temporary has the target's permissions (those of a new file when there is no
    target).
    """
    directory, name = os.path.split(target)
    existing = _existing_status(target)
    if clean:
        remove_stale_temporaries(directory, name)
    temporary = os.path.join(directory, _temporary_name(name))
    # A new file gets 0o666 less the umask, as open() gives it; a replacement starts private.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666 if existing is None else 0o600)
    try:
        if existing is not None:
            if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(OSError):  # only a privileged process may give a file away
                    os.fchown(descriptor, existing.st_uid, existing.st_gid)
            os.fchmod(descriptor, stat.S_IMODE(existing.st_mode))
    except BaseException:
        os.close(descriptor)
        os.unlink(temporary)
        raise
    return temporary, descriptor


class _DeferredSignals:
    """A block that holds off SIGINT and SIGTERM and delivers them on exit.

    Only on the main thread: elsewhere Python delivers none.
    """

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

    def __enter__(self) -> _DeferredSignals:
        self._previous: dict[int, Any] = {}
        self._caught: list[int] = []
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                if signal.getsignal(number) is not None:  # None: a handler not set from Python, left alone
                    self._previous[number] = signal.signal(number, lambda caught, frame: self._caught.append(caught))
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(self._caught):
            signal.raise_signal(number)  # now handled as it would have been
        return False


class FileSet:
    """New contents for several files, put in place together by :meth:`commit`.

    Used as a context manager: leaving the block without a commit (an exception, Ctrl-C)
    removes the temporaries and leaves every target as it was.

    Parameters
    ----------
    clean : bool
        Remove the stale temporaries of each target before writing it (see the module).
    durable : bool
        Flush each file and the renames to disk (fsync), so that they survive a crash of
        the machine, not only of the process. A file whose loss is detected and cheap
        (a sweep cell: recomputed) can skip it.
    """

    def __init__(self, clean: bool = True, durable: bool = True) -> None:
        self._clean, self._durable = clean, durable
        self._pending: dict[str, str] = {}  # target -> temporary
        self._remove: list[str] = []
        self.committed = False

    def __enter__(self) -> FileSet:
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self.discard()
        return False

    @contextlib.contextmanager
    def open(self, path: PathLike) -> Iterator[io.BufferedWriter]:
        """Open a binary stream to the new content of ``path``, flushed to disk on leaving the block."""
        target = _target(path)
        if target in self._pending:
            raise ValueError(f"path: {target} is written twice in one set")
        temporary, descriptor = _create(target, self._clean)
        self._pending[target] = temporary
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            if self._durable:
                os.fsync(stream.fileno())

    def write_text(self, path: PathLike, text: str) -> None:
        """Set the UTF-8 ``text`` as the new content of ``path``."""
        with self.open(path) as stream:
            stream.write(text.encode("utf-8"))

    def remove_on_commit(self, path: PathLike) -> None:
        """Remove ``path`` (if it exists) when the set is committed."""
        self._remove.append(os.path.abspath(os.fspath(path)))

    def commit(self) -> None:
        """Replace every target by its new content (and remove the files to remove)."""
        with _DeferredSignals():
            replaced = set()
            for target, temporary in list(self._pending.items()):
                os.replace(temporary, target)
                del self._pending[target]
                replaced.add(target)
            for path in self._remove:
                if _target(path) not in replaced:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            self.committed = True
        for directory in {os.path.dirname(target) for target in replaced} if self._durable else ():
            _sync_directory(directory)

    def discard(self) -> None:
        """Remove the temporaries not yet committed."""
        for temporary in self._pending.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        self._pending.clear()


class StagedDirectory(os.PathLike):
    """A ``directory`` whose files are written into the :class:`FileSet` ``files``.

    See :func:`open_in`: they replace the directory's files only when the set is committed.
    """

    def __init__(self, directory: PathLike, files: FileSet) -> None:
        self.directory, self.files = os.fspath(directory), files

    def __fspath__(self) -> str:
        return self.directory


def open_in(directory: Union[PathLike, StagedDirectory], name: str) -> ContextManager[io.BufferedWriter]:
    """Open a binary stream to the new content of the file ``name`` of ``directory``.

    The file is written atomically on its own, or with the set of a :class:`StagedDirectory`.
    """
    path = os.path.join(os.fspath(directory), name)
    if isinstance(directory, StagedDirectory):
        return directory.files.open(path)
    return atomic_write(path)


def _sync_directory(directory: str) -> None:
    """Put the renames in ``directory`` on disk (where the platform allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_write(path: PathLike, clean: bool = True, durable: bool = True) -> Iterator[io.BufferedWriter]:
    """Open a binary stream whose content replaces ``path`` when the block ends without an exception.

    See the module and :class:`FileSet` for ``clean`` and ``durable``.
    """
    with FileSet(clean, durable) as files:
        with files.open(path) as stream:
            yield stream
        files.commit()


def write_text(path: PathLike, text: str, clean: bool = True, durable: bool = True) -> None:
    """Replace ``path`` by the UTF-8 ``text``, atomically (see :func:`atomic_write`)."""
    with atomic_write(path, clean, durable) as stream:
        stream.write(text.encode("utf-8"))


def check_writable_directory(directory: PathLike) -> None:
    """Create a temporary file in ``directory`` and remove it; raise OSError when that fails."""
    temporary = os.path.join(os.fspath(directory), _temporary_name("probe"))
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(temporary)


# Reading has its own module; these names stay reachable from here for the callers of both.
from widenet._reading import (  # noqa: E402
    MAX_JSON_DEPTH,
    NotARegularFile,
    file_kind,
    json_depth,
    open_regular,
    parse_json,
    read_text,
)

__all__ = [
    "FileSet",
    "MAX_JSON_DEPTH",
    "NotARegularFile",
    "StagedDirectory",
    "atomic_write",
    "check_writable_directory",
    "json_depth",
    "open_in",
    "open_regular",
    "parse_json",
    "read_text",
    "remove_stale_temporaries",
    "write_text",
]
