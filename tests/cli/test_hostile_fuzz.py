"""Property-based fuzzing of the priors loader (hypothesis, derandomized).

Random mutations of the study priors (parsed with tomllib, mutated, written back with the
small TOML writer of ``test_hostile_corpus``): values replaced by NaN, inf, negatives, huge
numbers, zero or wrong types; keys deleted or duplicated (appended items with the same id);
references renamed; tables and arrays truncated. The loader either returns ``Priors`` or
raises ``PriorsError``, never anything else; a file that loads simulates (64 paths) to a
Dataset without a NaN in any variable.
"""

from __future__ import annotations

import copy
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcsd
from mcsd.priors.loader import PriorsError, load_priors


def _hostile_corpus_module() -> Any:
    """tests/priors/test_hostile_corpus.py, by path: test modules are not importable by name
    (``--import-mode=importlib``, no ``__init__.py`` in tests/)."""
    path = Path(__file__).parents[1] / "priors" / "test_hostile_corpus.py"
    spec = importlib.util.spec_from_file_location("_mcsd_tests_hostile_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CORPUS_MODULE = _hostile_corpus_module()
STUDY_TEXT: str = _CORPUS_MODULE.STUDY_TEXT
dumps = _CORPUS_MODULE.dumps

STUDY = tomllib.loads(STUDY_TEXT)
FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MAX_SIMULATIONS = 12  # loaded examples that also run the engine (keeps runtime low)

Location = tuple[Any, ...]


def _locations(node: Any, prefix: Location = ()) -> list[Location]:
    """Every path (keys and indices) into the document."""
    out: list[Location] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += _locations(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out += _locations(v, (*prefix, i))
    return out


LOCATIONS = _locations(STUDY)


def _get(doc: Any, loc: Location) -> Any:
    for k in loc:
        doc = doc[k]
    return doc


NUMERIC = [
    loc
    for loc in LOCATIONS
    if isinstance(_get(STUDY, loc), (int, float)) and not isinstance(_get(STUDY, loc), bool)
]
CONTAINERS = [loc for loc in LOCATIONS if isinstance(_get(STUDY, loc), (dict, list))]
REGION_IDS = [r["id"] for r in STUDY["regions"]]

WEIRD_VALUES = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        -1.0,
        -1,
        0,
        0.0,
        1e300,
        -1e300,
        5e-324,
        1.0,
        2**63,
        "x",
        "",
        "2024-12",
        True,
        False,
        [],
        [1, 2],
        {},
        {"dist": "lognorm", "s": 0.2},
    ]
)


def _set(doc: dict[str, Any], loc: Location, value: Any) -> None:
    parent = _get(doc, loc[:-1])
    parent[loc[-1]] = value


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(STUDY)
    for _ in range(draw(st.integers(1, 3))):
        try:
            _mutate_once(draw, doc)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this location
    return doc


def _mutate_once(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    kind = draw(
        st.sampled_from(["number", "any", "delete", "duplicate", "rename", "truncate", "scale"])
    )
    if kind == "number":
        loc = draw(st.sampled_from(NUMERIC))
        _set(doc, loc, draw(WEIRD_VALUES))
    elif kind == "any":
        loc = draw(st.sampled_from(LOCATIONS))
        _set(doc, loc, draw(WEIRD_VALUES))
    elif kind == "delete":
        loc = draw(st.sampled_from(LOCATIONS))
        del _get(doc, loc[:-1])[loc[-1]]
    elif kind == "duplicate":
        array = draw(st.sampled_from(["regions", "buyers", "providers"]))
        i = draw(st.integers(0, len(doc[array]) - 1))
        doc[array].append(copy.deepcopy(doc[array][i]))
    elif kind == "rename":
        old = draw(st.sampled_from(REGION_IDS))
        new = draw(st.sampled_from([*REGION_IDS, "national", "nowhere", "a.b", ""]))
        where = draw(st.sampled_from(["regions", "project", "increments", "spillover"]))
        if where == "regions":
            for r in doc["regions"]:
                if r["id"] == old:
                    r["id"] = new
        elif where == "project":
            for p in doc["providers"]:
                for j in p["projects"]:
                    if j["region"] == old:
                        j["region"] = new
        elif where == "increments":
            for b in doc["buyers"]:
                inc = b["increments_mw"]
                if old in inc:
                    inc[new] = inc.pop(old)
        elif old in doc.get("spillover", {}):
            doc["spillover"][new] = doc["spillover"].pop(old)
    elif kind == "truncate":
        loc = draw(st.sampled_from(CONTAINERS))
        node = _get(doc, loc)
        keep = draw(st.integers(0, max(len(node) - 1, 0)))
        if isinstance(node, list):
            del node[keep:]
        else:
            for k in list(node)[keep:]:
                del node[k]
    else:  # scale every number under a node (huge or tiny or negative factors)
        loc = draw(st.sampled_from(CONTAINERS))
        factor = draw(st.sampled_from([0.0, -1.0, 1e-300, 1e300, 1e6]))
        _set(doc, loc, _scaled(_get(doc, loc), factor))


def _scaled(node: Any, factor: float) -> Any:
    if isinstance(node, bool) or isinstance(node, str):
        return node
    if isinstance(node, (int, float)):
        return node * factor
    if isinstance(node, dict):
        return {k: _scaled(v, factor) for k, v in node.items()}
    if isinstance(node, list):
        return [_scaled(v, factor) for v in node]
    return node


def _assert_no_nan(ds) -> None:
    for name, var in ds.data_vars.items():
        values = np.asarray(var.values)
        if values.dtype.kind == "f":
            assert not np.isnan(values).any(), name


class _Budget:
    simulated = 0
    loaded = 0
    rejected = 0


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(doc=mutations())
def test_mutated_study_priors_load_or_raise_priors_error(doc: dict[str, Any], fuzz_dir: Path):
    path = fuzz_dir / "mutant.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    try:
        priors = load_priors(path)
    except PriorsError as exc:
        _Budget.rejected += 1
        assert "\n" not in str(exc)
        assert str(exc).startswith("mutant.toml: ")
        return
    _Budget.loaded += 1
    if _Budget.simulated < MAX_SIMULATIONS:  # the first loaded examples also run the engine
        _Budget.simulated += 1
        ds = mcsd.simulate(priors, n_paths=64, seed=7, progress=False)
        _assert_no_nan(ds)


@FUZZ
@given(
    data=st.binary(max_size=200)
    | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))
)
def test_arbitrary_bytes_never_crash_the_loader(data: bytes, fuzz_dir: Path) -> None:
    path = fuzz_dir / "bytes.toml"
    path.write_bytes(data)
    with pytest.raises(PriorsError):
        load_priors(path)


