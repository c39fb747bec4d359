"""``mcsd priors show`` and ``mcsd priors solve`` (mcsd/cli/priors_cmd.py, mcsd/priors/solve.py).

Through a parser built here with ``register`` (as the lead wires it into mcsd.cli.main),
and through ``mcsd.cli.main.main``. Expected values come from scipy.stats
directly (``Distribution.frozen()``), never from the module under test.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import mcsd
from mcsd.cli.main import UsageError, _Parser
from mcsd.cli.priors_cmd import register
from mcsd.priors import solve as solver

STUDY = mcsd.load_priors(None)


def _run(argv: list[str], capsys) -> tuple[int, list[str], list[str]]:
    parser = argparse.ArgumentParser(prog="mcsd")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    rc = args.func(args)
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err.splitlines()


def _table(lines: list[str]) -> dict[float, str]:
    """The ``q  value`` rows of one printed block: probability -> printed value."""
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["q", "value"])
    rows = {}
    for line in lines[start + 1 :]:
        parts = line.split()
        if len(parts) != 2:
            break
        rows[float(parts[0])] = parts[1]
    return rows


def _printed(value: float) -> str:
    return f"{value:.6g}"


QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.9, 0.99]
QS = ",".join(map(str, QUANTILES))


# ----------------------------------------------------------------------------- show


def test_show_demand_multiplier_quantiles_are_scipys(capsys):
    buyer = next(b for b in STUDY.buyers if b.id == "bytedance")
    rc, out, err = _run(
        ["priors", "show", "buyers.bytedance.demand_multiplier", "--quantiles", QS], capsys
    )
    assert rc == 0 and err == []
    assert out[0].startswith("buyers[0] (bytedance).demand_multiplier = {")
    dist = buyer.demand_multiplier
    args = ", ".join(f"{k}={float(v)!r}" for k, v in dist.params.items())
    assert out[1].strip() == f"scipy.stats.{dist.name}({args})"
    expected = dist.frozen().ppf(QUANTILES)
    assert _table(out) == {q: _printed(v) for q, v in zip(QUANTILES, expected, strict=True)}


def test_show_share_has_nominal_and_scipys_quantiles(capsys):
    rc, out, _ = _run(
        ["priors", "show", "buyers.alibaba.third_party_share", "--quantiles", QS], capsys
    )
    buyer = next(b for b in STUDY.buyers if b.id == "alibaba")
    assert rc == 0
    assert f"nominal {buyer.third_party_share_nominal:g} (= the median)" in "\n".join(out)
    expected = buyer.third_party_share.frozen().ppf(QUANTILES)
    assert _table(out) == {q: _printed(v) for q, v in zip(QUANTILES, expected, strict=True)}
    assert _table(out)[0.5] == _printed(buyer.third_party_share_nominal)


@pytest.mark.parametrize("field", ["delivery_delay_months", "delivery_delay_months.late"])
def test_show_delivery_delay(field: str, capsys):
    provider = STUDY.providers[1]
    rc, out, _ = _run(
        ["priors", "show", f"providers.{provider.id}.{field}", "--quantiles", QS], capsys
    )
    assert rc == 0
    delay = provider.delivery_delay_months
    text = "\n".join(out)
    if field == "delivery_delay_months":
        assert f"on time with probability {delay.p_on_time:g}" in text
        assert f"late with probability {1 - delay.p_on_time:.6g}" in text
        assert f"provider_loading {delay.provider_loading:g}" in text
    expected = delay.late.frozen().ppf(QUANTILES)
    assert _table(out) == {q: _printed(v) for q, v in zip(QUANTILES, expected, strict=True)}


def test_show_a_wildcard_prints_every_match(capsys):
    rc, out, _ = _run(["priors", "show", "buyers.*.demand_multiplier"], capsys)
    assert rc == 0
    heads = [line for line in out if line.endswith("}") and ".demand_multiplier = {" in line]
    assert len(heads) == len(STUDY.buyers)
    for i, (head, buyer) in enumerate(zip(heads, STUDY.buyers, strict=True)):
        assert head.startswith(f"buyers[{i}] ({buyer.id}).demand_multiplier")


def test_show_reads_the_scenario_applied(capsys):
    scenario = mcsd.load_priors("power_constrained")
    provider = scenario.providers[0]
    rc, out, _ = _run(
        [
            "priors",
            "show",
            f"providers.{provider.id}.delivery_delay_months.late",
            "--priors",
            "power_constrained",
            "--quantiles",
            "0.5,0.95",
        ],
        capsys,
    )
    assert rc == 0
    expected = provider.delivery_delay_months.late.frozen().ppf([0.5, 0.95])
    assert _table(out) == {0.5: _printed(expected[0]), 0.95: _printed(expected[1])}
    study_late = STUDY.providers[0].delivery_delay_months.late
    assert provider.delivery_delay_months.late != study_late  # the scenario did change it


def test_show_quantile_ends_are_the_support(capsys):
    rc, out, _ = _run(
        ["priors", "show", "regions.jingjin.delay_factor", "--quantiles", "0,1"], capsys
    )
    assert rc == 0
    assert _table(out) == {0.0: "0", 1.0: "inf"}


# ----------------------------------------------------------------------------- solve


def _solved(argv: list[str], capsys) -> tuple[dict, list[str]]:
    rc, out, err = _run(["priors", "solve", *argv], capsys)
    assert rc == 0 and err == [], err
    table = tomllib.loads(f"x = {out[0]}")["x"]
    assert all(line.startswith("#") for line in out[1:])  # the whole output pastes as TOML
    return table, out


def _scipy(table: dict):
    params = {k: v for k, v in table.items() if k not in ("dist", "nominal")}
    return getattr(stats, table["dist"])(**params)


# (arguments, median, the field of a priors file the result is loaded in)
SOLVE_CASES = [
    (["gamma", "--median", "5", "--fix", "a=2"], 5.0, "late"),
    (["gamma", "--median", "1", "--fix", "a=3.5"], 1.0, "factor"),
    (["gamma", "--median", "4", "--fix", "scale=1.5", "--solve", "a"], 4.0, "late"),
    (["lognorm", "--median", "1", "--fix", "s=0.3"], 1.0, "factor"),
    (["lognorm", "--median", "3.7", "--fix", "s=0.5"], 3.7, "late"),
    (["weibull_min", "--median", "1", "--fix", "c=1.7"], 1.0, "factor"),
    (["weibull_min", "--median", "6", "--fix", "scale=8", "--solve", "c"], 6.0, "late"),
    (["expon", "--median", "2.5"], 2.5, "late"),
    (["beta", "--median", "0.6", "--fix", "a=12"], 0.6, "share"),
    (["beta", "--median", "0.35", "--fix", "b=9", "--solve", "a"], 0.35, "share"),
    (
        ["truncnorm", "--median", "0.7", "--fix", "a=-3", "--fix", "b=3", "--fix", "scale=0.08"],
        0.7,
        "share",
    ),
    (
        [
            "truncnorm",
            "--median",
            "0.3",
            "--fix",
            "b=4",
            "--fix",
            "scale=0.1",
            "--fix",
            "loc=0.25",
            "--solve",
            "a",
        ],
        0.3,
        "share",
    ),
    (["triang", "--median", "0.4", "--solve", "c"], 0.4, "share"),
    (["uniform", "--median", "0.5", "--fix", "loc=0.2"], 0.5, "share"),
    (["norm", "--median", "3", "--fix", "scale=0.5"], 3.0, None),
]

_PRIORS = """\
[settings]
base_month = "2024-12"
horizon_month = "2026-12"

