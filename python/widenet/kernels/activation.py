"""Activations given as Python functions, for the limit kernels.

:func:`widenet.limit_kernel`, :class:`widenet.LimitKernel` and :class:`widenet.NTKRegressor`
take ``activation=`` a built-in name or a function ``f`` vectorised over float64 arrays: a
plain callable, or a :class:`CallableActivation` that also carries ``f'`` and a name. Only
the one-dimensional Hermite coefficients and the quadrature need ``f`` (docs/theory.md,
section 5, "Activations given as functions").
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np

from widenet import _validation as check
from widenet._native import _core
from widenet._types import Activation, FloatArray
from widenet.reference.limit_kernels.functions import ActivationFunctions, CentralDifference

Elementwise = Callable[[Any], Any]
ActivationArgument = Union[Activation, "CallableActivation", Elementwise]
"""A built-in activation's name, or a function of a float64 array."""

# Every function is called once on these pre-activations before any work: a 2-D array, so
# that a function that flattens, reduces or broadcasts its input is caught.
_PROBE = np.linspace(-4.0, 4.0, 12).reshape(3, 4)


class CallableActivation:
    """An activation ``f`` given as a function, with its derivative ``f'`` or a finite difference.

    Parameters
    ----------
    function : callable
        ``f``: takes a float64 array and returns a real array of the same shape (values
        convertible to float64), elementwise. It must be finite wherever the kernels
        evaluate it, or they raise ValueError naming ``activation``.
    derivative : callable, optional
        ``f'``, likewise. Without it, ``f'`` is a fourth-order central difference of ``f``,
        within about ``1e-12`` of ``|f|`` for a function that changes on the scale
        ``max(1, |t|)`` (:mod:`widenet.reference.limit_kernels.functions`); near a kink it
        is wrong, so give the derivative of an activation with one (relu's, for instance).
    name : str, optional
        For messages and ``repr`` (default: the function's ``__name__``).

    Notes
    -----
    A CallableActivation pickles (and so does a :class:`widenet.LimitKernel` or a fitted
    :class:`widenet.NTKRegressor` that holds it) when its functions do: functions defined at
    a module's top level and numpy's ufuncs do, lambdas and local functions do not.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> swish = widenet.CallableActivation(lambda t: t / (1 + np.exp(-t)), name="swish")
    >>> K = widenet.limit_kernel(np.eye(3), activation=swish, kind="nngp")
    """

    def __init__(self, function: Elementwise, derivative: Optional[Elementwise] = None,
                 name: Optional[str] = None) -> None:
        self.function = _probed(function, "function")
        self.derivative = None if derivative is None else _probed(derivative, "derivative")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a str or None, got {type(name).__name__}")
        self.name = name if name is not None else str(getattr(function, "__name__", type(function).__name__))

    def __call__(self, t: Any) -> FloatArray:
        """Return ``f(t)`` as a float64 array."""
        return np.asarray(self.function(np.asarray(t, dtype=np.float64)), dtype=np.float64)

    def functions(self) -> ActivationFunctions:
        """Return ``f`` and ``f'`` (the central difference without a derivative) for the numerical methods."""
        derivative = self.derivative if self.derivative is not None else CentralDifference(self.function)
        return ActivationFunctions(self.name, self.function, derivative, False)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CallableActivation)
                and (self.function, self.derivative, self.name) == (other.function, other.derivative, other.name))

    def __hash__(self) -> int:
        return hash((CallableActivation, self.function, self.derivative, self.name))

    def __repr__(self) -> str:
        derivative = "" if self.derivative is None else f", derivative={self.derivative!r}"
        return f"CallableActivation({self.function!r}{derivative}, name={self.name!r})"


def checked_activation(activation: object) -> Union[Activation, CallableActivation]:
    """Return ``activation``: a built-in's name (checked), or a function as a probed :class:`CallableActivation`."""
    if isinstance(activation, str):
        return check.choice(activation, "activation", _core.ACTIVATIONS)
    if isinstance(activation, CallableActivation):
        return activation
    if callable(activation):
        return CallableActivation(_probed(activation, "activation"))
    raise TypeError(f"activation: expected one of {', '.join(_core.ACTIVATIONS)} or a function of a float64 "
                    f"array, got {type(activation).__name__}")


def _probed(function: object, name: str) -> Elementwise:
    """Return ``function`` once it has given finite real values of the input's shape on a probe array."""
    if not callable(function):
        raise TypeError(f"{name}: expected a function of a float64 array, got {type(function).__name__}")
    try:
        with np.errstate(all="ignore"):
            values = np.asarray(function(_PROBE.copy()))
    except Exception as error:  # the user's function: whatever it raises, say which argument it was
        raise TypeError(f"{name}: calling it on a float64 array of shape {_PROBE.shape} raised "
                        f"{type(error).__name__}: {error}") from error
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real values (float64), got an array of dtype {values.dtype}")
    if values.shape != _PROBE.shape:
        raise ValueError(f"{name}: returned shape {values.shape} for an input of shape {_PROBE.shape}; expected "
                         f"an elementwise function (the input's shape)")
    if not np.all(np.isfinite(values.astype(np.float64))):
        raise ValueError(f"{name}: returned non-finite values on [-4, 4]; expected finite values")
    return function
