"""The gradient of the infinite-width kernels in the logarithms of the variances (docs/theory.md, section 10).

Forward mode through the layer recursion of :mod:`~widenet.reference.limit_kernels.deep`:
every quantity carries its value and its derivatives in the chosen log-variances
(:class:`_Dual`), and each layer's expectations pass theirs on by the chain rule with the
partials of :func:`~widenet.reference.limit_kernels.derivatives.expectation_partials`,

    dE = E_c dS12 + E_1 dS11 + E_2 dS22.

The tangent kernel's recursion is written in one form for every case,

    Theta^1 = a x.z/d + b,   Theta^(l+1) = a E_ss + b + s_w^2 E_dd Theta^l,
    K = o_v E_ss + o_c + s_v^2 E_dd Theta^L,

with the coefficients of :func:`_coefficients` (section 8); LeCun's ``K_n / n`` limit has
``Theta^1 = 0``, ``a = o_v = 1`` and ``b = o_c = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import (
    KINDS,
    PARAMETRIZATIONS,
    Array,
    Kind,
    Method,
    Parametrization,
    _choice,
)
from widenet.reference.limit_kernels.derivatives import expectation_partials
from widenet.reference.limit_kernels.kernel import expectations

VARIANCES = ("weight_var", "bias_var", "output_var", "output_bias_var")
"""The variances a gradient can be taken in, in the order of the kernels' arguments."""


@dataclass
class _Dual:
    """A value with its derivatives in the chosen log-variances: ``tangent[j] = d value / d log s_j^2``.

    Scalars are 0-d values with tangents of shape (k, 1, 1), so that they broadcast against
    the (k, m, m) tangents of the matrices.
    """

    value: Array
    tangent: Array

    def __add__(self, other: Union[_Dual, float]) -> _Dual:
        if isinstance(other, _Dual):
            return _Dual(self.value + other.value, self.tangent + other.tangent)
        return _Dual(self.value + other, self.tangent)

    def __mul__(self, other: Union[_Dual, Array]) -> _Dual:
        if isinstance(other, _Dual):
            return _Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)
        return _Dual(self.value * other, self.tangent * other)


def _variance(value: float, name: str, free: Sequence[str]) -> _Dual:
    """Return a variance as a dual number: ``d s^2 / d log s^2 = s^2`` in its own direction."""
    tangent = np.array([value if name == other else 0.0 for other in free]).reshape(-1, 1, 1)
    return _Dual(np.asarray(float(value)), tangent)


def _constant(value: float, count: int) -> _Dual:
    return _Dual(np.asarray(float(value)), np.zeros((count, 1, 1)))


def _coefficients(parametrization: Parametrization, multipliers: bool, bias: bool, w: _Dual, b: _Dual, v: _Dual,
                  c: _Dual, count: int) -> Tuple[_Dual, _Dual, _Dual, _Dual]:
    """Return ``(a, b, o_v, o_c)`` of the tangent kernel's recursion (module docstring)."""
    if parametrization == "lecun":
        return _constant(1.0, count), _constant(0.0, count), _constant(1.0, count), _constant(0.0, count)
    if multipliers:
        return w, b, v, c
    ones = _constant(1.0 if bias else 0.0, count)
    return _constant(1.0, count), ones, _constant(1.0, count), ones


def _layer(S: _Dual, activation: str, method: Method, order: Optional[int],
           tangent_kernel: bool) -> Tuple[_Dual, _Dual]:
    """Return ``E_ss`` and ``E_dd`` of a symmetric covariance with their derivatives (``E_dd``'s only if needed)."""
    q = np.diag(S.value).copy()
    E_ss, E_dd = expectations(q, q, S.value, activation, method, order)
    p = expectation_partials(q, q, S.value, activation, tangent_kernel)
    dq = np.diagonal(S.tangent, axis1=1, axis2=2)
    d_ss = p.ss_c * S.tangent + p.ss_1 * dq[:, :, None] + p.ss_2 * dq[:, None, :]
    d_dd = p.dd_c * S.tangent + p.dd_1 * dq[:, :, None] + p.dd_2 * dq[:, None, :] if tangent_kernel else \
        np.zeros((S.tangent.shape[0], 1, 1))
    return _Dual(E_ss, d_ss), _Dual(E_dd, d_dd)


def deep_limit_kernel_gradient(X: npt.ArrayLike, activation: str, depth: int,
                               parametrization: Parametrization = "lecun", kind: Kind = "ntk",
                               weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                               output_bias_var: float = 0.0, bias: bool = True,
                               multipliers: bool = False, method: Method = "auto", order: Optional[int] = None,
                               free: Sequence[str] = VARIANCES) -> Tuple[Array, Array]:
    """Return the kernel ``K(X, X)`` and its derivatives in the logarithms of the variances named in ``free``.

    The arguments are those of :func:`~widenet.reference.limit_kernels.deep_limit_kernel`
    (any depth; one hidden layer is ``depth=1``). Without ``bias`` the bias variances are not
    used and their derivatives are 0. The expectations come from ``method``; their partials
    are analytic (:data:`~widenet.reference.limit_kernels.GRADIENT_ACTIVATIONS`).

    Parameters
    ----------
    X : ndarray, shape (m, d)
    free : sequence of str
        Names from :data:`VARIANCES`, in the order of the gradient's last axis.

    Returns
    -------
    K : ndarray, shape (m, m)
    gradient : ndarray, shape (m, m, len(free))
        ``gradient[i, j, k] = dK(x_i, x_j) / d log(free[k])``.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    unknown = [name for name in free if name not in VARIANCES]
    if unknown or depth < 1:
        raise ValueError(f"free: expected names from {', '.join(VARIANCES)}, got {unknown}" if unknown else
                         f"depth: expected an integer >= 1, got {depth}")
    P = np.asarray(X, dtype=np.float64)
    count = len(free)
    w, v = _variance(weight_var, "weight_var", free), _variance(output_var, "output_var", free)
    b = _variance(bias_var if bias else 0.0, "bias_var", free)
    c = _variance(output_bias_var if bias else 0.0, "output_bias_var", free)
    gram = _Dual(P @ P.T / P.shape[1], np.zeros((count, 1, 1)))
    a, bias_weight, o_v, o_c = _coefficients(parametrization, multipliers, bias, w, b, v, c, count)
    tangent_kernel = kind == "ntk"
    S = w * gram + b
    # LeCun's K_n / n limit: the first layer's gradients vanish after the division
    theta = _constant(0.0, count) if parametrization == "lecun" else a * gram + bias_weight
    for layer in range(depth):
        E_ss, E_dd = _layer(S, activation, method, order, tangent_kernel)
        if layer < depth - 1:
            if tangent_kernel:
                theta = a * E_ss + bias_weight + w * E_dd * theta
            S = w * E_ss + b
    kernel = v * E_ss + c if kind == "nngp" else o_v * E_ss + o_c + v * E_dd * theta
    return kernel.value, np.moveaxis(np.broadcast_to(kernel.tangent, (count,) + kernel.value.shape), 0, -1).copy()
