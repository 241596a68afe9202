"""The two tangent maps a linearized model trains through: a network's compiled kernels, or a Jacobian.

Both give the linearized model what it needs at ``w0`` (docs/theory.md, section 3): the
outputs, the tangent Gram, the products with ``J0`` and ``J0^T``, the memory each needs,
and the conversion between parameters and their vector. The training dynamics live in
function space, the outputs at the training points as one vector: for a network of ``k``
outputs ``m k`` numbers (point by point, the outputs of each together), whose Gram is every
block of the tangent kernel (:meth:`NetworkTangent.function_gram`).
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import numpy.typing as npt

from widenet import _memory
from widenet import _validation as check
from widenet._types import Backend, PassKind
from widenet.network._kinds import AnyNetwork
from widenet.network.parameters import Parameters
from widenet.network.results import overflowed

_FLOAT64 = np.dtype(np.float64)


class NetworkTangent:
    """The tangent map of a network (shallow or deep) at ``w0`` through the compiled kernels.

    The Gram comes by the structured formula, ``J delta`` and ``J^T r`` by two products each.
    """

    def __init__(self, network: AnyNetwork) -> None:
        self.network = network
        self.dtype = network.dtype
        self.initial = network.params.to_vector()
        self.output_count = network.outputs  # k

    def inputs(self, X: npt.ArrayLike, name: str) -> np.ndarray:
        """Return ``X`` checked as inputs of the network."""
        return self.network.check_inputs(X, name)

    def outputs(self, X: np.ndarray, backend: Backend) -> np.ndarray:
        """Return ``Phi(X, w0)`` (the network's own method: its checks of the result included)."""
        outputs: np.ndarray = self.network.forward(X, backend=backend)
        return outputs

    def gram(self, X1: np.ndarray, X2: Optional[np.ndarray], backend: Backend) -> np.ndarray:
        """Return the tangent Gram ``K_n(X1, X2)`` at ``w0`` (``X2`` None: symmetric), by the network's ``ntk``."""
        gram: np.ndarray = self.network.ntk(X1, X2, backend=backend)
        return gram

    def function_gram(self, X1: np.ndarray, X2: Optional[np.ndarray], backend: Backend) -> np.ndarray:
        """Return the Gram of the outputs as one vector (every block: ``(m1 k) x (m2 k)`` for ``k`` outputs)."""
        network = self.network
        if network.outputs == 1:
            return self.gram(X1, X2, backend)
        blocks = network.ntk(X1, X2, backend=backend, trace_outputs=False)
        return blocks.reshape(X1.shape[0] * network.outputs, -1)

    def jvp(self, X: np.ndarray, direction: np.ndarray, backend: Backend) -> np.ndarray:
        """Return ``J(X, w0) direction``: shape (m,), or (m, k)."""
        product: np.ndarray = self.network.kernels[backend].jvp(self.network.state, X, self.as_params(direction).layers)
        return product

    def vjp(self, X: np.ndarray, r: np.ndarray, backend: Backend) -> np.ndarray:
        """Return ``J(X, w0)^T r`` as a parameter vector (NaN when it overflows); ``r`` of ``m`` or ``m k`` entries."""
        weights = r.astype(self.dtype)
        if self.output_count > 1:
            weights = weights.reshape(X.shape[0], self.output_count)
        layers = self.network.kernels[backend].vjp(self.network.state, X, weights)
        if overflowed(*(np.asarray(block) for layer in layers for block in layer if block is not None)):
            return np.full(self.initial.size, np.nan, self.dtype)  # no parameters: the caller reports the overflow
        vector: np.ndarray = self.network.parameters_of(layers).to_vector()
        return vector

    def pass_blocks(self, kind: PassKind, m: int, backend: Backend) -> List[_memory.Block]:
        """Return the memory blocks of a pass of ``kind`` over ``m`` points."""
        blocks: List[_memory.Block] = self.network.pass_blocks(kind, m, backend)
        return blocks

    def gram_blocks(self, m1: int, m2: Optional[int], backend: Backend) -> List[_memory.Block]:
        """Return the memory blocks of :meth:`function_gram` of ``m1`` and ``m2`` points (``m2`` None: symmetric)."""
        network = self.network
        if network.outputs > 1:
            return network.gram_blocks(m1, m2, backend, trace_outputs=False)
        blocks: List[_memory.Block] = network.gram_blocks(m1, m2, backend)
        return blocks

    def as_params(self, vector: np.ndarray) -> Any:
        """Return a parameter vector as the network's parameters."""
        return self.network.parameters_from_vector(vector)

    def as_vector(self, params: object, name: str) -> np.ndarray:
        """Return the network's parameters, checked, as a vector."""
        vector: np.ndarray = self.network.checked_params(params, name).to_vector()
        return vector


class JacobianTangent:
    """The tangent map, through its Jacobian, of any model with ``forward(X)``, ``jacobian(X)`` and ``params``.

    ``params`` is a parameter vector (a linear or feature model of
    :mod:`widenet.network.linear_models`, or the user's); the model's ``ntk`` is used for
    Grams when it has one.
    """

    dtype = _FLOAT64
    output_count = 1  # one output per point

    def __init__(self, model: Any) -> None:
        self.network = model
        self.initial = self.as_vector(model.params, "params")

    def inputs(self, X: npt.ArrayLike, name: str) -> np.ndarray:
        """Return ``X`` checked as float64 inputs of the model."""
        return check.as_points(X, name, dtype=_FLOAT64, columns=getattr(self.network, "input_dim", None),
                               columns_of=check.INPUT_DIMENSION)

    def _jacobian(self, X: np.ndarray) -> np.ndarray:
        J = np.asarray(self.network.jacobian(X), dtype=np.float64)
        if J.shape != (X.shape[0], self.initial.size):
            raise ValueError(f"model: jacobian(X) returned shape {J.shape}, expected ({X.shape[0]}, "
                             f"{self.initial.size}) (points x parameters)")
        return J

    def outputs(self, X: np.ndarray, backend: Backend) -> np.ndarray:
        """Return the model's outputs at ``X``."""
        return np.asarray(self.network.forward(X), dtype=np.float64).reshape(X.shape[0])

    def gram(self, X1: np.ndarray, X2: Optional[np.ndarray], backend: Backend) -> np.ndarray:
        """Return the tangent Gram, the model's ``ntk`` when it has one (``X2`` None: symmetric)."""
        if hasattr(self.network, "ntk"):
            return np.asarray(self.network.ntk(X1, X2), dtype=np.float64)
        J1 = self._jacobian(X1)
        return J1 @ (J1 if X2 is None else self._jacobian(X2)).T

    def function_gram(self, X1: np.ndarray, X2: Optional[np.ndarray], backend: Backend) -> np.ndarray:
        """Return the Gram of the outputs: :meth:`gram` (one output per point)."""
        return self.gram(X1, X2, backend)

    def jvp(self, X: np.ndarray, direction: np.ndarray, backend: Backend) -> np.ndarray:
        """Return ``J(X) direction``."""
        return self._jacobian(X) @ direction

    def vjp(self, X: np.ndarray, r: np.ndarray, backend: Backend) -> np.ndarray:
        """Return ``J(X)^T r``."""
        return self._jacobian(X).T @ r

    def pass_blocks(self, kind: PassKind, m: int, backend: Backend) -> List[_memory.Block]:
        """Return the memory blocks of a pass of ``kind`` over ``m`` points."""
        # the model's features (its forward pass), or its Jacobian and the copy made of it
        return [("model Jacobian", (m, self.initial.size), np.float64, 1 if kind == "forward" else 2)]

    def gram_blocks(self, m1: int, m2: Optional[int], backend: Backend) -> List[_memory.Block]:
        """Return the memory blocks of an ``m1 x m2`` Gram (``m2`` None: symmetric)."""
        columns = m1 if m2 is None else m2
        return [("model Jacobians", (m1 + (0 if m2 is None else m2), self.initial.size), np.float64, 1),
                ("Gram", (m1, columns), np.float64, 1)]

    def as_params(self, vector: np.ndarray) -> np.ndarray:
        """Return a copy of a parameter vector."""
        return vector.copy()

    def as_vector(self, params: object, name: str) -> np.ndarray:
        """Return ``params`` checked as a float64 parameter vector."""
        if isinstance(params, Parameters):
            return params.to_vector().astype(np.float64)
        size = getattr(self, "initial", None)
        shape = None if size is None else size.shape
        vector = check.as_array(params, name, _FLOAT64, 1)
        if shape is not None and vector.shape != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {vector.shape}")
        return vector.copy()
