"""Every file widenet writes is written atomically: a temporary file in the same folder,
renamed once complete. The target keeps its permissions, a symbolic link stays a link (its
target is replaced), no temporary survives -- not even one of a killed process, which the
next write to the same target removes, while those of running processes are left alone --
and a write that fails (a full disk) leaves the previous file as it was."""

import contextlib
import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import widenet

from conftest import make_network

EXAMPLES = max(10, settings().max_examples // 4)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODES = (0o600, 0o640, 0o644, 0o664, 0o755, 0o400)
LINKS = (None, "absolute", "relative", "chain", "dangling")


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def leftovers(*directories) -> list:
    """Names that look like temporary files (hidden), in the given directories."""
    return [name for directory in directories for name in os.listdir(directory) if name.startswith(".")]


@contextlib.contextmanager
def disk_full_after(size: int):
    """Writes beyond ``size`` bytes of any file fail with EFBIG, as on a full disk (in this
    process, for the block only)."""
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)
        signal.signal(signal.SIGXFSZ, handler)


def place_link(kind, links: Path, target: Path) -> Path:
    """A path in ``links`` that leads to ``target`` by a link of ``kind`` (or ``target`` itself)."""
    if kind is None:
        return target
    link = links / "net.npz"
    if kind == "relative":
        link.symlink_to(os.path.relpath(target, links))
    elif kind == "chain":
        (links / "middle.npz").symlink_to(target)
        link.symlink_to(links / "middle.npz")
    else:
        link.symlink_to(target)
    return link


def link_state(links: Path) -> dict:
    return {name: os.readlink(links / name) for name in os.listdir(links)}


# --- permissions, symbolic links, temporaries ---------------------------------------------------


@SETTINGS
@given(mode=st.sampled_from(MODES), link=st.sampled_from(LINKS), existing=st.booleans())
@example(mode=0o600, link=None, existing=True)
@example(mode=0o644, link="absolute", existing=True)
def test_save_keeps_permissions_and_symbolic_links(tmp_path_factory, mode, link, existing):
    base = tmp_path_factory.mktemp("save")
    data, links = base / "data", base / "links"
    data.mkdir()
    links.mkdir()
    target = data / "net.npz"
    if existing and link != "dangling":
        make_network(2, 3, seed=1).save(target)
        target.chmod(mode)
    path = place_link(link, links, target)
    links_before = link_state(links)
    net = make_network(2, 5, seed=2)
    assert net.save(path) == str(path)
    assert link_state(links) == links_before  # links still links, pointing where they did
    assert os.listdir(data) == ["net.npz"] and leftovers(data, links) == []
    expected = mode if existing and link != "dangling" else 0o666 & ~umask()
    assert stat.S_IMODE(target.stat().st_mode) == expected
    loaded = widenet.load(target)
    np.testing.assert_array_equal(loaded.params.U, net.params.U)


def test_every_writer_keeps_permissions_and_links(tmp_path):
    """The figures and the sweep cells too (the report: see test_report_files.py)."""
    from widenet.app.experiments._plotting import figure, save

    real = tmp_path / "real"
    real.mkdir()
    (real / "plot.png").write_bytes(b"old")
    (real / "plot.png").chmod(0o600)
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "plot.png").symlink_to(real / "plot.png")
    fig, _ = figure()
    assert save(fig, shown, "plot") == "plot.png"
    assert (shown / "plot.png").is_symlink() and (real / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE((real / "plot.png").stat().st_mode) == 0o600
    assert leftovers(real, shown) == []
    drawn = (real / "plot.png").read_bytes()
    fig, _ = figure()
    with disk_full_after(100), pytest.raises(OSError):
        save(fig, shown, "plot")
    assert (real / "plot.png").read_bytes() == drawn and leftovers(real, shown) == []


# --- killed processes --------------------------------------------------------------------------

SAVING_CHILD = textwrap.dedent("""
    import sys, widenet
    net = widenet.ShallowNetwork(400, 4000, seed=1)  # about 26 MB a file: each save takes a while
    while True:
        net.save(sys.argv[1])
""")


def kill_while_saving(path: Path, timeout: float = 120.0) -> bool:
    """Starts a child that saves to ``path`` again and again and SIGKILLs it while a
    temporary file of its exists; True if it was killed mid-write."""
    child = subprocess.Popen([sys.executable, "-c", SAVING_CHILD, str(path)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and child.poll() is None:
            if leftovers(path.parent) and path.exists():
                child.kill()
                break
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()  # reaped: its process id is gone
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return bool(leftovers(path.parent))


def test_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "net.npz"
    killed_mid_write = sum(kill_while_saving(path) for _ in range(3))
    assert killed_mid_write >= 1, "no save was caught mid-write"
    assert leftovers(tmp_path)  # the failure this guards against: the killed saves' temporaries
    net = make_network(2, 5, seed=3)
    net.save(path)
    assert os.listdir(tmp_path) == ["net.npz"]
    np.testing.assert_array_equal(widenet.load(path).params.U, net.params.U)


def temporary_of(target: Path, host: str, pid: int) -> Path:
    """A temporary named as widenet names those of ``target`` (see widenet._files)."""
    from widenet import _files

    return target.parent / f".{target.name}.{host}-{pid}-0123456789ab{_files.SUFFIX}"


def test_temporaries_of_running_processes_and_other_hosts_are_left_alone(tmp_path):
    from widenet import _files

    target = tmp_path / "net.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        in_progress = [temporary_of(target, _files._HOST, sleeper.pid), temporary_of(target, _files._HOST, os.getpid()),
                       temporary_of(target, "ffffffff" if _files._HOST != "ffffffff" else "eeeeeeee", gone.pid),
                       temporary_of(tmp_path / "other.npz", _files._HOST, gone.pid)]
        stale = temporary_of(target, _files._HOST, gone.pid)
        for file in (*in_progress, stale):
            file.write_bytes(b"partial")
        make_network(2, 3).save(target)
        assert sorted(leftovers(tmp_path)) == sorted(file.name for file in in_progress)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_two_processes_saving_to_one_file(tmp_path):
    """Neither removes the other's temporary in progress; the file is always a whole one."""
    path = tmp_path / "net.npz"
    script = "import sys, widenet\nnet = widenet.ShallowNetwork(20, 300, seed=5)\n" \
             "for _ in range(40):\n    net.save(sys.argv[1])\n"
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], stderr=subprocess.PIPE, text=True)
    mine = make_network(20, 300, seed=6)
    while child.poll() is None:
        mine.save(path)
        assert widenet.load(path).config["width"] == 300
    assert child.wait() == 0, child.stderr.read()
    child.stderr.close()
    assert os.listdir(tmp_path) == ["net.npz"]


