"""widenet: the mathematics of wide neural networks.

Shallow networks in LeCun and NTK parametrization, their empirical tangent kernels and
gradient-descent training, with a C++ (Eigen) core and a pure-numpy reference
(:mod:`widenet.reference`) that mirrors the formulas of docs/theory.md.
"""

from . import (convergence, estimators, feature_maps, kernels, lazy_training, least_squares, limit_kernels, models,
               ntk_regression, persistence, sweeps)
from ._memory import MemoryLimitError, get_memory_limit, set_memory_limit
from ._native import OPENBLAS_PATH, _core
from .convergence import AssumptionReport, ConvergenceCheck, check_assumptions, check_convergence
from .ensemble import ShallowEnsemble, StackedParameters
from .errors import ConditioningWarning, DivergenceError
from .estimators import KernelLeastSquares, MinNormLeastSquares, NotFittedError
from .feature_maps import (
    example_11_5_datasets,
    polynomial_features,
    quadratic_features,
    rbf_features,
    separating_features,
)
from .kernels import CallableKernel, LaplaceKernel, LinearKernel, PolynomialKernel, RBFKernel, TangentKernel
from .lazy_training import compare_parametrizations, lazy_training_sweep, parameter_movement
from .least_squares import min_norm_solution
from .limit_kernels import limit_kernel
from .infinite_width_kernel import LimitKernel
from .linearization import LinearizedModel, linearize
from .models import FeatureModel, LinearModel
from .ntk_regression import NTKRegressor
from .network import ShallowNetwork
from .parameters import Parameters
from .persistence import TrainingState, load
from .results import LinearizedTrainingResult, TrainingResult
from .sweeps import CellFailure, SlopeFit, SweepResult, fit_slope, sweep, sweeps_on

__version__ = _core.build_info()["version"]

ACTIVATIONS = _core.ACTIVATIONS
"""The activation names every network and kernel accepts (the compiled core's list)."""
DIVERGENCE_FACTOR = _core.DIVERGENCE_FACTOR
"""A training run diverges, and stops, when its loss is not finite or exceeds this many times
its reference loss (the initial loss, or the zero predictor's if larger)."""


def build_info() -> dict:
    """How the compiled core was built and runs: widenet, Eigen and BLAS versions, the
    SIMD instruction sets, and the thread counts of widenet's loops and of its BLAS."""
    import os

    info = dict(_core.build_info())
    info["blas_library"] = OPENBLAS_PATH
    info["thread_environment"] = {name: os.environ.get(name) for name in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    return info


def set_num_threads(threads: int) -> None:
    """Sets the number of threads of widenet's own loops and of its BLAS.

    ``threads`` is an integer from 1 to ``build_info()["max_threads"]``, four per processor
    this process may run on: more threads only share the same cores, and a count far beyond
    them (a typo such as ``10**9``) would exhaust memory creating them. Anything else raises
    ValueError (TypeError for a non-integer) naming ``threads``, and changes nothing."""
    from ._validation import integer

    _core.set_num_threads(integer(threads, "threads", 1, maximum=None))  # the maximum is checked there


def get_num_threads() -> int:
    """The number of threads of widenet's own loops."""
    return _core.get_num_threads()


__all__ = [
    "ACTIVATIONS",
    "AssumptionReport",
    "ConvergenceCheck",
    "ConditioningWarning",
    "DIVERGENCE_FACTOR",
    "DivergenceError",
    "FeatureModel",
    "LinearModel",
    "LinearizedModel",
    "LinearizedTrainingResult",
    "MemoryLimitError",
    "TrainingState",
    "SlopeFit",
    "SweepResult",
    "check_assumptions",
    "compare_parametrizations",
    "fit_slope",
    "get_memory_limit",
    "load",
    "persistence",
    "set_memory_limit",
    "lazy_training",
    "lazy_training_sweep",
    "parameter_movement",
    "sweep",
    "sweeps",
    "sweeps_on",
    "CellFailure",
    "check_convergence",
    "convergence",
    "linearize",
    "models",
    "CallableKernel",
    "KernelLeastSquares",
    "LaplaceKernel",
    "LimitKernel",
    "LinearKernel",
    "MinNormLeastSquares",
    "NTKRegressor",
    "NotFittedError",
    "PolynomialKernel",
    "RBFKernel",
    "TangentKernel",
    "estimators",
    "example_11_5_datasets",
    "feature_maps",
    "kernels",
    "least_squares",
    "limit_kernel",
    "limit_kernels",
    "min_norm_solution",
    "ntk_regression",
    "polynomial_features",
    "quadratic_features",
    "rbf_features",
    "separating_features",
    "Parameters",
    "ShallowEnsemble",
    "ShallowNetwork",
    "StackedParameters",
    "TrainingResult",
    "build_info",
    "get_num_threads",
    "set_num_threads",
]
