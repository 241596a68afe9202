"""Sphinx extension: one gallery page per experiment of ``widenet reproduce``, from a quick run at build time.

At ``builder-inited`` each experiment runs in quick mode, as ``widenet reproduce --quick`` runs
it, and gets a Markdown page in ``docs/experiments/`` (not committed) with its figures, its
claims (prediction, criterion, measurement) and the commands that run it.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

import widenet
from widenet.app.experiments import Claim, Experiment, ExperimentResult, Progress

LOGGER = logging.getLogger(__name__)
DIRECTORY = "experiments"


def _claim(claim: Claim) -> list[str]:
    """Return the Markdown lines of one claim: verdict, reference and statement, then its test."""
    hypotheses = {True: "yes", False: "**no**", None: "nothing to check"}[claim.hypothesis_holds]
    if claim.hypothesis:
        hypotheses += f": {claim.hypothesis}"
    verdict = "held" if claim.holds else "**failed**"
    return [f"### {claim.reference}", "", f"{verdict}: {claim.statement}", "",
            f"- hypotheses hold: {hypotheses}", f"- prediction: {claim.predicted}",
            f"- criterion (two-sided): {claim.criterion}", f"- measured: {claim.measured}", ""]


def _page(experiment: Experiment, result: ExperimentResult, figures: list[str], seconds: float, date: str) -> str:
    """Return the Markdown page of one experiment's run."""
    name = experiment.name
    held = sum(claim.holds for claim in result.claims)
    lines = [f"# {experiment.title}", "",
             f"{experiment.reference} · `{name}` · {held} of {len(result.claims)} claims held in the quick run "
             f"of {date} ({seconds:.1f} s).", ""]
    if experiment.beyond_chapter:
        lines += [f"*Beyond the chapter:* {experiment.beyond_chapter}.", ""]
    for figure in figures:
        lines += [f"![{experiment.title}]({figure})", ""]
    lines += ["## Claims", ""]
    for claim in result.claims:
        lines += _claim(claim)
    if result.settings:
        settings = ", ".join(f"`{key}={value}`" for key, value in result.settings.items())
        lines += ["## Settings of this run", "", settings + ".", ""]
    lines += ["## Run it", "",
              "The figure and the claims above, at the sizes of this page, then at full size:", "",
              "```bash", f"widenet reproduce --quick --only {name}", f"widenet reproduce --only {name}", "```", "",
              "The same from Python, without the figures:", "",
              "```python", "from widenet.app.experiments import run_experiment", "",
              f'result = run_experiment("{name}", quick=True)',
              "for claim in result.claims:", "    print(claim.holds, claim.reference, claim.measured)", "```", ""]
    return "\n".join(lines)


def _index(rows: list[tuple[Experiment, ExperimentResult]], date: str) -> str:
    """Return the gallery's index of the experiments."""
    held = sum(claim.holds for _, result in rows for claim in result.claims)
    total = sum(len(result.claims) for _, result in rows)
    lines = ["# The experiments of `widenet reproduce`", "",
             f"Each page is one experiment, as `widenet reproduce --quick` measured it when this site was built "
             f"({date}, widenet {widenet.__version__}, seed 0): {held} of {total} claims held. "
             "`widenet experiments` lists them; the full-size run (`widenet reproduce`) takes larger widths and "
             "more seeds.", "",
             "| experiment | reference | claims held |", "|---|---|---|"]
    for experiment, result in rows:
        title, reference = (text.replace("|", "\\|") for text in (experiment.title, experiment.reference))
        lines.append(f"| [{title}]({experiment.name}.md) | {reference} | "
                     f"{sum(claim.holds for claim in result.claims)} of {len(result.claims)} |")
    lines += ["", "```{toctree}", ":hidden:", "", *(experiment.name for experiment, _ in rows), "```", ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already (Sphinx then keeps the page)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app: Sphinx) -> None:
    """Run the experiments in quick mode and write their pages and figures into ``docs/experiments/``."""
    from widenet.app.experiments import EXPERIMENTS

    target = Path(app.srcdir) / DIRECTORY
    target.mkdir(exist_ok=True)
    date = datetime.date.today().isoformat()
    rows = []
    for name, experiment in EXPERIMENTS.items():
        LOGGER.info("gallery: running the experiment %s in quick mode", name)
        begin = time.perf_counter()
        result = experiment.run(quick=True, seed=0, progress=Progress(False))
        seconds = time.perf_counter() - begin
        figures = list(experiment.plot(result, target))
        _write_if_changed(target / f"{name}.md", _page(experiment, result, figures, seconds, date))
        rows.append((experiment, result))
    _write_if_changed(target / "index.md", _index(rows, date))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the generation of the experiments' pages."""
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
