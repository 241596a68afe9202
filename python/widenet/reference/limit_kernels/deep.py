"""Infinite-width kernels of deep fully-connected networks (docs/theory.md, section 8).

The pre-activations of layer ``l`` tend to a centred Gaussian process with covariance
``Sigma^l``, and the tangent kernel to a deterministic ``Theta``, by the recursions

    Sigma^1 = s_w^2 x.z / d + s_b^2,        Sigma^(l+1) = s_w^2 E_ss(Sigma^l) + s_b^2,
    Theta^1 = mw2 x.z / d + mb2,            Theta^(l+1) = mw2 E_ss(Sigma^l) + mb2 + s_w^2 E_dd(Sigma^l) Theta^l,

with ``E_ss, E_dd`` the expectations of :mod:`widenet.reference.limit_kernels` at the 2 x 2
covariance of layer ``l`` (each point's variance from the same recursion on the diagonal).
``mw2 = s_w^2`` and ``mb2 = s_b^2`` under multipliers, 1 and 1 otherwise (0 without biases);
the readout uses ``s_v^2, s_c^2`` in place of ``s_w^2, s_b^2``. The kernels:

- ``kind="nngp"``: ``s_v^2 E_ss(Sigma^L) + s_c^2``;
- ``kind="ntk"``, NTK parametrization: ``Theta^(L+1)``;
- ``kind="ntk"``, LeCun: the limit of ``K_n / n`` with every hidden width ``n``,
  ``E_ss(Sigma^L) + sum_(l=2..L) E_ss(Sigma^(l-1)) P_l`` with ``P_L = s_v^2 E_dd(Sigma^L)``
  and ``P_l = s_w^2 E_dd(Sigma^l) P_(l+1)`` (the first layer's and the biases' terms vanish).

For one hidden layer these are the kernels of :func:`~widenet.reference.limit_kernels.limit_kernel`.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple, Union

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
    _points,
    covariances,
)
from widenet.reference.limit_kernels.functions import ActivationFunctions
from widenet.reference.limit_kernels.kernel import expectations, mirrored


def _own_expectation(S: Array, activation: Union[str, ActivationFunctions], method: Method,
                     order: Optional[int]) -> Array:
    """Return ``E[sigma(h)^2]`` for each variance of ``S``: the diagonal of the next layer's covariance."""
    ss, _ = expectations(S, S, np.diag(S), activation, method, order)
    return np.diag(ss).copy()


def deep_limit_kernel(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                      depth: int, parametrization: Parametrization = "lecun", kind: Kind = "ntk",
                      weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                      output_bias_var: float = 0.0, bias: bool = True, multipliers: bool = False,
                      method: Method = "auto", order: Optional[int] = None) -> Array:
    """Return the infinite-width kernel of a network with ``depth`` hidden layers between the rows of X1 and X2.

    ``X2 is X1`` gives the symmetric Gram, its lower triangle mirrored as for one hidden
    layer. The variances are ``s_w^2, s_b^2, s_v^2, s_c^2``; without ``bias`` the bias
    variances are not used; ``multipliers`` (NTK parametrization only) moves the standard
    deviations into the forward pass, which changes the tangent kernel, not the NNGP.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    network = _Network(depth, parametrization, weight_var, bias_var, output_var, output_bias_var, bias, multipliers)
    layers, theta = _layer_pass(X1, X2, activation, network, method, order)
    kernel = _readout(layers, theta, network, kind)
    return mirrored(kernel) if X2 is X1 else kernel


def deep_limit_kernel_pair(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions],
                           depth: int, parametrization: Parametrization = "lecun", weight_var: float = 1.0,
                           bias_var: float = 0.0, output_var: float = 1.0, output_bias_var: float = 0.0,
                           bias: bool = True, multipliers: bool = False, method: Method = "auto",
                           order: Optional[int] = None) -> Tuple[Array, Array]:
    """Return ``(nngp, ntk)``: :func:`deep_limit_kernel` of both kinds from one pass of the layer recursions.

    The arguments are those of :func:`deep_limit_kernel` without ``kind``.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    network = _Network(depth, parametrization, weight_var, bias_var, output_var, output_bias_var, bias, multipliers)
    layers, theta = _layer_pass(X1, X2, activation, network, method, order)
    kernels = [_readout(layers, theta, network, kind) for kind in ("nngp", "ntk")]
    nngp, ntk = [mirrored(kernel) for kernel in kernels] if X2 is X1 else kernels
    return nngp, ntk


class _Network(NamedTuple):
    depth: int
    parametrization: Parametrization
    weight_var: float
    bias_var: float
    output_var: float
    output_bias_var: float
    bias: bool
    multipliers: bool


def _layer_pass(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: Union[str, ActivationFunctions], network: _Network,
                method: Method, order: Optional[int]) -> Tuple[List[Tuple[Array, Array]], Array]:
    """Return every layer's ``(E_ss, E_dd)`` and the last hidden layer's ``Theta`` (NTK parametrization's)."""
    depth, weight_var = network.depth, network.weight_var
    if depth < 1:
        raise ValueError(f"depth: expected an integer >= 1, got {depth}")
    P1, P2 = _points(X1, X2)
    symmetric = X2 is X1
    b2 = network.bias_var if network.bias else 0.0
    S11, S22, S12 = covariances(P1, P2, weight_var, b2)
    if symmetric:
        S11 = S22 = np.diag(S12).copy()
    mw2, mb2 = (weight_var, b2) if network.multipliers else (1.0, 1.0 if network.bias else 0.0)
    theta = mw2 * (P1 @ P2.T) / P1.shape[1] + mb2
    layers: List[Tuple[Array, Array]] = []
    for layer in range(depth):
        E_ss, E_dd = expectations(S11, S22, S12, activation, method, order)
        layers.append((E_ss, E_dd))
        if layer == depth - 1:
            break
        own1 = np.diag(E_ss).copy() if symmetric else _own_expectation(S11, activation, method, order)
        own2 = own1 if symmetric else _own_expectation(S22, activation, method, order)
        with np.errstate(over="ignore"):
            theta = mw2 * E_ss + mb2 + weight_var * E_dd * theta
            S12 = weight_var * E_ss + b2
            S11, S22 = weight_var * own1 + b2, weight_var * own2 + b2
        if not (np.all(np.isfinite(S11)) and np.all(np.isfinite(S22))):  # every method would give NaN
            raise ValueError(f"X1: the pre-activation variance of hidden layer {layer + 2} overflows float64; "
                             f"expected inputs or weight_var of smaller magnitude")
    return layers, theta


def _readout(layers: List[Tuple[Array, Array]], theta: Array, network: _Network, kind: Kind) -> Array:
    """Return the output's kernel of ``kind`` from the layers' expectations and ``Theta``."""
    E_ss, E_dd = layers[-1]
    output_var, c2 = network.output_var, network.output_bias_var if network.bias else 0.0
    if kind == "nngp":
        return output_var * E_ss + c2
    if network.parametrization == "ntk":
        mv2, mc2 = (output_var, c2) if network.multipliers else (1.0, 1.0 if network.bias else 0.0)
        return mv2 * E_ss + mc2 + output_var * E_dd * theta
    kernel, backward = E_ss.copy(), output_var * E_dd
    for below in range(network.depth - 2, -1, -1):  # the layers under the last, down to the second's input
        kernel += layers[below][0] * backward
        backward = network.weight_var * layers[below][1] * backward
    return kernel
