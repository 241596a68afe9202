"""The parameters ``w = (U, b, v, c)`` of a shallow network and their initialization."""

from __future__ import annotations

import math

import numpy as np

from widenet import _validation as check
from widenet._laws import DISTRIBUTIONS, standard_draws
from widenet._native import _core

PARAMETRIZATIONS = _core.PARAMETRIZATIONS
"""The parametrizations, as the compiled core parses them."""


def _immutable(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array`` over an immutable buffer: neither it, nor a view of it,
    nor its base can be made writable again, so values that were checked stay as checked."""
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


class Parameters:
    """``U`` (n x d), ``b`` (n,), ``v`` (n,) and ``c`` (float), in one dtype.

    Fields can be read and set. The arrays read are read-only views (``params.U[0, 0] = x``
    raises ValueError); setting a field checks its shape and values (NaN and Inf are refused
    by name) and converts to the dtype, keeping a copy, so later changes to the caller's
    array do not leak in. The parameter vector (:meth:`to_vector`) is ordered ``U``
    row-major, ``b``, ``v``, ``c`` (docs/theory.md, section 5).
    """

    __slots__ = ("_U", "_b", "_v", "_c", "_dtype")

    def __init__(self, U, b, v, c, dtype=np.float64):
        self._dtype = check.float_dtype(dtype)
        U = check.as_array(U, "U", self._dtype, 2)
        if U.shape[0] < 1 or U.shape[1] < 1:
            raise ValueError(f"U: expected a non-empty (width, input_dim) matrix, got shape {U.shape}")
        self._U = _immutable(U)
        self.b, self.v, self.c = b, v, c

    def __reduce__(self):
        # Copies and pickles are rebuilt through the constructor, with checked immutable arrays.
        return Parameters, (*self.arrays(), self._dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def width(self) -> int:
        return self._U.shape[0]

    @property
    def input_dim(self) -> int:
        return self._U.shape[1]

    @property
    def U(self) -> np.ndarray:
        return self._U.view()

    @U.setter
    def U(self, value):
        self._U = _immutable(check.as_shaped(value, "U", self._dtype, self._U.shape))

    @property
    def b(self) -> np.ndarray:
        return self._b.view()

    @b.setter
    def b(self, value):
        self._b = _immutable(check.as_shaped(value, "b", self._dtype, (self.width,)))

    @property
    def v(self) -> np.ndarray:
        return self._v.view()

    @v.setter
    def v(self, value):
        self._v = _immutable(check.as_shaped(value, "v", self._dtype, (self.width,)))

    @property
    def c(self) -> float:
        return self._c

    @c.setter
    def c(self, value):
        self._c = check.as_real(value, "c", self._dtype)

    @property
    def size(self) -> int:
        """The number of parameters ``P = n (d + 2) + 1``."""
        return self.width * (self.input_dim + 2) + 1

    def arrays(self) -> tuple:
        """``(U, b, v, c)``, the form the kernels take (read-only views)."""
        return self._U.view(), self._b.view(), self._v.view(), self._c

    def to_vector(self) -> np.ndarray:
        """The flat parameter vector ``w`` of length ``P``."""
        return np.concatenate([self._U.ravel(), self._b, self._v, np.array([self._c], dtype=self._dtype)])

    @classmethod
    def from_vector(cls, w, width: int, input_dim: int, dtype=np.float64) -> "Parameters":
        """Inverse of :meth:`to_vector`."""
        dtype = check.float_dtype(dtype)
        w = check.as_shaped(w, "w", dtype, (width * (input_dim + 2) + 1,))
        split = np.cumsum([width * input_dim, width, width])
        U, b, v, c = np.split(w, split)
        return cls(U.reshape(width, input_dim), b, v, c[0], dtype)

    def copy(self) -> "Parameters":
        return Parameters(self._U, self._b, self._v, self._c, self._dtype)

    def __repr__(self) -> str:
        return f"Parameters(width={self.width}, input_dim={self.input_dim}, dtype={self._dtype.name})"


def initialize(input_dim: int, width: int, parametrization: str, distribution: str, weight_var: float,
               bias_var: float, output_var: float, output_bias_var: float, rng: np.random.Generator,
               dtype: np.dtype) -> Parameters:
    """Initial parameters: (11.5.3) for LeCun, (11.6.2) for the NTK parametrization.

    LeCun: ``U_ij ~ D(0, s_w^2/d)``, ``v_i ~ D(0, s_v^2/n)``; NTK: ``U_ij ~ D(0, s_w^2)``,
    ``v_i ~ D(0, s_v^2)``; both: ``b_i ~ D(0, s_b^2)``, ``c ~ D(0, s_c^2)``. The draws are
    made in float64 in the order U, b, v, c, so float32 and float64 networks of one seed
    hold the same numbers up to rounding.
    """
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    U = standard_draws(rng, distribution, (width, input_dim)) * math.sqrt(weight_var / fan_in)
    b = standard_draws(rng, distribution, width) * math.sqrt(bias_var)
    v = standard_draws(rng, distribution, width) * math.sqrt(output_var / fan_out)
    c = standard_draws(rng, distribution, 1)[0] * math.sqrt(output_bias_var)
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
