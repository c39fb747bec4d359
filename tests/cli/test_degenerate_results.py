"""`mcsd plot` on result files with empty or degenerate dimensions: one line and exit 2 for
what cannot be drawn, a figure for what can (one month, national only)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mcsd
from mcsd.cli import main

TINY = Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml"


@pytest.fixture(scope="module")
def result():
    # two regions and national, two years: every dimension of a result, small figures
    return mcsd.simulate(TINY, n_paths=300, seed=5, progress=False)


@pytest.mark.parametrize("dim", ["region", "time", "year", "quantile", "level"])
def test_an_empty_dimension_is_one_line_and_exit_2(result, dim, tmp_path: Path, capsys) -> None:
    path = tmp_path / f"empty_{dim}.nc"
    result.isel({dim: slice(0, 0)}).to_netcdf(path, engine="h5netcdf")
    code = main(["plot", str(path), "--out", str(tmp_path / "fig")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"dimension {dim!r} is empty" in err, err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("fig*"))
    with pytest.raises(mcsd.ResultFileError, match=f"dimension {dim!r} is empty"):
        mcsd.read_result(path)


@pytest.mark.parametrize(
    "select", [{"time": [0]}, {"region": ["national"]}, {"year": [0], "time": [0, 1]}]
)
def test_small_but_valid_results_plot(result, select, tmp_path: Path, capsys) -> None:
    path = tmp_path / "small.nc"
    by_label = {k: v for k, v in select.items() if k == "region"}
    by_index = {k: v for k, v in select.items() if k != "region"}
    result.sel(by_label).isel(by_index).to_netcdf(path, engine="h5netcdf")
    code = main(["plot", str(path), "--out", str(tmp_path / "fig")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "fig.png").stat().st_size > 0
