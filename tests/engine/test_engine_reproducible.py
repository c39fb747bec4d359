"""A run is a pure function of (priors, n_paths, seed): bit for bit, whatever the threads,
the chunking, the block size or NUMBA_NUM_THREADS; and a path's values do not depend on the
run's length (the first n paths of a longer run are the n-path run)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import mcsd
import mcsd.api
import mcsd.engine.executor as executor
from mcsd.testing.toy import drop_created

N = 20_000
SEED = 7


@pytest.fixture(scope="module")
def baseline(study_priors):
    return drop_created(mcsd.simulate(study_priors, n_paths=N, seed=SEED, threads=1))


@pytest.mark.parametrize("threads", [2, 7])
def test_threads_do_not_change_the_result(study_priors, baseline, threads):
    ds = mcsd.simulate(study_priors, n_paths=N, seed=SEED, threads=threads)
    xr.testing.assert_identical(drop_created(ds), baseline)


@pytest.mark.parametrize(("chunk", "block"), [(1000, 1), (4096, 256), (7777, 100)])
def test_chunk_and_block_sizes_do_not_change_the_result(
    study_priors, baseline, monkeypatch, chunk, block
):
    # simulate picks its chunk from the run's size (task_paths), so patching CHUNK_PATHS
    # alone would not set the chunking: pass it to run_paths (looked up in mcsd.api)
    # explicitly as well. The block size is read by CompiledRun.record at each call.
    calls = []
    real = executor.run_paths

    def spy(*args, **kw):
        kw["chunk"] = chunk
        calls.append(chunk)
        return real(*args, **kw)

    kernel_calls = []
    real_kernel = executor.simulate_paths

    def kernel_spy(*args):
        kernel_calls.append((args[2], args[3], args[5]))  # path0, n, block
        return real_kernel(*args)

    monkeypatch.setattr(executor, "CHUNK_PATHS", chunk)
    monkeypatch.setattr(executor, "BLOCK_PATHS", block)
    monkeypatch.setattr(executor, "simulate_paths", kernel_spy)
    monkeypatch.setattr(mcsd.api, "run_paths", spy)
    ds = mcsd.simulate(study_priors, n_paths=N, seed=SEED, threads=2)
    assert calls == [chunk]
    assert len(executor.chunks(N, chunk)) == -(-N // chunk)
    # the kernels really ran these chunks with this block size (or the run could not differ)
    assert sorted(c[:2] for c in kernel_calls) == executor.chunks(N, chunk)
    assert {c[2] for c in kernel_calls} == {block}
    xr.testing.assert_identical(drop_created(ds), baseline)


def test_chunks_cover_every_path_once():
    for n, c, first in [(20_000, 7777, 0), (5, 4096, 3), (4096, 4096, 10), (1, 1, 0)]:
        parts = executor.chunks(n, c, first)
        paths = np.concatenate([np.arange(p, p + k) for p, k in parts])
        assert np.array_equal(paths, np.arange(first, first + n))


def test_task_sizes_keep_every_thread_busy():
    from mcsd.engine.executor import BLOCK_PATHS, CHUNK_PATHS, task_paths

    assert task_paths(10**6, 1) == CHUNK_PATHS
    for threads in (2, 3, 7):
        previous = 0
        for n in (1, 100, 1000, 10_000, 30_000, 10**5, 10**7):
            size = task_paths(n, threads)
            assert size % BLOCK_PATHS == 0 and BLOCK_PATHS <= size <= CHUNK_PATHS
            assert size >= previous  # larger runs never get smaller tasks
            previous = size
            if size > BLOCK_PATHS:  # not already at the floor: >= 4 tasks per thread
                assert len(executor.chunks(n, size)) >= 4 * threads


def test_small_run_on_threads_uses_small_tasks(study_priors, monkeypatch):
    sizes = []
    real = executor.chunks

    def spy(n_paths, chunk=executor.CHUNK_PATHS, first=0):
        sizes.append(chunk)
        return real(n_paths, chunk, first)

    monkeypatch.setattr(executor, "chunks", spy)
    mcsd.simulate(study_priors, n_paths=10_000, seed=SEED, threads=2, progress=False)
    assert sizes == [executor.task_paths(10_000, 2)] and sizes[0] < executor.CHUNK_PATHS


def test_same_seed_twice_identical(study_priors, baseline):
    ds = mcsd.simulate(study_priors, n_paths=N, seed=SEED, threads=1)
    xr.testing.assert_identical(drop_created(ds), baseline)


def test_different_seed_differs(study_priors, baseline):
    ds = mcsd.simulate(study_priors, n_paths=N, seed=SEED + 1, threads=1)
    assert not np.array_equal(ds["p_shortage"].values, baseline["p_shortage"].values)
    assert not np.array_equal(ds["occupancy"].values, baseline["occupancy"].values)


def test_first_paths_of_a_longer_run(study_priors):
    short = mcsd.simulate(study_priors, n_paths=3000, seed=SEED, keep_paths=True)
    long = mcsd.simulate(study_priors, n_paths=10_000, seed=SEED, keep_paths=True, threads=2)
    for name in ("occupancy_path", "demand_path", "supply_path", "unmet_demand_path"):
        a = short[name].values
        b = long[name].isel(path=slice(0, 3000)).values
        assert np.array_equal(a, b), name
    assert np.array_equal(
        short["turning_month_path"].values,
        long["turning_month_path"].isel(path=slice(0, 3000)).values,
    )
    # and the 3000-path run's summaries are a function of exactly those paths
    occ = short["occupancy_path"].values
    np.testing.assert_array_equal(
        short["p_shortage"].values, np.mean(occ >= study_priors.threshold, axis=0)
    )


SCRIPT = """
import sys, mcsd
ds = mcsd.simulate(None, n_paths={n}, seed={seed}, progress=False)
ds.attrs.clear()
for v in ds.variables.values():
    v.attrs.clear()
