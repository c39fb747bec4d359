"""Issue 15, the CLI's output paths and result writing: cases 1, 2, 3, 10, 14, the SIGTERM
part of 12, output names at the file system's limits, and control sequences in what mcsd
prints. Everything is written inside ``tmp_path``; no device file is opened or written."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcsd.cli import main
from mcsd.cli.outputs import OutputError, check_output, priors_chain, write_error
from mcsd.cli.text import safe
from mcsd.priors.loader import load_priors
from mcsd.results.io import read_result

TINY = Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml"
PLOT_RESULT_REGIONS = ("a",)


def _run_argv(priors: Path, out: Path) -> list[str]:
    """``python -m mcsd run PRIORS --paths 10 --quiet --out OUT``."""
    return [
        sys.executable,
        "-m",
        "mcsd",
        "run",
        str(priors),
        "--paths",
        "10",
        "--quiet",
        "--out",
        str(out),
    ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - main never exits for errors
        pytest.fail(f"SystemExit({exc.code}) escaped main() for {argv}")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _one_error(err: str, *needles: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def priors(tmp_path: Path) -> Path:
    path = tmp_path / "v.toml"
    shutil.copyfile(TINY, path)
    return path


@pytest.fixture
def scenario(tmp_path: Path, priors: Path) -> Path:
    path = tmp_path / "scen.toml"
    path.write_text(
        '[scenario]\nbase = "v.toml"\nname = "scen"\n\n'
        '[[scenario.scale]]\nfield = "regions.*.demand_stock_mw"\nfactor = 1.1\n',
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------ case 1: output is input


def test_case1_out_is_the_priors_file(priors: Path, capsys) -> None:
    before = _digest(priors)
    code, _, err = _run(["run", str(priors), "--out", str(priors), "--paths", "10"], capsys)
    assert code == 2
    line = _one_error(err, "mcsd run: error:", "is an input")
    assert str(priors.name) in line
    assert _digest(priors) == before


def test_case1_out_is_a_symlink_or_hard_link_to_the_priors(
    priors: Path, tmp_path: Path, capsys
) -> None:
    before = _digest(priors)
    soft, hard = tmp_path / "soft.nc", tmp_path / "hard.nc"
    soft.symlink_to(priors)
    os.link(priors, hard)
    for out in (soft, hard):
        code, _, err = _run(["run", str(priors), "--out", str(out), "--paths", "10"], capsys)
        assert code == 2
        _one_error(err, "is an input")
    assert _digest(priors) == before and soft.is_symlink()


def test_case1_out_is_the_scenario_base(priors: Path, scenario: Path, capsys) -> None:
    assert [p.name for p in priors_chain(load_priors(scenario))] == ["scen.toml", "v.toml"]
    before = _digest(priors)
    code, _, err = _run(["run", str(scenario), "--out", str(priors), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "is an input", "v.toml")
    assert _digest(priors) == before


# ------------------------------------------------------------ case 2: non-regular targets


def test_case2_fifo_target_refused(priors: Path, tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "f.nc"
    os.mkfifo(fifo)
    code, _, err = _run(["run", str(priors), "--out", str(fifo), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "mcsd run: error:", "fifo", "f.nc")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.nc", "v.toml"]


def test_case2_character_device_refused_before_any_open(priors: Path, capsys) -> None:
    # refused from os.stat alone (before any open or temp file), so nothing is written
    code, _, err = _run(["run", str(priors), "--out", os.devnull, "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "mcsd run: error:", "character device", os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_case2_folder_target_refused(priors: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "d").mkdir()
    code, _, err = _run(["run", str(priors), "--out", str(tmp_path / "d"), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "is a folder")


def test_case2_dangling_symlink_refused(priors: Path, tmp_path: Path, capsys) -> None:
    link = tmp_path / "dangling.nc"
    link.symlink_to(tmp_path / "nowhere" / "x.nc")
    code, _, err = _run(["run", str(priors), "--out", str(link), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "symbolic link to a missing file")


# ------------------------------------------- independent mcsd processes, started together


def _work_folder(factory: pytest.TempPathFactory, name: str) -> tuple[Path, Path]:
    folder = factory.mktemp(name)
    priors = folder / "v.toml"
    shutil.copyfile(TINY, priors)
    return folder, priors


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))


def _start_closed_stdout(factory: pytest.TempPathFactory) -> tuple[Path, subprocess.Popen]:
    """Case 3: ``mcsd run ... | head -0``, the reader gone before mcsd prints anything."""
    folder, priors = _work_folder(factory, "closed_stdout")
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails with EPIPE
    try:
        proc = subprocess.Popen(
            _run_argv(priors, folder / "r.nc"),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=folder,
        )
    finally:
        os.close(write)
    return folder, proc


def _start_efbig(factory: pytest.TempPathFactory) -> tuple[Path, subprocess.Popen]:
    """Case 10: a file-size limit (``ulimit -f``) below the result's size."""
    folder, priors = _work_folder(factory, "efbig")
    (folder / "r.nc").write_bytes(b"old result")
    proc = subprocess.Popen(
        _run_argv(priors, folder / "r.nc"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
        preexec_fn=_limit_file_size,
    )
    return folder, proc


@pytest.fixture(scope="module", autouse=True)
def background(tmp_path_factory: pytest.TempPathFactory):
    """The non-interactive ``mcsd run`` processes of cases 3 and 10, run in the background
    (each in its own folder, so they are independent) while the module's other tests run;
    a test waits for its own with ``finish(name)``, which returns (folder, returncode,
    stdout, stderr). Case 3 starts with the module's first test; case 10 once case 3 has
    ended: a process that finds numba's cache stale compiles and caches the kernels, which
    under case 10's 40 kB file-size limit would fail, so it must find them cached. Processes
    still running at the end of the module (a ``-k`` selection) are killed."""
    starters = {"closed_stdout": _start_closed_stdout, "efbig": _start_efbig}
    then = {"closed_stdout": "efbig"}
    procs: dict[str, tuple[Path, subprocess.Popen]] = {}

    def start(name: str) -> tuple[Path, subprocess.Popen]:
        if name not in procs:
            procs[name] = starters[name](tmp_path_factory)
        return procs[name]

    def finish(name: str) -> tuple[Path, int, str, str]:
        folder, proc = start(name)
        out, err = proc.communicate(timeout=300)
        if name in then:
            start(then[name])
        return folder, proc.returncode, out or "", err

    start("closed_stdout")
    try:
        yield finish
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


# ------------------------------------------------------------- case 3: broken stdout


def test_case3_closed_stdout_is_a_normal_end(background) -> None:
    """``mcsd run ... | head -0``: the reader is gone before mcsd prints anything."""
    folder, returncode, _, stderr = background("closed_stdout")
    assert returncode == 0, stderr
    assert stderr == ""  # no traceback, no "Exception ignored"
    assert read_result(folder / "r.nc").sizes["region"] >= 1


def test_case3_stdout_closed_after_a_few_bytes(priors: Path, tmp_path: Path) -> None:
    """``mcsd run ... | head -c 20`` with line-by-line output."""
    out = tmp_path / "r.nc"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _run_argv(priors, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(20)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert head.startswith(b"mcsd run: priors")
    assert proc.returncode == 0, err
    assert err == ""
    assert out.is_file()


class _FullStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_case3_full_stdout_writes_result_then_one_line(
    priors: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    out = tmp_path / "r.nc"
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", _FullStream())
    code = main(["run", str(priors), "--paths", "10", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    _one_error(err, "standard output", "No space left on device")
    assert out.is_file() and read_result(out).sizes["region"] >= 1


def test_case3_result_written_before_summary(priors: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.nc"
    code, stdout, err = _run(
        ["run", str(priors), "--paths", "10", "--quiet", "--out", str(out)], capsys
    )
    assert code == 0 and err == ""
    assert stdout.splitlines()[-1] == f"wrote {out}"


# ------------------------------------------------------------------- case 10: write errors


def test_case10_file_size_limit_is_efbig_not_a_crash(background) -> None:
    folder, returncode, stdout, stderr = background("efbig")
    out = folder / "r.nc"
    assert returncode == 2, stderr
    assert stdout == ""
    assert stderr.splitlines() == [
        f"mcsd run: error: cannot write {out}: {os.strerror(errno.EFBIG)}"
    ]
    assert out.read_bytes() == b"old result"
    assert sorted(p.name for p in folder.iterdir()) == ["r.nc", "v.toml"]


def test_case10_disk_full_keeps_old_file_and_removes_temp(
    priors: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    out = tmp_path / "r.nc"
    out.write_bytes(b"old result")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("mcsd.results.io.os.fsync", full)
    code, stdout, err = _run(
        ["run", str(priors), "--paths", "10", "--quiet", "--out", str(out)], capsys
    )
    assert code == 2 and stdout == ""
    _one_error(err, f"mcsd run: error: cannot write {out}: No space left on device")
    assert out.read_bytes() == b"old result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "v.toml"]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device"),
        (OSError(errno.EFBIG, os.strerror(errno.EFBIG)), "File too large"),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "Permission denied"),
        (OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), "File name too long"),
        (OSError("Unable to write\nmulti-line h5 message"), "Unable to write multi-line"),
    ],
)
def test_case10_write_error_is_one_line(exc: OSError, reason: str) -> None:
    line = write_error("x\x1b[31m.nc", exc)
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("cannot write x\\x1b[31m.nc: ") and reason in line


def test_case10_name_too_long_refused_before_the_run(priors: Path, tmp_path: Path, capsys):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    out = tmp_path / ("a" * (limit + 1))
    code, _, err = _run(["run", str(priors), "--out", str(out), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "longer than the file system's limit", str(limit))
    deep = tmp_path / "/".join(["d" * 200] * 25) / "x.nc"  # > PATH_MAX, folders missing
    code, _, err = _run(["run", str(priors), "--out", str(deep), "--paths", "10"], capsys)
    assert code == 2
    _one_error(err, "mcsd run: error:")


def test_name_at_the_limit_is_written(priors: Path, tmp_path: Path, capsys) -> None:
    """The longest legal name works: the temp file's name is shortened to fit NAME_MAX."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    out = tmp_path / ("b" * limit)
    code, _, err = _run(["run", str(priors), "--out", str(out), "--paths", "10", "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "v.toml"])


def test_case10_unwritable_folder_refused_before_the_run(tmp_path: Path) -> None:
    # not as root (root writes anywhere): check the rule itself through os.access
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        pytest.skip("root writes through chmod 0o500")
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_output(folder / "x.nc")
    finally:
        folder.chmod(0o700)


# ------------------------------------------------ case 12 (SIGTERM during the netCDF write)

SIGTERM_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import mcsd.results.io as rio

    def slow_fsync(fd):  # the temp file is complete; the write is "still going"
        print("writing", flush=True)
        time.sleep(60)

    rio.os.fsync = slow_fsync
    from mcsd.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_case12_signal_during_write_removes_temp(tmp_path: Path) -> None:
    """SIGTERM (exit 143) and SIGINT (exit 130) while the temp file is being written, one
    process each, run side by side."""
    cases = {"term": (signal.SIGTERM, 143), "int": (signal.SIGINT, 130)}
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name in cases:
            folder = tmp_path / name
            folder.mkdir()
            shutil.copyfile(TINY, folder / "v.toml")
            (folder / "r.nc").write_bytes(b"old result")
            procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SIGTERM_WRITER,
                    "run",
                    str(folder / "v.toml"),
                    "--paths",
                    "10",
                    "--quiet",
                    "--out",
                    str(folder / "r.nc"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=folder,
            )
        errors = {}
        for name, (signum, _) in cases.items():
            proc, folder = procs[name], tmp_path / name
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "writing", name
            temps = list(folder.glob(".r.nc.*.tmp"))
            assert len(temps) == 1 and temps[0].stat().st_size > 0
            os.kill(proc.pid, signum)
        for name in cases:
            _, errors[name] = procs[name].communicate(timeout=60)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, (_, code) in cases.items():
        proc, err, folder = procs[name], errors[name], tmp_path / name
        assert proc.returncode == code, err
        assert "Traceback" not in err
        assert err.strip() in ("mcsd: terminated", "mcsd: interrupted")
        assert (folder / "r.nc").read_bytes() == b"old result"
        assert sorted(p.name for p in folder.iterdir()) == ["r.nc", "v.toml"]


# ------------------------------------------------------------- case 14: plot's folders


@pytest.fixture(scope="module")
def shared_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small result file for the module (written by ``mcsd run``), read-only."""
    folder, priors = _work_folder(tmp_path_factory, "shared")
    out = folder / "res.nc"
    assert main(["run", str(priors), "--paths", "10", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture
def result_file(shared_result: Path, tmp_path: Path) -> Path:
    """A copy of the shared result in this test's folder (a test may rename it)."""
    out = tmp_path / "res.nc"
    shutil.copyfile(shared_result, out)
    return out


def test_case14_plot_refuses_a_missing_folder(result_file: Path, tmp_path: Path, capsys):
    capsys.readouterr()
    out = tmp_path / "missing" / "dir" / "x.png"
    code, stdout, err = _run(["plot", str(result_file), "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    _one_error(err, "mcsd plot: error:", "output folder does not exist", "missing")
    assert not (tmp_path / "missing").exists()


def test_case14_plot_and_run_share_the_rule(priors: Path, result_file: Path, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "missing" / "x.nc"
    _, _, run_err = _run(["run", str(priors), "--out", str(out), "--paths", "10"], capsys)
    _, _, plot_err = _run(["plot", str(result_file), "--out", str(out)], capsys)
    reason = "output folder does not exist"
    assert reason in run_err and reason in plot_err


def test_plot_refuses_to_overwrite_its_input(tmp_path: Path, result_file: Path, capsys):
    capsys.readouterr()
    as_png = tmp_path / "res.png"
    result_file.rename(as_png)  # a result file that happens to be named .png
    before = _digest(as_png)
    code, _, err = _run(["plot", str(as_png), "--out", str(as_png)], capsys)
    assert code == 2
    _one_error(err, "mcsd plot: error:", "is an input")
    link = tmp_path / "fig.png"
    link.symlink_to(as_png)
    code, _, err = _run(["plot", str(as_png), "--out", str(tmp_path / "fig")], capsys)
    assert code == 2
    _one_error(err, "is an input")
    assert _digest(as_png) == before


def test_plot_refuses_a_fifo_target(result_file: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    os.mkfifo(tmp_path / "fig.png")
    code, _, err = _run(["plot", str(result_file), "--out", str(tmp_path / "fig")], capsys)
    assert code == 2
    _one_error(err, "fifo")


# -------------------------------------------------- control sequences in what mcsd prints


def test_safe_escapes_controls() -> None:
    hostile = "a\x1b[2J\x9b31m\r\n\u202eb\udcff\x00"
    shown = safe(hostile)
    assert shown == "a\\x1b[2J\\x9b31m\\x0d\\x0a\\u202eb\\udcff\\x00"
    assert shown.isprintable()


def test_region_and_priors_names_printed_escaped(tmp_path: Path, capsys) -> None:
    text = TINY.read_text(encoding="utf-8").replace('name = "tiny"', 'name = ""')
    path = tmp_path / "evil\x1b[31m.toml"  # no [meta] name: the priors are named by the stem
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "r.nc"
    code, stdout, err = _run(
        ["run", str(path), "--paths", "10", "--quiet", "--out", str(out)], capsys
    )
    assert code == 0, err
    assert "\x1b" not in stdout and "priors evil\\x1b[31m," in stdout
    code, stdout, err = _run(["check", str(path)], capsys)
    assert code in (0, 1), err
    assert "\x1b" not in stdout and "\\x1b[31m" in stdout


def test_summary_escapes_region_ids() -> None:
    from mcsd.cli.main import summary_table

    time_ = pd.date_range("2025-01-31", periods=12, freq="ME")
    region = ["ok", "bad\x1b]0;title\x07", "national"]
    zeros = np.zeros((3, 12))
    ds = xr.Dataset(
        {
            "p_shortage": (("region", "time"), zeros),
            "turning_point_cdf": (("region", "time"), zeros),
            "p_no_turning_point": (("region",), np.ones(3)),
        },
        coords={"region": region, "time": time_},
    )
    rendered = summary_table(ds).to_string()
    assert "\x1b" not in rendered and "\x07" not in rendered
    assert "bad\\x1b]0;title\\x07" in rendered


def test_output_name_with_controls_refused(priors: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x\x1b[31m\n.nc"
    code, _, err = _run(["run", str(priors), "--out", str(out), "--paths", "10"], capsys)
    assert code == 2
    line = _one_error(err, "control or undecodable character")
    assert "\x1b" not in line
    assert not out.exists()


# ----------------------------------------------------------------- fuzzing output names

ALPHABET = [
    *"abz09._-~ #%*?:;'\"\\",
    *"\x00\x01\x07\x08\t\n\r\x1b[\x7f\x85\x9b",
    *"é中\u00a0\u200b\u200e\u202e\u2028\u2066\ufeff\U0001f600",
]
NAMES = st.one_of(
    # an explicit alphabet (st.characters would write hypothesis' unicode tables to disk)
    st.text(alphabet=st.sampled_from(ALPHABET), max_size=12),
    st.integers(240, 300).map(lambda n: "n" * n),
    st.integers(240, 300).map(lambda n: "é" * (n // 2)),
    st.sampled_from(
        [
            "v.toml",
            "link.toml",
            "hard.toml",
            ".",
            "..",
            "",
            "missing/x.nc",
            "fifo",
            "sub",
            "sub/",
            "r\x00.nc",
            "\udcff.nc",
            ".r.nc.abc.tmp",
            "-",
            "--out",
        ]
    ),
)


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES)
def test_fuzz_output_names(name: str, tmp_path_factory: pytest.TempPathFactory, capsys) -> None:
    work = tmp_path_factory.mktemp("names")
    inputs = work / "v.toml"
    shutil.copyfile(TINY, inputs)
    (work / "link.toml").symlink_to(inputs)
    os.link(inputs, work / "hard.toml")
    os.mkfifo(work / "fifo")
    (work / "sub").mkdir()
    before = _digest(inputs)
    out = str(work) + "/" + name
    code, _, err = _run(["run", str(inputs), "--paths", "10", "--quiet", "--out", out], capsys)
    assert code in (0, 2), err
    if code == 2:
        _one_error(err, "error:")
    assert _digest(inputs) == before and _digest(work / "link.toml") == before
    assert stat.S_ISFIFO(os.lstat(work / "fifo").st_mode)
    assert not list(work.glob(".*.tmp")) or name.startswith(".")
