"""widenet benchmarks: every implementation of every case, timed and checked against the
numpy reference. ``python bench/run.py --help`` lists the options; exits non-zero when
any answer is wrong."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

import cases
import harness

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute in all)")
    parser.add_argument("--only", nargs="+", metavar="SUBSTRING",
                        help="run the cases whose id (e.g. ntk_gram[relu,float64]) contains one of these")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json", help="results file")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed calls per row, after one warm-up (default 5)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="fewer repeats (never below 3) for rows whose calls exceed this in total")
    parser.add_argument("--isolate", action="store_true",
                        help="run every row in its own process and report its peak RSS")
    # Internal: one isolated row, ``--row CASE_ID IMPL``; the answer file holds the
    # reference answer (written by the reference row, read by the others).
    parser.add_argument("--row", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--answer-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def select(all_cases: list, only) -> list:
    """The cases matching ``--only``, plus the machine limits they are compared with."""
    chosen = [case for case in all_cases if not only or any(text in case.id for text in only)]
    needed = {case.limit for case in chosen}
    return [case for case in all_cases if case in chosen or case.id in needed]


def run_in_process(case, args) -> list:
    problem = case.setup()
    rows, expected = [], None
    for impl in case.order():
        row, answer = harness.measure(case, impl, problem, args.repeat, args.max_seconds, expected)
        if impl == case.reference:
            expected = answer
        rows.append(row)
        report_progress(row)
    return rows


def run_isolated(case, args) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        answer_file = os.path.join(scratch, "answer.npy")
        for impl in case.order():
            command = [sys.executable, str(Path(__file__).resolve()), "--row", case.id, impl,
                       "--answer-file", answer_file, "--repeat", str(args.repeat),
                       "--max-seconds", str(args.max_seconds)] + ["--quick"] * args.quick
            child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
            if child.returncode == 0:
                row = harness.Row(**json.loads(child.stdout.splitlines()[-1]))
            else:
                row = harness.Row.of(case, impl, status="FAILED",
                                     note=f"subprocess exited with status {child.returncode}")
            rows.append(row)
            report_progress(row)
    return rows


def run_row(case, impl: str, args) -> None:
    """The child side of ``--isolate``: one row, printed as JSON."""
    reference_ran = os.path.exists(args.answer_file)
    expected = (lambda: np.load(args.answer_file)) if reference_ran else None  # loaded after the warm-up
    row, answer = harness.measure(case, impl, case.setup(), args.repeat, args.max_seconds, expected,
                                  isolated=True)
    if impl == case.reference and answer is not None:
        np.save(args.answer_file, np.asarray(answer))
    print(json.dumps(asdict(row)))


def report_progress(row) -> None:
    detail = harness.seconds(row.median) if row.timed else row.note
    print(f"  {row.id} {row.impl}: {row.status} {detail}".rstrip(), file=sys.stderr, flush=True)


def write_results(args, command: str, rows: list, info: dict, elapsed: float) -> None:
    results = {"command": command, "quick": args.quick, "repeat": args.repeat, "isolate": args.isolate,
               "elapsed_seconds": elapsed, "flop_count": cases.FLOP_COUNT, "ratio": RATIO_NOTE,
               "machine": info, "rows": [asdict(row) for row in rows]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        notes = f"{cases.FLOP_COUNT} {RATIO_NOTE} Peers: {harness.describe_versions(info['peers'])}."
        args.markdown.write_text(f"`{command}`\n\n{harness.markdown(rows)}\n\n{notes}\n")


RATIO_NOTE = "Time ratio = this row's median / the other row's median (< 1: this row is faster)."


def main(argv=None) -> int:
    args = parse_args(argv)
    all_cases = cases.build(args.quick)
    if args.row:
        case_id, impl = args.row
        run_row(next(case for case in all_cases if case.id == case_id), impl, args)
        return 0
    chosen = select(all_cases, args.only)
    if not chosen:
        raise SystemExit(f"no case matches {args.only}; cases: {', '.join(case.id for case in all_cases)}")
    start, load_before = time.perf_counter(), harness.load_average()
    rows = []
    for case in chosen:
        rows += (run_isolated if args.isolate else run_in_process)(case, args)
    harness.summarize(chosen, rows)
    elapsed = time.perf_counter() - start

    info = harness.machine_info()
    info["load_average_at_start"] = load_before
    command = " ".join(["python bench/run.py"] + (sys.argv[1:] if argv is None else list(argv)))
    print(harness.table(rows))
    print(f"\n{cases.FLOP_COUNT}\n{RATIO_NOTE} Targets are informational.\n{info['cpu']}, "
          f"{info['nproc']} CPUs, widenet threads {info['widenet_threads']}, numpy {info['numpy']}; "
          f"{elapsed:.0f} s in total; load average {load_before} at the start, "
          f"{info['load_average']} at the end (other processes share these CPUs).\n"
          f"Peers: {harness.describe_versions(info['peers'])}.")
    write_results(args, command, rows, info, elapsed)
    failed = [f"{row.id} {row.impl}" for row in rows if row.status == "FAILED"]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
