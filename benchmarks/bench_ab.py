"""Same-run A/B: ``mcsd.simulate`` throughput of the working tree against a git revision.

Run ``python benchmarks/bench_ab.py REV [--paths 100000 1000000] [--threads 2] [--rounds 5]``.
REV is checked out into a temporary git worktree; each measurement is a fresh subprocess
that imports mcsd from one tree (the other tree's modules never load), warms the kernels
up, then times ``simulate(study priors, n, seed)`` (best of 3 in the process). The trees
alternate A, B, A, B, ... for ``--rounds`` rounds, so a change of machine load touches both
alike; the report gives each tree's best and median paths/s and the ratio B / A of the
medians, with the machine named. Both trees get their own numba cache, compiled before the
first timed round. Only the public API is used, so any two revisions compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_engine import _cpu_model  # the script's own folder is on sys.path
from revisions import worktree

ROOT = Path(__file__).resolve().parents[1]
SEED = 20250101

WORKER = """
import json, sys, time
sys.path.insert(0, {root!r})
import mcsd
from pathlib import Path
assert Path(mcsd.__file__).resolve().is_relative_to(Path({root!r}).resolve()), mcsd.__file__
p = mcsd.load_priors({priors!r})
mcsd.simulate(p, n_paths=2_000, seed=1, threads={threads}, progress=False)
best = []
for n in {paths!r}:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        mcsd.simulate(p, n_paths=n, seed={seed}, threads={threads}, progress=False)
        times.append(time.perf_counter() - t)
    best.append(n / min(times))
print(json.dumps(best))
"""


def _measure(
    root: Path, paths: list[int], threads: int, cache: str, priors: str | None = None
) -> list[float]:
    code = WORKER.format(root=str(root), paths=paths, threads=threads, seed=SEED, priors=priors)
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="git revision to compare against (A); B is the working tree")
    ap.add_argument("--paths", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="JSON file for the figures")
    ap.add_argument(
        "--priors",
        help="one priors file for both trees (default: each tree's own study priors); it must "
        "load in both revisions",
    )
    args = ap.parse_args(argv)
    priors = None if args.priors is None else str(Path(args.priors).resolve())
    with tempfile.TemporaryDirectory(prefix="mcsd-ab-") as tmp:
        with worktree(args.rev, Path(tmp) / "a") as tree_a:
            trees = {"A": tree_a, "B": ROOT}
            caches = {k: tempfile.mkdtemp(dir=tmp, prefix=f"cache-{k}-") for k in trees}
            for k, tree in trees.items():  # compile both before any timed round
                _measure(tree, [1_000], args.threads, caches[k], priors)
            rates: dict[str, list[list[float]]] = {"A": [], "B": []}
            for r in range(args.rounds):
                for k in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    rates[k].append(_measure(trees[k], args.paths, args.threads, caches[k], priors))
    rows = []
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs; threads {args.threads}; A = {args.rev}")
    print(f"priors: {args.priors or 'each tree its own study priors'}")
    print(f"{'paths':>10} {'A best':>10} {'A median':>10} {'B best':>10} {'B median':>10} B/A")
    for i, n in enumerate(args.paths):
        a = [x[i] for x in rates["A"]]
        b = [x[i] for x in rates["B"]]
        row = {
            "paths": n,
            "a_best": max(a),
            "a_median": statistics.median(a),
            "b_best": max(b),
            "b_median": statistics.median(b),
            "ratio_median": statistics.median(b) / statistics.median(a),
        }
        rows.append(row)
        print(
            f"{n:>10,} {row['a_best']:>10,.0f} {row['a_median']:>10,.0f} "
            f"{row['b_best']:>10,.0f} {row['b_median']:>10,.0f} {row['ratio_median']:.3f}"
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"rev": args.rev, "cpu": _cpu_model(), "rows": rows, "raw": rates}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
