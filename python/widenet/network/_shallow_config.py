"""The configuration of a shallow network: its arguments, checked, and what they make of it."""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet import _validation as check
from widenet._native import _core
from widenet._types import Activation, Distribution, Parametrization
from widenet.network.parameters import DISTRIBUTIONS, PARAMETRIZATIONS


class ShallowConfiguration:
    """The configuration of :class:`widenet.ShallowNetwork`: everything but its parameters."""

    input_dim: int
    width: int
    activation: Activation
    parametrization: Parametrization
    weight_var: float
    bias_var: float
    output_var: float
    output_bias_var: float
    distribution: Distribution
    dtype: np.dtype[Any]
    outputs: int

    def _configure(self, input_dim: object, width: object, activation: object, parametrization: object,
                   weight_var: object, bias_var: object, output_var: object, output_bias_var: object,
                   distribution: object, dtype: object, outputs: object = 1) -> None:
        """Check and set the configuration (everything but the parameters)."""
        self.input_dim = check.integer(input_dim, "input_dim", 1)
        self.width = check.integer(width, "width", 1)
        self.activation = check.choice(activation, "activation", _core.ACTIVATIONS)
        self.parametrization = check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
        self.weight_var = check.non_negative_real(weight_var, "weight_var")
        self.bias_var = check.non_negative_real(bias_var, "bias_var")
        self.output_var = check.non_negative_real(output_var, "output_var")
        self.output_bias_var = check.non_negative_real(output_bias_var, "output_bias_var")
        self.distribution = check.choice(distribution, "distribution", DISTRIBUTIONS)
        self.dtype = check.float_dtype(dtype)
        self.outputs = check.integer(outputs, "outputs", 1)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration: the constructor's keyword arguments but ``seed``.

        ``dtype`` is given as its name (``"float64"`` or ``"float32"``), ``outputs`` only
        when above 1 (so that a network of one output has the configuration, and the files,
        it had before outputs existed). ``ShallowNetwork(**config)`` makes a network of the
        same configuration (with new parameters).
        """
        config = {"input_dim": self.input_dim, "width": self.width, "activation": self.activation,
                  "parametrization": self.parametrization, "weight_var": self.weight_var, "bias_var": self.bias_var,
                  "output_var": self.output_var, "output_bias_var": self.output_bias_var,
                  "distribution": self.distribution, "dtype": self.dtype.name}
        return config if self.outputs == 1 else {**config, "outputs": self.outputs}

    # -- as a network of one hidden layer -----------------------------------------------
    @property
    def widths(self) -> tuple[int, ...]:
        """``(n,)``: the hidden widths, as :attr:`widenet.Network.widths` gives them."""
        return (self.width,)

    block_names = ("U", "b", "v", "c")  # the parameter blocks, in the order of the parameter vector
    depth = 1  # one hidden layer
    bias = True  # the shallow network always has biases
    multipliers = False  # its variances are those of the initial parameters

    @property
    def scales(self) -> list[tuple[float, float]]:
        """``[(s, 1), (a, 1)]``: the factors of the weights and biases of each layer in the forward pass.

        ``s = d^(-1/2)`` and ``a = n^(-1/2)`` in NTK parametrization, 1 in LeCun's (as
        :attr:`widenet.Network.scales` gives them).
        """
        if self.parametrization == "lecun":
            return [(1.0, 1.0), (1.0, 1.0)]
        return [(self.input_dim ** -0.5, 1.0), (self.width ** -0.5, 1.0)]
