"""Training dynamics.

The linearized model, the checks of the chapter's convergence assumptions, and lazy
training as the width grows.
"""

from widenet.dynamics.convergence import AssumptionReport, ConvergenceCheck, check_assumptions, check_convergence
from widenet.dynamics.lazy_training import compare_parametrizations, lazy_training_sweep, parameter_movement
from widenet.dynamics.linearization import LinearizedModel, linearize

__all__ = [
    "AssumptionReport",
    "ConvergenceCheck",
    "LinearizedModel",
    "check_assumptions",
    "check_convergence",
    "compare_parametrizations",
    "lazy_training_sweep",
    "linearize",
    "parameter_movement",
]
