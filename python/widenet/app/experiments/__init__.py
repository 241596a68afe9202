"""The experiments of ``widenet reproduce``: the chapter's figures and claims, measured.

Each experiment is a function of the library too: ``EXPERIMENTS[name].run(quick=True)``
returns its numbers and claims (:class:`ExperimentResult`); ``.plot(result, directory)``
draws its figures (needs matplotlib, the extra ``plot``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Optional

from widenet.app.experiments._base import (
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    checked_perturbation,
)

# In the report's order: the chapter's sections, from the wide networks' headline figure on.
_MODULES = (
    "figure_11_3",
    "linearization_1d",
    "kernel_convergence",
    "kernel_closed_forms",
    "training",
    "lazy_training",
    "parameter_movement",
    "example_11_5",
    "least_squares",
    # Beyond the chapter: deep networks.
    "deep_kernel_convergence",
    "deep_parameter_movement",
)

EXPERIMENTS: dict[str, Experiment] = {}
for _module in _MODULES:
    _experiment = import_module(f".{_module}", __name__).EXPERIMENT
    EXPERIMENTS[_experiment.name] = _experiment


def run_experiment(name: str, quick: bool = False, seed: int = 0, progress: bool = False,
                   perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Run the experiment ``name`` (see :data:`EXPERIMENTS`) and returns its result.

    ``perturbation`` (a negative control, see :attr:`Experiment.controls`) injects a small
    error into one checked quantity; the claims that check it must then fail.
    """
    from widenet import _validation as check

    name = check.choice(name, "name", tuple(EXPERIMENTS))
    experiment = EXPERIMENTS[name]
    return experiment.run(quick=quick, seed=check.seed(seed), progress=Progress(progress),
                          perturbation=checked_perturbation(perturbation, experiment))


__all__ = ["Claim", "Control", "Correction", "EXPERIMENTS", "Experiment", "ExperimentResult", "Perturbation",
           "Progress", "run_experiment"]
