"""Observations files (``mcsd.priors.observations``): the example loads against the study
priors; every refusal names the file, the field and the value; pins, not_opened,
make_observations and as_observations. No simulation."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mcsd.priors.loader import PriorsError, builtin_priors_dir, load_priors
from mcsd.priors.model import Distribution
from mcsd.priors.observations import (
    FACT_STATUSES,
    QUANTITIES,
    Measurement,
    Observations,
    ObservationsError,
    ProjectFact,
    as_observations,
    builtin_observations_names,
    load_observations,
    make_observations,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "priors" / "observations_example.toml"
HALL = "gds-yangtze-2025"  # provider gds, region yangtze, scheduled 2025-01
LATER = "gds-yangtze-2026"  # scheduled 2026-03


@pytest.fixture(scope="module")
def study():
    return load_priors("cic2025")


def _write(tmp_path: Path, text: str, name: str = "obs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _measurement(**changes: object) -> str:
    fields = {
        "region": '"national"',
        "month": '"2025-12"',
        "quantity": '"occupancy"',
        "value": "0.78",
        "sd": "0.02",
    }
    fields.update({k: str(v) for k, v in changes.items()})
    lines = [f"{k} = {v}" for k, v in fields.items() if v != "DROP"]
    return "[[measurements]]\n" + "\n".join(lines) + "\n"


def _fact(project: str = HALL, status: str = "opened", month: str | None = '"2025-03"') -> str:
    month_line = "" if month is None else f"month = {month}\n"
    return f'[[facts]]\nproject = "{project}"\nstatus = "{status}"\n{month_line}'


def _refused(path: Path, priors, field: str, value: str | None, fragment: str = "") -> str:
    """Load ``path``; the error must be one line starting ``FILE: FIELD`` and, when
    ``value`` is given, ending ``, got VALUE``."""
    with pytest.raises(ObservationsError) as info:
        load_observations(path, priors)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path.name}: {field}"), text
    if value is not None and value.startswith("{"):  # a table: shown shortened
        assert f", got {value}" in text, text
    elif value is not None:
        assert text.endswith(f", got {value}"), text
    else:
        assert ", got " not in text, text
    assert fragment in text, text
    assert info.value.file == path.name and info.value.field == field
    return text


# ----------------------------------------------------------------------------- the example


def test_example_loads_against_the_study(study) -> None:
    obs = load_observations(EXAMPLE, study)
    assert obs.name == "observations_example" and obs.illustrative is True
    assert "not data" in obs.description
    assert "MADE-UP FIGURES, NOT DATA" in EXAMPLE.read_text(encoding="utf-8")
    assert {m.quantity for m in obs.measurements} == {"occupancy", "demand_mw"}
    assert {(m.region, m.month) for m in obs.measurements} == {
        ("national", "2025-12"),
        ("yangtze", "2025-12"),
    }
    assert all(m.sd > 0 for m in obs.measurements)
    assert [f.status for f in obs.facts] == ["opened", "opened"]
    projects = {j.id: j for p in study.providers for j in p.projects}
    for f in obs.facts:
        assert projects[f.project].scheduled_month.startswith("2025")
        assert f.month >= projects[f.project].scheduled_month
    assert obs.source_path == str(EXAMPLE.resolve())
    import hashlib

    assert obs.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_example_resolves_by_bare_name(study) -> None:
    assert builtin_observations_names() == ["observations_example"]
    assert (builtin_priors_dir() / "observations_example.toml").is_file()
    by_name = as_observations("observations_example", study)
    assert by_name == load_observations(EXAMPLE, study)
    assert as_observations("observations_example.toml", study) == by_name


def test_example_ships_with_the_package() -> None:
    # the wheel force-includes the whole priors folder as mcsd/_priors (pyproject.toml)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include.get("priors") == "mcsd/_priors"
    assert EXAMPLE.parent == ROOT / "priors"


def test_pins_and_not_opened_give_month_indices(study) -> None:
    obs = make_observations(
        study,
        facts=[
            {"project": HALL, "status": "opened", "month": "2025-03"},
            {"project": "vnet-jingjin-2025", "status": "cancelled"},
            {"project": LATER, "status": "not_opened", "month": "2026-07"},
            ProjectFact("gds-gba-2025", "not_opened", "2025-01"),
        ],
    )
    assert obs.pins(study) == {HALL: 3, "vnet-jingjin-2025": 0}
    assert obs.not_opened(study) == [(LATER, 19), ("gds-gba-2025", 1)]
    assert study.month_index("2026-07") == 19  # base 2024-12 = 0


def test_example_pins(study) -> None:
    obs = as_observations("observations_example", study)
    assert obs.pins(study) == {HALL: 3, "vnet-jingjin-2025": 6}
    assert obs.not_opened(study) == []


# ----------------------------------------------------------------------------- refusals

OK_FACT = _fact()

# (case id, file text, field, value as shown or None, a fragment of the problem)
FILE_CASES = [
    ("unknown top key", 'nmae = "x"\n' + _measurement(), "nmae", '"x"', "did you mean 'name'"),
    (
        "unknown measurement key",
        _measurement(sdev="0.1"),
        "measurements[0].sdev",
        "0.1",
        "is not a known key",
    ),
    ("unknown fact key", OK_FACT + "when = 3\n", f"facts[0] ({HALL}).when", "3", "valid keys"),
    ("missing sd", _measurement(sd="DROP"), "measurements[0].sd", None, "is missing"),
    ("missing status", f'[[facts]]\nproject = "{HALL}"\n', f"facts[0] ({HALL}).status", None, ""),
    (
        "unknown region",
        _measurement(region='"yangzte"'),
        "measurements[0].region",
        '"yangzte"',
        "did you mean 'yangtze'",
    ),
    (
        "region case",
        _measurement(region='"National"'),
        "measurements[0].region",
        '"National"',
        "national",
    ),
    (
        "unknown project",
        _fact(project="gds-yangtze-2052"),
        "facts[0] (gds-yangtze-2052).project",
        '"gds-yangtze-2052"',
        "is not a project id of the priors",
    ),
    (
        "long unknown project",
        _fact(project="x" * 70),
        f"facts[0] ({'x' * 57}...).project",
        '"' + "x" * 70 + '"',
        "is not a project id",
    ),
    ("month 13", _measurement(month='"2025-13"'), "measurements[0].month", '"2025-13"', "YYYY-MM"),
    (
        "month unquoted date",
        _measurement(month="2025-12-31"),
        "measurements[0].month",
        "2025-12-31",
        "",
    ),
    ("month one digit", _fact(month='"2025-3"'), f"facts[0] ({HALL}).month", '"2025-3"', "YYYY-MM"),
    (
        "month at the base",
        _measurement(month='"2024-12"'),
        "measurements[0].month",
        '"2024-12"',
        "after the priors' base_month (2024-12)",
    ),
    (
        "month after the horizon",
        _measurement(month='"2029-01"'),
        "measurements[0].month",
        '"2029-01"',
        "horizon_month (2028-12)",
    ),
    (
        "fact month at the base",
        _fact(month='"2024-12"'),
        f"facts[0] ({HALL}).month",
        '"2024-12"',
        "base_month",
    ),
    (
        "unknown quantity",
        _measurement(quantity='"demand"'),
        "measurements[0].quantity",
        '"demand"',
        '"occupancy", "demand_mw", "supply_mw"',
    ),
    (
        "unknown status",
        _fact(status="open"),
        f"facts[0] ({HALL}).status",
        '"open"',
        '"opened", "not_opened", "cancelled"',
    ),
    ("value nan", _measurement(value="nan"), "measurements[0].value", "nan", "finite"),
    ("value inf", _measurement(value="inf"), "measurements[0].value", "inf", "finite"),
    ("value -inf", _measurement(value="-inf"), "measurements[0].value", "-inf", "finite"),
    ("value bool", _measurement(value="true"), "measurements[0].value", "true", "not a boolean"),
    ("value string", _measurement(value='"0.7"'), "measurements[0].value", '"0.7"', "a string"),
    (
        "value huge int",
        _measurement(value="9223372036854775808"),
        "measurements[0].value",
        "9223372036854775808",
        "64-bit",
    ),
    ("occupancy above 1", _measurement(value="1.01"), "measurements[0].value", "1.01", "[0, 1]"),
    ("occupancy below 0", _measurement(value="-0.01"), "measurements[0].value", "-0.01", "[0, 1]"),
    (
        "negative demand MW",
        _measurement(quantity='"demand_mw"', value="-5"),
        "measurements[0].value",
        "-5",
        ">= 0",
    ),
    (
        "negative supply MW",
        _measurement(quantity='"supply_mw"', value="-0.5"),
        "measurements[0].value",
        "-0.5",
        ">= 0",
    ),
    (
        "MW beyond 10 TW",
        _measurement(quantity='"supply_mw"', value="2e7"),
        "measurements[0].value",
        "20000000.0",
        "10 TW",
    ),
    ("sd zero", _measurement(sd="0"), "measurements[0].sd", "0", "> 0"),
    ("sd negative", _measurement(sd="-0.1"), "measurements[0].sd", "-0.1", "> 0"),
    ("sd nan", _measurement(sd="nan"), "measurements[0].sd", "nan", "finite"),
    ("sd inf", _measurement(sd="inf"), "measurements[0].sd", "inf", "finite"),
    ("sd bool", _measurement(sd="false"), "measurements[0].sd", "false", "boolean"),
    ("nothing", 'name = "x"\n', "", None, "no [[measurements]] and no [[facts]]"),
    ("empty arrays", "measurements = []\nfacts = []\n", "", None, "nothing to condition on"),
    (
        "two facts on one project",
        _fact() + _fact(status="cancelled", month=None),
        f"facts[1] ({HALL}).project",
        f'"{HALL}"',
        f"already has a fact (facts[0] ({HALL}))",
    ),
    (
        "opened before its scheduled month",
        _fact(project=LATER, month='"2026-02"'),
        f"facts[0] ({LATER}).month",
        '"2026-02"',
        "before the project's scheduled_month (2026-03)",
    ),
    (
        "cancelled with a month",
        _fact(status="cancelled", month='"2025-06"'),
        f"facts[0] ({HALL}).month",
        '"2025-06"',
        "must be absent",
    ),
    (
        "opened without a month",
        _fact(month=None),
        f"facts[0] ({HALL}).month",
        None,
        'is missing: status = "opened"',
    ),
    (
        "not_opened without a month",
        _fact(status="not_opened", month=None),
        f"facts[0] ({HALL}).month",
        None,
        'status = "not_opened"',
    ),
    (
        "repeated measurement",
        _measurement() + _measurement() + 'note = "again"\n',
        "measurements[1]",
        '{ region = "national"',
        "repeats measurements[0]",
    ),
    (
        "illustrative not a bool",
        'illustrative = "yes"\n' + _measurement(),
        "illustrative",
        '"yes"',
        "",
    ),
    ("name not a string", "name = 3\n" + _measurement(), "name", "3", "must be a string"),
    (
        "measurements a table",
        '[measurements]\nregion = "national"\n',
        "measurements",
        '{ region = "national" }',
        "array of tables",
    ),
    ("a priors file", '[settings]\nbase_month = "2024-12"\n', "settings", None, "priors file"),
    ("a scenario file", '[scenario]\nbase = "cic2025.toml"\n', "scenario", None, "priors file"),
]


@pytest.mark.parametrize(
    ("text", "field", "value", "fragment"),
    [case[1:] for case in FILE_CASES],
    ids=[case[0] for case in FILE_CASES],
)
def test_file_refusals_name_file_field_value(tmp_path, study, text, field, value, fragment) -> None:
    path = _write(tmp_path, text)
    message = _refused(path, study, field, value, fragment)
    if value is not None and field:
        assert message.count(", got ") == 1


def test_value_of_the_error_is_kept(tmp_path, study) -> None:
    with pytest.raises(ObservationsError) as info:
        load_observations(_write(tmp_path, _measurement(sd="-2")), study)
    assert isinstance(info.value, PriorsError) and isinstance(info.value, ValueError)
    assert info.value.value == -2 and info.value.field == "measurements[0].sd"


def test_not_utf8_invalid_toml_and_missing_file(tmp_path, study) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(_measurement(note='"caf\xe9"').encode("latin-1"))
    text = _refused(bad, study, "", None, "is not UTF-8 text (byte")
    assert text.startswith("latin1.toml: is not UTF-8")
    broken = _write(tmp_path, _measurement() + "sd 0.1\n", "broken.toml")
    _refused(broken, study, "line 7", '"sd 0.1"', "is not valid TOML")
    with pytest.raises(ObservationsError, match=r"^nope: no such observations file \(looked for "):
        load_observations("nope", study)
    with pytest.raises(ObservationsError, match=r"built-in observations: observations_example\)$"):
        load_observations(tmp_path / "missing.toml", study)
    for odd in ("", ".", "/", str(tmp_path)):  # no file: refused as one, not a traceback
        with pytest.raises(ObservationsError, match=r": no such observations file \(looked for "):
            load_observations(odd, study)
    with pytest.raises(ObservationsError, match=r"^cic2025.toml: settings is a priors key"):
        load_observations("cic2025", study)


def test_controls_in_values_are_escaped(tmp_path, study) -> None:
    path = _write(tmp_path, _measurement(region='"nat\\u202eional"'))
    text = _refused(path, study, "measurements[0].region", '"nat\\u202eional"')
    assert "\u202e" not in text


# ---- facts that contradict the priors


def _provider_changed(priors, provider_id: str, **changes):
    """``priors`` with provider ``provider_id`` changed: delay fields by name (p_on_time,
    late) or provider fields."""
    providers = []
    for p in priors.providers:
        if p.id == provider_id:
            delay = {k: changes.pop(k) for k in ("p_on_time", "late") if k in changes}
            if delay:
                changes["delivery_delay_months"] = dataclasses.replace(
                    p.delivery_delay_months, **delay
                )
            p = dataclasses.replace(p, **changes)
        providers.append(p)
    return dataclasses.replace(priors, providers=tuple(providers))


CONTRADICTIONS = [
    # (case, provider changes, fact, field, value, fragment)
    (
        "opened late but never late",
        {"p_on_time": 1.0},
        _fact(month='"2025-02"'),
        "month",
        '"2025-02"',
        "the hall opens by 2025-01 (provider gds is never late "
        "(delivery_delay_months.p_on_time = 1))",
    ),
    (
        "opened but always cancelled",
        {"cancellation_probability": 1.0},
        _fact(month='"2025-01"'),
        "status",
        '"opened"',
        "provider gds cancels every project (cancellation_probability = 1)",
    ),
    (
        "cancelled but never cancelled",
        {"cancellation_probability": 0.0},
        _fact(status="cancelled", month=None),
        "status",
        '"cancelled"',
        "provider gds never cancels a project (cancellation_probability = 0)",
    ),
    (
        "not opened at the scheduled month but certain",
        {"cancellation_probability": 0.0, "p_on_time": 1.0},
        _fact(status="not_opened", month='"2025-01"'),
        "month",
        '"2025-01"',
        "the hall opens by 2025-01 on every path (provider gds never cancels and is never late)",
    ),
    (
        "not opened after the scheduled month but certain",
        {"cancellation_probability": 0.0, "p_on_time": 1.0},
        _fact(status="not_opened", month='"2026-05"'),
        "month",
        '"2026-05"',
        "on every path",
    ),
    (
        # late <= 3 months x provider factor <= 1.5 x yangtze's factor <= 1.1 (made bounded:
        # its lognorm alone would leave the delay unbounded) = 4.95 -> at most 5 months
        "opened beyond a bounded delay",
        {
            "late": Distribution("uniform", {"loc": 0.0, "scale": 3.0}),
            "delay_factor": Distribution("uniform", {"loc": 0.5, "scale": 1.0}),
            "region_bounded": True,
        },
        _fact(month='"2025-07"'),
        "month",
        '"2025-07"',
        "the hall opens by 2025-06 (the priors' delays of provider gds are at most 5 months)",
    ),
    (
        # always late by late in [2, 3] x [0.5, 1.5] x [0.9, 1.1] >= 0.9 -> at least 1 month
        "opened on schedule but always late",
        {
            "p_on_time": 0.0,
            "late": Distribution("uniform", {"loc": 2.0, "scale": 1.0}),
            "delay_factor": Distribution("uniform", {"loc": 0.5, "scale": 1.0}),
            "region_bounded": True,
        },
        _fact(month='"2025-01"'),
        "month",
        '"2025-01"',
        "the hall opens in 2025-02 at the earliest (provider gds is always late "
        "(delivery_delay_months.p_on_time = 0), by at least 1 months)",
    ),
    (
        "not opened beyond a bounded delay",
        {
            "cancellation_probability": 0.0,
            "late": Distribution("uniform", {"loc": 0.0, "scale": 3.0}),
            "delay_factor": Distribution("uniform", {"loc": 0.5, "scale": 1.0}),
            "region_bounded": True,
        },
        _fact(status="not_opened", month='"2025-06"'),
        "month",
        '"2025-06"',
        "late by at most 5 months",
    ),
]


def _contradicting_priors(study, changes: dict):
    changes = dict(changes)
    region_bounded = changes.pop("region_bounded", False)
    priors = _provider_changed(study, "gds", **changes)
    if region_bounded:  # yangtze's factor in [0.9, 1.1]: bound 3 x 1.5 x 1.1 = 4.95 -> 5
        regions = tuple(
            dataclasses.replace(r, delay_factor=Distribution("uniform", {"loc": 0.9, "scale": 0.2}))
            if r.id == "yangtze"
            else r
            for r in priors.regions
        )
        priors = dataclasses.replace(priors, regions=regions)
    return priors


@pytest.mark.parametrize(
    ("changes", "text", "key", "value", "fragment"),
    [case[1:] for case in CONTRADICTIONS],
    ids=[case[0] for case in CONTRADICTIONS],
)
def test_facts_contradicting_the_priors(tmp_path, study, changes, text, key, value, fragment):
    priors = _contradicting_priors(study, changes)
    path = _write(tmp_path, text)
    message = _refused(path, priors, f"facts[0] ({HALL}).{key}", value, fragment)
    assert "contradicts the priors" in message


def test_facts_the_priors_allow(study) -> None:
    # the same facts, one month inside what the changed priors allow, are accepted
    never_late = _contradicting_priors(study, {"p_on_time": 1.0})
    make_observations(never_late, facts=[{"project": HALL, "status": "opened", "month": "2025-01"}])
    certain = _contradicting_priors(study, {"p_on_time": 1.0, "cancellation_probability": 0.0})
    make_observations(
        certain, facts=[{"project": LATER, "status": "not_opened", "month": "2026-02"}]
    )
    bounded = _contradicting_priors(study, CONTRADICTIONS[-1][1])
    make_observations(bounded, facts=[{"project": HALL, "status": "opened", "month": "2025-06"}])
    make_observations(
        bounded, facts=[{"project": HALL, "status": "not_opened", "month": "2025-05"}]
    )
    always_late = _contradicting_priors(study, CONTRADICTIONS[-2][1])
    for month in ("2025-02", "2025-06"):  # 1 to 5 months late
        make_observations(
            always_late, facts=[{"project": HALL, "status": "opened", "month": month}]
        )
    with pytest.raises(ObservationsError, match="at most 5 months"):
        make_observations(
            always_late, facts=[{"project": HALL, "status": "opened", "month": "2025-07"}]
        )
    # the study: late without bound, cancellable: any month from the scheduled one
    for month in ("2025-01", "2028-12"):
        for status in ("opened", "not_opened"):
            make_observations(study, facts=[{"project": HALL, "status": status, "month": month}])
    make_observations(study, facts=[{"project": HALL, "status": "cancelled"}])


# ----------------------------------------------------------------------------- in code


def _example_records(study):
    obs = load_observations(EXAMPLE, study)
    return obs, list(obs.measurements), list(obs.facts)


def test_make_observations_equals_the_file(study) -> None:
    obs, ms, fs = _example_records(study)
    made = make_observations(
        study, ms, fs, name=obs.name, description=obs.description, illustrative=True
    )
    assert made.measurements == obs.measurements and made.facts == obs.facts
    assert made == dataclasses.replace(obs, source_path="", sha256=made.sha256)
    assert made.source_path == "" and re.fullmatch(r"[0-9a-f]{64}", made.sha256)
    # dicts with the file's keys (numpy scalars too) give the same object and hash
    dicts = make_observations(
        study,
        [
            {**dataclasses.asdict(m), "value": np.float64(m.value), "sd": np.int64(m.sd)}
            if m.quantity == "demand_mw"
            else dataclasses.asdict(m)
            for m in ms
        ],
        [{"project": f.project, "status": f.status, "month": f.month, "note": f.note} for f in fs],
        name=obs.name,
        description=obs.description,
        illustrative=np.bool_(True),
    )
    assert dicts == made and dicts.sha256 == made.sha256
    assert hash(dicts) == hash(made)


def test_sha256_tells_observations_apart(study) -> None:
    m = {"region": "yangtze", "month": "2025-12", "quantity": "demand_mw", "value": 2665, "sd": 80}
    base = make_observations(study, [m])
    assert make_observations(study, [dict(m)]).sha256 == base.sha256
    assert (
        make_observations(study, [{**m, "value": 2665.0}]).sha256 == base.sha256
    )  # 2665 == 2665.0
    others = [
        make_observations(study, [{**m, "value": 2666}]),
        make_observations(study, [{**m, "sd": 81}]),
        make_observations(study, [{**m, "month": "2025-11"}]),
        make_observations(study, [{**m, "note": "x"}]),
        make_observations(study, [m], name="other"),
        make_observations(study, [m], illustrative=True),
        make_observations(study, [m], facts=[{"project": HALL, "status": "cancelled"}]),
    ]
    digests = {o.sha256 for o in others}
    assert len(digests) == len(others) and base.sha256 not in digests
    assert base.name == "observations" and base.illustrative is False


def test_make_observations_refusals_name_observations(study) -> None:
    cases = [
        ({"measurements": [{"region": "north"}]}, "measurements[0].region", '"north"'),
        (
            {"measurements": [Measurement("national", "2025-12", "occupancy", 0.8, 0.0)]},
            "measurements[0].sd",
            "0.0",
        ),
        (
            {"facts": [ProjectFact(HALL, "cancelled", "2025-05")]},
            f"facts[0] ({HALL}).month",
            '"2025-05"',
        ),
        ({"measurements": [3]}, "measurements[0]", "3"),
        ({"measurements": {"region": "national"}}, "measurements", '{ region = "national" }'),
        ({"facts": "gds"}, "facts", '"gds"'),
    ]
    for kwargs, field, value in cases:
        with pytest.raises(ObservationsError) as info:
            make_observations(study, **kwargs)
        text = str(info.value)
        assert text.startswith(f"<observations>: {field} "), text
        assert text.endswith(f", got {value}"), text
    with pytest.raises(ObservationsError, match=r"^<observations>: has no \[\[measurements\]\]"):
        make_observations(study)
    with pytest.raises(ObservationsError, match=r"^<observations>: name must be a string"):
        make_observations(study, facts=[{"project": HALL, "status": "cancelled"}], name=3)


def test_as_observations(tmp_path, study) -> None:
    assert as_observations(None, study) is None
    obs = load_observations(EXAMPLE, study)
    assert as_observations(obs, study) is obs
    assert as_observations(str(EXAMPLE), study) == obs
    assert as_observations(EXAMPLE, study) == obs
    made = make_observations(study, obs.measurements, obs.facts)
    assert as_observations(made, study) is made
    # a file round trip: the same records written back load to the same measurements/facts
    lines = []
    for m in obs.measurements:
        lines.append(
            f'[[measurements]]\nregion = "{m.region}"\nmonth = "{m.month}"\n'
            f'quantity = "{m.quantity}"\nvalue = {m.value!r}\nsd = {m.sd!r}\nnote = "{m.note}"\n'
        )
    for f in obs.facts:
        lines.append(
            f'[[facts]]\nproject = "{f.project}"\nstatus = "{f.status}"\nmonth = "{f.month}"\n'
            f'note = "{f.note}"\n'
        )
    again = as_observations(_write(tmp_path, "".join(lines), "again.toml"), study)
    assert again.measurements == obs.measurements and again.facts == obs.facts
    assert again.name == "again" and again.illustrative is False
    # checked against other priors: a region they lack is refused, naming the file
    other = dataclasses.replace(study, regions=study.regions[:1])
    mine = make_observations(
        study,
        [{"region": "yangtze", "month": "2025-12", "quantity": "supply_mw", "value": 1, "sd": 1}],
    )
    with pytest.raises(ObservationsError, match=r"^<observations>: measurements\[0\]\.region "):
        as_observations(mine, other)
    with pytest.raises(ObservationsError, match=r"^observations_example\.toml: measurements\[1\]"):
        as_observations(obs, other)
    with pytest.raises(TypeError, match="not a number"):
        as_observations(3, study)  # type: ignore[arg-type]


def test_constants_and_defaults(study) -> None:
    assert QUANTITIES == ("occupancy", "demand_mw", "supply_mw")
    assert FACT_STATUSES == ("opened", "not_opened", "cancelled")
    fact = ProjectFact(HALL, "cancelled")
    assert fact.month is None and fact.note == ""
    obs = make_observations(study, facts=[fact])
    assert isinstance(obs, Observations) and obs.measurements == () and obs.facts == (fact,)
    assert obs.pins(study) == {HALL: 0}


def test_name_defaults_to_the_file_stem(tmp_path, study) -> None:
    path = _write(tmp_path, _measurement(), "survey_2025.toml")
    obs = load_observations(path, study)
    assert obs.name == "survey_2025" and obs.description == "" and obs.illustrative is False
    named = load_observations(_write(tmp_path, 'name = "s"\n' + _measurement(), "b.toml"), study)
    assert named.name == "s"
    # a month-end measurement at the horizon and a national one in MW are accepted
    ok = _measurement(month='"2028-12"', quantity='"supply_mw"', value="16000", sd="1e9")
    assert load_observations(_write(tmp_path, ok, "c.toml"), study).measurements[0].sd == 1e9


# ----------------------------------------------------------------------------- README


def _readme_section() -> str:
    text = (ROOT / "priors" / "README.md").read_text(encoding="utf-8")
    start = text.index("## Observations (nowcast)")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_readme_section_examples(tmp_path, study) -> None:
    section = _readme_section()
    blocks = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    files = [b for b in blocks if "[[measurements]]" in b or "[[facts]]" in b]
    assert files, "the section shows the file format"
    for i, block in enumerate(files):
        obs = load_observations(_write(tmp_path, block, f"readme{i}.toml"), study)
        assert obs.measurements and obs.facts
    for key in ("occupancy", "demand_mw", "supply_mw", "opened", "not_opened", "cancelled"):
        assert f"`{key}`" in section or f'"{key}"' in section, key
    assert "mcsd run --observe priors/observations_example.toml" in section
    # the error lines it shows are what the code says
    errors = re.findall(r"^obs\.toml: .*$", section, flags=re.M)
    assert len(errors) == 2
    path = _write(
        tmp_path,
        _measurement(quantity='"demand_mw"', value="2000", sd="50")
        + _measurement(sd="0")
        + _fact(project=LATER, month='"2025-12"'),
    )
    with pytest.raises(ObservationsError) as info:
        load_observations(path, study)
    assert str(info.value) == errors[0]
    path = _write(tmp_path, _fact(project=LATER, month='"2025-12"'))
    with pytest.raises(ObservationsError) as info:
        load_observations(path, study)
    assert str(info.value) == errors[1]


def test_an_observations_file_given_as_priors_says_so():
    from mcsd.priors.loader import PriorsError, builtin_priors_dir, load_priors

    with pytest.raises(PriorsError) as err:
        load_priors(builtin_priors_dir() / "observations_example.toml")
    text = str(err.value)
    assert "observations_example.toml" in text and "measurements" in text
    assert "--observe" in text
