"""What a sweep returns: its records by cell, their power laws in the width, and the cells that failed."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from widenet.sweeps.cells import Record
from widenet.sweeps.statistics import SlopeFit, fit_slope

__all__ = ["CellFailure", "SweepResult"]


@dataclass(frozen=True)
class CellFailure:
    """A cell of a sweep that raised (kept by ``sweep(..., on_error="return")``).

    Parameters
    ----------
    width, seed, error_type, message, traceback
        The attributes below, by the same names: :func:`widenet.sweep` fills them in.

    Attributes
    ----------
    width, seed : int
        The cell.
    error_type : str
        The exception's qualified type name, e.g. ``"widenet.errors.DivergenceError"``.
    message : str
        ``str(exception)``.
    traceback : str
        The formatted traceback, from the process that ran the cell (empty if unknown).

    Examples
    --------
    >>> import widenet
    >>> result = widenet.sweep(lambda width, seed: {"value": 1 / (width - 16)}, [4, 16], [0], progress=False,
    ...                        on_error="return")
    >>> [(failure.width, failure.error_type) for failure in result.failures]
    [(16, 'ZeroDivisionError')]
    """

    width: int
    seed: int
    error_type: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, width: int, seed: int, error: BaseException, trace: Optional[str] = None) -> CellFailure:
        """Describe the cell ``(width, seed)`` that raised ``error`` (its traceback formatted unless given)."""
        kind = type(error)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        if trace is None:
            trace = "".join(traceback.format_exception(kind, error, error.__traceback__))
        return cls(width, seed, name, str(error), trace)

    def __str__(self) -> str:
        return f"width={self.width}, seed={self.seed}: {self.error_type}: {self.message}"


class SweepResult:
    """The measurements of a :func:`widenet.sweep`.

    Parameters
    ----------
    records, quantities, widths, seeds, failures, cached
        The attributes below, by the same names: :func:`widenet.sweep` fills them in.

    Attributes
    ----------
    records : list of dict
        One dict per finished (width, seed) cell: ``width``, ``seed`` and the measured
        values (as floats). Ordered by width, then by seed, each in the order given to
        :func:`widenet.sweep`, whatever the order (or the process) in which the cells finished.
    quantities : tuple of str
        The measured names, in the order the function returned them.
    widths, seeds : tuple of int
        The grid.
    failures : tuple of CellFailure
        The cells that raised, in grid order (only with ``on_error="return"``; their cells
        have no record). Empty when every cell finished.
    cached : int
        How many records were loaded from ``cache_dir`` instead of computed.

    Examples
    --------
    >>> import widenet
    >>> result = widenet.sweep(lambda width, seed: {"value": width ** -0.5}, [16, 64, 256], [0, 1], progress=False)
    >>> len(result.records), round(result.slope("value").slope, 6)
    (6, -0.5)
    """

    def __init__(self, records: List[Record], quantities: Tuple[str, ...], widths: Tuple[int, ...],
                 seeds: Tuple[int, ...], failures: Iterable[CellFailure] = (), cached: int = 0) -> None:
        self.records = records
        self.quantities = quantities
        self.widths = widths
        self.seeds = seeds
        self.failures = tuple(failures)
        self.cached = cached

    @property
    def complete(self) -> bool:
        """Whether every cell of the grid has a record (no failures)."""
        return not self.failures

    def table(self) -> npt.NDArray[np.void]:
        """Return the records as a numpy structured array.

        Its fields are ``width`` and ``seed`` (int64), then one float64 field per quantity.
        """
        dtype = [("width", np.int64), ("seed", np.int64)] + [(name, np.float64) for name in self.quantities]
        return np.array([tuple(record[name] for name, _ in dtype) for record in self.records], dtype=dtype)

    def values(self, quantity: str) -> npt.NDArray[np.float64]:
        """Return one quantity over all cells, in the order of :attr:`records`."""
        return np.array([record[self._quantity(quantity)] for record in self.records], dtype=np.float64)

    def _quantity(self, quantity: object) -> str:
        if not isinstance(quantity, str):
            raise TypeError(f"quantity: expected a name (str), got {quantity!r}")
        if quantity not in self.quantities:
            raise ValueError(f"quantity: expected one of {', '.join(self.quantities)}, got {quantity!r}")
        return quantity

    def slope(self, quantity: str, confidence: float = 0.95) -> SlopeFit:
        """Fit the exponent of ``quantity ~ C width^slope``.

        By least squares of ``log(value)`` on ``log(width)`` over all cells, each
        (width, seed) cell one independent point.

        Raises ValueError naming the quantity when a value is zero, negative or not finite
        (no log scale), or when there are fewer than 3 cells or only one width.
        """
        quantity = self._quantity(quantity)
        widths = [record["width"] for record in self.records]
        return fit_slope(widths, self.values(quantity), quantity, confidence)

    def slopes(self, quantities: Optional[Sequence[str]] = None, confidence: float = 0.95) -> Dict[str, SlopeFit]:
        """Return ``{quantity: SlopeFit}`` for ``quantities`` (default: all of them)."""
        names = self.quantities if quantities is None else quantities
        if isinstance(names, str):
            names = (names,)
        return {name: self.slope(name, confidence) for name in names}

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        failed = f", {len(self.failures)} failed cells" if self.failures else ""
        return (f"SweepResult({len(self.widths)} widths x {len(self.seeds)} seeds, "
                f"quantities={list(self.quantities)}{failed})")
