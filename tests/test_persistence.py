"""Saving and loading networks, ensembles and training states (one .npz file each): the
round trip is exact, training resumes bit for bit after a save and a load (also in another
process), and every damaged or foreign file is refused with a ValueError naming the file
before anything is built."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import widenet
from widenet import ShallowEnsemble, ShallowNetwork, _memory
from widenet.io import FORMAT_VERSION, TrainingState, load

from conftest import make_network, random_data, stable_lr

BACKENDS = ("cpp", "numpy")
STEPS, HALF, EVERY = 1000, 500, 10


def assert_same_network(a, b):
    """Same configuration, and current and initial parameters equal bit for bit."""
    assert type(a) is type(b)
    assert a.config == b.config
    if isinstance(a, ShallowEnsemble):
        pairs = list(zip(a.params + a.initial_params, b.params + b.initial_params))
    else:
        pairs = [(a.params.to_vector(), b.params.to_vector()),
                 (a.initial_params.to_vector(), b.initial_params.to_vector())]
    for x, y in pairs:
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(x, y, strict=True)


def assert_same_records(actual, expected, err_msg=""):
    for key in ("steps", "losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(actual, key), getattr(expected, key), err_msg=f"{key} {err_msg}",
                                      strict=True)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_network_round_trip(tmp_path, parametrization, dtype, distribution):
    net = ShallowNetwork(3, 7, "gelu", parametrization, weight_var=0.1, bias_var=1 / 3, output_var=2.7,
                         output_bias_var=0.3, distribution=distribution, seed=1, dtype=dtype)
    X, y, _ = random_data(2, 5, 3, dtype)
    net.train(X, y, 0.01, 3)  # current parameters differ from the initial ones
    path = net.save(tmp_path / "net.npz")
    assert path == str(tmp_path / "net.npz")
    loaded = ShallowNetwork.load(path)
    assert_same_network(loaded, net)
    assert loaded.weight_var == 0.1 and loaded.bias_var == 1 / 3  # floats exactly, through JSON
    assert_same_network(load(tmp_path / "net.npz"), net)
    assert_same_network(widenet.ShallowNetwork.load(str(path)), net)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    loaded.params.b = loaded.params.b + 1  # an independent copy
    assert not np.array_equal(loaded.params.b, net.params.b)


def test_ensemble_round_trip(tmp_path, dtype):
    ensemble = ShallowEnsemble(3, 2, 6, activation="tanh", parametrization="ntk", bias_var=0.5, seed=4, dtype=dtype)
    X, y, _ = random_data(5, 4, 2, dtype)
    ensemble.train(X, y, 0.05, 4)
    loaded = ShallowEnsemble.load(ensemble.save(tmp_path / "ensemble.npz"))
    assert_same_network(loaded, ensemble)
    assert loaded.size == 3 and loaded.config == ensemble.config
    for r in range(3):
        assert_same_network(loaded.member(r), ensemble.member(r))
    assert_same_network(load(tmp_path / "ensemble.npz"), ensemble)


def test_the_file_holds_the_documented_entries(tmp_path):
    net = make_network(2, 3, dtype=np.float32, seed=2)
    path = net.save(tmp_path / "net.npz")
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(["format", "format_version", "widenet_version", "config",
                                                "U", "b", "v", "c", "U0", "b0", "v0", "c0"])
        assert str(archive["format"]) == "widenet.ShallowNetwork"
        assert archive["format_version"] == FORMAT_VERSION == 1
        assert str(archive["widenet_version"]) == widenet.__version__
        config = json.loads(str(archive["config"]))
        assert config == {"network": net.config, "size": None}
        assert config["network"]["dtype"] == "float32"
        assert archive["U"].dtype == np.float32 and archive["c"].shape == ()
        np.testing.assert_array_equal(archive["U0"], net.initial_params.U)
    assert ShallowNetwork(**config["network"]).config == net.config


def test_the_name_is_used_as_given_and_saving_overwrites(tmp_path):
    net = make_network(2, 3, seed=3)
    path = tmp_path / "network.state"
    net.save(path)
    assert os.listdir(tmp_path) == ["network.state"]  # no ".npz" appended, no temporary left
    other = make_network(2, 3, seed=4)
    other.save(path)
    assert_same_network(ShallowNetwork.load(path), other)
    assert os.listdir(tmp_path) == ["network.state"]


# --- training resumes bit for bit ---------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_resumes_bitwise_after_save_and_load(tmp_path, backend, parametrization, dtype):
    """500 steps, save, load, 500 steps equals 1000 steps at once, bit for bit: the
    parameters, and the records of each half against the same part of the single run."""
    X, y, X_test = random_data(6, 8, 3, dtype)
    whole = make_network(3, 16, "tanh", parametrization, dtype, seed=7)
    lr = stable_lr(whole, X, 1 / 8)
    single = whole.train(X, y, lr, STEPS, EVERY, X_test, loss="mean", backend=backend)

    net = make_network(3, 16, "tanh", parametrization, dtype, seed=7)
    first = net.train(X, y, lr, HALF, EVERY, X_test, loss="mean", backend=backend)
    resumed = ShallowNetwork.load(net.save(tmp_path / "half.npz"))
    second = resumed.train(X, y, lr, STEPS - HALF, EVERY, X_test, loss="mean", backend=backend)

    assert_same_network(resumed, whole)
    cut = HALF // EVERY
    for key in ("losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(first, key), getattr(single, key)[:cut + 1], err_msg=key)
        np.testing.assert_array_equal(getattr(second, key), getattr(single, key)[cut:], err_msg=key)
    assert single.losses[-1] < 0.5 * single.losses[0]  # it did train


@pytest.mark.parametrize("backend", BACKENDS)
def test_ensemble_training_resumes_bitwise_after_save_and_load(tmp_path, backend, dtype):
    X, y, X_test = random_data(8, 6, 2, dtype)
    config = dict(activation="erf", parametrization="ntk", bias_var=0.5, output_bias_var=0.3, seed=9, dtype=dtype)
    whole = ShallowEnsemble(3, 2, 12, **config)
    single = whole.train(X, y, 0.02, STEPS, EVERY, X_test, loss="mean", backend=backend)
    ensemble = ShallowEnsemble(3, 2, 12, **config)
    ensemble.train(X, y, 0.02, HALF, EVERY, X_test, loss="mean", backend=backend)
    resumed = ShallowEnsemble.load(ensemble.save(tmp_path / "half.npz"))
    second = resumed.train(X, y, 0.02, STEPS - HALF, EVERY, X_test, loss="mean", backend=backend)
    assert_same_network(resumed, whole)
    cut = HALF // EVERY
    for key in ("losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(second, key), getattr(single, key)[:, cut:], err_msg=key)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["network", "ensemble"])
def test_training_state_resumes_bitwise(tmp_path, backend, kind, dtype):
    """A TrainingState saved after 500 steps and loaded: 500 more steps give the history
    and the parameters of one 1000-step run."""
    X, y, X_test = random_data(10, 6, 2, dtype)

    def fresh():
        if kind == "network":
            return make_network(2, 10, "softplus", "lecun", dtype, seed=11)
        return ShallowEnsemble(2, 2, 10, activation="softplus", bias_var=0.5, seed=11, dtype=dtype)

    whole = fresh()
    single = whole.train(X, y, 0.01, STEPS, EVERY, X_test, loss="half_sum", backend=backend)
    state = TrainingState(fresh(), lr=0.01, loss="half_sum", record_every=EVERY)
    piece = state.train(X, y, HALF, X_test, backend=backend)
    np.testing.assert_array_equal(piece.steps, np.arange(0, HALF + 1, EVERY))
    state.save(tmp_path / "state.npz")
    resumed = TrainingState.load(tmp_path / "state.npz")
    assert (resumed.lr, resumed.loss, resumed.record_every, resumed.steps_done) == (0.01, "half_sum", EVERY, HALF)
    assert_same_records(resumed.history, state.history)
    piece = resumed.train(X, y, STEPS - HALF, X_test, backend=backend)
    np.testing.assert_array_equal(piece.steps, np.arange(HALF, STEPS + 1, EVERY))  # counted from the start
    assert resumed.steps_done == STEPS
    assert_same_network(resumed.network, whole)
    assert_same_records(resumed.history, single)
    assert (resumed.history.loss, resumed.history.lr) == ("half_sum", 0.01)
    assert isinstance(load(resumed.save(tmp_path / "done.npz")), TrainingState)


def test_training_state_resumes_in_another_process(tmp_path):
    """Saved here, resumed by a fresh interpreter, compared here: bit for bit."""
    X, y, X_test = random_data(12, 6, 3)
    np.savez(tmp_path / "data.npz", X=X, y=y, X_test=X_test)
    whole = make_network(3, 20, "tanh", "ntk", seed=13)
    single = whole.train(X, y, 0.05, STEPS, EVERY, X_test, loss="mean")
    state = TrainingState(make_network(3, 20, "tanh", "ntk", seed=13), 0.05, "mean", EVERY)
    state.train(X, y, HALF, X_test)
    state.save(tmp_path / "state.npz")
    script = textwrap.dedent(f"""
        import numpy as np
        from widenet.io import TrainingState
        data = np.load("data.npz")
        state = TrainingState.load("state.npz")
        state.train(data["X"], data["y"], {STEPS - HALF}, data["X_test"])
        state.save("done.npz")
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)
    done = TrainingState.load(tmp_path / "done.npz")
    assert_same_network(done.network, whole)
    assert_same_records(done.history, single)


