"""Fully-connected networks of any depth: outputs, Jacobian, its products, tangent kernel and loss gradient.

The numpy twin of the deep network (docs/theory.md, section 8). With ``a^0 = x`` and hidden
layers ``l = 1..L``::

    h^l = m_l W^l a^(l-1) + beta_l b^l,    a^l = sigma(h^l),    Phi(x) = m_out v . a^L + beta_out c,

``W^l`` of shape (n_l, n_(l-1)) with ``n_0 = d``. The scales ``(m, beta)`` of each layer say
the parametrization: all 1 under LeCun's, ``m_l = n_(l-1)^(-1/2)`` under the NTK
parametrization with the variances in the initial weights, and ``m_l = s_w n_(l-1)^(-1/2)``,
``beta_l = s_b`` with multipliers (neural-tangents' convention). A network without biases has
``b^l`` and ``c`` of None: they are not parameters.

A network is any object with ``layers`` (``((W^1, b^1), ..., (W^L, b^L), (v, c))``), ``scales``
(``((m_1, beta_1), ..., (m_out, beta_out))``) and ``activation``. The parameter vector
is the layers in order, each weight matrix row-major and then its bias: for one hidden layer,
the layout of :mod:`widenet.reference.shallow`. Data ``X`` is (m, d) and every function
computes in its dtype.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference import deep_outputs as _outputs
from widenet.reference._deep_pass import DeepNetworkLike, Layer, _Pass
from widenet.reference.activations import FloatArray
from widenet.reference.deep_outputs import ntk_blocks  # noqa: F401  (the k-output kernel's blocks)
from widenet.reference.training import OptionsLike, _padded, _Records, recorded_steps


class DeepNetwork:
    """A deep network's state for the twins: its layers, the activation and the layers' scales (unchecked).

    Called as the compiled ``DeepNetwork``.
    """

    def __init__(self, layers: Sequence[Layer], activation: str, scales: Sequence[Tuple[float, float]]) -> None:
        self.layers = tuple((np.asarray(W), None if b is None else np.asarray(b)) for W, b in layers)
        self.scales = tuple((float(m), float(beta)) for m, beta in scales)
        self.activation = activation
        if len(self.scales) != len(self.layers):
            raise ValueError(f"scales: expected {len(self.layers)} pairs, one per layer, got {len(self.scales)}")

    @property
    def depth(self) -> int:
        """``L``, the number of hidden layers."""
        return len(self.layers) - 1

    @property
    def num_params(self) -> int:
        """``P``: every weight and bias."""
        return sum(W.size + (0 if b is None else b.size) for W, b in self.layers)


def _pullback(p: _Pass, g: FloatArray) -> List[Layer]:
    """Return ``J^T g`` layer by layer, from a forward pass and one weight per point."""
    D = p.sensitivities()
    grads: List[Layer] = []
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], p.net.scales[:-1])):
        G = g[:, None] * D[i]
        grads.append((m * (G.T @ p.A[i]), None if b is None else beta * G.sum(axis=0)))
    (_, c), (m, beta) = p.layers[-1], p.net.scales[-1]
    grads.append((m * (p.A[-1].T @ g), None if c is None else np.asarray(beta * g.sum(), p.dtype)))
    return grads


def forward(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return the outputs ``Phi(x_i)`` for the rows of ``X``, shape (m,)."""
    if _outputs.several_outputs(net):
        return _outputs.forward_outputs(net, X)
    return _Pass(net, X).outputs()


