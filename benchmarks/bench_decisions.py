"""Cost of the decision tools against a plain run: precision targets, paired comparison,
sensitivity.

Run ``python benchmarks/bench_decisions.py [--quick] [--paths N] [--out FILE.json]``.
On the study priors (and, for the comparison, ``power_constrained``), after a warm-up that
compiles or loads the kernels, it times (wall clock, best of ``--repeats``):

* ``plain``: ``simulate(n)``,
* ``target_se``: ``simulate(target_se=X)`` against ``simulate(n_stop)`` at the n it stopped
  at (the overhead of the incremental blocks and the convergence checks),
* ``compare``: ``compare(a, b, n)`` against two plain runs of n (joint-count overhead),
* ``sensitivity``: ``sensitivity(n, n_boot)`` = (2 + G) runs of n against a plain run, and
  with ``n_boot=0`` to separate the bootstrap.

Prints a table and writes JSON (default ``benchmarks/results/decisions.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "decisions.json"
SEED = 20250101


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small runs (CI smoke)")
    ap.add_argument("--paths", type=int, default=None, help="paths per run (default 50,000)")
    ap.add_argument("--target-se", type=float, default=None, help="default 0.002 (quick 0.005)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    import mcsd
    from mcsd.engine.executor import default_threads
    from mcsd.kernels.layout import GROUPS

    n = args.paths or (8_192 if args.quick else 50_000)
    target = args.target_se or (0.005 if args.quick else 0.002)
    repeats = args.repeats or (1 if args.quick else 2)
    threads = args.threads or default_threads()
    a, b = mcsd.load_priors("cic2025"), mcsd.load_priors("power_constrained")
    mcsd.simulate(a, n_paths=1_000, progress=False)  # compile / load the kernels

    def plain(m: int, p=a) -> float:
        return best_of(repeats, lambda: mcsd.simulate(p, m, SEED, threads=threads, progress=False))[
            0
        ]

    rows: dict[str, dict[str, object]] = {}
    t_plain = plain(n)
    rows["plain"] = {"paths": n, "seconds": t_plain, "paths_per_s": n / t_plain}

    t_tgt, ds = best_of(
        repeats,
        lambda: mcsd.simulate(a, seed=SEED, target_se=target, threads=threads, progress=False),
    )
    n_stop = int(ds.attrs["paths_used"])
    t_fixed = plain(n_stop)
    rows["target_se"] = {
        "target_se": target,
        "paths": n_stop,
        "converged": int(ds.attrs["converged"]),
        "seconds": t_tgt,
        "plain_same_n_seconds": t_fixed,
        "overhead_vs_plain_same_n": t_tgt / t_fixed,
    }

    t_cmp, cmp_ds = best_of(repeats, lambda: mcsd.compare(a, b, n, SEED, threads=threads))
    t_two = t_plain + plain(n, b)
    live = (cmp_ds.p_shortage_a > 0.05) & (cmp_ds.p_shortage_a < 0.95)
    ratio = (cmp_ds.diff_p_shortage_se / cmp_ds.diff_p_shortage_se_unpaired).where(live)
    rows["compare"] = {
        "paths": 2 * n,
        "seconds": t_cmp,
        "two_plain_runs_seconds": t_two,
        "overhead_vs_two_plain": t_cmp / t_two,
        "cost_vs_one_plain": t_cmp / t_plain,
        "median_paired_over_unpaired_se": float(ratio.median()),
        "equivalent_unpaired_paths_factor": float((1 / ratio**2).median()),
    }

    t_sens, _ = best_of(
        repeats, lambda: mcsd.sensitivity(a, n, SEED, n_boot=args.n_boot, threads=threads)
    )
    t_sens0, _ = best_of(repeats, lambda: mcsd.sensitivity(a, n, SEED, n_boot=0, threads=threads))
    runs = 2 + len(GROUPS)
    rows["sensitivity"] = {
        "paths": runs * n,
        "runs": runs,
        "n_boot": args.n_boot,
        "seconds": t_sens,
        "seconds_without_bootstrap": t_sens0,
        "bootstrap_seconds": t_sens - t_sens0,
        "cost_vs_one_plain": t_sens / t_plain,
        "cost_vs_plain_same_paths": t_sens0 / (runs * t_plain),
    }

    result = {
        "benchmark": "decisions",
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mcsd_version": mcsd.__version__,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": threads,
        },
        "seed": SEED,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"decision tools vs a plain run of {n:,} paths ({threads} threads), best of {repeats}")
    for name, row in rows.items():
        extras = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in row.items()
            if k not in ("seconds", "paths")
        )
        print(f"  {name:12s} {row['paths']:>9,} paths {row['seconds']:8.2f} s   {extras}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
