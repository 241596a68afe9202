"""Pure-numpy twins of widenet's C++ kernels: the formulas of docs/theory.md, read not raced.

Each function mirrors the C++ kernel of the same name, with the same signature, and is used
to cross-check it (a network of several outputs, ``v`` of shape (k, n), is handed by each to
its twin in :mod:`widenet.reference.shallow_outputs`): the network functions take a network
object (the compiled ``Network``, or :class:`Network` here) and the training runs an options object (the compiled
``TrainingOptions``, or :class:`TrainingOptions` here), so ``widenet._core`` and this package
are called alike.
"""

from widenet.reference import limit_kernels
from widenet.reference.activations import ACTIVATIONS, activation, activation_derivative
from widenet.reference.kernels import KERNELS, kernel_diag, kernel_gram
from widenet.reference.linear_dynamics import linear_gd
from widenet.reference.outputs_gram import ntk_blocks
from widenet.reference.shallow import Network, forward, jacobian, jvp, loss, loss_grad, vjp
from widenet.reference.tangent_gram import ntk_diag, ntk_gram
from widenet.reference.training import TrainingOptions, train, train_ensemble, train_ensemble_batched

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
    "Network",
    "ntk_blocks",
    "ntk_diag",
    "ntk_gram",
    "train",
    "TrainingOptions",
    "train_ensemble",
    "train_ensemble_batched",
    "vjp",
]