def jacobian(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return the explicit Jacobian ``d Phi(X) / d w``, shape (m, P), columns in parameter order.

    ``dPhi/dW^l_ij = D^l_i m_l a^(l-1)_j``, ``dPhi/db^l_i = beta_l D^l_i``,
    ``dPhi/dv = m_out a^L``, ``dPhi/dc = beta_out``, with ``D^l = dPhi/dh^l``.
    """
    if _outputs.several_outputs(net):
        return _outputs.jacobian_outputs(net, X)
    p = _Pass(net, X)
    D, rows = p.sensitivities(), X.shape[0]
    blocks: List[FloatArray] = []
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], net.scales[:-1])):
        blocks.append((m * D[i][:, :, None] * p.A[i][:, None, :]).reshape(rows, -1))
        if b is not None:
            blocks.append(beta * D[i])
    (_, c), (m, beta) = p.layers[-1], net.scales[-1]
    blocks.append(m * p.A[-1])
    if c is not None:
        blocks.append(np.full((rows, 1), beta, dtype=X.dtype))
    return np.concatenate(blocks, axis=1)


def vjp(net: DeepNetworkLike, X: FloatArray, r: npt.ArrayLike) -> List[Layer]:
    """Return ``J(X)^T r`` in the layout of ``net.layers``, without the Jacobian."""
    if _outputs.several_outputs(net):
        return _outputs.vjp_outputs(net, X, r)
    return _pullback(_Pass(net, X), np.asarray(r, dtype=X.dtype))


def jvp(net: DeepNetworkLike, X: FloatArray, tangent: Sequence[Layer]) -> FloatArray:
    """Return ``J(X) delta`` for a direction ``delta`` in the layout of ``net.layers`` (forward mode).

    ``dh^l = m_l (dW^l a^(l-1) + W^l da^(l-1)) + beta_l db^l``, ``da^l = sigma'(h^l) dh^l``
    (``da^0 = 0``) and ``dPhi = m_out (dv . a^L + v . da^L) + beta_out dc``.
    """
    if _outputs.several_outputs(net):
        return _outputs.jvp_outputs(net, X, list(tangent))
    p = _Pass(net, X)
    direction = [(np.asarray(dW, X.dtype), None if db is None else np.asarray(db, X.dtype)) for dW, db in tangent]
    dA = np.zeros_like(X)
    for i, ((W, _), (dW, db), (m, beta)) in enumerate(zip(p.layers[:-1], direction[:-1], net.scales[:-1])):
        dh = m * (p.A[i] @ dW.T + dA @ W.T)
        if db is not None:
            dh = dh + beta * db
        dA = _act.activation_derivative(net.activation, p.H[i]) * dh
    (v, _), (dv, dc), (m, beta) = p.layers[-1], direction[-1], net.scales[-1]
    out = m * (p.A[-1] @ dv + dA @ v)
    return out if dc is None else out + beta * dc


def ntk_gram(net: DeepNetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None) -> FloatArray:
    """Return the empirical tangent kernel ``J(X1) J(X2)^T`` layer by layer, never forming the Jacobian.

    ``K = sum_l (m_l^2 A1^(l-1) A2^(l-1)T + beta_l^2) o (D1^l D2^lT) + m_out^2 A1^L A2^LT + beta_out^2``,
    where ``o`` is the elementwise product and a term in ``beta`` exists only with biases.
    """
    if _outputs.several_outputs(net):
        return _outputs.ntk_gram_outputs(net, X1, X2)
    p1 = _Pass(net, X1)
    p2 = p1 if X2 is None else _Pass(net, X2)
    D1 = p1.sensitivities()
    D2 = D1 if X2 is None else p2.sensitivities()
    K = np.zeros((X1.shape[0], p2.A[0].shape[0]), dtype=X1.dtype)
    for i, ((_, b), (m, beta)) in enumerate(zip(p1.layers[:-1], net.scales[:-1])):
        inputs = m * m * (p1.A[i] @ p2.A[i].T) + (0 if b is None else beta * beta)
        K += inputs * (D1[i] @ D2[i].T)
    (_, c), (m, beta) = p1.layers[-1], net.scales[-1]
    return K + m * m * (p1.A[-1] @ p2.A[-1].T) + (0 if c is None else beta * beta)


def ntk_diag(net: DeepNetworkLike, X: FloatArray) -> FloatArray:
    """Return the diagonal ``K(x_i, x_i)`` of :func:`ntk_gram` ``(X, X)``, row by row without the Gram.

    ``sum_l (m_l^2 |a^(l-1)|^2 + beta_l^2) |D^l|^2 + m_out^2 |a^L|^2 + beta_out^2``.
    """
    if _outputs.several_outputs(net):
        return _outputs.ntk_diag_outputs(net, X)
    p = _Pass(net, X)
    D = p.sensitivities()
    K = np.zeros(X.shape[0], dtype=X.dtype)
    for i, ((_, b), (m, beta)) in enumerate(zip(p.layers[:-1], net.scales[:-1])):
        K += (m * m * np.sum(p.A[i] * p.A[i], axis=1) + (0 if b is None else beta * beta)) * np.sum(D[i] * D[i], axis=1)
    (_, c), (m, beta) = p.layers[-1], net.scales[-1]
    return K + m * m * np.sum(p.A[-1] * p.A[-1], axis=1) + (0 if c is None else beta * beta)


def feature_gram(net: DeepNetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None) -> FloatArray:
    """Return ``m_out^2 A1^L A2^LT``, the Gram of the readout's features (``X2=None``: ``X1`` with itself)."""
    A1 = _Pass(net, X1).A[-1]
    A2 = A1 if X2 is None else _Pass(net, X2).A[-1]
    m = net.scales[-1][0]
    return m * m * (A1 @ A2.T)


def loss_grad(net: DeepNetworkLike, X: FloatArray, y: npt.ArrayLike,
              loss_scale: float = 1.0) -> Tuple[float, List[Layer]]:
    """Return the loss ``s |Phi(X) - y|^2`` and its gradient ``2 s J^T (Phi(X) - y)``, by back-propagation."""
    if _outputs.several_outputs(net):
        return _outputs.loss_grad_outputs(net, X, y, loss_scale)
    p = _Pass(net, X)
    r = p.outputs() - np.asarray(y, dtype=X.dtype)
    return float(loss_scale * np.sum(r * r)), _pullback(p, (2 * loss_scale) * r)


def to_vector(layers: Sequence[Layer]) -> FloatArray:
    """Return layers (parameters or a direction) as one vector in parameter order."""
    parts = []
    for W, b in layers:
        parts.append(np.ravel(W))
        if b is not None:
            parts.append(np.ravel(b))
    return np.concatenate(parts)


def from_vector(vector: FloatArray, like: Sequence[Layer]) -> List[Layer]:
    """Return ``vector`` cut into layers shaped as ``like`` (the inverse of :func:`to_vector`)."""
    out, start = [], 0
    for W, b in like:
        size = np.size(W)
        weights, start = vector[start:start + size].reshape(np.shape(W)), start + size
        bias = None
        if b is not None:
            bias, start = vector[start:start + np.size(b)].reshape(np.shape(b)), start + np.size(b)
        out.append((weights, bias))
    if start != len(vector):
        raise ValueError(f"vector: expected {start} entries, got {len(vector)}")
    return out


def train(net: DeepNetworkLike, initial: Optional[DeepNetworkLike], X: FloatArray, y: npt.ArrayLike,
          options: OptionsLike, X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` on a deep network.

    The records, the schedule and the divergence rule of :func:`widenet.reference.training.train`;
    ``"layers"`` holds the parameters after the run in the layout of ``net.layers``.
    """
    dtype = X.dtype
    layers = [(np.array(W, dtype), None if b is None else np.array(b, dtype)) for W, b in net.layers]
    start = to_vector(layers if initial is None else
                      [(np.asarray(W, dtype), None if b is None else np.asarray(b, dtype)) for W, b in initial.layers])
    targets, lr, scale = np.asarray(y, dtype=dtype), float(options.lr), float(options.loss_scale)
    records = _Records(options.steps, options.record_every, options.divergence_factor)
    losses, distances = np.empty(records.steps.shape), np.empty(records.steps.shape)
    outputs = None if X_test is None else np.empty(records.steps.shape + X_test.shape[:1] + targets.shape[1:],
                                                    dtype=dtype)
    with np.errstate(over="ignore"):  # Inf in the dtype, as in the C++: the first loss is then Inf too
        reference = scale * float(np.dot(targets.ravel(), targets.ravel()))
    for k in range(options.steps + 1):
        current = DeepNetwork(layers, net.activation, net.scales)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: caught by the rule below
            loss, grads = loss_grad(current, X, targets, scale)
        if k == 0:
            reference = max(reference, loss)
        row = records.row(k, loss, reference)
        if row is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                losses[row], distances[row] = loss, np.linalg.norm(to_vector(layers) - start)
                if X_test is not None and outputs is not None:
                    outputs[row] = forward(current, X_test)
        if records.stopped:
            break
        if k < options.steps:
            with np.errstate(over="ignore", invalid="ignore"):
                layers = [(W - lr * gW, None if b is None else b - lr * gb) for (W, b), (gW, gb) in zip(layers, grads)]
    return {
        "layers": layers,
        "steps": records.steps,
        "stopped_at": records.stopped_at,
        "losses": losses[:records.rows],
        "distances": distances[:records.rows],
        "test_outputs": None if outputs is None else outputs[:records.rows],
    }


def train_ensemble(networks: Sequence[DeepNetworkLike], initial: Optional[Sequence[DeepNetworkLike]], X: FloatArray,
                   y: npt.ArrayLike, options: OptionsLike, X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run :func:`train` for ``R`` independent deep networks of one architecture, one after the other.

    ``initial`` holds the reference points of the distances, one per network (None: the
    starting points). Returns the keys of :func:`train`, each with a leading ``R`` axis except
    ``"steps"`` (the whole schedule); ``"layers"`` stacked per layer, ``((W^1 (R, n_1, d),
    b^1 (R, n_1)), ..., (v (R, n_L), c (R,)))`` with biases None without them. A network that
    diverged has its last record at its ``stopped_at`` and NaN rows after it.
    """
    networks = list(networks)
    starts: List[Optional[DeepNetworkLike]] = [None] * len(networks) if initial is None else list(initial)
    runs = [train(net, start, X, y, options, X_test) for net, start in zip(networks, starts)]
    rows = len(recorded_steps(options.steps, options.record_every))
    layers = tuple((np.stack([run["layers"][k][0] for run in runs]),
                    None if runs[0]["layers"][k][1] is None else np.stack([run["layers"][k][1] for run in runs]))
                   for k in range(len(runs[0]["layers"])))
    return {
        "layers": layers,
        "steps": recorded_steps(options.steps, options.record_every),
        "stopped_at": np.array([run["stopped_at"] for run in runs], dtype=np.int64),
        "losses": np.stack([_padded(run["losses"], rows) for run in runs]),
        "distances": np.stack([_padded(run["distances"], rows) for run in runs]),
        "test_outputs": None if X_test is None else np.stack([_padded(run["test_outputs"], rows) for run in runs]),
    }
