"""Fixed costs users feel: a warm ``mcsd run``, and what a ``simulate`` call costs beyond its
paths (issue 19, items 2 and 3).

Run ``python benchmarks/bench_fixed_cost.py [--quick] [--tree DIR ...] [--ref REV ...]
[--out FILE.json]``. Measures, for the working tree and each other source tree given:

- **warm mcsd run**: wall time of ``mcsd run --quiet`` (the console script's entry point,
  study priors, 50,000 paths, 2 threads by default, result into a temporary folder), best
  of ``--runs`` fresh processes after one warm-up run (which fills the numba cache);
  target <= 1.2 s;
- **simulate**: wall time of ``mcsd.simulate(study priors, n)`` for n = 1, 10^3, 10^4,
  10^5, 10^6 paths, best of the repeats in one process after a warm-up; the fixed cost
  per call is the intercept of a straight line through (n, time) fitted with relative
  weights (1 / time), beside the time of a 1-path call; target <= 3 ms;
- **small-run throughput**: paths/s at 10^4 over paths/s at 10^6; target >= 0.8.

Trees are measured interleaved (round by round, alternating their order), so load on a
shared machine falls on all of them alike; ratios to the first tree are reported. Each
measurement runs in a fresh subprocess that imports mcsd from its tree (``--worker``), so
trees never share a process or a numba cache. Only the standard library is imported at
top level. The table goes to stdout, everything to the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fixed_cost.json"
FULL_SIZES = (1, 1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1, 1_000, 10_000)
TARGETS = {"warm_run_s": 1.2, "fixed_cost_ms": 3.0, "throughput_ratio_1e4_1e6": 0.8}
SEED = 20250601
_RUN_CODE = (
    "import os, sys\n"
    "import mcsd\n"
    "root = os.path.realpath(os.environ['MCSD_BENCH_ROOT'])\n"
    "if not os.path.realpath(mcsd.__file__).startswith(root + os.sep):\n"
    "    sys.exit(f'imported {mcsd.__file__}, not mcsd from {root}')\n"
    "from mcsd.cli.main import main\n"
    "sys.exit(main())\n"
)


def _repeats(n: int) -> int:
    """Timed calls of an n-path simulate: more where a call is short and noisy."""
    return 30 if n <= 1_000 else 10 if n <= 10_000 else 3 if n <= 100_000 else 2


def worker(root: str, sizes: list[int], threads: int | None) -> dict:
    """simulate timings (best and median, s) per path count; mcsd imported from ``root``."""
    sys.path.insert(0, root)
    import mcsd

    if not Path(mcsd.__file__).resolve().is_relative_to(Path(root).resolve()):
        raise RuntimeError(f"imported {mcsd.__file__}, not mcsd from {root}")
    priors = mcsd.load_priors()
    for _ in range(2):  # load the kernels, fault the buffers in, fill the caches
        mcsd.simulate(priors, 1_000, SEED, threads=threads, progress=False)
    out = {}
    for n in sizes:
        times = []
        for _ in range(_repeats(n)):
            t = time.perf_counter()
            mcsd.simulate(priors, n, SEED, threads=threads, progress=False)
            times.append(time.perf_counter() - t)
        times.sort()
        out[str(n)] = {"best_s": times[0], "median_s": times[len(times) // 2], "calls": len(times)}
    return out


def _simulate_timings(root: Path, sizes: list[int], threads: int | None) -> dict:
    spec = json.dumps({"root": str(root), "sizes": sizes, "threads": threads})
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    marker = proc.stdout.rfind("@@RESULT@@")
    if proc.returncode != 0 or marker < 0:
        raise RuntimeError(f"worker for {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout[marker + len("@@RESULT@@") :])


def _warm_run(root: Path, out_dir: Path, threads: int | None) -> float:
    """Wall time (s) of one fresh ``mcsd run --quiet`` process importing mcsd from root."""
    env = dict(os.environ, MCSD_BENCH_ROOT=str(root))
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-c", _RUN_CODE, "run", "--quiet", "--out", str(out_dir / "r.nc")]
    cmd += [] if threads is None else ["--threads", str(threads)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=out_dir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"mcsd run from {root} failed:\n{proc.stderr[-3000:]}")
    return seconds


def fixed_cost(timings: dict) -> dict:
    """The fixed cost per call (ms): intercept of time = a + b n, least squares with
    relative weights over the counts >= 1,000; and the time of a 1-path call."""
    points = [(int(n), t["best_s"]) for n, t in timings.items() if int(n) >= 1_000]
    out: dict = {"one_path_ms": 1e3 * timings["1"]["best_s"] if "1" in timings else None}
    if len(points) >= 2:
        # weighted least squares by hand (no numpy here): weights 1 / t**2
        w = [1.0 / (t * t) for _, t in points]
        sw = sum(w)
        mx = sum(wi * n for wi, (n, _) in zip(w, points, strict=True)) / sw
        my = sum(wi * t for wi, (_, t) in zip(w, points, strict=True)) / sw
        sxx = sum(wi * (n - mx) ** 2 for wi, (n, _) in zip(w, points, strict=True))
        sxy = sum(wi * (n - mx) * (t - my) for wi, (n, t) in zip(w, points, strict=True))
        slope = sxy / sxx if sxx > 0 else 0.0
        out["fit_intercept_ms"] = 1e3 * (my - slope * mx)
        out["fit_us_per_path"] = 1e6 * slope
    return out


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def measure(trees: list[tuple[str, Path]], args: argparse.Namespace) -> dict:
    sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    runs = 2 if args.quick else args.runs
    rounds = 1 if args.quick else args.rounds
    result: dict = {
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpu_model": _cpu_model(),
            "logical_cpus": os.cpu_count(),
            "load_before": _load(),
        },
        "config": {"sizes": sizes, "threads": args.threads, "runs": runs, "rounds": rounds},
        "targets": TARGETS,
        "trees": {
            label: {"root": str(root), "warm_run_s": [], "simulate": []} for label, root in trees
        },
    }
    with tempfile.TemporaryDirectory(prefix="mcsd-bench-fixed-") as tmp:
        out_dir = Path(tmp)
        for label, root in trees:  # warm-up: fill each tree's numba cache
            print(f"warm-up {label} ...", file=sys.stderr, flush=True)
            _warm_run(root, out_dir, args.threads)
        for r in range(rounds):
            order = trees if r % 2 == 0 else trees[::-1]
            for label, root in order:
                print(f"round {r + 1}: simulate timings, {label}", file=sys.stderr, flush=True)
                timings = _simulate_timings(root, sizes, args.threads)
                result["trees"][label]["simulate"].append(timings)
            for i in range(runs):
                for label, root in order if i % 2 == 0 else order[::-1]:
                    seconds = _warm_run(root, out_dir, args.threads)
                    result["trees"][label]["warm_run_s"].append(seconds)
    result["machine"]["load_after"] = _load()
    for entry in result["trees"].values():
        best = {
            n: {"best_s": min(t[n]["best_s"] for t in entry["simulate"])}
            for n in entry["simulate"][0]
        }
        entry["simulate_best_s"] = {n: v["best_s"] for n, v in best.items()}
        entry["warm_run_best_s"] = min(entry["warm_run_s"])
        entry["fixed_cost"] = fixed_cost(best)
        lo, hi = str(10_000), str(max(sizes))
        if lo in best and hi != lo:
            rate = {n: int(n) / best[n]["best_s"] for n in (lo, hi)}
            entry[f"throughput_ratio_1e4_{hi}"] = rate[lo] / rate[hi]
            entry["paths_per_s"] = rate
    first = next(iter(result["trees"].values()))
    for entry in list(result["trees"].values())[1:]:
        entry["vs_first"] = {
            "warm_run": entry["warm_run_best_s"] / first["warm_run_best_s"],
            **{
                f"simulate_{n}": entry["simulate_best_s"][n] / first["simulate_best_s"][n]
                for n in first["simulate_best_s"]
            },
        }
    return result


def table(result: dict) -> list[str]:
    sizes = result["config"]["sizes"]
    head = f"{'tree':<12} {'warm run s':>10} " + " ".join(
        f"{'t(' + _n(n) + ') ms':>11}" for n in sizes
    )
    head += f" {'fixed ms':>9} {'1e4/max':>8}"
    lines = [
        f"{result['machine']['cpu_model']}, {result['machine']['logical_cpus']} logical CPUs; "
        f"load {result['machine']['load_before']} -> {result['machine']['load_after']}",
        head,
    ]
    for label, e in result["trees"].items():
        ratio = next((v for k, v in e.items() if k.startswith("throughput_ratio")), None)
        fit = e["fixed_cost"].get("fit_intercept_ms")
        row = f"{label:<12} {e['warm_run_best_s']:>10.2f} "
        row += " ".join(f"{1e3 * e['simulate_best_s'][str(n)]:>11.1f}" for n in sizes)
        row += f" {fit:>9.1f}" if fit is not None else f" {'-':>9}"
        row += f" {ratio:>8.2f}" if ratio is not None else f" {'-':>8}"
        lines.append(row)
        if "vs_first" in e:
            v = e["vs_first"]
            row = f"{'  x first':<12} {v['warm_run']:>10.2f} "
            row += " ".join(f"{v['simulate_' + str(n)]:>11.2f}" for n in sizes)
            lines.append(row)
    t = result["targets"]
    lines.append(
        f"targets: warm run <= {t['warm_run_s']} s; fixed cost <= {t['fixed_cost_ms']} ms; "
        f"paths/s at 1e4 >= {t['throughput_ratio_1e4_1e6']} x at 1e6"
    )
    return lines


def _n(n: int) -> str:
    return f"1e{len(str(n)) - 1}" if n > 1 else "1"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke: up to 1e4 paths, 2 runs")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file (default: %(default)s)")
    ap.add_argument("--tree", action="append", default=[], help="another source tree (DIR)")
    ap.add_argument("--ref", action="append", default=[], help="a git revision to compare")
    ap.add_argument("--runs", type=int, default=5, help="mcsd run processes per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of simulate timings")
    ap.add_argument("--threads", type=int, help="threads (default: mcsd's, the usable cores)")
    ap.add_argument(
        "--skip-working", action="store_true", help="measure only the --tree / --ref trees"
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        timings = worker(spec["root"], spec["sizes"], spec["threads"])
        sys.stdout.write("\n@@RESULT@@" + json.dumps(timings) + "\n")
        return 0
    with ExitStack() as stack:
        trees = [] if args.skip_working else [("working", ROOT)]
        trees += [(Path(d).resolve().name, Path(d).resolve()) for d in args.tree]
        if args.ref:
            from revisions import worktree  # the script's own folder is on sys.path

            for rev in args.ref:
                into = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tree"
                trees.append((rev, stack.enter_context(worktree(rev, into))))
        if not trees:
            ap.error("nothing to measure: --skip-working needs --tree or --ref")
        result = measure(trees, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for line in table(result):
        print(line)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
