"""Saving and loading: :class:`TrainingState`, :func:`widenet.io.save` and :func:`load`.

A :class:`TrainingState` is a run that can be stopped, saved and resumed; :func:`widenet.io.save` and
:func:`load` take any widenet object.

The file format is described in :mod:`widenet._archive`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._archive import FORMAT_VERSION, STATE_FORMAT
from widenet._types import Backend, FloatArray, Loss
from widenet.network.deep import Network as DeepNetwork
from widenet.network.deep_ensemble import DeepEnsemble
from widenet.network.ensemble import ShallowEnsemble
from widenet.network.results import TrainingResult
from widenet.network.shallow import ShallowNetwork

__all__ = ["FORMAT_VERSION", "TrainingState", "load", "save"]

PathLike = Union[str, os.PathLike]
Network = Union[ShallowNetwork, DeepNetwork, ShallowEnsemble]


class TrainingState:
    """A gradient-descent run that can be stopped, saved and resumed bit for bit.

    Holds what resuming needs: the network (current and initial parameters and its
    configuration), the step size, the loss scaling, the recording period, the number of
    steps done and, unless ``keep_history=False``, the records of the run so far. The
    data are the caller's: pass the same ``X``, ``y`` (and ``X_test``) to every
    :meth:`train`.

    Parameters
    ----------
    network : ShallowNetwork, Network or ShallowEnsemble
        Trained in place (not copied).
    lr : float
        The step ``h``.
    loss : {"sum", "mean", "half_sum"}
        The loss scaling, as in :meth:`ShallowNetwork.train`.
    record_every : int
        The recording period. The history of several pieces equals the records of one run
        of all the steps when each piece's length is a multiple of ``record_every``.
    keep_history : bool
        Keep the records of every piece in :attr:`history`.

    Attributes
    ----------
    steps_done : int
        Gradient-descent steps taken through this state.
    history : TrainingResult or None
        The records so far, at the step indices ``0 .. steps_done`` counted from the
        start of the run (None before the first :meth:`train` or without history).

    Examples
    --------
    >>> import os, tempfile, numpy as np, widenet
    >>> net, X, y = widenet.ShallowNetwork(2, 16, seed=0), np.eye(2), [0.5, -0.5]
    >>> state = widenet.TrainingState(net, lr=0.01, loss="mean")
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     run = state.train(X, y, steps=50)
    ...     resumed = widenet.TrainingState.load(state.save(os.path.join(directory, "run.npz")))
    >>> run = resumed.train(X, y, steps=50)  # as if 100 steps had run at once
    >>> resumed.steps_done
    100
    """

    def __init__(self, network: Network, lr: float, loss: Loss = "sum", record_every: int = 1,
                 keep_history: bool = True) -> None:
        if not isinstance(network, (ShallowNetwork, DeepNetwork, ShallowEnsemble)):
            raise TypeError(f"network: expected a widenet.ShallowNetwork, Network or ShallowEnsemble, got "
                            f"{type(network).__name__}")
        keep_history = check.boolean(keep_history, "keep_history")
        self._network = network
        self._outputs: int = getattr(network, "outputs", 1)
        self._lr = check.positive_real(lr, "lr")
        self._loss = check.choice(loss, "loss", check.LOSS_NAMES)
        self._record_every = check.integer(record_every, "record_every", 1)
        self._keep_history = bool(keep_history)
        self._steps_done = 0
        self._history: Optional[TrainingResult] = None

    @property
    def network(self) -> Network:
        """The network (or ensemble) being trained."""
        return self._network

    @property
    def lr(self) -> float:
        """The step size."""
        return self._lr

    @property
    def loss(self) -> Loss:
        """The loss scaling."""
        return self._loss

    @property
    def record_every(self) -> int:
        """The recording period."""
        return self._record_every

    @property
    def keep_history(self) -> bool:
        """Whether the records are kept."""
        return self._keep_history

    @property
    def steps_done(self) -> int:
        """Steps taken so far."""
        return self._steps_done

    @property
    def history(self) -> Optional[TrainingResult]:
        """The records so far, or None."""
        return self._history

    def train(self, X: ArrayLike, y: ArrayLike, steps: int, X_test: Optional[ArrayLike] = None,
              backend: Backend = "cpp") -> TrainingResult:
        """Run ``steps`` more steps of gradient descent (see :meth:`ShallowNetwork.train`).

        Returns this piece's records with step indices counted from the start of the run
        (``steps_done`` before the call, ..., ``steps_done`` after it) and appends them to
        :attr:`history` (the first record of the piece, the point where the previous one
        stopped, is kept once).
        """
        steps = check.integer(steps, "steps", 0)
        test_points = None if X_test is None else self._network.check_inputs(X_test, "X_test")
        if self._history is not None:
            recorded = _test_points(self._history, self._outputs)
            given = None if test_points is None else test_points.shape[0]
            if recorded != given:
                raise ValueError(f"X_test: the history records outputs at {recorded or 'no'} test points; "
                                 f"got {'none' if given is None else given} (pass the X_test of the earlier pieces)")
        self._check_memory(X, test_points, steps, backend)
        # The network's lock, held from the run to the count: runs from several threads take
        # turns, and steps_done and the history always describe the network's parameters.
        with self._network.training():
            result = self._network.train(X, y, self._lr, steps, self._record_every, test_points, self._loss,
                                         check.backend(backend))
            result = replace(result, steps=result.steps + np.int64(self._steps_done))
            if self._keep_history:
                self._history = result if self._history is None else _concatenate(self._history, result,
                                                                                    self._outputs)
            self._steps_done += steps
        return result

    def _check_memory(self, X: ArrayLike, X_test: Optional[FloatArray], steps: int, backend: object) -> None:
        """Guard the memory of :meth:`train`: the network's training, then the history joined with the piece.

        The joined history is new while the old one and the piece are still held.
        """
        network = self._network
        points = network.check_inputs(X)
        training = network.training_blocks(points, X_test, check.integer(steps, "steps", 0), self._record_every,
                                            check.backend(backend))
        piece = _memory.recorded_count(steps, self._record_every)
        joined = piece + self._history.steps.size if self._keep_history and self._history is not None else 0
        per_row = (2 + (0 if X_test is None else X_test.shape[0] * self._outputs)) * getattr(network, "size", 1)
        # joining copies the piece without its first record, next to the piece itself
        joining: list[_memory.Block] = [("records of the piece", (piece, per_row), np.float64, 2 if joined else 1),
                                        ("the history joined with them", (joined, per_row), np.float64, 1)]
        _memory.require("TrainingState.train", _memory.peak(training, joining),
                        _memory.TRAINING_ALTERNATIVE + " Or keep_history=False.")

    def save(self, path: PathLike) -> str:
        """Write the state to ``path`` (one ``.npz`` file, see :mod:`widenet._archive`); return the path.

        A run of :meth:`train` in another thread finishes first: the file holds the
        parameters and the step count of one moment.
        """
        # read under the network's lock: never between a run and its count
        with self._network.training():
            kind, config, arrays = self._contents()
        return _archive.save(path, kind, config, arrays, _CONFIG_CHECKS)

    def _contents(self) -> tuple[str, _archive.Config, _archive.Entries]:
        """Return ``(format, config, arrays)`` of the state's file."""
        network = self._network
        if isinstance(network, ShallowEnsemble):
            _, config, arrays = _archive.model_contents(network.config, network.params, network.initial_params)
        else:
            _, config, arrays = network.archive_contents()
        history = self._history
        config["training"] = {
            "lr": self._lr, "loss": self._loss, "record_every": self._record_every, "steps_done": self._steps_done,
            "keep_history": self._keep_history, "records": None if history is None else int(history.steps.size),
            "test_points": None if history is None else _test_points(history, self._outputs)}
        if history is not None:
            arrays.update(history_steps=history.steps, history_losses=history.losses,
                          history_distances=history.distances)
            if history.test_outputs is not None:
                arrays["history_test_outputs"] = history.test_outputs
        return STATE_FORMAT, config, arrays

    @classmethod
    def load(cls, path: PathLike) -> TrainingState:
        """Return the training state saved in ``path``, checked entirely before it is built."""
        stored = _archive.read(path, _CONFIG_CHECKS, STATE_FORMAT)
        return cls.from_stored(stored, _model(stored))

    @classmethod
    def from_stored(cls, stored: _archive.Stored, network: Network) -> TrainingState:
        """Return the state of a checked file (:func:`widenet._archive.read`).

        It resumes ``network``, the network (or ensemble) of that file.
        """
        training = stored.training
        assert training is not None, "read() checks that a state file has a training configuration"
        state = cls(network, training["lr"], training["loss"], training["record_every"], training["keep_history"])
        state._steps_done = training["steps_done"]
        if training["records"] is not None:
            entries = stored.entries
            state._history = TrainingResult(entries["history_steps"], entries["history_losses"],
                                            entries["history_distances"], entries.get("history_test_outputs"),
                                            training["loss"], training["lr"])
        return state

    def __repr__(self) -> str:
        return (f"TrainingState({self._network!r}, lr={self._lr!r}, loss={self._loss!r}, "
                f"record_every={self._record_every}, steps_done={self._steps_done})")


