"""What a training run returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Union, overload

import numpy as np
from numpy.typing import NDArray

from widenet._types import FloatArray, IntArray, LinearMethod, Loss


@dataclass(frozen=True)
class TrainingResult:
    """Records of a gradient-descent run, taken at the steps in ``steps``.

    Parameters
    ----------
    steps, losses, distances, test_outputs, loss, lr, diverged_at, parameters_overflowed
        The attributes below, by the same names: ``train`` fills them in.

    Attributes
    ----------
    steps : ndarray of int64, shape (records,)
        Recorded step indices ``k``: every ``record_every`` steps, and the last step.
    losses : ndarray of float64, shape (..., records)
        The objective ``f(w_k)``, scaled as ``loss`` says.
    distances : ndarray of float64, shape (..., records)
        ``|w_k - w0|`` over all parameters, ``w0`` the network's initial parameters.
    test_outputs : ndarray, shape (..., records, m_test), or None
        ``Phi(X_test, w_k)`` when ``X_test`` was given, in the network's dtype; shape
        (..., records, m_test, k) for a network of ``k`` outputs.
    loss : str
        ``"sum"`` (the chapter's f), ``"mean"`` or ``"half_sum"``.
    lr : float or None
        The step size ``h`` (None for the gradient flow of a linearized model).
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

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 256, "relu", "ntk", seed=0)
    >>> run = net.train(np.eye(2), [0.5, -0.5], lr=0.1, steps=100, record_every=25)
    >>> run.steps, run.losses.shape, run.diverged_at
    (array([  0,  25,  50,  75, 100]), (5,), None)
    """

    steps: IntArray
    losses: NDArray[np.float64]
    distances: NDArray[np.float64]
    test_outputs: Optional[FloatArray]
    loss: Loss
    lr: Optional[float]
    diverged_at: Union[None, int, IntArray] = None
    parameters_overflowed: Union[bool, NDArray[np.bool_]] = False

    @classmethod
    def from_records(cls, records: Mapping[str, Any], loss: Loss, lr: float,
                     overflowed: Union[bool, NDArray[np.bool_]] = False) -> TrainingResult:
        """Return the result of a run's ``records`` (as either backend's ``train`` or ``train_ensemble`` returns them).

        Losses and distances in float64, steps in int64, whichever dtype they were made in.
        """
        stopped = np.asarray(records.get("stopped_at", -1), dtype=np.int64)
        diverged_at = None if not (stopped >= 0).any() else (int(stopped) if stopped.ndim == 0 else stopped)
        return cls(np.asarray(records["steps"], dtype=np.int64), np.asarray(records["losses"], dtype=np.float64),
                   np.asarray(records["distances"], dtype=np.float64), records["test_outputs"], loss, lr,
                   diverged_at, overflowed)


@overload
def overflowed(*arrays: NDArray[Any], stacked: Literal[False] = False) -> bool: ...


@overload
def overflowed(*arrays: NDArray[Any], stacked: Literal[True]) -> NDArray[np.bool_]: ...


def overflowed(*arrays: NDArray[Any], stacked: bool = False) -> Union[bool, NDArray[np.bool_]]:
    """Tell whether any of ``arrays`` holds Inf or NaN.

    With ``stacked``, one bool per index of their leading axis (the networks of an
    ensemble).
    """
    if not stacked:
        return any(not np.isfinite(array).all() for array in arrays)
    return np.logical_or.reduce([~np.isfinite(array).reshape(len(array), -1).all(axis=1) for array in arrays])


@dataclass(frozen=True)
class LinearizedTrainingResult(TrainingResult):
    """Records of gradient descent (or gradient flow) on a linearized model (11.5.9).

    Besides the fields of :class:`TrainingResult` (``distances`` are ``|p_k - w0|``,
    ``test_outputs`` are ``Phi_lin(X_test, p_k)``):

    Parameters
    ----------
    steps, losses, distances, test_outputs, loss, lr, diverged_at, parameters_overflowed, train_outputs, method, times
        The attributes, by the same names (those of :class:`TrainingResult` and those below):
        :meth:`LinearizedModel.train` and :meth:`LinearizedModel.flow` fill them in.

    Attributes
    ----------
    train_outputs : ndarray, shape (records, m), or (records, m, k) for ``k`` outputs
        ``Phi_lin(X, p_k)`` on the training points, in the model's dtype like
        ``test_outputs`` (losses and distances are float64 in every result).
    method : str
        ``"closed_form"`` (one eigendecomposition of the tangent Gram), ``"iterate"``
        (the steps one by one, in function space) or ``"flow"`` (gradient flow, closed form).
    times : ndarray of float64, shape (records,), or None
        For gradient flow, the recorded times ``t`` (then ``steps`` and ``lr`` are None).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> lin = widenet.linearize(widenet.ShallowNetwork(2, 128, "tanh", "ntk", seed=0))
    >>> run = lin.train(np.eye(2), [0.5, -0.5], 0.1, steps=100, record_every=50)
    >>> run.steps, run.train_outputs.shape, run.method
    (array([  0,  50, 100]), (3, 2), 'closed_form')
    """

    train_outputs: Optional[FloatArray] = None
    method: LinearMethod = "closed_form"
    times: Optional[NDArray[np.float64]] = None
