"""Networks: shallow networks, ensembles of them, and the linear models that share their interface.

A shallow network has its parameters, forward pass, tangent kernel and training.
"""

from widenet.network.ensemble import ShallowEnsemble, StackedParameters
from widenet.network.linear_models import FeatureModel, LinearModel
from widenet.network.parameters import Parameters
from widenet.network.results import LinearizedTrainingResult, TrainingResult
from widenet.network.shallow import ShallowNetwork

__all__ = [
    "FeatureModel",
    "LinearModel",
    "LinearizedTrainingResult",
    "Parameters",
    "ShallowEnsemble",
    "ShallowNetwork",
    "StackedParameters",
    "TrainingResult",
]
