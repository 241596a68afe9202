"""The two implementations of the network kernels, called alike.

``cpp`` is the compiled module (the Eigen kernels), ``numpy`` the reference twins that
mirror the formulas. Both take the network as one object (:meth:`Parameters.network
<widenet.network.parameters.Parameters.network>`) and a run's options as one object
(:func:`training_options`), with the same signatures, so nothing is reordered between them.
"""

from __future__ import annotations

from types import ModuleType

from widenet import reference
from widenet._native import _core
from widenet._types import Backend
from widenet.reference import deep as _reference_deep  # noqa: F401  (loads reference.deep)

# A run stops when its loss exceeds this many times its reference (the initial loss, or the
# zero predictor's if larger), or is not finite: the same rule in both backends, and the
# compiled core's factor, which the numpy twin is given at every call.
DIVERGENCE_FACTOR = _core.DIVERGENCE_FACTOR

BACKENDS: dict[Backend, ModuleType] = {"cpp": _core, "numpy": reference}

# The deep network's kernels: the compiled ones take a ``_core.DeepNetwork``, the twins any
# object with its attributes (``reference.deep.DeepNetwork``).
DEEP_BACKENDS: dict[Backend, ModuleType] = {"cpp": _core, "numpy": reference.deep}


def training_options(lr: float, steps: int, record_every: int, loss_scale: float) -> _core.TrainingOptions:
    """Return the options of a gradient-descent run (checked), with the library's divergence factor."""
    return _core.TrainingOptions(lr, steps, record_every, loss_scale, DIVERGENCE_FACTOR)
