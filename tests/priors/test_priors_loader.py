"""Loading priors: immutability, hashing, file resolution and scenario files."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from mcsd.priors.loader import PriorsError, builtin_priors_dir, builtin_priors_names, load_priors
from mcsd.priors.model import Priors

BASE = """\
[meta]
name = "tiny"

[settings]
base_month = "2024-12"
horizon_month = "2026-12"
threshold = 0.8
max_occupancy = 0.95

[[regions]]
id = "north"
demand_stock_mw = 100
supply_stock_mw = 150

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
increments_mw = { north = { 2025 = 40, 2026 = 30 }, south = { 2026 = 10 } }

[[buyers]]
id = "globex"
market_loading = 0.5
persistence = 0.2
demand_multiplier = { dist = "lognorm", s = 0.3 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.25, scale = 0.5 }
increments_mw = { south = { 2025 = 8 } }

[[providers]]
id = "builder"
cancellation_probability = 0.05
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.6, late = { dist = "gamma", a = 2, scale = 1.5 } }
projects = [
  { id = "b-n-1", region = "north", capacity_mw = 30, scheduled_month = "2025-06" },
  { id = "b-s-1", region = "south", capacity_mw = 20, scheduled_month = "2026-03" },
]

[[providers]]
id = "maker"
cancellation_probability = 0.1
delay_factor = { dist = "lognorm", s = 0.2 }
delivery_delay_months = { p_on_time = 0.5, late = { dist = "expon", scale = 2 } }
projects = [
  { id = "m-n-1", region = "north", capacity_mw = 12, scheduled_month = "2026-01" },
]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write(tmp_path, "tiny.toml", BASE)


def scenario(body: str, base: str = "tiny.toml", name: str | None = None) -> str:
    head = f'[scenario]\nbase = "{base}"\n'
    if name is not None:
        head += f'name = "{name}"\ndescription = "what if"\n'
    return head + "\n" + body


# ----------------------------------------------------------------------------- immutability


def test_priors_are_immutable(base: Path) -> None:
    p = load_priors(base)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.threshold = 0.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.regions[0].supply_stock_mw = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.providers[0].projects[0].capacity_mw = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.buyers[0].demand_multiplier.name = "norm"  # type: ignore[misc]
    assert isinstance(p.regions, tuple) and isinstance(p.providers[0].projects, tuple)
    with pytest.raises(TypeError):
        p.buyers[0].increments_mw["north"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        p.buyers[0].increments_mw["north"][2025] = 0.0  # type: ignore[index]
    with pytest.raises(TypeError):
        p.buyers[0].demand_multiplier.params["s"] = 1.0  # type: ignore[index]


def test_priors_are_hashable_values(base: Path) -> None:
    """Two loads of the same file compare equal (frozen dataclasses, value semantics)."""
    a, b = load_priors(base), load_priors(base)
    assert a.regions == b.regions and a.providers == b.providers


# ----------------------------------------------------------------------------- hash and names


def test_sha256_matches_hashlib(base: Path) -> None:
    p = load_priors(base)
    assert p.sha256 == hashlib.sha256(base.read_bytes()).hexdigest()
    assert p.source_path == str(base.resolve())


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "unnamed.toml", BASE.replace('[meta]\nname = "tiny"\n', ""))
    assert load_priors(path).name == "unnamed"


def test_accepts_str_and_pathlike(base: Path) -> None:
    assert load_priors(str(base)) == load_priors(base)


def test_local_file_wins_over_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "cic2025.toml", BASE)
    monkeypatch.chdir(tmp_path)
    assert load_priors("cic2025.toml").name == "tiny"
    assert load_priors("cic2025").name == "tiny"


def test_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PriorsError, match="no such priors file") as info:
        load_priors("no_such_priors")
    assert info.value.file == "no_such_priors"


# ----------------------------------------------------------------------------- study priors

STUDY = builtin_priors_dir() / "cic2025.toml"
needs_study = pytest.mark.skipif(not STUDY.is_file(), reason="priors/cic2025.toml not written yet")


@needs_study
def test_default_loads_the_study_priors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in file is found from anywhere
    p = load_priors()
    assert isinstance(p, Priors)
    assert p.name == "cic2025"
    assert p.sha256 == hashlib.sha256(STUDY.read_bytes()).hexdigest()
    assert {"jingjin", "yangtze", "gba", "southwest_other"} <= set(p.region_ids)
    assert load_priors("cic2025") == p
    assert load_priors("cic2025.toml") == p


@needs_study
def test_scenario_on_the_builtin_study(tmp_path: Path) -> None:
    """A scenario outside the priors folder can name a built-in base by its bare name."""
    path = write(
        tmp_path,
        "slow.toml",
        scenario(
            '[[scenario.set]]\nfield = "providers.*.cancellation_probability"\nvalue = 0.2\n',
            base="cic2025.toml",
        ),
    )
    p = load_priors(path)
    assert p.name == "slow"
    assert all(pr.cancellation_probability == 0.2 for pr in p.providers)


