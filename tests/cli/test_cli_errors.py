"""Bad command-line arguments: one line on stderr, exit 2, no traceback, no result file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcsd.cli import main

TINY = Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's --help/--version only; never for errors
        pytest.fail(f"SystemExit({exc.code}) escaped main() for {argv}")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return code, lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--paths", "0"], "--paths"),
        (["--paths", "-5"], "--paths"),
        (["--paths", "abc"], "--paths"),
        (["--paths", "1.5"], "--paths"),
        (["--paths", ""], "--paths"),
        (["--seed", "1.5"], "--seed"),
        (["--seed", "x"], "--seed"),
        (["--seed", "nan"], "--seed"),
        (["--threads", "0"], "--threads"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--paths"], "--paths"),
    ],
)
def test_run_bad_argument(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.nc"
    code, line = run_cli(["run", str(TINY), "--out", str(out), *args], capsys)
    assert code == 2
    assert needle in line
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        [],
        ["check", "--frobnicate"],
        ["plot"],
        ["plot", "x.nc", "--kind", "pie"],
        ["run", "a.toml", "b.toml"],
    ],
)
def test_bad_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli(argv, capsys)
    assert code == 2


def test_missing_priors_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = run_cli(
        ["run", str(tmp_path / "absent.toml"), "--paths", "10", "--out", str(tmp_path / "o.nc")],
        capsys,
    )
    assert code == 2 and "absent.toml" in line and "no such priors file" in line
    code, line = run_cli(["check", str(tmp_path / "absent.toml")], capsys)
    assert code == 2 and "absent.toml" in line


@pytest.mark.parametrize("where", ["missing_folder", "under_a_file", "is_a_folder"])
def test_unusable_output_path(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plain = tmp_path / "plain"
    plain.write_text("x")
    out = {
        "missing_folder": tmp_path / "nowhere" / "o.nc",
        "under_a_file": plain / "o.nc",
        "is_a_folder": tmp_path,
    }[where]
    code, line = run_cli(["run", str(TINY), "--paths", "10", "--out", str(out)], capsys)
    assert code == 2
    assert line.startswith("mcsd run: error:")
    assert plain.read_text() == "x"


@pytest.mark.skipif(IS_ROOT, reason="root writes through chmod 0o500")
def test_read_only_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, line = run_cli(
            ["run", str(TINY), "--paths", "10", "--out", str(folder / "o.nc")], capsys
        )
    finally:
        folder.chmod(0o700)
    assert code == 2 and "not writable" in line
    assert list(folder.iterdir()) == []


def test_valid_run_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same arguments, valid, exit 0 and write the result."""
    out = tmp_path / "o.nc"
    code = main(["run", str(TINY), "--paths", "10", "--seed", "-3", "--out", str(out), "--quiet"])
    assert code == 0 and out.is_file()
    assert capsys.readouterr().err == ""


def test_seed_outside_int64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.nc"
    code, line = run_cli(
        ["run", str(TINY), "--paths", "10", "--seed", str(2**64), "--out", str(out), "--quiet"],
        capsys,
    )
    assert code == 2 and "--seed" in line
    assert not out.exists()


SUBPROCESS_ARGS = [["run", "--paths", "abc"], ["bogus"], ["check", "--nope"]]


@pytest.fixture(scope="module", autouse=True)
def subprocesses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.Popen]:
    """``python -m mcsd ARGS`` for every case of ``test_subprocess_no_traceback``, started
    together when the module's first test starts (they are independent, each in its own
    folder), so they run while the in-process tests do."""
    procs = {}
    for args in SUBPROCESS_ARGS:
        procs[" ".join(args)] = subprocess.Popen(
            [sys.executable, "-m", "mcsd", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path_factory.mktemp("cli"),
        )
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("args", SUBPROCESS_ARGS)
def test_subprocess_no_traceback(args: list[str], subprocesses) -> None:
    proc = subprocesses[" ".join(args)]
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stdout == ""
