"""widenet on a Dask cluster: wall time and peak memory per process.

Two cases, each on a fresh ``LocalCluster`` of two worker processes (one thread each), so
that every worker's peak resident set belongs to that case alone; the clock starts after
the workers have imported widenet:

- ``sweep``: 64 trainings (8 widths x 8 seeds of :func:`widenet.dynamics.lazy_training.lazy_training_cell`,
  a network and its linearization trained by GD), in this process on a thread pool
  against the cluster; the two must agree bit for bit.
- ``gram_matvec``: the RBF Gram of m = 40,000 points by tiles, reduced on the cluster to
  ``K v`` (:func:`widenet.distributed.gram_matvec`: each tile computed, used and dropped;
  the 11.9 GiB matrix is never formed anywhere), against the same product in this process
  by blocks of rows; they must agree to 1e-10.

``python bench/dask_cluster.py [--quick] [--json FILE]``; needs the extra ``distributed``.
Exits non-zero when an answer disagrees.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import harness
import widenet
from widenet.dynamics.lazy_training import lazy_training_cell, lazy_training_data

HERE = Path(__file__).resolve().parent
SEED = 20240601


def peak_rss_mb() -> float:
    """This process's high-water resident set (run on the workers too)."""
    return harness.peak_rss_mb()


def cluster():
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0")  # any free port: runs side by side never clash
    return local, Client(local, set_as_default=False)


def warm_up(client) -> None:
    """Imports widenet on the workers before the clock starts (once per worker process)."""
    client.run(__import__, "widenet.dynamics.lazy_training")


def timed_on_cluster(work):
    """``work(client)`` on a fresh cluster, timed after the warm-up. Returns its answer,
    the seconds, the workers' peak RSS and this process's peak RSS (MB)."""
    local_cluster, client = cluster()
    try:
        warm_up(client)
        start = time.perf_counter()
        answer = work(client)
        seconds = time.perf_counter() - start
        workers = worker_peaks(client)
    finally:
        client.close()
        local_cluster.close()
    return answer, seconds, workers, peak_rss_mb()


def worker_peaks(client) -> list:
    return sorted(round(value) for value in client.run(peak_rss_mb).values())


# -- the sweep of 64 trainings --------------------------------------------------------------
def sweep_case(quick: bool) -> list:
    widths = [2 ** k for k in range(4, 12)] if not quick else [2 ** k for k in range(3, 11)]
    seeds = list(range(8))
    steps = 20 if quick else 200
    options = dict(data=lazy_training_data(), steps=steps, activation="tanh", progress=False)
    size = f"{len(widths)} widths (n={widths[0]}..{widths[-1]}) x {len(seeds)} seeds, {steps} GD steps"

    remote, remote_seconds, workers, client_peak = timed_on_cluster(
        lambda client: widenet.sweep(lazy_training_cell, widths, seeds, client=client, **options))
    start = time.perf_counter()
    with _numpy_blas_on_one_thread():  # as on the workers, so that the two agree bit for bit
        local = widenet.sweep(lazy_training_cell, widths, seeds, threads=widenet.get_num_threads(), **options)
    local_seconds = time.perf_counter() - start
    equal = remote.records == local.records
    return [
        row("sweep", "in_process_threads", size, local_seconds, peak_rss_mb(), [], "reference"),
        row("sweep", "local_cluster_2_workers", size, remote_seconds, client_peak, workers,
            "bit for bit equal" if equal else "DIFFERS"),
    ]


def _numpy_blas_on_one_thread():
    """numpy's own BLAS (not widenet's) on one thread, as Dask's workers run it; its threads
    can change the last bits of numpy's eigen and singular value routines."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


# -- the tiled Gram -------------------------------------------------------------------------
def gram_case(quick: bool) -> list:
    from widenet.distributed import gram_matvec

    m, d, tile = (8_000, 16, 2_000) if quick else (40_000, 16, 4_000)
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((m, d))
    v = rng.standard_normal(m)
    kernel = widenet.RBFKernel(gamma=1.0 / d)
    size = f"m={m} d={d} tile={tile} (full matrix {m * m * 8 / 2**30:.1f} GiB)"

    product, remote_seconds, workers, client_peak = timed_on_cluster(
        lambda client: gram_matvec(kernel, X, v, tile=tile, client=client))
    start = time.perf_counter()
    rows = 1_000
    expected = np.concatenate([kernel(X[begin:begin + rows], X) @ v for begin in range(0, m, rows)])
    local_seconds = time.perf_counter() - start
    error = harness.relative_error(product, expected)
    return [
        row("gram_matvec", "in_process_row_blocks", size, local_seconds, peak_rss_mb(), [], "reference"),
        row("gram_matvec", "local_cluster_2_workers", size, remote_seconds, client_peak, workers,
            f"rel err {error:.1e}" + ("" if error <= 1e-10 else " DIFFERS")),
    ]


def row(case, impl, size, seconds, client_mb, worker_mb, check) -> dict:
    return {"case": case, "impl": impl, "size": size, "seconds": seconds, "client_peak_rss_mb": round(client_mb),
            "worker_peak_rss_mb": worker_mb, "check": check}


def table(rows: list) -> str:
    header = ["case", "impl", "size", "wall", "client peak RSS MB", "worker peak RSS MB", "check"]
    lines = [header] + [[r["case"], r["impl"], r["size"], harness.seconds(r["seconds"]), str(r["client_peak_rss_mb"]),
                         ", ".join(map(str, r["worker_peak_rss_mb"])) or "-", r["check"]] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "dask_cluster.json", help="results file")
    args = parser.parse_args(argv)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print('bench/dask_cluster.py needs Dask: pip install ".[distributed]"', file=sys.stderr)
        return 1
    load = harness.load_average()
    # The client's peak is read before its in-process reference, so it is the cluster run's.
    rows = sweep_case(args.quick) + gram_case(args.quick)
    command = " ".join(["python bench/dask_cluster.py"] + (sys.argv[1:] if argv is None else list(argv)))
    print(table(rows))
    print(f"\n{harness.machine_info()['cpu']}, {os.cpu_count()} CPUs, load average {load} at the start. Peak RSS: "
          "high-water resident set of each process (the workers': a fresh cluster per case).")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": command, "quick": args.quick, "load_average_at_start": load,
                                     "rows": rows}, indent=2) + "\n")
    return 0 if not any("DIFFERS" in r["check"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
