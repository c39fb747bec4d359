"""The engine's market mechanisms (issue 16) through ``mcsd.simulate``: pre-leased halls
(exact, per path), the year-end turning rule (exact per path, and a closed form within 4
binomial SE), and the neutrality of every new field at its default (bit for bit against
digests computed with the engine before issue 16).

Constructions: a late distribution ``uniform(loc=2.6, scale=0.3)`` with p_on_time = 0 and
no delay factor makes a hall exactly 3 months late on every path (deviation in [2.6, 2.9],
rounded half up); cancellation_probability = 1 cancels it on every path. When every path
has the same value, a quantile equals it exactly (histogram quantiles are clamped to the
observed [min, max]).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import mcsd
from mcsd.engine.executor import CompiledRun
from mcsd.kernels.sampling import draw_all_inputs
from mcsd.priors.model import DemandEvent, Distribution
from mcsd.testing.toy import Z4, buyer, make_priors, project, provider, region

THREE_LATE = Distribution("uniform", {"loc": 2.6, "scale": 0.3})
WIDE_MULT = Distribution("lognorm", {"s": 0.3})
WIDE_SHARE = Distribution("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.5, "scale": 0.05})
ATOL = 1e-9  # MW: float sums of the same terms in another order


def pre_leased(jid, rid, cap, month, buyer_id, mw):
    return dataclasses.replace(
        project(jid, rid, cap, month), pre_lease_buyer=buyer_id, pre_lease_mw=mw
    )


def sel_a(ds, name):
    """(path, time) values of region A of a per-path cube."""
    return ds[f"{name}_path"].sel(region="A").values


# ------------------------------------------------------------------------ pre-leased halls
D0, S0, HALL, TENANT, INC = 50.0, 100.0, 100.0, 60.0, 96.0
LATE_HALL, LATE_TENANT = 30.0, 20.0  # scheduled 2025-11, delivered 2026-02: after the horizon


def late_hall_priors():
    """Region A: D0 over S0; buyer b's 2025 increment INC holds two pre-leases: TENANT MW on
    a hall scheduled 2025-03 (delivered 2025-06) and LATE_TENANT on one scheduled 2025-11
    (delivered after the 2025-12 horizon); the rest INC - 80 is scaled and phased."""
    halls = [
        pre_leased("h", "A", HALL, "2025-03", "b", TENANT),
        pre_leased("h2", "A", LATE_HALL, "2025-11", "b", LATE_TENANT),
    ]
    return make_priors(
        [region("A", D0, S0)],
        [
            buyer(
                "b", {"A": {2025: INC}}, mult=WIDE_MULT, share=WIDE_SHARE, nominal=0.5, loading=0.5
            )
        ],
        [provider("p", halls, p_on_time=0.0, late=THREE_LATE, factor=None)],
        max_occupancy=1.0,
    )


@pytest.fixture(scope="module")
def late_hall():
    priors = late_hall_priors()
    n, seed = 300, 7
    ds = mcsd.simulate(priors, n_paths=n, seed=seed, keep_paths=True, progress=False)
    run = CompiledRun.build(priors, seed)
    inputs = draw_all_inputs(run.model, run.group_seed_keys, 0, n)  # the run's own inputs
    return ds, inputs


def test_late_hall_inputs(late_hall):
    _, inputs = late_hall
    assert np.all(inputs["delivery"][:, 0] == 6) and np.all(inputs["delivery"][:, 1] == 14)
    assert np.all(inputs["late"])


def test_pre_lease_waits_for_its_late_hall(late_hall):
    """Requested = D0 + (INC - 80) x scale x t / 12 + TENANT from the delivery month 6; the
    late hall's tenant never arrives within the horizon; served = min(requested, supply)."""
    ds, inputs = late_hall
    t = np.arange(1, 13)
    scale = inputs["scale"][:, 0, 0][:, None]
    rest = (INC - TENANT - LATE_TENANT) * scale * t / 12.0
    requested = D0 + rest + np.where(t >= 6, TENANT, 0.0)
    supply = np.where(t >= 6, S0 + HALL, S0)
    served = np.minimum(requested, supply)
    np.testing.assert_allclose(sel_a(ds, "supply"), np.broadcast_to(supply, served.shape))
    np.testing.assert_allclose(sel_a(ds, "demand"), served, rtol=0, atol=ATOL)
    np.testing.assert_allclose(sel_a(ds, "unmet_demand"), requested - served, rtol=0, atol=ATOL)
    # the existing stock does not fill with the tenant while its hall is late
    assert np.all(sel_a(ds, "demand")[:, 2:5] < D0 + TENANT)


