"""Load and validate priors files (TOML) into the immutable objects of ``mcsd.priors.model``.

``load_priors(path)`` reads a priors file (or a scenario file and its chain of bases),
checks every field against the schema in ``priors/README.md`` and returns a frozen
:class:`~mcsd.priors.model.Priors`. Any problem raises :class:`PriorsError`, one line that
names the file, the field path and the value::

    cic2025.toml: providers[3] (gds).projects[2] (gds-jj-25a).capacity_mw must be > 0, got -5

The checks are table-driven: each TOML table has a ``_Spec`` (key -> checker), checkers are
small functions ``(ctx, path, value) -> converted value`` that raise through ``ctx.fail``.
Cross-field rules (horizon after base, references between regions, buyers and projects) run
after the tables they need. The first problem found is reported.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
import re
import stat
import tomllib
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from mcsd.priors import distributions
from mcsd.priors.model import (
    Buyer,
    DelayDistribution,
    DemandEvent,
    Distribution,
    Priors,
    Project,
    Provider,
    Region,
    month_number,
)

__all__ = [
    "PriorsError",
    "load_priors",
    "builtin_priors_dir",
    "builtin_priors_names",
    "SUPPORTED_DISTRIBUTIONS",
]

STUDY_PRIORS = "cic2025.toml"

#: scipy.stats distributions mcsd supports, in the order errors list them (an alias of the
#: registry's names: shapes, rules, supports and quantiles are in ``distributions.FAMILIES``).
SUPPORTED_DISTRIBUTIONS: tuple[str, ...] = tuple(distributions.FAMILIES)

_MISSING: Any = object()


# ----------------------------------------------------------------------------- errors


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _escape(text: str) -> str:
    """``text`` with every character that is not printable (controls, format characters
    such as zero-width spaces and bidi overrides, line separators, unassigned or private
    code points) written as a TOML escape: no message ever carries a raw control character."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in text
    )


def _show_int(value: int) -> str:
    """An integer as TOML; one beyond 30 digits shortened to its leading digits and length
    (``str`` of a huge int is slow and refused beyond 4300 digits)."""
    if abs(value) < 10**30:
        return str(value)
    sign = "-" if value < 0 else ""
    if value.bit_length() >= 14_000:  # >= 4214 decimal digits: str() may be refused
        return f"{sign}... (an integer of about {int(math.log10(abs(value))) + 1} digits)"
    digits = str(abs(value))
    return f"{sign}{digits[:12]}... ({len(digits)} digits)"


def _toml(value: Any) -> str:
    """A value written as TOML (strings quoted, booleans lowercase, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _show_int(value)
    if isinstance(value, str):
        # a TOML basic string; json escapes C0 controls, _escape the rest (DEL, C1, Cf, ...)
        return _escape(json.dumps(value, ensure_ascii=False))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, dict):
        items = (f"{k if _BARE_KEY.match(k) else _toml(k)} = {_toml(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)  # int, datetime.date, ...


def _show(value: Any, limit: int = 100) -> str:
    """``_toml(value)``, truncated for one-line messages."""
    text = _toml(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PriorsError(ValueError):
    """A priors file is invalid: one line naming the file, the field path and the value.

    Attributes
    ----------
    file : str
        The file's name (for a scenario: the scenario file).
    field : str
        The field path, e.g. ``providers[3] (gds).projects[2] (gds-jj-25a).capacity_mw``;
        ``""`` when the problem concerns the whole file.
    value : object
        The offending value (``None`` when there is none, e.g. a missing key).
    """

    def __init__(self, file: str, field: str, problem: str, value: Any = _MISSING) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.value = None if value is _MISSING else value
        where = f"{field} {problem}" if field else problem
        got = "" if value is _MISSING else f", got {_show(value)}"
        # file names and keys come from the user: escape what a terminal would interpret
        super().__init__(_escape(f"{file}: {where}{got}"))


# ----------------------------------------------------------------------------- paths


def _key_path(path: str, key: str) -> str:
    if len(key) > 60:  # a key is user data: keep one-line messages short
        key = key[:57] + "..."
    return f"{path}.{key}" if path else key


def _item_path(path: str, index: int, item: Any) -> str:
    ident = item.get("id") if isinstance(item, dict) else None
    if isinstance(ident, str) and ident.isprintable():
        return f"{path}[{index}] ({ident})"
    return f"{path}[{index}]"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


# ----------------------------------------------------------------------------- context


@dataclass
class _Ctx:
    """Validation state: the file name for messages, and what later checks refer to."""

    file: str
    base: int = 0  # base month as year * 12 + month - 1
    horizon: int = 0
    base_month: str = ""
    region_ids: tuple[str, ...] = ()
    buyer_ids: tuple[str, ...] = ()
    seen_ids: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def fail(self, path: str, problem: str, value: Any = _MISSING) -> NoReturn:
        raise PriorsError(self.file, path, problem, value)

    def unique_id(self, kind: str, path: str, ident: str) -> None:
        """Record ``ident`` in namespace ``kind``; fail on a duplicate."""
        seen = self.seen_ids.setdefault(kind, {})
        folded = _id_fold(ident)
        if folded in seen:
            other, first = seen[folded]
            same = "" if first == ident else f" ({_toml(first)}: ids are compared ignoring case)"
            self.fail(path, f"duplicates the id of {other}{same}", ident)
        seen[folded] = (path.rsplit(".id", 1)[0], ident)

    def region(self, path: str, value: Any) -> str:
        """Check a reference to a region id."""
        if not isinstance(value, str) or value not in self.region_ids:
            self.fail(path, f"must be a region id ({', '.join(self.region_ids)})", value)
        return value

    def buyer(self, path: str, value: Any) -> str:
        """Check a reference to a buyer id."""
        if not isinstance(value, str) or value not in self.buyer_ids:
            self.fail(path, f"must be a buyer id ({', '.join(self.buyer_ids)})", value)
        return value


Checker = Callable[[_Ctx, str, Any], Any]


@dataclass(frozen=True)
class _Key:
    check: Checker
    required: bool = True
    default: Any = None


_Spec = Mapping[str, _Key]


def _table(ctx: _Ctx, path: str, raw: Any, spec: _Spec, what: str = "a table") -> dict[str, Any]:
    """Check a table against ``spec``: type, unknown keys, required keys; convert values."""
    if not isinstance(raw, dict):
        ctx.fail(path, f"must be {what}", raw)
    for key, value in raw.items():
        if key not in spec:
            close = difflib.get_close_matches(key, list(spec), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            ctx.fail(
                _key_path(path, key),
                f"is not a known key ({hint}valid keys: {', '.join(spec)})",
                value,
            )
    out: dict[str, Any] = {}
    for key, k in spec.items():
        if key in raw:
            out[key] = k.check(ctx, _key_path(path, key), raw[key])
        elif k.required:
            where = path or "a priors file"
            required = ", ".join(_required(spec))
            ctx.fail(_key_path(path, key), f"is missing: {where} requires {required}")
        else:
            out[key] = k.default
    return out


def _required(spec: _Spec) -> list[str]:
    return [key for key, k in spec.items() if k.required]


def _at_least_one(ctx: _Ctx, path: str, raw: Any, what: str) -> list[tuple[str, Any]]:
    """``_array_of_tables``, refusing an empty one."""
    items = _array_of_tables(ctx, path, raw)
    if not items:
        ctx.fail(path, f"must list at least one {what}", raw)
    return items


def _array_of_tables(ctx: _Ctx, path: str, raw: Any) -> list[tuple[str, Any]]:
    """Items of an array of tables with their display paths."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        ctx.fail(path, "must be an array of tables ([[...]] or [{...}, ...])", raw)
    return [(_item_path(path, i, item), item) for i, item in enumerate(raw)]


