"""One-hidden-layer network: outputs, Jacobian, its products and the loss (docs/theory.md, sections 5 and 6).

The numpy twin of the C++ shallow-network, gradient and tangent-product headers. Both
parametrizations are written as

    Phi(x) = a v . sigma(s U x + b) + c,

with ``(a, s) = (1, 1)`` for "lecun" (11.5.1) and ``(n^{-1/2}, d^{-1/2})`` for "ntk"
(11.6.1). Parameters are ``U`` (n x d), ``b`` (n,), ``v`` (n,), ``c`` (scalar); the
parameter vector is ``w = (vec(U) row-major, b, v, c)`` of length ``P = n(d+2)+1``.
Data ``X`` is (m x d) and every function computes in the dtype of ``X``. A network of
``k`` outputs (``v`` of shape (k, n), ``c`` of shape (k,)) is computed by the functions of
:mod:`widenet.reference.shallow_outputs`, to which each public function here hands it.

Every function takes the network as one object, like its compiled twin: any object with
the attributes ``layers`` (the dense layers ``((U, b), (v, c))``), ``activation`` and
``parametrization`` (the compiled ``Network``, or :class:`Network` here), so that the two
implementations are called alike. Directions and gradients in parameter space have the
layout of ``layers``. The tangent kernel is in :mod:`widenet.reference.tangent_gram`,
gradient descent in :mod:`widenet.reference.training`.

The private helpers accept parameters with leading batch axes (an ensemble of ``R``
networks: ``U`` (R, n, d), ``b`` and ``v`` (R, n), ``c`` (R,)); batched gradient descent
uses them.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference import shallow_outputs as _outputs
from widenet.reference._layers import (
    _PARAMETRIZATIONS,
    _T,
    NetworkLike,
    Parametrization,
    _as_layers,
    _cast,
    _Layers,
    _preactivations,
    _several,
    _unpacked,
)
from widenet.reference.activations import FloatArray

__all__ = ["_PARAMETRIZATIONS", "Network", "NetworkLike", "Parametrization", "forward", "jacobian", "jvp", "loss",
           "loss_grad", "vjp"]

_Blocks = Tuple[FloatArray, FloatArray, FloatArray, FloatArray]


class Network:
    """A network's state for the twins: dense layers, activation and parametrization.

    The attributes of the compiled ``Network``: ``layers = ((U, b), (v, c))``,
    ``activation``, ``parametrization``; the arrays are taken as given, unchecked (``v`` of
    shape (k, n) and ``c`` of shape (k,) for ``k`` outputs).
    """

    def __init__(self, U: npt.ArrayLike, b: npt.ArrayLike, v: npt.ArrayLike, c: Any, activation: str,
                 parametrization: str) -> None:
        self.layers: _Layers = ((np.asarray(U), np.asarray(b)), (np.asarray(v), c))
        self.activation = activation
        self.parametrization = parametrization

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``U``."""
        return self.layers[0][0].dtype

    @property
    def width(self) -> int:
        """``n``, the rows of ``U``."""
        return self.layers[0][0].shape[0]

    @property
    def input_dim(self) -> int:
        """``d``, the columns of ``U``."""
        return self.layers[0][0].shape[1]

    @property
    def outputs(self) -> int:
        """``k``, the number of outputs: 1 for ``v`` of shape (n,)."""
        v = self.layers[1][0]
        return int(v.shape[0]) if v.ndim == 2 else 1

    @property
    def num_params(self) -> int:
        """``P = n (d + 1) + k (n + 1)``: ``n (d + 2) + 1`` for one output."""
        return self.width * (self.input_dim + 1) + self.outputs * (self.width + 1)

    def __repr__(self) -> str:
        return (f"Network(input_dim={self.input_dim}, width={self.width}, activation={self.activation!r}, "
                f"parametrization={self.parametrization!r}, dtype={self.dtype})")



def _forward(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray, activation: str,
             parametrization: str) -> FloatArray:
    Z, a, _ = _preactivations(X, U, b, parametrization)
    A = _act.activation(activation, Z)
    return a * np.einsum("...mn,...n->...m", A, v) + c[..., None]



