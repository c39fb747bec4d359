"""The distribution registry (``mcsd.priors.distributions.FAMILIES``) against its users.

Each family's kernel code must select the kernel transform that computes its quantiles
(``mcsd.kernels.transforms.ppf``), its rules must be what the loader enforces, with their
words, and ``kernel_parameters`` must fill the layout of ``mcsd.kernels.layout``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from mcsd.kernels import layout
from mcsd.kernels.transforms import ppf as kernel_ppf
from mcsd.priors import distributions
from mcsd.priors.distributions import FAMILIES, Family, kernel_parameters
from mcsd.priors.loader import SUPPORTED_DISTRIBUTIONS, PriorsError, load_priors
from mcsd.priors.model import Distribution

INF = math.inf

#: Parameters per family, chosen so that the quantiles stay well away from 0 (a relative
#: comparison) and differ from those of every other family read from the same vector.
EXAMPLES: dict[str, list[dict[str, float]]] = {
    "norm": [{"loc": 10.0, "scale": 2.0}],
    "lognorm": [{"s": 0.4, "loc": 0.5, "scale": 1.5}],
    "gamma": [{"a": 2.5, "loc": 1.0, "scale": 0.8}],
    "beta": [{"a": 2.0, "b": 5.0, "loc": 1.0, "scale": 3.0}],
    "uniform": [{"loc": 2.0, "scale": 0.5}],
    "triang": [{"c": 0.3, "loc": 1.0, "scale": 2.0}],
    "truncnorm": [
        {"a": -1.5, "b": 2.0, "loc": 5.0, "scale": 0.7},  # around 0: the direct form
        {"a": -INF, "b": -0.5, "loc": 4.0},  # left tail: scipy's log-space form
        {"a": 1.0, "b": 3.0, "loc": 0.5, "scale": 0.3},  # right tail, mirrored
    ],
    "expon": [{"loc": 1.0, "scale": 2.0}],
    "weibull_min": [{"c": 1.7, "loc": 1.0, "scale": 1.5}],
}
CASES = [(name, kw) for name in FAMILIES for kw in EXAMPLES[name]]
U = (1e-6, 0.05, 0.3, 0.5, 0.77, 0.999)
REL = 1e-12
#: The layout's distribution codes by constant name (DIST_NORM, ...).
_LAYOUT_CODES = {k: v for k, v in vars(layout).items() if k.startswith("DIST_")}


def _id(case: tuple[str, dict[str, float]]) -> str:
    name, kw = case
    return name + "(" + ",".join(f"{k}={v:g}" for k, v in kw.items()) + ")"


def _kernel_quantiles(code: int, p: np.ndarray) -> np.ndarray:
    return np.array([kernel_ppf(code, p, u) for u in U])


def _close(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(got - want) <= REL * np.abs(want)


# ---------------------------------------------------------------- names and codes


def test_every_example_family_is_registered():
    assert set(EXAMPLES) == set(FAMILIES)


def test_registry_names_are_the_loaders_supported_list():
    assert tuple(FAMILIES) == SUPPORTED_DISTRIBUTIONS
    assert all(name == family.name for name, family in FAMILIES.items())
    assert dict(distributions.SHAPES) == {n: f.shapes for n, f in FAMILIES.items()}
    assert dict(distributions.DIST_CODES) == {n: f.kernel_code for n, f in FAMILIES.items()}


def test_kernel_codes_are_distinct_and_the_layouts_named_constants():
    codes = [family.kernel_code for family in FAMILIES.values()]
    assert len(set(codes)) == len(codes)
    assert sorted(codes) == sorted(_LAYOUT_CODES.values())
    assert layout.NO_DIST not in codes
    for name, family in FAMILIES.items():
        assert family.kernel_code == _LAYOUT_CODES["DIST_" + name.upper()]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_kernel_transform_of_the_code_is_the_familys_quantile(case):
    name, kw = case
    dist = Distribution(name, kw)
    want = distributions.ppf(dist, np.array(U))
    assert np.all(np.isfinite(want)) and np.all(np.abs(want) > 1e-3)
    code, p = kernel_parameters(dist)
    assert code == FAMILIES[name].kernel_code
    got = _kernel_quantiles(code, p)
    assert _close(got, want).all(), f"kernel {got}, registry {want}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_no_other_code_gives_the_familys_quantiles(case):
    # so the test above catches a code mapped to the wrong family's transform
    name, kw = case
    dist = Distribution(name, kw)
    want = distributions.ppf(dist, np.array(U))
    _, p = kernel_parameters(dist)
    for other, code in _LAYOUT_CODES.items():
        if other != "DIST_" + name.upper():
            with np.errstate(all="ignore"):
                got = _kernel_quantiles(code, p)
            assert not _close(got, want).all(), other


# ---------------------------------------------------------------- kernel parameter layout


def _scipy_shapes(name: str) -> str | None:
    from scipy import stats  # ~0.6 s: only here

    return getattr(stats, name).shapes


@pytest.mark.parametrize("name", list(FAMILIES))
def test_kernel_parameters_layout(name):
    family = FAMILIES[name]
    kw = EXAMPLES[name][0]
    code, p = kernel_parameters(Distribution(name, kw))
    assert code == family.kernel_code
    assert p.shape == (layout.N_PARAMS,) and p.dtype == np.float64
    assert p[layout.PARAM_LOC] == kw["loc"] and p[layout.PARAM_SCALE] == kw.get("scale", 1.0)
    # shapes in scipy's order (the order of the kernels' slots)
    assert family.shapes == tuple(s.strip() for s in (_scipy_shapes(name) or "").split(",") if s)
    n_shape_slots = layout.PARAM_LOC - layout.PARAM_SHAPE0
    shape_slots = [kw[s] for s in family.shapes] + [0.0] * (n_shape_slots - len(family.shapes))
    assert p[layout.PARAM_SHAPE0 : layout.PARAM_LOC].tolist() == shape_slots
    derived = list(family.derived(*(kw[s] for s in family.shapes)))
    assert len(derived) == (3 if name == "truncnorm" else 0)
    assert p[layout.PARAM_DERIVED :].tolist() == derived + [0.0] * (4 - len(derived))


def test_kernel_parameters_default_loc_and_scale():
    _, p = kernel_parameters(Distribution("gamma", {"a": 3.0}))
    assert p.tolist() == [3.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_truncnorm_derived_constants():
    # around 0: Phi(a), Phi(b) - Phi(a), Phi(-b)
    _, p = kernel_parameters(Distribution("truncnorm", {"a": -1.5, "b": 2.0}))
    d = p[layout.PARAM_DERIVED :]
    assert d[0] == special.ndtr(-1.5) and d[2] == special.ndtr(-2.0)
    assert d[1] == pytest.approx(special.ndtr(2.0) - special.ndtr(-1.5), rel=1e-15)
    # one-sided: log Phi of the outer bound (mirrored in the right tail), log of the mass
    for a, b, log_base in [(-INF, -0.5, special.log_ndtr(-INF)), (1.0, 3.0, special.log_ndtr(-3))]:
        _, p = kernel_parameters(Distribution("truncnorm", {"a": a, "b": b}))
        d = p[layout.PARAM_DERIVED :]
        assert d.tolist() == [log_base, distributions.log_gauss_mass(a, b), 0.0, 0.0]


def test_a_family_row_outgrowing_the_layout_is_refused():
    with pytest.raises(ValueError, match="more shapes"):
        Family("x", 99, ("p", "q", "r"), lambda *s: (0.0, 1.0), lambda q, *s: q)
    with pytest.raises(ValueError, match="unknown shape"):
        rule = distributions.ShapeRule(lambda v: v > 0, "must be > 0")
        Family("x", 99, ("p",), lambda *s: (0.0, 1.0), lambda q, *s: q, {"r": rule})


# ---------------------------------------------------------------- the loader's rules

TOML = """\
[settings]
base_month = "2024-12"
horizon_month = "2025-12"

