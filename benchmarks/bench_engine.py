"""Engine vs NumPy reference: speed, peak memory and JIT compile time, side by side.

Run ``python benchmarks/bench_engine.py [--quick] [--out FILE.json]`` (see
``benchmarks/README.md``). Every configuration runs in a fresh subprocess of this same
script (``--worker``), so its peak RSS is its own; JIT warm-up happens before the timed
region; times are ``time.perf_counter`` wall-clock seconds, the best of the repeats.

This module imports only the standard library at top level: the compile-time workers time
``import mcsd`` themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "latest.json"
SEED = 20250101
WARMUP_PATHS = 1_000  # the small call that compiles (or loads) the kernels, untimed
COMPILE_PATHS = 1_000  # paths of the "first small simulate" timed in the compile workers
CACHED_START_REPEATS = 3  # fresh processes on the populated cache; the best is reported
REF_MAX_SECONDS = 300.0  # skip a reference size whose estimated time is above this
ENV_KEYS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_CACHE_DIR",
    "NUMBA_DISABLE_JIT",
)


# --------------------------------------------------------------------------------------
# Worker side (runs in a fresh subprocess)
# --------------------------------------------------------------------------------------
def _rss_now_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _blas_info() -> dict:
    """threadpoolctl's view of the BLAS/OpenMP pools when installed, else numpy's config."""
    try:
        import threadpoolctl  # type: ignore[import-not-found]
    except ImportError:
        info: dict = {"threadpoolctl": "not installed: BLAS thread count not recorded"}
        try:
            import numpy as np

            cfg = np.show_config(mode="dicts")  # numpy >= 2
            deps = (cfg or {}).get("Build Dependencies", {})
            info["numpy_blas"] = deps.get("blas")
            info["numpy_lapack"] = deps.get("lapack")
        except Exception as exc:  # older numpy: no dict mode
            info["numpy_blas"] = f"unavailable ({type(exc).__name__})"
        return info
    return {"threadpoolctl": threadpoolctl.__version__, "pools": threadpoolctl.threadpool_info()}


def _worker_compile(spec: dict) -> dict:
    """Import mcsd and run a first small simulate; NUMBA_CACHE_DIR is set by the parent."""
    t0 = time.perf_counter()
    import mcsd

    t1 = time.perf_counter()
    priors = mcsd.load_priors()
    t2 = time.perf_counter()
    mcsd.simulate(priors, spec["paths"], SEED, threads=1, progress=False)
    t3 = time.perf_counter()
    cache = os.environ.get("NUMBA_CACHE_DIR", "")
    n_files = sum(len(f) for _, _, f in os.walk(cache)) if cache else None
    return {
        "import_s": t1 - t0,
        "load_priors_s": t2 - t1,
        "first_simulate_s": t3 - t2,
        "total_s": t3 - t0,
        "cache_files_after": n_files,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _worker_run(spec: dict) -> dict:
    """Warm up, then time ``repeats`` runs of one implementation at one size."""
    import mcsd

    priors = mcsd.load_priors()
    impl, n, threads, repeats = spec["impl"], spec["paths"], spec["threads"], spec["repeats"]
    if impl == "engine":

        def call(k: int) -> None:
            mcsd.simulate(priors, k, SEED, threads=threads, progress=False)

    elif impl == "nowcast":  # weighted by the shipped example observations
        from mcsd.priors.observations import load_observations

        obs = load_observations("observations_example", priors)

        def call(k: int) -> None:
            mcsd.simulate(priors, k, SEED, threads=threads, progress=False, observations=obs)

    else:
        from mcsd.testing.reference import reference_simulate

        quantile_vars = spec["ref_quantiles"]

        def call(k: int) -> None:
            reference_simulate(priors, k, SEED, quantile_vars=quantile_vars)

    t = time.perf_counter()
    call(WARMUP_PATHS)
    warmup_s = time.perf_counter() - t
    baseline_peak = _peak_rss_mb()
    baseline_now = _rss_now_mb()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call(n)
        times.append(time.perf_counter() - t)
    out = {
        "warmup_s": warmup_s,
        "times_s": times,
        "seconds": min(times),
        "baseline_rss_mb": baseline_peak,
        "baseline_rss_now_mb": baseline_now,
        "peak_rss_mb": _peak_rss_mb(),
    }
    if impl == "reference":
        out["blas"] = _blas_info()
    return out


def worker_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    result = _worker_compile(spec) if spec["kind"] == "compile" else _worker_run(spec)
    sys.stdout.write("\n@@RESULT@@" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------
def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _spawn(spec: dict, env: dict | None = None, timeout: float | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    load_before = _loadavg()
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t
    load_after = _loadavg()
    marker = proc.stdout.rfind("@@RESULT@@")
    if proc.returncode != 0 or marker < 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {"error": f"worker exit {proc.returncode}: {tail}"}
    result = json.loads(proc.stdout[marker + len("@@RESULT@@") :].strip())
    result["subprocess_wall_s"] = wall
    result["loadavg_1min_before"] = load_before
    result["loadavg_1min_after"] = load_after
    return result


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024.0 / 1024.0
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(
            ["git", *args], cwd=str(ROOT), capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for pkg in ("mcsd", "numpy", "numba", "llvmlite", "scipy", "xarray", "threadpoolctl"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    status = _git("status", "--porcelain", "--", "mcsd")
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _mem_total_gb(),
        "platform": platform.platform(),
        "versions": versions,
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_mcsd_dirty_files": None if status is None else len(status.splitlines()),
    }


def compile_times() -> dict:
    """Cold (empty caches) and cached (the same caches, now populated) start-up.

    Both caches a start reads are set to fresh temporary folders: numba's
    (NUMBA_CACHE_DIR) and Python's bytecode (PYTHONPYCACHEPREFIX, with
    PYTHONDONTWRITEBYTECODE unset). Otherwise a machine that disables bytecode writing
    would compile mcsd's own modules from source on every "cached" start (~40 ms).
    """
    cache = tempfile.mkdtemp(prefix="mcsd-bench-numba-cache-")
    pycache = tempfile.mkdtemp(prefix="mcsd-bench-pycache-")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPYCACHEPREFIX=pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    spec = {"kind": "compile", "paths": COMPILE_PATHS}
    try:
        cold = _spawn(spec, env=env)
        cached_runs = [_spawn(spec, env=env) for _ in range(CACHED_START_REPEATS)]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)
    timed = [c for c in cached_runs if "total_s" in c]
    cached = min(timed, key=lambda c: c["total_s"]) if timed else cached_runs[0]
    return {
        "paths": COMPILE_PATHS,
        "what": "import mcsd + load_priors + first simulate(threads=1), in-process perf_counter; "
        "numba and bytecode caches in fresh temporary folders",
        "cold": cold,
        "cached": cached,  # the best of the cached starts, like every other timing here
        "cached_total_s": [c.get("total_s") for c in cached_runs],
    }


def plan(quick: bool) -> dict:
    if quick:
        return {
            "engine_sizes": [10**3, 10**4],
            "nowcast_sizes": [10**4],
            "reference_sizes": [10**3, 10**4],
            "threads": [1, 2],
            "repeats": lambda n: 1,
            "engine_repeats": lambda n: 1,
        }
    return {
        "engine_sizes": [10**4, 10**5, 10**6, 10**7],
        "nowcast_sizes": [10**5, 10**6],
        "reference_sizes": [10**4, 10**5, 10**6],
        "threads": [1, 2],
        "repeats": lambda n: 3 if n <= 10**5 else 1,
        # the engine's 10^6 runs take seconds, not a minute: best of 3 there too
        "engine_repeats": lambda n: 3 if n <= 10**6 else 1,
    }


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_benchmarks(
    quick: bool, ref_quantiles: bool, ref_max_s: float, checkpoint=lambda part: None
) -> dict:
    """All configurations; ``checkpoint(partial)`` is called after each one."""
    p = plan(quick)
    rows: list[dict] = []
    notes: list[str] = []
    _log("compile: cold then cached NUMBA_CACHE_DIR ...")
    comp = compile_times()
    for key in ("cold", "cached"):
        c = comp[key]
        _log(f"  {key}: " + (f"{c['total_s']:.2f} s" if "total_s" in c else c.get("error", "?")))

    sizes = sorted(set(p["engine_sizes"]) | set(p["reference_sizes"]))
    last_ref: tuple[int, float] | None = None
    for n in sizes:
        reps = p["repeats"](n)
        if n in p["reference_sizes"]:
            row = {"impl": "reference", "paths": n, "threads": 1, "repeats": reps}
            estimate = None
            if last_ref is not None:
                # linear in paths, plus 10% for the exact-quantile sort
                estimate = last_ref[1] * n / last_ref[0] * 1.1 * reps
            if estimate is not None and estimate > ref_max_s:
                msg = (
                    f"reference at {n:.0e} paths skipped: estimated {estimate:.0f} s "
                    f"(from {last_ref[0]:.0e} paths) > {ref_max_s:.0f} s"
                )
                notes.append(msg)
                row.update(skipped=True, estimated_seconds=estimate, note=msg)
                _log("  " + msg)
            else:
                _log(f"reference {n:>9,} paths ...")
                res = _spawn(
                    {
                        "kind": "run",
                        "impl": "reference",
                        "paths": n,
                        "threads": 1,
                        "repeats": reps,
                        "ref_quantiles": ref_quantiles,
                    }
                )
                row.update(res)
                if "seconds" in res:
                    last_ref = (n, res["seconds"])
            rows.append(row)
            checkpoint({"compile": comp, "rows": rows, "notes": notes})
        if n in p["engine_sizes"]:
            reps = p["engine_repeats"](n)
            for th in p["threads"]:
                _log(f"engine    {n:>9,} paths, {th} thread(s) ...")
                res = _spawn(
                    {"kind": "run", "impl": "engine", "paths": n, "threads": th, "repeats": reps}
                )
                rows.append({"impl": "engine", "paths": n, "threads": th, "repeats": reps, **res})
                checkpoint({"compile": comp, "rows": rows, "notes": notes})
        if n in p["nowcast_sizes"]:
            reps = p["engine_repeats"](n)
            for th in p["threads"]:
                _log(f"nowcast   {n:>9,} paths, {th} thread(s) ...")
                res = _spawn(
                    {"kind": "run", "impl": "nowcast", "paths": n, "threads": th, "repeats": reps}
                )
                rows.append({"impl": "nowcast", "paths": n, "threads": th, "repeats": reps, **res})
                checkpoint({"compile": comp, "rows": rows, "notes": notes})

    ref_s = {r["paths"]: r["seconds"] for r in rows if r["impl"] == "reference" and "seconds" in r}
    plain_s = {
        (r["paths"], r["threads"]): r["seconds"]
        for r in rows
        if r["impl"] == "engine" and "seconds" in r
    }
    for r in rows:
        if "seconds" in r:
            r["paths_per_s"] = r["paths"] / r["seconds"]
        if r["impl"] in ("engine", "nowcast") and "seconds" in r and r["paths"] in ref_s:
            r["speedup_vs_reference"] = ref_s[r["paths"]] / r["seconds"]
        if r["impl"] == "nowcast" and "seconds" in r and (r["paths"], r["threads"]) in plain_s:
            r["cost_vs_unweighted"] = r["seconds"] / plain_s[(r["paths"], r["threads"])]
    notes.append(
        "nowcast = the engine weighted by priors/observations_example.toml (two measurements, "
        "two pinned halls: three passes over the paths); cost_vs_unweighted = its seconds / "
        "the unweighted engine's at the same paths and threads"
    )
    notes.append(
        "speedup_vs_reference = reference seconds / engine seconds at the same size: the "
        "single-threaded reference number is the denominator for both engine thread counts"
    )
    notes.append(
        "reference: "
        + (
            "with the four exact-quantile variables (quantile_vars=True), like the engine's output"
            if ref_quantiles
            else "quantile_vars=False (no quantile variables: less work than the engine)"
        )
        + "; it runs once per size (NumPy, single Python thread; BLAS threads: see blas)"
    )
    return {"compile": comp, "rows": rows, "notes": notes}


def _fmt_row(r: dict) -> str:
    impl = r["impl"]
    th = "1 (numpy)" if impl == "reference" else str(r["threads"])
    if r.get("skipped"):
        sec = f"~{r['estimated_seconds']:.0f} est"
        rest = "skipped"
        return f"{r['paths']:>11,}  {impl:<9}  {th:>9}  {sec:>10}  {rest:>12}"
    if "error" in r:
        return f"{r['paths']:>11,}  {impl:<9}  {th:>9}  ERROR: {r['error'][:80]}"
    speed = r.get("speedup_vs_reference")
    speed_s = f"{speed:.1f}x" if speed is not None else "-"
    if "cost_vs_unweighted" in r:
        speed_s += f" ({r['cost_vs_unweighted']:.2f}x unw.)"
    return (
        f"{r['paths']:>11,}  {impl:<9}  {th:>9}  {r['seconds']:>10.3f}  "
        f"{r['paths_per_s']:>12,.0f}  {speed_s:>10}  {r['peak_rss_mb']:>8.0f}  "
        f"{r['baseline_rss_mb']:>8.0f}"
    )


def format_report(result: dict) -> str:
    m = result["machine"]
    v = m["versions"]
    lines = [
        f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs "
        f"({m['usable_cpus']} usable), {m['memory_gb']:.1f} GB RAM",
        f"python {v['python']}, numpy {v['numpy']}, numba {v['numba']}, scipy {v['scipy']}, "
        f"mcsd {v['mcsd']} (git {str(m['git_commit'])[:10]}, "
        f"{m['git_mcsd_dirty_files']} uncommitted files under mcsd/)",
        "env: "
        + (
            ", ".join(f"{k}={val}" for k, val in m["env"].items() if val is not None)
            or "(none of the BLAS/numba variables set)"
        ),
        "",
    ]
    c = result["compile"]
    for key in ("cold", "cached"):
        x = c[key]
        if "total_s" in x:
            runs = c.get(f"{key}_total_s")
            of = (
                f", best of {len(runs)}: " + ", ".join(f"{t:.2f}" for t in runs if t is not None)
                if runs
                else ""
            )
            lines.append(
                f"{key:>6} start: {x['total_s']:.2f} s (import {x['import_s']:.2f} s, "
                f"first simulate({c['paths']}) {x['first_simulate_s']:.2f} s{of})"
            )
        else:
            lines.append(f"{key:>6} start: ERROR {x.get('error', '?')[:200]}")
    lines.append("")
    header = (
        f"{'paths':>11}  {'impl':<9}  {'threads':>9}  {'seconds':>10}  {'paths/s':>12}  "
        f"{'vs ref':>10}  {'peak MB':>8}  {'base MB':>8}"
    )
    lines += [header, "-" * len(header)]
    lines += [_fmt_row(r) for r in result["rows"]]
    lines.append("")
    lines += [f"note: {n}" for n in result["notes"]]
    blas = next((r["blas"] for r in result["rows"] if "blas" in r), None)
    if blas is not None:
        lines.append(f"reference BLAS: {json.dumps(blas)[:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke: 1e3 and 1e4 paths, 1 repeat")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file (default: %(default)s)")
    ap.add_argument(
        "--ref-no-quantiles",
        action="store_true",
        help="run the reference with quantile_vars=False (faster, less work than the engine)",
    )
    ap.add_argument(
        "--ref-max-seconds",
        type=float,
        default=REF_MAX_SECONDS,
        help="skip a reference size estimated to take longer (default: %(default)s)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    started = time.perf_counter()
    result = {
        "benchmark": "bench_engine",
        "mode": "quick" if args.quick else "full",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "priors": "study (mcsd.load_priors())",
        "timing": "time.perf_counter, best of the repeats, JIT warm-up untimed",
        "rss": "peak_rss_mb = ru_maxrss after the timed runs (absolute, the worker's own); "
        "baseline_rss_mb = ru_maxrss after imports and warm-up",
        "machine": machine_info(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def checkpoint(part: dict) -> None:  # partial results survive an interrupted full run
        out.write_text(json.dumps({**result, **part, "complete": False}, indent=2) + "\n")

    result.update(
        run_benchmarks(args.quick, not args.ref_no_quantiles, args.ref_max_seconds, checkpoint)
    )
    result["complete"] = True
    result["total_wall_s"] = time.perf_counter() - started
    loads = [r.get("loadavg_1min_before") for r in result["rows"]]
    loads = [x for x in loads if x is not None]
    ncpu = result["machine"]["usable_cpus"] or result["machine"]["logical_cpus"] or 1
    if loads and max(loads) > ncpu + 1:
        result["notes"].append(
            f"machine was busy: 1-min load average up to {max(loads):.1f} on {ncpu} CPUs "
            "before a configuration started; timings include contention from other processes"
        )
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_report(result))
    print(f"\nwritten: {out} ({result['total_wall_s']:.0f} s in all)")
    failed = [r for r in result["rows"] if "error" in r]
    failed += [c for c in (result["compile"]["cold"], result["compile"]["cached"]) if "error" in c]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
