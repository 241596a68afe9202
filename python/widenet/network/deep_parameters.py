"""The parameters of a deep network, their scales, and their initialization (docs/theory.md, section 8)."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from widenet import _validation as check
from widenet._laws import standard_draws
from widenet._native import _core
from widenet._types import Distribution, FloatArray, Parametrization
from widenet.network.parameters import immutable

DeepLayers = tuple[tuple[FloatArray, Optional[FloatArray]], ...]


class DeepParameters:
    """The weights ``[W^1, ..., W^L, v]`` and biases ``[b^1, ..., b^L, c]`` (or None) of a deep network.

    ``W^l`` has shape (n_l, n_(l-1)) with ``n_0 = d``, ``v`` (n_L,), ``b^l`` (n_l,) and ``c``
    shape (); for a network of ``k > 1`` outputs ``v`` is (k, n_L) and ``c`` (k,). The arrays
    are read-only copies, checked (finite, of the shapes) when made.
    The parameter vector (:meth:`to_vector`) lists the layers in order, each weight matrix
    row-major and then its bias.

    Parameters
    ----------
    weights : sequence of array_like
        ``[W^1, ..., W^L, v]``: ``W^l`` of shape (n_l, n_(l-1)), ``v`` of shape (n_L,) or (k, n_L).
    biases : sequence of array_like, or None
        ``[b^1, ..., b^L, c]``: ``b^l`` of shape (n_l,), ``c`` a float or of shape (k,); None
        for a network without biases.
    dtype : numpy.float64 or numpy.float32
        Default numpy.float64.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.Network(2, [4, 3], seed=0)
    >>> [W.shape for W in net.params.weights]
    [(4, 2), (3, 4), (3,)]
    >>> net.params.to_vector().shape == (net.num_params,)
    True
    """

    __slots__ = ("_weights", "_biases", "_dtype", "_bound")

    def __init__(self, weights: Sequence[ArrayLike], biases: Optional[Sequence[ArrayLike]],
                 dtype: DTypeLike = np.float64) -> None:
        self._dtype = check.float_dtype(dtype)
        self._bound: tuple[Any, ...] = ()
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) < 2:
            raise TypeError("weights: expected a sequence [W^1, ..., W^L, v] of at least two arrays")
        hidden = [check.as_array(W, f"weights[{k}]", self._dtype, 2) for k, W in enumerate(weights[:-1])]
        fan_in = hidden[0].shape[1] if hidden[0].size else 0
        for k, W in enumerate(hidden):
            if W.shape[0] < 1 or W.shape[1] != fan_in or fan_in < 1:
                raise ValueError(f"weights[{k}]: expected shape (width, {fan_in}) with width >= 1, got {W.shape}")
            fan_in = W.shape[0]
        v = check.as_array(weights[-1], f"weights[{len(hidden)}]", self._dtype, (1, 2))
        if v.shape[-1] != fan_in or v.shape[0] < 1 or (v.ndim == 2 and v.shape[0] < 2):
            raise ValueError(f"weights[{len(hidden)}]: expected shape ({fan_in},), or (k, {fan_in}) with k >= 2 for "
                             f"k outputs, got {v.shape}")
        self._weights = tuple(immutable(W) for W in (*hidden, v))
        self._biases: Optional[tuple[NDArray[Any], ...]] = None
        if biases is not None:
            if isinstance(biases, (str, bytes)) or not isinstance(biases, Sequence) or len(biases) != len(weights):
                raise TypeError(f"biases: expected None or a sequence of {len(weights)} arrays, one per layer")
            shapes = [(W.shape[0],) for W in hidden] + [v.shape[:-1]]
            self._biases = tuple(immutable(check.as_shaped(b, f"biases[{k}]", self._dtype, shape))
                                 for k, (b, shape) in enumerate(zip(biases, shapes)))

    def __reduce__(self) -> tuple[type[DeepParameters], tuple[Any, ...]]:
        return DeepParameters, (self._weights, self._biases, self._dtype)

    @property
    def dtype(self) -> np.dtype[Any]:
        """float32 or float64."""
        return self._dtype

    @property
    def weights(self) -> list[FloatArray]:
        """``[W^1, ..., W^L, v]`` (read-only views)."""
        return [W.view() for W in self._weights]

    @property
    def biases(self) -> Optional[list[FloatArray]]:
        """``[b^1, ..., b^L, c]`` (read-only views), or None for a network without biases."""
        return None if self._biases is None else [b.view() for b in self._biases]

    @property
    def input_dim(self) -> int:
        """``d``."""
        return self._weights[0].shape[1]

    @property
    def outputs(self) -> int:
        """``k``, the number of outputs (the rows of a (k, n_L) readout; 1 for a readout vector)."""
        return self._weights[-1].shape[0] if self._weights[-1].ndim == 2 else 1

    @property
    def widths(self) -> tuple[int, ...]:
        """``(n_1, ..., n_L)``."""
        return tuple(W.shape[0] for W in self._weights[:-1])

    @property
    def size(self) -> int:
        """``P``, the number of parameters."""
        return sum(W.size for W in self._weights) + (0 if self._biases is None else sum(b.size for b in self._biases))

    @property
    def layers(self) -> DeepLayers:
        """``((W^1, b^1), ..., (v, c))``, biases None without them: the layout of the kernels."""
        biases = (None,) * len(self._weights) if self._biases is None else self._biases
        return tuple((W.view(), None if b is None else b.view()) for W, b in zip(self._weights, biases))

    def network(self, activation: str, scales: Sequence[tuple[float, float]]) -> _core.DeepNetwork:
        """Return the compiled network over these arrays (made once, kept while nothing changes)."""
        key = (activation, tuple(scales))
        bound = self._bound
        if not bound or bound[0] != key:
            bound = (key, _core.DeepNetwork(self.layers, activation, key[1]))
            self._bound = bound
        network: _core.DeepNetwork = bound[1]
        return network

    def to_vector(self) -> FloatArray:
        """Return the parameter vector ``w`` of length ``P``."""
        return np.concatenate([np.ravel(block) for layer in self.layers for block in layer if block is not None])

    def from_vector(self, w: ArrayLike) -> DeepParameters:
        """Return parameters of these shapes from the vector ``w`` (the inverse of :meth:`to_vector`)."""
        vector = check.as_shaped(w, "w", self._dtype, (self.size,))
        weights, biases, start = [], [], 0
        for W, b in self.layers:
            weights.append(vector[start:start + W.size].reshape(W.shape))
            start += W.size
            if b is not None:
                biases.append(vector[start:start + b.size].reshape(b.shape))
                start += b.size
        return DeepParameters(weights, None if self._biases is None else biases, self._dtype)

    def copy(self) -> DeepParameters:
        """Return a copy."""
        return DeepParameters(self._weights, self._biases, self._dtype)

    def __repr__(self) -> str:
        outputs = f", outputs={self.outputs}" if self.outputs > 1 else ""
        return (f"DeepParameters(input_dim={self.input_dim}, widths={list(self.widths)}, "
                f"bias={self._biases is not None}{outputs}, dtype={self._dtype.name})")


def layer_scales(parametrization: Parametrization, multipliers: bool, fan_ins: Sequence[int],
                 variances: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Return ``(m_l, beta_l)`` per layer, the readout last, for layers of inputs ``fan_ins`` (d, n_1, ..., n_L).

    LeCun: 1 and 1; NTK: ``n_(l-1)^(-1/2)`` and 1; NTK with multipliers: ``s_w n_(l-1)^(-1/2)``
    and ``s_b`` (the readout's ``s_v``, ``s_c``). ``variances`` are ``(s_w^2, s_b^2, s_v^2, s_c^2)``.
    """
    weight_var, bias_var, output_var, output_bias_var = variances
    scales = []
    for k, fan_in in enumerate(fan_ins):
        readout = k == len(fan_ins) - 1
        if parametrization == "lecun":
            scales.append((1.0, 1.0))
        elif not multipliers:
            scales.append((1.0 / math.sqrt(fan_in), 1.0))
        else:
            w_var, b_var = (output_var, output_bias_var) if readout else (weight_var, bias_var)
            scales.append((math.sqrt(w_var / fan_in), math.sqrt(b_var)))
    return scales


