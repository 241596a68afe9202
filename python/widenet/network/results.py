"""What a training run returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class TrainingResult:
    """Records of a gradient-descent run, taken at the steps in ``steps``.

    Attributes
    ----------
    steps : ndarray of int64, shape (records,)
        Recorded step indices ``k``: every ``record_every`` steps, and the last step.
    losses : ndarray of float64, shape (..., records)
        The objective ``f(w_k)``, scaled as ``loss`` says.
    distances : ndarray of float64, shape (..., records)
        ``|w_k - w0|`` over all parameters, ``w0`` the network's initial parameters.
    test_outputs : ndarray, shape (..., records, m_test), or None
        ``Phi(X_test, w_k)`` when ``X_test`` was given, in the network's dtype.
    loss : str
        ``"sum"`` (the chapter's f), ``"mean"`` or ``"half_sum"``.
    lr : float
        The step size ``h``.
    diverged_at : int, ndarray of int, or None
        The step where the loss diverged (the last record is that step), for a run returned
        with ``on_divergence="return"``; None when it did not. For an ensemble, one entry per
        network (-1 where it did not; a network that diverged has NaN records after its last).
    parameters_overflowed : bool or ndarray of bool
        Whether the run's last parameters overflowed to Inf or NaN (a diverged run with a
        huge step). Such parameters are no network: the model is then left where the run
        started, and the records are the only trace of the run. For an ensemble, one entry
        per network.

    For an ensemble the leading axis ``...`` is the network index.
    """

    steps: np.ndarray
    losses: np.ndarray
    distances: np.ndarray
    test_outputs: Optional[np.ndarray]
    loss: str
    lr: float
    diverged_at: Optional[object] = None
    parameters_overflowed: object = False

    @classmethod
    def from_records(cls, records: dict, loss: str, lr: float, overflowed=False) -> "TrainingResult":
        stopped = np.asarray(records.get("stopped_at", -1))
        diverged_at = None if not (stopped >= 0).any() else (int(stopped) if stopped.ndim == 0 else stopped)
        return cls(records["steps"], records["losses"], records["distances"], records["test_outputs"], loss, lr,
                   diverged_at, overflowed)


def overflowed(*arrays: np.ndarray, stacked: bool = False):
    """Whether any of ``arrays`` holds Inf or NaN; with ``stacked``, one bool per index of
    their leading axis (the networks of an ensemble).
    """
    if not stacked:
        return any(not np.isfinite(array).all() for array in arrays)
    return np.logical_or.reduce([~np.isfinite(array).reshape(len(array), -1).all(axis=1) for array in arrays])


@dataclass(frozen=True)
class LinearizedTrainingResult(TrainingResult):
    """Records of gradient descent (or gradient flow) on a linearized model (11.5.9).

    Besides the fields of :class:`TrainingResult` (``distances`` are ``|p_k - w0|``,
    ``test_outputs`` are ``Phi_lin(X_test, p_k)``):

    Attributes
    ----------
    train_outputs : ndarray, shape (records, m)
        ``Phi_lin(X, p_k)`` on the training points, in the model's dtype like
        ``test_outputs`` (losses and distances are float64 in every result).
    method : str
        ``"closed_form"`` (one eigendecomposition of the tangent Gram), ``"iterate"``
        (the steps one by one, in function space) or ``"flow"`` (gradient flow, closed form).
    times : ndarray of float64, shape (records,), or None
        For gradient flow, the recorded times ``t`` (then ``steps`` and ``lr`` are None).
    """

    train_outputs: np.ndarray = None
    method: str = "closed_form"
    times: Optional[np.ndarray] = None
