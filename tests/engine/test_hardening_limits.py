"""Issue 15 (hardening), the engine's limits: case 11 (an up-front memory estimate, a bound
on threads) and the environment numba and the engine read (NUMBA_NUM_THREADS,
NUMBA_CACHE_DIR), the latter in subprocesses (numba reads its variables at import).

Nothing here allocates a large run: the 3,000-region case must be refused before any
accumulator exists (``Accumulators.empty`` is replaced by a tripwire).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mcsd
from mcsd.engine import executor
from mcsd.engine.executor import (
    check_memory,
    default_threads,
    estimate_run_bytes,
    run_sizes,
    thread_limit,
    usable_cores,
    validate_run,
)
from mcsd.kernels.layout import N_MW_VARS, N_VARS
from mcsd.results.accumulators import Accumulators
from mcsd.testing import toy


def _many_regions(n: int, horizon: str = "2200-12") -> mcsd.Priors:
    regions = [toy.region(f"r{i}", 10.0, 20.0) for i in range(n)]
    return toy.make_priors(regions, [toy.buyer("b")], horizon_month=horizon)


def test_estimate_counts_the_histograms_and_the_kept_paths() -> None:
    sizes = run_sizes(_many_regions(2, "2025-12"))
    assert sizes == (3, 12, 1)
    one = estimate_run_bytes(sizes, 1)
    mw_hist = N_MW_VARS * 3 * 12 * 2002 * 8
    assert mw_hist + mw_hist // 4 < one < 3 * mw_hist  # + uint16 pending + the rest
    assert estimate_run_bytes(sizes, 4) == 4 * one
    assert estimate_run_bytes(sizes, 1, 1000, keep_paths=True) == one + 1000 * (N_VARS * 36 + 3) * 8


def test_estimate_matches_what_the_accumulators_allocate() -> None:
    priors = _many_regions(3, "2026-06")
    run = executor.CompiledRun.build(priors, 1)
    acc = run.new_accumulators()
    allocated = sum(a.nbytes for a in acc.counts) + sum(a.nbytes for a in acc.pending)
    assert run.sizes == run_sizes(priors)
    assert estimate_run_bytes(run.sizes, 1) == allocated - acc.pending.paths.nbytes


@pytest.fixture
def no_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    def tripwire(sizes: object) -> None:
        raise AssertionError(f"accumulators allocated for {sizes}: the check came too late")

    monkeypatch.setattr(Accumulators, "empty", classmethod(lambda cls, s: tripwire(s)))


def test_3000_regions_are_refused_by_validate_run(no_allocation: None) -> None:
    priors = _many_regions(3000)
    with pytest.raises(ValueError, match=r"needs about .* GiB of memory .* available") as info:
        validate_run(100, 1, 1, priors=priors)
    assert "3000 regions" in str(info.value) and "\n" not in str(info.value)


def test_3000_regions_are_refused_by_simulate(no_allocation: None) -> None:
    """Needs ``validate_run(..., priors=p, keep_paths=keep_paths)`` in ``mcsd.simulate``."""
    with pytest.raises(ValueError, match=r"needs about .* GiB of memory"):
        mcsd.simulate(_many_regions(3000), n_paths=100, seed=1, threads=1, progress=False)


def test_memory_check_names_the_estimate_and_the_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = run_sizes(_many_regions(7, "2028-12"))
    need = estimate_run_bytes(sizes, 2)
    monkeypatch.setattr(executor, "available_memory", lambda: need - 1)
    with pytest.raises(ValueError, match=r"GiB of memory \(2 thread\(s\)") as info:
        check_memory(sizes, 2)
    assert "available" in str(info.value)
    monkeypatch.setattr(executor, "available_memory", lambda: need)
    assert check_memory(sizes, 2) == need
    monkeypatch.setattr(executor, "available_memory", lambda: None)  # unknown: no check
    assert check_memory(sizes, 10**4) > 0


def test_keep_paths_count_in_the_memory_check(monkeypatch: pytest.MonkeyPatch) -> None:
    priors = _many_regions(7, "2028-12")
    base = estimate_run_bytes(run_sizes(priors), 1)
    monkeypatch.setattr(executor, "available_memory", lambda: base + 10_000)
    validate_run(10**6, 1, 1, priors=priors)  # without keep_paths: fits
    with pytest.raises(ValueError, match="kept paths"):
        validate_run(10**6, 1, 1, priors=priors, keep_paths=True)


def test_available_memory_is_a_positive_number_here() -> None:
    avail = executor.available_memory()
    assert avail is None or avail > 0


def test_threads_above_the_limit_are_refused() -> None:
    limit = thread_limit()
    assert limit == max(8, 4 * usable_cores())
    assert validate_run(10, 1, limit)[2] == limit
    with pytest.raises(ValueError, match=rf"threads must be at most {limit} .* got 100000"):
        validate_run(10, 1, 100_000)
    if limit < 100:
        with pytest.raises(ValueError, match="usable cores"):
            validate_run(10, 1, 100)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        validate_run(10, 1, 0)


def test_simulate_refuses_100_threads_when_above_the_limit() -> None:
    if thread_limit() >= 100:
        pytest.skip(f"{usable_cores()} cores: 100 threads are within the limit")
    with pytest.raises(ValueError, match="threads must be at most"):
        mcsd.simulate(_many_regions(2, "2025-06"), n_paths=10, threads=100, progress=False)


@pytest.mark.parametrize(
    "value", ["0", "-1", "abc", "1e3", "2.5", "99999999999999999999", "5000", "٣", "1 2"]
)
def test_invalid_numba_num_threads_is_a_value_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("NUMBA_NUM_THREADS", value)
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS") as info:
        default_threads()
    assert repr(value) in str(info.value)
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        validate_run(10, 1, None)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 2 ", 2), ("", None)])
def test_valid_numba_num_threads(monkeypatch: pytest.MonkeyPatch, value: str, expected) -> None:
    monkeypatch.setenv("NUMBA_NUM_THREADS", value)
    assert default_threads() == (usable_cores() if expected is None else expected)


def test_numba_num_threads_above_the_limit_is_capped_to_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NUMBA_NUM_THREADS", str(min(4096, thread_limit() + 1)))
    if thread_limit() + 1 > 4096:
        pytest.skip("more than 1024 cores")
    assert validate_run(10, 1, None)[2] == usable_cores()


# ----------------------------------------------------------------------------- subprocesses


def _mcsd(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "mcsd", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=full,
        cwd=cwd,
    )


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e3", "100000"])
def test_cli_with_invalid_numba_num_threads_exits_2_in_one_line(tmp_path: Path, value: str) -> None:
    """Needs the CLI to map ValueError to exit 2 and ``mcsd.kernels.jit`` to check the
    variable before importing numba (numba itself raises at import for 0 and -1)."""
    out = tmp_path / "o.nc"
    proc = _mcsd(
        ["run", "cic2025", "--paths", "10", "--out", str(out), "--quiet"],
        {"NUMBA_NUM_THREADS": value},
        tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "NUMBA_NUM_THREADS" in lines[0], proc.stderr
    assert not out.exists()


def test_unusable_numba_cache_dir_still_runs(tmp_path: Path) -> None:
    """NUMBA_CACHE_DIR under a regular file (no user, root included, can create it)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "o.nc"
    proc = _mcsd(
        ["run", "cic2025", "--paths", "10", "--out", str(out), "--quiet"],
        {"NUMBA_CACHE_DIR": str(blocker / "cache")},
        tmp_path,
    )
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:  # allowed: one line saying so
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert "NUMBA_CACHE_DIR" in proc.stderr
    else:
        assert out.exists()