def initial_variances(parametrization: Parametrization, multipliers: bool, fan_ins: Sequence[int],
                      variances: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Return the variances ``(Var W^l_ij, Var b^l_i)`` of the initial law per layer, the readout last.

    LeCun: ``s_w^2 / n_(l-1)`` (readout ``s_v^2 / n_L``); NTK: ``s_w^2`` (readout ``s_v^2``);
    with multipliers every parameter has variance 1. Biases: ``s_b^2`` (readout ``s_c^2``).
    """
    weight_var, bias_var, output_var, output_bias_var = variances
    out = []
    for k, fan_in in enumerate(fan_ins):
        w_var, b_var = (output_var, output_bias_var) if k == len(fan_ins) - 1 else (weight_var, bias_var)
        if multipliers:
            out.append((1.0, 1.0))
        else:
            out.append((w_var / fan_in if parametrization == "lecun" else w_var, b_var))
    return out


def initialize_deep(input_dim: int, widths: Sequence[int], law: Sequence[tuple[float, float]], bias: bool,
                    distribution: Distribution, rng: np.random.Generator, dtype: np.dtype[Any],
                    outputs: int = 1) -> DeepParameters:
    """Draw the initial parameters, layer by layer: ``W^l`` then ``b^l``, ending with ``v`` and ``c``.

    The draws are made in float64 in that order (so that one hidden layer draws what the
    shallow network draws for the same seed); ``law`` is :func:`initial_variances`. With
    ``outputs = k > 1`` the readout ``V`` (k, n_L) is drawn row-major, then ``c`` (k,).
    """
    shapes: list[tuple[int, ...]] = [(n, fan_in) for n, fan_in in zip(widths, (input_dim, *widths[:-1]))]
    shapes.append((widths[-1],) if outputs == 1 else (outputs, widths[-1]))
    weights, biases = [], []
    for shape, (w_var, b_var) in zip(shapes, law):
        weights.append(standard_draws(rng, distribution, shape) * math.sqrt(w_var))
        if bias:
            count = shape[0] if len(shape) == 2 else 1
            draw = standard_draws(rng, distribution, count) * math.sqrt(b_var)
            biases.append(draw if len(shape) == 2 else draw[0])
    limit, last = float(np.finfo(dtype).max), len(weights) - 1
    named = [(W, "output_var" if k == last else "weight_var") for k, W in enumerate(weights)]
    named += [(b, "output_bias_var" if k == last else "bias_var") for k, b in enumerate(biases)]
    for block, name in named:  # blame the variance, not the block
        if np.max(np.abs(block)) > limit:
            raise ValueError(f"{name}: the initial parameters drawn with it exceed the range of {np.dtype(dtype)} "
                             f"(|w| <= {limit:.4g}); expected a smaller variance")
    return DeepParameters(weights, biases if bias else None, dtype)


def parameter_count(input_dim: int, widths: Sequence[int], bias: bool, outputs: int = 1) -> int:
    """Return ``P``: every layer's weights, and its biases when it has them (the readout's ``V`` and ``c`` too)."""
    fan_ins = (input_dim, *widths)
    return sum(n * (fan_in + int(bias)) for n, fan_in in zip((*widths, outputs), fan_ins))