# ----------------------------------------------------------------------------- scenarios


def test_scenario_set(tmp_path: Path, base: Path) -> None:
    body = """\
[[scenario.set]]
field = "settings.threshold"
value = 0.75

[[scenario.set]]
field = "providers.*.cancellation_probability"
value = 0.2

[[scenario.set]]
field = "buyers.globex.market_loading"
value = 0.9

[[scenario.set]]
field = "regions.south.delay_factor"      # a key the base does not have
value = { dist = "lognorm", s = 0.1 }

[[scenario.set]]
field = "providers.builder.projects.b-s-1.scheduled_month"
value = "2027-06"
"""
    path = write(tmp_path, "what_if.toml", scenario(body, name="what-if"))
    p, b = load_priors(path), load_priors(base)
    assert p.name == "what-if" and p.description == "what if"
    assert p.threshold == 0.75 and p.max_occupancy == b.max_occupancy
    assert [pr.cancellation_probability for pr in p.providers] == [0.2, 0.2]
    assert [by.market_loading for by in p.buyers] == [0.7, 0.9]
    assert p.regions[0].delay_factor is None
    assert str(p.regions[1].delay_factor) == "lognorm(s=0.1)"
    assert p.providers[0].projects[1].scheduled_month == "2027-06"
    assert p.providers[1].projects == b.providers[1].projects


def test_scenario_scale(tmp_path: Path, base: Path) -> None:
    body = """\
[[scenario.scale]]
field = "buyers.*.increments_mw"
factor = 0.5

[[scenario.scale]]
field = "providers.builder.projects.*.capacity_mw"
factor = 2
"""
    p = load_priors(write(tmp_path, "half.toml", scenario(body)))
    assert p.name == "half"  # no [scenario].name: the file stem
    assert {r: dict(v) for r, v in p.buyers[0].increments_mw.items()} == {
        "north": {2025: 20.0, 2026: 15.0},  # year keys untouched
        "south": {2026: 5.0},
    }
    assert dict(p.buyers[1].increments_mw["south"]) == {2025: 4.0}
    assert [j.capacity_mw for j in p.providers[0].projects] == [60.0, 40.0]
    assert [j.capacity_mw for j in p.providers[1].projects] == [12.0]


def test_scenario_sets_before_scaling(tmp_path: Path) -> None:
    body = """\
[[scenario.scale]]
field = "regions.north.supply_stock_mw"
factor = 2

[[scenario.set]]
field = "regions.north.supply_stock_mw"
value = 200
"""
    write(tmp_path, "tiny.toml", BASE)
    p = load_priors(write(tmp_path, "s.toml", scenario(body)))
    assert p.regions[0].supply_stock_mw == 400.0


def test_scenario_sha256_covers_scenario_and_base(tmp_path: Path, base: Path) -> None:
    body = '[[scenario.set]]\nfield = "settings.threshold"\nvalue = 0.75\n'
    path = write(tmp_path, "s.toml", scenario(body))
    expected = hashlib.sha256(path.read_bytes() + base.read_bytes()).hexdigest()
    assert load_priors(path).sha256 == expected
    assert expected != load_priors(base).sha256


def test_scenario_chain(tmp_path: Path, base: Path) -> None:
    sub = tmp_path / "scenarios"
    sub.mkdir()
    first = write(
        sub,
        "first.toml",
        scenario(
            '[[scenario.scale]]\nfield = "buyers.*.increments_mw"\nfactor = 2\n',
            base="../tiny.toml",
        ),
    )
    second = write(
        sub,
        "second.toml",
        scenario(
            '[[scenario.scale]]\nfield = "buyers.acme.increments_mw.north"\nfactor = 1.5\n'
            '[[scenario.set]]\nfield = "settings.max_occupancy"\nvalue = 0.9\n',
            base="first.toml",
            name="second",
        ),
    )
    p = load_priors(second)
    assert p.name == "second"
    assert dict(p.buyers[0].increments_mw["north"]) == {2025: 120.0, 2026: 90.0}
    assert dict(p.buyers[0].increments_mw["south"]) == {2026: 20.0}
    assert p.max_occupancy == 0.9
    chain = second.read_bytes() + first.read_bytes() + base.read_bytes()
    assert p.sha256 == hashlib.sha256(chain).hexdigest()


def test_scenario_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", scenario("", base="b.toml"))
    write(tmp_path, "b.toml", scenario("", base="a.toml"))
    with pytest.raises(PriorsError) as info:
        load_priors(tmp_path / "a.toml")
    message = str(info.value)
    assert message.startswith("b.toml: scenario.base forms a cycle (a.toml -> b.toml -> a.toml)")
    assert message.endswith('got "a.toml"')


