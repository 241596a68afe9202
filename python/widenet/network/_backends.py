"""The two implementations of the shallow-network kernels behind one interface.

``cpp`` calls the compiled Eigen kernels, ``numpy`` the reference twins that mirror the
formulas. Both take arrays already validated and converted to one dtype.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import numpy as np
from numpy.typing import DTypeLike

from widenet import reference
from widenet._native import _core
from widenet._types import Activation, Backend, FloatArray, ParameterArrays, Parametrization

# A run stops when its loss exceeds this many times its reference (the initial loss, or the
# zero predictor's if larger), or is not finite: the same rule in both backends, and the
# compiled core's factor, which the numpy twin is given at every call.
DIVERGENCE_FACTOR = _core.DIVERGENCE_FACTOR

# ``(U, b, v, c)`` of several networks stacked on a leading axis.
StackedArrays = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
# A run's records by name (steps, losses, distances, test outputs, ...).
Records = dict[str, Any]


def _stopped_early(result: Records, keys: tuple[str, ...]) -> Records:
    """Keep the rows a run of one network that diverged recorded (fewer than allocated)."""
    rows = len(result["steps"])
    for key in keys:
        if result.get(key) is not None and np.ndim(result["stopped_at"]) == 0:
            result[key] = result[key][:rows]
    return result


def _as_result(records: Mapping[str, Any], dtype: DTypeLike) -> Records:
    """Return the records in float64 and ``c`` as floats, whichever backend produced them."""
    result = dict(records)
    result["losses"] = np.asarray(result["losses"], dtype=np.float64)
    result["distances"] = np.asarray(result["distances"], dtype=np.float64)
    result["steps"] = np.asarray(result["steps"], dtype=np.int64)
    result["c"] = np.asarray(result["c"], dtype=dtype)
    result["stopped_at"] = np.asarray(result["stopped_at"], dtype=np.int64)
    return _stopped_early(result, ("losses", "distances", "test_outputs"))


def _as_linear_result(records: Mapping[str, Any]) -> Records:
    """Return linearized-GD records: losses and distances in float64, like :func:`_as_result`."""
    result = dict(records)
    result["losses"] = np.asarray(result["losses"], dtype=np.float64)
    result["distances"] = np.asarray(result["distances"], dtype=np.float64)
    result["steps"] = np.asarray(result["steps"], dtype=np.int64)
    result["stopped_at"] = np.asarray(result["stopped_at"], dtype=np.int64)
    return _stopped_early(result, ("losses", "distances", "residuals", "test_outputs"))


class CppBackend:
    """The compiled Eigen kernels."""

    name = "cpp"

    forward = staticmethod(_core.forward)
    jacobian = staticmethod(_core.jacobian)
    ntk_diag = staticmethod(_core.ntk_diag)

    @staticmethod
    def ntk_gram(X1: FloatArray, X2: Optional[FloatArray], U: FloatArray, b: FloatArray, v: FloatArray, c: float,
                 activation: Activation, parametrization: Parametrization, width_chunk: int = 0) -> FloatArray:
        """Return the tangent Gram ``K_n(X1, X2)`` (``X2`` None: ``K_n(X1, X1)``)."""
        return _core.ntk_gram(X1, X2, U, b, v, c, activation, parametrization, width_chunk)

    @staticmethod
    def loss_grad(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float,
                  activation: Activation, parametrization: Parametrization,
                  loss_scale: float) -> tuple[float, FloatArray, FloatArray, FloatArray, float]:
        """Return the loss and its gradient ``(f, gU, gb, gv, gc)``."""
        return _core.loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale)

    @staticmethod
    def train(X: FloatArray, y: FloatArray, params: ParameterArrays, initial: ParameterArrays,
              activation: Activation, parametrization: Parametrization, lr: float, steps: int, record_every: int,
              X_test: Optional[FloatArray], loss_scale: float, divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent from ``params``; return the records and the trained parameters."""
        result = _core.train(X, y, *params, *initial, activation, parametrization, lr, steps, record_every,
                             X_test, loss_scale, divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X: FloatArray, y: FloatArray, params: StackedArrays, initial: StackedArrays,
                       activation: Activation, parametrization: Parametrization, lr: float, steps: int,
                       record_every: int, X_test: Optional[FloatArray], loss_scale: float,
                       divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent on stacked networks; return their records and trained parameters."""
        result = _core.train_ensemble(X, y, *params, *initial, activation, parametrization, lr, steps,
                                      record_every, X_test, loss_scale, divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def jvp(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, dU: FloatArray, db: FloatArray,
            dv: FloatArray, dc: float, activation: Activation, parametrization: Parametrization) -> FloatArray:
        """Return the Jacobian-vector product ``J (dU, db, dv, dc)``."""
        return _core.jvp(X, U, b, v, c, dU, db, dv, dc, activation, parametrization)

    @staticmethod
    def vjp(X: FloatArray, r: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float,
            activation: Activation,
            parametrization: Parametrization) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        """Return the vector-Jacobian product ``J^T r`` as ``(dU, db, dv, dc)``."""
        return _core.vjp(X, r, U, b, v, c, activation, parametrization)

    @staticmethod
    def linear_gd(theta: FloatArray, residual: FloatArray, lr: float, loss_scale: float, steps: int,
                  record_every: int, cross: Optional[FloatArray] = None, test_initial: Optional[FloatArray] = None,
                  offset_outputs: Optional[FloatArray] = None, offset_squared_norm: float = 0.0,
                  divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent on a linearized model in function space; return its records."""
        return _as_linear_result(_core.linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross,
                                                 test_initial, offset_outputs, offset_squared_norm,
                                                 divergence_factor))


