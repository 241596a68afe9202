"""The file format of saved networks, ensembles and training states: one ``.npz`` file each.

This module knows the format and its checks, not the classes: each class builds itself
from what :func:`read` returns (:mod:`widenet.io` for the overview).

The file is numpy's ``.npz`` (a zip archive of ``.npy`` arrays, written by ``np.savez``
and read with ``allow_pickle=False``: it holds no Python objects, only arrays). Format
version 1 has these entries:

``format``
    0-d string: what the file holds, ``"widenet.ShallowNetwork"``, ``"widenet.Network"``
    (a network of any depth), ``"widenet.ShallowEnsemble"``, ``"widenet.DeepEnsemble"`` or
    ``"widenet.TrainingState"``.
``format_version``
    0-d int64: ``1``. A file of a later version is refused (not guessed at).
``widenet_version``
    0-d string: the widenet that wrote the file (informative).
``config``
    0-d string, a JSON object: ``"network"``, the members' configuration
    (:attr:`ShallowNetwork.config`: input_dim, width, activation, parametrization, the four
    variances, distribution, dtype, and ``outputs`` only for a network of ``k > 1``
    outputs, so that files of one output are as they were); ``"size"``, the number of networks of an ensemble
    (``null`` for one network); for a training state also ``"training"``: ``lr``, ``loss``,
    ``record_every``, ``steps_done``, ``keep_history``, ``records`` (the recorded steps in
    the history, or ``null`` without history) and ``test_points`` (``m_test`` of the
    recorded test outputs, or ``null``). A ``widenet.Network``'s ``"network"`` (and a
    ``widenet.DeepEnsemble``'s) is :attr:`Network.config`: input_dim, widths, activation,
    parametrization, the four variances, bias, multipliers, distribution, dtype.
``U, b, v, c`` and ``U0, b0, v0, c0``
    The current and the initial parameters in the network's dtype: shapes ``(n, d)``,
    ``(n,)``, ``(n,)``, ``()``, with a leading axis ``R`` for an ensemble; for ``k``
    outputs ``v`` is ``(k, n)`` and ``c`` ``(k,)``.
``W1, ..., WL, v`` and ``b1, ..., bL, c``, and the same with the suffix ``0``
    A ``widenet.Network``'s current and initial parameters (also in a training state of
    one, whose ``"network"`` is then that network's configuration): ``Wl`` of shape
    ``(n_l, n_(l-1))`` with ``n_0 = d``, ``v`` ``(n_L,)``, ``bl`` ``(n_l,)``, ``c`` ``()``;
    no biases for a network without them. A ``widenet.DeepEnsemble``'s have a leading axis ``R``.
``history_steps, history_losses, history_distances`` and ``history_test_outputs``
    A training state's records (only those the configuration announces): int64 ``(k,)``
    step indices counted from the start of the run, float64 ``(..., k)`` losses and
    distances, ``(..., k, m_test)`` test outputs in the network's dtype (``(..., k, m_test,
    outputs)`` for a network of several outputs).

Floats are stored exactly (arrays bit for bit, the configuration's floats by their shortest
round-trip representation), so a loaded network computes exactly what the saved one did.
Loading checks the whole file before building anything; every problem raises ValueError
naming the file and the problem (TypeError for a ``path`` of the wrong type). Saving
checks the same (a network with NaN parameters is refused) and writes a temporary file
that replaces ``path`` only once complete (keeping its permissions; through a symbolic
link, its target is replaced). Loading reads regular files only (a FIFO or a device is
refused without blocking), checks each array's declared size against the file before
allocating it, refuses entries that appear twice and a configuration nested deeper than
a few levels.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import numpy as np
from numpy.typing import NDArray

from widenet import _files
from widenet import _validation as check
from widenet._native import _core
from widenet._npz import read_npz

FORMAT_VERSION = 1
NETWORK_FORMAT = "widenet.ShallowNetwork"
DEEP_FORMAT = "widenet.Network"
ENSEMBLE_FORMAT = "widenet.ShallowEnsemble"
DEEP_ENSEMBLE_FORMAT = "widenet.DeepEnsemble"
STATE_FORMAT = "widenet.TrainingState"
FORMATS = (NETWORK_FORMAT, DEEP_FORMAT, ENSEMBLE_FORMAT, DEEP_ENSEMBLE_FORMAT, STATE_FORMAT)
DEEP_FORMATS = (DEEP_FORMAT, DEEP_ENSEMBLE_FORMAT)

_HEADER = ("format", "format_version", "widenet_version", "config")
_PARAMETERS = ("U", "b", "v", "c", "U0", "b0", "v0", "c0")
_NETWORK_FIELDS = ("input_dim", "width", "activation", "parametrization", "weight_var", "bias_var", "output_var",
                   "output_bias_var", "distribution", "dtype")
_OPTIONAL_NETWORK_FIELDS = ("outputs",)  # present only for a network (shallow or deep) of several outputs
_DEEP_FIELDS = ("input_dim", "widths", "activation", "parametrization", "weight_var", "bias_var", "output_var",
                "output_bias_var", "bias", "multipliers", "distribution", "dtype")
_TRAINING_FIELDS = ("lr", "loss", "record_every", "steps_done", "keep_history", "records", "test_points")

PathLike = Union[str, os.PathLike]
# A configuration: a JSON object.
Config = dict[str, Any]
# The network class's check of a stored configuration: the configuration as it stores it.
ConfigCheck = Callable[[Config], Config]
# The checks of the network classes by format (the network of an ensemble or a state is shallow).
ConfigChecks = dict[str, ConfigCheck]
# A file's arrays by entry name.
Entries = dict[str, NDArray[Any]]
# ``(U, b, v, c)`` of a network, or stacked on a leading axis for an ensemble.
ParameterBlocks = tuple[NDArray[Any], NDArray[Any], NDArray[Any], Union[float, NDArray[Any]]]


def file_name_of(path: object, name: str = "path") -> str:
    """Return the file name ``path`` (a str or an os.PathLike) as a str; TypeError for anything else."""
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        return os.fsdecode(path) if isinstance(path, bytes) else path
    raise TypeError(f"{name}: expected a file name (str or os.PathLike), got {type(path).__name__}")


def _parameter_entries(params: ParameterBlocks, initial: ParameterBlocks) -> Entries:
    """Return the entries of the current and the initial parameters (``c`` as an array)."""
    entries: Entries = {}
    for suffix, (U, b, v, c) in (("", params), ("0", initial)):
        dtype = U.dtype
        entries.update({"U" + suffix: U, "b" + suffix: b, "v" + suffix: v, "c" + suffix: np.asarray(c, dtype=dtype)})
    return entries


def model_contents(config: Config, params: ParameterBlocks, initial: ParameterBlocks) -> tuple[str, Config, Entries]:
    """Return ``(format, config, arrays)`` of a network or of an ensemble.

    A network's ``config`` has no ``size``; an ensemble's has, and its ``params`` and
    ``initial`` are stacked.
    """
    network_config = dict(config)
    size = network_config.pop("size", None)
    kind = NETWORK_FORMAT if size is None else ENSEMBLE_FORMAT
    return kind, {"network": network_config, "size": size}, _parameter_entries(params, initial)


def deep_layer_names(depth: int, bias: bool) -> list[tuple[str, Optional[str]]]:
    """Return the entry names ``(Wl, bl)`` of a deep network's layers, the readout's ``(v, c)`` last."""
    pairs = [(f"W{k}", f"b{k}") for k in range(1, depth + 1)] + [("v", "c")]
    return [(weight, bias_name if bias else None) for weight, bias_name in pairs]


def deep_contents(config: Config, layers: Iterable[tuple[Any, Any]],
                  initial: Iterable[tuple[Any, Any]]) -> tuple[str, Config, Entries]:
    """Return ``(format, config, arrays)`` of a deep network, ``layers`` as ``((W^1, b^1), ..., (v, c))``.

    Or of a deep ensemble: its ``config`` has ``size``, its layers are stacked.
    """
    entries: Entries = {}
    network_config = dict(config)
    size = network_config.pop("size", None)
    names = deep_layer_names(len(config["widths"]), config["bias"])
    for suffix, blocks in (("", layers), ("0", initial)):
        for (weight, bias), (W, b) in zip(names, blocks):
            entries[weight + suffix] = W
            if bias is not None:
                entries[bias + suffix] = np.asarray(b, dtype=W.dtype)
    return DEEP_FORMAT if size is None else DEEP_ENSEMBLE_FORMAT, {"network": network_config, "size": size}, entries


def save(path: PathLike, kind: str, config: Config, arrays: Entries,
         check_network: Union[ConfigCheck, ConfigChecks]) -> str:
    """Write one widenet file of format ``kind`` to ``path``, atomically.

    A temporary file in the same directory replaces ``path`` once complete and on disk, so
    ``path`` is never left half-written. An existing file keeps its permissions; a symbolic
    link stays one (the file it names is replaced).

    Raises ValueError, and writes nothing, for content that :func:`read` would refuse
    (NaN or Inf parameters or records). Returns ``path`` as a string (used as given: no
    ``.npz`` suffix is added).
    """
    file_name = file_name_of(path)
    text = json.dumps(config, allow_nan=False, sort_keys=True)
    entries = {"format": np.array(kind), "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
               "widenet_version": np.array(_core.build_info()["version"]), "config": np.array(text), **arrays}
    _check_contents(f"cannot save to {file_name}", entries, check_network)
    with _files.atomic_write(file_name) as stream:
        np.savez(stream, **entries)  # type: ignore[arg-type]  # arrays by name; none is called allow_pickle
    return file_name


# -- loading ---------------------------------------------------------------------------------


def _string(entries: Entries, key: str, where: str) -> str:
    """Return the entry ``key``, a 0-d string, as a str."""
    value = entries[key]
    if value.shape != () or value.dtype.kind != "U":
        raise ValueError(f"{where}: entry {key!r}: expected a 0-d string, got dtype {value.dtype} and shape "
                         f"{value.shape}")
    return str(value)


def _header(where: str, entries: Entries) -> tuple[str, Config]:
    """Return ``(format, config)`` after checking the header entries."""
    missing = [key for key in _HEADER if key not in entries]
    if missing:
        raise ValueError(f"{where}: not a widenet file (no {', '.join(map(repr, missing))} "
                         f"entr{'y' if len(missing) == 1 else 'ies'})")
    kind = _string(entries, "format", where)
    if kind not in FORMATS:
        raise ValueError(f"{where}: format {kind!r} is not one of {', '.join(FORMATS)}")
    version = entries["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{where}: entry 'format_version': expected a 0-d integer, got dtype {version.dtype} and "
                         f"shape {version.shape}")
    if int(version) != FORMAT_VERSION:
        written_by = _string(entries, "widenet_version", where)
        raise ValueError(f"{where}: format version {int(version)} (written by widenet {written_by}); this widenet "
                         f"reads version {FORMAT_VERSION}")
    _string(entries, "widenet_version", where)
    try:
        config = _files.parse_json(_string(entries, "config", where))
    except ValueError as error:
        raise ValueError(f"{where}: entry 'config': not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where}: entry 'config': expected a JSON object, got {type(config).__name__}")
    return kind, config


def _exact_keys(where: str, what: str, found: Iterable[str], expected: Iterable[str]) -> None:
    """Refuse ``found`` keys that are not exactly the ``expected`` ones, naming the difference."""
    found_keys, expected_keys = set(found), set(expected)
    missing, extra = sorted(expected_keys - found_keys), sorted(found_keys - expected_keys)
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"unexpected {', '.join(map(repr, extra))}"] if extra else [])
        raise ValueError(f"{where}: {what}: {'; '.join(parts)}")


def _optional_count(value: object, name: str, minimum: int) -> Optional[int]:
    """Return ``value``, None or an integer at least ``minimum``."""
    return None if value is None else check.integer(value, name, minimum)


def _check_config(where: str, kind: str, config: Config,
                  check_network: Union[ConfigCheck, ConfigChecks]) -> tuple[Config, Optional[int], Optional[Config]]:
    """Return ``(network, size, training)``, the checked configuration.

    ``size`` is None for one network, ``training`` None but for a training state.
    """
    _exact_keys(where, "config", config, ("network", "size", "training") if kind == STATE_FORMAT else
                ("network", "size"))
    deep = holds_deep_network(kind, config)
    network_fields = _DEEP_FIELDS if deep else _NETWORK_FIELDS
    for part, fields in (("network", network_fields), ("training", _TRAINING_FIELDS)):
        if part in config:
            if not isinstance(config[part], dict):
                raise ValueError(f"{where}: config {part!r}: expected a JSON object, got "
                                 f"{type(config[part]).__name__}")
            optional = [key for key in _OPTIONAL_NETWORK_FIELDS if key in config[part]] if part == "network" else []
            _exact_keys(where, f"config {part!r}", config[part], (*fields, *optional))
    try:
        checks = check_network if isinstance(check_network, dict) else {DEEP_FORMAT if deep else kind: check_network}
        network = checks[DEEP_FORMAT if deep else kind](config["network"])
        size = _optional_count(config["size"], "size", 1)
        # one network, or a training state of a deep one (a training state holds no deep ensemble)
        single = kind in (NETWORK_FORMAT, DEEP_FORMAT) or (kind == STATE_FORMAT and deep)
        if (kind != STATE_FORMAT or deep) and (size is None) != single:
            raise ValueError(f"size: expected {'null' if single else 'a number of networks'} "
                             f"for a {kind}, got {config['size']!r}")
        training = config.get("training")
        if training is not None:
            if not isinstance(training["keep_history"], bool):
                raise TypeError(f"keep_history: expected true or false, got {training['keep_history']!r}")
            training = {"lr": check.positive_real(training["lr"], "lr"),
                        "loss": check.choice(training["loss"], "loss", check.LOSS_NAMES),
                        "record_every": check.integer(training["record_every"], "record_every", 1),
                        "steps_done": check.integer(training["steps_done"], "steps_done", 0),
                        "keep_history": training["keep_history"],
                        "records": _optional_count(training["records"], "records", 1),
                        "test_points": _optional_count(training["test_points"], "test_points", 1)}
            if training["records"] is None and training["test_points"] is not None:
                raise ValueError("test_points: expected null without a history (records is null)")
            if training["records"] is not None and not training["keep_history"]:
                raise ValueError("records: expected null when keep_history is false")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: config: {error}") from None
    return network, size, training


def holds_deep_network(kind: str, config: Config) -> bool:
    """Whether a file of ``kind`` and ``config`` holds deep networks (one, an ensemble, or a training state's)."""
    network = config.get("network")
    return kind in DEEP_FORMATS or (kind == STATE_FORMAT and isinstance(network, dict) and "widths" in network)


def _parameter_shapes(deep: bool, network: Config, lead: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Return entry name -> shape of the parameters (without the suffix of the initial ones)."""
    if not deep:
        n, d, k = network["width"], network["input_dim"], network.get("outputs", 1)
        readout = (n,) if k == 1 else (k, n)
        return {"U": lead + (n, d), "b": lead + (n,), "v": lead + readout, "c": lead + readout[:-1]}
    widths, k = network["widths"], network.get("outputs", 1)
    outs, ins = (*widths, k), (network["input_dim"], *widths)
    shapes: dict[str, tuple[int, ...]] = {}
    for (weight, bias), n_out, n_in in zip(deep_layer_names(len(widths), network["bias"]), outs, ins):
        one_output = weight == "v" and k == 1  # the readout vector and its bias a number
        shapes[weight] = lead + ((n_in,) if one_output else (n_out, n_in))
        if bias is not None:
            shapes[bias] = lead + (() if one_output else (n_out,))
    return shapes


def _expected_arrays(kind: str, network: Config, size: Optional[int],
                     training: Optional[Config]) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Return entry name -> (shape, dtype) of the arrays a file of this configuration holds."""
    dtype = np.dtype(network["dtype"])
    lead: tuple[int, ...] = () if size is None else (size,)
    shapes = _parameter_shapes("widths" in network, network, lead)
    expected: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {
        name + suffix: (shape, dtype) for name, shape in shapes.items() for suffix in ("", "0")}
    records = None if training is None else training["records"]
    if training is not None and records is not None:
        expected["history_steps"] = ((records,), np.dtype(np.int64))
        expected["history_losses"] = (lead + (records,), np.dtype(np.float64))
        expected["history_distances"] = (lead + (records,), np.dtype(np.float64))
        if training["test_points"] is not None:
            outputs = network.get("outputs", 1)
            expected["history_test_outputs"] = (lead + (records, training["test_points"]) + ((outputs,) if outputs > 1
                                                                                               else ()), dtype)
    return expected


def _check_contents(where: str, entries: Entries,
                    check_network: Union[ConfigCheck, ConfigChecks]) -> tuple[str, Config, Optional[int],
                                                                               Optional[Config]]:
    """Check everything; return ``(format, network config, size, training config)``."""
    kind, config = _header(where, entries)
    network, size, training = _check_config(where, kind, config, check_network)
    expected = _expected_arrays(kind, network, size, training)
    _exact_keys(where, "entries", entries, (*_HEADER, *expected))
    for name, (shape, dtype) in expected.items():
        array = entries[name]
        if array.dtype != dtype:
            raise ValueError(f"{where}: entry {name!r}: expected dtype {dtype}, got {array.dtype}")
        if array.shape != shape:
            raise ValueError(f"{where}: entry {name!r}: expected shape {shape}, got {array.shape}")
        if dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{where}: entry {name!r}: contains NaN or Inf")
    if training is not None and training["records"] is not None:
        steps = entries["history_steps"]
        if steps[0] < 0 or np.any(np.diff(steps) <= 0) or steps[-1] != training["steps_done"]:
            raise ValueError(f"{where}: entry 'history_steps': expected increasing step indices ending at "
                             f"steps_done = {training['steps_done']}, got {steps[0]} .. {steps[-1]}")
    return kind, network, size, training


class Stored(NamedTuple):
    """A widenet file, read and checked completely."""

    kind: str
    network: Config  # the members' configuration, as checked by the network class
    size: Optional[int]  # None for one network
    training: Optional[Config]  # a training state's configuration, None otherwise
    entries: Entries  # entry name -> array

    def parameters(self, initial: bool = False) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Return ``(U, b, v, c)``: the current parameters, or the initial ones."""
        suffix = "0" if initial else ""
        return (self.entries["U" + suffix], self.entries["b" + suffix], self.entries["v" + suffix],
                self.entries["c" + suffix])

    def layers(self, initial: bool = False) -> tuple[list[NDArray[Any]], Optional[list[NDArray[Any]]]]:
        """Return a deep network's ``(weights, biases)`` (biases None without them): current or initial.

        Stacked on a leading member axis for a deep ensemble.
        """
        suffix = "0" if initial else ""
        names = deep_layer_names(len(self.network["widths"]), self.network["bias"])
        weights = [self.entries[weight + suffix] for weight, _ in names]
        biases = [self.entries[bias + suffix] for _, bias in names if bias is not None]
        return weights, biases if self.network["bias"] else None


def read(path: PathLike, check_network: Union[ConfigCheck, ConfigChecks], expected: Optional[str] = None) -> Stored:
    """Return the widenet file in ``path`` (of format ``expected`` unless None), read and checked.

    The file is checked completely before anything is built: a file that is not an
    ``.npz`` archive, truncated or corrupt (the archive's checksums), of another kind, of
    an unknown format version, with missing or unexpected entries, wrong shapes or dtypes,
    NaN or Inf, an invalid or deeply nested configuration, an entry that appears twice or
    whose header declares more data than it holds, or a device or FIFO (refused without
    reading from it) raises ValueError naming the file and the problem. A missing file raises FileNotFoundError, a
    directory IsADirectoryError; a ``path`` that is not a file name raises TypeError.
    """
    file_name = file_name_of(path)
    entries = read_npz(file_name)
    if expected is not None:
        kind = _header(file_name, entries)[0]
        if kind != expected:
            raise ValueError(f"{file_name}: holds a {kind}, not a {expected} (widenet.load reads any widenet file)")
    return Stored(*_check_contents(file_name, entries, check_network), entries)
