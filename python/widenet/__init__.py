"""widenet: the mathematics of wide neural networks.

Shallow networks in LeCun and NTK parametrization, their empirical tangent kernels and
gradient-descent training, with a C++ (Eigen) core and a pure-numpy reference
(:mod:`widenet.reference`) that mirrors the formulas of SPEC.md.
"""

from ._native import OPENBLAS_PATH, _core
from .ensemble import ShallowEnsemble, StackedParameters
from .network import ShallowNetwork
from .parameters import Parameters
from .reference.activations import ACTIVATIONS
from .results import TrainingResult

__version__ = _core.build_info()["version"]


def build_info() -> dict:
    """How the compiled core was built and runs: widenet, Eigen and BLAS versions, the
    SIMD instruction sets, and the thread counts of widenet's loops and of its BLAS."""
    info = dict(_core.build_info())
    info["blas_library"] = OPENBLAS_PATH
    return info


def set_num_threads(threads: int) -> None:
    """Sets the number of threads of widenet's own loops and of its BLAS."""
    from ._validation import integer

    _core.set_num_threads(integer(threads, "threads", 1))


def get_num_threads() -> int:
    """The number of threads of widenet's own loops."""
    return _core.get_num_threads()


__all__ = [
    "ACTIVATIONS",
    "Parameters",
    "ShallowEnsemble",
    "ShallowNetwork",
    "StackedParameters",
    "TrainingResult",
    "build_info",
    "get_num_threads",
    "set_num_threads",
]
