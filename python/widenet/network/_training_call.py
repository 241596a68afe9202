"""The arguments of a gradient-descent run, checked once for one network and for an ensemble."""

from __future__ import annotations

from typing import NamedTuple, Optional, Protocol

import numpy as np
from numpy.typing import ArrayLike

from widenet import _validation as check
from widenet._native import _core
from widenet._types import Backend, FloatArray, Loss, OnDivergence
from widenet.errors import ON_DIVERGENCE
from widenet.network._backends import training_options


class _Trainable(Protocol):
    """What checking a run needs of the network: its dtype and its input checks."""

    @property
    def dtype(self) -> np.dtype: ...

    def check_data(self, X: object, y: object) -> tuple[FloatArray, FloatArray]: ...

    def check_inputs(self, X: object, name: str = "X") -> FloatArray: ...


class TrainingCall(NamedTuple):
    """A run's arguments after their checks: the data in the network's dtype, the options."""

    points: FloatArray
    targets: FloatArray
    test_points: Optional[FloatArray]
    lr: float
    steps: int
    record_every: int
    loss_scale: float
    on_divergence: OnDivergence
    backend: Backend

    @property
    def options(self) -> _core.TrainingOptions:
        """The options the backends take, with the library's divergence factor."""
        return training_options(self.lr, self.steps, self.record_every, self.loss_scale)


def check_training(network: _Trainable, X: ArrayLike, y: ArrayLike, lr: float, steps: int, record_every: int,
                   X_test: Optional[ArrayLike], loss: Loss, on_divergence: OnDivergence,
                   backend: Backend) -> TrainingCall:
    """Return the arguments of ``train`` checked against ``network``, each error naming its argument.

    The step is taken in the network's dtype, so ``lr`` must be a normal number there (1e-46
    is 0 in float32, and training would do nothing).
    """
    points, targets = network.check_data(X, y)
    lr = check.normal_in(check.positive_real(lr, "lr"), "lr", network.dtype)
    steps = check.integer(steps, "steps", 0)
    record_every = check.integer(record_every, "record_every", 1)
    test_points = None if X_test is None else network.check_inputs(X_test, "X_test")
    return TrainingCall(points, targets, test_points, lr, steps, record_every, check.loss_scale(loss, points.shape[0]),
                        check.choice(on_divergence, "on_divergence", ON_DIVERGENCE), check.backend(backend))
