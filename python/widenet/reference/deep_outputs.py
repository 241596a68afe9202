"""Deep networks with ``k`` outputs: the numpy twins of their outputs, Jacobian, products, kernels and loss gradient.

The readout is a ``k x n_L`` matrix ``V`` with bias ``c`` of ``k`` entries (docs/theory.md,
section 5, "Several outputs")::

    Phi(x) = m_out V a^L(x) + beta_out c.

The sensitivities carry an axis of outputs, ``D^l[x, i] = dPhi_i(x) / dh^l`` of shape
(m, k, n_l), back-propagated for all outputs at once::

    D^L_i = m_out V_i o sigma'(h^L),    D^(l-1)_i = m_l (D^l_i W^l) o sigma'(h^(l-1)).

The parameter vector is the hidden layers (each ``W^l`` row-major, then ``b^l``), then
``V`` row-major (output by output), then ``c``. The one-output functions of
:mod:`widenet.reference.deep` hand a network whose readout is a matrix to these.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference._deep_pass import DeepNetworkLike, Layer, _Pass
from widenet.reference.activations import FloatArray


def several_outputs(net: DeepNetworkLike) -> bool:
    """Whether the readout of ``net`` is a (k, n_L) matrix."""
    return bool(np.ndim(net.layers[-1][0]) == 2)


def _outputs(p: _Pass) -> FloatArray:
    (V, c), (m, beta) = p.layers[-1], p.net.scales[-1]
    out = m * (p.A[-1] @ V.T)
    return out if c is None else out + beta * c


def _sensitivities(p: _Pass) -> List[FloatArray]:
    """``D[l-1]`` of shape (m, k, n_l), every output's ``dPhi_i / dh^l``."""
    activation = p.net.activation
    (V, _), (m, _) = p.layers[-1], p.net.scales[-1]
    D: List[FloatArray] = [m * V[None, :, :] * _act.activation_derivative(activation, p.H[-1])[:, None, :]]
    for i in range(len(p.H) - 1, 0, -1):
        (W, _), (m_next, _) = p.layers[i], p.net.scales[i]
        D.append(m_next * (D[-1] @ W) * _act.activation_derivative(activation, p.H[i - 1])[:, None, :])
    return D[::-1]


def forward_outputs(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return ``Phi(X)``, shape (m, k)."""
    return _outputs(_Pass(net, X))


def jacobian_outputs(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return the Jacobian ``dPhi_i(x) / dw``, shape (m, k, P), columns in parameter order."""
    p = _Pass(net, X)
    D, (m_points, k) = _sensitivities(p), (X.shape[0], p.layers[-1][0].shape[0])
    blocks: List[FloatArray] = []
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], net.scales[:-1])):
        blocks.append((m * D[i][:, :, :, None] * p.A[i][:, None, None, :]).reshape(m_points, k, -1))
        if b is not None:
            blocks.append(beta * D[i])
    (_, c), (m, beta) = p.layers[-1], net.scales[-1]
    eye = np.eye(k, dtype=X.dtype)
    blocks.append((m * eye[None, :, :, None] * p.A[-1][:, None, None, :]).reshape(m_points, k, -1))
    if c is not None:
        blocks.append(np.broadcast_to(beta * eye, (m_points, k, k)))
    return np.concatenate(blocks, axis=2)


def _pullback(p: _Pass, G: FloatArray) -> List[Layer]:
    """Return ``J^T G`` layer by layer, ``G`` of shape (m, k)."""
    D = _sensitivities(p)
    grads: List[Layer] = []
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], p.net.scales[:-1])):
        weighted = np.einsum("xi,xin->xn", G, D[i])
        grads.append((m * (weighted.T @ p.A[i]), None if b is None else beta * weighted.sum(axis=0)))
    (_, c), (m, beta) = p.layers[-1], p.net.scales[-1]
    grads.append((m * (G.T @ p.A[-1]), None if c is None else beta * G.sum(axis=0)))
    return grads


def vjp_outputs(net: DeepNetworkLike, X: FloatArray, r: npt.ArrayLike) -> List[Layer]:
    """Return ``J(X)^T r`` for weights ``r`` of shape (m, k), in the layout of ``net.layers``."""
    return _pullback(_Pass(net, X), np.asarray(r, dtype=X.dtype))