[[regions]]
id = "north"
demand_stock_mw = 100
supply_stock_mw = 150

[[buyers]]
id = "acme"
market_loading = 0.5
persistence = 0.5
demand_multiplier = { dist = "lognorm", s = 0.25 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.25, scale = 0.5 }
increments_mw = { north = { 2025 = 40 } }

[[providers]]
id = "builder"
cancellation_probability = 0.05
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.6, late = LATE }
projects = [{ id = "b-1", region = "north", capacity_mw = 30, scheduled_month = "2025-06" }]
"""
LATE = "providers[0] (builder).delivery_delay_months.late"
CANDIDATES = (-1.0, 0.0, 0.5, 1.5, 2.0)


def _load_late(tmp_path: Path, name: str, values: dict[str, float]) -> None:
    table = ", ".join([f'dist = "{name}"'] + [f"{k} = {v!r}" for k, v in values.items()])
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace("LATE", "{ " + table + " }"), encoding="utf-8")
    load_priors(path)


def test_the_toml_loads_with_a_valid_late_delay(tmp_path: Path):
    _load_late(tmp_path, "gamma", {"a": 2.0, "scale": 1.5})


def _shape_violations() -> list[tuple[str, str, float]]:
    out = []
    for family in FAMILIES.values():
        for shape, rule in family.shape_rules.items():
            out += [(family.name, shape, v) for v in CANDIDATES if not rule.test(v)]
    return out


@pytest.mark.parametrize("name, shape, value", _shape_violations())
def test_each_shape_rules_words_are_the_loaders_error(tmp_path: Path, name, shape, value):
    family = FAMILIES[name]
    values = {s: EXAMPLES[name][0][s] for s in family.shapes} | {shape: value}
    with pytest.raises(PriorsError) as info:
        _load_late(tmp_path, name, values)
    rule = family.shape_rules[shape]
    assert str(info.value) == f"bad.toml: {LATE}.{shape} {rule.text} for {name}, got {value!r}"
    assert not family.valid(tuple(values[s] for s in family.shapes))


def _joint_violations() -> list[tuple[str, dict[str, float]]]:
    out = []
    for family in FAMILIES.values():
        if family.joint_rule is None:
            continue
        for combo in itertools.product(CANDIDATES, repeat=len(family.shapes)):
            values = dict(zip(family.shapes, combo, strict=True))
            rules_pass = all(r.test(values[s]) for s, r in family.shape_rules.items())
            if rules_pass and not family.joint_rule.test(*combo):
                out.append((family.name, values))
    return out


@pytest.mark.parametrize("name, values", _joint_violations())
def test_each_joint_rules_words_are_the_loaders_error(tmp_path: Path, name, values):
    joint = FAMILIES[name].joint_rule
    assert joint is not None
    with pytest.raises(PriorsError) as info:
        _load_late(tmp_path, name, values)
    problem = f"{joint.message(values)} for {name}"
    got = values[joint.field]
    assert str(info.value) == f"bad.toml: {LATE}.{joint.field} {problem}, got {got!r}"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_rules_are_scipys_domain(name):
    # the rules, joint rule included, accept exactly the shapes scipy.stats accepts
    from scipy import stats

    family, rv = FAMILIES[name], getattr(stats, name)
    grid = (-1.0, -0.0, 0.0, 1e-300, 0.5, 1.0, 1.5, INF, -INF, math.nan)
    for shapes in itertools.product(grid, repeat=len(family.shapes)):
        with np.errstate(all="ignore"):
            scipy_valid = not np.isnan(rv.support(*shapes)[0])
        assert family.valid(shapes) == scipy_valid, shapes


def test_truncnorm_joint_rule_words():
    # the words tests/test_priors_errors.py and the hostile corpus expect
    joint = FAMILIES["truncnorm"].joint_rule
    assert joint is not None and joint.field == "b"
    assert joint.message({"a": 2.0, "b": 1.0}) == "must be > a (2)"
    assert len(_joint_violations()) > 0
