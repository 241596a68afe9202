"""The cells of a sweep: its grid of widths and seeds, and the one check of what a cell returns."""

from __future__ import annotations

import numbers
from typing import Dict, Tuple

import numpy as np

from widenet import _validation as check

RESERVED = ("width", "seed")  # the grid's own names, never a measured quantity

Record = Dict[str, float]
"""A cell's record: ``width``, ``seed`` and the measured values."""


def checked_grid(values: object, name: str, minimum: int) -> Tuple[int, ...]:
    """Check the widths or seeds of a sweep: distinct integers of at least ``minimum``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a sequence of integers, got {values!r}")
    grid = tuple(check.integer(value, name, minimum) for value in values)
    if not grid:
        raise ValueError(f"{name}: expected at least one value, got none")
    if len(set(grid)) != len(grid):
        raise ValueError(f"{name}: expected distinct values (each cell is one independent draw), got {list(grid)}")
    return grid


def checked_record(values: object, width: int, seed: int) -> Record:
    """Check what a cell returned: a dict of real numbers named by identifiers; return it with its cell."""
    where = f"function(width={width}, seed={seed})"
    if not isinstance(values, dict):
        raise TypeError(f"function: expected a dict of numbers from {where}, got {type(values).__name__}")
    record: Record = {"width": width, "seed": seed}
    for name, value in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"function: {where} returned the key {name!r}; expected names that are identifiers")
        if name in RESERVED:
            raise ValueError(f"function: {where} returned the key {name!r}, which is reserved for the grid")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"function: {where} returned {name}={value!r}; expected a real number")
        record[name] = float(value)
    return record
