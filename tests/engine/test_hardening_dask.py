"""Hardening of the Dask runs (issue 15): cases 4 (keep_paths_store), 8 (workers that differ
from the client) and 12 (a scheduler address that is not one; Ctrl-C on a local cluster)."""

from __future__ import annotations

import errno
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")

from mcsd.api import simulate  # noqa: E402
from mcsd.cli import main  # noqa: E402
from mcsd.engine import distributed as mdist  # noqa: E402
from mcsd.engine.executor import CompiledRun  # noqa: E402
from mcsd.priors.loader import load_priors  # noqa: E402

SEED = 3
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def priors():
    return load_priors(None)


def _keep(priors, client, store=None, n=3000):
    return simulate(
        priors,
        n_paths=n,
        seed=SEED,
        keep_paths=True,
        client=client,
        batch_paths=2048,
        keep_paths_store=store,
        progress=False,
    )


# ---- case 4: keep_paths_store -----------------------------------------------------------


def test_store_refuses_a_users_folder(client, priors, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(mdist.PathStoreError, match="notes.txt") as info:
        _keep(priors, client, folder)
    assert str(folder) in str(info.value) and "not an mcsd store" in str(info.value)
    assert (folder / "notes.txt").read_text() == "keep me"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(mdist.PathStoreError, match="not a folder"):
        _keep(priors, client, a_file)
    assert a_file.read_text() == "x"


def test_store_mcsd_store_is_overwritten_but_not_extras(client, priors, tmp_path):
    store = tmp_path / "paths.zarr"
    first = _keep(priors, client, store, n=3000)
    assert mdist.is_mcsd_store(store)
    assert first.sizes["path"] == 3000
    first.close()
    second = _keep(priors, client, store, n=2500)  # an mcsd store: overwritten
    assert second.sizes["path"] == 2500 and store.is_dir()
    second.close()
    assert store.is_dir()  # the caller's store stays after close
    (store / "my_notes.txt").write_text("mine")  # no longer only mcsd's arrays
    with pytest.raises(mdist.PathStoreError, match="my_notes.txt|not an mcsd store"):
        _keep(priors, client, store)
    assert (store / "my_notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    _keep(priors, client, empty).close()  # an empty folder is fine
    assert mdist.is_mcsd_store(empty)


def test_temporary_store_removed_on_close_and_when_unreferenced(client, priors):
    before = set(mdist._TEMP_STORES)
    ds = _keep(priors, client)
    (store,) = set(mdist._TEMP_STORES) - before
    assert Path(store).is_dir()
    sub = ds["occupancy_path"].isel(path=slice(0, 5))
    assert float(sub.sum()) > 0
    ds.close()
    assert not Path(store).exists() and store not in mdist._TEMP_STORES

    ds = _keep(priors, client)
    (store,) = set(mdist._TEMP_STORES) - before
    derived = ds[["occupancy_path"]].isel(path=slice(0, 10))
    del ds
    gc.collect()
    assert Path(store).is_dir()  # a derived Dataset still reads it
    assert derived["occupancy_path"].load().sizes["path"] == 10
    del derived
    gc.collect()
    assert not Path(store).exists() and store not in mdist._TEMP_STORES


def test_temporary_store_removed_when_the_run_fails(client, priors, monkeypatch):
    before = set(mdist._TEMP_STORES)
    created: list[str] = []
    real = mdist.default_store

    def spy() -> str:
        created.append(real())
        return created[-1]

    monkeypatch.setattr(mdist, "default_store", spy)

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(mdist, "check_workers", boom)
    with pytest.raises(RuntimeError, match="boom"):
        _keep(priors, client)
    assert created and not Path(created[0]).exists()
    assert set(mdist._TEMP_STORES) == before
    assert mdist.remove_temp_store(str(ROOT)) is None and ROOT.is_dir()  # never others'


# ---- case 8: workers that differ from the client -------------------------------------------


def test_identity_is_the_installed_sources_libraries_and_cpu():
    import llvmlite
    import numba
    import numpy
    import scipy
    from numba.core.registry import cpu_target

    ident = mdist.identity()
    assert tuple(ident) == mdist.IDENTITY_FIELDS
    assert len(ident["digest"]) == 64 and ident["version"]
    assert ident == mdist.identity()
    for module in (numba, llvmlite, numpy, scipy):
        assert ident[module.__name__] == module.__version__
    triple, name, features = cpu_target.target_context.codegen().magic_tuple()
    assert ident["cpu"] == f"{triple} {name}" and ident["cpu_features"] == features
    assert "+" in features  # LLVM's feature string, e.g. +avx2,-avx512f,...


def test_worker_with_other_kernels_is_refused(client, priors, monkeypatch):
    odd = sorted(client.scheduler_info()["workers"])[1]
    real = mdist.identity()

    def fake(dask_worker=None):
        ident = dict(real)
        if dask_worker is not None and dask_worker.address == odd:
            ident["digest"] = "0" * 64
            ident["version"] = "0.0.0-other"
        return ident

    monkeypatch.setattr(mdist, "worker_identity", fake)
    with pytest.raises(mdist.DistributedError, match=odd) as info:
        simulate(priors, n_paths=1000, seed=SEED, client=client, progress=False)
    msg = str(info.value)
    assert "0.0.0-other" in msg and real["version"] in msg and real["digest"][:12] in msg
    assert f"mcsd version: client {real['version']}, worker 0.0.0-other" in msg
    assert "\n" not in msg
    monkeypatch.undo()
    simulate(priors, n_paths=1000, seed=SEED, client=client, progress=False)  # all equal


def _flip(features: str, flag: str) -> str:
    """``features`` with ``+flag`` and ``-flag`` swapped (or ``+flag`` added)."""
    parts = [f for f in features.split(",") if f and f[1:] != flag]
    on = f"+{flag}" in features.split(",")
    return ",".join([*parts, f"{'-' if on else '+'}{flag}"])


def test_worker_with_other_libraries_or_cpu_is_refused(client, priors, monkeypatch):
    """One worker has another numba, the other compiles for other CPU features: refused
    before any task runs, one line naming each worker, the field, ours and theirs."""
    first, second = sorted(client.scheduler_info()["workers"])
    real = mdist.identity()
    other_features = _flip(real["cpu_features"], "avx512f")
    submitted: list[object] = []

    def fake(dask_worker=None):
        ident = dict(real)
        if dask_worker.address == first:
            ident["numba"] = "0.0.1"
        else:
            ident["cpu_features"] = other_features
        return ident

    monkeypatch.setattr(mdist, "worker_identity", fake)
    monkeypatch.setattr(mdist, "run_task", lambda *a, **k: submitted.append(a))
    with pytest.raises(mdist.DistributedError) as info:
        simulate(priors, n_paths=1000, seed=SEED, client=client, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and not submitted
    assert msg.startswith("Dask worker(s) differ from the client, which would change the numbers")
    flags = real["cpu_features"].split(",")
    ours = next((f for f in flags if f[1:] == "avx512f"), "none")
    theirs = "-avx512f" if ours == "+avx512f" else "+avx512f"
    assert f"{first}: numba: client {real['numba']}, worker 0.0.1" in msg
    assert f"{second}: CPU features: {ours} on the client, {theirs} on the worker" in msg
    assert "mcsd version" not in msg and "scipy" not in msg  # only what differs


def test_differences_name_each_field():
    ours = mdist.identity()
    theirs = {**ours, "scipy": "1.0.0", "cpu": "aarch64-unknown-linux-gnu neoverse-v2"}
    assert mdist.differences(ours, ours) == []
    assert mdist.differences(ours, theirs) == [
        f"scipy: client {ours['scipy']}, worker 1.0.0",
        f"CPU target: client {ours['cpu']}, worker aarch64-unknown-linux-gnu neoverse-v2",
    ]
    assert mdist.differences(ours, "nonsense") == ["no mcsd identity (got str)"]


def test_task_checks_identity_again(priors):
    run = CompiledRun.build(priors, SEED)
    mine = mdist.identity()
    expected = tuple(mine[k] for k in mdist.IDENTITY_FIELDS)
    assert mdist.run_task(run, 0, 10, expected=expected)["n_paths"] == 10
    other = {**mine, "version": "0.0.0-other", "llvmlite": "0.1.0"}
    with pytest.raises(mdist.WorkerMismatchError) as info:
        mdist.run_task(run, 0, 10, expected=tuple(other[k] for k in mdist.IDENTITY_FIELDS))
    msg = str(info.value)
    assert f"mcsd version: client 0.0.0-other, worker {mine['version']}" in msg
    assert f"llvmlite: client 0.1.0, worker {mine['llvmlite']}" in msg
    assert "numba" not in msg
    with pytest.raises(mdist.WorkerMismatchError, match="0.0.0-other"):
        mdist.run_task(run, 0, 10, expected=("0.0.0-other", "f" * 64))  # an older client


# ---- case 12: addresses that are not a scheduler; Ctrl-C ----------------------------------


class _Server:
    """A plain TCP server on 127.0.0.1 that says nothing or garbage (stopped by the test)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.mode == "garbage":
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"\xff" * 64)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("mode", ["silent", "garbage"])
def test_live_server_that_is_not_a_scheduler(mode, monkeypatch, tmp_path, capsys):
    server = _Server(mode)
    try:
        address = f"tcp://127.0.0.1:{server.port}"
        t0 = time.monotonic()
        with pytest.raises(mdist.DistributedError, match=f"127.0.0.1:{server.port}"):
            mdist.connect(address, timeout=3)
        assert time.monotonic() - t0 < 20
        monkeypatch.setattr(mdist, "CONNECT_TIMEOUT_S", 3.0)
        t0 = time.monotonic()
        code = main(["run", "--scheduler", address, "--out", str(tmp_path / "r.nc")])
        assert time.monotonic() - t0 < 20
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Dask scheduler" in err[0] and str(server.port) in err[0]
    finally:
        server.close()
    assert not (tmp_path / "r.nc").exists()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]  # closed on exit: nothing listens there any more


def test_refused_connection_fails_fast(monkeypatch, tmp_path, capsys):
    """Nothing listens at the port: refused at once, not after the ~10 s connect timeout."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(mdist.DistributedError) as info:
        mdist.connect(address)  # the default timeout
    assert time.monotonic() - t0 < mdist.CONNECT_TIMEOUT_S / 2
    assert str(info.value) == (
        f"cannot reach the Dask scheduler at {address!r} ({os.strerror(errno.ECONNREFUSED)})"
    )
    t0 = time.monotonic()
    code = main(["run", "--scheduler", address, "--out", str(tmp_path / "r.nc")])
    assert time.monotonic() - t0 < mdist.CONNECT_TIMEOUT_S / 2
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Connection refused" in err[0] and str(port) in err[0]
    t0 = time.monotonic()
    with pytest.raises(mdist.DistributedError, match="unknown host"):
        mdist.connect("tcp://no-such-host.invalid:8786")
    assert time.monotonic() - t0 < mdist.CONNECT_TIMEOUT_S / 2


def test_a_real_scheduler_still_connects(client):
    t0 = time.monotonic()
    other = mdist.connect(client.scheduler.address)
    try:
        assert other.scheduler_info()["workers"].keys() == client.scheduler_info()["workers"].keys()
    finally:
        other.close()
    assert time.monotonic() - t0 < mdist.CONNECT_TIMEOUT_S


@pytest.mark.parametrize("address", ["garbage", "tcp://127.0.0.1:notaport", "foo://bar"])
def test_garbage_address_one_line_no_traceback(address, tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mcsd", "run", "--scheduler", address, "--out", "r.nc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a Dask scheduler address" in lines[0], proc.stderr
    assert repr(address) in lines[0]


@pytest.mark.slow
def test_ctrl_c_on_a_local_cluster_is_quiet(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole process group) during a --workers 2 run."""
    cmd = [sys.executable, "-m", "mcsd", "run", "--workers", "2", "--paths", "2000000"]
    proc = subprocess.Popen(
        [*cmd, "--out", "r.nc"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    err = bytearray()

    def drain() -> None:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            err.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while b"path/s" not in err and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert b"path/s" in err, err.decode(errors="replace")  # the progress bar runs
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        proc.wait(timeout=60)
        assert time.monotonic() - t0 < 30
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(10)
    text = err.decode(errors="replace")
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "lost" not in text and "WARNING" not in text, text
    assert text.rstrip().endswith("mcsd: interrupted")
    assert not (tmp_path / "r.nc").exists()