def _pullback(X: FloatArray, g: FloatArray, Z: FloatArray, A: FloatArray, v: FloatArray, activation: str,
              a: float, s: float) -> _Blocks:
    """Return the blocks ``(gU, gb, gv, gc)`` of ``J^T g`` from the pre-activations ``Z`` and ``A = sigma(Z)``.

    With ``G = a (g v^T) * sigma'(Z)``, ``gU = s G^T X``, ``gb = G^T 1``, ``gv = a A^T g``, ``gc = g^T 1``.
    """
    G = a * g[..., :, None] * _act.activation_derivative(activation, Z) * v[..., None, :]
    gU = s * (_T(G) @ X)
    gv = a * np.einsum("...mn,...m->...n", A, g)
    return gU, G.sum(axis=-2), gv, g.sum(axis=-1)



def _loss_grad(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray,
               activation: str, parametrization: str,
               loss_scale: float) -> Tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the loss and gradient blocks, for one network or a stack of them."""
    Z, a, s = _preactivations(X, U, b, parametrization)
    A = _act.activation(activation, Z)
    r = a * np.einsum("...mn,...n->...m", A, v) + c[..., None] - y
    g = (2 * loss_scale) * r  # d loss / d Phi(x_i)
    loss = loss_scale * np.sum(r * r, axis=-1)
    return (loss, *_pullback(X, g, Z, A, v, activation, a, s))



def forward(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the outputs ``Phi(x_i, w)`` for the rows of ``X`` (docs/theory.md, sections 5 and 6: 11.5.1, 11.6.1).

    Parameters
    ----------
    net : Network or an object with its attributes
        ``layers = ((U, b), (v, c))`` with ``U`` (n, d), ``b`` and ``v`` (n,), ``c`` a
        scalar; ``activation``, one of :data:`~widenet.reference.ACTIVATIONS`;
        ``parametrization``, "lecun" (``v.sigma(Ux + b) + c``) or "ntk"
        (``n^{-1/2} v.sigma(d^{-1/2} U x + b) + c``).
    X : ndarray, shape (m, d)
        Inputs; their dtype (float32 or float64) is the compute dtype.

    Returns
    -------
    ndarray, shape (m,), or (m, k) for a network of ``k`` outputs
    """
    if _several(net):
        return _outputs.forward_outputs(net, X)
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c = _cast(X.dtype, U, b, v, c)
    return _forward(X, U, b, v, c, activation, parametrization)



