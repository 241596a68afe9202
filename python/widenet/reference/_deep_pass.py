"""The forward pass of a deep network for the numpy twins: every layer's pre-activations and activations."""

from __future__ import annotations

from typing import Any, List, Protocol, Sequence, Tuple

import numpy as np

from widenet.reference import activations as _act
from widenet.reference.activations import FloatArray

Layer = Tuple[Any, Any]  # (weights, bias or None)


class DeepNetworkLike(Protocol):
    """What the twins read of a deep network."""

    @property
    def layers(self) -> Sequence[Layer]:
        """``((W^1, b^1), ..., (W^L, b^L), (v, c))``; biases None without them."""

    @property
    def scales(self) -> Sequence[Tuple[float, float]]:
        """``((m_1, beta_1), ..., (m_out, beta_out))``, one pair per layer."""

    @property
    def activation(self) -> str:
        """One of :data:`~widenet.reference.ACTIVATIONS`."""


class _Pass:
    """The forward pass at ``X``: pre-activations ``H[l-1] = h^l`` and inputs ``A[i] = a^l`` (``A[0] = X``)."""

    def __init__(self, net: DeepNetworkLike, X: FloatArray) -> None:
        self.net, self.dtype = net, X.dtype
        self.layers = [(np.asarray(W, self.dtype), None if b is None else np.asarray(b, self.dtype))
                       for W, b in net.layers]
        self.H: List[FloatArray] = []
        self.A: List[FloatArray] = [X]
        for (W, b), (m, beta) in zip(self.layers[:-1], net.scales[:-1]):
            h = m * (self.A[-1] @ W.T)
            self.H.append(h if b is None else h + beta * b)
            self.A.append(_act.activation(net.activation, self.H[-1]))

    def outputs(self) -> FloatArray:
        """``Phi(X)``."""
        (v, c), (m, beta) = self.layers[-1], self.net.scales[-1]
        out = m * (self.A[-1] @ v)
        return out if c is None else out + beta * c

    def sensitivities(self) -> List[FloatArray]:
        """``D[l-1] = dPhi / dh^l`` for every hidden layer, rows per point (back-propagated)."""
        activation = self.net.activation
        (v, _), (m, _) = self.layers[-1], self.net.scales[-1]
        D: List[FloatArray] = [m * v * _act.activation_derivative(activation, self.H[-1])]
        for i in range(len(self.H) - 1, 0, -1):  # from h^(i+1) to h^i
            (W, _), (m_next, _) = self.layers[i], self.net.scales[i]
            D.append(m_next * (D[-1] @ W) * _act.activation_derivative(activation, self.H[i - 1]))
        return D[::-1]
