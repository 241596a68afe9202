"""Models that are linear in their parameters, in the form :func:`widenet.linearize` takes.

A model for the linearization gives outputs ``forward(X)`` and the Jacobian
``jacobian(X)`` (m x P) at its parameters ``params`` (a vector, settable). The shallow
network is one such model; these two are the linear ones of sections 11.1 and 11.2:
a linear model ``Phi(x, w) = <x, w>`` (optionally with the bias of Remark 11.1) and a
feature model ``Phi(x, w) = <phi(x), w>`` (Example 11.6, Remark 11.4). Their
linearization is exact, and their tangent kernel is the linear or the feature kernel.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check

_FLOAT64 = np.dtype(np.float64)


def _rows(X: ArrayLike) -> int:
    """Return the number of points in ``X`` (0 for a malformed ``X``, which ``features`` refuses by name)."""
    shape = np.shape(X)
    return shape[0] if len(shape) == 2 else 0


class _LinearInParameters:
    """``Phi(X, w) = F(X) w`` for a feature matrix ``F(X)`` (m x P); ``F`` is the Jacobian."""

    _guards_memory = True  # its methods check their own memory (see widenet.kernels.TangentKernel)

    def __init__(self, weights: ArrayLike, num_params: int) -> None:
        self._params = check.as_shaped(weights, "weights", _FLOAT64, (num_params,)).copy()

    @property
    def params(self) -> NDArray[np.float64]:
        """The parameter vector ``w`` (a copy is stored when set)."""
        return self._params

    @params.setter
    def params(self, value: ArrayLike) -> None:
        self._params = check.as_shaped(value, "params", _FLOAT64, self._params.shape).copy()

    @property
    def num_params(self) -> int:
        """``P``, the number of parameters."""
        return self._params.size

    def features(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the feature matrix ``F(X)`` (m x P) of the rows of ``X``."""
        raise NotImplementedError

    def _check_memory(self, where: str, rows: int, copies: int, gram: tuple[int, int] = (0, 0)) -> None:
        """Guard the memory of ``copies`` feature matrices of ``rows`` points and a Gram of shape ``gram``.

        Counted from the shapes before any feature is formed.
        """
        _memory.require(f"{type(self).__name__}.{where}", [("features", (rows, self.num_params), _FLOAT64, copies),
                                                          ("Gram", gram, _FLOAT64, 1)],
                        "Pass the rows of X in batches.")

    def forward(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return ``Phi(x_i, w)`` for the rows of ``X``."""
        self._check_memory("forward", _rows(X), 1)
        return self.features(X) @ self._params

    __call__ = forward

    def jacobian(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return ``dPhi(X, w)/dw``: the feature matrix, whatever ``w`` is."""
        self._check_memory("jacobian", _rows(X), 2)
        return np.array(self.features(X))  # a copy: the features of a LinearModel are X itself

    def ntk(self, X1: ArrayLike, X2: Optional[ArrayLike] = None) -> NDArray[np.float64]:
        """Return the tangent kernel (11.3.4) ``<F(x), F(z)>``: the model's own kernel."""
        symmetric = X2 is None or X2 is X1
        other = X1 if X2 is None else X2
        rows, columns = _rows(X1), _rows(X1 if symmetric else other)
        self._check_memory("ntk", rows + (0 if symmetric else columns), 1, (rows, columns))
        F1 = self.features(X1)
        return F1 @ (F1 if symmetric else self.features(other)).T

    def ntk_diag(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the diagonal ``<F(x_i), F(x_i)>`` of the tangent kernel, without the m x m matrix."""
        F = self.features(X)
        return np.einsum("ij,ij->i", F, F)


class LinearModel(_LinearInParameters):
    """``Phi(x, w) = <x, w>``, or ``w_0 + <x, w_{1:}>`` with ``bias=True`` (Remark 11.1).

    Parameters
    ----------
    input_dim : int
    bias : bool
        Prepend a constant feature 1 (the augmentation of Remark 11.1).
    weights : array_like, shape (P,), optional
        The parameters ``w``, ``P = input_dim + bias``; zeros by default.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> model = widenet.LinearModel(2, bias=True, weights=[1.0, 2.0, 3.0])  # w_0 + 2 x_1 + 3 x_2
    >>> model.forward(np.array([[1.0, 1.0]]))
    array([6.])
    """

    def __init__(self, input_dim: int, bias: bool = False, weights: Optional[ArrayLike] = None) -> None:
        self.input_dim = check.integer(input_dim, "input_dim", 1)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias: expected a bool, got {bias!r}")
        self.bias = bool(bias)
        size = self.input_dim + self.bias
        super().__init__(np.zeros(size) if weights is None else weights, size)

    def features(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the features: the rows of ``X``, after a constant 1 with ``bias``."""
        points = check.as_inputs(X, "X", _FLOAT64, self.input_dim)
        return np.hstack([np.ones((points.shape[0], 1)), points]) if self.bias else points

    def __repr__(self) -> str:
        return f"LinearModel(input_dim={self.input_dim}, bias={self.bias})"


class FeatureModel(_LinearInParameters):
    """``Phi(x, w) = <phi(x), w>`` for a feature map ``phi`` (Example 11.6).

    Parameters
    ----------
    feature_map : callable
        ``phi``: takes an (m, d) array and returns the (m, P) feature matrix, for example
        :func:`widenet.quadratic_features` or ``lambda X: polynomial_features(X, 3)``.
    weights : array_like, shape (P,)
        The parameters ``w``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> model = widenet.FeatureModel(widenet.quadratic_features, weights=np.ones(6))
    >>> model.forward(np.array([[1.0, 2.0]])).shape
    (1,)
    """

    def __init__(self, feature_map: Callable[[NDArray[np.float64]], ArrayLike], weights: ArrayLike) -> None:
        if not callable(feature_map):
            raise TypeError(f"feature_map: expected a callable X -> features, got {type(feature_map).__name__}")
        self.feature_map = feature_map
        vector: NDArray[Any] = np.asarray(weights)
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError(f"weights: expected a non-empty 1-D array, got shape {vector.shape}")
        super().__init__(vector, vector.size)

    def features(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return ``phi(X)``, checked to be the (m, P) feature matrix."""
        points = check.as_points(X, "X", dtype=_FLOAT64, min_rows=0)
        F = np.asarray(self.feature_map(points), dtype=np.float64)
        if F.shape != (points.shape[0], self.num_params):
            raise ValueError(f"feature_map: expected an ({points.shape[0]}, {self.num_params}) feature matrix for "
                             f"{points.shape[0]} points and {self.num_params} weights, got shape {F.shape}")
        return F

    def __repr__(self) -> str:
        return f"FeatureModel({getattr(self.feature_map, '__name__', self.feature_map)!r}, P={self.num_params})"