def test_deferred_demand_is_the_tenants_of_late_halls(late_hall):
    ds, _ = late_hall
    t = np.arange(1, 13)
    want = np.where((t >= 3) & (t < 6), TENANT, 0.0) + np.where(t >= 11, LATE_TENANT, 0.0)
    got = sel_a(ds, "deferred_demand")
    assert np.array_equal(got, np.broadcast_to(want, got.shape)), got[0]
    for r in ("A", "national"):
        q = ds["deferred_demand"].sel(region=r).values  # (time, quantile): every path alike
        np.testing.assert_allclose(q, np.broadcast_to(want[:, None], q.shape), rtol=0, atol=ATOL)
    assert ds["deferred_demand"].attrs.get("units") == "MW"


def cancelled_hall_priors():
    """Region A: 90 over 100 MW; b's whole 2025 increment (40 MW) is pre-leased on a 50 MW
    hall scheduled 2025-03 that is always cancelled."""
    hall = pre_leased("c", "A", 50.0, "2025-03", "b", 40.0)
    return make_priors(
        [region("A", 90.0, 100.0)],
        [buyer("b", {"A": {2025: 40.0}}, mult=WIDE_MULT, share=WIDE_SHARE, nominal=0.5)],
        [provider("p", [hall], p_on_time=0.0, late=THREE_LATE, cancel=1.0, factor=None)],
        max_occupancy=1.0,
    )


def test_a_cancelled_halls_tenant_is_requested_at_the_scheduled_month():
    """The tenant (firm: no multiplier, no share) is requested in month 3; there is no room:
    served is capped at 100 MW, 30 MW unmet from then on; nothing is deferred."""
    ds = mcsd.simulate(cancelled_hall_priors(), n_paths=200, seed=3, keep_paths=True)
    t = np.arange(1, 13)
    requested = 90.0 + np.where(t >= 3, 40.0, 0.0)
    served = np.minimum(requested, 100.0)
    for name, want in [
        ("supply", np.full(12, 100.0)),
        ("demand", served),
        ("unmet_demand", requested - served),
        ("deferred_demand", np.zeros(12)),
    ]:
        got = sel_a(ds, name)
        np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=0, atol=ATOL)
        q = ds[name].sel(region="A").values
        np.testing.assert_allclose(q, np.broadcast_to(want[:, None], q.shape), rtol=0, atol=ATOL)


def two_year_pre_lease_priors(with_leases: bool):
    halls = [
        ("h1", 100.0, "2025-03", TENANT),
        ("h2", 30.0, "2025-11", LATE_TENANT),
        ("h3", 50.0, "2026-06", 40.0),
    ]
    projects = [
        pre_leased(j, "A", cap, month, "b", mw) if with_leases else project(j, "A", cap, month)
        for j, cap, month, mw in halls
    ]
    return make_priors(
        [region("A", D0, S0), region("B", 10.0, 50.0)],
        [
            buyer("b", {"A": {2025: INC, 2026: 40.0}, "B": {2025: 5.0}}, mult=WIDE_MULT),
            buyer("c", {"A": {2025: 12.0, 2026: 24.0}}),
        ],
        [provider("p", projects, p_on_time=0.0, late=THREE_LATE, factor=None)],
        horizon_month="2026-12",
    )