def _test_points(history: TrainingResult, outputs: int) -> Optional[int]:
    """Return the number of test points whose outputs ``history`` records (of ``outputs`` numbers each), or None."""
    if history.test_outputs is None:
        return None
    return int(history.test_outputs.shape[-1 if outputs == 1 else -2])


def _concatenate(history: TrainingResult, piece: TrainingResult, outputs: int = 1) -> TrainingResult:
    """Return ``history`` followed by ``piece`` without its first record (``history``'s last).

    The test outputs have a last axis of ``outputs`` when above 1.
    """
    def join(before: NDArray[Any], after: NDArray[Any], axis: int) -> NDArray[Any]:
        return np.concatenate([before, np.delete(after, 0, axis=axis)], axis=axis)

    test_outputs = None
    if history.test_outputs is not None and piece.test_outputs is not None:
        test_outputs = join(history.test_outputs, piece.test_outputs, -2 if outputs == 1 else -3)
    return replace(history, steps=join(history.steps, piece.steps, 0),
                   losses=join(history.losses, piece.losses, -1),
                   distances=join(history.distances, piece.distances, -1),
                   test_outputs=test_outputs)


Saved = Union[ShallowNetwork, DeepNetwork, ShallowEnsemble, DeepEnsemble, TrainingState]

# The check of the stored configuration, by format: the members of an ensemble or a state are shallow.
_CONFIG_CHECKS: _archive.ConfigChecks = {
    _archive.NETWORK_FORMAT: ShallowNetwork.checked_config, _archive.DEEP_FORMAT: DeepNetwork.checked_config,
    _archive.ENSEMBLE_FORMAT: ShallowNetwork.checked_config, _archive.DEEP_ENSEMBLE_FORMAT: DeepNetwork.checked_config,
    STATE_FORMAT: ShallowNetwork.checked_config}


