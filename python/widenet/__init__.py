"""widenet: the mathematics of wide neural networks.

Fully-connected networks in LeCun and NTK parametrization (one hidden layer, as in the
chapter, or any depth), their empirical tangent kernels, their infinite-width limits and
gradient-descent training, with a C++ (Eigen) core and a
pure-numpy reference (:mod:`widenet.reference`) that mirrors the formulas of
docs/theory.md.

The package is layered, each layer importing only those below it: the runtime, validation
and errors at the bottom; :mod:`widenet.kernels` and :mod:`widenet.sweeps`;
:mod:`widenet.network`; :mod:`widenet.regression` and :mod:`widenet.gaussian_process` (which
imports scikit-learn, so :class:`GPKernel` is loaded on first use); :mod:`widenet.dynamics`;
:mod:`widenet.predict`; :mod:`widenet.io`; :mod:`widenet.distributed`; and :mod:`widenet.app`
(the command line, the report and the experiments) on top. The names below are the public interface.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

# the predictions stay a module, as in neural-tangents: widenet.predict.gradient_descent_mse_ensemble(...)
from widenet import predict as predict
from widenet._memory import MemoryLimitError, get_memory_limit, set_memory_limit
from widenet._native import _core
from widenet._runtime import __version__, build_info, get_num_threads, set_num_threads
from widenet.dynamics import (
    AssumptionReport,
    ConvergenceCheck,
    LinearizedModel,
    check_assumptions,
    check_convergence,
    compare_parametrizations,
    lazy_training_sweep,
    linearize,
    parameter_movement,
)
from widenet.errors import ConditioningWarning, DivergenceError
from widenet.io import TrainingState, load
from widenet.kernels import (
    CallableActivation,
    CallableKernel,
    LaplaceKernel,
    LimitKernel,
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
    TangentKernel,
    example_11_5_datasets,
    limit_kernel,
    limit_kernel_pair,
    polynomial_features,
    quadratic_features,
    rbf_features,
    separating_features,
)
from widenet.network import (
    DeepEnsemble,
    DeepParameters,
    FeatureModel,
    LinearizedTrainingResult,
    LinearModel,
    Network,
    Parameters,
    ShallowEnsemble,
    ShallowNetwork,
    StackedParameters,
    TrainingResult,
)
from widenet.regression import min_norm_solution
from widenet.sweeps import CellFailure, SlopeFit, SweepResult, fit_slope, sweep, sweeps_on

if TYPE_CHECKING:  # imported on first use: its module imports scikit-learn
    from widenet.gaussian_process import GPKernel

ACTIVATIONS = _core.ACTIVATIONS
"""The activation names every network and kernel accepts (the compiled core's list).

Examples
--------
>>> import widenet
>>> "relu" in widenet.ACTIVATIONS and "erf" in widenet.ACTIVATIONS
True
"""
LEAKY_RELU_SLOPE = _core.LEAKY_RELU_SLOPE
"""The slope of the activation ``"leaky_relu"`` below 0: ``leaky_relu(z) = LEAKY_RELU_SLOPE z`` there (0.01, as
in PyTorch and JAX; other slopes reach the limit kernels as a :class:`CallableActivation`).

Examples
--------
>>> import widenet
>>> from widenet.reference.activations import activation
>>> activation("leaky_relu", [-2.0, 3.0]) / widenet.LEAKY_RELU_SLOPE
array([ -2., 300.])
"""
ELU_ALPHA = _core.ELU_ALPHA
"""The ``alpha`` of the activation ``"elu"``: ``elu(z) = ELU_ALPHA (e^z - 1)`` below 0 (1, as in PyTorch and JAX;
other values reach the limit kernels as a :class:`CallableActivation`).

Examples
--------
>>> import widenet
>>> widenet.ELU_ALPHA
1.0
"""
DIVERGENCE_FACTOR = _core.DIVERGENCE_FACTOR
"""A training run diverges, and stops, when its loss is not finite or exceeds this many times
its reference loss (the initial loss, or the zero predictor's if larger).

Examples
--------
>>> import widenet
>>> widenet.DIVERGENCE_FACTOR
10000000000.0
"""

__all__ = [
    "ACTIVATIONS",
    "AssumptionReport",
    "CallableActivation",
    "CallableKernel",
    "CellFailure",
    "ConditioningWarning",
    "ConvergenceCheck",
    "DIVERGENCE_FACTOR",
    "DeepEnsemble",
    "DeepParameters",
    "DivergenceError",
    "ELU_ALPHA",
    "FeatureModel",
    "GPKernel",
    "KernelLeastSquares",
    "LEAKY_RELU_SLOPE",
    "LaplaceKernel",
    "LimitKernel",
    "LinearKernel",
    "LinearModel",
    "LinearizedModel",
    "LinearizedTrainingResult",
    "MemoryLimitError",
    "MinNormLeastSquares",
    "NTKRegressor",
    "Network",
    "NotFittedError",
    "Parameters",
    "PolynomialKernel",
    "RBFKernel",
    "ShallowEnsemble",
    "ShallowNetwork",
    "SlopeFit",
    "StackedParameters",
    "SweepResult",
    "TangentKernel",
    "TrainingResult",
    "TrainingState",
    "__version__",
    "build_info",
    "check_assumptions",
    "check_convergence",
    "compare_parametrizations",
    "example_11_5_datasets",
    "fit_slope",
    "get_memory_limit",
    "get_num_threads",
    "lazy_training_sweep",
    "limit_kernel",
    "limit_kernel_pair",
    "linearize",
    "load",
    "min_norm_solution",
    "parameter_movement",
    "polynomial_features",
    "quadratic_features",
    "rbf_features",
    "separating_features",
    "set_memory_limit",
    "set_num_threads",
    "sweep",
    "sweeps_on",
]

# The flat modules of widenet 0.1, now inside the layers: still reachable as attributes of
# the package, with a DeprecationWarning naming the new home.
_MOVED_MODULES = {
    "convergence": "widenet.dynamics.convergence",
    "estimators": "widenet.regression.estimators",
    "feature_maps": "widenet.kernels.feature_maps",
    "lazy_training": "widenet.dynamics.lazy_training",
    "least_squares": "widenet.regression.least_squares",
    "limit_kernels": "widenet.kernels.limit",
    "models": "widenet.network.linear_models",
    "ntk_regression": "widenet.regression.ntk_regression",
    "persistence": "widenet.io",
}


# Public names made or imported on first use, so that importing widenet does not import
# scikit-learn: the estimators (on its bases when it is installed, widenet.regression._classes)
# and the Gaussian-process kernel (whose module imports it).
_LAZY_NAMES = {
    "GPKernel": "widenet.gaussian_process",
    "KernelLeastSquares": "widenet.regression",
    "MinNormLeastSquares": "widenet.regression",
    "NTKRegressor": "widenet.regression",
    "NotFittedError": "widenet.regression",
}
if TYPE_CHECKING:
    from widenet.regression import KernelLeastSquares, MinNormLeastSquares, NotFittedError, NTKRegressor


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    new = _MOVED_MODULES.get(name)
    if new is None:
        raise AttributeError(f"module 'widenet' has no attribute {name!r}")
    warnings.warn(f"widenet.{name} has moved to {new}", DeprecationWarning, stacklevel=2)
    return importlib.import_module(new)


def __dir__() -> list[str]:
    return sorted(__all__)
