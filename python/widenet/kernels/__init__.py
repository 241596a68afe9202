"""Kernels as objects, and explicit feature maps.

The kernels are the classic ones, a user's function, the empirical tangent kernel of a
model and the infinite-width kernels.
"""

from widenet.kernels.activation import CallableActivation
from widenet.kernels.base import Kernel
from widenet.kernels.classic import CallableKernel, LaplaceKernel, LinearKernel, PolynomialKernel, RBFKernel, as_kernel
from widenet.kernels.feature_maps import (
    example_11_5_datasets,
    polynomial_features,
    quadratic_features,
    rbf_features,
    separating_features,
)
from widenet.kernels.limit import LimitKernel, limit_kernel
from widenet.kernels.limit_pair import limit_kernel_pair
from widenet.kernels.tangent import TangentKernel

__all__ = [
    "CallableActivation",
    "CallableKernel",
    "Kernel",
    "LaplaceKernel",
    "LimitKernel",
    "LinearKernel",
    "PolynomialKernel",
    "RBFKernel",
    "TangentKernel",
    "as_kernel",
    "example_11_5_datasets",
    "limit_kernel",
    "limit_kernel_pair",
    "polynomial_features",
    "quadratic_features",
    "rbf_features",
    "separating_features",
]
