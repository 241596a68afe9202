"""The ``widenet`` command (also ``python -m widenet``).

Exit codes: 0 on success, 1 when the run could not be done (e.g. matplotlib missing for
the figures, the scheduler unreachable, the disk full), 2 on bad arguments, 130 when
interrupted (Ctrl-C); every failure is a one-line message on stderr. An interrupted or
failed run leaves the previous report in the directory as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Callable, NoReturn, Optional, Sequence

CONNECT_TIMEOUT = 10  # seconds to reach a --scheduler: a wrong address fails fast


class _Parser(argparse.ArgumentParser):
    """An argparse parser with a one-line error message (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        """Exit with code 2 after the one-line message ``message`` on stderr."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer_at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type: an integer >= ``minimum``."""
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
    from widenet.app.experiments import EXPERIMENTS
    from widenet.app.report import DEFAULT_DIRECTORY

    parser = _Parser(prog="widenet", description="The mathematics of wide neural networks: the chapter's figures "
                                                 "and claims, measured.")
    from widenet._runtime import __version__

    parser.add_argument("--version", action="version", version=f"widenet {__version__}")
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
    reproduce.set_defaults(parser=reproduce)  # its errors name "widenet reproduce"
    commands.add_parser("experiments", help="list the experiments",
                        description="Lists the experiments of 'widenet reproduce': name, chapter reference, title.")
    return parser


def _list_experiments() -> int:
    from widenet.app.experiments import EXPERIMENTS

    width = max(len(name) for name in EXPERIMENTS)
    for name, experiment in EXPERIMENTS.items():
        print(f"{name:<{width}}  {experiment.reference}: {experiment.title}")
    return 0


def _reproduce(parser: argparse.ArgumentParser, arguments: argparse.Namespace, argv: Sequence[str]) -> int:
    from widenet.app.experiments._plotting import matplotlib
    from widenet.app.report import REPORT, report_directory, reproduce

    if not arguments.no_figures:
        try:
            matplotlib()
        except ImportError as error:
            print(f"widenet: {error}; or run with --no-figures", file=sys.stderr)
            return 1
    if arguments.threads is not None:
        _check_threads(parser, arguments.threads)
    try:
        report_directory(arguments.out)
    except ValueError as error:
        parser.error(f"argument --out: {str(error).removeprefix('out: ')}")
    command = "widenet " + " ".join(argv)
    with contextlib.ExitStack() as cluster:
        if arguments.scheduler is not None:
            failed = _connect(parser, cluster, arguments.scheduler)
            if failed:
                return failed
        try:
            record = reproduce(arguments.out, quick=arguments.quick, only=arguments.only, seed=arguments.seed,
                               threads=arguments.threads, figures=not arguments.no_figures,
                               progress=not arguments.no_progress, command=command)
        except KeyboardInterrupt as interrupt:
            state = "the new report was written" if getattr(interrupt, "report_written", False) else \
                "the report there is unchanged"
            print(f"widenet: interrupted; {state} ({arguments.out})", file=sys.stderr)
            return 130
        except OSError as error:
            print(f"widenet: could not write the report into {arguments.out}: {error}; the report there is "
                  f"unchanged", file=sys.stderr)
            return 1
    print(f"{record['claims_held']} of {record['claims_total']} claims held; report in "
          f"{os.path.join(arguments.out, REPORT)} ({record['elapsed_seconds']:.0f} s)")
    return 0


def _check_threads(parser: argparse.ArgumentParser, threads: int) -> None:
    """Exit with the one-line error when widenet cannot run ``threads`` threads."""
    from widenet._runtime import get_num_threads, set_num_threads

    before = get_num_threads()
    try:
        set_num_threads(threads)  # checks the range the machine can run and names the problem
    except (ValueError, TypeError, OverflowError) as error:
        parser.error(f"argument --threads: {error}")
    finally:
        set_num_threads(before)


def _connect(parser: argparse.ArgumentParser, cluster: contextlib.ExitStack, address: str) -> int:
    """Send the sweeps of the run to the scheduler at ``address`` (until ``cluster`` closes).

    Returns 0, or the exit code after a one-line message.
    """
    try:
        from widenet.distributed import sweeps_on
        from widenet.sweeps._dask import connected
    except ImportError as error:
        print(f"widenet: {error}", file=sys.stderr)
        return 1
    try:
        client = cluster.enter_context(connected(address, timeout=CONNECT_TIMEOUT))
    except ValueError as error:
        parser.error(f"argument --scheduler: {str(error).removeprefix('client: ')}")
    except (OSError, TimeoutError) as error:
        print(f"widenet: could not connect to the scheduler {address!r}: {error}", file=sys.stderr)
        return 1
    cluster.enter_context(sweeps_on(client))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``widenet`` command with the arguments ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit code (see the module's docstring).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    arguments = _parser().parse_args(argv)
    if arguments.command == "experiments":
        return _list_experiments()
    return _reproduce(arguments.parser, arguments, argv)
