"""The parameters ``w = (U, b, v, c)`` of a shallow network (one output or ``k``) and their initialization."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from widenet import _validation as check
from widenet._laws import DISTRIBUTIONS, standard_draws
from widenet._native import _core
from widenet._types import Distribution, FloatArray, Layers, ParameterArrays, Parametrization

__all__ = ["DISTRIBUTIONS", "PARAMETRIZATIONS", "Parameters", "initialize"]

PARAMETRIZATIONS = _core.PARAMETRIZATIONS
"""The parametrizations, as the compiled core parses them."""


def immutable(array: NDArray[Any]) -> NDArray[Any]:
    """Return a read-only copy of ``array`` over an immutable buffer.

    Neither it, nor a view of it, nor its base can be made writable again, so values that
    were checked stay as checked.
    """
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


class Parameters:
    """``U`` (n x d), ``b`` (n,) and the readout ``v``, ``c``, in one dtype.

    One output: ``v`` of shape (n,) and ``c`` a float. ``k >= 2`` outputs: ``v`` of shape
    (k, n), one row per output, and ``c`` of shape (k,) (docs/theory.md, section 5, "Several
    outputs"); the shape of ``v`` given to the constructor decides.

    Fields can be read and set. The arrays read are read-only views (``params.U[0, 0] = x``
    raises ValueError); setting a field checks its shape and values (NaN and Inf are refused
    by name) and converts to the dtype, keeping a copy, so later changes to the caller's
    array do not leak in. The parameter vector (:meth:`to_vector`) is ordered ``U``
    row-major, ``b``, ``v`` (row-major: output by output), ``c`` (docs/theory.md, section 5),
    of length ``n (d + 1) + k (n + 1)``.

    Parameters
    ----------
    U : array_like, shape (n, d)
        The hidden weights.
    b : array_like, shape (n,)
        The hidden biases.
    v : array_like, shape (n,) or (k, n)
        The readout weights, one row per output.
    c : float or array_like, shape (k,)
        The readout bias.
    dtype : numpy.float64 or numpy.float32
        Default numpy.float64.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> params = widenet.Parameters(U=np.ones((4, 2)), b=np.zeros(4), v=np.ones(4), c=0.0)
    >>> params.to_vector().shape  # n (d + 2) + 1
    (17,)
    >>> net = widenet.ShallowNetwork(2, 4, "identity", seed=0)
    >>> net.params = params
    >>> net.forward(np.array([[1.0, 1.0]]))
    array([8.])
    """

    __slots__ = ("_U", "_b", "_v", "_c", "_dtype", "_bound")
    _c: Any  # a float (one output), or an immutable array of k

    def __init__(self, U: ArrayLike, b: ArrayLike, v: ArrayLike, c: ArrayLike, dtype: DTypeLike = np.float64) -> None:
        self._bound: tuple[Any, ...] = ()
        self._dtype = check.float_dtype(dtype)
        U = check.as_array(U, "U", self._dtype, 2)
        if U.shape[0] < 1 or U.shape[1] < 1:
            raise ValueError(f"U: expected a non-empty (width, input_dim) matrix, got shape {U.shape}")
        self._U = immutable(U)
        readout = check.as_array(v, "v", self._dtype, (1, 2))
        if readout.ndim == 2 and readout.shape[0] < 2:
            raise ValueError(f"v: expected shape ({U.shape[0]},) for one output, or (k, {U.shape[0]}) with k >= 2 "
                             f"outputs, got {readout.shape}")
        self._v = readout  # its shape is the readout's (checked again by the setter below)
        self.b, self.v, self.c = b, readout, c

    def __reduce__(self) -> tuple[type[Parameters], tuple[Any, ...]]:
        # Copies and pickles are rebuilt through the constructor, with checked immutable arrays.
        return Parameters, (*self.arrays(), self._dtype)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the parameters, float32 or float64."""
        return self._dtype

    @property
    def width(self) -> int:
        """``n``, the number of hidden units."""
        return self._U.shape[0]

    @property
    def input_dim(self) -> int:
        """``d``, the number of input features."""
        return self._U.shape[1]

    @property
    def outputs(self) -> int:
        """``k``, the number of outputs (1 for ``v`` of shape (n,))."""
        return 1 if self._v.ndim == 1 else int(self._v.shape[0])

    @property
    def _readout_shape(self) -> tuple[int, ...]:
        return (self.width,) if self.outputs == 1 else (self.outputs, self.width)

    @property
    def U(self) -> FloatArray:
        """The input weights, shape (n, d) (a read-only view)."""
        return self._U.view()

    @U.setter
    def U(self, value: ArrayLike) -> None:
        self._U = immutable(check.as_shaped(value, "U", self._dtype, self._U.shape))

    @property
    def b(self) -> FloatArray:
        """The hidden biases, shape (n,) (a read-only view)."""
        return self._b.view()

    @b.setter
    def b(self, value: ArrayLike) -> None:
        self._b = immutable(check.as_shaped(value, "b", self._dtype, (self.width,)))

    @property
    def v(self) -> FloatArray:
        """The output weights, shape (n,), or (k, n) for ``k`` outputs (a read-only view)."""
        return self._v.view()

    @v.setter
    def v(self, value: ArrayLike) -> None:
        self._v = immutable(check.as_shaped(value, "v", self._dtype, self._readout_shape))

    @property
    def c(self) -> Any:
        """The output bias: a float, or shape (k,) for ``k`` outputs (a read-only view)."""
        return self._c if self.outputs == 1 else self._c.view()

    @c.setter
    def c(self, value: ArrayLike) -> None:
        if self.outputs == 1:
            self._c = check.as_real(value, "c", self._dtype)
        else:
            self._c = immutable(check.as_shaped(value, "c", self._dtype, (self.outputs,)))

    @property
    def size(self) -> int:
        """The number of parameters ``P = n (d + 1) + k (n + 1)`` (``n (d + 2) + 1`` for one output)."""
        return self.width * (self.input_dim + 1) + self.outputs * (self.width + 1)

    def arrays(self) -> ParameterArrays:
        """Return ``(U, b, v, c)`` (read-only views)."""
        return self._U.view(), self._b.view(), self._v.view(), self.c

    @property
    def layers(self) -> Layers:
        """``((U, b), (v, c))``: the dense layers, each its weights and bias (read-only views).

        The layout of :attr:`widenet._core.Network.layers` and of the kernels' gradients.
        """
        return (self._U.view(), self._b.view()), (self._v.view(), self.c)

    @classmethod
    def from_layers(cls, layers: Layers, dtype: DTypeLike = np.float64) -> Parameters:
        """Make parameters from :attr:`layers` (checked as the constructor checks its arguments)."""
        (U, b), (v, c) = layers
        return cls(U, b, v, c, dtype)

    def network(self, activation: str, parametrization: str) -> _core.Network:
        """Return these parameters with an architecture: the network object every kernel takes.

        A ``widenet._core.Network`` holding these arrays, not copies of them; made on first
        use and kept while the fields and the architecture stay the same.
        """
        U, b, v, c = self._U, self._b, self._v, self._c
        key = (id(U), id(b), id(v), c if self.outputs == 1 else id(c))  # c: a float, or an immutable array
        bound = self._bound  # read once: another thread may replace it
        if bound[:4] != key or bound[4].activation != activation or bound[4].parametrization != parametrization:
            bound = (*key, _core.Network(U, b, v, c, activation, parametrization))
            self._bound = bound
        network: _core.Network = bound[4]
        return network

    def to_vector(self) -> FloatArray:
        """Return the flat parameter vector ``w`` of length ``P``: ``U`` row-major, ``b``, ``v`` row-major, ``c``."""
        bias = np.array([self._c], dtype=self._dtype) if self.outputs == 1 else self._c
        return np.concatenate([self._U.ravel(), self._b, self._v.ravel(), bias])

    @classmethod
    def from_vector(cls, w: ArrayLike, width: int, input_dim: int, dtype: DTypeLike = np.float64,
                    outputs: int = 1) -> Parameters:
        """Return the parameters of the flat vector ``w`` (the inverse of :meth:`to_vector`), of ``outputs`` outputs."""
        resolved = check.float_dtype(dtype)
        outputs = check.integer(outputs, "outputs", 1)
        vector = check.as_shaped(w, "w", resolved, (width * (input_dim + 1) + outputs * (width + 1),))
        split = np.cumsum([width * input_dim, width, outputs * width])
        U, b, v, c = np.split(vector, split)
        if outputs == 1:
            return cls(U.reshape(width, input_dim), b, v, c[0], resolved)
        return cls(U.reshape(width, input_dim), b, v.reshape(outputs, width), c, resolved)

    def copy(self) -> Parameters:
        """Return a copy of the parameters."""
        return Parameters(self._U, self._b, self._v, self._c, self._dtype)

    def __repr__(self) -> str:
        outputs = f", outputs={self.outputs}" if self.outputs > 1 else ""
        return f"Parameters(width={self.width}, input_dim={self.input_dim}{outputs}, dtype={self._dtype.name})"


def initialize(input_dim: int, width: int, parametrization: Parametrization, distribution: Distribution,
               weight_var: float, bias_var: float, output_var: float, output_bias_var: float,
               rng: np.random.Generator, dtype: np.dtype[Any], outputs: int = 1) -> Parameters:
    """Draw initial parameters: (11.5.3) for LeCun, (11.6.2) for the NTK parametrization.

    LeCun: ``U_ij ~ D(0, s_w^2/d)``, ``v_i ~ D(0, s_v^2/n)``; NTK: ``U_ij ~ D(0, s_w^2)``,
    ``v_i ~ D(0, s_v^2)``; both: ``b_i ~ D(0, s_b^2)``, ``c ~ D(0, s_c^2)``. The draws are
    made in float64 in the order U, b, v, c, so float32 and float64 networks of one seed
    hold the same numbers up to rounding. With ``outputs = k > 1``, ``v`` is (k, n), drawn
    row by row (output by output), and ``c`` (k,), every entry of the same law.
    """
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    readout_shape = width if outputs == 1 else (outputs, width)
    U = standard_draws(rng, distribution, (width, input_dim)) * math.sqrt(weight_var / fan_in)
    b = standard_draws(rng, distribution, width) * math.sqrt(bias_var)
    v = standard_draws(rng, distribution, readout_shape) * math.sqrt(output_var / fan_out)
    c = standard_draws(rng, distribution, outputs) * math.sqrt(output_bias_var)
    if outputs == 1:
        c = c[0]
    limit, tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).tiny)
    blocks = ((U, weight_var, fan_in, "weight_var"), (b, bias_var, 1, "bias_var"),
              (v, output_var, fan_out, "output_var"), (np.array(c), output_bias_var, 1, "output_bias_var"))
    for block, variance, fan, name in blocks:  # blame the variance, not the block
        if block.size and np.max(np.abs(block)) > limit:
            raise ValueError(f"{name}: the initial weights drawn with variance {variance:.4g} exceed the range "
                             f"of {np.dtype(dtype)} (|w| <= {limit:.4g}); expected a smaller variance")
        if variance > 0 and math.sqrt(variance / fan) < tiny:
            raise ValueError(f"{name}: the initial weights drawn with variance {variance:.4g} (standard deviation "
                             f"{math.sqrt(variance / fan):.4g}) underflow {np.dtype(dtype)} (smallest normal number "
                             f"{tiny:.4g}) and would be 0; expected a larger variance, or dtype=float64")
    return Parameters(U, b, v, c, dtype)
