"""The one-hidden-layer network with ``k`` outputs (docs/theory.md, section 5, "Several outputs").

The numpy twin of the C++ headers of the network of several outputs (its outputs,
Jacobian, loss gradient and Jacobian products)::

    Phi(x) = a V sigma(s U x + b) + c,

with the readout ``V`` (k x n) and ``c`` (k,), and the scales ``(a, s)`` of
:mod:`widenet.reference.shallow`. Output ``i`` is the one-output network with readout
``(V_i, c_i)``; every output shares the hidden layer. The parameter vector is
``(vec(U), b, vec(V), c)``, both matrices row-major: ``P = n (d + 1) + k (n + 1)``.

The public functions of :mod:`widenet.reference.shallow` hand a network of this readout to
the functions here, which take it the same way. The private helpers accept parameters with
leading batch axes (``U`` (R, n, d), ``b`` (R, n), ``V`` (R, k, n), ``c`` (R, k)).
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference._layers import _T, NetworkLike, _as_layers, _cast, _Layers, _preactivations, _unpacked
from widenet.reference.activations import FloatArray

_Blocks = Tuple[FloatArray, FloatArray, FloatArray, FloatArray]


def _forward_outputs(X: FloatArray, U: FloatArray, b: FloatArray, V: FloatArray, c: FloatArray, activation: str,
                     parametrization: str) -> FloatArray:
    """Return ``a sigma(Z) V^T + 1 c^T``, shape (..., m, k)."""
    Z, a, _ = _preactivations(X, U, b, parametrization)
    return a * (_act.activation(activation, Z) @ _T(V)) + c[..., None, :]


def _pullback_outputs(X: FloatArray, G: FloatArray, Z: FloatArray, A: FloatArray, V: FloatArray, activation: str,
                      a: float, s: float) -> _Blocks:
    """Return the blocks ``(gU, gb, gV, gc)`` of ``J^T G`` for weights ``G`` (..., m, k).

    With ``E = (G V) * sigma'(Z)`` (m x n): ``gU = a s E^T X``, ``gb = a E^T 1``,
    ``gV = a G^T sigma(Z)``, ``gc = G^T 1``.
    """
    E = (G @ V) * _act.activation_derivative(activation, Z)
    return a * s * (_T(E) @ X), a * E.sum(axis=-2), a * (_T(G) @ A), G.sum(axis=-2)


def _loss_grad_outputs(X: FloatArray, Y: FloatArray, U: FloatArray, b: FloatArray, V: FloatArray, c: FloatArray,
                       activation: str, parametrization: str,
                       loss_scale: float) -> Tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the loss ``loss_scale |Phi(X) - Y|^2`` and the gradient blocks, for one network or a stack."""
    Z, a, s = _preactivations(X, U, b, parametrization)
    A = _act.activation(activation, Z)
    R = a * (A @ _T(V)) + c[..., None, :] - Y
    G = (2 * loss_scale) * R  # d loss / d Phi_i(x)
    loss = loss_scale * np.sum(R * R, axis=(-2, -1))
    return (loss, *_pullback_outputs(X, G, Z, A, V, activation, a, s))


