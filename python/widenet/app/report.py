"""``widenet reproduce``: runs the experiments and writes the report.

The report directory gets one PNG per figure, ``results.json`` (every measured number,
the settings and the library's version and build) and ``report.md``, which shows each
figure above the chapter's claims with the predicted and the measured value side by side.

A run writes every file of its report to temporary files first and replaces the previous
report's files only when all are complete (removing the previous run's figures it does not
draw again), so an interrupted run, or one that runs out of disk, leaves the previous
report as it was and the directory never mixes two runs.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

import numpy as np

from widenet import _files
from widenet import _validation as check
from widenet._optional import progress_bar

if TYPE_CHECKING:
    from widenet.app.experiments import Claim, Correction, Experiment, ExperimentResult

DEFAULT_DIRECTORY = "widenet-report"
RESULTS, REPORT = "results.json", "report.md"


def _jsonable(value: Any) -> Any:
    """Return ``value`` as JSON can take it.

    numpy arrays and scalars as lists and Python numbers, dataclasses (e.g. a fitted
    :class:`~widenet.SlopeFit`) as dicts; non-finite floats as strings.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no inf/nan
    return value


def _cell(text: object) -> str:
    """Return text for a Markdown table cell: ``|`` (as in ``|w - w0|``) escaped, one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _hypothesis_text(claim: Claim) -> str:
    """Return the claim's hypotheses cell: yes / no / (nothing to check), then the detail."""
    verdict = {True: "yes", False: "**no**", None: "n/a"}[claim.hypothesis_holds]
    return f"{verdict}: {claim.hypothesis}" if claim.hypothesis else verdict


def _claims_table(rows: list[tuple[str, Claim]]) -> list[str]:
    """Return the lines of the Markdown table of the claims ``rows`` (experiment name, or "", and claim)."""
    lines = ["| | reference | claim | hypotheses hold | prediction | criterion (two-sided) | measured |",
             "|---|---|---|---|---|---|---|"]
    for experiment, claim in rows:
        mark = "held" if claim.holds else "**FAILED**"
        where = f"{claim.reference}" + (f" ({experiment})" if experiment else "")
        cells = (mark, where, claim.statement, _hypothesis_text(claim), claim.predicted, claim.criterion,
                 claim.measured)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def _corrections(results: dict[str, ExperimentResult]) -> list[tuple[str, Correction]]:
    """Return the chapter's misprints the experiments show, each once (the first experiment's evidence)."""
    seen, rows = set(), []
    for name, result in results.items():
        for correction in result.corrections:
            if (correction.reference, correction.printed) in seen:
                continue
            seen.add((correction.reference, correction.printed))
            rows.append((name, correction))
    return rows


def _corrections_section(results: dict[str, ExperimentResult]) -> list[str]:
    """Return the lines of the report's section on the chapter's misprints (none when there are none)."""
    rows = _corrections(results)
    if not rows:
        return []
    lines = ["## Corrections to the chapter", "",
             "Where the chapter's printed text is wrong, widenet computes the corrected form; the evidence is "
             "from this run.", "",
             "| reference | printed | corrected | evidence (this run) |", "|---|---|---|---|"]
    for name, correction in rows:
        cells = (f"{correction.reference} ({name})", correction.printed, correction.corrected, correction.evidence)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines + [""]


def _markdown(record: dict[str, Any], results: dict[str, ExperimentResult], experiments: dict[str, Experiment]) -> str:
    """Return ``report.md``: the summary table of the claims, the corrections, then each experiment's section."""
    held = sum(claim.holds for result in results.values() for claim in result.claims)
    total = sum(len(result.claims) for result in results.values())
    outside = sum(claim.hypothesis_holds is False for result in results.values() for claim in result.claims)
    lines = [
        "# widenet: the chapter's claims, measured",
        "",
        f"Command: `{record['command']}`  ",
        f"widenet {record['widenet_version']}, {record['settings']['mode']} mode, seed {record['settings']['seed']}, "
        f"{record['settings']['threads']} threads, {record['elapsed_seconds']:.1f} s in all.  ",
        f"**{held} of {total} claims held** ({outside} of them measured where a hypothesis of the chapter's "
        "statement does not hold, as the table says). Every number is in `results.json`.",
        "",
        "Each claim is a two-sided test of a prediction, with a tolerance from the computation's own error; "
        "the test suite shows that each fails when the quantity it checks is off by a small, realistic error.",
        "",
        "## Summary",
        "",
        *_claims_table([(name, claim) for name, result in results.items() for claim in result.claims]),
        "",
        *_corrections_section(results),
    ]
    for name, result in results.items():
        experiment = experiments[name]
        entry = record["experiments"][name]
        lines += [f"## {experiment.title}", "", f"{experiment.reference} · `{name}` · {entry['seconds']:.1f} s", ""]
        if experiment.beyond_chapter:
            lines += [f"*Beyond the chapter:* {experiment.beyond_chapter}.", ""]
        lines += [f"![{experiment.title}]({figure})" for figure in entry["figures"]]
        lines += ["", *_claims_table([("", claim) for claim in result.claims]), ""]
        if result.settings:
            settings = ", ".join(f"{key}={value}" for key, value in _jsonable(result.settings).items())
            lines += [f"Settings: {settings}", ""]
    return "\n".join(lines)


