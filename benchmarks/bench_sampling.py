"""Speed of the random-input sampler (``mcsd.kernels.sampling.sample_block``), in µs per path.

Run ``python benchmarks/bench_sampling.py [--ref REV] [--paths N] [--repeats R]``. Times
``sample_block`` on the study priors (``priors/cic2025.toml``) in blocks of the engine's
``BLOCK_PATHS``, on one thread, best of the repeats (the machine may be shared). With
``--ref REV`` the same measurement runs for git revision REV (checked out with ``git worktree
add`` into a temporary directory) and the two are printed side by side.

Each measurement runs in a fresh subprocess (``--worker ROOT``) that imports mcsd from ROOT,
so the two revisions never share a process or a numba cache. Only the standard library is
imported at top level.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_engine import _cpu_model  # the script's own folder is on sys.path
from revisions import worktree

ROOT = Path(__file__).resolve().parents[1]
SEED = 20250101


def _worker(root: str, paths: int, repeats: int) -> dict:
    """Time sample_block over ``paths`` paths ``repeats`` times; mcsd imported from ``root``."""
    sys.path.insert(0, root)
    import numpy as np

    import mcsd

    try:
        from mcsd.engine.executor import BLOCK_PATHS, CompiledRun
        from mcsd.kernels.sampling import sample_block
    except ImportError:  # a revision before the package reshape
        from mcsd.engine import BLOCK_PATHS, CompiledRun  # type: ignore[no-redef]
        from mcsd.kernels_sampling import sample_block  # type: ignore[no-redef]

    if not Path(mcsd.__file__).resolve().is_relative_to(Path(root).resolve()):
        raise RuntimeError(f"imported {mcsd.__file__}, not mcsd from {root}")
    run = CompiledRun.build(mcsd.load_priors(), SEED)
    m, keys = run.model, run.group_seed_keys
    block = BLOCK_PATHS
    scale = np.empty((m.market_loading.shape[0], m.n_years, block))
    delivery = np.empty((m.proj_capacity_mw.shape[0], block), dtype=np.int64)

    def once() -> float:
        t = time.perf_counter()
        for p0 in range(0, paths, block):
            sample_block(m, keys, p0, min(block, paths - p0), scale, delivery)
        return time.perf_counter() - t

    once()  # compile or load the cache, fault the buffers in
    times = [once() for _ in range(repeats)]
    return {
        "root": root,
        "us_per_path": min(times) / paths * 1e6,
        "times_s": times,
        "paths": paths,
        "block": block,
        "shape": {
            "B": int(m.market_loading.shape[0]),
            "K": int(m.n_years),
            "P": int(m.cancel_prob.shape[0]),
            "J": int(m.proj_capacity_mw.shape[0]),
        },
    }


def _measure(root: Path, paths: int, repeats: int, cache_dir: str) -> dict:
    """Run the worker for ``root`` in a subprocess with one numba thread and its own cache."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1", NUMBA_CACHE_DIR=cache_dir)
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, __file__, "--worker", str(root), "--paths", str(paths)]
    cmd += ["--repeats", str(repeats)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(root))
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rev_name(rev: str, root: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", rev], capture_output=True, text=True
    )
    return out.stdout.strip() or rev


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", help="git revision to compare with (e.g. main, HEAD~3)")
    ap.add_argument("--paths", type=int, default=100_000, help="paths per timed run")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs; the best is kept")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.paths, args.repeats)))
        return 0

    print(f"machine: {_cpu_model()}, {os.cpu_count()} logical CPUs; 1 numba thread")
    with tempfile.TemporaryDirectory(prefix="mcsd-bench-sampling-") as tmp:
        rows = [("working tree", _measure(ROOT, args.paths, args.repeats, tmp + "/cache-wt"))]
        if args.ref:
            with worktree(args.ref, Path(tmp) / "ref") as ref_dir:
                name = f"{args.ref} ({_rev_name(args.ref, ROOT)})"
                rows.append((name, _measure(ref_dir, args.paths, args.repeats, tmp + "/cache-ref")))
    shape = rows[0][1]["shape"]
    print(
        f"sample_block on the study priors (B={shape['B']}, K={shape['K']}, P={shape['P']}, "
        f"J={shape['J']}), block {rows[0][1]['block']}, {args.paths} paths, "
        f"best of {args.repeats}"
    )
    width = max(len(name) for name, _ in rows)
    for name, r in rows:
        us = r["us_per_path"]
        print(f"  {name:<{width}}  {us:7.3f} µs/path  {1e6 / us:12,.0f} paths/s")
    if len(rows) == 2:
        new, ref = rows[0][1]["us_per_path"], rows[1][1]["us_per_path"]
        print(f"  speed-up (ref / working tree): {ref / new:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
