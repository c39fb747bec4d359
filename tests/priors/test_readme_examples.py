"""Every ```toml block of priors/README.md (and README.md) is loaded: documented examples
cannot rot.

A block is one of:

* a whole scenario file (it has ``[scenario]``): written to a temporary folder next to a
  copy of the priors file its ``base`` names (a built-in one) and loaded;
* a whole priors file (``[settings]`` with ``base_month``, ``[[regions]]`` and
  ``[[buyers]]``): loaded as it is;
* a fragment (a ``[[buyers]]`` table, a ``[settings]`` line, a ``[[providers.projects]]``
  item, ...): merged into :data:`MINIMAL` at the place its table headers say, then loaded;
  the fragment must change the loaded priors (an example the loader ignores is no example).

A block whose first line is ``# invalid: MESSAGE`` shows a value the loader refuses: it
must raise PriorsError whose message contains MESSAGE. A block none of these fits fails
the test.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

import mcsd
from mcsd.priors.loader import PriorsError, _toml, builtin_priors_dir

ROOT = Path(__file__).resolve().parents[2]
READMES = (ROOT / "priors" / "README.md", ROOT / "README.md")
# the table names a priors file may hold at its top level (mcsd.priors.loader._TOP)
TOP_KEYS = {"meta", "settings", "regions", "buyers", "providers", "spillover", "demand_events"}
INVALID_MARK = "# invalid:"

# The smallest priors the fragments need: the regions, buyer and provider the README's
# examples name (jingjin and yangtze, bytedance, gds), everything else at its default.
MINIMAL = """\
[settings]
base_month = "2024-12"
horizon_month = "2028-12"

[[regions]]
id = "jingjin"
demand_stock_mw = 4758
supply_stock_mw = 5995

[[regions]]
id = "yangtze"
demand_stock_mw = 3000
supply_stock_mw = 3500

[[buyers]]
id = "bytedance"
market_loading = 0.8
persistence = 0.5
demand_multiplier = { dist = "lognorm", s = 0.25 }
third_party_share = { nominal = 0.6, dist = "truncnorm", a = -3.0, b = 3.0, loc = 0.6, scale = 0.1 }

[buyers.increments_mw]
jingjin = { 2025 = 400, 2026 = 350, 2027 = 340, 2028 = 330 }
yangtze = { 2025 = 150, 2026 = 130, 2027 = 120, 2028 = 110 }

[[providers]]
id = "gds"
cancellation_probability = 0.03
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.5, late = { dist = "gamma", a = 2, scale = 2.0 } }
projects = [
  { id = "gds-jj-25a", region = "jingjin", capacity_mw = 120, scheduled_month = "2025-03" },
]
"""


@dataclasses.dataclass(frozen=True)
class Block:
    readme: Path
    line: int  # 1-based line of the opening fence
    text: str

    @property
    def label(self) -> str:
        return f"{self.readme.relative_to(ROOT)}:{self.line}"


_FENCE = re.compile(r"^\s*```\s*(\S*)\s*$")


def toml_blocks(text: str, readme: Path) -> list[Block]:
    """The ```toml fenced blocks of a markdown text, in order; ValueError on an unclosed
    fence (a block the test could silently miss)."""
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if lang is None:
            if match:
                lang, start, body = match.group(1), number, []
        elif match and not match.group(1):
            if lang == "toml":
                blocks.append(Block(readme, start, "\n".join(body) + "\n"))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        raise ValueError(f"{readme.name}:{start}: the ``` fence is never closed")
    return blocks


def _all_blocks() -> list[Block]:
    return [b for readme in READMES for b in toml_blocks(readme.read_text("utf-8"), readme)]


# ----------------------------------------------------------------------------- merging


def _merge_list(base: list[Any], fragment: list[Any]) -> None:
    """Items of an array of tables: one with a base item's id updates that item, any other
    is appended."""
    for item in fragment:
        match = [b for b in base if isinstance(b, dict) and b.get("id") == item.get("id")]
        if match:
            _merge_item(match[0], item)
        else:
            base.append(copy.deepcopy(item))