def reproduce(out: Union[str, os.PathLike[str]] = DEFAULT_DIRECTORY, quick: bool = False,
              only: Optional[Sequence[str]] = None, seed: int = 0, threads: Optional[int] = None, figures: bool = True,
              progress: bool = True, command: str = "widenet reproduce") -> dict[str, Any]:
    """Run the experiments (all, or ``only`` those named) and writes the report into ``out``.

    Parameters
    ----------
    out : str or path
        The report directory (created if missing; see :func:`report_directory`).
    quick : bool
        Smaller settings: the whole run in under a minute on two cores.
    only : sequence of str, optional
        Names from :data:`widenet.app.experiments.EXPERIMENTS`, in any order.
    seed : int
    threads : int, optional
        widenet's (and its BLAS's) thread count for the run; unchanged when None.
    figures : bool
        Draw the PNG figures (needs matplotlib).
    progress : bool
        Progress bars (when tqdm is installed).

    Returns
    -------
    dict
        The content of ``results.json``.

    Raises
    ------
    OSError
        When a file cannot be written (e.g. the disk is full): the previous report is left
        as it was. A KeyboardInterrupt leaves it as it was too, unless it came during the
        final renames (then it is delivered after them, with ``report_written = True``).
    """
    from widenet._runtime import __version__, build_info, get_num_threads, set_num_threads
    from widenet.app.experiments import EXPERIMENTS, Progress

    names = list(EXPERIMENTS) if not only else [check.choice(name, "only", tuple(EXPERIMENTS)) for name in only]
    names = [name for name in EXPERIMENTS if name in names]  # the report's order, no repeats
    seed = check.seed(seed)
    if figures:
        from widenet.app.experiments._plotting import pyplot

        pyplot()  # fails now, with the install hint, rather than after the computations
    directory = report_directory(out)
    _files.remove_stale_temporaries(directory)  # of killed runs, whichever files they were writing
    previous_threads = get_num_threads()
    if threads is not None:
        set_num_threads(check.integer(threads, "threads", 1))
    info = build_info()
    record: dict[str, Any] = {
        "command": command,
        "widenet_version": __version__,
        "build": {key: info.get(key) for key in ("eigen", "compiler", "elementwise_simd", "blas", "blas_core")},
        "python": platform.python_version(),
        "numpy": np.__version__,
        "settings": {"mode": "quick" if quick else "full", "seed": seed, "threads": get_num_threads(),
                     "only": names},
        "experiments": {},
    }
    results: dict[str, ExperimentResult] = {}
    started = time.perf_counter()
    with _files.FileSet() as files:
        figure_directory = _files.StagedDirectory(directory, files)
        try:
            for name in _bar(names, progress):
                experiment = EXPERIMENTS[name]
                begin = time.perf_counter()
                result = experiment.run(quick=quick, seed=seed, progress=Progress(progress))
                seconds = time.perf_counter() - begin
                drawn = list(experiment.plot(result, figure_directory)) if figures else []
                results[name] = result
                record["experiments"][name] = _jsonable({
                    "title": experiment.title, "reference": experiment.reference,
                    "beyond_chapter": experiment.beyond_chapter, "seconds": seconds,
                    "settings": result.settings, "numbers": result.numbers, "data": result.data,
                    "claims": [asdict(claim) for claim in result.claims], "holds": result.holds, "figures": drawn,
                    "corrections": [asdict(correction) for correction in result.corrections]})
        finally:
            set_num_threads(previous_threads)
        record["elapsed_seconds"] = time.perf_counter() - started
        record["claims_held"] = sum(claim.holds for result in results.values() for claim in result.claims)
        record["claims_total"] = sum(len(result.claims) for result in results.values())
        files.write_text(directory / RESULTS, json.dumps(record, indent=1, allow_nan=False) + "\n")
        files.write_text(directory / REPORT, _markdown(record, results, EXPERIMENTS) + "\n")
        for figure in _previous_figures(directory):
            files.remove_on_commit(directory / figure)
        try:
            files.commit()
        except KeyboardInterrupt as interrupt:  # held off during the renames, delivered after them
            interrupt.report_written = files.committed  # type: ignore[attr-defined]  # read by the command
            raise
    return record


def report_directory(out: Union[str, os.PathLike[str]]) -> Path:
    """Return ``out`` as the report directory: created if missing and checked writable.

    Writability is checked with a file created and removed in it. TypeError or ValueError
    naming ``out`` otherwise.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a directory name (str or os.PathLike), got {type(out).__name__}")
    name = os.fsdecode(os.fspath(out))
    if not name:
        raise ValueError("out: expected a directory name, got an empty string")
    path = Path(name)
    try:
        if path.exists() and not path.is_dir():
            raise ValueError(f"out: {name!r} exists and is not a directory")
        blocking = next((parent for parent in path.absolute().parents if parent.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise ValueError(f"out: {name!r} is inside {str(blocking)!r}, which is not a directory")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"out: cannot create the directory {name!r} ({error.strerror or error})") from None
    try:
        _files.check_writable_directory(path)
    except OSError as error:
        raise ValueError(f"out: cannot create files in {name!r} ({error.strerror or error})") from None
    return path


def _previous_figures(directory: Path) -> list[str]:
    """Return the figures the report now in ``directory`` lists (plain PNG names only).

    They are replaced or removed with it, so the directory never holds figures of two runs.
    """
    try:
        previous = _files.parse_json(_files.read_text(directory / RESULTS, 2**26))
        listed = [figure for entry in previous["experiments"].values() for figure in entry["figures"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # no report there, or not one we wrote
        return []
    return [figure for figure in listed if isinstance(figure, str) and figure.endswith(".png")
            and not figure.startswith(".") and os.path.basename(figure) == figure]


def _bar(names: list[str], enabled: bool) -> Iterable[str]:
    """Return the experiments with a progress bar (tqdm, when installed and enabled)."""
    return progress_bar(names, enabled, desc="experiments", position=0)