def test_point_mode_pre_leases_keep_the_year_end_stocks():
    with_l = mcsd.simulate(two_year_pre_lease_priors(True), point=True)
    without = mcsd.simulate(two_year_pre_lease_priors(False), point=True)
    decembers = [pd.Timestamp("2025-12-31"), pd.Timestamp("2026-12-31")]
    for name in ("demand", "supply", "unmet_demand", "occupancy"):
        a = with_l[name].sel(time=decembers).values
        b = without[name].sel(time=decembers).values
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=name)
    assert np.all(with_l["deferred_demand"].values == 0.0)  # point mode: every hall on time
    # in between, the tenant comes in one step at the delivery month, not phased
    a = with_l["demand"].sel(region="A").isel(quantile=0).values
    assert a[2] - a[1] == pytest.approx(TENANT + (INC - TENANT - LATE_TENANT + 12.0) / 12)


# ----------------------------------------------------------------------------- demand events
# (id, month, probability, market loading, MW); months t = 5, 8, 15, 11, 2
EVENTS = [
    ("e_a", "2025-05", 0.2, 0.0, 30.0),
    ("e_b", "2025-08", 0.8, 0.0, 40.0),
    ("e_c", "2026-03", 0.3, 0.6, 50.0),
    ("e_d", "2025-11", 0.7, -0.5, 25.0),
    ("e_f", "2025-02", 1.0, 0.0, 10.0),
]
EVENT_MONTH = np.array([5, 8, 15, 11, 2])


def event_priors():
    """Region A: 50 over 1000 MW (always room); buyer b's 12 MW in 2025 scaled and phased,
    plus the events (firm: neither scaled nor phased)."""
    return make_priors(
        [region("A", 50.0, 1000.0)],
        [buyer("b", {"A": {2025: 12.0}}, mult=WIDE_MULT, share=WIDE_SHARE, nominal=0.5)],
        horizon_month="2026-12",
        demand_events=tuple(
            DemandEvent(e, e, "b", "A", month, mw, p, market_loading=w)
            for e, month, p, w, mw in EVENTS
        ),
    )


def events_demand(on, scale):
    """(path, time) requested demand: 50 + 12 scale t / 12 (t <= 12) + the events that are
    on, from their month."""
    t = np.arange(1, 25)
    mw = np.array([e[4] for e in EVENTS])
    phased = 12.0 * scale[:, None] * np.minimum(t, 12) / 12.0
    arrived = (t[None, None, :] >= EVENT_MONTH[None, :, None]) & on[:, :, None]
    return 50.0 + phased + (arrived * mw[None, :, None]).sum(axis=1)


def test_events_are_requested_at_their_month_on_the_paths_where_they_happen():
    priors = event_priors()
    n, seed = 400, 9
    ds = mcsd.simulate(priors, n_paths=n, seed=seed, keep_paths=True, progress=False)
    run = CompiledRun.build(priors, seed)
    inputs = draw_all_inputs(run.model, run.group_seed_keys, 0, n)
    on = inputs["event_on"]
    assert 0 < on[:, 0].sum() < n and np.all(on[:, 4])  # some paths with e_a, e_f on all
    want = events_demand(on, inputs["scale"][:, 0, 0])
    np.testing.assert_allclose(sel_a(ds, "demand"), want, rtol=0, atol=ATOL)
    assert np.all(sel_a(ds, "unmet_demand") == 0.0) and np.all(ds["deferred_demand"] == 0.0)


def test_point_mode_has_exactly_the_likely_events():
    ds = mcsd.simulate(event_priors(), point=True)
    on = np.array([[p > 0.5 for _, _, p, _, _ in EVENTS]])  # e_b, e_d, e_f
    want = events_demand(on, np.ones(1))[0]
    got = ds["demand"].sel(region="A").values  # (time, quantile): all quantiles alike
    np.testing.assert_allclose(got, np.broadcast_to(want[:, None], got.shape), rtol=0, atol=ATOL)


