"""Both infinite-width kernels of a network from one pass: the NNGP and the tangent kernel together.

Every entry of either kernel is a sum of the same two expectations of its pair (and, for a deep
network, of the same layer recursion; docs/theory.md, sections 5, 6 and 8), so one pass over
the pairs gives both; the predictions of the infinite ensemble need both.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._types import Activation, Backend, Kind, Method, Parametrization
from widenet.kernels._limit_arguments import check_function_method, check_method, checked_arguments
from widenet.kernels.activation import ActivationArgument, CallableActivation
from widenet.reference import limit_kernels as reference

Float64Array = NDArray[np.float64]


class _Arguments(NamedTuple):
    """The arguments of :func:`limit_kernel_pair`, checked as :func:`widenet.limit_kernel` checks them."""

    points1: Float64Array
    points2: Optional[Float64Array]
    activation: Union[Activation, CallableActivation]
    parametrization: Parametrization
    kind: Kind
    method: Method
    order: Optional[int]
    variances: tuple[float, float, float, float]
    layers: tuple[int, bool, bool]  # depth, bias, multipliers
    largest: float  # the largest first-layer pre-activation variance of the points


def limit_kernel_pair(X1: ArrayLike, X2: Optional[ArrayLike] = None, *, activation: ActivationArgument,
                      parametrization: Parametrization = "lecun", weight_var: float = 1.0, bias_var: float = 0.0,
                      output_var: float = 1.0, output_bias_var: float = 0.0, depth: int = 1, bias: bool = True,
                      multipliers: bool = False, method: Method = "auto", order: Optional[int] = None,
                      backend: Backend = "cpp") -> tuple[Float64Array, Float64Array]:
    """Return the NNGP and the tangent kernel of :func:`widenet.limit_kernel` together, from one pass over the pairs.

    ``limit_kernel(..., kind="nngp")`` and ``limit_kernel(..., kind="ntk")`` with the same
    arguments, equal to them, for the cost of one: both are sums of the same expectations
    ``E_ss``, ``E_dd`` of every pair (and, for a deep network, of the same layer recursion),
    which are computed once. The predictions of the infinite ensemble need both.

    Parameters
    ----------
    X1 : array_like, shape (m1, d)
    X2 : array_like, shape (m2, d), optional
    activation : str or callable
    parametrization : {"lecun", "ntk"}
    weight_var, bias_var, output_var, output_bias_var : float
    depth : int
    bias : bool
    multipliers : bool
    method : {"auto", "closed_form", "scale_mixture", "quadrature", "expansion"}
    order : int, optional
    backend : {"cpp", "numpy"}
        As for :func:`widenet.limit_kernel` (Monte Carlo's estimates are not a pair of one pass).

    Returns
    -------
    nngp, ntk : ndarray of float64, shape (m1, m2)
        ``limit_kernel(X1, X2, kind="nngp", ...)`` and ``limit_kernel(X1, X2, kind="ntk", ...)``.

    Raises
    ------
    ValueError
        As :func:`widenet.limit_kernel` does, and for ``method="monte_carlo"``.
    TypeError
        As :func:`widenet.limit_kernel` does.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> nngp, ntk = widenet.limit_kernel_pair(X, activation="relu", parametrization="ntk")
    >>> bool(np.allclose(ntk, widenet.limit_kernel(X, activation="relu", parametrization="ntk")))
    True
    """
    a = _Arguments(*checked_arguments(X1, X2, activation, parametrization, "ntk", method, order,
                                       (weight_var, bias_var, output_var, output_bias_var), (depth, bias, multipliers)))
    if a.method == "monte_carlo":
        raise ValueError("method: the pair needs a deterministic method (auto, closed_form, scale_mixture, "
                         "quadrature, expansion), got 'monte_carlo'")
    backend = check.backend(backend)
    depth, bias, multipliers = a.layers
    deep = a.layers != (1, True, False)
    method_of: Any  # a deterministic method (Monte Carlo refused above)
    if isinstance(a.activation, CallableActivation):
        activation_of: Any = a.activation.functions()
        method_of = "expansion" if a.method == "auto" else a.method
        check_function_method(method_of)
        backend, nodes = "numpy", reference.ORDER if a.order is None else a.order
    else:
        activation_of = a.activation
        method_of = _core.LIMIT_AUTO_METHODS[a.activation] if a.method == "auto" else a.method
        check_method(method_of, a.activation, a.largest)
        nodes = _core.LIMIT_ORDER if a.order is None else a.order
    m2 = a.points1.shape[0] if a.points2 is None else a.points2.shape[0]
    tables = 0 if backend == "numpy" else _core.limit_point_floats(activation_of, method_of, a.largest, nodes)
    _memory.check_limit_kernel("limit_kernel_pair", a.points1.shape[0], m2, tables * (2 if deep else 1), backend)
    _memory.check_gram("limit_kernel_pair", a.points1, a.points2, np.float64, copies=4 if deep else 2)
    if backend == "cpp":
        if deep:
            network = _core.LimitNetwork(activation_of, a.parametrization, depth, bias, multipliers)
            return _core.limit_kernel_pair(a.points1, a.points2, network, a.variances, method_of, nodes)
        return _core.limit_kernel_pair(a.points1, a.points2, activation_of, a.parametrization, a.variances,
                                       method_of, nodes)
    X2_of = a.points1 if a.points2 is None else a.points2
    if deep:
        return reference.deep_limit_kernel_pair(a.points1, X2_of, activation_of, depth, a.parametrization,
                                                *a.variances, bias=bias, multipliers=multipliers, method=method_of,
                                                order=a.order if isinstance(activation_of, str) else nodes)
    return reference.limit_kernel_pair(a.points1, X2_of, activation_of, a.parametrization, *a.variances,
                                       method=method_of, order=a.order if isinstance(activation_of, str) else nodes)