def test_threads_saving_to_one_file(tmp_path):
    path = tmp_path / "net.npz"
    networks = [make_network(3, 50, seed=seed) for seed in range(4)]
    errors = []

    def work(net):
        try:
            for _ in range(15):
                net.save(path)
        except BaseException as error:  # pragma: no cover - the failure is reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(net,)) for net in networks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert os.listdir(tmp_path) == ["net.npz"]
    U = widenet.load(path).params.U
    assert any(np.array_equal(U, net.params.U) for net in networks)


# --- full disk ---------------------------------------------------------------------------------


@SETTINGS
@given(fraction=st.floats(0.0, 0.999), mode=st.sampled_from(MODES))
@example(fraction=0.0, mode=0o600)
def test_a_save_that_runs_out_of_disk_leaves_the_previous_file(tmp_path_factory, fraction, mode):
    directory = tmp_path_factory.mktemp("full")
    path = directory / "net.npz"
    make_network(2, 3, seed=4).save(path)
    path.chmod(mode)
    before = path.read_bytes()
    bigger = make_network(30, 200, seed=5)
    with disk_full_after(int(fraction * 80_000)), pytest.raises(OSError) as raised:
        bigger.save(path)
    assert raised.value.errno == errno.EFBIG
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == mode
    assert leftovers(directory) == []


def test_a_failed_write_through_a_link_leaves_the_link_and_its_target(tmp_path):
    target = tmp_path / "net.npz"
    make_network(2, 3, seed=4).save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    before = target.read_bytes()
    with disk_full_after(1000), pytest.raises(OSError):
        make_network(30, 200, seed=5).save(link)
    assert link.is_symlink() and target.read_bytes() == before
    assert leftovers(tmp_path) == []


# --- the one home: widenet._files --------------------------------------------------------------


@SETTINGS
@given(contents=st.lists(st.binary(max_size=3000), min_size=1, max_size=5), fail_at=st.integers(0, 5),
       interrupt=st.booleans())
def test_a_file_set_replaces_all_its_files_or_none(tmp_path_factory, contents, fail_at, interrupt):
    from widenet import _files

    directory = tmp_path_factory.mktemp("set")
    old = {f"f{index}": f"old {index}".encode() for index in range(len(contents))}
    for name, data in old.items():
        (directory / name).write_bytes(data)
    error = KeyboardInterrupt if interrupt else OSError
    try:
        with _files.FileSet() as files:
            for index, data in enumerate(contents):
                if index == fail_at:
                    raise error("stop")
                with files.open(directory / f"f{index}") as stream:
                    stream.write(data)
            if fail_at == len(contents):
                raise error("stop")
            files.commit()
    except error:
        assert fail_at <= len(contents)
        assert {name: (directory / name).read_bytes() for name in old} == old
    else:
        assert fail_at > len(contents)
        assert [(directory / f"f{index}").read_bytes() for index in range(len(contents))] == contents
    assert leftovers(directory) == []


def test_a_signal_during_the_renames_is_delivered_after_them(tmp_path, monkeypatch):
    """Ctrl-C while a set is being renamed: every file is replaced, then the interrupt comes."""
    from widenet import _files

    replace = os.replace
    calls = []

    def replace_and_interrupt(source, target):
        calls.append(target)
        if len(calls) == 1:
            # to this thread, so the handler runs now; os.kill may hand it to any thread of
            # the process (OpenBLAS's), which a loaded machine may run only after the block
            signal.raise_signal(signal.SIGINT)
        replace(source, target)

    monkeypatch.setattr(os, "replace", replace_and_interrupt)
    # a process started in the background inherits SIGINT ignored: Python's handler, for this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _files.FileSet() as files:
                for name in ("a", "b", "c"):
                    files.write_text(tmp_path / name, name * 3)
                files.commit()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert files.committed and len(calls) == 3
    assert [(tmp_path / name).read_text() for name in ("a", "b", "c")] == ["aaa", "bbb", "ccc"]


@pytest.mark.parametrize("text, depth", [("1", 0), ("[]", 1), ('{"a": [1, {"b": "[[[{{"}]}', 3),
                                         ('["\\"[", [[]]]', 3), ("[" * 500 + "]" * 500, 500)])
def test_json_depth(text, depth):
    from widenet import _files

    assert _files.json_depth(text) == depth


def test_writing_over_a_directory_or_a_fifo_is_refused(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        make_network(2, 3).save(tmp_path / "dir.npz")
    os.mkfifo(tmp_path / "fifo.npz")
    with pytest.raises(ValueError, match="fifo.npz: not a regular file \\(a FIFO\\)"):
        make_network(2, 3).save(tmp_path / "fifo.npz")
    assert sorted(os.listdir(tmp_path)) == ["dir.npz", "fifo.npz"]
