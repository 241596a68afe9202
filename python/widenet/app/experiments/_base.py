"""What an experiment of ``widenet reproduce`` is and what it returns.

An :class:`Experiment` measures one claim of the chapter (a figure, a theorem, an
example). ``run`` computes every number (no plotting, no files) and returns an
:class:`ExperimentResult`; ``plot`` draws its figures from that result alone, so the
numbers can be had without matplotlib and the figures redrawn without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Optional, TypeVar

from widenet._optional import progress_bar

_Item = TypeVar("_Item")

# The parametrizations the experiments compare: LeCun (11.5.1) and NTK (11.6.1).
Parametrization = Literal["lecun", "ntk"]


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
        What the theory predicts, e.g. ``"slope -0.5"``; where the chapter gives only a
        bound, the sharp prediction too.
    measured : str
        What was measured, with its uncertainty where there is one.
    holds : bool
        Whether the measurement passes ``criterion``.
    key : str
        A short stable name (``"kernel-lecun"``) by which tests and negative controls refer
        to the claim.
    hypothesis : str
        The hypotheses the chapter's statement needs, each with whether it is satisfied in
        this setting and the measured constant (or why it is not checked); says plainly what
        is being shown instead when a hypothesis does not hold.
    hypothesis_holds : bool or None
        Whether every hypothesis holds here; None where the claim has none to check (an
        example, a figure).
    criterion : str
        The two-sided test applied to the measurement and where its tolerance comes from
        (sampling error, rounding, quadrature), e.g. ``"|z| <= 3.29 (level 1e-3)"``.
    """

    reference: str
    statement: str
    predicted: str
    measured: str
    holds: bool
    key: str = ""
    hypothesis: str = ""
    hypothesis_holds: Optional[bool] = None
    criterion: str = ""


@dataclass(frozen=True)
class Correction:
    """A place where the chapter's printed text is wrong, with the evidence of this run.

    Attributes
    ----------
    reference : str
        Where, e.g. ``"Theorem 11.23"``.
    printed : str
        What the chapter prints.
    corrected : str
        What holds (and what widenet computes).
    evidence : str
        Numbers measured in this run that tell the two apart.
    """

    reference: str
    printed: str
    corrected: str
    evidence: str


@dataclass(frozen=True)
class Perturbation:
    """A small, realistic error injected into one quantity an experiment checks.

    The quantity named ``quantity`` is multiplied by ``factor`` where the experiment
    computes it (for example the limit kernel off by 1%, the step or the gradient off by a
    factor 2, the NNGP variance scaled by 0.9). A negative control: the claims that test
    that quantity must then fail.
    """

    quantity: str
    factor: float


@dataclass(frozen=True)
class Control:
    """A negative control an experiment supports.

    ``perturbation`` must make every claim named in ``breaks`` fail (tests run each one).
    """

    perturbation: Perturbation
    breaks: tuple[str, ...]
    description: str


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
    corrections : list of Correction
        The chapter's misprints this experiment shows, with its numbers.
    """

    name: str
    settings: dict[str, Any]
    numbers: dict[str, Any]
    claims: list[Claim]
    data: dict[str, Any] = field(default_factory=dict)
    corrections: list[Correction] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Whether every claim held."""
        return all(claim.holds for claim in self.claims)

    def claim(self, key: str) -> Claim:
        """Return the claim named ``key``."""
        for claim in self.claims:
            if claim.key == key:
                return claim
        raise KeyError(f"key: no claim {key!r} in {self.name} (there are {[c.key for c in self.claims]})")


class Progress:
    """Progress bars for the steps inside an experiment.

    tqdm when it is installed and ``enabled``, otherwise silent.
    """

    def __init__(self, enabled: bool = True, position: int = 1) -> None:
        self.enabled = enabled
        self.position = position

    def steps(self, iterable: Iterable[_Item], total: Optional[int] = None, description: str = "") -> Iterable[_Item]:
        """Return ``iterable`` with a progress bar of ``total`` steps named ``description`` (when enabled)."""
        return progress_bar(iterable, self.enabled, total=total, desc=description, position=self.position,
                            leave=False)


SILENT = Progress(False)  # the experiments' default: no progress bars


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its ``run`` and its ``plot``.

    ``run(quick, seed, progress, perturbation) -> ExperimentResult`` and
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
    controls : dict of str to Control
        The negative controls ``run`` accepts as ``perturbation``.
    beyond_chapter : str
        Empty for the chapter's own claims; otherwise how the experiment goes beyond the
        chapter (which treats one hidden layer), in one sentence the report shows.
    """

    name: str
    title: str
    reference: str
    run: Callable[..., ExperimentResult]
    plot: Callable[[ExperimentResult, Any], list[str]]
    controls: dict[str, Control] = field(default_factory=dict)
    beyond_chapter: str = ""


def factor_of(perturbation: Optional[Perturbation], quantity: str) -> float:
    """Return the factor ``perturbation`` puts on ``quantity``.

    It is 1 when it perturbs something else or nothing: experiments multiply each checked
    quantity by it where they compute it.
    """
    if perturbation is None or perturbation.quantity != quantity:
        return 1.0
    return perturbation.factor


def checked_perturbation(perturbation: object, experiment: Experiment) -> Optional[Perturbation]:
    """Return ``perturbation`` when ``experiment`` has a control on its quantity.

    TypeError or ValueError naming ``perturbation`` otherwise.
    """
    if perturbation is None:
        return None
    if not isinstance(perturbation, Perturbation):
        raise TypeError(f"perturbation: expected a widenet.app.experiments.Perturbation, got "
                        f"{type(perturbation).__name__}")
    quantities = sorted({control.perturbation.quantity for control in experiment.controls.values()})
    if perturbation.quantity not in quantities:
        raise ValueError(f"perturbation: {experiment.name} checks no quantity {perturbation.quantity!r} (it has "
                         f"{', '.join(quantities) or 'no controls'})")
    return perturbation
