"""The priors of the market mechanics (issue 16): the year-end turning-point rule, shared
lateness, pre-leased halls, the share on the cycle and demand events. A file using them all
loads into the right values; a file without them gets the neutral defaults (the old model);
every mistake raises one PriorsError naming the file, the field path and the value."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pytest

import mcsd
from mcsd.cli.main import main as cli_main
from mcsd.priors import model
from mcsd.priors.loader import PriorsError, builtin_priors_names, load_priors

OLD = """\
[meta]
name = "mech"

[settings]
base_month = "2024-12"
horizon_month = "2026-12"
threshold = 0.8
max_occupancy = 0.95
sustain_months = 1

[[regions]]
id = "north"
demand_stock_mw = 100
supply_stock_mw = 150
delay_factor = { dist = "lognorm", s = 0.2 }

[[regions]]
id = "south"
demand_stock_mw = 50
supply_stock_mw = 80

[[buyers]]
id = "acme"
market_loading = 0.7
persistence = 0.4
demand_multiplier = { dist = "lognorm", s = 0.25 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.25, scale = 0.5 }

[buyers.increments_mw]
north = { 2025 = 40, 2026 = 30.5 }
south = { 2026 = 10 }

[[buyers]]
id = "beta"
market_loading = 0.2
persistence = 0.0
demand_multiplier = { dist = "lognorm", s = 0.1 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.4, scale = 0.2 }

[buyers.increments_mw]
north = { 2025 = 20 }

[[providers]]
id = "builder"
cancellation_probability = 0.05
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.6, late = { dist = "gamma", a = 2, scale = 1.5 } }

[[providers.projects]]
id = "b-n-1"
region = "north"
capacity_mw = 30
scheduled_month = "2025-06"

[[providers.projects]]
id = "b-n-2"
region = "north"
capacity_mw = 20
scheduled_month = "2025-09"

[[providers.projects]]
id = "b-n-3"
region = "north"
capacity_mw = 40
scheduled_month = "2026-02"

[[providers.projects]]
id = "b-n-4"
region = "north"
capacity_mw = 25
scheduled_month = "2025-11"

[[providers.projects]]
id = "b-s-1"
region = "south"
capacity_mw = 20
scheduled_month = "2027-03"
"""


def sub(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """Replace each ``old`` (which must occur exactly once) by ``new``."""

    def mutate(text: str) -> str:
        for old, new in pairs:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        return text

    return mutate


EVENTS = """
[[demand_events]]
id = "datong"
name = "Datong plan"
buyer = "acme"
region = "north"
month = "2026-03"
mw = 900
probability = 0.3
market_loading = 0.5