ds.to_netcdf(sys.argv[1], engine="h5netcdf")
"""


def test_numba_num_threads_env_does_not_change_the_result(tmp_path):
    files = []
    for nt in ("1", "2"):
        out = tmp_path / f"run_{nt}.nc"
        env = dict(os.environ, NUMBA_NUM_THREADS=nt)
        subprocess.run(
            [sys.executable, "-c", SCRIPT.format(n=N, seed=SEED), str(out)],
            env=env,
            check=True,
            timeout=300,
        )
        files.append(out)
    a, b = (xr.open_dataset(f, engine="h5netcdf").load() for f in files)
    assert set(a.data_vars) == set(b.data_vars) and len(a.data_vars) >= 13
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
    xr.testing.assert_identical(a, b)


def _host_features() -> str:
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features().flatten()


def test_vector_width_does_not_change_the_result(tmp_path):
    """mcsd asks for 512-bit vectors on AVX-512 CPUs (mcsd.kernels.jit, when the kernels
    are loaded); LLVM's default there is 256. Same numbers either way (one cold compile in
    the second process)."""
    import llvmlite.binding as llvm

    if not llvm.get_host_cpu_features().get("avx512f", False):
        pytest.skip("no AVX-512 on this CPU: one vector width only")
    files = []
    for name, features in (("512", None), ("256", _host_features())):
        out = tmp_path / f"run_{name}.nc"
        env = dict(os.environ)
        env.pop("NUMBA_CPU_FEATURES", None)
        if features is not None:
            env["NUMBA_CPU_FEATURES"] = features
        wide = name == "512"
        check = (  # ``import mcsd`` is lazy: the engine (and mcsd.kernels.jit) loads here
            "import os; import mcsd; mcsd.simulate; "
            f"assert os.environ['NUMBA_CPU_FEATURES'].endswith('-prefer-256-bit') == {wide}"
        )
        subprocess.run([sys.executable, "-c", check], env=env, check=True, timeout=120)
        subprocess.run(
            [sys.executable, "-c", SCRIPT.format(n=4000, seed=SEED), str(out)],
            env=env,
            check=True,
            timeout=600,
        )
        files.append(out)
    a, b = (xr.open_dataset(f, engine="h5netcdf").load() for f in files)
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name


def test_a_user_cpu_setting_wins():
    env = dict(os.environ, NUMBA_CPU_FEATURES="+sse2")
    code = (  # mcsd.simulate loads the engine and mcsd.kernels.jit, which makes the setting
        "import os, sys, mcsd; mcsd.simulate; assert 'mcsd.kernels.jit' in sys.modules; "
        "assert os.environ['NUMBA_CPU_FEATURES'] == '+sse2'"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
