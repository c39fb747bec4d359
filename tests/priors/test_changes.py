"""What-ifs (``mcsd.priors.changes``, ``Priors.with_changes``): the scenario files' grammar
and validation, applied without a file, with provenance that never claims the file."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from mcsd.priors.changes import Change, apply_changes, parse_change, what_if_changes
from mcsd.priors.loader import PriorsError, builtin_priors_dir, load_priors
from mcsd.testing.toy import all_mechanisms_priors

STUDY = builtin_priors_dir() / "cic2025.toml"


@pytest.fixture(scope="module")
def base():
    return load_priors(STUDY)


def _same_apart_from_provenance(a, b) -> bool:
    """Equal as priors, ignoring name, sha256, description and source path."""
    keep = {"name": "x", "sha256": "0", "description": "", "source_path": ""}
    return dataclasses.replace(a, **keep) == dataclasses.replace(b, **keep)


def test_set_changes_the_threshold_and_nothing_else(base):
    q = apply_changes(base, sets=[parse_change("set", "settings.threshold=0.85")])
    assert base.threshold == 0.8 and q.threshold == 0.85
    assert _same_apart_from_provenance(dataclasses.replace(base, threshold=0.85), q)


def test_set_with_a_selector_changes_one_buyer(base):
    q = base.with_changes(set={"buyers.bytedance.persistence": 0.25})
    changed = {b.id: b.persistence for b in q.buyers}
    assert changed["bytedance"] == 0.25
    for b0, b1 in zip(base.buyers, q.buyers, strict=True):
        if b0.id != "bytedance":
            assert b0 == b1


def test_scale_multiplies_every_increment(base):
    q = apply_changes(base, scales=[parse_change("scale", "buyers.*.increments_mw=0.75")])
    for b0, b1 in zip(base.buyers, q.buyers, strict=True):
        for region, years in b0.increments_mw.items():
            for year, mw in years.items():
                assert b1.increments_mw[region][year] == mw * 0.75
    assert q.threshold == base.threshold and q.providers == base.providers


@pytest.mark.parametrize(
    ("kind", "text", "problem"),
    [
        ("set", "settings.threshold=1.5", "settings.threshold must be in [0, 1], got 1.5"),
        ("set", "settings.max_occupancy=0.5", "settings.max_occupancy must be >= settings."),
        ("set", "buyers.nobody.persistence=0.5", "field matches nothing at 'nobody'"),
        ("set", "settings.thresold=0.9", "did you mean 'threshold'?"),
        ("set", "settings.turning_point=year_end", "VALUE is not a TOML value"),
        ("set", "settings.threshold", "must be FIELD=VALUE"),
        ("set", "settings.threshold=0.9\nx = 1", "holds a line break"),
        ("scale", "settings.turning_point=2", "selects no numbers to scale"),
        ("scale", "buyers.*.increments_mw=true", "factor must be a number, not a boolean"),
        ("scale", "buyers.*.increments_mw=-1", "must be >= 0"),
    ],
)
def test_an_invalid_what_if_is_refused_naming_it(base, kind, text, problem):
    with pytest.raises(PriorsError) as err:
        change = parse_change(kind, text)
        apply_changes(base, **{f"{kind}s": [change]})
    message = str(err.value)
    assert message.startswith(f"--{kind} {text.splitlines()[0]}")
    assert problem in message
    assert "\n" not in message


def test_the_change_that_broke_a_rule_is_named(base):
    """Several what-ifs: the one after which the rule fails is blamed."""
    changes = [
        parse_change("set", "settings.max_occupancy=0.9"),  # fine alone (threshold 0.8)
        parse_change("set", 'meta.name="renamed"'),
        parse_change("set", "settings.threshold=0.95"),  # now above max_occupancy
    ]
    with pytest.raises(PriorsError) as err:
        apply_changes(base, sets=changes)
    assert str(err.value).startswith("--set settings.threshold=0.95: settings.max_occupancy")


def _scenario(tmp_path: Path, sets: str, scales: str) -> Path:
    path = tmp_path / "whatif_scenario.toml"
    path.write_text(f'[scenario]\nbase = "{STUDY.as_posix()}"\n{sets}{scales}', encoding="utf-8")
    return path


def test_the_grammar_is_the_scenario_files(tmp_path, base):
    """The same changes through a scenario file and through --set/--scale give the same
    priors, apart from name, hash, description and source."""
    sets = {
        "settings.threshold": "0.85",
        "buyers.bytedance.persistence": "0.3",
        "providers.*.cancellation_probability": "0.07",
        "settings.turning_point": '"year_end"',
    }
    scales = {"buyers.*.increments_mw": "0.8", "buyers.*.demand_multiplier.s": "1.25"}
    file_sets = "".join(f'[[scenario.set]]\nfield = "{f}"\nvalue = {v}\n' for f, v in sets.items())
    file_scales = "".join(
        f'[[scenario.scale]]\nfield = "{f}"\nfactor = {v}\n' for f, v in scales.items()
    )
    from_file = load_priors(_scenario(tmp_path, file_sets, file_scales))
    from_cli = apply_changes(
        STUDY,
        sets=[parse_change("set", f"{f}={v}") for f, v in sets.items()],
        scales=[parse_change("scale", f"{f}={v}") for f, v in scales.items()],
    )
    assert from_cli.threshold == 0.85 and from_cli.turning_point == "year_end"
    assert not _same_apart_from_provenance(from_cli, base)
    assert _same_apart_from_provenance(from_file, from_cli)


def test_an_invalid_change_fails_as_in_a_scenario_file(tmp_path):
    """Same field and problem; only the source named differs."""
    path = _scenario(tmp_path, '[[scenario.set]]\nfield = "settings.threshold"\nvalue = 1.5\n', "")
    with pytest.raises(PriorsError) as in_file:
        load_priors(path)
    with pytest.raises(PriorsError) as on_cli:
        apply_changes(STUDY, sets=[parse_change("set", "settings.threshold=1.5")])
    assert in_file.value.file == path.name
    assert on_cli.value.file == "--set settings.threshold=1.5"
    assert (on_cli.value.field, on_cli.value.problem) == (
        in_file.value.field,
        in_file.value.problem,
    )


def test_provenance_never_claims_the_unchanged_priors(base):
    q = base.with_changes(set={"settings.threshold": 0.85})
    assert q.name == f"{base.name}+what-if"
    assert q.sha256 != base.sha256 and len(q.sha256) == 64
    assert q.source_path == base.source_path  # the file the changes apply to
    assert what_if_changes(q) == ("--set settings.threshold=0.85",)
    assert what_if_changes(base) == ()
    assert "--set settings.threshold=0.85" in q.description
    other = base.with_changes(set={"settings.threshold": 0.86})
    assert other.sha256 not in (q.sha256, base.sha256)
    # the same change typed on the command line, from a path: the same hash
    cli = apply_changes(STUDY, sets=[parse_change("set", "settings.threshold = 0.85")])
    assert cli.sha256 == q.sha256 and cli == q
    # no change: the priors as they are
    assert apply_changes(base) is base


def test_chained_what_ifs_equal_one_batch(base):
    chained = base.with_changes(set={"settings.threshold": 0.85}).with_changes(
        scale={"buyers.*.increments_mw": 0.9}
    )
    batch = base.with_changes(
        set={"settings.threshold": 0.85}, scale={"buyers.*.increments_mw": 0.9}
    )
    assert chained == batch and chained.name == f"{base.name}+what-if"
    assert what_if_changes(chained) == (
        "--set settings.threshold=0.85",
        "--scale buyers.*.increments_mw=0.9",
    )


def test_python_values_are_toml_values(base):
    import numpy as np

    q = base.with_changes(set={"settings.threshold": np.float64(0.85)})
    assert q.threshold == 0.85 and type(q.threshold) is float
    with pytest.raises(PriorsError, match="is not a TOML value"):
        base.with_changes(set={"settings.threshold": object()})
    assert isinstance(parse_change("set", "a.b=1"), Change)


def test_an_id_may_hold_an_equals_sign():
    change = parse_change("set", "buyers.a=b.persistence=0.5")
    assert (change.field, change.value) == ("buyers.a=b.persistence", 0.5)


def test_priors_not_from_a_file_are_refused():
    with pytest.raises(PriorsError, match="needs priors loaded from a file"):
        all_mechanisms_priors().with_changes(set={"settings.threshold": 0.85})


def test_a_file_changed_since_loading_is_refused(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(STUDY.read_bytes())
    p = load_priors(path)
    path.write_bytes(STUDY.read_bytes() + b"\n# edited\n")
    with pytest.raises(PriorsError, match="has changed on disk"):
        p.with_changes(set={"settings.threshold": 0.85})


def test_model_imports_no_loader():
    code = (
        "import sys, mcsd.priors.model\n"
        "assert 'mcsd.priors.loader' not in sys.modules and 'tomllib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