# ------------------------------------------------------------------- turning rule year_end
S_LOG = 0.5


def turning_priors(rule):
    """A: 69 + 24 M1 t / 12 over 100 (t <= 12; short from June in point mode), + 12 M2 in
    2026; B: short at the base; C: short early in 2027 on nearly every path. Horizon
    2027-09: 2027 has no December. (No nominal month sits exactly at the threshold.)"""
    return make_priors(
        [region("A", 69.0, 100.0), region("B", 90.0, 100.0), region("C", 60.0, 100.0)],
        [
            buyer(
                "b",
                {"A": {2025: 24.0, 2026: 12.0}, "C": {2027: 300.0}},
                mult=Distribution("lognorm", {"s": S_LOG}),
            )
        ],
        horizon_month="2027-09",
        max_occupancy=1.0,
        turning_point=rule,
    )


def first_turn(short):
    """1-based index of the first True along the last axis, 0 if none."""
    any_ = short.any(axis=-1)
    return np.where(any_, np.argmax(short, axis=-1) + 1, 0)


@pytest.fixture(scope="module")
def turning_runs():
    n = 20_000
    out = {}
    for rule in ("first_month", "year_end"):
        ds = mcsd.simulate(turning_priors(rule), n_paths=n, seed=13, keep_paths=True)
        out[rule] = ds
    return out


@pytest.mark.parametrize("rule", ["first_month", "year_end"])
def test_turning_month_per_path(turning_runs, rule):
    ds = turning_runs[rule]
    assert ds.attrs["turning_point_rule"] == rule
    december = ds.time.dt.month.values == 12
    short = ds["occupancy_path"].values >= 0.8  # (path, region, time)
    if rule == "year_end":
        short = short & december
    want = first_turn(short)
    at_base = ds["in_shortage_at_base"].values.astype(bool)
    want[:, at_base] = 1
    assert np.array_equal(ds["turning_month_path"].values, want)
    assert list(at_base) == [False, True, False, False]


def test_year_end_cdf_steps_only_at_decembers(turning_runs):
    ds = turning_runs["year_end"]
    cdf = ds["turning_point_cdf"].values  # (region, time)
    december = ds.time.dt.month.values == 12
    steps = np.diff(np.concatenate([np.zeros((cdf.shape[0], 1)), cdf], axis=1), axis=1)
    assert np.all(steps[[0, 2, 3]][:, ~december] == 0.0)
    assert np.all(cdf[1] == 1.0)  # B: short at the base, turning month 1 under either rule
    # C only gets short in 2027, which has no December: never turns (censored)
    assert np.all(cdf[2] == 0.0) and float(ds["p_no_turning_point"].sel(region="C")) == 1.0
    assert float(turning_runs["first_month"]["p_no_turning_point"].sel(region="C")) < 0.01


def test_year_end_turning_cdf_closed_form(turning_runs):
    """A turns at December 2025 iff 69 + 24 M1 >= 80 (M1 >= 11/24), by December 2026 iff
    69 + 24 M1 + 12 M2 >= 80 (M2 >= (11 - 24 M1) / 12); M1, M2 independent lognorm(0.5)."""
    ds = turning_runs["year_end"]
    n = ds.attrs["n_paths"]
    m = stats.lognorm(S_LOG)
    c = 11 / 24
    p1 = m.sf(c)
    p2 = p1 + integrate.quad(lambda x: m.pdf(x) * m.sf((11 - 24 * x) / 12), 0, c, epsabs=1e-13)[0]
    cdf = ds["turning_point_cdf"].sel(region="A")
    for month, p in [
        ("2025-11-30", 0.0),
        ("2025-12-31", p1),
        ("2026-12-31", p2),
        ("2027-09-30", p2),
    ]:
        got = float(cdf.sel(time=pd.Timestamp(month)))
        assert abs(got - p) <= Z4 * np.sqrt(p * (1 - p) / n), (month, got, p)
    assert 0.02 < p2 - p1 and 0.02 < p1 < 0.98  # each step is a real one at this n


