"""Names of the types in widenet's signatures: the string options and the arrays.

Each string option is a ``Literal`` of the values the public functions accept; the
functions check their arguments at run time whatever the annotations say, and refuse
other values by name. The tuples of accepted values the checks use are derived from these
aliases (``typing.get_args``), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = [
    "Activation",
    "ArrayLike",
    "Backend",
    "DTypeLike",
    "Distribution",
    "FloatArray",
    "ClassicKernelName",
    "IntArray",
    "Kind",
    "KernelName",
    "LinearMethod",
    "Loss",
    "Method",
    "OnDivergence",
    "Parametrization",
    "Layers",
    "ParameterArrays",
    "PassKind",
    "Seed",
]

Activation = Literal["relu", "tanh", "erf", "arctan", "sigmoid", "softplus", "gelu", "sin", "identity",
                     "leaky_relu", "elu", "silu", "abs", "monomial2", "monomial3"]
"""The activation ``sigma`` of a shallow network (the names of ``widenet.ACTIVATIONS``)."""

Parametrization = Literal["lecun", "ntk"]
"""LeCun (11.5.1) or NTK (11.6.1) parametrization."""

Backend = Literal["cpp", "numpy"]
"""The compiled kernels or their numpy reference twins."""

Loss = Literal["sum", "mean", "half_sum"]
"""The scaling of the squared loss: the chapter's ``f``, its mean, or half of it."""

Kind = Literal["ntk", "nngp"]
"""Which infinite-width kernel: the tangent kernel's limit, or the covariance of the outputs."""

Method = Literal["auto", "closed_form", "scale_mixture", "quadrature", "expansion", "monte_carlo"]
"""How the expectations of an infinite-width kernel are computed."""

Distribution = Literal["normal", "uniform", "rademacher"]
"""The zero-mean, unit-variance law ``D`` of a network's initial parameters."""

OnDivergence = Literal["raise", "return"]
"""What a training run does when its loss diverges."""

ClassicKernelName = Literal["linear", "polynomial", "rbf", "laplace"]
"""The classic kernels of Example 11.10, as the compiled core names them."""

KernelName = Literal[ClassicKernelName, "poly"]
"""The classic kernels by name, as ``kernel=`` arguments take them (``poly`` is ``polynomial``)."""

LinearMethod = Literal["closed_form", "iterate", "flow"]
"""How a linearized model is trained: eigendecomposition, step by step, or gradient flow."""

PassKind = Literal["forward", "loss_grad", "vjp", "jvp", "ntk_diag"]
"""A pass of the network's kernels over a batch of points (for the memory estimates)."""

FloatArray = NDArray[np.floating[Any]]
"""An array of floats (float32 or float64)."""

IntArray = NDArray[np.int64]
"""An array of int64 (step indices)."""

ParameterArrays = tuple[FloatArray, FloatArray, FloatArray, Any]
"""``(U, b, v, c)``: a shallow network's parameters (``c`` a float, or an array of ``k`` for ``k`` outputs)."""

Layers = tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, Any]]
"""``((U, b), (v, c))``: the parameters as dense layers, each its weights and bias (the layout
of the compiled ``Network.layers``, of gradients and of directions in parameter space); ``c``
a float, or an array of ``k`` for ``k`` outputs."""

Seed = Union[None, int, np.integer[Any], np.random.SeedSequence, np.random.Generator]
"""What seeds a random generator: None (fresh entropy), an integer, a SeedSequence or a Generator."""
