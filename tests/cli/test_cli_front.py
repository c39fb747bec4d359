"""The command's front: exit codes (0, 1, 2, 3), ``--se-cells``, ``--help`` (defaults and
built-in priors), ``python -m mcsd``, the first-run compile notice and the progress bar's
start after the compile."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mcsd.progress as progress
from mcsd.cli.main import (
    PRECISION_MAX_PATHS,
    SE_VARIABLES,
    build_parser,
    is_study_priors,
    main,
)
from mcsd.engine.defaults import DEFAULT_PATHS, DEFAULT_SEED
from mcsd.priors.loader import builtin_priors_dir, builtin_priors_names, load_priors
from mcsd.results.io import read_result

TINY = Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml"
BUILTIN = builtin_priors_names()


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------- 3: target not reached


def test_target_missed_exits_3_and_keeps_the_result(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.nc"
    argv = ["run", str(TINY), "--target-se", "0.001", "--max-paths", "4096", "--quiet"]
    code, stdout, err = _run([*argv, "--out", str(out)], capsys)
    assert code == 3
    line = _one_line(err)
    assert "target SE 0.001 not reached within 4,096 paths" in line and str(out) in line
    assert "NOT reached" in stdout and stdout.splitlines()[-1] == f"wrote {out}"
    ds = read_result(out)
    assert ds.attrs["converged"] == 0 and ds.attrs["paths_used"] == 4096


def test_target_reached_exits_0(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.nc"
    argv = ["run", str(TINY), "--target-se", "0.05", "--quiet", "--out", str(out)]
    code, stdout, err = _run(argv, capsys)
    assert code == 0 and err == ""
    assert "target SE 0.05 reached" in stdout
    assert read_result(out).attrs["converged"] == 1


def test_se_cells_select_the_cells_the_target_applies_to(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.nc"
    argv = ["run", str(TINY), "--target-se", "0.001", "--max-paths", "4096", "--quiet"]
    cells = "region=north;time=2025-01:2025-03;variables=p_shortage"
    code, _, err = _run([*argv, "--se-cells", cells, "--out", str(out)], capsys)
    ds = read_result(out)
    assert code == 3 and ds.attrs["se_variables"] == "p_shortage", err
    listed = ds.attrs["non_converged_cells"].split("; ")
    assert listed and set(listed) <= {f"p_shortage[north, 2025-0{m}]" for m in (1, 2, 3)}
    assert ds.attrs["n_non_converged_cells"] == len(listed)


# ------------------------------------------------------------------ 2: invalid --se-cells


@pytest.mark.parametrize(
    ("cells", "needle"),
    [
        ("bogus=1", "KEY=VALUE"),
        ("region", "KEY=VALUE"),
        ("region=", "has no value"),
        ("region=north;region=south", "given twice"),
        ("time=2025-13", "time must be"),
        ("time=2025:2026:2027", "time must be"),
        ("variables=occupancy", "variables must be among"),
        (";", "is empty"),
        ("region=atlantis", "unknown region 'atlantis'"),
        ("time=2031", "no cells"),
    ],
)
def test_invalid_se_cells_exit_2_with_one_line(
    cells: str, needle: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "r.nc"
    argv = ["run", str(TINY), "--target-se", "0.01", "--quiet", "--out", str(out)]
    code, stdout, err = _run([*argv, "--se-cells", cells], capsys)
    assert code == 2
    line = _one_line(err)
    assert line.startswith("mcsd run: error: argument --se-cells: ") and needle in line, line
    assert stdout == "" and not out.exists()


def test_se_cells_needs_target_se(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.nc"
    code, _, err = _run(["run", str(TINY), "--se-cells", "region=north", "--out", str(out)], capsys)
    assert code == 2 and "--se-cells needs --target-se" in _one_line(err)
    assert not out.exists()


def test_se_variables_are_the_precision_modules() -> None:
    from mcsd.analysis import precision

    assert SE_VARIABLES == precision.SE_VARIABLES
    assert PRECISION_MAX_PATHS == precision.DEFAULT_MAX_PATHS


# ------------------------------------------------------------------------- check: 0 and 1


def test_check_scenario_exits_0_without_study_columns(capsys) -> None:
    code, stdout, err = _run(["check", "ai_capex_boom"], capsys)
    assert code == 0, err
    header = stdout.splitlines()[2]
    assert header.split() == ["region", "year", "demand", "supply", "occupancy", "%"]
    assert "study" not in header and "not compared with the study" in stdout
    assert max(map(len, stdout.splitlines())) <= 100


def test_check_against_study_mismatch_exits_1(capsys) -> None:
    code, stdout, err = _run(["check", "ai_capex_boom", "--against-study"], capsys)
    assert code == 1, err
    assert "study" in stdout.splitlines()[2]
    assert "NOT within 1 MW of the study" in stdout.splitlines()[-1]


def test_check_study_priors_compares_and_exits_0(capsys) -> None:
    code, stdout, _ = _run(["check"], capsys)
    assert code == 0
    assert "study" in stdout.splitlines()[2]
    assert stdout.splitlines()[-1].endswith("within 1 MW of the study")
    assert max(map(len, stdout.splitlines())) <= 100
    code, stdout, _ = _run(["check", "cic2025", "--against-study"], capsys)
    assert code == 0 and "NOT within" not in stdout


def test_a_copy_of_the_study_priors_is_not_the_study(tmp_path: Path, capsys) -> None:
    copy = tmp_path / "cic2025.toml"
    shutil.copyfile(builtin_priors_dir() / "cic2025.toml", copy)
    assert is_study_priors(load_priors(None)) and not is_study_priors(load_priors(copy))
    code, stdout, _ = _run(["check", str(copy)], capsys)
    assert code == 0 and "not compared with the study" in stdout


def test_check_of_a_priors_file_outside_the_study_exits_0(capsys) -> None:
    code, stdout, _ = _run(["check", str(TINY)], capsys)
    assert code == 0 and "valid" in stdout.splitlines()[0]


# ------------------------------------------------------------------------------- --help


@pytest.mark.parametrize("command", ["run", "check"])
def test_help_shows_defaults_and_builtin_priors(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert len(BUILTIN) >= 2 and "cic2025" in BUILTIN
    for name in BUILTIN:
        assert name in text, name
    assert "(default: cic2025, the study's)" in text
    assert "exit status:" in text
    if command == "run":
        for default in (f"{DEFAULT_PATHS:,}", str(DEFAULT_SEED), "mcsd_result.nc", "table"):
            assert f"(default: {default})" in text, default
        assert f"(default: {PRECISION_MAX_PATHS:,})" in text
        assert "3 run --target-se" in text
    else:
        assert "--against-study" in text and "exit 1" in text


def test_parsing_does_not_list_the_priors_folder(monkeypatch) -> None:
    cli = importlib.import_module("mcsd.cli.main")  # mcsd.cli.main is also the function

    def boom() -> list[str]:
        raise AssertionError("listed while parsing")

    monkeypatch.setattr(cli, "builtin_priors_names", boom)
    args = build_parser().parse_args(["run", "--paths", "5", "--format", "json"])
    assert args.paths == 5 and args.format == "json"


# ------------------------------------------------------------------------ python -m mcsd


def test_python_m_mcsd_runs_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mcsd", "check", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: mcsd check ") and "--against-study" in proc.stdout


def test_importing_mcsd_main_runs_nothing() -> None:
    sys.modules.pop("mcsd.__main__", None)
    module = importlib.import_module("mcsd.__main__")  # no SystemExit, no output
    assert callable(module.main)


# ---------------------------------------------------------------- compile notice, ETA


def test_notice_printed_first_when_the_cache_is_cold(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress, "kernels_cached", lambda: False)
    monkeypatch.setattr(progress, "_noticed", False)
    out = tmp_path / "r.nc"
    code, _, err = _run(["run", str(TINY), "--paths", "300", "--out", str(out)], capsys)
    assert code == 0
    assert err.splitlines()[0] == "compiling kernels (first run only)..."
    assert err.count("compiling kernels") == 1  # once, though both the CLI and bar ask


def test_no_notice_when_warm_or_quiet(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress, "_noticed", False)
    out = tmp_path / "r.nc"
    code, _, err = _run(["run", str(TINY), "--paths", "300", "--out", str(out)], capsys)
    assert code == 0 and "compiling" not in err  # the kernels are loaded by now
    assert progress.kernels_cached() is True
    monkeypatch.setattr(progress, "kernels_cached", lambda: False)
    code, _, err = _run(["run", str(TINY), "--paths", "300", "--quiet", "--out", str(out)], capsys)
    assert code == 0 and err == ""


def test_cold_cache_is_detected_without_compiling(tmp_path: Path) -> None:
    """A fresh process with an empty numba cache folder: cold; nothing is compiled."""
    code = (
        "import mcsd.progress as p\n"
        "from mcsd.kernels.paths import simulate_paths as k\n"
        "print(p.kernels_cached(), len(k.signatures))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "0"]


def test_cached_entry_for_another_cpu_is_cold(monkeypatch) -> None:
    from mcsd.kernels.paths import simulate_paths as kernel

    monkeypatch.setattr(kernel, "overloads", {})  # as if not yet loaded in this process
    cache_file = kernel._cache._cache_file
    monkeypatch.setattr(cache_file, "_load_index", lambda: {})
    assert progress.kernels_cached() is False
    code = __import__("hashlib").sha256(kernel.py_func.__code__.co_code).hexdigest()
    other = (("sig",), ("another-cpu", ("",)), (code, ""))
    monkeypatch.setattr(cache_file, "_load_index", lambda: {other: "x.nbc"})
    assert progress.kernels_cached() is False
    here = (("sig",), kernel.targetctx.codegen().magic_tuple(), (code, ""))
    monkeypatch.setattr(cache_file, "_load_index", lambda: {here: "x.nbc"})
    assert progress.kernels_cached() is True


class _FakeBar:
    made: list[_FakeBar] = []

    def __init__(self, total: int, initial: int = 0, **kwargs) -> None:
        self.total, self.initial, self.n, self.closed = total, initial, initial, False
        _FakeBar.made.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("cold", [True, False])
def test_bar_starts_after_the_compile(cold: bool, monkeypatch) -> None:
    import tqdm

    monkeypatch.setattr(tqdm, "tqdm", _FakeBar)
    monkeypatch.setattr(progress, "kernels_cached", lambda: not cold)
    _FakeBar.made = []
    with progress.progress_bar(100, enabled=True, notice=False) as update:
        assert len(_FakeBar.made) == (0 if cold else 1)  # cold: no clock runs while compiling
        update(30)  # the first chunk, done once the kernels are compiled
        (bar,) = _FakeBar.made
        assert bar.initial == (30 if cold else 0) and bar.n == 30
        update(70)
        assert bar.n == 100
    assert bar.closed