def _merge_item(base: dict[str, Any], fragment: dict[str, Any]) -> None:
    """Keys of one table: nested arrays of tables (``projects``) merge item by item; any
    other value (a number, an inline table such as a distribution) replaces the base's."""
    for key, value in fragment.items():
        old = base.get(key)
        if (
            isinstance(old, list)
            and isinstance(value, list)
            and all(isinstance(v, dict) for v in value)
        ):
            _merge_list(old, value)
        else:
            base[key] = copy.deepcopy(value)


def merged(fragment: dict[str, Any], minimal: dict[str, Any]) -> dict[str, Any]:
    """``minimal`` with ``fragment`` placed where its table headers say: ``[settings]``
    keys into settings, ``[[buyers]]`` items onto the buyer of the same id (or appended),
    ``[[providers.projects]]`` (a table ``providers`` in the parsed fragment) into the
    first provider's projects."""
    doc = copy.deepcopy(minimal)
    for key, value in fragment.items():
        old = doc.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge_item(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            _merge_list(old, value)
        elif isinstance(old, list) and isinstance(value, dict):  # [[providers.projects]]
            _merge_item(old[0], value)
        else:
            doc[key] = copy.deepcopy(value)
    return doc


def _dumps(doc: dict[str, Any]) -> str:
    """A priors document as TOML: each top-level table as one inline value (the loader's
    own writer, so what is loaded is what was merged)."""
    return "".join(f"{key} = {_toml(value)}\n" for key, value in doc.items())


# ----------------------------------------------------------------------------- checking


def _kind(doc: dict[str, Any]) -> str:
    """ "scenario", "whole" or "fragment"; pytest.fail on anything else."""
    if "scenario" in doc:
        return "scenario"
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown or not doc:
        pytest.fail(f"cannot classify the block: top-level keys {sorted(doc)} (unknown: {unknown})")
    settings = doc.get("settings")
    if (
        isinstance(settings, dict)
        and "base_month" in settings
        and {"regions", "buyers"} <= set(doc)
    ):
        return "whole"
    return "fragment"


def _comparable(priors: mcsd.Priors) -> mcsd.Priors:
    return dataclasses.replace(priors, name="", sha256="", source_path="", description="")


def load_block(block: Block, folder: Path) -> mcsd.Priors:
    """Load ``block`` as the module docstring says; the block's own checks (a fragment
    changes the priors) are asserted here."""
    try:
        doc = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"{block.label}: not valid TOML: {exc}")
    kind = _kind(doc)
    path = folder / "example.toml"
    if kind == "scenario":
        base = doc["scenario"].get("base")
        assert isinstance(base, str), f"{block.label}: a scenario without a base"
        shipped = builtin_priors_dir() / base
        assert shipped.is_file(), f"{block.label}: base {base!r} is no built-in priors file"
        shutil.copy(shipped, folder / base)
        path.write_text(block.text, "utf-8")
        return mcsd.load_priors(path)
    if kind == "whole":
        path.write_text(block.text, "utf-8")
        return mcsd.load_priors(path)
    minimal_path = folder / "minimal.toml"
    minimal_path.write_text(MINIMAL, "utf-8")
    before = mcsd.load_priors(minimal_path)
    path.write_text(_dumps(merged(doc, tomllib.loads(MINIMAL))), "utf-8")
    after = mcsd.load_priors(path)
    assert _comparable(after) != _comparable(before), (
        f"{block.label}: the fragment changes nothing in the minimal priors"
    )
    return after


def check_block(block: Block, folder: Path) -> None:
    """Load ``block``; a ``# invalid: MESSAGE`` block must be refused with MESSAGE."""
    first = block.text.lstrip("\n").splitlines()[0] if block.text.strip() else ""
    if first.startswith(INVALID_MARK):
        expected = first[len(INVALID_MARK) :].strip()
        assert expected, f"{block.label}: '# invalid:' needs the message the loader gives"
        with pytest.raises(PriorsError) as info:
            load_block(block, folder)
        assert expected in str(info.value), f"{block.label}: refused with {info.value}"
    else:
        load_block(block, folder)


BLOCKS = _all_blocks()


