"""Loading hostile files: whatever the bytes, ``widenet.load`` gives back what was saved or
raises ValueError naming the file -- never MemoryError from a declared size, RecursionError
from nested JSON, a silently chosen duplicate entry, or a hang on a device or a FIFO."""

import io
import json
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import widenet
from widenet import ShallowEnsemble
from widenet.io import TrainingState

from conftest import random_data

EXAMPLES = max(10, settings().max_examples // 2)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved training state of an ensemble (the file with the most entries) and its entries."""
    X, y, X_test = random_data(18, 5, 2)
    state = TrainingState(ShallowEnsemble(2, 2, 3, bias_var=0.5, seed=19), lr=0.01, record_every=2)
    state.train(X, y, 5, X_test)
    path = state.save(tmp_path_factory.mktemp("hostile") / "state.npz")
    with np.load(path, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files}
    return path, entries


def npy_bytes(array: np.ndarray, header: dict = None) -> bytes:
    """``array`` as a .npy file, its header replaced by ``header`` when given."""
    stream = io.BytesIO()
    if header is None:
        np.lib.format.write_array(stream, array, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(np.ascontiguousarray(array).tobytes())
    return stream.getvalue()


def write_archive(path, members: list) -> str:
    """A zip of ``(name, bytes)`` members, in order (duplicates allowed)."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": intended here
        for name, data in members:
            archive.writestr(name, data)
    return str(path)


def members_of(entries: dict, **replaced) -> list:
    return [(f"{name}.npy", replaced.get(name, npy_bytes(array))) for name, array in entries.items()]


def assert_refused_naming(path, match=None):
    with pytest.raises(ValueError, match=match) as raised:
        widenet.load(path)
    assert str(path) in str(raised.value)
    return raised.value


def assert_same_state(a, b):
    assert type(a) is type(b) and a.steps_done == b.steps_done and a.network.config == b.network.config
    for x, y in zip(a.network.params + a.network.initial_params, b.network.params + b.network.initial_params):
        np.testing.assert_array_equal(x, y, strict=True)


# --- declared sizes --------------------------------------------------------------------------


@SETTINGS
@given(shape=st.lists(st.integers(0, 10**8), min_size=1, max_size=4).map(tuple), dtype=st.sampled_from(["<f8", "<f4"]))
@example(shape=(10**12,), dtype="<f8")
@example(shape=(2**62, 4), dtype="<f8")
def test_a_declared_shape_is_checked_against_the_entry_before_allocating(saved, tmp_path_factory, shape, dtype):
    """A hostile file: U.npy's header claims 10**12 doubles (7.28 TiB) over a few bytes."""
    path, entries = saved
    U = entries["U"]
    if shape == U.shape and dtype == U.dtype.str:
        return
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    target = tmp_path_factory.mktemp("shape") / "lying.npz"
    write_archive(target, members_of(entries, U=npy_bytes(U, header)))
    assert_refused_naming(target, "entry 'U'")


def test_an_entry_claiming_more_than_the_file_is_refused(saved, tmp_path):
    """The zip directory's sizes are checked against the file's real size and the memory
    limit before anything is read."""
    path, entries = saved
    target = write_archive(tmp_path / "big.npz", members_of(entries))
    data = bytearray(Path(target).read_bytes())
    offset = data.find(b"PK\x01\x02")
    while data[offset + 46:offset + 46 + int.from_bytes(data[offset + 28:offset + 30], "little")] != b"U.npy":
        offset = data.find(b"PK\x01\x02", offset + 4)  # the next central directory record
    data[offset + 20:offset + 28] = (2**31).to_bytes(4, "little") * 2  # compressed and full size: 2 GiB
    Path(target).write_bytes(bytes(data))
    assert_refused_naming(target, "2147483648 bytes stored and 2147483648 in all, which a file of")


# --- nested JSON -----------------------------------------------------------------------------


@SETTINGS
@given(depth=st.integers(65, 200_000), bracket=st.sampled_from(["[]", "{}"]))
@example(depth=100_000, bracket="[]")
@example(depth=100_000, bracket="{}")
def test_deeply_nested_json_in_config_is_refused(saved, tmp_path_factory, depth, bracket):
    path, entries = saved
    opening, closing = bracket
    key = '"a": ' if opening == "{" else ""
    inner = (opening + key) * (depth - 1) + "1" + closing * (depth - 1)
    config = '{"nested": ' + inner + "}"
    target = tmp_path_factory.mktemp("json") / "deep.npz"
    write_archive(target, members_of(entries, config=npy_bytes(np.array(config))))
    assert_refused_naming(target, "config")


# --- duplicate entries -----------------------------------------------------------------------


@pytest.mark.parametrize("twice", ["U", "config", "format"])
def test_an_entry_that_appears_twice_is_refused(saved, tmp_path, twice):
    """zip allows one name twice; numpy's reader would keep the last silently."""
    path, entries = saved
    members = members_of(entries)
    other = entries[twice].copy() if entries[twice].dtype.kind == "f" else entries[twice]
    if other.dtype.kind == "f":
        other += 1.0
    members.append((f"{twice}.npy", npy_bytes(other)))
    target = write_archive(tmp_path / "twice.npz", members)
    assert_refused_naming(target, f"entry '{twice}' appears more than once")


def test_an_entry_named_with_and_without_npy_is_refused(saved, tmp_path):
    path, entries = saved
    target = write_archive(tmp_path / "both.npz", members_of(entries) + [("U", npy_bytes(entries["U"]))])
    assert_refused_naming(target)


# --- any damage ------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_any_damage_loads_the_saved_state_or_is_refused_naming_the_file(saved, tmp_path_factory, data):
    """Flipped, cut or inserted bytes anywhere: the file loads as saved (the bytes were
    unused, e.g. a timestamp) or raises ValueError naming it; nothing else escapes."""
    path, _ = saved
    original = Path(path).read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        position = data.draw(st.integers(0, len(damaged) - 1), label="position")
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]), label="kind")
        if kind == "flip":
            damaged[position] ^= data.draw(st.integers(1, 255), label="mask")
        elif kind == "cut":
            del damaged[position:position + data.draw(st.integers(1, 64), label="length")]
        else:
            damaged[position:position] = data.draw(st.binary(min_size=1, max_size=16), label="inserted")
        if not damaged:
            damaged = bytearray(b"\0")
    target = tmp_path_factory.mktemp("damage") / "damaged.npz"
    target.write_bytes(bytes(damaged))
    try:
        loaded = widenet.load(target)
    except ValueError as error:
        assert str(target) in str(error)
    else:
        assert_same_state(loaded, TrainingState.load(path))