def test_point_mode_turning_months():
    for rule, months in [
        ("first_month", {"A": "2025-06", "B": "2025-01", "C": "2027-01"}),
        ("year_end", {"A": "2025-12", "B": "2025-01", "C": None}),
    ]:
        ds = mcsd.simulate(turning_priors(rule), point=True)
        assert ds.attrs["turning_point_rule"] == rule
        for r, month in months.items():
            cdf = ds["turning_point_cdf"].sel(region=r).values
            if month is None:
                assert np.all(cdf == 0.0), (rule, r)
                continue
            first = pd.Timestamp(ds.time.values[np.argmax(cdf == 1.0)])
            assert first.strftime("%Y-%m") == month, (rule, r, first)


# --------------------------------------------------------------------- default neutrality
def digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def neutral_priors():
    """Two regions with spillover, two buyers (both multiplier and share code paths), three
    providers (integer and non-integer gamma delays, weibull, factors, cancellation), a
    sustained turning rule."""
    return make_priors(
        [
            region("A", 60, 100, delay_factor=Distribution("lognorm", {"s": 0.3})),
            region("B", 30, 60),
        ],
        [
            buyer(
                "b0",
                {"A": {2025: 30, 2026: 25}, "B": {2025: 10, 2026: 12}},
                mult=Distribution("lognorm", {"s": 0.35}),
                loading=0.7,
                phi=0.4,
                share=Distribution("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.6, "scale": 0.08}),
                nominal=0.6,
            ),
            buyer(
                "b1",
                {"A": {2025: 8}, "B": {2025: 15, 2026: 20}},
                mult=Distribution("gamma", {"a": 3.0, "scale": 1 / 2.6740603137483736}),
                loading=0.5,
                phi=0.2,
                share=Distribution("beta", {"a": 12.0, "b": 8.05}),
                nominal=0.6020924637,
                monthly_profile=(
                    0.02,
                    0.03,
                    0.05,
                    0.05,
                    0.08,
                    0.08,
                    0.1,
                    0.1,
                    0.1,
                    0.1,
                    0.14,
                    0.15,
                ),
            ),
        ],
        [
            provider(
                "p0",
                [project("a1", "A", 20, "2025-03"), project("b1", "B", 15, "2025-06")],
                p_on_time=0.4,
                late=Distribution("gamma", {"a": 2.0, "scale": 2.0}),
                cancel=0.1,
                factor=Distribution("lognorm", {"s": 0.4}),
            ),
            provider(
                "p1",
                [project("a2", "A", 25, "2025-09"), project("a3", "A", 10, "2026-02")],
                p_on_time=0.3,
                late=Distribution("gamma", {"a": 2.5, "scale": 1.5}),
                cancel=0.05,
                factor=None,
            ),
            provider(
                "p2",
                [project("b2", "B", 20, "2026-01")],
                p_on_time=0.5,
                late=Distribution("weibull_min", {"c": 1.5, "scale": 3.0}),
            ),
        ],
        spillover=((0.0, 0.3), (0.2, 0.0)),
        horizon_month="2026-12",
        max_occupancy=0.95,
        sustain_months=2,
    )


# digests of mcsd.simulate(neutral_priors(), n_paths=3000, seed=5, keep_paths=True) and of
# its point mode, computed with the engine before issue 16 (git HEAD e02a45e)
OLD_MC = {
    "demand": "bf69b1d2287dd9a0", "demand_path": "ade219a7d33974c6",
    "in_shortage_at_base": "e2f19f93a5ddd6e7", "occupancy": "64a43dc770998127",
    "occupancy_exceedance": "2737238dd240050d", "occupancy_mean": "37f0d233ee499c5d",
    "occupancy_path": "b6e0911e8e27da7e", "p_no_turning_point": "358079290170bb35",
    "p_shortage": "bfae7ee38fadb808", "p_shortage_all_months": "07797a679c28ce04",
    "p_shortage_all_months_se": "8c9dfe985309a742", "p_shortage_any_month": "1ffb38111c8e3e69",
    "p_shortage_any_month_se": "915246eb5a524d32", "p_shortage_hi": "d2d25a90ad6bfca0",
    "p_shortage_lo": "3b4b293d8e2a3c9c", "p_shortage_se": "24f7d7600a210a67",
    "p_shortage_year_end": "85b04475efebabfe", "p_shortage_year_end_se": "7d065b2a90fdddf3",
    "supply": "f0bd0cc575038b2d", "supply_path": "374833bb4d3e9995",
    "turning_month_path": "54828eb30c63a25d", "turning_point_cdf": "33ceca5e8ee44873",
    "unmet_demand": "33c3b5debcb49618", "unmet_demand_path": "688e71418b1d6ae8",
    "coord:level": "4248451cf14acfca", "coord:path": "52d05cfb82be2b0c",
    "coord:quantile": "ec6be4d726e08487", "coord:time": "b0a8728829bcf0e9",
    "coord:year": "0189113e1f58189d",
}  # fmt: skip
OLD_POINT = {
    "demand": "0b91b983fbd3338f", "in_shortage_at_base": "e2f19f93a5ddd6e7",
    "occupancy": "5b0a8af9a8575551", "occupancy_exceedance": "e4b59d916888c8e4",
    "occupancy_mean": "b829739a89981a81", "p_no_turning_point": "02d5f370c5874757",
    "p_shortage": "a8b955857c65e47d", "p_shortage_all_months": "0f45472f8f28f461",
    "p_shortage_all_months_se": "0f45472f8f28f461", "p_shortage_any_month": "977711a8392775a2",
    "p_shortage_any_month_se": "0f45472f8f28f461", "p_shortage_hi": "497b625530d53963",
    "p_shortage_lo": "c59a0eac37657f9c", "p_shortage_se": "0951bea0829ddfe1",
    "p_shortage_year_end": "977711a8392775a2", "p_shortage_year_end_se": "0f45472f8f28f461",
    "supply": "8940d5ac49b0867b", "turning_point_cdf": "a8b955857c65e47d",
    "unmet_demand": "91a1a5c95414b200", "coord:level": "4248451cf14acfca",
    "coord:quantile": "ec6be4d726e08487", "coord:time": "b0a8728829bcf0e9",
    "coord:year": "0189113e1f58189d",
}  # fmt: skip
OLD_ATTRS = {
    "mcsd_format": "mcsd-result", "mcsd_format_version": 1, "title": "mcsd result for priors toy",
    "priors_name": "toy", "priors_sha256": "0" * 64, "threshold": 0.8, "max_occupancy": 0.95,
    "sustain_months": 2, "base_month": "2024-12", "horizon_month": "2026-12", "seed": 5,
    "n_paths": 3000, "point_mode": 0,
    "quantile_method": "fixed-bin histograms, linear within the bin",
    "occupancy_max_bin_width": 0.001, "demand_max_bin_width": 0.07375,
    "supply_max_bin_width": 0.045, "unmet_demand_max_bin_width": 0.41236275229868696,
    "Conventions": "CF-1.8",
}  # fmt: skip
NEW_VARIABLES = ("deferred_demand", "deferred_demand_path")
NEW_COORDS = ("region", "region_name")  # region: object dtype (no byte digest); region_name new


def explicit_defaults(priors):
    """``priors`` with every issue-16 field written out at its neutral default."""
    providers = tuple(
        dataclasses.replace(
            p,
            delivery_delay_months=dataclasses.replace(
                p.delivery_delay_months, provider_loading=0.0, region_loading=0.0
            ),
            projects=tuple(
                dataclasses.replace(j, pre_lease_buyer=None, pre_lease_mw=0.0) for j in p.projects
            ),
        )
        for p in priors.providers
    )
    buyers = tuple(
        dataclasses.replace(b, third_party_share_market_loading=0.0) for b in priors.buyers
    )
    return dataclasses.replace(
        priors, providers=providers, buyers=buyers, turning_point="first_month", demand_events=()
    )


def old_part_digests(ds):
    """Digests of the variables and coordinates the results had before issue 16."""
    out = {n: digest(ds[n].values) for n in sorted(ds.data_vars) if n not in NEW_VARIABLES}
    out.update(
        {f"coord:{n}": digest(ds[n].values) for n in sorted(ds.coords) if n not in NEW_COORDS}
    )
    assert list(ds.region.values) == ["A", "B", "national"]  # object dtype: no byte digest
    return out


@pytest.mark.parametrize("explicit", [False, True])
def test_defaults_reproduce_the_engine_before_issue_16(explicit):
    priors = neutral_priors()
    if explicit:
        priors = explicit_defaults(priors)
    ds = mcsd.simulate(priors, n_paths=3000, seed=5, keep_paths=True, progress=False)
    got = old_part_digests(ds)
    assert {k: v for k, v in got.items() if v != OLD_MC.get(k)} == {}
    for k, v in OLD_ATTRS.items():
        assert ds.attrs[k] == v, k
    assert ds.attrs["turning_point_rule"] == "first_month"
    new_attrs = {
        "created",
        "mcsd_version",
        "turning_point_rule",
        "deferred_demand_max_bin_width",
        "mcsd_result_kind",  # the result-format marker names the kind (issue 18)
    }
    assert set(ds.attrs) - set(OLD_ATTRS) <= new_attrs
    for name in NEW_VARIABLES:  # no pre-leases: nothing deferred
        assert np.all(ds[name].values == 0.0), name
    pt = mcsd.simulate(priors, point=True)
    got = old_part_digests(pt)
    assert {k: v for k, v in got.items() if v != OLD_POINT.get(k)} == {}


TOML = """
[meta]
name = "neutral"
[settings]
base_month = "2029-12"
horizon_month = "2030-12"
threshold = 0.75
max_occupancy = 0.9
{turning}
[[regions]]
id = "north"
demand_stock_mw = 60
supply_stock_mw = 100
[[buyers]]
id = "acme"
market_loading = 0.5
persistence = 0.3
demand_multiplier = {{ dist = "lognorm", s = 0.3 }}
third_party_share = {{ nominal = 0.5, dist = "uniform", loc = 0.4, scale = 0.2{share} }}
[buyers.increments_mw]
north = {{ 2030 = 48 }}
[[providers]]
id = "builder"
cancellation_probability = 0.1
delay_factor = {{ dist = "lognorm", s = 0.3 }}
projects = [
  {{ id = "n1", region = "north", capacity_mw = 20, scheduled_month = "2030-06" }},
]
[providers.delivery_delay_months]
p_on_time = 0.6
late = {{ dist = "gamma", a = 2, scale = 2.0 }}
{delay}
"""


def test_priors_files_with_explicit_defaults_give_the_same_numbers(tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text(TOML.format(turning="", share="", delay=""))
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(
        TOML.format(
            turning='turning_point = "first_month"',
            share=", market_loading = 0",
            delay="provider_loading = 0\nregion_loading = 0",
        )
    )
    a, b = (
        mcsd.simulate(mcsd.load_priors(f), n_paths=2000, seed=1, progress=False)
        for f in (plain, explicit)
    )
    assert a.attrs["priors_sha256"] != b.attrs["priors_sha256"]  # two different files
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values), name