class NumpyBackend:
    """The numpy reference twins of the compiled kernels."""

    name = "numpy"

    forward = staticmethod(reference.forward)
    jacobian = staticmethod(reference.jacobian)
    ntk_diag = staticmethod(reference.ntk_diag)

    @staticmethod
    def ntk_gram(X1: FloatArray, X2: Optional[FloatArray], U: FloatArray, b: FloatArray, v: FloatArray, c: float,
                 activation: Activation, parametrization: Parametrization, width_chunk: int = 0) -> FloatArray:
        """Return the tangent Gram ``K_n(X1, X2)`` (``X2`` None: ``K_n(X1, X1)``); no width chunks."""
        return reference.ntk_gram(X1, X1 if X2 is None else X2, U, b, v, c, activation, parametrization)

    @staticmethod
    def loss_grad(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float,
                  activation: Activation, parametrization: Parametrization,
                  loss_scale: float) -> tuple[float, FloatArray, FloatArray, FloatArray, float]:
        """Return the loss and its gradient ``(f, gU, gb, gv, gc)``."""
        return reference.loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale)

    @staticmethod
    def train(X: FloatArray, y: FloatArray, params: ParameterArrays, initial: ParameterArrays,
              activation: Activation, parametrization: Parametrization, lr: float, steps: int, record_every: int,
              X_test: Optional[FloatArray], loss_scale: float, divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent from ``params``; return the records and the trained parameters."""
        result = reference.train(X, y, *params, activation, parametrization, lr, steps, record_every, X_test,
                                 loss_scale, initial, divergence_factor=divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X: FloatArray, y: FloatArray, params: StackedArrays, initial: StackedArrays,
                       activation: Activation, parametrization: Parametrization, lr: float, steps: int,
                       record_every: int, X_test: Optional[FloatArray], loss_scale: float,
                       divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent on stacked networks; return their records and trained parameters."""
        result = reference.train_ensemble(X, y, *params, activation, parametrization, lr, steps, record_every,
                                          X_test, loss_scale, initial, divergence_factor=divergence_factor)
        return _as_result(result, X.dtype)

    jvp = staticmethod(reference.jvp)
    vjp = staticmethod(reference.vjp)

    @staticmethod
    def linear_gd(theta: FloatArray, residual: FloatArray, lr: float, loss_scale: float, steps: int,
                  record_every: int, cross: Optional[FloatArray] = None, test_initial: Optional[FloatArray] = None,
                  offset_outputs: Optional[FloatArray] = None, offset_squared_norm: float = 0.0,
                  divergence_factor: float = DIVERGENCE_FACTOR) -> Records:
        """Run gradient descent on a linearized model in function space; return its records."""
        return _as_linear_result(reference.linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross,
                                                     test_initial, offset_outputs, offset_squared_norm,
                                                     divergence_factor=divergence_factor))


BACKENDS: dict[Backend, Union[type[CppBackend], type[NumpyBackend]]] = {"cpp": CppBackend, "numpy": NumpyBackend}
