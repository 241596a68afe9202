"""The ``widenet`` command (also ``python -m widenet``).

Exit codes: 0 on success, 1 when the run could not be done (e.g. matplotlib missing for
the figures), 2 on bad arguments (with a one-line message).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Optional, Sequence


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    word = "positive" if minimum == 1 else "non-negative"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {word} integer, got {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    from .experiments import EXPERIMENTS
    from .report import DEFAULT_DIRECTORY

    parser = _Parser(prog="widenet", description="The mathematics of wide neural networks: the chapter's figures "
                                                 "and claims, measured.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    reproduce = commands.add_parser(
        "reproduce", help="run the experiments and write the report (figures, results.json, report.md)",
        description="Runs every experiment (or those given with --only) and writes one PNG per figure, "
                    "results.json with every measured number and report.md with each figure beside the "
                    "chapter's claim and the measured value next to the predicted one.")
    reproduce.add_argument("--out", default=DEFAULT_DIRECTORY, metavar="DIR",
                           help=f"report directory (default: {DEFAULT_DIRECTORY})")
    reproduce.add_argument("--quick", action="store_true",
                           help="smaller settings: under a minute on two cores (the full run takes a few minutes)")
    reproduce.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), metavar="NAME",
                           help="run only these experiments (see 'widenet experiments')")
    reproduce.add_argument("--seed", type=_integer_at_least(0), default=0, metavar="S",
                           help="seed of every random draw (default: 0)")
    reproduce.add_argument("--threads", type=_integer_at_least(1), default=None, metavar="T",
                           help="threads for widenet and its BLAS (default: all cores)")
    reproduce.add_argument("--no-figures", action="store_true", help="skip the figures (no matplotlib needed)")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bars")
    reproduce.add_argument("--scheduler", metavar="ADDRESS",
                           help="run the experiments' width sweeps on this Dask scheduler, e.g. tcp://host:8786 "
                                "(needs the extra 'distributed')")
    commands.add_parser("experiments", help="list the experiments",
                        description="Lists the experiments of 'widenet reproduce': name, chapter reference, title.")
    return parser


def _list_experiments() -> int:
    from .experiments import EXPERIMENTS

    width = max(len(name) for name in EXPERIMENTS)
    for name, experiment in EXPERIMENTS.items():
        print(f"{name:<{width}}  {experiment.reference}: {experiment.title}")
    return 0


def _reproduce(arguments, argv) -> int:
    from .experiments._plotting import INSTALL_HINT
    from .report import reproduce

    if not arguments.no_figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(f"widenet: {INSTALL_HINT}; or run with --no-figures", file=sys.stderr)
            return 1
    command = "widenet " + " ".join(argv)
    with contextlib.ExitStack() as cluster:
        if arguments.scheduler is not None:
            try:
                from .distributed import sweeps_on

                cluster.enter_context(sweeps_on(arguments.scheduler))
            except ImportError as error:
                print(f"widenet: {error}", file=sys.stderr)
                return 1
            except (OSError, TimeoutError, ValueError) as error:
                print(f"widenet: could not connect to the scheduler {arguments.scheduler!r}: {error}", file=sys.stderr)
                return 1
        record = reproduce(arguments.out, quick=arguments.quick, only=arguments.only, seed=arguments.seed,
                           threads=arguments.threads, figures=not arguments.no_figures,
                           progress=not arguments.no_progress, command=command)
    print(f"{record['claims_held']} of {record['claims_total']} claims held; report in {arguments.out}/report.md "
          f"({record['elapsed_seconds']:.0f} s)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    arguments = _parser().parse_args(argv)
    if arguments.command == "experiments":
        return _list_experiments()
    return _reproduce(arguments, argv)
