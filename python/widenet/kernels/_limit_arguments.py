"""The arguments of the limit kernels, checked once for every entry point (each error naming its argument)."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _validation as check
from widenet._native import _core
from widenet._types import Activation, Kind, Method, Parametrization
from widenet.kernels.activation import ActivationArgument, CallableActivation, checked_activation
from widenet.kernels.base import checked_pair

PARAMETRIZATIONS = _core.PARAMETRIZATIONS

# The compiled core's lists and constants; "auto" and "monte_carlo" are chosen here.
KINDS = _core.LIMIT_KINDS
METHODS: tuple[Method, ...] = ("auto", *_core.LIMIT_METHODS, "monte_carlo")
CLOSED_FORMS = _core.CLOSED_FORMS
SCALE_MIXTURES = _core.SCALE_MIXTURES
EXPANSIONS = _core.EXPANSIONS
TOLERANCE = _core.LIMIT_TOLERANCE

Float64Array = NDArray[np.float64]


Arguments = tuple[Float64Array, Optional[Float64Array], Union[Activation, CallableActivation], Parametrization, Kind,
                  Method, Optional[int], tuple[float, float, float, float], tuple[int, bool, bool], float]


def checked_arguments(X1: ArrayLike, X2: Optional[ArrayLike], activation: ActivationArgument, parametrization: object,
                       kind: object, method: object, order: object, variances: tuple[object, object, object, object],
                       layers: tuple[object, object, object]) -> Arguments:
    """Return the arguments checked in signature order, and the points' largest first pre-activation variance."""
    points1, points2 = checked_pair(X1, X2, np.dtype(np.float64), min_columns=1)
    checked = checked_activation(activation)
    parametrization = check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
    kind = check.choice(kind, "kind", KINDS)
    method = check.choice(method, "method", METHODS)
    if order is not None:
        order = check.integer(order, "order", 2, _core.LIMIT_MAX_ORDER)
    names = ("weight_var", "bias_var", "output_var", "output_bias_var")
    weight_var, bias_var, output_var, output_bias_var = (check.non_negative_real(value, name)
                                                         for value, name in zip(variances, names))
    depth, bias, multipliers = checked_layers(parametrization, *layers)
    largest = max(largest_variance(points, name, weight_var, bias_var if bias else 0.0)
                  for points, name in ((points1, "X1"), (points2, "X2")))
    return (points1, points2, checked, parametrization, kind, method, order,
            (weight_var, bias_var, output_var, output_bias_var), (depth, bias, multipliers), largest)


def checked_layers(parametrization: Parametrization, depth: object, bias: object,
                    multipliers: object) -> tuple[int, bool, bool]:
    """Return the depth, biases and multipliers of the network, checked, each error naming its argument."""
    depth = check.integer(depth, "depth", 1)
    bias, multipliers = check.boolean(bias, "bias"), check.boolean(multipliers, "multipliers")
    if multipliers and parametrization != "ntk":
        raise ValueError("multipliers: expected False under parametrization='lecun' (multipliers are the NTK "
                         "parametrization's convention)")
    return depth, bias, multipliers


def check_function_method(method: str) -> None:
    """Refuse the methods an activation given as a function does not have."""
    if method in ("closed_form", "scale_mixture"):
        raise ValueError(f"method: an activation given as a function has no {method.replace('_', ' ')}; use "
                         f"'auto' (the expansion, with the quadrature where it has not converged), 'expansion', "
                         f"'quadrature' or 'monte_carlo'")


def check_method(method: Method, activation: Activation, largest: float) -> None:
    """Refuse a method that does not apply to ``activation``, or the quadrature beyond the variances it takes.

    ``largest`` is the largest pre-activation variance of the points.
    """
    if method == "closed_form" and activation not in CLOSED_FORMS:
        raise ValueError(f"method: no closed form for activation {activation!r} (there is one for "
                         f"{', '.join(CLOSED_FORMS)}); use 'auto', 'scale_mixture' or 'quadrature'")
    if method == "scale_mixture" and activation not in SCALE_MIXTURES:
        raise ValueError(f"method: no scale mixture for activation {activation!r} (there is one for "
                         f"{', '.join(SCALE_MIXTURES)}); use 'auto', 'closed_form' or 'quadrature'")
    if method == "expansion" and activation not in EXPANSIONS:
        raise ValueError(f"method: no expansion for activation {activation!r} (there is one for "
                         f"{', '.join(EXPANSIONS)}); use 'auto', 'closed_form' or 'quadrature'")
    limit = _core.QUADRATURE_MAX_VARIANCE.get(activation)
    if method == "quadrature" and limit is not None and largest > limit:
        raise ValueError(f"method: the quadrature of {activation} takes pre-activation variances up to {limit:g} "
                         f"(its cost grows with the variance); these points reach {largest:.4g}. Use 'auto', "
                         f"accurate at every variance")


def largest_variance(X: Optional[Float64Array], name: str, weight_var: float, bias_var: float) -> float:
    """Return the largest pre-activation variance ``s_w^2 |x|^2 / d + s_b^2`` of the rows of ``X`` (0 for None).

    Refuses points where it overflows float64: every method would turn it into NaN
    (inf * 0 in the expectations).
    """
    if X is None:
        return 0.0
    with np.errstate(over="ignore"):
        variance = weight_var * np.einsum("ij,ij->i", X, X) / X.shape[1] + bias_var
    overflowed = ~np.isfinite(variance)
    if overflowed.any():
        row = int(np.argmax(overflowed))
        raise ValueError(f"{name}: the pre-activation variance s_w^2 |x|^2 / d + s_b^2 overflows float64 at row "
                         f"{row} (max |x_j| = {np.max(np.abs(X[row])):.4g}); expected inputs of moderate magnitude")
    return float(variance.max())