# ----------------------------------------------------------------------------- checkers


# MW quantities above this (10 TW, far beyond any market) are typos or overflow, not data.
MAX_MW = 1e7
# TOML integers are 64-bit (tomllib returns Python ints of any size): anything beyond is
# refused wherever it appears, before a checker converts it to a float or an int64.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64_PROBLEM = "must be a 64-bit integer (TOML integers are within +-9223372036854775807)"
# Months result files can hold: pandas' datetime64[ns] ends in 2262 (and starts in 1677);
# mcsd refuses any month outside these years, so every result reads back.
MIN_YEAR, MAX_YEAR = 1900, 2200
MIN_SHARE_NOMINAL = 1e-4


def _number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Checker:
    """A finite number (int or float, never a boolean) within optional bounds."""
    if lo is not None and hi is not None:
        rule = f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        rule = f"must be {'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        rule = f"must be {'<' if hi_open else '<='} {hi:g}"
    else:
        rule = ""

    def check(ctx: _Ctx, path: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.fail(path, f"must be a number, not {_type_name(value)}", value)
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            ctx.fail(path, INT64_PROBLEM, value)
        if not math.isfinite(value):
            ctx.fail(path, "must be finite (NaN and infinity are not allowed)", value)
        too_low = lo is not None and (value <= lo if lo_open else value < lo)
        too_high = hi is not None and (value >= hi if hi_open else value > hi)
        if too_low or too_high:
            ctx.fail(path, rule, value)
        return float(value)

    return check


def _mw(lo_open: bool = False) -> Checker:
    """A capacity or stock in MW: >= 0 (or > 0) and at most MAX_MW."""
    base = _number(0, lo_open=lo_open)

    def check(ctx: _Ctx, path: str, value: Any) -> float:
        number = base(ctx, path, value)
        if number > MAX_MW:
            ctx.fail(path, f"must be <= {MAX_MW:g} MW (10 TW)", value)
        return number

    return check


def _integer(lo: int) -> Checker:
    def check(ctx: _Ctx, path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.fail(path, f"must be an integer, not {_type_name(value)}", value)
        if not INT64_MIN <= value <= INT64_MAX:
            ctx.fail(path, INT64_PROBLEM, value)
        if value < lo:
            ctx.fail(path, f"must be an integer >= {lo}", value)
        return int(value)

    return check


def _string(ctx: _Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str):
        ctx.fail(path, f"must be a string, not {_type_name(value)}", value)
    return value


_ID_RE = re.compile(r"^[^\s.*]+$")
MAX_ID_LENGTH = 200
RESERVED_REGION_ID = "national"

# Default-ignorable code points that Unicode files under letters or marks (so the category
# test below does not catch them) but that render as nothing: fillers, variation selectors,
# the combining grapheme joiner, Mongolian free variation selectors, the braille blank.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800]
    + [0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
# Letters of other scripts (and Latin variants) that look like the Latin letters of the
# reserved id: an id that reads "national" with any of them is refused as well.
_LOOKALIKES = str.maketrans(
    {
        "\u0430": "a", "\u03b1": "a", "\u0251": "a",  # Cyrillic a, Greek alpha, Latin alpha
        "\u043e": "o", "\u03bf": "o", "\u0585": "o",  # Cyrillic o, Greek omicron, Armenian oh
        "\u0456": "i", "\u03b9": "i", "\u0131": "i", "\u0269": "i",  # i, iota, dotless i, iota
        "\u0442": "t", "\u03c4": "t",  # Cyrillic te, Greek tau
        "\u043f": "n", "\u0578": "n", "\u03b7": "n",  # Cyrillic pe, Armenian vo, Greek eta
        "\u04cf": "l", "\u0406": "l", "\u0399": "l", "\u01c0": "l", "|": "l", "1": "l",
    }
)  # fmt: skip


def _id_fold(ident: str) -> str:
    """The form ids are compared in: NFKC, case-folded (``"Acme"`` and ``"acme"`` are the
    same id)."""
    return unicodedata.normalize("NFKC", ident).casefold()


def is_reserved_region_id(ident: str) -> bool:
    """True for ``national`` in any case, compatibility form or look-alike letters."""
    return _id_fold(ident).translate(_LOOKALIKES) == RESERVED_REGION_ID


def _ident(ctx: _Ctx, path: str, value: Any) -> str:
    _string(ctx, path, value)
    if not _ID_RE.fullmatch(value):
        ctx.fail(path, "must be a non-empty id without spaces, '.' or '*'", value)
    if len(value) > MAX_ID_LENGTH:
        ctx.fail(path, f"must be at most {MAX_ID_LENGTH} characters long", value)
    for c in value:
        if unicodedata.category(c)[0] in "CZ" or ord(c) in _INVISIBLE:
            name = unicodedata.name(c, "a control character")
            ctx.fail(
                path,
                f"must not contain control or invisible characters (U+{ord(c):04X}, {name})",
                value,
            )
    normal = unicodedata.normalize("NFKC", value)
    if normal != value:
        ctx.fail(
            path,
            f"must be in Unicode normal form NFKC (write {_toml(normal)}: compatibility "
            "characters such as full-width letters or ligatures are look-alikes)",
            value,
        )
    return value


TURNING_POINT_RULES = ("first_month", "year_end")


def _choice(choices: tuple[str, ...]) -> Checker:
    """One of the strings ``choices``."""

    def check(ctx: _Ctx, path: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            ctx.fail(path, f"must be one of {', '.join(_toml(c) for c in choices)}", value)
        return value

    return check


_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # fullmatch; ASCII digits (not \d)


def _month(ctx: _Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not _MONTH_RE.fullmatch(value):
        ctx.fail(path, 'must be a "YYYY-MM" string (quoted), e.g. "2024-12"', value)
    if not MIN_YEAR <= int(value[:4]) <= MAX_YEAR:
        ctx.fail(
            path,
            f"must be a month from {MIN_YEAR}-01 to {MAX_YEAR}-12 (the dates result files "
            "can hold)",
            value,
        )
    return value


# ---- distributions


def _distribution(role: str) -> Checker:
    """A ``{dist = "...", <scipy params>}`` table checked for ``role``.

    Roles: ``"factor"`` (support >= 0, median 1: demand multipliers, delay factors),
    ``"late"`` (support >= 0: late delivery deviation), ``"share"`` (a ``nominal`` key, an
    optional ``market_loading`` in [-1, 1] and the distribution; support in [0, 1], median =
    nominal; returns ``(nominal, dist, market_loading)``).
    """

    def check(ctx: _Ctx, path: str, raw: Any) -> Any:
        if not isinstance(raw, dict):
            ctx.fail(path, 'must be a table like { dist = "lognorm", s = 0.2 }', raw)
        params = dict(raw)
        nominal = None
        loading = 0.0
        if role == "share":
            if "nominal" not in params:
                ctx.fail(_key_path(path, "nominal"), "is missing (the share the increments assume)")
            # Increments scale by share / nominal: a vanishing nominal would overflow them.
            nominal = _number(MIN_SHARE_NOMINAL, 1)(
                ctx, _key_path(path, "nominal"), params.pop("nominal")
            )
            if "market_loading" in params:  # the share's loading on the cycle, not scipy's
                loading = _number(-1, 1)(
                    ctx, _key_path(path, "market_loading"), params.pop("market_loading")
                )
        dist = _scipy_distribution(ctx, path, params)
        # scipy.stats' values, computed without importing it (see mcsd.priors.distributions)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lo, hi = distributions.support(dist)
            median = distributions.median(dist)
        if math.isnan(lo) or math.isnan(hi) or not math.isfinite(median):
            ctx.fail(path, f"has parameters scipy.stats rejects: {dist}", raw)
        if role in ("factor", "late") and lo < 0:
            need = "(0, inf)" if role == "factor" else "[0, inf)"
            ctx.fail(
                path, f"support must be within {need}; {dist} has support [{lo:g}, {hi:g}]", raw
            )
        if role == "factor" and abs(median - 1.0) > 1e-9:
            ctx.fail(
                path, f"must have median 1 (nominal = median); {dist} has median {median:.10g}", raw
            )
        if role == "share":
            assert nominal is not None
            if lo < 0 or hi > 1:
                ctx.fail(
                    path, f"support must be within [0, 1]; {dist} has support [{lo:g}, {hi:g}]", raw
                )
            if abs(median - nominal) > 1e-6:
                ctx.fail(
                    path,
                    f"must have median = nominal ({nominal:g}); {dist} has median {median:.8g}",
                    raw,
                )
            return nominal, dist, loading
        return dist

    return check


def _scipy_distribution(ctx: _Ctx, path: str, params: dict[str, Any]) -> Distribution:
    """Check the name and parameters of a scipy.stats distribution table."""
    if "dist" not in params:
        ctx.fail(
            _key_path(path, "dist"),
            f"is missing: name a scipy.stats distribution ({', '.join(SUPPORTED_DISTRIBUTIONS)})",
        )
    name = params.pop("dist")
    name_path = _key_path(path, "dist")
    if not isinstance(name, str) or name not in distributions.FAMILIES:
        problem = _unsupported_name_problem(name)
        ctx.fail(name_path, f"{problem} (supported: {', '.join(SUPPORTED_DISTRIBUTIONS)})", name)
    family = distributions.FAMILIES[name]
    shapes = family.shapes
    valid = family.parameters
    values: dict[str, float] = {}
    for key, value in params.items():
        p = _key_path(path, key)
        if key not in valid:
            ctx.fail(
                p,
                f"is not a parameter of scipy.stats.{name} (parameters: {', '.join(valid)})",
                value,
            )
        values[key] = _number()(ctx, p, value)
    for shape in shapes:
        if shape not in values:
            ctx.fail(
                _key_path(path, shape),
                f"is missing: scipy.stats.{name} requires {', '.join(shapes)}",
            )
        rule = family.shape_rules.get(shape)
        if rule is not None and not rule.test(values[shape]):
            ctx.fail(_key_path(path, shape), f"{rule.text} for {name}", params[shape])
    if "scale" in values and values["scale"] <= 0:
        ctx.fail(_key_path(path, "scale"), "must be > 0", params["scale"])
    joint = family.joint_rule
    if joint is not None and not joint.test(*(values[s] for s in shapes)):
        problem = f"{joint.message(values)} for {name}"
        ctx.fail(_key_path(path, joint.field), problem, params[joint.field])
    dist = Distribution(name, values)
    # The kernels draw uniforms in [2**-53, 1 - 2**-53]: every draw must be a finite number.
    with np.errstate(all="ignore"):
        extremes = distributions.ppf(dist, [2.0**-53, 0.5, 1.0 - 2.0**-53])
    if not np.all(np.isfinite(extremes)) or np.max(np.abs(extremes)) > 1e12:
        ctx.fail(
            path,
            f"gives draws that are not finite or beyond 1e12 ({dist}: 1e-16 and 1 - 1e-16 "
            f"quantiles {extremes[0]:.3g}, {extremes[2]:.3g})",
            params,
        )
    return dist


def _unsupported_name_problem(name: Any) -> str:
    """Why ``name`` (not a supported distribution) is rejected, for the error message."""
    if not isinstance(name, str):
        return "is not a scipy.stats distribution name"
    # Only on this error path: importing scipy.stats costs ~0.6 s of every start-up.
    from scipy import stats

    if isinstance(getattr(stats, name, None), stats.rv_continuous):
        return "is a scipy.stats distribution mcsd does not support"
    if hasattr(stats, name):
        return "is not a continuous scipy.stats distribution mcsd supports"
    return "is not a scipy.stats distribution name"


# wp**2 + wr**2 may exceed 1 by this much (rounding: wp = wr = 0.7071067811865476 gives 1 + 2e-16)
LOADING_SQUARES_TOLERANCE = 1e-12


def _delay(ctx: _Ctx, path: str, raw: Any) -> DelayDistribution:
    spec = {
        "p_on_time": _Key(_number(0, 1)),
        "late": _Key(_distribution("late")),
        "provider_loading": _Key(_number(-1, 1), required=False, default=0.0),
        "region_loading": _Key(_number(-1, 1), required=False, default=0.0),
    }
    t = _table(ctx, path, raw, spec, "a table like { p_on_time = 0.5, late = {...} }")
    wp, wr = t["provider_loading"], t["region_loading"]
    squares = wp * wp + wr * wr
    if squares > 1 + LOADING_SQUARES_TOLERANCE:
        ctx.fail(
            path,
            "provider_loading^2 + region_loading^2 must be <= 1 (a project's own part of "
            f"lateness has weight sqrt(1 - wp^2 - wr^2)); here they sum to {squares:.6g}",
            {
                "provider_loading": raw.get("provider_loading"),
                "region_loading": raw.get("region_loading"),
            },
        )
    return DelayDistribution(**t)


def _profile(ctx: _Ctx, path: str, raw: Any) -> tuple[float, ...]:
    if not isinstance(raw, list) or len(raw) != 12:
        ctx.fail(path, "must be an array of exactly 12 monthly weights", raw)
    weights = [_number(0)(ctx, f"{path}[{i}]", w) for i, w in enumerate(raw)]
    total = sum(weights)
    if not 0 < total < float("inf"):
        ctx.fail(path, "must have a positive sum (and a finite one)", raw)
    return tuple(w / total for w in weights)


def _increments(ctx: _Ctx, path: str, raw: Any) -> dict[str, dict[int, float]]:
    if not isinstance(raw, dict):
        ctx.fail(path, "must be a table of regions, e.g. jingjin = { 2025 = 400 }", raw)
    first, last = ctx.base // 12, ctx.horizon // 12
    out: dict[str, dict[int, float]] = {}
    for region, years in raw.items():
        rpath = _key_path(path, region)
        if region not in ctx.region_ids:
            ctx.fail(rpath, f"is not a region id ({', '.join(ctx.region_ids)})", years)
        if not isinstance(years, dict):
            ctx.fail(rpath, "must be a table of years, e.g. { 2025 = 400, 2026 = 350 }", years)
        out[region] = {}
        for year, value in years.items():
            ypath = _key_path(rpath, year)
            # ASCII digits, no leading zero ("02025" would silently merge with "2025"), and
            # at most 4 digits before int() (which refuses strings beyond 4300 digits)
            canonical = year.isascii() and year.isdigit() and len(year) <= 4 and year[0] != "0"
            if not canonical or not first <= int(year) <= last:
                ctx.fail(
                    ypath,
                    f"must be an integer year in [{first}, {last}] (base to horizon year)",
                    year,
                )
            out[region][int(year)] = _mw()(ctx, ypath, value)
    return out


# ----------------------------------------------------------------------------- tables

_META: _Spec = {
    "name": _Key(_string, required=False),
    "description": _Key(_string, required=False, default=""),
}

_SETTINGS: _Spec = {
    "base_month": _Key(_month),
    "horizon_month": _Key(_month),
    "threshold": _Key(_number(0, 1), required=False, default=0.80),
    "max_occupancy": _Key(_number(0, 1, lo_open=True), required=False, default=1.0),
    "sustain_months": _Key(_integer(1), required=False, default=1),
    "turning_point": _Key(_choice(TURNING_POINT_RULES), required=False, default="first_month"),
}

_REGION: _Spec = {
    "id": _Key(_ident),
    "name": _Key(_string, required=False),
    "demand_stock_mw": _Key(_mw()),
    "supply_stock_mw": _Key(_mw()),
    "delay_factor": _Key(_distribution("factor"), required=False),
}

_BUYER: _Spec = {
    "id": _Key(_ident),
    "name": _Key(_string, required=False),
    "market_loading": _Key(_number(-1, 1)),
    "persistence": _Key(_number(0, 1, hi_open=True)),
    "demand_multiplier": _Key(_distribution("factor")),
    "third_party_share": _Key(_distribution("share")),
    "monthly_profile": _Key(_profile, required=False),
    "increments_mw": _Key(_increments),
}

_PRE_LEASE: _Spec = {
    "buyer": _Key(lambda ctx, path, v: ctx.buyer(path, v)),
    "mw": _Key(_mw(lo_open=True)),
}

_PROJECT: _Spec = {
    "id": _Key(_ident),
    "region": _Key(lambda ctx, path, v: ctx.region(path, v)),
    "capacity_mw": _Key(_mw(lo_open=True)),
    "scheduled_month": _Key(_month),
    "pre_lease": _Key(
        lambda ctx, path, v: _table(
            ctx, path, v, _PRE_LEASE, 'a table like { buyer = "bytedance", mw = 120 }'
        ),
        required=False,
    ),
}

_PROVIDER: _Spec = {
    "id": _Key(_ident),
    "name": _Key(_string, required=False),
    "cancellation_probability": _Key(_number(0, 1)),
    "delay_factor": _Key(_distribution("factor")),
    "delivery_delay_months": _Key(_delay),
    "projects": _Key(lambda ctx, path, v: v, required=False, default=[]),
}

_TOP: _Spec = {
    "meta": _Key(lambda ctx, path, v: _table(ctx, path, v, _META), required=False, default={}),
    "settings": _Key(lambda ctx, path, v: v),
    "regions": _Key(lambda ctx, path, v: v),
    "buyers": _Key(lambda ctx, path, v: v),
    "providers": _Key(lambda ctx, path, v: v, required=False, default=[]),
    "spillover": _Key(lambda ctx, path, v: v, required=False),
    "demand_events": _Key(lambda ctx, path, v: v, required=False, default=[]),
}

_DEMAND_EVENT: _Spec = {
    "id": _Key(_ident),
    "name": _Key(_string, required=False),
    "buyer": _Key(lambda ctx, path, v: ctx.buyer(path, v)),
    "region": _Key(lambda ctx, path, v: ctx.region(path, v)),
    "month": _Key(_month),
    "mw": _Key(_mw(lo_open=True)),
    "probability": _Key(_number(0, 1, lo_open=True)),
    "market_loading": _Key(_number(-1, 1), required=False, default=0.0),
}

_SCENARIO: _Spec = {
    "base": _Key(_string),
    "name": _Key(_string, required=False),
    "description": _Key(_string, required=False, default=""),
    "set": _Key(lambda ctx, path, v: v, required=False, default=[]),
    "scale": _Key(lambda ctx, path, v: v, required=False, default=[]),
}
_SET: _Spec = {"field": _Key(_string), "value": _Key(lambda ctx, path, v: v)}
_SCALE: _Spec = {"field": _Key(_string), "factor": _Key(_number())}


# ----------------------------------------------------------------------------- validation


def _non_finite(doc: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Paths of NaN or infinite floats, and of integers beyond 64 bits, anywhere in a TOML
    document."""
    if isinstance(doc, float) and not math.isfinite(doc):
        yield path, doc
    elif isinstance(doc, int) and not isinstance(doc, bool) and not INT64_MIN <= doc <= INT64_MAX:
        yield path, doc
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield from _non_finite(value, _key_path(path, key))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _non_finite(item, _item_path(path, i, item))


def _with_id(ctx: _Ctx, kind: str, path: str, item: dict[str, Any], spec: _Spec) -> dict[str, Any]:
    t = _table(ctx, path, item, spec)
    ctx.unique_id(kind, _key_path(path, "id"), t["id"])
    if t.get("name", _MISSING) is None:
        t["name"] = t["id"]
    return t


def _validate(doc: dict[str, Any], file: str) -> dict[str, Any]:
    """Validate a parsed (and merged) priors document; return the ``Priors`` fields."""
    ctx = _Ctx(file)
    if isinstance(doc, dict) and ("measurements" in doc or "facts" in doc):
        key = "measurements" if "measurements" in doc else "facts"
        ctx.fail(
            key,
            "is not a priors key: this looks like an observations file; pass it as "
            "observations (mcsd run --observe FILE, simulate(..., observations=FILE))",
            "[[" + key + "]]",
        )
    top = _table(ctx, "", doc, _TOP)
    for path, value in _non_finite(doc):
        if isinstance(value, int):
            ctx.fail(path, INT64_PROBLEM, value)
        ctx.fail(path, "must be finite (NaN and infinity are not allowed)", value)

    settings = _table(ctx, "settings", top["settings"], _SETTINGS)
    ctx.base_month = settings["base_month"]
    ctx.base = month_number(settings["base_month"])
    ctx.horizon = month_number(settings["horizon_month"])
    if ctx.horizon <= ctx.base:
        ctx.fail(
            "settings.horizon_month",
            f"must be after settings.base_month ({settings['base_month']})",
            settings["horizon_month"],
        )
    if settings["max_occupancy"] < settings["threshold"]:
        ctx.fail(
            "settings.max_occupancy",
            f"must be >= settings.threshold ({settings['threshold']:g})",
            settings["max_occupancy"],
        )
    if settings["turning_point"] == "year_end" and settings["sustain_months"] != 1:
        ctx.fail(
            "settings.turning_point",
            "requires settings.sustain_months = 1 (the year-end rule reads one December), "
            f"but sustain_months is {settings['sustain_months']}",
            settings["turning_point"],
        )

    regions = []
    for path, item in _at_least_one(ctx, "regions", top["regions"], "region"):
        t = _with_id(ctx, "region", path, item, _REGION)
        if is_reserved_region_id(t["id"]):
            ctx.fail(_key_path(path, "id"), "is reserved (the national total)", t["id"])
        regions.append(Region(**t))
    ctx.region_ids = tuple(r.id for r in regions)

    buyers = []
    for path, item in _at_least_one(ctx, "buyers", top["buyers"], "buyer"):
        t = _with_id(ctx, "buyer", path, item, _BUYER)
        nominal, share, loading = t.pop("third_party_share")
        buyers.append(
            Buyer(
                **t,
                third_party_share=share,
                third_party_share_nominal=nominal,
                third_party_share_market_loading=loading,
            )
        )
    ctx.buyer_ids = tuple(b.id for b in buyers)

    providers = []
    pre_leases: list[tuple[str, Any, dict[str, Any]]] = []  # (path, mw as written, project)
    for path, item in _array_of_tables(ctx, "providers", top["providers"]):
        t = _with_id(ctx, "provider", path, item, _PROVIDER)
        projects = []
        for ppath, raw in _array_of_tables(ctx, _key_path(path, "projects"), t["projects"]):
            p = _with_id(ctx, "project", ppath, raw, _PROJECT)
            if month_number(p["scheduled_month"]) <= ctx.base:
                ctx.fail(
                    _key_path(ppath, "scheduled_month"),
                    f"must be after settings.base_month ({ctx.base_month}): capacity in "
                    "operation by the base belongs in the region's supply_stock_mw",
                    p["scheduled_month"],
                )
            lease = p.pop("pre_lease")
            if lease is not None:
                if lease["mw"] > p["capacity_mw"]:
                    ctx.fail(
                        _key_path(ppath, "pre_lease.mw"),
                        f"must be <= the project's capacity_mw ({p['capacity_mw']:g} MW)",
                        raw["pre_lease"]["mw"],
                    )
                p["pre_lease_buyer"], p["pre_lease_mw"] = lease["buyer"], lease["mw"]
                pre_leases.append((ppath, raw["pre_lease"]["mw"], p))
            projects.append(Project(**p))
        t["projects"] = tuple(projects)
        providers.append(Provider(**t))
    _check_pre_lease_cover(ctx, buyers, pre_leases)

    demand_events = []
    for path, item in _array_of_tables(ctx, "demand_events", top["demand_events"]):
        t = _with_id(ctx, "demand event", path, item, _DEMAND_EVENT)
        month = month_number(t["month"])
        if not ctx.base < month <= ctx.horizon:
            ctx.fail(
                _key_path(path, "month"),
                f"must be after settings.base_month ({ctx.base_month}) and not after "
                f"settings.horizon_month ({settings['horizon_month']})",
                t["month"],
            )
        if t["probability"] == 0.5:
            ctx.fail(
                _key_path(path, "probability"),
                "must not be 0.5: nominal = median, and an event with probability 0.5 has no "
                "median, so point mode could not decide whether it happens (use 0.49 or 0.51)",
                item["probability"],
            )
        demand_events.append(DemandEvent(**t))

    spillover = None
    if top["spillover"] is not None:
        spillover = _spillover(ctx, top["spillover"])

    meta = top["meta"]
    return {
        "name": meta.get("name"),
        "description": meta.get("description") or "",
        "base_month": settings["base_month"],
        "horizon_month": settings["horizon_month"],
        "threshold": settings["threshold"],
        "max_occupancy": settings["max_occupancy"],
        "sustain_months": settings["sustain_months"],
        "regions": tuple(regions),
        "buyers": tuple(buyers),
        "providers": tuple(providers),
        "spillover": spillover,
        "turning_point": settings["turning_point"],
        "demand_events": tuple(demand_events),
    }


# pre-leases may exceed their increment by this fraction of it (decimal rounding of sums)
PRE_LEASE_COVER_TOLERANCE = 1e-9


def _check_pre_lease_cover(
    ctx: _Ctx, buyers: list[Buyer], pre_leases: list[tuple[str, Any, dict[str, Any]]]
) -> None:
    """Each buyer's nominal increment in (region, year of scheduled_month) must cover the sum
    of its pre-leases there: pre-leased MW is taken out of that increment. The project that
    first takes the sum past the increment (in file order) is named."""
    by_id = {b.id: b for b in buyers}
    last_year = ctx.horizon // 12
    totals: dict[tuple[str, str, int], list[float]] = {}
    for path, written, p in pre_leases:
        buyer, region = p["pre_lease_buyer"], p["region"]
        year = int(p["scheduled_month"][:4])
        leases = totals.setdefault((buyer, region, year), [])
        leases.append(p["pre_lease_mw"])
        total = math.fsum(leases)
        increment = by_id[buyer].increments_mw.get(region, {}).get(year, 0.0)
        if total > increment + PRE_LEASE_COVER_TOLERANCE * max(1.0, increment):
            note = (
                f": {year} is after the horizon year {last_year}, which has no increments"
                if year > last_year
                else ""
            )
            ctx.fail(
                _key_path(path, "pre_lease.mw"),
                f"is too large: pre-leases of buyer '{buyer}' in {region} {year} sum to "
                f"{total:.12g} MW, more than its increment there ({increment:.12g} MW{note})",
                written,
            )


SPILL_SUM_TOLERANCE = 1e-9  # a spillover row may sum to 1 + this (then it is normalised)


def _spillover(ctx: _Ctx, raw: Any) -> tuple[tuple[float, ...], ...]:
    """The spillover matrix. A row's shares must sum to <= 1; a sum in (1, 1 + 1e-9] (the
    decimals' rounding) is divided by it, a larger one is refused."""
    if not isinstance(raw, dict):
        ctx.fail("spillover", "must be a table like jingjin = { southwest_other = 0.3 }", raw)
    ids = ctx.region_ids
    matrix = [[0.0] * len(ids) for _ in ids]
    for src, row in raw.items():
        rpath = _key_path("spillover", src)
        ctx.region(rpath, src)
        if not isinstance(row, dict):
            ctx.fail(rpath, "must be a table of destination regions and shares", row)
        for dst, share in row.items():
            spath = _key_path(rpath, dst)
            ctx.region(spath, dst)
            if dst == src:
                ctx.fail(spath, "is a self-spill (a region cannot spill into itself)", share)
            matrix[ids.index(src)][ids.index(dst)] = _number(0, 1)(ctx, spath, share)
        shares = matrix[ids.index(src)]
        total = math.fsum(shares)
        if total > 1 + SPILL_SUM_TOLERANCE:
            ctx.fail(rpath, f"shares must sum to <= 1 (they sum to {total:.12g})", row)
        if total > 1:  # within the tolerance (decimal rounding): normalised to sum to 1
            matrix[ids.index(src)] = [x / total for x in shares]
    return tuple(tuple(row) for row in matrix)


# ----------------------------------------------------------------------------- files


def builtin_priors_names() -> list[str]:
    """The names of the priors files shipped with mcsd (``priors/*.toml`` but the
    observations files, ``observations*.toml``), sorted."""
    folder = builtin_priors_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if not p.stem.startswith("observations"))


def builtin_priors_dir() -> Path:
    """The folder of priors shipped with mcsd.

    Returns
    -------
    pathlib.Path
        ``mcsd/_priors`` in an installed wheel, else the checkout's top-level ``priors/``.
    """
    try:
        packaged = Path(str(resources.files("mcsd") / "_priors"))
        if packaged.is_dir():
            return packaged
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        pass
    return Path(__file__).resolve().parents[2] / "priors"


def _resolve(path: str | os.PathLike[str] | None, relative_to: Path | None = None) -> Path:
    """Find a priors file: as given (relative to ``relative_to`` or the cwd), then by bare
    name (with or without ``.toml``) in the built-in priors folder."""
    if path is None:
        return builtin_priors_dir() / STUDY_PRIORS
    given = Path(path)
    first = relative_to / given if relative_to is not None else given
    candidates = [first]
    if not given.suffix:
        candidates.append(first.with_name(first.name + ".toml"))
    if given.name == str(path):  # a bare name: also look among the built-in priors
        builtin = builtin_priors_dir()
        candidates += [builtin / given.name, builtin / (given.name + ".toml")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = builtin_priors_names()
    raise PriorsError(
        given.name,
        "",
        f"no such priors file (looked for {', '.join(str(c) for c in candidates)}; "
        f"built-in priors: {', '.join(known) or 'none'})",
    )


# Priors files are a few kB (the study's is ~30 kB); anything this large is not one.
MAX_FILE_BYTES = 64 * 2**20


def _parse(path: Path, echo_line: bool = True) -> tuple[dict[str, Any], bytes]:
    """Read and parse one TOML file; syntax errors keep tomllib's line and column.

    ``echo_line``: a syntax error also shows the offending line's text (escaped, shortened)
    as its value. Only for the file the user named; a scenario's base (which the scenario,
    not the user, chose) reports its line and column only, so an error never shows the
    contents of a file the user did not name.
    """
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PriorsError(path.name, "", f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise PriorsError(
            path.name, "", f"is larger than {MAX_FILE_BYTES // 2**20} MiB: not a priors file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PriorsError(path.name, "", f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text), data
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"at line (\d+)", message)
        if m is None:  # pragma: no cover
            raise PriorsError(path.name, "", f"is not valid TOML: {message}") from None
        line_no = int(m.group(1))
        if not echo_line:
            raise PriorsError(
                path.name, f"line {line_no}", f"is not valid TOML: {message}"
            ) from None
        lines = text.splitlines()
        line = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
        raise PriorsError(
            path.name, f"line {line_no}", f"is not valid TOML: {message}", line
        ) from None
    except ValueError:  # tomllib's int() of a literal beyond 4300 digits
        raise PriorsError(
            path.name,
            "",
            "is not valid TOML: an integer literal has more than 4300 digits "
            "(TOML integers are 64-bit)",
        ) from None


def _is_toml_file(path: Path) -> bool:
    """A regular file (after symlinks) named ``*.toml``: what a scenario base may be (not
    /proc/self/environ, a device, a FIFO or a folder)."""
    real = path.resolve()
    try:
        mode = real.stat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and real.suffix == ".toml"


@dataclass
class _Document:
    """A parsed priors document, scenarios applied, with what the hash and name need."""

    doc: dict[str, Any]
    chain_bytes: list[bytes]  # this file first, then its base, its base's base, ...
    scenario: dict[str, Any] | None = None  # the checked [scenario] table, if any


def _load_document(path: Path, chain: tuple[Path, ...] = ()) -> _Document:
    """Parse ``path``; if it is a scenario, load its base (recursively) and apply it."""
    doc, data = _parse(path, echo_line=not chain)
    if "scenario" not in doc:
        return _Document(doc, [data])
    ctx = _Ctx(path.name)
    extra = sorted(set(doc) - {"scenario"})
    if extra:
        ctx.fail(
            extra[0],
            "cannot be in a scenario file: a scenario changes its base only through "
            "[[scenario.set]] and [[scenario.scale]]",
            doc[extra[0]],
        )
    scenario = _table(ctx, "scenario", doc["scenario"], _SCENARIO)
    chain = (*chain, path)
    try:
        base_path = _resolve(scenario["base"], relative_to=path.parent)
    except PriorsError as exc:
        problem = exc.problem
    else:
        problem = ""
    if problem:
        ctx.fail("scenario.base", problem, scenario["base"])
    if not _is_toml_file(base_path):
        ctx.fail(
            "scenario.base",
            "must name a priors file: a regular file whose name (symlinks resolved) ends in .toml",
            scenario["base"],
        )
    if base_path in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path))
        ctx.fail("scenario.base", f"forms a cycle ({cycle})", scenario["base"])
    base = _load_document(base_path, chain)
    merged = copy.deepcopy(base.doc)
    for path_i, entry in _array_of_tables(ctx, "scenario.set", scenario["set"]):
        apply_set(ctx.file, path_i, merged, entry)
    for path_i, entry in _array_of_tables(ctx, "scenario.scale", scenario["scale"]):
        apply_scale(ctx.file, path_i, merged, entry)
    return _Document(merged, [data, *base.chain_bytes], scenario)


# Public hooks of the scenario machinery (``mcsd.priors.changes`` applies command-line and
# Python what-ifs through them, so they follow exactly the scenario files' rules).


def apply_set(file: str, path: str, doc: dict[str, Any], entry: Any) -> None:
    """Apply one ``[[scenario.set]]`` entry (a table ``{field, value}``) to ``doc`` in place.

    ``file`` and ``path`` (e.g. ``scenario.set[0]``) name the entry in error messages.
    Raises PriorsError as a scenario file's entry would.
    """
    ctx = _Ctx(file)
    op = _table(ctx, path, entry, _SET)
    for parent, key, _ in _select(ctx, _key_path(path, "field"), doc, op["field"], True):
        parent[key] = copy.deepcopy(op["value"])


def apply_scale(file: str, path: str, doc: dict[str, Any], entry: Any) -> None:
    """Apply one ``[[scenario.scale]]`` entry (a table ``{field, factor}``) to ``doc`` in
    place; like :func:`apply_set`."""
    ctx = _Ctx(file)
    op = _table(ctx, path, entry, _SCALE)
    found = 0
    for parent, key, node in _select(ctx, _key_path(path, "field"), doc, op["field"]):
        parent[key], n = _scaled(node, op["factor"])
        found += n
    if not found:
        ctx.fail(_key_path(path, "field"), "selects no numbers to scale", op["field"])


def load_document(path: str | os.PathLike[str] | None) -> tuple[Path, _Document]:
    """The resolved path of a priors file and its parsed document, scenarios applied, not
    yet validated (``doc``, ``chain_bytes``, ``scenario``): what :func:`load_priors` freezes."""
    resolved = _resolve(path)
    return resolved, _load_document(resolved)


def priors_from_document(
    resolved: Path, loaded: _Document, doc: dict[str, Any] | None = None, file: str | None = None
) -> Priors:
    """Validate ``doc`` (default ``loaded.doc``) and freeze it as :func:`load_priors` does:
    name, description and sha256 from ``loaded``. ``file`` names the source in error
    messages (default: the file's name)."""
    fields = _validate(loaded.doc if doc is None else doc, resolved.name if file is None else file)
    name = fields.pop("name") or resolved.stem
    if loaded.scenario is not None:
        name = loaded.scenario["name"] or resolved.stem
        fields["description"] = loaded.scenario["description"] or fields["description"]
    digest = hashlib.sha256(b"".join(loaded.chain_bytes)).hexdigest()
    return Priors(name=name, source_path=str(resolved), sha256=digest, **fields)


def _select(
    ctx: _Ctx, path: str, doc: dict[str, Any], selector: str, create: bool = False
) -> list[tuple[Any, Any, Any]]:
    """Resolve a scenario field path to ``(parent, key, node)`` triples.

    Segments are dot-separated. On an array of tables a segment selects the items with that
    ``id`` (``*``: all items); on a table it is a key (``*``: all keys). With ``create``, the
    last segment may name a key a table does not have yet (the set adds it).
    """
    segments = selector.split(".")
    nodes: list[tuple[Any, Any, Any]] = [(None, None, doc)]
    for depth, seg in enumerate(segments):
        last = depth == len(segments) - 1
        found: list[tuple[Any, Any, Any]] = []
        for _, _, node in nodes:
            if isinstance(node, dict):
                if seg == "*":
                    found += [(node, k, v) for k, v in node.items()]
                elif seg in node or (create and last):
                    found.append((node, seg, node.get(seg, _MISSING)))
            elif isinstance(node, list):
                found += [
                    (node, i, item)
                    for i, item in enumerate(node)
                    if isinstance(item, dict) and (seg == "*" or item.get("id") == seg)
                ]
        if not found:
            where = ".".join(segments[:depth]) or "the top level"
            ctx.fail(
                path, f"matches nothing at {seg!r} ({_choices(nodes)} under {where})", selector
            )
        nodes = found
    return nodes


def _choices(nodes: list[tuple[Any, Any, Any]]) -> str:
    """What a selector could have named at this level (for the error message)."""
    names: list[str] = []
    for _, _, node in nodes:
        if isinstance(node, dict):
            names += [str(k) for k in node]
        elif isinstance(node, list):
            names += [str(i["id"]) for i in node if isinstance(i, dict) and "id" in i]
    unique = list(dict.fromkeys(names))
    if not unique:
        return "nothing to select"
    shown = ", ".join(unique[:12]) + (", ..." if len(unique) > 12 else "")
    return f"choices: {shown}"


def _scaled(node: Any, factor: float) -> tuple[Any, int]:
    """``node`` with every number in it multiplied by ``factor`` (booleans, strings and keys
    are left alone); also how many numbers were scaled."""
    if isinstance(node, bool):
        return node, 0
    if isinstance(node, int) and not INT64_MIN <= node <= INT64_MAX:
        return node, 1  # left as it is: validation refuses it, naming the field
    if isinstance(node, (int, float)):
        return node * factor, 1
    if isinstance(node, dict):
        out, count = {}, 0
        for key, value in node.items():
            out[key], n = _scaled(value, factor)
            count += n
        return out, count
    if isinstance(node, list):
        pairs = [_scaled(value, factor) for value in node]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    return node, 0


def load_priors(path: str | os.PathLike[str] | None = None) -> Priors:
    """Load, validate and freeze a priors file.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A priors or scenario file. A bare name (``"cic2025"``, ``"deepseek_efficiency.toml"``)
        that is no file in the working directory is looked up among the priors shipped with
        mcsd. ``None`` loads the study's priors, ``cic2025.toml``.

    Returns
    -------
    Priors
        Immutable priors. ``sha256`` hashes the file's bytes; for a scenario, the bytes of the
        scenario followed by those of its base (and the base's base, ...).

    Raises
    ------
    PriorsError
        On the first problem found, naming the file, the field path and the value.
    """
    return priors_from_document(*load_document(path))


PriorsLike = Priors | str | os.PathLike[str] | None


def as_priors(priors: PriorsLike) -> Priors:
    """``priors`` itself, or the priors file / built-in name it names (None: the study)."""
    return priors if isinstance(priors, Priors) else load_priors(priors)
