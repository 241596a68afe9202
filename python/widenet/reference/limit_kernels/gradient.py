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
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import (
    _BLOCK_FLOATS,
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


# A layer's pre-activation variances at a set of points: values (m,) and derivatives (k, m).
Diagonal = Tuple[Array, Array]


@dataclass
class _Recursion:
    """The layer recursion of one network, on dual numbers, for blocks of pairs of points."""

    activation: str
    depth: int
    kind: Kind
    lecun: bool
    method: Method
    order: Optional[int]
    w: _Dual
    b: _Dual
    v: _Dual
    c: _Dual
    a: _Dual  # the tangent kernel's coefficients (module docstring)
    a_b: _Dual
    o_v: _Dual
    o_c: _Dual

    def pairs(self, P1: Array, P2: Array, rows: Optional[List[Diagonal]] = None,
              columns: Optional[List[Diagonal]] = None, offset: int = 0) -> Tuple[_Dual, List[Diagonal]]:
        """Return the kernel between the rows of ``P1`` and ``P2``, and each layer's variances of ``P1``.

        ``rows`` and ``columns`` are each layer's variances of the points of ``P1`` and ``P2``
        (None for ``P2 = P1``: read from the diagonal). The variances are pinned on the
        pairs of a point with itself, where ``P2`` holds the same points from ``offset``
        on, so that their correlation is exactly 1.
        """
        count = self.w.tangent.shape[0]
        gram = _Dual(P1 @ P2.T / P1.shape[1], np.zeros((count, 1, 1)))
        S = self.w * gram + self.b
        # LeCun's K_n / n limit: the first layer's gradients vanish after the division
        theta = _constant(0.0, count) if self.lecun else self.a * gram + self.a_b
        own: List[Diagonal] = []
        for layer in range(self.depth):
            if rows is None or columns is None:
                row = column = (np.diag(S.value).copy(), np.diagonal(S.tangent, axis1=1, axis2=2).copy())
            else:
                row, column = rows[layer], columns[layer]
                pairs_of_itself = (np.arange(P1.shape[0]), np.arange(P1.shape[0]) + offset)
                S.value[pairs_of_itself], S.tangent[(slice(None),) + pairs_of_itself] = row
            own.append(row)
            E_ss, E_dd = self._expectations(S, row, column)
            if layer < self.depth - 1:
                if self.kind == "ntk":
                    theta = self.a * E_ss + self.a_b + self.w * E_dd * theta
                S = self.w * E_ss + self.b
        kernel = self.v * E_ss + self.c if self.kind == "nngp" else self.o_v * E_ss + self.o_c + self.v * E_dd * theta
        return kernel, own

    def _expectations(self, S: _Dual, row: Diagonal, column: Diagonal) -> Tuple[_Dual, _Dual]:
        """Return ``E_ss`` and ``E_dd`` at the covariances ``S`` with their derivatives (``E_dd``'s if needed)."""
        (q1, dq1), (q2, dq2) = row, column
        tangent_kernel = self.kind == "ntk"
        E_ss, E_dd = expectations(q1, q2, S.value, self.activation, self.method, self.order)
        p = expectation_partials(q1, q2, S.value, self.activation, tangent_kernel)
        d_ss = p.ss_c * S.tangent + p.ss_1 * dq1[:, :, None] + p.ss_2 * dq2[:, None, :]
        d_dd = p.dd_c * S.tangent + p.dd_1 * dq1[:, :, None] + p.dd_2 * dq2[:, None, :] if tangent_kernel else \
            np.zeros((S.tangent.shape[0], 1, 1))
        return _Dual(E_ss, d_ss), _Dual(E_dd, d_dd)


def _recursion(activation: str, depth: int, parametrization: Parametrization, kind: Kind,
               variances: Tuple[float, float, float, float], bias: bool, multipliers: bool, method: Method,
               order: Optional[int], free: Sequence[str]) -> _Recursion:
    weight_var, bias_var, output_var, output_bias_var = variances
    count = len(free)
    w, v = _variance(weight_var, "weight_var", free), _variance(output_var, "output_var", free)
    b = _variance(bias_var if bias else 0.0, "bias_var", free)
    c = _variance(output_bias_var if bias else 0.0, "output_bias_var", free)
    one, bias_one = _constant(1.0, count), _constant(1.0 if bias else 0.0, count)
    if parametrization == "lecun":
        coefficients = (one, _constant(0.0, count), one, _constant(0.0, count))
    else:
        coefficients = (w, b, v, c) if multipliers else (one, bias_one, one, bias_one)
    return _Recursion(activation, depth, kind, parametrization == "lecun", method, order, w, b, v, c, *coefficients)


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
    are analytic (:data:`~widenet.reference.limit_kernels.GRADIENT_ACTIVATIONS`). The pairs
    are taken a block of rows at a time, after each point's variances in every layer
    (from the blocks of pairs of points among themselves).

    Parameters
    ----------
    X : ndarray, shape (m, d)
    free : sequence of str
        Names from :data:`VARIANCES`, in the order of the gradient's last axis.

    Returns
    -------
    K : ndarray, shape (m, m)
    gradient : ndarray, shape (m, m, len(free))
        ``gradient[i, j, k] = dK(x_i, x_j) / d log(free[k])`` (a view of an array of shape
        (len(free), m, m)).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> K, gradient = deep_limit_kernel_gradient(X, "relu", 1, kind="nngp", output_var=2.0, free=["output_var"])
    >>> bool(np.allclose(gradient[:, :, 0], K))  # K = s_v^2 E_ss: d K / d log s_v^2 = K
    True
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    unknown = [name for name in free if name not in VARIANCES]
    if unknown or depth < 1:
        raise ValueError(f"free: expected names from {', '.join(VARIANCES)}, got {unknown}" if unknown else
                         f"depth: expected an integer >= 1, got {depth}")
    P = np.asarray(X, dtype=np.float64)
    m, count = P.shape[0], len(free)
    recursion = _recursion(activation, depth, parametrization, kind, (weight_var, bias_var, output_var,
                                                                      output_bias_var), bias, multipliers, method,
                           order, free)
    step = max(1, _BLOCK_FLOATS // max(1, m * (count + 1)))
    blocks = [slice(start, start + step) for start in range(0, m, step)]
    per_block = [recursion.pairs(P[block], P[block])[1] for block in blocks]
    diagonals = [(np.concatenate([own[layer][0] for own in per_block]),
                  np.concatenate([own[layer][1] for own in per_block], axis=1)) for layer in range(depth)]
    kernel, tangents = np.empty((m, m)), np.empty((count, m, m))
    for block in blocks:
        rows = [(q[block], dq[:, block]) for q, dq in diagonals]
        value, _ = recursion.pairs(P[block], P, rows, diagonals, block.start)
        kernel[block], tangents[:, block] = value.value, value.tangent
    return kernel, np.moveaxis(tangents, 0, -1)  # a view: each derivative stays contiguous
