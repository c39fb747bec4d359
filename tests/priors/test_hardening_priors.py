"""Issue 15 (hardening), the priors side: cases 5 and 15 and the classes big integers,
out-of-range dates and hostile ids. Every file is written under ``tmp_path``.

- Case 5: months outside 1900-01 .. 2200-12 are refused at load (pandas' datetime64[ns]
  ends in 2262); the years at both ends of the range simulate, write and read back.
- Case 15: a scenario ``base`` must be a regular ``*.toml`` file (symlinks resolved); no
  message carries the contents of a base (a syntax error in a base reports line and column
  only).
- Integers beyond int64 anywhere (every numeric field, increments' year keys, scenario
  factors and set values) are refused with the field and a shortened value.
- Ids: control, format (zero-width, bidi) and other invisible characters, forms NFKC
  changes, look-alikes of the reserved ``national`` and case-insensitive duplicates are
  refused; the message shows the id escaped, never a raw control character.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mcsd
from mcsd.cli import main
from mcsd.priors import loader
from mcsd.priors.loader import PriorsError, is_reserved_region_id, load_priors

TINY = (Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml").read_text("utf-8")


def _write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _raises(path: Path) -> PriorsError:
    with pytest.raises(PriorsError) as info:
        load_priors(path)
    message = str(info.value)
    assert "\n" not in message and message.isprintable(), repr(message)
    return info.value


# ----------------------------------------------------------------------------- case 5: dates


def _months(base: str, horizon: str, scheduled: str) -> str:
    text = TINY.replace('base_month = "2024-12"', f'base_month = "{base}"')
    text = text.replace('horizon_month = "2026-12"', f'horizon_month = "{horizon}"')
    text = text.replace('scheduled_month = "2025-06"', f'scheduled_month = "{scheduled}"')
    years = range(int(base[:4]), int(horizon[:4]) + 1)
    inc = "{ " + ", ".join(f"{y} = 10" for y in years) + " }"
    text = text.replace("north = { 2025 = 40, 2026 = 30 }", f"north = {inc}")
    return text.replace("south = { 2026 = 10 }", "")


@pytest.mark.parametrize(
    ("base", "horizon"), [("1900-01", "1901-06"), ("2199-06", "2200-12")], ids=["first", "last"]
)
def test_the_ends_of_the_month_range_round_trip(tmp_path: Path, base: str, horizon: str) -> None:
    scheduled = f"{int(base[:4]) + 1}-01"
    priors = load_priors(_write(tmp_path, _months(base, horizon, scheduled)))
    ds = mcsd.simulate(priors, n_paths=16, seed=1, threads=1, progress=False)
    out = tmp_path / "r.nc"
    mcsd.write_netcdf(ds, out)
    back = mcsd.read_result(out)
    np.testing.assert_array_equal(back.time.values, ds.time.values)
    assert str(back.time.values[-1])[:7] == horizon


@pytest.mark.parametrize(
    ("base", "horizon", "scheduled", "field", "value"),
    [
        ("2024-12", "2263-01", "2025-06", "settings.horizon_month", "2263-01"),
        ("2024-12", "2201-01", "2025-06", "settings.horizon_month", "2201-01"),
        ("1899-12", "1901-12", "1900-06", "settings.base_month", "1899-12"),
        ("0000-01", "0001-01", "0000-06", "settings.base_month", "0000-01"),
        ("2024-12", "2026-12", "9999-12", "projects[0] (b-n-1).scheduled_month", "9999-12"),
    ],
)
def test_months_outside_the_range_are_refused(
    tmp_path: Path, base: str, horizon: str, scheduled: str, field: str, value: str
) -> None:
    text = TINY.replace('base_month = "2024-12"', f'base_month = "{base}"')
    text = text.replace('horizon_month = "2026-12"', f'horizon_month = "{horizon}"')
    text = text.replace('scheduled_month = "2025-06"', f'scheduled_month = "{scheduled}"')
    exc = _raises(_write(tmp_path, text))
    assert exc.field.endswith(field)
    assert "1900-01 to 2200-12" in str(exc) and str(exc).endswith(f'got "{value}"')


@pytest.mark.parametrize("month", ["２０２６-12", "٢٠٢٦-12", "2026-１2", "2026-12\n"])
def test_months_take_ascii_digits_only(tmp_path: Path, month: str) -> None:
    text = TINY.replace('horizon_month = "2026-12"', f"horizon_month = {loader._toml(month)}")
    exc = _raises(_write(tmp_path, text))
    assert exc.field == "settings.horizon_month"


# ----------------------------------------------------------------------------- big integers


def _numeric_locations(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, (dict, list)):
            out += _numeric_locations(v, (*prefix, k))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((*prefix, k))
    return out


def _hostile_corpus() -> Any:
    import importlib.util

    path = Path(__file__).parent / "test_hostile_corpus.py"
    spec = importlib.util.spec_from_file_location("_mcsd_tests_hostile_corpus_h", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DUMPS = _hostile_corpus().dumps
TINY_DOC = tomllib.loads(TINY)
TINY_NUMERIC = _numeric_locations(TINY_DOC)


HUGE_HEX = int("f" * 1300, 16)  # > 4300 decimal digits: str() refuses it, TOML hex does not


@pytest.mark.parametrize(
    "big", [2**63, -(2**63) - 1, 10**40, HUGE_HEX], ids=["2^63", "-2^63-1", "1e40", "hex1300"]
)
@pytest.mark.parametrize("loc", TINY_NUMERIC, ids=lambda loc: ".".join(map(str, loc)))
def test_every_number_refuses_integers_beyond_int64(
    tmp_path: Path, loc: tuple[Any, ...], big: int
) -> None:
    import copy

    doc = copy.deepcopy(TINY_DOC)
    node: Any = doc
    for k in loc[:-1]:
        node = node[k]
    sentinel = 987654321987654321
    node[loc[-1]] = sentinel
    text = DUMPS(doc).replace(str(sentinel), hex(big) if big == HUGE_HEX else str(big))
    exc = _raises(_write(tmp_path, text))
    assert "must be a 64-bit integer" in str(exc), str(exc)
    assert exc.value == big
    assert len(str(exc)) < 400  # the value is shortened


def test_int64_limits_themselves_are_not_the_problem(tmp_path: Path) -> None:
    """2**63 - 1 is a valid TOML integer: refused by the field's range, not as overflow."""
    text = TINY.replace("supply_stock_mw = 150", f"supply_stock_mw = {2**63 - 1}")
    exc = _raises(_write(tmp_path, text))
    assert "10 TW" in str(exc)