def jvp_outputs(net: DeepNetworkLike, X: FloatArray, tangent: List[Layer]) -> FloatArray:
    """Return ``J(X) delta``, shape (m, k), in forward mode (the one-output recursion, ``V`` for ``v``)."""
    p = _Pass(net, X)
    direction = [(np.asarray(dW, X.dtype), None if db is None else np.asarray(db, X.dtype)) for dW, db in tangent]
    dA = np.zeros_like(X)
    for i, ((W, _), (dW, db), (m, beta)) in enumerate(zip(p.layers[:-1], direction[:-1], net.scales[:-1])):
        dh = m * (p.A[i] @ dW.T + dA @ W.T)
        dA = _act.activation_derivative(net.activation, p.H[i]) * (dh if db is None else dh + beta * db)
    (V, _), (dV, dc), (m, beta) = p.layers[-1], direction[-1], net.scales[-1]
    out = m * (p.A[-1] @ dV.T + dA @ V.T)
    return out if dc is None else out + beta * dc


def ntk_blocks(net: DeepNetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None) -> FloatArray:
    """Return every block ``K[x, i, z, i'] = grad Phi_i(x) . grad Phi_i'(z)``, shape (m1, k, m2, k).

    ``sum_l (m_l^2 A1 A2^T + beta_l^2)[x, z] (D1^l_i(x) . D2^l_i'(z)) + [i = i'] (m_out^2 A1^L A2^LT
    + beta_out^2)[x, z]``.
    """
    p1 = _Pass(net, X1)
    p2 = p1 if X2 is None else _Pass(net, X2)
    D1 = _sensitivities(p1)
    D2 = D1 if X2 is None else _sensitivities(p2)
    k = p1.layers[-1][0].shape[0]
    K = np.zeros((X1.shape[0], k, p2.A[0].shape[0], k), dtype=X1.dtype)
    for i, ((_, b), (m, beta)) in enumerate(zip(p1.layers[:-1], net.scales[:-1])):
        inputs = m * m * (p1.A[i] @ p2.A[i].T) + (0 if b is None else beta * beta)
        K += inputs[:, None, :, None] * np.einsum("xin,zjn->xizj", D1[i], D2[i])
    (_, c), (m, beta) = p1.layers[-1], net.scales[-1]
    readout = m * m * (p1.A[-1] @ p2.A[-1].T) + (0 if c is None else beta * beta)
    return K + readout[:, None, :, None] * np.eye(k, dtype=X1.dtype)[None, :, None, :]


def ntk_gram_outputs(net: DeepNetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None) -> FloatArray:
    """Return the kernel traced over the outputs, ``(1/k) sum_i K_ii``, shape (m1, m2), without the other blocks."""
    p1 = _Pass(net, X1)
    p2 = p1 if X2 is None else _Pass(net, X2)
    D1 = _sensitivities(p1)
    D2 = D1 if X2 is None else _sensitivities(p2)
    k = p1.layers[-1][0].shape[0]
    K = np.zeros((X1.shape[0], p2.A[0].shape[0]), dtype=X1.dtype)
    for i, ((_, b), (m, beta)) in enumerate(zip(p1.layers[:-1], net.scales[:-1])):
        inputs = m * m * (p1.A[i] @ p2.A[i].T) + (0 if b is None else beta * beta)
        K += inputs * np.einsum("xin,zin->xz", D1[i], D2[i]) / k
    (_, c), (m, beta) = p1.layers[-1], net.scales[-1]
    return K + m * m * (p1.A[-1] @ p2.A[-1].T) + (0 if c is None else beta * beta)


def ntk_diag_outputs(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return the diagonal of :func:`ntk_gram_outputs` ``(X, X)``, point by point."""
    p = _Pass(net, X)
    D, k = _sensitivities(p), p.layers[-1][0].shape[0]
    K = np.zeros(X.shape[0], dtype=X.dtype)
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], net.scales[:-1])):
        inputs = m * m * np.sum(p.A[i] * p.A[i], axis=1) + (0 if b is None else beta * beta)
        K += inputs * np.sum(D[i] * D[i], axis=(1, 2)) / k
    (_, c), (m, beta) = p.layers[-1], net.scales[-1]
    return K + m * m * np.sum(p.A[-1] * p.A[-1], axis=1) + (0 if c is None else beta * beta)


def loss_grad_outputs(net: DeepNetworkLike, X: FloatArray, y: npt.ArrayLike,
                      loss_scale: float = 1.0) -> Tuple[float, List[Layer]]:
    """Return ``s |Phi(X) - Y|^2`` over all ``m k`` entries and its gradient ``2 s J^T (Phi(X) - Y)``."""
    p = _Pass(net, X)
    r = _outputs(p) - np.asarray(y, dtype=X.dtype)
    return float(loss_scale * np.sum(r * r)), _pullback(p, (2 * loss_scale) * r)
