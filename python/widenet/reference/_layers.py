"""What the numpy twins of the shallow network share: the network object they read and the parametrizations.

Both parametrizations are ``Phi(x) = a v . sigma(s U x + b) + c`` (or, with ``k`` outputs,
``a V sigma(s U x + b) + c``), with ``(a, s) = (1, 1)`` for "lecun" (11.5.1) and
``(n^{-1/2}, d^{-1/2})`` for "ntk" (11.6.1).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference.activations import FloatArray

Parametrization = Literal["lecun", "ntk"]
_Layers = Tuple[Tuple[Any, Any], Tuple[Any, Any]]  # ((U, b), (v, c))

_PARAMETRIZATIONS = ("lecun", "ntk")


class NetworkLike(Protocol):
    """What the twins read of a network: its dense layers and its architecture.

    The compiled ``Network`` has these attributes, and so has :class:`Network`.
    """

    @property
    def layers(self) -> Any:
        """``((U, b), (v, c))``."""

    @property
    def activation(self) -> str:
        """One of :data:`~widenet.reference.ACTIVATIONS`."""

    @property
    def parametrization(self) -> str:
        """``"lecun"`` or ``"ntk"``."""


def _unpacked(net: NetworkLike) -> Tuple[Any, Any, Any, Any, str, Any]:
    """Return ``(U, b, v, c, activation, parametrization)`` of a network object."""
    (U, b), (v, c) = net.layers
    return U, b, v, c, net.activation, net.parametrization


def _as_layers(U: Any, b: Any, v: Any, c: Any) -> _Layers:
    """Return parameter blocks in the layout of ``Network.layers``."""
    return (U, b), (v, c)


def _scales(parametrization: str, n: int, d: int) -> Tuple[float, float]:
    """Return the output and input scales ``(a, s)`` of ``Phi(x) = a v.sigma(s U x + b) + c``."""
    if parametrization == "lecun":
        return 1.0, 1.0
    if parametrization == "ntk":
        return 1.0 / math.sqrt(n), 1.0 / math.sqrt(d)
    raise ValueError(f"parametrization must be one of {', '.join(_PARAMETRIZATIONS)}; got {parametrization!r}")


def _cast(dtype: npt.DTypeLike, *arrays: npt.ArrayLike) -> Tuple[FloatArray, ...]:
    return tuple(np.asarray(x, dtype=dtype) for x in arrays)


def _T(M: FloatArray) -> FloatArray:
    """Transpose the last two axes."""
    return np.swapaxes(M, -1, -2)


def _preactivations(X: FloatArray, U: FloatArray, b: FloatArray,
                    parametrization: str) -> Tuple[FloatArray, float, float]:
    """Return the pre-activations ``Z = s X U^T + b`` of shape (..., m, n), and the scales (a, s)."""
    a, s = _scales(parametrization, *U.shape[-2:])
    return s * (X @ _T(U)) + b[..., None, :], a, s


def _several(net: NetworkLike) -> bool:
    """Tell whether ``net`` has the readout of several outputs: ``v`` of shape (k, n), ``c`` of shape (k,)."""
    return bool(np.ndim(net.layers[1][0]) == 2)
