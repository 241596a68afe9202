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

ACTIVATIONS = ("relu", "tanh", "erf", "arctan", "sigmoid", "softplus", "gelu", "sin", "identity", "leaky_relu", "elu",
               "silu", "abs", "monomial2", "monomial3")
LEAKY_RELU_SLOPE = 0.01
"""leaky_relu(z) = LEAKY_RELU_SLOPE z for z <= 0."""
ELU_ALPHA = 1.0
"""elu(z) = ELU_ALPHA (e^z - 1) for z < 0."""

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


def _in_float64(function: _Elementwise) -> _Elementwise:
    """Return ``function`` evaluated in float64 and rounded once to the input's dtype."""
    return lambda z: np.asarray(function(z.astype(np.float64)), dtype=z.dtype)


def _leaky_relu(z: FloatArray) -> FloatArray:
    return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)


def _elu(z: FloatArray) -> FloatArray:
    return np.where(z < 0, ELU_ALPHA * np.expm1(np.minimum(z, 0)), z)


def _silu(z: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):  # silu(-inf) = 0, not -inf * 0
        return np.where(z == -np.inf, -0.0, z * _sigmoid(z))


def _silu_derivative(z: FloatArray) -> FloatArray:
    # sigmoid + z sigmoid', the second term 0 (not inf * 0) at z = +-inf
    return _sigmoid(z) + _times_vanishing(z, _sigmoid(z) * _sigmoid(-z))


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
    "leaky_relu": (_in_float64(_leaky_relu), lambda z: np.where(z > 0, 1, LEAKY_RELU_SLOPE).astype(z.dtype)),
    "elu": (_in_float64(_elu), _in_float64(lambda z: np.where(z < 0, ELU_ALPHA * np.exp(np.minimum(z, 0)), 1))),
    "silu": (_in_float64(_silu), _in_float64(_silu_derivative)),
    "abs": (np.abs, lambda z: np.where(z > 0, 1, np.where(z < 0, -1, 0)).astype(z.dtype)),
    "monomial2": (_in_float64(lambda z: z * z), _in_float64(lambda z: 2 * z)),
    "monomial3": (_in_float64(lambda z: z * z * z), _in_float64(lambda z: 3 * (z * z))),
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
        (erf) form. ``leaky_relu(z) = max(z, LEAKY_RELU_SLOPE z)``, ``elu(z) = ELU_ALPHA
        (e^z - 1)`` below 0 and ``z`` above, ``silu(z) = z sigmoid(z)`` (swish),
        ``abs(z) = |z|``, ``monomial2(z) = z^2`` and ``monomial3(z) = z^3``; these are
        computed in float64 and rounded once for float32 input (as the C++ does).

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
        is the sigmoid; gelu' is ``Phi(z) + z phi(z)``. At 0, leaky_relu' is
        ``LEAKY_RELU_SLOPE`` and abs' is 0 (the left derivative, and the mean of the two,
        as relu's 0 is both); silu' is ``sigmoid(z) + z sigmoid'(z)``.

    Raises
    ------
    ValueError
        If ``name`` is not a known activation.
    """
    with np.errstate(over="ignore"):
        return _lookup(name)[1](_as_float_array(z))
