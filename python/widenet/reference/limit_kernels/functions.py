"""An activation as the numerical methods of the limit kernels see it: ``sigma`` and ``sigma'``.

The expansion, the graded quadrature and Monte Carlo only evaluate ``sigma`` and ``sigma'``
on arrays, so they take a built-in activation by name or any pair of vectorised functions
(:class:`ActivationFunctions`). A user's function may return non-finite values (overflow at
a large pre-activation, NaN where it is undefined): :func:`evaluate` refuses them by
naming ``activation``, where the built-ins are finite by construction.

Without its derivative, a function's ``sigma'`` is :class:`CentralDifference`: the
fourth-order central difference

    sigma'(t) ~ (8 (sigma(t + h) - sigma(t - h)) - (sigma(t + 2h) - sigma(t - 2h))) / (12 h),

with ``h = DIFFERENCE_STEP max(1, |t|)``. Its truncation error is ``h^4 |sigma^(5)| / 30`` and
its rounding error about ``3 eps |sigma| / (2 h)``; the step ``eps^(1/5)`` balances the two for
a function that changes on the scale ``max(1, |t|)``, to about ``1e-12`` of ``|sigma|`` (for
tanh, erf and silu, within ``2e-12`` of the exact derivative everywhere). Within ``2h`` of a
kink (relu at 0) it is wrong by up to the jump, so a function with a kink needs its
derivative.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference.limit_kernels.common import Array

Elementwise = Callable[[Array], npt.ArrayLike]

DIFFERENCE_STEP = float(np.finfo(np.float64).eps) ** 0.2
"""The relative step ``h / max(1, |t|)`` of the central difference (``eps^(1/5)``, 7.4e-4)."""


class ActivationFunctions(NamedTuple):
    """An activation for the numerical methods: its name, ``sigma``, ``sigma'``, and whether it is a built-in."""

    name: str
    value: Elementwise
    derivative: Elementwise
    builtin: bool
    """A built-in's features are known to the quadrature; a function's are assumed (quadrature module)."""


class CentralDifference:
    """``sigma'`` by the fourth-order central difference of this module's docstring (picklable if ``sigma`` is)."""

    def __init__(self, function: Elementwise) -> None:
        self.function = function

    def __call__(self, t: Array) -> Array:
        """Return the difference quotient at ``t`` (float64)."""
        step = DIFFERENCE_STEP * np.maximum(1.0, np.abs(t))
        f = self.function
        with np.errstate(over="ignore", invalid="ignore"):
            near = np.asarray(f(t + step), dtype=np.float64) - np.asarray(f(t - step), dtype=np.float64)
            far = np.asarray(f(t + 2 * step), dtype=np.float64) - np.asarray(f(t - 2 * step), dtype=np.float64)
            return (8 * near - far) / (12 * step)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CentralDifference) and other.function == self.function

    def __hash__(self) -> int:
        return hash((CentralDifference, self.function))


def activation_functions(activation: Union[str, ActivationFunctions]) -> ActivationFunctions:
    """Return the functions of ``activation``: a built-in's by its name, or the functions given.

    Raises ValueError for an unknown name.
    """
    if isinstance(activation, ActivationFunctions):
        return activation
    _act.activation(activation, np.zeros(1))  # unknown names fail here
    return ActivationFunctions(activation, functools.partial(_act.activation, activation),
                               functools.partial(_act.activation_derivative, activation), True)


def evaluate(functions: ActivationFunctions, derivative: bool, t: Array) -> Array:
    """Return ``sigma(t)`` (or ``sigma'(t)``) as float64; a function's non-finite values raise ValueError.

    ``t`` is finite; the values must be too, or every method would turn them into NaN.
    """
    f = functions.derivative if derivative else functions.value
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(f(t), dtype=np.float64)
    if functions.builtin:
        return values
    if values.shape != t.shape:
        raise ValueError(f"activation: {_label(functions, derivative)} returned shape {values.shape} "
                         f"for an input of shape {t.shape}; expected the input's shape")
    bad = ~np.isfinite(values)
    if bad.any():
        where = float(np.asarray(t)[bad].flat[0])
        raise ValueError(f"activation: {_label(functions, derivative)}({where:.6g}) is "
                         f"{float(values[bad].flat[0])}; the limit kernels need finite values at every "
                         f"pre-activation they reach (here up to |t| = {_largest(t):.4g}); expected inputs of "
                         f"smaller magnitude or an activation finite there")
    return values



def _label(functions: ActivationFunctions, derivative: bool) -> str:
    return functions.name + ("'" if derivative else "")


def _largest(t: Array) -> float:
    return float(np.max(np.abs(t))) if t.size else 0.0
