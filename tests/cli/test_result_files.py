"""Result files: written atomically (a writer killed mid-write leaves the earlier file
intact), and files mcsd did not write, or cannot read, raise ``ResultFileError`` (``mcsd
plot``: exit 2, one line)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mcsd
from mcsd.cli import main
from mcsd.results.io import RESULT_FORMAT_VERSION, ResultFileError, read_result, write_netcdf
from mcsd.testing.toy import buyer, make_priors, region


@pytest.fixture(scope="module")
def small_result() -> xr.Dataset:
    priors = make_priors([region("a", 70.0, 100.0)], [buyer("b0", {"a": {2025: 30.0}})])
    return mcsd.simulate(priors, n_paths=32, seed=3, progress=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip(small_result: xr.Dataset, tmp_path: Path) -> None:
    path = write_netcdf(small_result, tmp_path / "r.nc")
    back = read_result(path)
    xr.testing.assert_identical(back.drop_attrs(), small_result.drop_attrs())
    assert back.attrs["mcsd_format_version"] == RESULT_FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]  # no temp file left behind


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import xarray as xr
    from mcsd.results.io import write_netcdf

    # 384 MB, uncompressed: the write takes long enough to be caught (constant data: the
    # bytes on disk are as many, without the cost of drawing random numbers)
    big = xr.Dataset({f"v{i}": (("x", "y"), np.full((2000, 2000), i + 0.5)) for i in range(12)})
    print("ready", flush=True)
    write_netcdf(big, sys.argv[1])
    print("done", flush=True)
    """
)


def test_killed_writer_leaves_earlier_file_intact(small_result: xr.Dataset, tmp_path: Path) -> None:
    target = tmp_path / "result.nc"
    write_netcdf(small_result, target)
    before = _digest(target)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        temp: Path | None = None
        while time.monotonic() < deadline:
            temps = [p for p in tmp_path.glob(".result.nc.*.tmp") if p.stat().st_size > 0]
            if temps:
                temp = temps[0]
                break
            assert proc.poll() is None, "the writer finished before it could be killed"
            time.sleep(0.002)
        assert temp is not None, "no temp file appeared"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the target is the earlier file, byte for byte, and still a readable result
    assert _digest(target) == before
    back = read_result(target)
    xr.testing.assert_identical(back.drop_attrs(), small_result.drop_attrs())
    # whatever the kill left behind is a hidden temp file, never the target's name
    assert {p.name for p in tmp_path.iterdir()} - {"result.nc"} <= {temp.name}


def test_failed_write_removes_temp_and_keeps_target(
    small_result: xr.Dataset, tmp_path: Path
) -> None:
    target = tmp_path / "r.nc"
    write_netcdf(small_result, target)
    before = _digest(target)
    bad = small_result.copy()
    bad.attrs["unwritable"] = {"a dict": "is no netCDF attribute"}
    with pytest.raises((TypeError, ValueError)):
        write_netcdf(bad, target)
    assert _digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]


# ----------------------------------------------------------------------------- foreign files


def _plain(path: Path) -> Path:
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    return path


def _version(small_result: xr.Dataset, path: Path, version) -> Path:
    ds = small_result.copy()
    ds.attrs["mcsd_format_version"] = version
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _text(path: Path) -> Path:
    path.write_text("occupancy,0.8\n")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated(small_result: xr.Dataset, path: Path) -> Path:
    write_netcdf(small_result, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _cases(small_result: xr.Dataset, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return {
        "plain": (_plain(tmp_path / "plain.nc"), "not an mcsd result file"),
        "future_version": (_version(small_result, tmp_path / "v99.nc", 99), "version 99"),
        "text": (_text(tmp_path / "text.nc"), "not a readable netCDF file"),
        "empty": (_empty(tmp_path / "empty.nc"), "not a readable netCDF file"),
        "truncated": (
            _truncated(small_result, tmp_path / "half.nc"),
            "not a readable netCDF file",
        ),
        "missing": (tmp_path / "absent.nc", "no such result file"),
        "folder": (tmp_path, "no such result file"),
    }


CASES = ["plain", "future_version", "text", "empty", "truncated", "missing", "folder"]


@pytest.fixture(scope="module")
def cases(
    small_result: xr.Dataset, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, str]]:
    """The foreign files, written once for the module (the tests only read them); their
    folder holds nothing else, so the "folder" case is a folder that is no result."""
    return _cases(small_result, tmp_path_factory.mktemp("foreign"))


@pytest.mark.parametrize("case", CASES)
def test_read_result_rejects(case: str, cases: dict[str, tuple[Path, str]]) -> None:
    path, message = cases[case]
    with pytest.raises(ResultFileError, match=message) as info:
        read_result(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_result_rejects_non_integer_version(small_result: xr.Dataset, tmp_path: Path) -> None:
    path = _version(small_result, tmp_path / "vabc.nc", "abc")
    with pytest.raises(ResultFileError, match="version"):
        read_result(path)


def _plot(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["plot", str(path), "--out", str(tmp_path / "fig")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("case", ["plain", "text", "empty", "truncated", "missing", "folder"])
def test_plot_rejects_foreign_file(
    case: str, cases: dict[str, tuple[Path, str]], tmp_path: Path, capsys
) -> None:
    path, _ = cases[case]
    code, err = _plot(path, tmp_path, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert not list(tmp_path.glob("fig*"))


def test_plot_rejects_incompatible_version(
    cases: dict[str, tuple[Path, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = cases["future_version"]  # format version 99
    code, err = _plot(path, tmp_path, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and "version" in err
