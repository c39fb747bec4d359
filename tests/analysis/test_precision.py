"""Precision-targeted runs (``simulate(..., target_se=...)``, ``mcsd.analysis.precision``)."""

from __future__ import annotations

import pytest
import xarray as xr

import mcsd
from mcsd.analysis.precision import DEFAULT_MIN_PATHS
from mcsd.cli import main
from mcsd.testing.toy import drop_created, zero_width

TARGET_ATTRS = (
    "paths_used",
    "target_se",
    "converged",
    "min_paths",
    "max_paths",
    "max_selected_se",
    "se_variables",
    "se_rule",
    "n_non_converged_cells",
    "non_converged_cells",
)
MIN_RUN = 12_288  # DEFAULT_MIN_PATHS rounded up to whole 4096-path chunks


def strip(ds: xr.Dataset) -> xr.Dataset:
    ds = drop_created(ds)
    for k in TARGET_ATTRS:
        ds.attrs.pop(k, None)
    return ds


def test_equals_fixed_n_run_at_the_stopping_n(study_priors):
    ds = mcsd.simulate(study_priors, seed=3, target_se=0.003, progress=False, threads=2)
    n = ds.attrs["paths_used"]
    assert ds.attrs["converged"] == 1 and ds.attrs["non_converged_cells"] == ""
    assert n > MIN_RUN  # needed more than one block: the incremental merge is exercised
    assert n % 4096 == 0 and ds.attrs["n_paths"] == n
    assert float(ds.p_shortage_se.max()) <= 0.003
    assert ds.attrs["max_selected_se"] <= 0.003
    fixed = mcsd.simulate(study_priors, n_paths=n, seed=3, progress=False, threads=1)
    xr.testing.assert_identical(strip(ds), drop_created(fixed))


def test_max_paths_stops_and_lists_cells(study_priors):
    ds = mcsd.simulate(
        study_priors,
        seed=3,
        target_se=0.0005,
        max_paths=20_000,
        se_cells={"region": ["yangtze"], "time": slice("2025-01", "2026-12")},
        progress=False,
    )
    assert ds.attrs["paths_used"] == 20_000 and ds.attrs["n_paths"] == 20_000
    assert ds.attrs["converged"] == 0
    cells = ds.attrs["non_converged_cells"].split("; ")
    assert len(cells) == ds.attrs["n_non_converged_cells"] > 0
    assert all("[yangtze, 202" in c for c in cells)
    assert ds.attrs["max_selected_se"] > 0.0005


def test_degenerate_cells_do_not_converge_trivially(study_priors):
    """p is 0 or 1 in every cell (no uncertainty): the binomial SE is 0 at any n."""
    flat = zero_width(study_priors)
    ds = mcsd.simulate(flat, seed=1, target_se=0.005, progress=False)
    assert ds.attrs["converged"] == 1 and ds.attrs["paths_used"] == MIN_RUN >= DEFAULT_MIN_PATHS
    # the Wilson guard (about 1.96 / (2 n) at p = 0 or 1) still binds at a tiny target
    tiny = mcsd.simulate(flat, seed=1, target_se=1e-5, max_paths=30_000, progress=False)
    assert tiny.attrs["converged"] == 0 and tiny.attrs["paths_used"] == 30_000


def test_selection_and_errors(study_priors):
    only_gba = mcsd.simulate(
        study_priors,
        seed=3,
        target_se=0.003,
        se_cells={"region": "gba", "variables": ["p_shortage"]},
        progress=False,
    )
    assert only_gba.attrs["paths_used"] == MIN_RUN  # gba is rarely short
    assert only_gba.attrs["se_variables"] == "p_shortage"
    with pytest.raises(ValueError, match="se_cells"):
        mcsd.simulate(study_priors, target_se=0.01, se_cells={"regions": ["gba"]})
    with pytest.raises(ValueError, match="se_cells"):
        mcsd.simulate(study_priors, target_se=0.01, se_cells={"region": ["nowhere"]})
    with pytest.raises(ValueError, match="target_se"):
        mcsd.simulate(study_priors, target_se=0.0)
    with pytest.raises(ValueError, match="target_se"):
        mcsd.simulate(study_priors, target_se=0.01, point=True)
    with pytest.raises(ValueError, match="max_paths"):
        mcsd.simulate(study_priors, target_se=0.01, max_paths=0)


def test_cli_target_se(tmp_path, capsys, study_priors):
    out = tmp_path / "r.nc"
    code = main(["run", "--target-se", "0.01", "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "target SE 0.01 reached with 12,288 paths" in text
    back = mcsd.read_result(out)
    assert back.attrs["paths_used"] == 12_288 and back.attrs["converged"] == 1
    assert main(["run", "--max-paths", "10", "--out", str(out)]) == 2
    assert main(["run", "--target-se", "1.5", "--out", str(out)]) == 2