def test_fuzz_exercised_both_outcomes() -> None:
    """The mutation fuzzer produced both valid and invalid files, and simulated some
    (runs after the fuzz test in file order; skipped when run alone)."""
    if _Budget.loaded + _Budget.rejected == 0:
        pytest.skip("the fuzz test did not run in this session")
    assert _Budget.rejected > 0
    assert _Budget.loaded > 0 and _Budget.simulated > 0


# ----------------------------------------------------------------------------- issue 15 classes
# ids (any text), months (any year and form), integers beyond int64 anywhere, and the
# NUMBA_NUM_THREADS variable: each either loads (and then obeys the rule) or is refused
# with one printable line naming the field; never another exception.

ID_LOCATIONS = [loc for loc in LOCATIONS if loc[-1] == "id"]
MONTH_LOCATIONS = [loc for loc in LOCATIONS if str(loc[-1]).endswith("_month")]
HOSTILE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
) | st.sampled_from(
    [
        "national",
        "National",
        "ｎａｔｉｏｎａｌ",
        "n\u0430tional",
        "a\u200bb",
        "\u202eab",
        "x\x1b[0m",
    ]
)


def _fuzz_load(doc: dict[str, Any], fuzz_dir: Path, name: str) -> Any:
    path = fuzz_dir / name
    path.write_text(dumps(doc), encoding="utf-8")
    try:
        return load_priors(path)
    except PriorsError as exc:
        message = str(exc)
        assert "\n" not in message and message.isprintable(), repr(message)
        assert message.startswith(f"{name}: ")
        return exc


@FUZZ
@given(loc=st.sampled_from(ID_LOCATIONS), ident=HOSTILE_TEXT)
def test_fuzzed_ids_load_only_when_clean(loc: Location, ident: str, fuzz_dir: Path) -> None:
    import unicodedata

    from mcsd.priors.loader import is_reserved_region_id

    doc = copy.deepcopy(STUDY)
    _set(doc, loc, ident)
    out = _fuzz_load(doc, fuzz_dir, "ids.toml")
    if isinstance(out, PriorsError):
        return
    ids = [r.id for r in out.regions] + [b.id for b in out.buyers] + [p.id for p in out.providers]
    for i in ids:
        assert unicodedata.normalize("NFKC", i) == i and i.isprintable()
    assert not any(is_reserved_region_id(r.id) for r in out.regions)


@FUZZ
@given(
    loc=st.sampled_from(MONTH_LOCATIONS),
    month=st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(0, 9999), st.integers(1, 12))
    | HOSTILE_TEXT,
)
def test_fuzzed_months_load_only_within_the_range(
    loc: Location, month: str, fuzz_dir: Path
) -> None:
    doc = copy.deepcopy(STUDY)
    _set(doc, loc, month)
    out = _fuzz_load(doc, fuzz_dir, "months.toml")
    if isinstance(out, PriorsError):
        return
    for m in (out.base_month, out.horizon_month):
        assert m.isascii() and 1900 <= int(m[:4]) <= 2200
    assert out.month_ends[-1].year <= 2200  # pandas can represent every month


@FUZZ
@given(
    loc=st.sampled_from(NUMERIC),
    big=st.integers(2**63, 2**2000) | st.integers(-(2**2000), -(2**63) - 1),
)
def test_fuzzed_integers_beyond_int64_are_refused(loc: Location, big: int, fuzz_dir: Path) -> None:
    doc = copy.deepcopy(STUDY)
    _set(doc, loc, big)
    out = _fuzz_load(doc, fuzz_dir, "ints.toml")
    assert isinstance(out, PriorsError) and "64-bit integer" in str(out)
    assert len(str(out)) < 500


@FUZZ
@given(value=st.text(max_size=8) | st.integers(-(10**6), 10**6).map(str))
def test_fuzzed_numba_num_threads(value: str, monkeypatch_session: Any) -> None:
    from mcsd.engine.executor import default_threads

    monkeypatch_session.setenv("NUMBA_NUM_THREADS", value.replace("\x00", ""))
    try:
        n = default_threads()
    except ValueError as exc:
        assert "NUMBA_NUM_THREADS" in str(exc) and "\n" not in str(exc)
        return
    assert 1 <= n <= 4096


@pytest.fixture
def monkeypatch_session() -> Any:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