def test_integer_literal_beyond_4300_digits(tmp_path: Path) -> None:
    text = TINY.replace("supply_stock_mw = 150", "supply_stock_mw = " + "7" * 4400)
    exc = _raises(_write(tmp_path, text))
    assert exc.field == "" and "4300 digits" in str(exc)
    assert "7777" not in str(exc)


@pytest.mark.parametrize("year", ["02026", "2026" + "0" * 5000, "+2026", "2_026", "٢٠٢٦"])
def test_increment_years_must_be_canonical(tmp_path: Path, year: str) -> None:
    text = TINY.replace("south = { 2026 = 10 }", f"south = {{ {loader._toml(year)} = 10 }}")
    exc = _raises(_write(tmp_path, text))
    assert exc.field.startswith("buyers[0] (acme).increments_mw.south.")
    assert len(str(exc)) < 400


def test_scenario_scaling_a_huge_integer_is_refused_not_a_traceback(tmp_path: Path) -> None:
    base = TINY.replace("supply_stock_mw = 150", f"supply_stock_mw = {10**400}")
    _write(tmp_path, base, "base.toml")
    scenario = _write(
        tmp_path,
        '[scenario]\nbase = "base.toml"\n[[scenario.scale]]\n'
        'field = "regions.north.supply_stock_mw"\nfactor = 0.5\n',
        "s.toml",
    )
    exc = _raises(scenario)
    assert exc.field == "regions[0] (north).supply_stock_mw" and exc.file == "s.toml"


# ----------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "ident",
    [
        "no\u200brth",  # zero-width space (Cf)
        "north\u200d",  # zero-width joiner
        "\ufeffnorth",  # byte-order mark
        "nor\u00adth",  # soft hyphen
        "\u202enorth",  # right-to-left override
        "\u2066north\u2069",  # bidi isolates
        "north\x1b[31m",  # an ANSI escape
        "nor\x7fth",  # DEL
        "nor\x85th",  # C1 next line
        "nor\u2028th",  # line separator
        "nor\u3000th",  # ideographic space
        "nor\u00a0th",  # no-break space
        "nor\u3164th",  # Hangul filler (a letter that renders as nothing)
        "nor\u034fth",  # combining grapheme joiner
        "north\ufe0f",  # variation selector
        "nor\ue000th",  # private use
        "nor\U000e0041th",  # tag character
        "\u2800",  # braille blank
        "ｎｏｒｔｈ",  # full-width (NFKC changes it)
        "ﬁber",  # ligature
        "cafe\u0301",  # a combining accent NFKC composes
        "x" * 201,  # too long for a one-line message
    ],
)
def test_hostile_ids_are_refused_and_shown_escaped(tmp_path: Path, ident: str) -> None:
    text = TINY.replace('id = "acme"', f"id = {loader._toml(ident)}")
    exc = _raises(_write(tmp_path, text))
    assert exc.field.startswith("buyers[0]") and exc.field.endswith(".id")
    assert exc.value == ident


