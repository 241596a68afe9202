"""The two implementations of the shallow-network kernels behind one interface.

``cpp`` calls the compiled Eigen kernels, ``numpy`` the reference twins that mirror the
formulas. Both take arrays already validated and converted to one dtype.
"""

from __future__ import annotations

import numpy as np

from . import reference
from ._native import _core


def _as_result(result: dict, dtype) -> dict:
    """Records in float64 and ``c`` as floats, whichever backend produced them."""
    result = dict(result)
    result["losses"] = np.asarray(result["losses"], dtype=np.float64)
    result["distances"] = np.asarray(result["distances"], dtype=np.float64)
    result["steps"] = np.asarray(result["steps"], dtype=np.int64)
    result["c"] = np.asarray(result["c"], dtype=dtype)
    return result


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
    def train(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test, loss_scale):
        result = _core.train(X, y, *params, *initial, activation, parametrization, lr, steps, record_every,
                             X_test, loss_scale)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test,
                       loss_scale):
        result = _core.train_ensemble(X, y, *params, *initial, activation, parametrization, lr, steps,
                                      record_every, X_test, loss_scale)
        return _as_result(result, X.dtype)


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
    def train(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test, loss_scale):
        result = reference.train(X, y, *params, activation, parametrization, lr, steps, record_every, X_test,
                                 loss_scale, initial)
        return _as_result(result, X.dtype)

    @staticmethod
    def train_ensemble(X, y, params, initial, activation, parametrization, lr, steps, record_every, X_test,
                       loss_scale):
        result = reference.train_ensemble(X, y, *params, activation, parametrization, lr, steps, record_every,
                                          X_test, loss_scale, initial)
        return _as_result(result, X.dtype)


BACKENDS = {"cpp": CppBackend, "numpy": NumpyBackend}
