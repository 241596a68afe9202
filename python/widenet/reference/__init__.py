"""Pure-numpy twins of widenet's C++ kernels: the formulas of docs/theory.md, read not raced.

Each function mirrors the C++ kernel of the same name and is used to cross-check it.
"""

from widenet.reference import limit_kernels
from widenet.reference.activations import ACTIVATIONS, activation, activation_derivative
from widenet.reference.kernels import KERNELS, kernel_diag, kernel_gram
from widenet.reference.linear_dynamics import linear_gd
from widenet.reference.shallow import (
    forward,
    jacobian,
    jvp,
    loss,
    loss_grad,
    ntk_diag,
    ntk_gram,
    train,
    train_ensemble,
    train_ensemble_batched,
    vjp,
)

__all__ = [
    "ACTIVATIONS",
    "activation",
    "activation_derivative",
    "KERNELS",
    "forward",
    "jacobian",
    "jvp",
    "kernel_diag",
    "kernel_gram",
    "limit_kernels",
    "linear_gd",
    "loss",
    "loss_grad",
    "ntk_diag",
    "ntk_gram",
    "train",
    "train_ensemble",
    "train_ensemble_batched",
    "vjp",
]
