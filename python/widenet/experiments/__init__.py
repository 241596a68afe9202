"""The experiments of ``widenet reproduce``: the chapter's figures and claims, measured.

Each experiment is a function of the library too: ``EXPERIMENTS[name].run(quick=True)``
returns its numbers and claims (:class:`ExperimentResult`); ``.plot(result, directory)``
draws its figures (needs matplotlib, the extra ``plot``).
"""

from __future__ import annotations

from importlib import import_module

from ._base import Claim, Experiment, ExperimentResult, Progress

# In the report's order: the chapter's sections, from the wide networks' headline figure on.
_MODULES = (
    "figure_11_3",
    "linearization_1d",
    "kernel_convergence",
    "training",
    "lazy_training",
    "parameter_movement",
    "example_11_5",
    "least_squares",
)

EXPERIMENTS = {}
for _module in _MODULES:
    _experiment = import_module(f".{_module}", __name__).EXPERIMENT
    EXPERIMENTS[_experiment.name] = _experiment


def run_experiment(name: str, quick: bool = False, seed: int = 0, progress: bool = False) -> ExperimentResult:
    """Runs the experiment ``name`` (see :data:`EXPERIMENTS`) and returns its result."""
    from .. import _validation as check

    name = check.choice(name, "name", tuple(EXPERIMENTS))
    return EXPERIMENTS[name].run(quick=quick, seed=check.seed(seed), progress=Progress(progress))


__all__ = ["Claim", "EXPERIMENTS", "Experiment", "ExperimentResult", "Progress", "run_experiment"]
