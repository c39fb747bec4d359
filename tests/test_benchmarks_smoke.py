"""Smoke test of benchmarks/bench_engine.py: the quick mode runs and writes a sane JSON.

Timings are not asserted (they depend on the machine and its load), only that every
configuration ran: both implementations with positive paths/s, the cold and cached
compile times, and the machine description.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_engine.py"


def test_bench_engine_quick(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    result = json.loads(out.read_text())
    assert result["mode"] == "quick"

    rows = result["rows"]
    assert {r["impl"] for r in rows} == {"engine", "reference", "nowcast"}
    nowcast = [r for r in rows if r["impl"] == "nowcast"]
    assert nowcast and all(r["cost_vs_unweighted"] > 1 for r in nowcast)  # two+ passes
    for r in rows:
        assert "error" not in r, r
        assert r["paths_per_s"] > 0
        assert r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0
    assert {r["threads"] for r in rows if r["impl"] == "engine"} == {1, 2}
    assert any("speedup_vs_reference" in r for r in rows if r["impl"] == "engine")

    for key in ("cold", "cached"):
        assert result["compile"][key]["total_s"] > 0

    machine = result["machine"]
    assert machine["cpu_model"]
    assert machine["logical_cpus"] >= 1
    assert machine["memory_gb"] > 0
    for pkg in ("python", "numpy", "numba"):
        assert machine["versions"][pkg]