def save(item: Saved, path: PathLike) -> str:
    """Write a network, an ensemble or a training state to ``path``; return the path.

    ``item`` is a :class:`~widenet.ShallowNetwork`, :class:`~widenet.Network`,
    :class:`~widenet.ShallowEnsemble`, :class:`~widenet.DeepEnsemble` or :class:`TrainingState`,
    written by its ``save`` method (see :mod:`widenet._archive`).
    """
    if not isinstance(item, (ShallowNetwork, DeepNetwork, ShallowEnsemble, DeepEnsemble, TrainingState)):
        raise TypeError(f"item: expected a widenet.ShallowNetwork, Network, ShallowEnsemble, DeepEnsemble or "
                        f"TrainingState, got {type(item).__name__}")
    return item.save(path)


def _model(stored: _archive.Stored) -> Network:
    """Return the network or the ensemble of a checked file."""
    if _archive.holds_deep_network(stored.kind, {"network": stored.network}):
        return DeepNetwork.from_stored(stored)
    return ShallowNetwork.from_stored(stored) if stored.size is None else ShallowEnsemble.from_stored(stored)


def _build(stored: _archive.Stored) -> Saved:
    """Return what a checked file holds: a network, an ensemble or a training state."""
    if stored.kind == _archive.DEEP_ENSEMBLE_FORMAT:
        return DeepEnsemble.from_stored(stored)
    model = _model(stored)
    if stored.kind != STATE_FORMAT:
        return model
    return TrainingState.from_stored(stored, model)


def load(path: PathLike) -> Saved:
    """Return whatever :func:`widenet.io.save` wrote to ``path``.

    That is a :class:`~widenet.ShallowNetwork`, a :class:`~widenet.Network`, a
    :class:`~widenet.ShallowEnsemble` or a :class:`TrainingState`.

    The file is read and checked completely before anything is built (see
    :func:`widenet._archive.read` for every refusal: ValueError naming the file and the
    problem, FileNotFoundError, IsADirectoryError, TypeError for a ``path`` that is not a
    file name).

    Parameters
    ----------
    path : str or os.PathLike
        The file, as given to ``save``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 16, seed=0)
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     path = net.save(os.path.join(directory, "net.npz"))
    ...     copy = widenet.load(path)
    >>> bool(np.array_equal(copy.forward(np.eye(2)), net.forward(np.eye(2))))
    True
    """
    return _build(_archive.read(path, _CONFIG_CHECKS))
