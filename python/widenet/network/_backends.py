"""The two implementations of the shallow-network kernels behind one interface.

``cpp`` calls the compiled Eigen kernels, ``numpy`` the reference twins that mirror the
formulas. Both take arrays already validated and converted to one dtype.
"""

from __future__ import annotations

import numpy as np

from widenet import reference
from widenet._native import _core

# A run stops when its loss exceeds this many times its reference (the initial loss, or the
# zero predictor's if larger), or is not finite: the same rule in both backends, and the
# compiled core's factor, which the numpy twin is given at every call.
DIVERGENCE_FACTOR = _core.DIVERGENCE_FACTOR


def _stopped_early(result: dict, keys: tuple) -> dict:
    """A run of one network that diverged recorded fewer rows than allocated: keep those."""
    rows = len(result["steps"])
    for key in keys:
        if result.get(key) is not None and np.ndim(result["stopped_at"]) == 0:
            result[key] = result[key][:rows]
    return result


def _as_result(result: dict, dtype) -> dict:
    """Records in float64 and ``c`` as floats, whichever backend produced them."""
    result = dict(result)
    result["losses"] = np.asarray(result["losses"], dtype=np.float64)
    result["distances"] = np.asarray(result["distances"], dtype=np.float64)
    result["steps"] = np.asarray(result["steps"], dtype=np.int64)
    result["c"] = np.asarray(result["c"], dtype=dtype)
    result["stopped_at"] = np.asarray(result["stopped_at"], dtype=np.int64)
    return _stopped_early(result, ("losses", "distances", "test_outputs"))


def _as_linear_result(result: dict) -> dict:
    """Linearized-GD records: losses and distances in float64, like :func:`_as_result`."""
    result = dict(result)
    result["losses"] = np.asarray(result["losses"], dtype=np.float64)
    result["distances"] = np.asarray(result["distances"], dtype=np.float64)
    result["steps"] = np.asarray(result["steps"], dtype=np.int64)
    result["stopped_at"] = np.asarray(result["stopped_at"], dtype=np.int64)
    return _stopped_early(result, ("losses", "distances", "residuals", "test_outputs"))


class CppBackend:
    name = "cpp"

    forward = staticmethod(_core.forward)
    jacobian = staticmethod(_core.jacobian)
    ntk_diag = staticmethod(_core.ntk_diag)

    @staticmethod
    def ntk_gram(X1, X2, U, b, v, c, activation, parametrization, width_chunk=0):
        return _core.ntk_gram(X1, X2, U, b, v, c, activation, parametrization, width_chunk)

    @staticmethod
    def loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale):
        return _core.loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale)

    @staticmethod
    def train(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test, loss_scale,
              divergence_factor=DIVERGENCE_FACTOR):
        result = _core.train(X, y, *params, *initial, activation, parametrization, lr, steps, record_every,
                             X_test, loss_scale, divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test,
                       loss_scale, divergence_factor=DIVERGENCE_FACTOR):
        result = _core.train_ensemble(X, y, *params, *initial, activation, parametrization, lr, steps,
                                      record_every, X_test, loss_scale, divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def jvp(X, U, b, v, c, dU, db, dv, dc, activation, parametrization):
        return _core.jvp(X, U, b, v, c, dU, db, dv, dc, activation, parametrization)

    @staticmethod
    def vjp(X, r, U, b, v, c, activation, parametrization):
        return _core.vjp(X, r, U, b, v, c, activation, parametrization)

    @staticmethod
    def linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross=None, test_initial=None,
                  offset_outputs=None, offset_squared_norm=0.0, divergence_factor=DIVERGENCE_FACTOR):
        return _as_linear_result(_core.linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross,
                                                 test_initial, offset_outputs, offset_squared_norm,
                                                 divergence_factor))


class NumpyBackend:
    name = "numpy"

    forward = staticmethod(reference.forward)
    jacobian = staticmethod(reference.jacobian)
    ntk_diag = staticmethod(reference.ntk_diag)

    @staticmethod
    def ntk_gram(X1, X2, U, b, v, c, activation, parametrization, width_chunk=0):
        return reference.ntk_gram(X1, X1 if X2 is None else X2, U, b, v, c, activation, parametrization)

    @staticmethod
    def loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale):
        return reference.loss_grad(X, y, U, b, v, c, activation, parametrization, loss_scale)

    @staticmethod
    def train(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test, loss_scale,
              divergence_factor=DIVERGENCE_FACTOR):
        result = reference.train(X, y, *params, activation, parametrization, lr, steps, record_every, X_test,
                                 loss_scale, initial, divergence_factor=divergence_factor)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test,
                       loss_scale, divergence_factor=DIVERGENCE_FACTOR):
        result = reference.train_ensemble(X, y, *params, activation, parametrization, lr, steps, record_every,
                                          X_test, loss_scale, initial, divergence_factor=divergence_factor)
        return _as_result(result, X.dtype)

    jvp = staticmethod(reference.jvp)
    vjp = staticmethod(reference.vjp)

    @staticmethod
    def linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross=None, test_initial=None,
                  offset_outputs=None, offset_squared_norm=0.0, divergence_factor=DIVERGENCE_FACTOR):
        return _as_linear_result(reference.linear_gd(theta, residual, lr, loss_scale, steps, record_every, cross,
                                                     test_initial, offset_outputs, offset_squared_norm,
                                                     divergence_factor=divergence_factor))


BACKENDS = {"cpp": CppBackend, "numpy": NumpyBackend}