def jacobian(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the explicit Jacobian ``J = d Phi(X, w) / d w`` (docs/theory.md, sections 5 and 6: 11.5.2, 11.6.3).

    With ``z = s U x + b``: ``dPhi/dU_ij = a v_i sigma'(z_i) s x_j``,
    ``dPhi/db_i = a v_i sigma'(z_i)``, ``dPhi/dv_i = a sigma(z_i)``, ``dPhi/dc = 1``.

    Parameters
    ----------
    net, X
        As in :func:`forward`.

    Returns
    -------
    ndarray, shape (m, n(d+2)+1)
        Columns in parameter order: ``U`` row-major, then ``b``, ``v``, ``c``.
    """
    if _several(net):
        return _outputs.jacobian_outputs(net, X)
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c = _cast(X.dtype, U, b, v, c)
    Z, a, s = _preactivations(X, U, b, parametrization)
    m = X.shape[0]
    Jb = a * _act.activation_derivative(activation, Z) * v  # (m, n)
    JU = s * Jb[:, :, None] * X[:, None, :]  # (m, n, d)
    Jv = a * _act.activation(activation, Z)
    return np.concatenate([JU.reshape(m, -1), Jb, Jv, np.ones((m, 1), dtype=X.dtype)], axis=1)



def jvp(net: NetworkLike, X: FloatArray, tangent: Any) -> FloatArray:
    """Return the Jacobian-vector product ``J(X, w) delta`` without the Jacobian (docs/theory.md, section 3).

    For the direction ``delta = (dU, db, dv, dc)`` in the parameter layout, with
    ``Z = s X U^T + 1 b^T`` and ``dZ = s X dU^T + 1 db^T`` (the change of ``Z`` along
    ``delta``)::

        J delta = a [ sigma(Z) dv + (sigma'(Z) * dZ) v ] + dc.

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    tangent : ((dU, db), (dv, dc))
        The direction ``delta`` in the layout of ``net.layers``: ``dU`` (n, d), ``db`` and
        ``dv`` (n,), ``dc`` a scalar.

    Returns
    -------
    ndarray, shape (m,)
        ``grad_w Phi(x_i, w) . delta`` for every row ``x_i``.
    """
    if _several(net):
        return _outputs.jvp_outputs(net, X, tangent)
    U, b, v, _, activation, parametrization = _unpacked(net)
    (dU, db), (dv, dc) = tangent
    U, b, v, dU, db, dv, dc = _cast(X.dtype, U, b, v, dU, db, dv, dc)
    Z, a, _ = _preactivations(X, U, b, parametrization)
    dZ, _, _ = _preactivations(X, dU, db, parametrization)  # linear in (dU, db): same scales
    return a * (_act.activation(activation, Z) @ dv + (_act.activation_derivative(activation, Z) * dZ) @ v) + dc



def vjp(net: NetworkLike, X: FloatArray, r: npt.ArrayLike) -> _Layers:
    """Return the vector-Jacobian product ``J(X, w)^T r`` without the Jacobian, layer by layer.

    See docs/theory.md, sections 5 and 6: 11.5.2, 11.6.3. The gradient of :func:`loss_grad`
    with its weights ``2 loss_scale (Phi - y)`` replaced by ``r``: with
    ``G = a (r v^T) * sigma'(Z)`` (m x n), ``gU = s G^T X``, ``gb = G^T 1``,
    ``gv = a sigma(Z)^T r``, ``gc = r^T 1``.

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    r : ndarray, shape (m,)
        One weight per row of ``X``.

    Returns
    -------
    ((gU, gb), (gv, gc))
        In the layout of ``net.layers``: ``gU`` (n, d), ``gb`` and ``gv`` (n,), ``gc`` a float.
    """
    if _several(net):
        return _outputs.vjp_outputs(net, X, r)
    U, b, v, _, activation, parametrization = _unpacked(net)
    U, b, v, r = _cast(X.dtype, U, b, v, r)
    Z, a, s = _preactivations(X, U, b, parametrization)
    gU, gb, gv, gc = _pullback(X, r, Z, _act.activation(activation, Z), v, activation, a, s)
    return _as_layers(gU, gb, gv, float(gc))



def loss(net: NetworkLike, X: FloatArray, y: npt.ArrayLike, loss_scale: float = 1.0) -> float:
    """Return the square loss ``loss_scale * sum_i (Phi(x_i) - y_i)^2`` (docs/theory.md, notation: 11.0.1b).

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    y : ndarray, shape (m,)
        Targets.
    loss_scale : float, default 1.0
        1 for the chapter's sum, ``1/m`` for the mean, ``1/2`` for the half sum.

    Returns
    -------
    float
    """
    r = forward(net, X) - np.asarray(y, dtype=X.dtype)  # (m,) or (m, k)
    return float(float(loss_scale) * np.sum(r * r))



def loss_grad(net: NetworkLike, X: FloatArray, y: npt.ArrayLike, loss_scale: float = 1.0) -> Tuple[float, _Layers]:
    """Return the loss and its gradient ``2 loss_scale J^T r``, ``r = Phi(X) - y`` (11.0.1b; docs/theory.md, section 5).

    Vectorised back-propagation, without the explicit Jacobian: with
    ``g = 2 loss_scale r`` and ``G = a (g v^T) * sigma'(Z)`` (m x n),
    ``gU = s G^T X``, ``gb = G^T 1``, ``gv = a sigma(Z)^T g``, ``gc = g^T 1``.

    Parameters
    ----------
    net, X, y, loss_scale
        As in :func:`loss`.

    Returns
    -------
    loss : float
    gradient : ((gU, gb), (gv, gc))
        In the layout of ``net.layers``: ``gU`` (n, d), ``gb`` and ``gv`` (n,), ``gc`` a float.
    """
    if _several(net):
        return _outputs.loss_grad_outputs(net, X, y, loss_scale)
    dtype = X.dtype
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c, y = _cast(dtype, U, b, v, c, y)
    f, gU, gb, gv, gc = _loss_grad(X, y, U, b, v, c, activation, parametrization, float(loss_scale))
    return float(f), _as_layers(gU, gb, gv, float(gc))