def test_the_readme_has_its_examples():
    # the extractor finds the priors README's blocks (a broken fence regex would pass vacuously)
    assert len([b for b in BLOCKS if b.readme.parent.name == "priors"]) >= 7


@pytest.mark.parametrize("block", BLOCKS, ids=[b.label for b in BLOCKS])
def test_readme_block_loads(block: Block, tmp_path: Path):
    check_block(block, tmp_path)


def test_the_schema_share_example_has_median_nominal(tmp_path: Path):
    # the example the issue names: a share whose median is its nominal, in the README's words
    schema = next(b for b in BLOCKS if "[[regions]]" in b.text and "[meta]" in b.text)
    priors = load_block(schema, tmp_path)
    buyer = priors.buyers[0]
    from scipy import stats

    share = buyer.third_party_share
    median = getattr(stats, share.name)(**share.params).median()
    assert median == pytest.approx(buyer.third_party_share_nominal, rel=1e-6)


# ----------------------------------------------------------------------------- the harness


def _one(text: str) -> Block:
    (block,) = toml_blocks(text, ROOT / "priors" / "README.md")
    return block


def test_extractor_reads_only_toml_fences():
    text = "a\n```toml\nx = 1\n```\n```\nnot = toml\n```\n```python\nprint()\n```\n"
    assert [b.text for b in toml_blocks(text, ROOT / "README.md")] == ["x = 1\n"]
    with pytest.raises(ValueError, match="never closed"):
        toml_blocks("```toml\nx = 1\n", ROOT / "README.md")


def test_invalid_marker_needs_the_message(tmp_path: Path):
    refused = (
        "```toml\n# invalid: persistence must be in [0, 1)\n"
        '[[buyers]]\nid = "bytedance"\npersistence = 1.0\n```\n'
    )
    check_block(_one(refused), tmp_path)  # refused with that message: passes
    wrong = refused.replace("must be in [0, 1)", "must be spelt correctly")
    with pytest.raises(AssertionError, match="refused with"):
        check_block(_one(wrong), tmp_path)
    accepted = refused.replace("persistence = 1.0", "persistence = 0.9")
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        check_block(_one(accepted), tmp_path)


def test_an_invalid_unmarked_block_fails(tmp_path: Path):
    bad = _one('```toml\n[[buyers]]\nid = "bytedance"\npersistence = 1.0\n```\n')
    with pytest.raises(PriorsError, match="persistence"):
        check_block(bad, tmp_path)


@pytest.mark.parametrize(
    "body",
    ["[tables]\nx = 1\n", "not toml at all\n", "", "[scenario]\nbase = 'nowhere.toml'\n"],
)
def test_an_unclassifiable_block_fails(body: str, tmp_path: Path):
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        check_block(_one(f"```toml\n{body}```\n"), tmp_path)


def test_a_fragment_that_changes_nothing_fails(tmp_path: Path):
    same = _one("```toml\n[settings]\nthreshold = 0.80\n```\n")
    with pytest.raises(AssertionError, match="changes nothing"):
        check_block(same, tmp_path)


def test_fragments_go_where_their_headers_say():
    minimal = tomllib.loads(MINIMAL)
    project = tomllib.loads('[[providers.projects]]\nid = "p2"\nregion = "yangtze"\n')
    doc = merged(project, minimal)
    assert [p["id"] for p in doc["providers"][0]["projects"]] == ["gds-jj-25a", "p2"]
    buyer = tomllib.loads('[[buyers]]\nid = "bytedance"\npersistence = 0.2\n')
    doc = merged(buyer, minimal)
    assert len(doc["buyers"]) == 1 and doc["buyers"][0]["persistence"] == 0.2
    assert doc["buyers"][0]["market_loading"] == 0.8  # the rest of the item is kept
    late = tomllib.loads(
        '[[providers]]\nid = "gds"\n'
        'delivery_delay_months = { p_on_time = 0.4, late = { dist = "expon" } }\n'
    )
    doc = merged(late, minimal)  # an inline table replaces the base's, it is not mixed in
    assert doc["providers"][0]["delivery_delay_months"]["late"] == {"dist": "expon"}