[[regions]]
id = "r"
demand_stock_mw = 100
supply_stock_mw = 200

[[buyers]]
id = "b"
market_loading = 0.5
persistence = 0.5
demand_multiplier = {multiplier}
third_party_share = {share}
increments_mw = {{ r = {{ 2025 = 10, 2026 = 10 }} }}

[[providers]]
id = "p"
cancellation_probability = 0.0
delay_factor = {{ dist = "lognorm", s = 0.2 }}
delivery_delay_months = {{ p_on_time = 0.5, late = {late} }}
"""
_DEFAULTS = {
    "multiplier": '{ dist = "lognorm", s = 0.2 }',
    "share": '{ nominal = 0.5, dist = "uniform" }',
    "late": '{ dist = "expon" }',
}


@pytest.mark.parametrize(
    "argv, median, field", SOLVE_CASES, ids=[" ".join(c[0]) for c in SOLVE_CASES]
)
def test_solve_reaches_the_median_and_loads(argv, median, field, tmp_path: Path, capsys):
    table, out = _solved(argv, capsys)
    assert table["dist"] == argv[0]
    got = float(_scipy(table).median())
    assert math.isclose(got, median, rel_tol=1e-9), (out[0], got)
    for item in argv[argv.index("--median") + 2 :]:  # the fixed values are kept as given
        if "=" in item:
            name, value = item.split("=")
            assert table[name] == float(value)
    if field is None:
        assert "no priors field takes it" in out[-1]
        return
    line = out[0]
    if field == "share":
        share_line = next(x for x in out if x.startswith("# as a share: "))
        line = share_line.split("third_party_share = ", 1)[1]
        assert tomllib.loads(f"x = {line}")["x"]["nominal"] == median
    key = {"factor": "multiplier", "share": "share", "late": "late"}[field]
    path = tmp_path / "solved.toml"
    path.write_text(_PRIORS.format(**{**_DEFAULTS, key: line}), "utf-8")
    priors = mcsd.load_priors(path)  # the loader takes it where the output says it does
    loaded = {
        "multiplier": priors.buyers[0].demand_multiplier,
        "share": priors.buyers[0].third_party_share,
        "late": priors.providers[0].delivery_delay_months.late,
    }[key]
    assert loaded.name == table["dist"]
    assert {"factor": "demand_multiplier", "share": "third_party_share", "late": "late"}[
        field
    ] in out[2]


def test_solve_closed_forms():
    assert solver.solve_median("lognorm", 2.75, {"s": 0.4}).params["scale"] == 2.75
    dist = solver.solve_median("truncnorm", 0.61, {"a": -2.5, "b": 2.5, "scale": 0.1})
    assert dist.params["loc"] == 0.61
    dist = solver.solve_median("gamma", 5.0, {"a": 2.0})
    assert dist.params["scale"] == pytest.approx(5.0 / stats.gamma(2.0).median(), rel=1e-14)


def test_solve_prints_few_digits_that_keep_the_median():
    dist = solver.solve_median("beta", 0.6, {"a": 12.0})
    short = solver.shortened(dist, "b", 0.6)
    assert len(repr(short.params["b"])) < len(repr(dist.params["b"]))
    assert math.isclose(stats.beta(**short.params).median(), 0.6, rel_tol=1e-12)


# ----------------------------------------------------------------------------- errors


ERRORS = [
    (["show", "buyers.nobody.demand_multiplier"], "matches nothing at 'nobody'"),
    (["show", "buyers.bytedance.demand_multiplir"], "matches nothing at 'demand_multiplir'"),
    (["show", "settings.threshold"], "settings.threshold is not a distribution"),
    (["show", "buyers.bytedance"], "is not a distribution"),
    (["show", "buyers.bytedance.demand_multiplier", "--quantiles", "0.5,2"], "must be in [0, 1]"),
    (["show", "buyers.bytedance.demand_multiplier", "--quantiles", "a"], "must be a number"),
    (
        ["show", "buyers.bytedance.demand_multiplier", "--quantiles", "0.5,,0.9"],
        "separated by commas",
    ),
    (
        ["show", "buyers.bytedance.demand_multiplier", "--priors", "nosuch.toml"],
        "no such priors file",
    ),
    (["solve", "lognormal", "--median", "1"], "unsupported distribution 'lognormal'"),
    (["solve", "gamma", "--median", "5"], "requires a: give --fix a=VALUE"),
    (["solve", "gamma", "--median", "-5", "--fix", "a=2"], "no scale > 0 gives median -5"),
    (["solve", "beta", "--median", "1.5", "--fix", "a=2"], "no value of b gives"),
    (
        ["solve", "lognorm", "--median", "2", "--fix", "scale=1", "--solve", "s"],
        "does not depend on s",
    ),
    (["solve", "norm", "--median", "2", "--solve", "scale"], "does not depend on scale"),
    (["solve", "gamma", "--median", "x", "--fix", "a=2"], "--median must be a number"),
    (["solve", "gamma", "--median", "nan", "--fix", "a=2"], "must be a finite number"),
    (["solve", "gamma", "--median", "5", "--fix", "a"], "--fix must be NAME=VALUE"),
    (
        ["solve", "gamma", "--median", "5", "--fix", "k=2"],
        "--fix k: not a parameter of scipy.stats.gamma",
    ),
    (
        ["solve", "gamma", "--median", "5", "--fix", "a=2", "--solve", "c"],
        "--solve c: not a parameter",
    ),
    (["solve", "gamma", "--median", "5", "--fix", "a=-2"], "a must be > 0 for gamma"),
    (["solve", "gamma", "--median", "5", "--fix", "a=2", "--fix", "a=3"], "given twice"),
]


@pytest.mark.parametrize("argv, words", ERRORS, ids=[" ".join(e[0]) for e in ERRORS])
def test_errors_are_one_line_exit_2(argv: list[str], words: str, capsys):
    rc, out, err = _run(["priors", *argv], capsys)
    assert rc == 2
    assert out == []
    assert len(err) == 1, err
    assert err[0].startswith(f"mcsd priors {argv[0]}: error: ")
    assert words in err[0]


def test_argument_errors_are_one_line_in_the_mcsd_parser():
    # registered as the lead wires it (subparsers of mcsd.cli.main's _Parser): argparse's own
    # errors (a missing --median) become mcsd's one-line UsageError, exit 2
    parser = _Parser(prog="mcsd")
    register(parser.add_subparsers(dest="command", parser_class=_Parser))
    with pytest.raises(UsageError) as info:
        parser.parse_args(["priors", "solve", "gamma"])
    assert "\n" not in str(info.value) and "--median" in str(info.value)


def test_priors_without_an_action(capsys):
    rc, out, err = _run(["priors"], capsys)
    assert rc == 2 and out == [] and len(err) == 1 and "choose show or solve" in err[0]


def test_through_mcsd_main(capsys):
    from mcsd.cli.main import main

    assert main(["priors", "solve", "lognorm", "--median", "1", "--fix", "s=0.2"]) == 0
    assert capsys.readouterr().out.startswith('{ dist = "lognorm", s = 0.2, scale = 1.0 }')
    assert main(["priors", "show", "buyers.nobody.demand_multiplier"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_solve_grid_finds_every_default_family():
    # every supported family solves its default parameter for a reachable median
    from mcsd.priors.distributions import FAMILIES

    shapes = {
        "lognorm": {"s": 0.5},
        "gamma": {"a": 2.0},
        "beta": {"a": 3.0},
        "triang": {"c": 0.3},
        "truncnorm": {"a": -1.0, "b": 2.0},
        "weibull_min": {"c": 2.0},
    }
    for name in FAMILIES:
        target = 0.4 if name in ("beta",) else 1.3
        dist = solver.solve_median(name, target, shapes.get(name, {}))
        frozen = getattr(stats, name)(**dist.params)
        assert math.isclose(frozen.median(), target, rel_tol=1e-9), (name, dist)
        assert np.isfinite(frozen.ppf(0.99))