def test_scenario_self_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", scenario("", base="a.toml"))
    with pytest.raises(PriorsError, match=r"a\.toml: scenario\.base forms a cycle"):
        load_priors(tmp_path / "a.toml")


@pytest.mark.parametrize(
    ("op", "selector", "words"),
    [
        ("set", "providers.nope.cancellation_probability", "matches nothing at 'nope'"),
        ("set", "setings.threshold", "matches nothing at 'setings'"),
        ("scale", "buyers.*.increments_mw.east", "matches nothing at 'east'"),
        ("scale", "regions.north.capacity_mw", "matches nothing at 'capacity_mw'"),
        ("scale", "buyers.acme.id", "selects no numbers"),
    ],
)
def test_scenario_selector_matching_nothing(
    tmp_path: Path, base: Path, op: str, selector: str, words: str
) -> None:
    entry = "value = 1" if op == "set" else "factor = 2"
    body = f'[[scenario.{op}]]\nfield = "{selector}"\n{entry}\n'
    write(tmp_path, "s.toml", scenario(body))
    with pytest.raises(PriorsError) as info:
        load_priors(tmp_path / "s.toml")
    err = info.value
    assert err.file == "s.toml"
    assert err.field == f"scenario.{op}[0].field"
    assert err.value == selector
    assert str(err).startswith(f"s.toml: scenario.{op}[0].field ")
    assert f'got "{selector}"' in str(err) and words in str(err)


def test_scenario_no_match_lists_the_choices(tmp_path: Path, base: Path) -> None:
    body = '[[scenario.set]]\nfield = "providers.nope.cancellation_probability"\nvalue = 1\n'
    write(tmp_path, "s.toml", scenario(body))
    with pytest.raises(PriorsError, match="choices: builder, maker under providers"):
        load_priors(tmp_path / "s.toml")


def test_merged_document_is_validated_against_the_scenario(tmp_path: Path, base: Path) -> None:
    body = '[[scenario.set]]\nfield = "providers.builder.projects.b-n-1.capacity_mw"\nvalue = -5\n'
    write(tmp_path, "bad.toml", scenario(body))
    with pytest.raises(PriorsError) as info:
        load_priors(tmp_path / "bad.toml")
    assert str(info.value) == (
        "bad.toml: providers[0] (builder).projects[0] (b-n-1).capacity_mw must be > 0, got -5"
    )


def test_scaling_can_break_validation(tmp_path: Path, base: Path) -> None:
    body = '[[scenario.scale]]\nfield = "providers.*.cancellation_probability"\nfactor = 20\n'
    write(tmp_path, "s.toml", scenario(body))
    with pytest.raises(
        PriorsError,
        match=r"s\.toml: providers\[1\] \(maker\)\.cancellation_probability must be in \[0, 1\]",
    ):
        load_priors(tmp_path / "s.toml")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (scenario("", base="missing.toml"), "scenario.base", "no such priors file"),
        ("[scenario]\nname = 'x'\n", "scenario.base", "is missing"),
        (scenario("[settings]\nthreshold = 0.5\n"), "settings", "cannot be in a scenario file"),
        (
            scenario('[[scenario.set]]\nfield = "settings.threshold"\nvalu = 1\n'),
            "scenario.set[0].valu",
            "is not a known key",
        ),
        (
            scenario('[[scenario.scale]]\nfield = "settings.threshold"\nfactor = "2"\n'),
            "scenario.scale[0].factor",
            "must be a number",
        ),
        (
            scenario('[[scenario.scale]]\nfield = "settings.threshold"\nfactor = nan\n'),
            "scenario.scale[0].factor",
            "must be finite",
        ),
    ],
)
def test_scenario_file_errors(
    tmp_path: Path, base: Path, text: str, field: str, words: str
) -> None:
    write(tmp_path, "s.toml", text)
    with pytest.raises(PriorsError) as info:
        load_priors(tmp_path / "s.toml")
    assert str(info.value).startswith(f"s.toml: {field} ")
    assert words in str(info.value)


def test_syntax_error_in_a_base_names_the_base(tmp_path: Path) -> None:
    write(tmp_path, "tiny.toml", BASE.replace("threshold = 0.8", "threshold = = 0.8"))
    write(tmp_path, "s.toml", scenario(""))
    with pytest.raises(PriorsError, match=r"^tiny\.toml: line 7 is not valid TOML"):
        load_priors(tmp_path / "s.toml")


@pytest.mark.parametrize("name", builtin_priors_names() or ["cic2025"])
def test_every_shipped_priors_file_loads(name: str) -> None:
    if not (builtin_priors_dir() / f"{name}.toml").is_file():
        pytest.skip("no priors shipped yet")
    p = load_priors(name)
    assert p.name and len(p.sha256) == 64 and p.regions and p.buyers
