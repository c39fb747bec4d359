"""Validation of priors files: a small valid file loads correctly; each kind of mistake in it
raises one PriorsError naming the file, the field path and the offending value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mcsd.priors.loader import SUPPORTED_DISTRIBUTIONS, PriorsError, load_priors

META = """\
[meta]
name = "tiny"
description = "two regions, one buyer, one provider"
"""

SETTINGS = """\
[settings]
base_month = "2024-12"
horizon_month = "2026-12"
threshold = 0.8
max_occupancy = 0.95
sustain_months = 2
"""

REGIONS = """\
[[regions]]
id = "north"
name = "North"
demand_stock_mw = 100
supply_stock_mw = 150.5
delay_factor = { dist = "lognorm", s = 0.2 }

[[regions]]
id = "south"
demand_stock_mw = 50
supply_stock_mw = 80
"""

BUYERS = """\
[[buyers]]
id = "acme"
name = "Acme"
market_loading = 0.7
persistence = 0.4
demand_multiplier = { dist = "lognorm", s = 0.25 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.25, scale = 0.5 }
monthly_profile = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]

[buyers.increments_mw]
north = { 2025 = 40, 2026 = 30.5 }
south = { 2026 = 10 }
"""

PROVIDERS = """\
[[providers]]
id = "builder"
name = "Builder Co"
cancellation_probability = 0.05
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.6, late = { dist = "gamma", a = 2, scale = 1.5 } }

[[providers.projects]]
id = "b-n-1"
region = "north"
capacity_mw = 30
scheduled_month = "2025-06"

[[providers.projects]]
id = "b-s-1"
region = "south"
capacity_mw = 20
scheduled_month = "2027-03"
"""

SPILLOVER = """\
[spillover]
north = { south = 0.25 }
"""

CHUNKS = {
    "meta": META,
    "settings": SETTINGS,
    "regions": REGIONS,
    "buyers": BUYERS,
    "providers": PROVIDERS,
    "spillover": SPILLOVER,
}
VALID = "\n".join(CHUNKS.values())

WEST = """\
[[regions]]
id = "west"
demand_stock_mw = 0
supply_stock_mw = 10

