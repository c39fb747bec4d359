"""Dask distributed runs: bit-identical to local runs, robust to a lost worker, bounded errors."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")

from mcsd.api import simulate  # noqa: E402
from mcsd.cli import main  # noqa: E402
from mcsd.engine import distributed as mdist  # noqa: E402
from mcsd.engine.executor import CompiledRun, run_paths  # noqa: E402
from mcsd.priors.loader import load_priors  # noqa: E402

SEED = 7


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def priors():
    return load_priors(None)


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    a, b = a.copy(), b.copy()
    a.attrs.pop("created")
    b.attrs.pop("created")
    xr.testing.assert_identical(a, b)


def test_pack_roundtrip_and_tree(priors):
    run = CompiledRun.build(priors, SEED)
    parts = [run_paths(run, 50, 1, first_path=p0) for p0 in range(0, 250, 50)]
    back = mdist.unpack(mdist.pack(parts[0]))
    for name in ("shortage", "turning", "occupancy_fixed", "occupancy_hist", "mw_hist"):
        got, want = getattr(back, name), getattr(parts[0], name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    tree = mdist.OrderedTree()
    for part in parts:
        tree.push(part)
    total, direct = tree.result(), run_paths(run, 250, 1)
    assert total.n_paths == 250
    np.testing.assert_array_equal(total.mw_hist, direct.mw_hist)
    np.testing.assert_array_equal(total.vmax, direct.vmax)


def test_choose_batch():
    assert mdist.choose_batch(10**6, 2) == 65536
    assert mdist.choose_batch(1000, 8) == mdist.MIN_TASK_PATHS
    assert mdist.choose_batch(10**8, 2) == mdist.MAX_TASK_PATHS


@pytest.mark.parametrize("batch", [4096, 12288])
def test_two_workers_identical_to_local(client, priors, batch):
    n = 30_000
    local = simulate(priors, n_paths=n, seed=SEED, threads=2, progress=False)
    done: list[int] = []
    got = simulate(priors, n_paths=n, seed=SEED, client=client, batch_paths=batch, progress=False)
    _same(got, local)
    # progress callback: every path reported once
    run = CompiledRun.build(priors, SEED)
    mdist.run_distributed(client, run, 9000, batch_paths=4096, on_progress=done.append)
    assert sorted(done) == [808, 4096, 4096]


def test_keep_paths_zarr(client, priors, tmp_path):
    n = 10_000
    store = tmp_path / "paths.zarr"
    got = simulate(
        priors,
        n_paths=n,
        seed=SEED,
        keep_paths=True,
        client=client,
        batch_paths=4096,
        keep_paths_store=store,
        progress=False,
    )
    assert store.is_dir()
    assert got["occupancy_path"].chunks is not None  # lazily opened (dask-backed)
    assert got["turning_month_path"].dtype == np.int64
    assert got["path"].dtype == np.int64 and got["occupancy_path"].dtype == np.float64
    local = simulate(priors, n_paths=n, seed=SEED, keep_paths=True, progress=False)
    _same(got.load(), local)


def test_unreachable_scheduler(monkeypatch, tmp_path, capsys):
    t0 = time.monotonic()
    with pytest.raises(mdist.DistributedError, match="127.0.0.1:9"):
        mdist.connect("tcp://127.0.0.1:9", timeout=2)
    assert time.monotonic() - t0 < 20
    monkeypatch.setattr(mdist, "CONNECT_TIMEOUT_S", 2.0)
    t0 = time.monotonic()
    code = main(["run", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "r.nc")])
    assert code == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler" in err[0]


def test_killed_worker_same_result(client, priors):
    """Kill a worker process while it runs tasks: Dask recomputes them, same numbers."""
    n, batch = 49_152, 2048  # 24 tasks
    local = simulate(priors, n_paths=n, seed=SEED, threads=2, progress=False)
    out: dict[str, object] = {}

    def go() -> None:
        try:
            out["ds"] = simulate(
                priors, n_paths=n, seed=SEED, client=client, batch_paths=batch, progress=False
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.02)
    assert victim is not None, "no task was ever seen processing"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)  # the worker process (its nanny starts a fresh one)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert "error" not in out, out.get("error")
    assert victim not in client.scheduler_info()["workers"]
    _same(out["ds"], local)


def test_nowcast_on_two_workers_identical_to_local(client, priors):
    """A weighted run's two passes as tasks: the same bits as locally (integer weights)."""
    from mcsd.priors.observations import load_observations

    obs = load_observations("observations_example", priors)
    local = simulate(priors, 20_000, SEED, threads=2, observations=obs, progress=False)
    remote = simulate(
        priors, 20_000, SEED, observations=obs, client=client, batch_paths=8192, progress=False
    )
    _same(local, remote)
    assert remote.attrs["effective_sample_size"] > 1000
