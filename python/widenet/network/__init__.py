"""Networks: fully-connected ones of any depth, shallow ones, ensembles of either, and linear models.

The linear models share the networks' interface.

A network has its parameters, forward pass, tangent kernel and training.
"""

from widenet.network.deep import Network
from widenet.network.deep_ensemble import DeepEnsemble
from widenet.network.deep_parameters import DeepParameters
from widenet.network.ensemble import ShallowEnsemble
from widenet.network.linear_models import FeatureModel, LinearModel
from widenet.network.parameters import Parameters
from widenet.network.results import LinearizedTrainingResult, TrainingResult
from widenet.network.shallow import ShallowNetwork
from widenet.network.stacked_parameters import StackedParameters

__all__ = [
    "DeepEnsemble",
    "DeepParameters",
    "FeatureModel",
    "LinearModel",
    "LinearizedTrainingResult",
    "Network",
    "Parameters",
    "ShallowEnsemble",
    "ShallowNetwork",
    "StackedParameters",
    "TrainingResult",
]
