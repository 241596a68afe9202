"""The empirical tangent kernel of a model as a kernel object (docs/theory.md, section 3)."""

from __future__ import annotations

import copy
from typing import Any, Optional, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from widenet._types import Backend, FloatArray
from widenet.kernels.base import Kernel


class TangentModel(Protocol):
    """A model with a tangent kernel: ``ntk(X1, X2)`` and ``ntk_diag(X)`` (a widenet network, of any depth)."""

    def ntk(self, X1: FloatArray, X2: Optional[FloatArray], *, backend: Backend) -> NDArray[Any]:
        """Return the tangent Gram ``K(X1, X2)`` (``X2`` None: of ``X1`` with itself)."""

    def ntk_diag(self, X: FloatArray, *, backend: Backend) -> NDArray[Any]:
        """Return the diagonal ``K(x_i, x_i)``."""


Model = TypeVar("Model")


class TangentKernel(Kernel):
    """The empirical tangent kernel (11.3.4) of a model, at the parameters it has when the kernel is made.

    The model has ``ntk(X1, X2)`` and ``ntk_diag(X)`` methods (a
    :class:`~widenet.ShallowNetwork` or :class:`~widenet.Network`).

    The kernel holds a copy of the model (``model`` is that copy), so that an estimator
    fitted with it keeps the kernel it was fitted with while the network trains on. With
    ``live=True`` it follows the model instead, evaluating at whatever parameters the model
    has at each call (a fitted estimator then stops matching its own fit once they move).
    Grams come in the model's dtype.

    Parameters
    ----------
    model : ShallowNetwork or Network
        A model with ``ntk(X1, X2)`` and ``ntk_diag(X)`` methods; copied unless ``live``.
    live : bool, default False
        Evaluate at the model's parameters at each call instead of at those it has now.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 512, "relu", "ntk", seed=0)
    >>> X = np.random.default_rng(1).standard_normal((8, 2))
    >>> bool(np.allclose(widenet.TangentKernel(net)(X), net.ntk(X)))
    True
    """

    def __init__(self, model: TangentModel, live: bool = False) -> None:
        if not (hasattr(model, "ntk") and hasattr(model, "ntk_diag")):
            raise TypeError(f"model: expected an object with ntk() and ntk_diag(), got {type(model).__name__}")
        if not isinstance(live, (bool, np.bool_)):
            raise TypeError(f"live: expected a bool, got {live!r}")
        self.live = bool(live)
        self.model = model if self.live else _snapshot(model)

    def gram(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> FloatArray:
        """Return the model's tangent Gram ``K(X1, X2)`` (``X2`` None: of ``X1`` with itself)."""
        return self.model.ntk(X1, X2, backend=backend)

    def gram_copies(self, backend: Backend) -> int:
        """Return how many arrays of the Gram's size forming it holds at once: its two accumulators."""
        return 2  # the tangent Gram's accumulators

    def _check_memory(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> None:
        """Guard the memory of the Gram, unless the model guards its own."""
        if not getattr(self.model, "_guards_memory", False):  # widenet's models check their own ntk
            super()._check_memory(X1, X2, backend)

    def diagonal(self, X: FloatArray, backend: Backend) -> FloatArray:
        """Return the diagonal ``K(x_i, x_i)`` of the model's tangent Gram."""
        return self.model.ntk_diag(X, backend=backend)

    def __repr__(self) -> str:
        return f"TangentKernel({self.model!r}{', live=True' if self.live else ''})"


def _snapshot(model: Model) -> Model:
    """Return a copy of ``model`` that later changes to it do not reach.

    For a network, one with copies of its parameters (no copy of anything else is needed);
    otherwise a deep copy.
    """
    try:
        return copy.deepcopy(model)
    except Exception as error:  # whatever the model's own copying raises
        raise TypeError(f"model: cannot be copied for a snapshot of its tangent kernel ({error}); pass "
                        f"live=True to evaluate it at the model's parameters of each call") from error