def forward_outputs(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the outputs ``Phi_i(x)`` for the rows of ``X``, shape (m, k).

    ``net`` as in :func:`~widenet.reference.shallow.forward`, with ``v`` of shape (k, n)
    and ``c`` of shape (k,).
    """
    U, b, V, c, activation, parametrization = _unpacked(net)
    U, b, V, c = _cast(X.dtype, U, b, V, c)
    return _forward_outputs(X, U, b, V, c, activation, parametrization)


def jacobian_outputs(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the Jacobian ``d Phi_i(x) / d w``, shape (m, k, P), columns in the parameter order.

    With ``z = s U x + b``: ``dPhi_i/dU_jl = a V_ij sigma'(z_j) s x_l``,
    ``dPhi_i/db_j = a V_ij sigma'(z_j)``, ``dPhi_i/dV_i'j = [i = i'] a sigma(z_j)``,
    ``dPhi_i/dc_i' = [i = i']``.
    """
    U, b, V, _, activation, parametrization = _unpacked(net)
    U, b, V = _cast(X.dtype, U, b, V)
    Z, a, s = _preactivations(X, U, b, parametrization)
    (m, n), k = Z.shape, V.shape[0]
    identity = np.eye(k, dtype=X.dtype)
    Jb = a * _act.activation_derivative(activation, Z)[:, None, :] * V  # (m, k, n)
    JU = s * Jb[..., None] * X[:, None, None, :]  # (m, k, n, d)
    JV = a * identity[None, :, :, None] * _act.activation(activation, Z)[:, None, None, :]  # (m, k, k, n)
    Jc = np.broadcast_to(identity, (m, k, k))
    return np.concatenate([JU.reshape(m, k, -1), Jb, JV.reshape(m, k, k * n), Jc], axis=2)


def jvp_outputs(net: NetworkLike, X: FloatArray, tangent: Any) -> FloatArray:
    """Return ``J(X, w) delta``, shape (m, k), without the Jacobian.

    For the direction ``delta = ((dU, db), (dV, dc))`` in the layout of ``net.layers``, with
    ``Z = s X U^T + 1 b^T`` and ``dZ = s X dU^T + 1 db^T``::

        J delta = a [ sigma(Z) dV^T + (sigma'(Z) * dZ) V^T ] + 1 dc^T.
    """
    U, b, V, _, activation, parametrization = _unpacked(net)
    (dU, db), (dV, dc) = tangent
    U, b, V, dU, db, dV, dc = _cast(X.dtype, U, b, V, dU, db, dV, dc)
    Z, a, _ = _preactivations(X, U, b, parametrization)
    dZ, _, _ = _preactivations(X, dU, db, parametrization)  # linear in (dU, db): same scales
    derivative = _act.activation_derivative(activation, Z) * dZ
    return a * (_act.activation(activation, Z) @ dV.T + derivative @ V.T) + dc


def vjp_outputs(net: NetworkLike, X: FloatArray, r: npt.ArrayLike) -> _Layers:
    """Return ``J(X, w)^T R`` for weights ``R`` (m, k), layer by layer ``((gU, gb), (gV, gc))``.

    The gradient of :func:`loss_grad_outputs` with its weights ``2 loss_scale (Phi - Y)``
    replaced by ``R``.
    """
    U, b, V, _, activation, parametrization = _unpacked(net)
    U, b, V, R = _cast(X.dtype, U, b, V, r)
    Z, a, s = _preactivations(X, U, b, parametrization)
    return _as_layers(*_pullback_outputs(X, R, Z, _act.activation(activation, Z), V, activation, a, s))


def loss_grad_outputs(net: NetworkLike, X: FloatArray, y: npt.ArrayLike,
                      loss_scale: float = 1.0) -> Tuple[float, _Layers]:
    """Return the loss ``loss_scale sum_{x, i} (Phi_i(x) - y_i(x))^2`` and its gradient ``2 loss_scale J^T R``.

    ``y`` is (m, k); the gradient is ``((gU, gb), (gV, gc))`` in the layout of ``net.layers``.
    """
    U, b, V, c, activation, parametrization = _unpacked(net)
    U, b, V, c, Y = _cast(X.dtype, U, b, V, c, y)
    f, gU, gb, gV, gc = _loss_grad_outputs(X, Y, U, b, V, c, activation, parametrization, float(loss_scale))
    return float(f), _as_layers(gU, gb, gV, gc)


def traced_readout(V: FloatArray) -> FloatArray:
    """Return the readout of the kernel traced over the outputs: ``sqrt(sum_i V_ij^2 / k)`` per unit ``j``.

    The mean over ``i`` of the one-output tangent kernels of the readouts ``V_i`` is the
    one-output kernel of this readout (docs/theory.md, section 5). Each column is divided by
    its largest entry first, so that squares neither overflow nor underflow.
    """
    largest = np.max(np.abs(V), axis=0)
    safe = np.where(largest > 0, largest, 1)
    return largest * np.sqrt(np.sum((V / safe) ** 2, axis=0) / V.shape[0])