[[demand_events]]
id = "abroad"
buyer = "beta"
region = "south"
month = "2025-07"
mw = 50
probability = 1
"""

# Every new field. acme's pre-leases in north 2025 (25 + 15) and 2026 (30.5) equal its
# increments exactly; beta's (20) too: a cover that is only just enough is allowed, and
# years and buyers are covered separately.
NEW = (
    sub(
        ("sustain_months = 1", 'sustain_months = 1\nturning_point = "year_end"'),
        ("loc = 0.25, scale = 0.5 }", "loc = 0.25, scale = 0.5, market_loading = 0.6 }"),
        ("scale = 1.5 } }", "scale = 1.5 }, provider_loading = 0.5, region_loading = -0.3 }"),
        ('"2025-06"', '"2025-06"\npre_lease = { buyer = "acme", mw = 25 }'),
        ('"2025-09"', '"2025-09"\npre_lease = { buyer = "acme", mw = 15 }'),
        ('"2026-02"', '"2026-02"\npre_lease = { buyer = "acme", mw = 30.5 }'),
        ('"2025-11"', '"2025-11"\npre_lease = { buyer = "beta", mw = 20 }'),
    )(OLD)
    + EVENTS
)


def write(tmp_path: Path, text: str, name: str = "mech.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- valid files


def test_every_new_field_loads(tmp_path: Path) -> None:
    p = load_priors(write(tmp_path, NEW))

    assert p.turning_point == "year_end" and p.sustain_months == 1

    acme, beta = p.buyers
    assert acme.third_party_share_market_loading == 0.6
    assert beta.third_party_share_market_loading == 0.0
    # market_loading is not a parameter of the share's distribution
    assert dict(acme.third_party_share.params) == {"loc": 0.25, "scale": 0.5}
    assert acme.third_party_share_nominal == 0.5

    (pr,) = p.providers
    delay = pr.delivery_delay_months
    assert (delay.p_on_time, delay.provider_loading, delay.region_loading) == (0.6, 0.5, -0.3)
    assert str(delay.late) == "gamma(a=2, scale=1.5)"

    leases = [(j.id, j.pre_lease_buyer, j.pre_lease_mw) for j in pr.projects]
    assert leases == [
        ("b-n-1", "acme", 25.0),
        ("b-n-2", "acme", 15.0),
        ("b-n-3", "acme", 30.5),
        ("b-n-4", "beta", 20.0),
        ("b-s-1", None, 0.0),
    ]
    assert all(isinstance(j.pre_lease_mw, float) for j in pr.projects)

    assert p.demand_events == (
        model.DemandEvent(
            id="datong",
            name="Datong plan",
            buyer="acme",
            region="north",
            month="2026-03",
            mw=900.0,
            probability=0.3,
            market_loading=0.5,
        ),
        # name defaults to the id, market_loading to 0; probability 1 is allowed
        model.DemandEvent("abroad", "abroad", "beta", "south", "2025-07", 50.0, 1.0, 0.0),
    )
    assert isinstance(p.demand_events, tuple)
    assert all(
        isinstance(e.mw, float) and isinstance(e.probability, float) for e in p.demand_events
    )


def test_boundary_values_load(tmp_path: Path) -> None:
    """Loadings at +-1, squares summing to 1 up to rounding, an event in the horizon month,
    pre-leases summing to their increment up to rounding."""
    text = sub(
        ("scale = 1.5 } }", "scale = 1.5 }, provider_loading = 0.7071067811865476, "
         "region_loading = -0.7071067811865476 }"),
        ("loc = 0.25, scale = 0.5 }", "loc = 0.25, scale = 0.5, market_loading = -1 }"),
        ("north = { 2025 = 20 }", "north = { 2025 = 0.3 }"),  # fsum(0.1, 0.2) > 0.3
        ("2026 = 30.5 }", "2026 = 40 }"),
        ('"2025-06"', '"2025-06"\npre_lease = { buyer = "beta", mw = 0.1 }'),
        ('"2025-09"', '"2025-09"\npre_lease = { buyer = "beta", mw = 0.2 }'),
        ('"2026-02"', '"2026-02"\npre_lease = { buyer = "acme", mw = 40 }'),  # = capacity
    )(OLD)  # fmt: skip
    text += EVENTS.replace('month = "2026-03"', 'month = "2026-12"').replace(
        "market_loading = 0.5", "market_loading = 1"
    )
    assert math.fsum([0.1, 0.2]) > 0.3  # the cover is met up to rounding only
    p = load_priors(write(tmp_path, text))
    delay = p.providers[0].delivery_delay_months
    assert delay.provider_loading**2 + delay.region_loading**2 > 1  # by rounding only
    assert p.buyers[0].third_party_share_market_loading == -1.0
    assert [j.pre_lease_mw for j in p.providers[0].projects[:3]] == [0.1, 0.2, 40.0]
    assert p.demand_events[0].month == "2026-12" and p.demand_events[0].market_loading == 1.0


NEW_FIELDS = {
    model.Priors: ("turning_point", "demand_events"),
    model.DelayDistribution: ("provider_loading", "region_loading"),
    model.Buyer: ("third_party_share_market_loading",),
    model.Project: ("pre_lease_buyer", "pre_lease_mw"),
}


def _rebuilt(obj):
    """``obj`` rebuilt by its constructor from its old fields only (recursively): what the
    code before issue 16 built."""
    if isinstance(obj, tuple):
        return tuple(_rebuilt(x) for x in obj)
    if not dataclasses.is_dataclass(obj):
        return obj
    skip = NEW_FIELDS.get(type(obj), ())
    kwargs = {
        f.name: _rebuilt(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if f.name not in skip
    }
    return type(obj)(**kwargs)


def test_old_file_gets_neutral_defaults(tmp_path: Path) -> None:
    p = load_priors(write(tmp_path, OLD))
    assert p.turning_point == "first_month" and p.demand_events == ()
    assert all(b.third_party_share_market_loading == 0.0 for b in p.buyers)
    for pr in p.providers:
        assert pr.delivery_delay_months.provider_loading == 0.0
        assert pr.delivery_delay_months.region_loading == 0.0
        assert all((j.pre_lease_buyer, j.pre_lease_mw) == (None, 0.0) for j in pr.projects)
    # equal to the Priors built without the new fields: nothing else changed
    assert _rebuilt(p) == p


def test_the_new_file_differs_from_the_old_only_in_new_fields(tmp_path: Path) -> None:
    old = load_priors(write(tmp_path, OLD, "old.toml"))
    new = load_priors(write(tmp_path, NEW, "new.toml"))
    assert _rebuilt(new) == dataclasses.replace(
        _rebuilt(old), source_path=new.source_path, sha256=new.sha256
    )
    assert _rebuilt(new) != new


def test_old_constructors_still_work() -> None:
    """Code that builds the dataclasses positionally, without the new fields, still works."""
    late = model.Distribution("gamma", {"a": 2.0})
    d = model.DelayDistribution(0.5, late)
    j = model.Project("a1", "A", 80, "2025-04")
    assert (d.provider_loading, d.region_loading) == (0.0, 0.0)
    assert (j.pre_lease_buyer, j.pre_lease_mw) == (None, 0.0)


@pytest.mark.parametrize("name", builtin_priors_names())
def test_builtin_priors_still_load(name: str) -> None:
    p = load_priors(name)
    assert p.turning_point in ("first_month", "year_end")
    assert isinstance(p.demand_events, tuple)


def test_study_priors_load_without_argument() -> None:
    p = mcsd.load_priors()
    assert p.name == "cic2025" and len(p.buyers) == 15 and len(p.providers) == 20


# ----------------------------------------------------------------------------- mistakes

PROJ = "providers[0] (builder).projects[0] (b-n-1)"
PROJ2 = "providers[0] (builder).projects[1] (b-n-2)"
PROJ_S = "providers[0] (builder).projects[4] (b-s-1)"
DELAY = "providers[0] (builder).delivery_delay_months"
TPS = "buyers[0] (acme).third_party_share"
EV = "demand_events[0] (datong)"
LEASE = 'pre_lease = { buyer = "acme", mw = 25 }'

# (mutation of NEW, field path in the message, offending value as shown, other words)
CASES: dict[str, tuple[Callable[[str], str], str, str | None, str]] = {
    # 1. turning point
    "turning_point_unknown": (
        sub(('"year_end"', '"yearend"')),
        "settings.turning_point",
        '"yearend"',
        'must be one of "first_month", "year_end"',
    ),
    "turning_point_not_string": (
        sub(('turning_point = "year_end"', "turning_point = 1")),
        "settings.turning_point",
        "1",
        "must be one of",
    ),
    "year_end_needs_sustain_1": (
        sub(("sustain_months = 1", "sustain_months = 3")),
        "settings.turning_point",
        '"year_end"',
        "requires settings.sustain_months = 1 (the year-end rule reads one December), "
        "but sustain_months is 3",
    ),
    # 2. shared lateness
    "provider_loading_range": (
        sub(("provider_loading = 0.5", "provider_loading = 1.5")),
        f"{DELAY}.provider_loading",
        "1.5",
        "must be in [-1, 1]",
    ),
    "region_loading_range": (
        sub(("region_loading = -0.3", "region_loading = -1.01")),
        f"{DELAY}.region_loading",
        "-1.01",
        "must be in [-1, 1]",
    ),
    "loading_not_number": (
        sub(("provider_loading = 0.5", 'provider_loading = "0.5"')),
        f"{DELAY}.provider_loading",
        '"0.5"',
        "must be a number, not a string",
    ),
    "loading_squares": (
        sub(("provider_loading = 0.5", "provider_loading = 0.8"), ("= -0.3", "= -0.7")),
        DELAY,
        "{ provider_loading = 0.8, region_loading = -0.7 }",
        "provider_loading^2 + region_loading^2 must be <= 1",
    ),
    "loading_nan": (
        sub(("region_loading = -0.3", "region_loading = nan")),
        f"{DELAY}.region_loading",
        "nan",
        "must be finite",
    ),
    "loading_typo": (
        sub(("provider_loading = 0.5", "provder_loading = 0.5")),
        f"{DELAY}.provder_loading",
        "0.5",
        "did you mean 'provider_loading'",
    ),
    # 4. share on the cycle
    "share_loading_range": (
        sub(("market_loading = 0.6", "market_loading = 2")),
        f"{TPS}.market_loading",
        "2",
        "must be in [-1, 1]",
    ),
    "share_loading_bool": (
        sub(("market_loading = 0.6", "market_loading = true")),
        f"{TPS}.market_loading",
        "true",
        "must be a number, not a boolean",
    ),
    "share_loading_inf": (
        sub(("market_loading = 0.6", "market_loading = -inf")),
        f"{TPS}.market_loading",
        "-inf",
        "must be finite",
    ),
    # 3. pre-leases
    "pre_lease_not_table": (
        sub((LEASE, "pre_lease = 25")),
        f"{PROJ}.pre_lease",
        "25",
        'must be a table like { buyer = "bytedance", mw = 120 }',
    ),
    "pre_lease_unknown_key": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mw = 25, years = 10 }')),
        f"{PROJ}.pre_lease.years",
        "10",
        "valid keys: buyer, mw)",
    ),
    "pre_lease_typo": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mws = 25 }')),
        f"{PROJ}.pre_lease.mws",
        "25",
        "did you mean 'mw'",
    ),
    "pre_lease_missing_mw": (
        sub((LEASE, 'pre_lease = { buyer = "acme" }')),
        f"{PROJ}.pre_lease.mw",
        None,
        "is missing",
    ),
    "pre_lease_unknown_buyer": (
        sub((LEASE, 'pre_lease = { buyer = "acne", mw = 25 }')),
        f"{PROJ}.pre_lease.buyer",
        '"acne"',
        "must be a buyer id (acme, beta)",
    ),
    "pre_lease_buyer_not_string": (
        sub((LEASE, "pre_lease = { buyer = 1, mw = 25 }")),
        f"{PROJ}.pre_lease.buyer",
        "1",
        "must be a buyer id",
    ),
    "pre_lease_mw_zero": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mw = 0 }')),
        f"{PROJ}.pre_lease.mw",
        "0",
        "must be > 0",
    ),
    "pre_lease_mw_negative": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mw = -5 }')),
        f"{PROJ}.pre_lease.mw",
        "-5",
        "must be > 0",
    ),
    "pre_lease_mw_nan": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mw = nan }')),
        f"{PROJ}.pre_lease.mw",
        "nan",
        "must be finite",
    ),
    "pre_lease_over_capacity": (
        sub((LEASE, 'pre_lease = { buyer = "acme", mw = 30.5 }')),
        f"{PROJ}.pre_lease.mw",
        "30.5",
        "must be <= the project's capacity_mw (30 MW)",
    ),
    "pre_lease_cover": (
        sub(("mw = 15 }", "mw = 16 }")),
        f"{PROJ2}.pre_lease.mw",
        "16",
        "is too large: pre-leases of buyer 'acme' in north 2025 sum to 41 MW, more than its "
        "increment there (40 MW)",
    ),
    "pre_lease_cover_other_buyer": (
        sub(('buyer = "beta", mw = 20', 'buyer = "beta", mw = 20.5')),
        "providers[0] (builder).projects[3] (b-n-4).pre_lease.mw",
        "20.5",
        "pre-leases of buyer 'beta' in north 2025 sum to 20.5 MW, more than its increment "
        "there (20 MW)",
    ),
    "pre_lease_cover_no_increment": (
        sub(('"2027-03"', '"2026-03"\npre_lease = { buyer = "beta", mw = 5 }')),
        f"{PROJ_S}.pre_lease.mw",
        "5",
        "pre-leases of buyer 'beta' in south 2026 sum to 5 MW, more than its increment "
        "there (0 MW)",
    ),
    "pre_lease_after_horizon_year": (
        sub(('"2027-03"', '"2027-03"\npre_lease = { buyer = "acme", mw = 5 }')),
        f"{PROJ_S}.pre_lease.mw",
        "5",
        "more than its increment there (0 MW: 2027 is after the horizon year 2026",
    ),
    # 5. demand events
    "events_not_array": (
        lambda text: "demand_events = 5\n" + text.split("\n[[demand_events]]")[0],
        "demand_events",
        "5",
        "must be an array of tables",
    ),
    "event_duplicate_id": (
        sub(('id = "abroad"', 'id = "Datong"')),
        "demand_events[1] (Datong).id",
        '"Datong"',
        "duplicates the id of demand_events[0] (datong)",
    ),
    "event_unknown_key": (
        sub(("probability = 0.3", "probabilty = 0.3")),
        f"{EV}.probabilty",
        "0.3",
        "did you mean 'probability'",
    ),
    "event_missing_mw": (
        sub(("mw = 900\n", "")),
        f"{EV}.mw",
        None,
        "is missing",
    ),
    "event_unknown_buyer": (
        sub(('name = "Datong plan"\nbuyer = "acme"', 'name = "Datong plan"\nbuyer = "bytedance"')),
        f"{EV}.buyer",
        '"bytedance"',
        "must be a buyer id (acme, beta)",
    ),
    "event_unknown_region": (
        sub(('buyer = "acme"\nregion = "north"', 'buyer = "acme"\nregion = "east"')),
        f"{EV}.region",
        '"east"',
        "must be a region id (north, south)",
    ),
    "event_month_at_base": (
        sub(('month = "2026-03"', 'month = "2024-12"')),
        f"{EV}.month",
        '"2024-12"',
        "must be after settings.base_month (2024-12) and not after settings.horizon_month "
        "(2026-12)",
    ),
    "event_month_after_horizon": (
        sub(('month = "2026-03"', 'month = "2027-01"')),
        f"{EV}.month",
        '"2027-01"',
        "not after settings.horizon_month (2026-12)",
    ),
    "event_month_format": (
        sub(('month = "2026-03"', 'month = "2026-3"')),
        f"{EV}.month",
        '"2026-3"',
        '"YYYY-MM"',
    ),
    "event_mw_zero": (
        sub(("mw = 900", "mw = 0")),
        f"{EV}.mw",
        "0",
        "must be > 0",
    ),
    "event_mw_negative": (
        sub(("mw = 900", "mw = -900")),
        f"{EV}.mw",
        "-900",
        "must be > 0",
    ),
    "event_mw_inf": (
        sub(("mw = 900", "mw = inf")),
        f"{EV}.mw",
        "inf",
        "must be finite",
    ),
    "event_probability_zero": (
        sub(("probability = 0.3", "probability = 0")),
        f"{EV}.probability",
        "0",
        "must be in (0, 1]",
    ),
    "event_probability_above_one": (
        sub(("probability = 0.3", "probability = 1.2")),
        f"{EV}.probability",
        "1.2",
        "must be in (0, 1]",
    ),
    "event_probability_half": (
        sub(("probability = 0.3", "probability = 0.5")),
        f"{EV}.probability",
        "0.5",
        "nominal = median, and an event with probability 0.5 has no median, so point mode "
        "could not decide whether it happens (use 0.49 or 0.51)",
    ),
    "event_probability_nan": (
        sub(("probability = 0.3", "probability = nan")),
        f"{EV}.probability",
        "nan",
        "must be finite",
    ),
    "event_loading_range": (
        sub(("market_loading = 0.5", "market_loading = 1.5")),
        f"{EV}.market_loading",
        "1.5",
        "must be in [-1, 1]",
    ),
    "event_bad_id": (
        sub(('id = "abroad"', 'id = "a.b"')),
        "demand_events[1] (a.b).id",
        '"a.b"',
        "'.'",
    ),
}


def _assert_error(err: PriorsError, file: str, field: str, value: str | None, words: str) -> None:
    message = str(err)
    assert message.startswith(f"{file}: {field} "), message
    assert "\n" not in message
    assert err.file == file and err.field == field
    if value is not None:
        assert ", got " in message and value in message.rsplit(", got ", 1)[1], message
    assert words in message, message


@pytest.mark.parametrize("case", list(CASES))
def test_error_names_file_field_and_value(tmp_path: Path, case: str) -> None:
    mutate, field, value, words = CASES[case]
    path = write(tmp_path, mutate(NEW), "bad.toml")
    with pytest.raises(PriorsError) as info:
        load_priors(path)
    _assert_error(info.value, "bad.toml", field, value, words)


def test_check_command_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, CASES["event_probability_half"][0](NEW), "bad.toml")
    assert cli_main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mcsd: error: bad.toml: {EV}.probability must not be 0.5")
    assert "\n" not in err and "Traceback" not in err


# ----------------------------------------------------------------------------- scenarios


def _scenario(tmp_path: Path, *ops: str) -> Path:
    write(tmp_path, NEW, "base.toml")
    text = '[scenario]\nbase = "base.toml"\n' + "".join(ops)
    return write(tmp_path, text, "scen.toml")


def _set(field: str, value: str) -> str:
    return f'\n[[scenario.set]]\nfield = "{field}"\nvalue = {value}\n'


def _scale(field: str, factor: float) -> str:
    return f'\n[[scenario.scale]]\nfield = "{field}"\nfactor = {factor}\n'


def test_scenario_sets_and_scales_new_fields(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        _set("demand_events.datong.probability", "0.9"),
        _set("settings.turning_point", '"first_month"'),
        _set("settings.sustain_months", "2"),
        _set("buyers.acme.third_party_share.market_loading", "-0.4"),
        _set("providers.builder.delivery_delay_months.region_loading", "0.2"),
        _set("providers.builder.projects.b-s-1.pre_lease", '{ buyer = "acme", mw = 10 }'),
        _set("providers.builder.projects.b-s-1.scheduled_month", '"2026-04"'),
        _scale("providers.builder.projects.b-n-1.pre_lease.mw", 0.5),
        _scale("demand_events.*.mw", 2),
    )
    p = load_priors(path)
    assert p.name == "scen"
    assert (p.turning_point, p.sustain_months) == ("first_month", 2)
    assert [e.probability for e in p.demand_events] == [0.9, 1.0]
    assert [e.mw for e in p.demand_events] == [1800.0, 100.0]
    assert p.buyers[0].third_party_share_market_loading == -0.4
    assert p.providers[0].delivery_delay_months.region_loading == 0.2
    projects = {j.id: j for j in p.providers[0].projects}
    assert projects["b-n-1"].pre_lease_mw == 12.5
    assert (projects["b-s-1"].pre_lease_buyer, projects["b-s-1"].pre_lease_mw) == ("acme", 10.0)


def test_scenario_errors_on_new_fields_name_the_scenario(tmp_path: Path) -> None:
    path = _scenario(tmp_path, _set("demand_events.datong.probability", "0.5"))
    with pytest.raises(PriorsError) as info:
        load_priors(path)
    _assert_error(info.value, "scen.toml", f"{EV}.probability", "0.5", "no median")

    # increments scaled below the pre-leases they must cover
    path = _scenario(tmp_path, _scale("buyers.acme.increments_mw", 0.5))
    with pytest.raises(PriorsError) as info:
        load_priors(path)
    _assert_error(
        info.value,
        "scen.toml",
        f"{PROJ}.pre_lease.mw",
        "25",
        "pre-leases of buyer 'acme' in north 2025 sum to 25 MW, more than its increment "
        "there (20 MW)",
    )

    path = _scenario(tmp_path, _set("demand_events.nowhere.mw", "1"))
    with pytest.raises(PriorsError, match=r"scen\.toml: scenario\.set\[0\]\.field matches nothing"):
        load_priors(path)
