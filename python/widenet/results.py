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
        ``Phi(X_test, w_k)`` when ``X_test`` was given.
    loss : str
        ``"sum"`` (the chapter's f), ``"mean"`` or ``"half_sum"``.
    lr : float
        The step size ``h``.

    For an ensemble the leading axis ``...`` is the network index.
    """

    steps: np.ndarray
    losses: np.ndarray
    distances: np.ndarray
    test_outputs: Optional[np.ndarray]
    loss: str
    lr: float

    @classmethod
    def from_records(cls, records: dict, loss: str, lr: float) -> "TrainingResult":
        return cls(records["steps"], records["losses"], records["distances"], records["test_outputs"], loss, lr)
