"""Dask distributed against local threads: paths/s, and the overhead per task.

    python benchmarks/bench_dask.py [--paths 1000000] [--workers 2]

Writes benchmarks/results/dask.json. Overhead per task is measured two ways: the round trip
of a near-empty task (submit, run, result), and (wall - compute / workers) / tasks for the
real run, where compute is the sum of the task compute times from Dask's task stream.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from distributed import Client, LocalCluster, get_task_stream

from mcsd.engine import distributed as mdist
from mcsd.engine.executor import CompiledRun, chunks, run_paths
from mcsd.priors.loader import load_priors

OUT = Path(__file__).parent / "results" / "dask.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20250101)
    args = ap.parse_args()
    n, w = args.paths, args.workers
    run = CompiledRun.build(load_priors(None), args.seed)
    run_paths(run, 4096, 1)  # compile / load the kernels here

    t = time.perf_counter()
    run_paths(run, n, w)
    local_wall = time.perf_counter() - t

    with (
        LocalCluster(
            n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(w)
        mdist.run_distributed(client, run, 4096 * w, batch_paths=4096)  # warm the workers
        # near-empty task round trip
        reps = 50
        t = time.perf_counter()
        for i in range(reps):
            client.submit(mdist.noop_task, i, pure=False).result()
        noop_ms = 1e3 * (time.perf_counter() - t) / reps
        # one-path task: the accumulators' transfer, unpack and merge
        run_f = client.scatter(run, broadcast=True, hash=False)
        t = time.perf_counter()
        acc = run.new_accumulators()
        for i in range(10):
            fut = client.submit(mdist.run_task, run_f, i, 1, pure=False)
            acc += mdist.unpack(fut.result())
        acc_task_ms = 1e3 * (time.perf_counter() - t) / 10
        run_f.release()

        batch = mdist.choose_batch(n, mdist.n_workers_of(client))
        tasks = len(chunks(n, batch))
        with get_task_stream(client) as ts:
            t = time.perf_counter()
            mdist.run_distributed(client, run, n, batch_paths=batch)
            dask_wall = time.perf_counter() - t
        compute = 0.0
        for rec in ts.data:
            for ss in rec["startstops"]:
                if ss["action"] == "compute":
                    compute += ss["stop"] - ss["start"]
    overhead = (dask_wall - compute / w) / tasks
    result = {
        "paths": n,
        "workers": w,
        "machine": platform.processor() or platform.machine(),
        "local_threads_paths_per_s": n / local_wall,
        "dask_processes_paths_per_s": n / dask_wall,
        "local_wall_s": local_wall,
        "dask_wall_s": dask_wall,
        "batch_paths": batch,
        "tasks": tasks,
        "task_compute_mean_s": compute / tasks,
        "noop_task_round_trip_ms": noop_ms,
        "one_path_task_round_trip_ms": acc_task_ms,
        "overhead_per_task_s": overhead,
        "overhead_fraction": overhead / (compute / tasks),
    }
    for k, v in result.items():
        print(f"{k:32s} {v:,.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
