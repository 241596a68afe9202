"""Warnings for solves that lose accuracy to an ill-conditioned matrix.

The solvers return minimum-norm answers: singular values (or eigenvalues) below the rank
tolerance count as zero. What remains can still be ill-conditioned: with condition number
``kappa`` on the directions kept, the solution carries a relative error of up to about
``kappa * eps``. Past ``CONDITION_LIMIT`` (an error bound of about 1e-6 in float64) the
solvers say so with a :class:`ConditioningWarning` that gives ``kappa``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from widenet.errors import ConditioningWarning

CONDITION_LIMIT = 1e10


def warn_if_ill_conditioned(kept: NDArray[Any], dropped: int, what: str, advice: str, stacklevel: int = 3) -> float:
    """Warn when the magnitudes ``kept`` span more than ``CONDITION_LIMIT``; return their ratio ``kappa``.

    ``kept`` are singular values or eigenvalues above the rank tolerance. ``stacklevel`` is
    the warning's, counted from here (3: the caller's caller).
    """
    magnitudes = np.abs(kept)
    if magnitudes.size == 0 or magnitudes.min() == 0:
        return np.inf if magnitudes.size else 1.0
    kappa = float(magnitudes.max() / magnitudes.min())
    if kappa > CONDITION_LIMIT:
        zeroed = f"; {dropped} more below the rank tolerance were treated as zero" if dropped else ""
        warnings.warn(ConditioningWarning(
            f"{what} is ill-conditioned: condition number {kappa:.3g} on the {magnitudes.size} directions kept"
            f"{zeroed}. The solution may carry a relative error up to about {kappa * np.finfo(np.float64).eps:.1g}"
            f"{advice}"), stacklevel=stacklevel)
    return kappa