# --- devices, FIFOs and other files that are not regular ----------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_devices_and_fifos_are_refused_without_blocking(tmp_path):
    """In a child process, so that a hang fails the test instead of stopping the suite."""
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link.npz"
    link.symlink_to("/dev/zero")
    paths = [p for p in ("/dev/zero", "/dev/urandom", "/dev/null") if os.path.exists(p)] + [str(fifo), str(link)]
    script = textwrap.dedent(f"""
        import json, resource, widenet
        # a reader that does not stop at the device's end would take the machine's memory; the
        # sanitizers reserve terabytes of shadow address space, so there their own limit applies
        if not widenet.build_info().get("sanitizers"):
            resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
        outcomes = {{}}
        for path in {paths!r}:
            for call in (widenet.load, widenet.ShallowNetwork.load, widenet.TrainingState.load):
                try:
                    call(path)
                    outcomes[path] = "loaded"
                except ValueError as error:
                    outcomes[path] = "ValueError" if path in str(error) else "ValueError without the path"
                except Exception as error:
                    outcomes[path] = type(error).__name__
                    break
        print(json.dumps(outcomes))
    """)
    try:
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":hard_rss_limit_mb=4096")
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a device or a FIFO hangs")
    assert child.returncode == 0, child.stderr
    outcomes = json.loads(child.stdout)
    assert outcomes == {path: "ValueError" for path in paths}


def test_a_directory_is_refused_as_before(tmp_path):
    with pytest.raises(IsADirectoryError):
        widenet.load(tmp_path)