def test_training_state_without_history_and_with_zero_steps(tmp_path):
    X, y, _ = random_data(14, 5, 2)
    state = TrainingState(make_network(2, 4, seed=15), lr=0.01, keep_history=False)
    assert state.history is None
    result = state.train(X, y, 7)
    np.testing.assert_array_equal(result.steps, np.arange(8))
    assert state.history is None and state.steps_done == 7
    loaded = TrainingState.load(state.save(tmp_path / "state.npz"))
    assert loaded.history is None and loaded.steps_done == 7 and not loaded.keep_history
    assert_same_network(loaded.network, state.network)

    state = TrainingState(make_network(2, 4, seed=15), lr=0.01)
    state.train(X, y, 0)
    np.testing.assert_array_equal(state.history.steps, [0])
    state.train(X, y, 0)  # the repeated record of step 0 is kept once
    np.testing.assert_array_equal(state.history.steps, [0])
    assert_same_records(TrainingState.load(state.save(tmp_path / "zero.npz")).history, state.history)


def test_training_state_checks_its_arguments():
    net = make_network(2, 4, seed=16)
    X, y, X_test = random_data(17, 5, 2)
    with pytest.raises(TypeError, match="network: expected a widenet.ShallowNetwork, Network or ShallowEnsemble"):
        TrainingState("net", 0.1)
    with pytest.raises(ValueError, match="lr"):
        TrainingState(net, -1.0)
    with pytest.raises(ValueError, match="loss"):
        TrainingState(net, 0.1, loss="max")
    with pytest.raises(ValueError, match="record_every"):
        TrainingState(net, 0.1, record_every=0)
    with pytest.raises(TypeError, match="keep_history"):
        TrainingState(net, 0.1, keep_history="yes")
    state = TrainingState(net, 0.01)
    state.train(X, y, 2, X_test)
    with pytest.raises(ValueError, match="X_test: the history records outputs at 4 test points; got none"):
        state.train(X, y, 2)
    with pytest.raises(ValueError, match="X_test: the history records outputs at 4 test points; got 3"):
        state.train(X, y, 2, X_test[:3])
    assert state.steps_done == 2