[[buyers]]"""


def write(tmp_path: Path, text: str, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- valid file


def test_valid_file_loads_with_correct_contents(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    p = load_priors(path)

    assert p.name == "tiny"
    assert p.description == "two regions, one buyer, one provider"
    assert p.source_path == str(path.resolve())
    assert (p.base_month, p.horizon_month) == ("2024-12", "2026-12")
    assert (p.threshold, p.max_occupancy, p.sustain_months) == (0.8, 0.95, 2)
    assert p.n_months == 24

    assert p.region_ids == ("north", "south")
    north, south = p.regions
    assert north.name == "North" and south.name == "south"  # name defaults to the id
    assert (north.demand_stock_mw, north.supply_stock_mw) == (100.0, 150.5)
    assert north.delay_factor is not None
    assert north.delay_factor.name == "lognorm" and dict(north.delay_factor.params) == {"s": 0.2}
    assert south.delay_factor is None

    (b,) = p.buyers
    assert (b.id, b.name, b.market_loading, b.persistence) == ("acme", "Acme", 0.7, 0.4)
    assert str(b.demand_multiplier) == "lognorm(s=0.25)"
    assert b.third_party_share_nominal == 0.5
    assert b.third_party_share.name == "uniform"
    assert dict(b.third_party_share.params) == {"loc": 0.25, "scale": 0.5}
    assert b.third_party_share.frozen().median() == pytest.approx(0.5)
    assert {r: dict(v) for r, v in b.increments_mw.items()} == {
        "north": {2025: 40.0, 2026: 30.5},
        "south": {2026: 10.0},
    }
    assert b.monthly_profile is not None
    assert sum(b.monthly_profile) == pytest.approx(1.0)
    assert b.monthly_profile[0] == pytest.approx(1 / 18) and b.monthly_profile[-1] == pytest.approx(
        2 / 18
    )

    (pr,) = p.providers
    assert (pr.id, pr.name, pr.cancellation_probability) == ("builder", "Builder Co", 0.05)
    assert str(pr.delay_factor) == "lognorm(s=0.3)"
    assert pr.delivery_delay_months.p_on_time == 0.6
    assert str(pr.delivery_delay_months.late) == "gamma(a=2, scale=1.5)"
    assert [(j.id, j.region, j.capacity_mw, j.scheduled_month) for j in pr.projects] == [
        ("b-n-1", "north", 30.0, "2025-06"),
        ("b-s-1", "south", 20.0, "2027-03"),  # after the horizon: allowed
    ]

    assert p.spillover == ((0.0, 0.25), (0.0, 0.0))
    assert p.spillover_matrix().tolist() == [[0.0, 0.25], [0.0, 0.0]]


def test_minimal_file_defaults(tmp_path: Path) -> None:
    """No [meta], no providers, no spillover; optional settings take their defaults."""
    settings = '[settings]\nbase_month = "2024-12"\nhorizon_month = "2026-12"\n'
    text = "\n".join([settings, REGIONS, BUYERS.replace("monthly_profile", "# ")])
    p = load_priors(write(tmp_path, text, "minimal.toml"))
    assert p.name == "minimal"
    assert (p.threshold, p.max_occupancy, p.sustain_months) == (0.8, 1.0, 1)
    assert p.providers == () and p.spillover is None
    assert p.buyers[0].monthly_profile is None


# ----------------------------------------------------------------------------- mistakes

Mutation = Callable[[str], str]


def sub(*pairs: tuple[str, str]) -> Mutation:
    """Replace each ``old`` (which must occur exactly once) by ``new``."""

    def mutate(text: str) -> str:
        for old, new in pairs:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        return text

    return mutate


def drop(chunk: str, prefix: str = "") -> Mutation:
    return lambda text: prefix + text.replace(CHUNKS[chunk], "")


def append(extra: str) -> Mutation:
    return lambda text: text + "\n" + extra


PROJ = "providers[0] (builder).projects[0] (b-n-1)"
DM = "buyers[0] (acme).demand_multiplier"
TPS = "buyers[0] (acme).third_party_share"
INC = "buyers[0] (acme).increments_mw"
DELAY = "providers[0] (builder).delivery_delay_months"

# (mutation, field path in the message, offending value as shown, other words in the message)
CASES: dict[str, tuple[Mutation, str, str | None, str]] = {
    # syntax
    "toml_syntax": (
        sub(("sustain_months = 2", "sustain_months 2")),
        "line 10",
        '"sustain_months 2"',
        "line 10, column",
    ),
    # unknown keys
    "unknown_table": (
        append("[extras]\nfoo = 1\n"),
        "extras",
        "{ foo = 1 }",
        "valid keys: meta, settings",
    ),
    "typo_key": (
        sub(("capacity_mw = 30", "capcity_mw = 30")),
        f"{PROJ}.capcity_mw",
        "30",
        "did you mean 'capacity_mw'",
    ),
    "typo_settings": (
        sub(("threshold = 0.8", "treshold = 0.8")),
        "settings.treshold",
        "0.8",
        "valid keys: base_month",
    ),
    # missing keys and tables
    "missing_key": (
        sub(("supply_stock_mw = 80\n", "")),
        "regions[1] (south).supply_stock_mw",
        None,
        "is missing",
    ),
    "missing_settings": (drop("settings"), "settings", None, "is missing"),
    "missing_dist_param": (
        sub(('{ dist = "lognorm", s = 0.25 }', '{ dist = "lognorm" }')),
        f"{DM}.s",
        None,
        "is missing",
    ),
    "no_regions": (drop("regions", "regions = []\n"), "regions", "[]", "at least one region"),
    "no_buyers": (drop("buyers", "buyers = []\n"), "buyers", "[]", "at least one buyer"),
    "regions_not_array": (
        sub(('[[regions]]\nid = "south"', '[south]\nid = "south"')),
        "south",
        "south",
        "is not a known key",
    ),
    # types
    "string_for_number": (
        sub(("demand_stock_mw = 100", 'demand_stock_mw = "100"')),
        "regions[0] (north).demand_stock_mw",
        '"100"',
        "must be a number, not a string",
    ),
    "bool_for_number": (
        sub(("threshold = 0.8", "threshold = true")),
        "settings.threshold",
        "true",
        "must be a number, not a boolean",
    ),
    "float_for_integer": (
        sub(("sustain_months = 2", "sustain_months = 2.0")),
        "settings.sustain_months",
        "2.0",
        "must be an integer",
    ),
    "unquoted_month": (
        sub(('base_month = "2024-12"', "base_month = 2024-12-01")),
        "settings.base_month",
        "2024-12-01",
        '"YYYY-MM"',
    ),
    # references
    "unknown_project_region": (
        sub(('region = "north"', 'region = "east"')),
        f"{PROJ}.region",
        '"east"',
        "must be a region id (north, south)",
    ),
    "unknown_increment_region": (
        sub(("south = { 2026 = 10 }", "west = { 2026 = 10 }")),
        f"{INC}.west",
        "{ 2026 = 10 }",
        "is not a region id",
    ),
    "unknown_spill_destination": (
        sub(("north = { south = 0.25 }", "north = { suoth = 0.25 }")),
        "spillover.north.suoth",
        '"suoth"',
        "must be a region id",
    ),
    "unknown_spill_source": (
        sub(("north = { south = 0.25 }", "nrth = { south = 0.25 }")),
        "spillover.nrth",
        '"nrth"',
        "must be a region id",
    ),
    # ids
    "duplicate_region": (
        sub(('id = "south"', 'id = "north"')),
        "regions[1] (north).id",
        '"north"',
        "duplicates the id of regions[0] (north)",
    ),
    "duplicate_project": (
        sub(('id = "b-s-1"', 'id = "b-n-1"')),
        "providers[0] (builder).projects[1] (b-n-1).id",
        '"b-n-1"',
        "duplicates the id",
    ),
    "duplicate_provider": (
        append(PROVIDERS.replace("b-n-1", "x1").replace("b-s-1", "x2")),
        "providers[1] (builder).id",
        '"builder"',
        "duplicates the id of providers[0] (builder)",
    ),
    "national_reserved": (
        sub(('id = "south"', 'id = "national"')),
        "regions[1] (national).id",
        '"national"',
        "is reserved",
    ),
    "id_with_dot": (
        sub(('id = "acme"', 'id = "acme.cn"')),
        "buyers[0] (acme.cn).id",
        '"acme.cn"',
        "'.'",
    ),
    "id_multiline": (
        sub(('id = "acme"', 'id = """ac\nme"""')),
        "buyers[0].id",
        '"ac\\nme"',
        "without spaces",
    ),
    # non-finite
    "nan_stock": (
        sub(("supply_stock_mw = 150.5", "supply_stock_mw = nan")),
        "regions[0] (north).supply_stock_mw",
        "nan",
        "must be finite",
    ),
    "inf_capacity": (
        sub(("capacity_mw = 30", "capacity_mw = inf")),
        f"{PROJ}.capacity_mw",
        "inf",
        "must be finite",
    ),
    "nan_in_distribution": (
        sub(("s = 0.25", "s = -nan")),
        f"{DM}.s",
        "nan",
        "must be finite",
    ),
    "nan_in_increments": (
        sub(("2026 = 30.5", "2026 = -inf")),
        f"{INC}.north.2026",
        "-inf",
        "must be finite",
    ),
    # signs
    "negative_stock": (
        sub(("demand_stock_mw = 50", "demand_stock_mw = -5")),
        "regions[1] (south).demand_stock_mw",
        "-5",
        "must be >= 0",
    ),
    "negative_capacity": (
        sub(("capacity_mw = 30", "capacity_mw = -5")),
        f"{PROJ}.capacity_mw",
        "-5",
        "must be > 0",
    ),
    "zero_capacity": (
        sub(("capacity_mw = 30", "capacity_mw = 0")),
        f"{PROJ}.capacity_mw",
        "0",
        "must be > 0",
    ),
    "negative_increment": (
        sub(("2026 = 10", "2026 = -1")),
        f"{INC}.south.2026",
        "-1",
        "must be >= 0",
    ),
    # increment years
    "year_after_horizon": (
        sub(("2026 = 10", "2027 = 10")),
        f"{INC}.south.2027",
        '"2027"',
        "[2024, 2026]",
    ),
    "year_before_base": (
        sub(("2026 = 10", "2023 = 10")),
        f"{INC}.south.2023",
        '"2023"',
        "integer year",
    ),
    "year_not_integer": (
        sub(("2026 = 10", "y2026 = 10")),
        f"{INC}.south.y2026",
        '"y2026"',
        "integer year",
    ),
    # distributions: names and parameters
    "unknown_distribution": (
        sub(('dist = "lognorm", s = 0.25', 'dist = "lognormal", s = 0.25')),
        f"{DM}.dist",
        '"lognormal"',
        "supported: " + ", ".join(SUPPORTED_DISTRIBUTIONS),
    ),
    "unsupported_distribution": (
        sub(('dist = "lognorm", s = 0.25', 'dist = "loggamma", c = 0.25')),
        f"{DM}.dist",
        '"loggamma"',
        "mcsd does not support",
    ),
    "discrete_distribution": (
        sub(('dist = "lognorm", s = 0.25', 'dist = "poisson", mu = 0.25')),
        f"{DM}.dist",
        '"poisson"',
        "supported:",
    ),
    "unknown_parameter": (
        sub(("s = 0.25", "sigma = 0.25")),
        f"{DM}.sigma",
        "0.25",
        "parameters: s, loc, scale",
    ),
    "negative_shape": (
        sub(("s = 0.25", "s = -0.25")),
        f"{DM}.s",
        "-0.25",
        "must be > 0",
    ),
    "zero_scale": (
        sub(("a = 2, scale = 1.5", "a = 2, scale = 0")),
        f"{DELAY}.late.scale",
        "0",
        "must be > 0",
    ),
    "beta_shape": (
        sub(('dist = "uniform", loc = 0.25, scale = 0.5', 'dist = "beta", a = 2, b = -1')),
        f"{TPS}.b",
        "-1",
        "must be > 0",
    ),
    "truncnorm_bounds": (
        sub(('{ dist = "gamma", a = 2, scale = 1.5 }', '{ dist = "truncnorm", a = 2, b = 1 }')),
        f"{DELAY}.late.b",
        "1",
        "must be > a",
    ),
    "parameter_type": (
        sub(("s = 0.25", 's = "0.25"')),
        f"{DM}.s",
        '"0.25"',
        "must be a number",
    ),
    # distributions: support and median against the field
    "multiplier_support": (
        sub(('dist = "lognorm", s = 0.25', 'dist = "norm", loc = 1, scale = 0.1')),
        DM,
        'dist = "norm"',
        "support must be within (0, inf)",
    ),
    "multiplier_median": (
        sub(("s = 0.25", "s = 0.25, scale = 1.1")),
        DM,
        "1.1",
        "must have median 1",
    ),
    "delay_factor_median": (
        sub(('{ dist = "lognorm", s = 0.3 }', '{ dist = "gamma", a = 4, scale = 0.25 }')),
        "providers[0] (builder).delay_factor",
        'dist = "gamma"',
        "must have median 1",
    ),
    "share_support": (
        sub(('dist = "uniform", loc = 0.25, scale = 0.5', 'dist = "norm", loc = 0.5, scale = 0.1')),
        TPS,
        'dist = "norm"',
        "support must be within [0, 1]",
    ),
    "share_median": (
        sub(("nominal = 0.5", "nominal = 0.6")),
        TPS,
        "nominal = 0.6",
        "median = nominal (0.6)",
    ),
    "share_nominal_zero": (
        sub(("nominal = 0.5", "nominal = 0")),
        f"{TPS}.nominal",
        "0",
        "must be in [0.0001, 1]",
    ),
    "late_support": (
        sub(('{ dist = "gamma", a = 2, scale = 1.5 }', '{ dist = "norm", loc = 2, scale = 1 }')),
        f"{DELAY}.late",
        'dist = "norm"',
        "support must be within [0, inf)",
    ),
    # probabilities and correlations
    "cancellation_probability": (
        sub(("cancellation_probability = 0.05", "cancellation_probability = 1.5")),
        "providers[0] (builder).cancellation_probability",
        "1.5",
        "must be in [0, 1]",
    ),
    "p_on_time": (
        sub(("p_on_time = 0.6", "p_on_time = -0.1")),
        f"{DELAY}.p_on_time",
        "-0.1",
        "must be in [0, 1]",
    ),
    "market_loading": (
        sub(("market_loading = 0.7", "market_loading = 1.2")),
        "buyers[0] (acme).market_loading",
        "1.2",
        "must be in [-1, 1]",
    ),
    "persistence_one": (
        sub(("persistence = 0.4", "persistence = 1")),
        "buyers[0] (acme).persistence",
        "1",
        "must be in [0, 1)",
    ),
    # monthly profile
    "profile_length": (
        sub(("1, 1, 1, 1, 1, 1, 2", "1, 1, 1, 1, 1, 2")),
        "buyers[0] (acme).monthly_profile",
        "[1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]",
        "exactly 12",
    ),
    "profile_negative": (
        sub(("1, 1, 1, 1, 1, 1, 2", "1, 1, -1, 1, 1, 1, 2")),
        "buyers[0] (acme).monthly_profile[2]",
        "-1",
        "must be >= 0",
    ),
    "profile_zero_sum": (
        sub(("[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]", "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]")),
        "buyers[0] (acme).monthly_profile",
        "[0, 0, 0",
        "positive sum",
    ),
    # spillover
    "spill_row_sum": (
        sub(
            ("[[buyers]]", WEST),
            ("north = { south = 0.25 }", "north = { south = 0.8, west = 0.3 }"),
        ),
        "spillover.north",
        "{ south = 0.8, west = 0.3 }",
        "sum to <= 1",
    ),
    "self_spill": (
        sub(("north = { south = 0.25 }", "north = { north = 0.1 }")),
        "spillover.north.north",
        "0.1",
        "self-spill",
    ),
    "negative_spill": (
        sub(("north = { south = 0.25 }", "north = { south = -0.1 }")),
        "spillover.north.south",
        "-0.1",
        "must be in [0, 1]",
    ),
    # settings
    "threshold_range": (
        sub(("threshold = 0.8", "threshold = 1.5")),
        "settings.threshold",
        "1.5",
        "must be in [0, 1]",
    ),
    "max_occupancy_zero": (
        sub(("max_occupancy = 0.95", "max_occupancy = 0")),
        "settings.max_occupancy",
        "0",
        "must be in (0, 1]",
    ),
    "max_occupancy_below_threshold": (
        sub(("max_occupancy = 0.95", "max_occupancy = 0.7")),
        "settings.max_occupancy",
        "0.7",
        "must be >= settings.threshold (0.8)",
    ),
    "sustain_zero": (
        sub(("sustain_months = 2", "sustain_months = 0")),
        "settings.sustain_months",
        "0",
        "integer >= 1",
    ),
    "month_format": (
        sub(('base_month = "2024-12"', 'base_month = "2024-13"')),
        "settings.base_month",
        '"2024-13"',
        '"YYYY-MM"',
    ),
    "horizon_equal_base": (
        sub(('horizon_month = "2026-12"', 'horizon_month = "2024-12"')),
        "settings.horizon_month",
        '"2024-12"',
        "must be after settings.base_month (2024-12)",
    ),
    "horizon_before_base": (
        sub(('horizon_month = "2026-12"', 'horizon_month = "2023-06"')),
        "settings.horizon_month",
        '"2023-06"',
        "must be after settings.base_month",
    ),
    "project_at_base": (
        sub(('scheduled_month = "2025-06"', 'scheduled_month = "2024-12"')),
        f"{PROJ}.scheduled_month",
        '"2024-12"',
        "belongs in the region's supply_stock_mw",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_names_file_field_and_value(tmp_path: Path, case: str) -> None:
    mutate, field, value, words = CASES[case]
    path = write(tmp_path, mutate(VALID), "bad.toml")
    with pytest.raises(PriorsError) as info:
        load_priors(path)
    err = info.value
    message = str(err)
    assert message.startswith(f"bad.toml: {field} "), message
    assert "\n" not in message
    assert err.file == "bad.toml" and err.field == field
    if value is not None:
        assert ", got " in message and value in message.split(", got ", 1)[1], message
    assert words in message, message


def test_error_is_a_value_error_with_attributes(tmp_path: Path) -> None:
    path = write(tmp_path, sub(("capacity_mw = 30", "capacity_mw = -5"))(VALID), "x.toml")
    with pytest.raises(ValueError) as info:
        load_priors(path)
    err = info.value
    assert isinstance(err, PriorsError)
    assert str(err) == f"x.toml: {PROJ}.capacity_mw must be > 0, got -5"
    assert (err.file, err.field, err.value) == ("x.toml", f"{PROJ}.capacity_mw", -5)
    assert err.__cause__ is None


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PriorsError, match=r"nowhere\.toml: no such priors file"):
        load_priors("nowhere.toml")
