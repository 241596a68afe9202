"""Activation functions and their first derivatives (docs/theory.md, section 7).

The numpy twin of the C++ activation header: every function is elementwise and keeps
the floating dtype of its input (float32 in, float32 out).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
_Elementwise = Callable[[FloatArray], FloatArray]

ACTIVATIONS = ("relu", "tanh", "erf", "arctan", "sigmoid", "softplus", "gelu", "sin", "identity")

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_math_erf = np.frompyfunc(math.erf, 1, 1)


def _erf(z: FloatArray) -> FloatArray:
    """Error function of an array, through ``math.erf`` (a reference: read, not raced)."""
    return np.asarray(_math_erf(z), dtype=z.dtype)


_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _sigmoid(z: FloatArray) -> FloatArray:
    # e^min(z,0) / (1 + e^-|z|): no overflow for any |z|, and no cancellation in the left
    # tail (1 - something near 1), where sigmoid(-40) = 4.2e-18 must not round to 0.
    decay = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, decay) / (1 + decay)


def _normal_cdf(z: FloatArray) -> FloatArray:
    # Phi(z) = erfc(-z / sqrt 2) / 2: accurate in the left tail, where 1 + erf(.) cancels.
    return np.asarray(0.5 * _math_erfc(-z / _SQRT2), dtype=z.dtype)


def _times_vanishing(z: FloatArray, factor: FloatArray) -> FloatArray:
    """Return ``z * factor``, where ``factor`` vanishes faster than ``z`` grows.

    The product is 0 at z = +-inf (the limit) rather than inf * 0 = NaN.
    """
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(z), 0, z * factor).astype(z.dtype, copy=False)


def _gelu(z: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        return np.where(z == -np.inf, 0, z * _normal_cdf(z)).astype(z.dtype, copy=False)


def _tanh_derivative(z: FloatArray) -> FloatArray:
    # 1 - tanh(z)^2 = 4 e^{-2|z|} / (1 + e^{-2|z|})^2, without the cancellation of 1 - tanh^2
    # in the tails (1e-9 relative error at |z| = 10).
    decay = np.exp(-2 * np.abs(z))
    return 4 * decay / (1 + decay) ** 2


def _gelu_derivative(z: FloatArray) -> FloatArray:
    return _normal_cdf(z) + _times_vanishing(z, _INV_SQRT_2PI * np.exp(-0.5 * z * z))


# name -> (sigma, sigma')
_TABLE: Dict[str, Tuple[_Elementwise, _Elementwise]] = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, _tanh_derivative),
    "erf": (_erf, lambda z: _TWO_OVER_SQRT_PI * np.exp(-z * z)),
    "arctan": (np.arctan, lambda z: 1 / (1 + z * z)),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z)),
    "softplus": (lambda z: np.logaddexp(0, z), _sigmoid),
    "gelu": (_gelu, _gelu_derivative),
    "sin": (np.sin, np.cos),
    "identity": (lambda z: z.copy(), np.ones_like),
}


def _lookup(name: str) -> Tuple[_Elementwise, _Elementwise]:
    try:
        return _TABLE[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}") from None


def _as_float_array(z: npt.ArrayLike) -> FloatArray:
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)


def activation(name: str, z: npt.ArrayLike) -> FloatArray:
    """Apply the activation ``sigma`` elementwise (docs/theory.md, section 7).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations. Floating input keeps its dtype; anything else becomes float64.

    Returns
    -------
    numpy.ndarray
        ``sigma(z)``, same shape as ``z``. ``softplus(z) = log(1 + e^z)`` and
        ``sigmoid`` are computed without overflow; ``gelu(z) = z Phi(z)`` is the exact
        (erf) form.

    Raises
    ------
    ValueError
        If ``name`` is not a known activation.
    """
    with np.errstate(over="ignore"):  # intermediates like z * z may overflow on the way to a finite limit
        return _lookup(name)[0](_as_float_array(z))


def activation_derivative(name: str, z: npt.ArrayLike) -> FloatArray:
    """Apply the first derivative ``sigma'`` elementwise (docs/theory.md, section 7).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations. Floating input keeps its dtype; anything else becomes float64.

    Returns
    -------
    numpy.ndarray
        ``sigma'(z)``, same shape as ``z``. The ReLU derivative at 0 is 0; softplus'
        is the sigmoid; gelu' is ``Phi(z) + z phi(z)``.

    Raises
    ------
    ValueError
        If ``name`` is not a known activation.
    """
    with np.errstate(over="ignore"):
        return _lookup(name)[1](_as_float_array(z))