# --- damaged and foreign files ------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    """A saved training state of an ensemble (the file with the most entries)."""
    X, y, X_test = random_data(18, 5, 2)
    state = TrainingState(ShallowEnsemble(2, 2, 3, bias_var=0.5, seed=19), lr=0.01, record_every=2)
    state.train(X, y, 5, X_test)
    return state.save(tmp_path / "state.npz")


def entries_of(path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def rewritten(path, change, name="changed.npz"):
    """A copy of the file at ``path`` with ``change(entries)`` applied to its entries."""
    entries = entries_of(path)
    change(entries)
    target = os.path.join(os.path.dirname(path), name)
    with open(target, "wb") as file:
        np.savez(file, **entries)
    return target


def assert_refused(path, message, error=ValueError, loader=load):
    with pytest.raises(error, match=message) as raised:
        loader(path)
    assert str(path) in str(raised.value)


def test_truncated_files_are_refused(saved):
    data = Path(saved).read_bytes()
    for cut in (0, 1, 4, 30, 100, len(data) // 4, len(data) // 2, len(data) - 100, len(data) - 22, len(data) - 1):
        target = Path(f"{saved}.{cut}")
        target.write_bytes(data[:cut])
        message = "the file is empty" if cut == 0 else "not a widenet file: a truncated or corrupt .npz"
        assert_refused(target, message)


def test_corrupt_files_are_refused(saved):
    data = bytearray(Path(saved).read_bytes())
    data[len(data) // 3] ^= 0x01  # one bit inside an entry: the archive's checksum catches it
    Path(saved).write_bytes(bytes(data))
    assert_refused(saved, "truncated or corrupt .npz archive: Bad CRC-32")


def test_foreign_files_are_refused(tmp_path, saved):
    random_file = tmp_path / "random.bin"
    random_file.write_bytes(np.random.default_rng(20).bytes(5000))
    assert_refused(random_file, "not a widenet file: not an .npz archive")
    np.save(tmp_path / "array.npy", np.zeros(3))
    assert_refused(tmp_path / "array.npy", "a .npy file of one array")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    assert_refused(tmp_path / "other.npz", "not a widenet file \\(no 'format', 'format_version', 'widenet_version', "
                                           "'config' entries\\)")
    with zipfile.ZipFile(tmp_path / "text.zip", "w") as archive:
        archive.writestr("format.npy", "not an array")
    assert_refused(tmp_path / "text.zip", "not a widenet file \\(entry 'format' is not a .npy array\\)")
    pickled = rewritten(saved, lambda e: e.update(config=np.array([{"a": 1}], dtype=object)), "pickled.npz")
    assert_refused(pickled, "entry 'config' holds Python objects")  # never unpickled


@pytest.mark.parametrize("key", ["U", "c0", "history_losses", "history_test_outputs", "config", "format_version"])
def test_a_missing_entry_is_named(saved, key):
    path = rewritten(saved, lambda entries: entries.pop(key))
    assert_refused(path, f"missing '{key}'|no '{key}' entry")


def test_an_extra_entry_is_named(saved):
    assert_refused(rewritten(saved, lambda e: e.update(extra=np.zeros(2))), "entries: unexpected 'extra'")


@pytest.mark.parametrize("key, value, message", [
    ("U", np.zeros((2, 3, 3)), r"entry 'U': expected shape \(2, 3, 2\), got \(2, 3, 3\)"),
    ("b0", np.zeros((3, 3)), r"entry 'b0': expected shape \(2, 3\), got \(3, 3\)"),
    ("c", np.zeros(()), r"entry 'c': expected shape \(2,\), got \(\)"),
    ("v", np.zeros((2, 3), np.float32), "entry 'v': expected dtype float64, got float32"),
    ("history_steps", np.arange(4.0), "entry 'history_steps': expected dtype int64, got float64"),
    ("history_steps", np.array([0, 2, 2, 5]), "expected increasing step indices"),
    ("history_steps", np.array([0, 2, 4, 6]), "ending at steps_done = 5"),
    ("history_test_outputs", np.zeros((2, 4, 3)), r"expected shape \(2, 4, 4\)"),
    ("format", np.array("widenet.Model"), "format 'widenet.Model' is not one of"),
    ("format", np.array(["widenet.TrainingState"]), "entry 'format': expected a 0-d string"),
    ("format_version", np.array(2), r"format version 2 \(written by widenet .*\); this widenet reads version 1"),
    ("format_version", np.array(1.0), "entry 'format_version': expected a 0-d integer"),
    ("config", np.array("{not json"), "entry 'config': not valid JSON"),
    ("config", np.array("[1, 2]"), "entry 'config': expected a JSON object"),
])
def test_wrong_entries_are_named(saved, key, value, message):
    assert_refused(rewritten(saved, lambda e: e.update({key: value})), message)


@pytest.mark.parametrize("key, index", [("U", (1, 2, 0)), ("c0", (0,)), ("history_losses", (1, 2)),
                                        ("history_test_outputs", (0, 0, 3))])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused(saved, key, index, bad):
    def spoil(entries):
        entries[key] = entries[key].copy()
        entries[key][index] = bad
    assert_refused(rewritten(saved, spoil), f"entry '{key}': contains NaN or Inf")


def _config_change(change):
    def apply(entries):
        config = json.loads(str(entries["config"]))
        change(config)
        entries["config"] = np.array(json.dumps(config))
    return apply


@pytest.mark.parametrize("change, message", [
    (lambda c: c["network"].update(width=0), "config: width: expected an integer >= 1"),
    (lambda c: c["network"].update(width=3.0), "config: width: expected an integer"),
    (lambda c: c["network"].update(activation="swish"), "config: activation: expected one of"),
    (lambda c: c["network"].update(dtype="float16"), "config: dtype: expected numpy.float32 or numpy.float64"),
    (lambda c: c["network"].update(weight_var=-1), "config: weight_var"),
    (lambda c: c["network"].pop("distribution"), "config 'network': missing 'distribution'"),
    (lambda c: c["network"].update(seed=3), "config 'network': unexpected 'seed'"),
    (lambda c: c.update(network=[1]), "config 'network': expected a JSON object"),
    (lambda c: c.update(size=0), "config: size: expected an integer >= 1"),
    (lambda c: c.pop("training"), "config: missing 'training'"),
    (lambda c: c["training"].update(lr=0), "config: lr: expected a finite positive number"),
    (lambda c: c["training"].update(loss="max"), "config: loss: expected one of"),
    (lambda c: c["training"].update(steps_done=6), "ending at steps_done = 6"),
    (lambda c: c["training"].update(keep_history=False), "records: expected null when keep_history is false"),
    (lambda c: c["training"].update(keep_history=1), "keep_history: expected true or false"),
    (lambda c: c["training"].update(records=None, test_points=None), "unexpected 'history_distances'"),
    (lambda c: c["training"].update(records=None), "test_points: expected null without a history"),
    (lambda c: c["training"].update(test_points=None), "unexpected 'history_test_outputs'"),
    (lambda c: c["network"].update(width=4), r"entry 'U': expected shape \(2, 4, 2\)"),
])
def test_wrong_configurations_are_named(saved, change, message):
    assert_refused(rewritten(saved, _config_change(change)), message)


def test_non_finite_numbers_in_the_configuration_are_refused(saved):
    def change(entries):
        entries["config"] = np.array(str(entries["config"]).replace('"lr": 0.01', '"lr": NaN'))
    assert_refused(rewritten(saved, change), "entry 'config': not valid JSON \\(NaN is not a finite number\\)")


def test_a_file_of_another_kind_is_named(tmp_path, saved):
    network_file = make_network(2, 3, seed=21).save(tmp_path / "net.npz")
    ensemble_file = ShallowEnsemble(2, 2, 3, seed=21).save(tmp_path / "ensemble.npz")
    assert_refused(saved, "holds a widenet.TrainingState, not a widenet.ShallowNetwork", loader=ShallowNetwork.load)
    assert_refused(ensemble_file, "holds a widenet.ShallowEnsemble, not a widenet.ShallowNetwork",
                   loader=ShallowNetwork.load)
    assert_refused(network_file, "holds a widenet.ShallowNetwork, not a widenet.ShallowEnsemble",
                   loader=ShallowEnsemble.load)
    assert_refused(network_file, "holds a widenet.ShallowNetwork, not a widenet.TrainingState",
                   loader=TrainingState.load)
    # a network file that claims to be an ensemble: its entries have the wrong shapes
    claims = rewritten(network_file, lambda e: e.update(format=np.array("widenet.ShallowEnsemble")))
    assert_refused(claims, "config: size: expected a number of networks for a widenet.ShallowEnsemble, got None")


def test_wrong_argument_types_and_missing_files(tmp_path):
    net = make_network(2, 3, seed=22)
    for call in (lambda: load(3), lambda: ShallowNetwork.load(None), lambda: net.save(5)):
        with pytest.raises(TypeError, match="path: expected a file name"):
            call()
    with pytest.raises(TypeError, match="item: expected a widenet.ShallowNetwork, Network, ShallowEnsemble, DeepEnsemble or TrainingState"):
        widenet.io.save(net.params, tmp_path / "params.npz")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


def test_what_cannot_be_loaded_is_not_saved(tmp_path):
    """A network with NaN parameters is refused, and an existing file at the path is left
    as it was (the write goes to a temporary file that replaces the path only at the end)."""
    good = make_network(2, 3, seed=23)
    path = good.save(tmp_path / "net.npz")
    before = Path(path).read_bytes()
    bad = make_network(2, 3, seed=24)  # Parameters refuse NaN and are read-only: spoil the private field
    spoiled = np.array(bad.params.U)
    spoiled[0, 0] = np.nan
    bad.params._U = spoiled
    with pytest.raises(ValueError, match=f"cannot save to {path}: entry 'U': contains NaN or Inf"):
        bad.save(path)
    assert Path(path).read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]
    with pytest.raises(ValueError, match="cannot save"):
        bad.save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["net.npz"]


def test_loading_is_guarded_by_the_memory_limit(saved):
    _memory.set_memory_limit(100)
    try:
        with pytest.raises(_memory.MemoryLimitError, match=f"loading {saved}: would allocate"):
            load(saved)
    finally:
        _memory.set_memory_limit(None)
    assert isinstance(load(saved), TrainingState)
