"""What an experiment of ``widenet reproduce`` is and what it returns.

An :class:`Experiment` measures one claim of the chapter (a figure, a theorem, an
example). ``run`` computes every number (no plotting, no files) and returns an
:class:`ExperimentResult`; ``plot`` draws its figures from that result alone, so the
numbers can be had without matplotlib and the figures redrawn without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional


@dataclass(frozen=True)
class Claim:
    """One statement of the chapter next to its measurement.

    Attributes
    ----------
    reference : str
        Where the chapter makes it, e.g. ``"Theorem 11.16"``.
    statement : str
        The claim in our words.
    predicted : str
        What the theory predicts, e.g. ``"slope -0.5"`` or ``"loss <= (1 - h lambda_min)^(2k) f(w0)"``.
    measured : str
        What was measured, with its uncertainty where there is one.
    holds : bool
        Whether the measurement agrees with the prediction (within the stated tolerance).
    """

    reference: str
    statement: str
    predicted: str
    measured: str
    holds: bool


@dataclass(frozen=True)
class ExperimentResult:
    """Everything one experiment measured.

    Attributes
    ----------
    name : str
        The experiment's name (as ``widenet reproduce --only`` takes it).
    settings : dict
        The parameters it ran with (widths, seeds, steps, ...), JSON-serialisable.
    numbers : dict
        Every measured number (floats, ints, lists, nested dicts; numpy arrays are
        written to ``results.json`` as lists).
    claims : list of Claim
    data : dict
        Arrays the figures are drawn from (also written to ``results.json``).
    """

    name: str
    settings: dict
    numbers: dict
    claims: list
    data: dict = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        """Whether every claim held."""
        return all(claim.holds for claim in self.claims)


class Progress:
    """Progress bars for the steps inside an experiment: tqdm when it is installed and
    ``enabled``, otherwise silent."""

    def __init__(self, enabled: bool = True, position: int = 1):
        self.enabled = enabled
        self.position = position

    def steps(self, iterable: Iterable, total: Optional[int] = None, description: str = "") -> Iterable:
        if not self.enabled:
            return iterable
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return iterable
        return tqdm(iterable, total=total, desc=description, position=self.position, leave=False)


@dataclass(frozen=True)
class Experiment:
    """A named experiment: ``run(quick, seed, progress) -> ExperimentResult`` and
    ``plot(result, directory) -> list of file names`` (PNG, written into ``directory``).

    Attributes
    ----------
    name : str
        Short name used on the command line, e.g. ``"figure-11-3"``.
    title : str
        One line for listings and the report's headings.
    reference : str
        The chapter's figure, theorem or example it reproduces.
    run, plot : callable
    """

    name: str
    title: str
    reference: str
    run: Callable[..., ExperimentResult]
    plot: Callable[[ExperimentResult, Any], list]