@pytest.mark.parametrize(
    "ident",
    ["National", "NATIONAL", "ｎａｔｉｏｎａｌ", "n\u0430tional", "nati\u03bfnal", "nat\u0131onal"],
)
def test_look_alikes_of_national_are_reserved(tmp_path: Path, ident: str) -> None:
    assert is_reserved_region_id(ident)
    text = TINY.replace('id = "south"', f"id = {loader._toml(ident)}")
    exc = _raises(_write(tmp_path, text))
    assert exc.field.startswith("regions[1]") and exc.field.endswith(".id")


@pytest.mark.parametrize("ident", ["nationals", "international", "nation", "north"])
def test_ids_near_national_are_fine(ident: str) -> None:
    assert not is_reserved_region_id(ident)


def test_ids_are_unique_ignoring_case(tmp_path: Path) -> None:
    text = TINY.replace('id = "south"', 'id = "NORTH"')
    exc = _raises(_write(tmp_path, text))
    assert exc.field == "regions[1] (NORTH).id" and "ignoring case" in str(exc)


def test_non_ascii_ids_that_survive_nfkc_load(tmp_path: Path) -> None:
    text = TINY.replace('"acme"', '"字节跳动"').replace('"builder"', '"Öko-Bau"')
    priors = load_priors(_write(tmp_path, text))
    assert priors.buyers[0].id == "字节跳动" and priors.providers[0].id == "Öko-Bau"


def test_keys_and_file_names_are_escaped_in_messages(tmp_path: Path) -> None:
    text = TINY.replace("threshold = 0.8", 'threshold = 0.8\n"\\u001b[2Jx" = 1')
    exc = _raises(_write(tmp_path, text, "evil\x1b]0;t\x07.toml"))
    assert "\x1b" not in str(exc) and "\\u001b" in str(exc)


# ----------------------------------------------------------------------------- case 15: bases


SECRET = "MCSD_TEST_SECRET=do-not-echo"


def _scenario(tmp_path: Path, base: str) -> Path:
    return _write(tmp_path, f"[scenario]\nbase = {loader._toml(base)}\n", "scen.toml")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_base_proc_self_environ_is_refused_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCSD_TEST_SECRET", "do-not-echo")  # read by the child below
    exc = _raises(_scenario(tmp_path, "/proc/self/environ"))
    assert exc.field == "scenario.base" and exc.value == "/proc/self/environ"
    assert main(["check", str(tmp_path / "scen.toml")]) == 2
    assert "do-not-echo" not in capsys.readouterr().err


def test_base_symlink_to_a_non_toml_file_is_refused(tmp_path: Path) -> None:
    secret = _write(tmp_path, f'{SECRET.split("=")[0]} = "{SECRET}"\n', "secret.txt")
    (tmp_path / "looks.toml").symlink_to(secret)
    exc = _raises(_scenario(tmp_path, "looks.toml"))
    assert exc.field == "scenario.base" and "do-not-echo" not in str(exc)


def test_base_symlink_to_a_toml_file_is_fine(tmp_path: Path) -> None:
    _write(tmp_path, TINY, "real.toml")
    (tmp_path / "link.toml").symlink_to(tmp_path / "real.toml")
    assert load_priors(_scenario(tmp_path, "link.toml")).regions[0].id == "north"


@pytest.mark.parametrize("kind", ["fifo", "folder", "txt"])
def test_base_that_is_no_regular_toml_file(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(tmp_path / "b.toml")  # reading it would block forever
        base = "b.toml"
    elif kind == "folder":
        (tmp_path / "b.toml").mkdir()
        base = "b.toml"
    else:
        _write(tmp_path, TINY, "b.txt")
        base = "b.txt"
    exc = _raises(_scenario(tmp_path, base))
    assert exc.field == "scenario.base" and exc.value == base


def test_syntax_error_in_a_base_shows_line_and_column_only(tmp_path: Path) -> None:
    _write(tmp_path, f"# comment\n{SECRET}\n", "b.toml")
    exc = _raises(_scenario(tmp_path, "b.toml"))
    assert exc.file == "b.toml" and exc.field == "line 2" and exc.value is None
    assert "do-not-echo" not in str(exc) and "column" in str(exc)


def test_syntax_error_in_the_named_file_still_shows_its_line(tmp_path: Path) -> None:
    """The file the user named is theirs: its offending line is shown (escaped)."""
    exc = _raises(_write(tmp_path, "[settings]\nbase_month \x1b 1\n"))
    assert exc.field == "line 2" and exc.value == "base_month \x1b 1"
    assert "\\u001b" in str(exc)


def test_files_beyond_the_size_limit_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 1000)
    exc = _raises(_write(tmp_path, TINY + "#" * 1000))
    assert exc.field == "" and "larger than" in str(exc)
