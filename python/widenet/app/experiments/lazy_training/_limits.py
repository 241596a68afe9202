"""The limit kernels, the step and the number of steps of a run, and its networks."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import Parametrization
from widenet.app.experiments._rates import network_seed
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training._setup import (
    _NETWORK_STREAM,
    ACTIVATION,
    CHECKPOINTS,
    INPUT_DIM,
    PLANNED_LOSS,
    STEP_FRACTION,
)
from widenet.kernels import limit_kernel
from widenet.network.shallow import ShallowNetwork


def limit_kernels(X: FloatArray) -> dict[str, FloatArray]:
    """Return ``K_LC``, ``K_NTK`` and ``B`` on the rows of ``X``.

    ``B`` is the mean of the ``U``, ``b`` and ``c`` blocks of ``Theta0`` under LeCun, times ``n``.
    """
    lecun = limit_kernel(X, activation=ACTIVATION, parametrization="lecun")
    ntk = limit_kernel(X, activation=ACTIVATION, parametrization="ntk")
    inner = X @ X.T
    # K_NTK = (x.z/d + 1) E_dd + K_LC + 1 gives E_dd; B = (1 + x.z) E_dd + 1 (proof of Theorem 11.16)
    derivative = (ntk - lecun - 1.0) / (inner / X.shape[1] + 1.0)
    return {"lecun": lecun, "ntk": ntk, "B": (1.0 + inner) * derivative + 1.0}


def gradient_descent_step(parametrization: Parametrization, width: int, limit: FloatArray, gram: FloatArray) -> float:
    """Return the step ``h`` for the sum loss.

    LeCun: ``0.9 x 2/((lmin_LC + 4 lmax_LC) n)`` with the eigenvalues of the limit ``limit``
    (Theorem 11.23). NTK parametrization: ``0.9/(lambda_min + lambda_max)`` of the network's
    own Gram ``gram`` at ``w0`` (Theorem 11.13's (11.4.4)).
    """
    if parametrization == "lecun":
        low, high = np.linalg.eigvalsh(limit)[[0, -1]]
        return STEP_FRACTION * 2.0 / ((low + 4.0 * high) * width)
    low, high = np.linalg.eigvalsh(gram)[[0, -1]]
    return STEP_FRACTION / float(low + high)


def planned_steps(lr: float, gram: FloatArray, target: float = PLANNED_LOSS) -> int:
    """Return the steps until the slowest linear mode of the Gram ``gram`` has fallen by ``target``.

    That mode falls by ``(1 - 2 h lambda_min)^2`` per step.
    """
    slowest = 1.0 - 2.0 * lr * float(np.linalg.eigvalsh(gram)[0])
    return int(math.ceil(math.log(target) / (2.0 * math.log(slowest))))


def _checkpoints(steps: int) -> npt.NDArray[np.int64]:
    """Return the :data:`CHECKPOINTS` log-spaced steps (at most) from 1 to ``steps``, where the Gram is computed."""
    return np.unique(np.round(np.geomspace(1, steps, CHECKPOINTS)).astype(np.int64))


def cell_seed(base: int, parametrization: Parametrization, width: int, index: int) -> int:
    """Return the seed of the network of cell (width, index) for the base seed ``base``."""
    return network_seed(base, _NETWORK_STREAM[parametrization], width, index)


def cell_network(base: int, parametrization: Parametrization, width: int, index: int,
                 input_dim: int = INPUT_DIM) -> ShallowNetwork:
    """Return the network of a cell, at its initialization."""
    return ShallowNetwork(input_dim, width, ACTIVATION, parametrization,
                          seed=cell_seed(base, parametrization, width, index))
