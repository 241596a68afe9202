"""What the shallow and the deep ensembles share: the members' generators, their indices, and a run's divergence."""

from __future__ import annotations

from typing import Callable

import numpy as np

from widenet import _memory
from widenet import _validation as check
from widenet._types import Seed
from widenet.errors import MatrixProduct, divergence_error
from widenet.network._training_call import TrainingCall
from widenet.network.results import TrainingResult


def member_generators(seed: Seed, size: int) -> list[np.random.Generator]:
    """Return independent generators for the members, reproducible from one seed."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(size)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(
        None if seed is None else check.seed(seed))
    return [np.random.default_rng(child) for child in root.spawn(size)]


def member_index(r: object, size: int) -> int:
    """Return ``r`` checked as the index of a member of an ensemble of ``size`` (ValueError naming ``r``)."""
    index = check.integer(r, "r", 0)
    if index >= size:
        raise ValueError(f"r: expected an index below {size}, got {index}")
    return index


def check_stacked(where: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Guard the stacked result ``shape`` (members first) of a per-member method: it must fit in memory too."""
    _memory.require(where, [("stacked results", shape, dtype, 1)],
                    "Call the method on one member at a time (ensemble.member(r)).")


def raise_if_diverged(result: TrainingResult, call: TrainingCall, product_of: Callable[[int], MatrixProduct]) -> None:
    """Raise :class:`widenet.DivergenceError` naming the diverged members when the run asked for it.

    ``product_of(r)`` is the tangent Gram product of member ``r`` where its run started.
    """
    if result.diverged_at is not None and call.on_divergence == "raise":
        diverged = tuple(int(r) for r in np.flatnonzero(np.asarray(result.diverged_at) >= 0))
        raise divergence_error(result, product_of, call.targets.size, call.loss_scale, diverged)
