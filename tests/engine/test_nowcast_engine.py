"""The nowcast engine: weighted estimates against a NumPy computation from the kept paths,
exact integer weighting, pins, bit-identity across threads and chunking, the ESS floor,
the CLI. (Statistical acceptance against quadrature and calibration:
``test_nowcast_statistics.py``.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mcsd.api import simulate
from mcsd.cli import main
from mcsd.engine import weighting
from mcsd.engine.executor import CompiledRun, run_paths
from mcsd.engine.weighting import (
    ObservationArrays,
    max_log_weight_pass,
    weight_scale_bits,
    weighted_pass,
)
from mcsd.kernels.sampling import draw_all_inputs
from mcsd.priors.observations import make_observations
from mcsd.results.io import read_result
from mcsd.testing.toy import all_mechanisms_priors, buyer, make_priors, project, provider, region

SEED = 11
N = 3000


@pytest.fixture(scope="module")
def priors():
    return all_mechanisms_priors()


@pytest.fixture(scope="module")
def obs(priors):
    return make_observations(
        priors,
        measurements=[
            {"region": "A", "month": "2025-12", "quantity": "occupancy", "value": 0.78, "sd": 0.03},
            {"region": "national", "month": "2026-06", "quantity": "demand_mw", "value": 1900.0,
             "sd": 120.0},
            {"region": "C", "month": "2025-12", "quantity": "supply_mw", "value": 600.0,
             "sd": 40.0},
        ],
        facts=[
            {"project": "p1a", "status": "opened", "month": "2025-09"},
            {"project": "p2a", "status": "not_opened", "month": "2025-05"},
            {"project": "p3b", "status": "cancelled"},
        ],
        name="engine-test",
    )  # fmt: skip


@pytest.fixture(scope="module")
def kept(priors, obs):
    return simulate(priors, N, SEED, threads=2, observations=obs, keep_paths=True, progress=False)


def _numpy_weights(priors, obs, ds) -> np.ndarray:
    """Normalised weights from the kept paths, computed here without the engine."""
    regions = list(ds.region.values)
    var = {"occupancy": "occupancy_path", "demand_mw": "demand_path", "supply_mw": "supply_path"}
    logw = np.zeros(ds.sizes["path"])
    for m in obs.measurements:
        t = priors.month_index(m.month) - 1
        x = ds[var[m.quantity]].values[:, regions.index(m.region), t]
        logw -= 0.5 * ((x - m.value) / m.sd) ** 2
    run = CompiledRun.build(priors, SEED, pins=obs.pins(priors))
    delivery = draw_all_inputs(run.model, run.group_seed_keys, 0, ds.sizes["path"])["delivery"]
    ids = [p.id for prov in priors.providers for p in prov.projects]
    for pid, month in obs.not_opened(priors):
        d = delivery[:, ids.index(pid)]
        logw[(d >= 1) & (d <= month)] = -np.inf
    w = np.exp(logw - logw.max())
    return w / w.sum()


def test_weights_and_estimates_match_numpy(priors, obs, kept):
    w = _numpy_weights(priors, obs, kept)
    # weights are rounded to 2**-S of the largest: relative error <= 2**-S / w_min kept here
    tol = 2.0 ** -weight_scale_bits(N) / w.max() * 4
    np.testing.assert_allclose(kept.path_weight.values, w, rtol=0, atol=tol)
    assert kept.attrs["effective_sample_size"] == pytest.approx(1 / np.sum(w * w), rel=1e-9)
    occ = kept.occupancy_path.values
    short = occ >= priors.threshold
    p = np.einsum("i,irt->rt", w, short)
    np.testing.assert_allclose(kept.p_shortage.values, p, rtol=0, atol=1e-12)
    se = np.sqrt(np.einsum("i,irt->rt", w * w, (short - p) ** 2))
    # squared weights are rounded to 2**-S of the largest's square: the variance is off by
    # at most n 2**-S max(w)**2, the SE by the square root of that
    se_tol = np.sqrt(N * 2.0 ** -weight_scale_bits(N)) * w.max()
    np.testing.assert_allclose(kept.p_shortage_se.values, se, rtol=1e-9, atol=se_tol)
    np.testing.assert_allclose(
        kept.occupancy_mean.values, np.einsum("i,irt->rt", w, occ), rtol=0, atol=1e-7
    )
    dec = [i for i, t in enumerate(kept.time.values) if str(t)[5:7] == "12"]
    np.testing.assert_allclose(kept.p_shortage_year_end.values, p[:, dec], rtol=0, atol=1e-12)
    turn = kept.turning_month_path.values
    T = kept.sizes["time"]
    cdf = np.stack(
        [np.array([w[(turn[:, r] >= 1) & (turn[:, r] <= t + 1)].sum() for t in range(T)])
         for r in range(turn.shape[1])]
    )  # fmt: skip
    np.testing.assert_allclose(kept.turning_point_cdf.values, cdf, rtol=0, atol=1e-12)
    lv = kept.level.values
    exc = np.stack([np.einsum("i,irt->rt", w, occ >= level - 1e-12) for level in lv], axis=-1)
    np.testing.assert_allclose(kept.occupancy_exceedance.values, exc, rtol=0, atol=1e-12)
    # weighted quantiles: within one histogram bin of the weighted quantile of the paths
    for name in ("occupancy", "demand", "supply"):
        vals = kept[f"{name}_path"].values
        width = kept[name].attrs["max_quantile_error"]
        for r in range(vals.shape[1]):
            for t in (5, 17, 30):
                x = vals[:, r, t]
                order = np.argsort(x, kind="stable")
                cum = np.cumsum(w[order])
                for q in (0.1, 0.5, 0.9):
                    ref = x[order][np.searchsorted(cum, q * cum[-1])]
                    got = kept[name].values[r, t, list(kept["quantile"].values).index(q)]
                    assert abs(got - ref) <= width + 1e-9, (name, r, t, q, got, ref)


def test_the_posterior_moved(kept):
    """The observations carry information: the posterior is not the prior."""
    post, prior = kept.p_shortage.values, kept.p_shortage_prior.values
    se = kept.p_shortage_se.values
    assert np.max(np.abs(post - prior) / np.maximum(se, 1e-3)) > 8


def test_pins_set_the_halls_delivery(priors, obs, kept):
    run = CompiledRun.build(priors, SEED, pins=obs.pins(priors))
    delivery = draw_all_inputs(run.model, run.group_seed_keys, 0, 500)["delivery"]
    ids = [p.id for prov in priors.providers for p in prov.projects]
    assert np.all(delivery[:, ids.index("p1a")] == priors.month_index("2025-09"))
    assert np.all(delivery[:, ids.index("p3b")] == 0)
    free = CompiledRun.build(priors, SEED)
    free_delivery = draw_all_inputs(free.model, free.group_seed_keys, 0, 500)["delivery"]
    others = [j for j, pid in enumerate(ids) if pid not in ("p1a", "p3b")]
    np.testing.assert_array_equal(delivery[:, others], free_delivery[:, others])
    assert len(set(free_delivery[:, ids.index("p1a")])) > 2  # the pin changed something


def test_constant_weights_are_the_unweighted_counts(priors):
    """An uninformative observation: every integer weight is 2**S, every weighted count
    2**S x the unweighted one, exactly."""
    obs = make_observations(
        priors,
        measurements=[
            {"region": "B", "month": "2026-12", "quantity": "occupancy", "value": 0.5, "sd": 1e9}
        ],
    )
    run = CompiledRun.build(priors, SEED)
    arrays = ObservationArrays.build(priors, obs)
    n = 1500
    acc, top = max_log_weight_pass(run, arrays, n, 2)
    bits = weight_scale_bits(n)
    acc2, wacc = weighted_pass(run, arrays, n, 2, top, bits)
    assert acc == acc2 == run_paths(run, n, 1)
    scale = np.int64(2) ** bits
    assert wacc.weight_sum == wacc.weight_sq_sum == n * 2**bits
    for name in ("shortage", "turning", "occupancy_hist", "mw_hist", "short_months"):
        np.testing.assert_array_equal(wacc.arrays[name], getattr(acc, name) * scale, name)
    np.testing.assert_array_equal(wacc.occupancy_sum(), acc.occupancy_fixed * 2.0**bits)


def test_bit_identical_for_threads_and_chunking(priors, obs, monkeypatch):
    ref = simulate(priors, 2500, SEED, threads=1, observations=obs, progress=False)
    runs = [simulate(priors, 2500, SEED, threads=t, observations=obs, progress=False)
            for t in (2, 7)]  # fmt: skip
    monkeypatch.setattr(weighting, "WEIGHTED_CHUNK_PATHS", 333)
    runs.append(simulate(priors, 2500, SEED, threads=2, observations=obs, progress=False))
    for ds in runs:
        for v in ref.data_vars:
            np.testing.assert_array_equal(ds[v].values, ref[v].values, err_msg=v)
        assert ds.attrs["effective_sample_size"] == ref.attrs["effective_sample_size"]


def test_no_path_agrees_with_the_facts(monkeypatch):
    """Facts no path meets (here built past the loader, which refuses this one: an
    always-on-time hall "not opened" after its month): one clear error, no result."""
    p = make_priors(
        [region("R", 80.0, 100.0)],
        [buyer("b", {"R": {2025: 10.0}})],
        [provider("q", [project("h", "R", 20.0, "2025-03")], p_on_time=1.0, cancel=0.0)],
    )
    obs = make_observations(
        p, measurements=[{"region": "R", "month": "2025-06", "quantity": "occupancy",
                          "value": 0.8, "sd": 0.1}],
    )  # fmt: skip
    arrays = ObservationArrays.build(p, obs)
    impossible = dataclasses.replace(
        arrays, fact_project=np.array([0], np.int64), fact_month=np.array([6], np.int64)
    )
    _, top = max_log_weight_pass(CompiledRun.build(p, SEED), impossible, 300, 1)
    assert top == -np.inf
    monkeypatch.setattr(ObservationArrays, "build", classmethod(lambda cls, *a: impossible))
    with pytest.raises(ValueError, match="no simulated path agrees"):
        simulate(p, 300, SEED, observations=obs, progress=False)


def test_ess_floor_warning(priors):
    tight = make_observations(
        priors,
        measurements=[
            {"region": "A", "month": "2025-12", "quantity": "occupancy", "value": 0.78, "sd": 1e-4}
        ],
    )
    ds = simulate(priors, 4000, SEED, observations=tight, progress=False)
    assert ds.attrs["effective_sample_size"] < weighting.ESS_FLOOR
    assert "more paths" in ds.attrs["nowcast_warning"]
    loose = make_observations(
        priors,
        measurements=[
            {"region": "A", "month": "2025-12", "quantity": "occupancy", "value": 0.78, "sd": 0.2}
        ],
    )
    ds = simulate(priors, 4000, SEED, observations=loose, progress=False)
    assert ds.attrs["effective_sample_size"] > weighting.ESS_FLOOR
    assert "nowcast_warning" not in ds.attrs


def test_unweighted_result_has_no_nowcast_parts(priors):
    ds = simulate(priors, 500, SEED, progress=False)
    assert not [v for v in ds.data_vars if v.endswith("_prior") or v.startswith("observation")]
    assert "effective_sample_size" not in ds.attrs


def test_refusals(priors, obs):
    with pytest.raises(ValueError, match="point mode"):
        simulate(priors, point=True, observations=obs)


def test_target_se_with_observations(priors, obs):
    ds = simulate(
        priors, seed=SEED, observations=obs, target_se=0.02, progress=False,
        se_cells={"region": ["A"], "time": slice("2025-10", "2025-12"),
                  "variables": ["p_shortage"]},
    )  # fmt: skip
    assert ds.attrs["converged"] == 1
    sel = ds.p_shortage_se.sel(region="A", time=slice("2025-10", "2025-12"))
    assert float(sel.max()) <= 0.02
    again = simulate(priors, ds.attrs["paths_used"], SEED, observations=obs, progress=False)
    np.testing.assert_array_equal(again.p_shortage.values, ds.p_shortage.values)


def test_cli_observe(tmp_path, capsys):
    out = tmp_path / "nc.nc"
    code = main(
        ["run", "--observe", "observations_example", "--paths", "2000", "--out", str(out),
         "--quiet"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Nowcast: conditioned on observations observations_example" in captured.out
    assert "WARNING" in captured.out  # 2,000 paths leave an ESS (~720) under the floor
    ds = read_result(out)
    assert ds.attrs["observations"] == "observations_example"
    assert "p_shortage_year_end_prior" in ds
    bad = tmp_path / "bad.toml"
    bad.write_text('[[measurements]]\nregion = "yangtze"\nmonth = "2025-12"\n'
                   'quantity = "occupancy"\nvalue = 0.8\nsd = -1\n')  # fmt: skip
    code = main(["run", "--observe", str(bad), "--paths", "100", "--out", str(tmp_path / "x.nc")])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "sd" in lines[0] and "-1" in lines[0]
    assert not (tmp_path / "x.nc").exists()


def test_summary_and_report_show_the_conditioning(priors, obs, kept):
    from mcsd.cli.summary import summary_text
    from mcsd.report import html_report

    lines = summary_text(kept)
    text = "\n".join(lines)
    assert "Nowcast: conditioned on observations engine-test (3 measurement(s), 3 project" in text
    i = next(k for k, line in enumerate(lines) if line.startswith("P(short at the year end)"))
    row = next(line for line in lines[i:] if line.startswith("A "))
    a = kept.sel(region="A")
    first = f"{float(a.p_shortage_year_end_prior[0]):.3f} -> {float(a.p_shortage_year_end[0]):.3f}"
    assert first in row
    page = html_report(kept)
    assert "Observations (nowcast)" in page and "effective sample size" in page
    assert 'data-var="observation_sd"' in page and 'data-value="0.03"' in page
    median = float(kept.demand_prior.sel(region="A", quantile=0.5).isel(time=-1))
    assert 'data-var="demand_prior_median" data-region="A"' in page
    assert f"{median:,.0f}<" in page  # MW cells formatted as MW, not as percent
