"""Saving and loading: :class:`TrainingState` (a run that can be stopped, saved and
resumed), :func:`save` and :func:`load` for any widenet object.

The file format is described in :mod:`widenet._archive`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional, Union

import numpy as np

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._archive import FORMAT_VERSION, STATE_FORMAT
from widenet.network.ensemble import ShallowEnsemble
from widenet.network.results import TrainingResult
from widenet.network.shallow import ShallowNetwork

__all__ = ["FORMAT_VERSION", "TrainingState", "load", "save"]

PathLike = Union[str, os.PathLike]


class TrainingState:
    """A gradient-descent run that can be stopped, saved and resumed bit for bit.

    Holds what resuming needs: the network (current and initial parameters and its
    configuration), the step size, the loss scaling, the recording period, the number of
    steps done and, unless ``keep_history=False``, the records of the run so far. The
    data are the caller's: pass the same ``X``, ``y`` (and ``X_test``) to every
    :meth:`train`.

    Parameters
    ----------
    network : ShallowNetwork or ShallowEnsemble
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
    >>> state = widenet.TrainingState(net, lr=0.01, loss="mean")      # doctest: +SKIP
    >>> state.train(X, y, steps=500); state.save("run.npz")           # doctest: +SKIP
    >>> state = widenet.TrainingState.load("run.npz")                  # doctest: +SKIP
    >>> state.train(X, y, steps=500)  # as if 1000 steps had run at once  # doctest: +SKIP
    """

    def __init__(self, network, lr: float, loss: str = "sum", record_every: int = 1, keep_history: bool = True):
        if not isinstance(network, (ShallowNetwork, ShallowEnsemble)):
            raise TypeError(f"network: expected a widenet.ShallowNetwork or ShallowEnsemble, got "
                            f"{type(network).__name__}")
        if not isinstance(keep_history, (bool, np.bool_)):
            raise TypeError(f"keep_history: expected True or False, got {keep_history!r}")
        self._network = network
        self._lr = check.positive_real(lr, "lr")
        self._loss = check.choice(loss, "loss", check.LOSS_NAMES)
        self._record_every = check.integer(record_every, "record_every", 1)
        self._keep_history = bool(keep_history)
        self._steps_done = 0
        self._history: Optional[TrainingResult] = None

    network = property(lambda self: self._network, doc="The network (or ensemble) being trained.")
    lr = property(lambda self: self._lr, doc="The step size.")
    loss = property(lambda self: self._loss, doc="The loss scaling.")
    record_every = property(lambda self: self._record_every, doc="The recording period.")
    keep_history = property(lambda self: self._keep_history, doc="Whether the records are kept.")
    steps_done = property(lambda self: self._steps_done, doc="Steps taken so far.")
    history = property(lambda self: self._history, doc="The records so far, or None.")

    def train(self, X, y, steps: int, X_test=None, backend: str = "cpp") -> TrainingResult:
        """Runs ``steps`` more steps of gradient descent (see :meth:`ShallowNetwork.train`).

        Returns this piece's records with step indices counted from the start of the run
        (``steps_done`` before the call, ..., ``steps_done`` after it) and appends them to
        :attr:`history` (the first record of the piece, the point where the previous one
        stopped, is kept once).
        """
        steps = check.integer(steps, "steps", 0)
        inputs = self._network._inputs if isinstance(self._network, ShallowNetwork) else \
            self._network._template._inputs
        X_test = None if X_test is None else inputs(X_test, "X_test")
        if self._history is not None:
            recorded = None if self._history.test_outputs is None else self._history.test_outputs.shape[-1]
            given = None if X_test is None else X_test.shape[0]
            if recorded != given:
                raise ValueError(f"X_test: the history records outputs at {recorded or 'no'} test points; "
                                 f"got {'none' if given is None else given} (pass the X_test of the earlier pieces)")
        self._check_memory(X, X_test, steps, backend)
        # The network's lock, held from the run to the count: runs from several threads take
        # turns, and steps_done and the history always describe the network's parameters.
        with self._network._lock:
            result = self._network.train(X, y, self._lr, steps, self._record_every, X_test, self._loss, backend)
            result = replace(result, steps=result.steps + np.int64(self._steps_done))
            if self._keep_history:
                self._history = result if self._history is None else _concatenate(self._history, result)
            self._steps_done += steps
        return result

    def _check_memory(self, X, X_test, steps: int, backend: str) -> None:
        """The guard of :meth:`train`: the network's training, then the history joined with the
        piece (a new history while the old one and the piece are still held).
        """
        network = self._network
        X = (network._inputs if isinstance(network, ShallowNetwork) else network._template._inputs)(X)
        training = network._training_blocks(X, X_test, check.integer(steps, "steps", 0), self._record_every,
                                            check.backend(backend))
        piece = _memory.recorded_count(steps, self._record_every)
        joined = piece + self._history.steps.size if self._keep_history and self._history is not None else 0
        per_row = (2 + (0 if X_test is None else X_test.shape[0])) * getattr(network, "size", 1)
        # joining copies the piece without its first record, next to the piece itself
        _memory.require("TrainingState.train", _memory.peak(training, [("records of the piece", (piece, per_row),
                                                                        np.float64, 2 if joined else 1),
                                                                       ("the history joined with them", (joined, per_row),
                                                                        np.float64, 1)]),
                        _memory.TRAINING_ALTERNATIVE + " Or keep_history=False.")

    def save(self, path: PathLike) -> str:
        """Writes the state to ``path`` (one ``.npz`` file, see :mod:`widenet._archive`).
        Returns the path. A run of :meth:`train` in another thread finishes first: the file
        holds the parameters and the step count of one moment.
        """
        # read under the network's lock: never between a run and its count
        with self._network._lock:
            kind, config, arrays = self._contents()
        return _archive.save(path, kind, config, arrays, ShallowNetwork.checked_config)

    def _contents(self) -> tuple:
        network = self._network
        if isinstance(network, ShallowEnsemble):
            params, initial = tuple(network.params), tuple(network.initial_params)
        else:
            params, initial = network.params.arrays(), network.initial_params.arrays()
        _, config, arrays = _archive.model_contents(network.config, params, initial)
        history = self._history
        config["training"] = {
            "lr": self._lr, "loss": self._loss, "record_every": self._record_every, "steps_done": self._steps_done,
            "keep_history": self._keep_history, "records": None if history is None else int(history.steps.size),
            "test_points": None if history is None or history.test_outputs is None else
            int(history.test_outputs.shape[-1])}
        if history is not None:
            arrays.update(history_steps=history.steps, history_losses=history.losses,
                          history_distances=history.distances)
            if history.test_outputs is not None:
                arrays["history_test_outputs"] = history.test_outputs
        return STATE_FORMAT, config, arrays

    @classmethod
    def load(cls, path: PathLike) -> "TrainingState":
        """The training state saved in ``path``, checked entirely before it is built."""
        return _build(_archive.read(path, ShallowNetwork.checked_config, STATE_FORMAT))

    def __repr__(self) -> str:
        return (f"TrainingState({self._network!r}, lr={self._lr!r}, loss={self._loss!r}, "
                f"record_every={self._record_every}, steps_done={self._steps_done})")


def _concatenate(history: TrainingResult, piece: TrainingResult) -> TrainingResult:
    """``history`` followed by ``piece`` without its first record (``history``'s last)."""
    def join(before, after, axis):
        return None if before is None else np.concatenate([before, np.delete(after, 0, axis=axis)], axis=axis)

    return replace(history, steps=join(history.steps, piece.steps, 0),
                   losses=join(history.losses, piece.losses, -1),
                   distances=join(history.distances, piece.distances, -1),
                   test_outputs=join(history.test_outputs, piece.test_outputs, -2))


def save(item: Union[ShallowNetwork, ShallowEnsemble, TrainingState], path: PathLike) -> str:
    """Writes a :class:`~widenet.ShallowNetwork`, :class:`~widenet.ShallowEnsemble` or
    :class:`TrainingState` to ``path`` (its ``save`` method; see :mod:`widenet._archive`).
    """
    if not isinstance(item, (ShallowNetwork, ShallowEnsemble, TrainingState)):
        raise TypeError(f"item: expected a widenet.ShallowNetwork, ShallowEnsemble or TrainingState, got "
                        f"{type(item).__name__}")
    return item.save(path)


def _build(stored: _archive.Stored) -> Union[ShallowNetwork, ShallowEnsemble, TrainingState]:
    size, training = stored.size, stored.training
    model = ShallowNetwork.from_stored(stored) if size is None else ShallowEnsemble.from_stored(stored)
    if stored.kind != STATE_FORMAT:
        return model
    state = TrainingState(model, training["lr"], training["loss"], training["record_every"],
                          training["keep_history"])
    state._steps_done = training["steps_done"]
    if training["records"] is not None:
        entries = stored.entries
        state._history = TrainingResult(entries["history_steps"], entries["history_losses"],
                                        entries["history_distances"], entries.get("history_test_outputs"),
                                        training["loss"], training["lr"])
    return state


def load(path: PathLike) -> Union[ShallowNetwork, ShallowEnsemble, TrainingState]:
    """Whatever :func:`save` wrote to ``path``: a :class:`~widenet.ShallowNetwork`, a
    :class:`~widenet.ShallowEnsemble` or a :class:`TrainingState`.

    The file is read and checked completely before anything is built (see
    :func:`widenet._archive.read` for every refusal: ValueError naming the file and the
    problem, FileNotFoundError, IsADirectoryError, TypeError for a ``path`` that is not a
    file name).
    """
    return _build(_archive.read(path, ShallowNetwork.checked_config))
