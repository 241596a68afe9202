"""Activation functions and their first derivatives (SPEC "Activations").

The numpy twin of the C++ activation header: every function is elementwise and keeps
the floating dtype of its input (float32 in, float32 out).
"""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("relu", "tanh", "erf", "arctan", "sigmoid", "softplus", "gelu", "sin", "identity")

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_math_erf = np.frompyfunc(math.erf, 1, 1)


def _erf(z):
    """Error function of an array, through ``math.erf`` (a reference: read, not raced)."""
    return np.asarray(_math_erf(z), dtype=z.dtype)


def _sigmoid(z):
    # 1 / (1 + e^-z) written through tanh: no overflow for any |z|.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _normal_cdf(z):
    return 0.5 * (1.0 + _erf(z / _SQRT2))


# name -> (sigma, sigma')
_TABLE = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "erf": (_erf, lambda z: _TWO_OVER_SQRT_PI * np.exp(-z * z)),
    "arctan": (np.arctan, lambda z: 1 / (1 + z * z)),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z)),
    "softplus": (lambda z: np.logaddexp(0, z), _sigmoid),
    "gelu": (
        lambda z: z * _normal_cdf(z),
        lambda z: _normal_cdf(z) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z),
    ),
    "sin": (np.sin, np.cos),
    "identity": (lambda z: z.copy(), np.ones_like),
}


def _lookup(name):
    try:
        return _TABLE[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}") from None


def _as_float_array(z):
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)


def activation(name, z):
    """Apply the activation ``sigma`` elementwise (SPEC "Activations").

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
    return _lookup(name)[0](_as_float_array(z))


def activation_derivative(name, z):
    """Apply the first derivative ``sigma'`` elementwise (SPEC "Activations").

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
    return _lookup(name)[1](_as_float_array(z))
