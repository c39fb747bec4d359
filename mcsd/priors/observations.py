"""Observations for a nowcast: what has been measured, and which halls opened, since the base.

An observations file (TOML, schema in ``priors/README.md``, section "Observations (nowcast)")
lists ``[[measurements]]`` (region or ``"national"``, month, quantity, value, Gaussian sd) and
``[[facts]]`` about single projects (opened in a month, not opened by a month, cancelled).
``load_observations(path, priors)`` reads one and checks it against the priors it will
condition; ``make_observations`` does the same for observations built in code. Any problem
raises :class:`ObservationsError`, one line naming the file, the field path and the value::

    obs.toml: measurements[2].sd must be > 0, got 0

The engine (``mcsd.engine.weighting``) turns measurements and ``not_opened`` facts into path
weights; ``opened`` and ``cancelled`` facts pin the hall's delivery draw
(:meth:`Observations.pins`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from mcsd.priors import distributions
from mcsd.priors.loader import (
    _MISSING,
    MAX_MW,
    PriorsError,
    _choice,
    _Ctx,
    _Key,
    _key_path,
    _month,
    _number,
    _parse,
    _Spec,
    _string,
    _table,
    _type_name,
    as_priors,
    builtin_priors_dir,
)
from mcsd.priors.model import Priors, Project, Provider, month_number

__all__ = [
    "QUANTITIES",
    "FACT_STATUSES",
    "Measurement",
    "ProjectFact",
    "Observations",
    "ObservationsError",
    "load_observations",
    "make_observations",
    "as_observations",
    "builtin_observations_names",
]

#: what a measurement measures: occupancy (served / supply, 1), served demand stock (MW),
#: supply stock (MW); at the end of its month
QUANTITIES: tuple[str, ...] = ("occupancy", "demand_mw", "supply_mw")
#: what a fact says about one project
FACT_STATUSES: tuple[str, ...] = ("opened", "not_opened", "cancelled")
NATIONAL = "national"
#: the file name shown for observations built in code
IN_CODE = "<observations>"
#: built-in observations files are the priors folder's ``observations*.toml``
BUILTIN_PREFIX = "observations"


class ObservationsError(PriorsError):
    """An observations file (or observations built in code) is invalid, or does not fit the
    priors: one line ``FILE: FIELD problem, got VALUE`` (attributes as :class:`PriorsError`)."""


@dataclass(frozen=True)
class Measurement:
    """A measured value of ``quantity`` in ``region`` (or ``"national"``) at the end of
    ``month`` ("YYYY-MM"), with a Gaussian measurement sd in the same unit (occupancy: 1;
    demand_mw, supply_mw: MW)."""

    region: str
    month: str
    quantity: str
    value: float
    sd: float
    note: str = ""


@dataclass(frozen=True)
class ProjectFact:
    """What is known of one project: ``"opened"`` in ``month``, ``"not_opened"`` by the end
    of ``month``, or ``"cancelled"`` (``month`` None)."""

    project: str
    status: str
    month: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Observations:
    """Validated observations (see the module docstring). ``sha256``: of the file's bytes,
    or, built in code, of a canonical text of all the other fields but ``source_path``."""

    name: str
    source_path: str  # the file's path; "" when built in code
    sha256: str
    description: str
    illustrative: bool  # True: made-up figures, not data
    measurements: tuple[Measurement, ...]
    facts: tuple[ProjectFact, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "measurements", tuple(self.measurements))
        object.__setattr__(self, "facts", tuple(self.facts))

    def pins(self, priors: Priors) -> dict[str, int]:
        """Project id -> pinned delivery month index (base = 0, first month = 1): 0 when
        cancelled, ``priors.month_index(month)`` when opened."""
        return {
            f.project: 0 if f.status == "cancelled" else priors.month_index(str(f.month))
            for f in self.facts
            if f.status in ("opened", "cancelled")
        }

    def not_opened(self, priors: Priors) -> list[tuple[str, int]]:
        """(project id, month index m) of each ``not_opened`` fact: a path on which the
        hall opened in months 1..m has weight 0."""
        return [
            (f.project, priors.month_index(str(f.month)))
            for f in self.facts
            if f.status == "not_opened"
        ]


# ----------------------------------------------------------------------------- context


@dataclass
class _ObsCtx(_Ctx):
    """The loader's validation context, raising ObservationsError; with the priors."""

    priors: Priors | None = None
    projects: dict[str, tuple[Provider, Project]] = dataclasses.field(default_factory=dict)

    def fail(self, path: str, problem: str, value: Any = _MISSING) -> NoReturn:
        raise ObservationsError(self.file, path, problem, value)


def _some(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _did_you_mean(value: Any, choices: Iterable[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _region(ctx: _Ctx, path: str, value: Any) -> str:
    ids = (*ctx.region_ids, NATIONAL)
    if not isinstance(value, str) or value not in ids:
        hint = _did_you_mean(value, ids)
        ctx.fail(
            path, f'must be a region id of the priors or "national" ({hint}{", ".join(ids)})', value
        )
    return value


def _project(ctx: _Ctx, path: str, value: Any) -> str:
    assert isinstance(ctx, _ObsCtx)
    if not isinstance(value, str) or value not in ctx.projects:
        hint = _did_you_mean(value, ctx.projects)
        ctx.fail(
            path,
            f"is not a project id of the priors ({hint}{len(ctx.projects)} projects: "
            f"{_some(ctx.projects, 6)})",
            value,
        )
    return value


def _boolean(ctx: _Ctx, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        ctx.fail(path, f"must be true or false, not {_type_name(value)}", value)
    return value


def _observed_month(ctx: _Ctx, path: str, value: Any) -> str:
    """A "YYYY-MM" after the base month and not after the horizon month."""
    assert isinstance(ctx, _ObsCtx) and ctx.priors is not None
    _month(ctx, path, value)
    if not ctx.base < month_number(value) <= ctx.horizon:
        ctx.fail(
            path,
            f"must be after the priors' base_month ({ctx.priors.base_month}) and not after "
            f"their horizon_month ({ctx.priors.horizon_month})",
            value,
        )
    return value


_TOP: _Spec = {
    "name": _Key(_string, required=False),
    "description": _Key(_string, required=False, default=""),
    "illustrative": _Key(_boolean, required=False, default=False),
    "measurements": _Key(lambda ctx, path, v: v, required=False, default=[]),
    "facts": _Key(lambda ctx, path, v: v, required=False, default=[]),
}

_MEASUREMENT: _Spec = {
    "region": _Key(_region),
    "month": _Key(_observed_month),
    "quantity": _Key(_choice(QUANTITIES)),
    "value": _Key(_number()),
    "sd": _Key(_number(0, lo_open=True)),
    "note": _Key(_string, required=False, default=""),
}

_FACT: _Spec = {
    "project": _Key(_project),
    "status": _Key(_choice(FACT_STATUSES)),
    "month": _Key(_observed_month, required=False),
    "note": _Key(_string, required=False, default=""),
}

# top-level keys that make a file a priors or scenario file (a likely mix-up of arguments)
_PRIORS_KEYS = ("settings", "regions", "buyers", "providers", "scenario")


# ----------------------------------------------------------------------------- validation


def _items(ctx: _ObsCtx, path: str, raw: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    """Items of an array of tables with their display paths (a fact shows its project)."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        ctx.fail(path, f"must be an array of tables ([[{path}]] or [{{...}}, ...])", raw)
    out = []
    for i, item in enumerate(raw):
        ident = item.get(key) if key else None
        shown = ""
        if isinstance(ident, str) and ident.isprintable():  # user data: keep messages short
            shown = f" ({ident if len(ident) <= 60 else ident[:57] + '...'})"
        out.append((f"{path}[{i}]{shown}", item))
    return out


def _measurement(ctx: _ObsCtx, path: str, raw: dict[str, Any]) -> Measurement:
    t = _table(ctx, path, raw, _MEASUREMENT)
    vpath = _key_path(path, "value")
    if t["quantity"] == "occupancy":
        _number(0, 1)(ctx, vpath, raw["value"])
    else:
        _number(0)(ctx, vpath, raw["value"])
        if t["value"] > MAX_MW:
            ctx.fail(vpath, f"must be <= {MAX_MW:g} MW (10 TW)", raw["value"])
    return Measurement(**t)


def _shift_bounds(ctx: _ObsCtx, provider: Provider, project: Project) -> tuple[float, float]:
    """The smallest and largest delay (whole months, after the kernel's rounding half up)
    the priors allow this project. The largest is inf when the late distribution or a delay
    factor is unbounded, 0 when the provider is never late; the smallest is 0 unless the
    provider is always late (p_on_time = 0) with delays bounded away from 0."""
    delay = provider.delivery_delay_months
    if delay.p_on_time >= 1:
        return 0.0, 0.0
    assert ctx.priors is not None
    region = next(r for r in ctx.priors.regions if r.id == project.region)
    lo, hi = 1.0, 1.0
    for dist in (delay.late, provider.delay_factor, region.delay_factor):
        if dist is not None:
            d_lo, d_hi = distributions.support(dist)
            lo, hi = lo * d_lo, hi * d_hi
    low = math.floor(lo + 0.5) if delay.p_on_time <= 0 and math.isfinite(lo) else 0.0
    return low, (math.floor(hi + 0.5) if math.isfinite(hi) else math.inf)


def _fact(ctx: _ObsCtx, path: str, raw: dict[str, Any]) -> ProjectFact:
    t = _table(ctx, path, raw, _FACT)
    mpath = _key_path(path, "month")
    status, month = t["status"], t["month"]
    if status == "cancelled" and month is not None:
        ctx.fail(
            mpath, 'must be absent when status = "cancelled" (a cancelled hall has no month)', month
        )
    if status != "cancelled" and month is None:
        when = (
            "the month the hall opened"
            if status == "opened"
            else "the month by whose end it had not opened"
        )
        ctx.fail(mpath, f'is missing: status = "{status}" needs {when}')
    provider, project = ctx.projects[t["project"]]
    cancel = provider.cancellation_probability
    on_time = provider.delivery_delay_months.p_on_time
    about = f"provider {provider.id}"
    spath = _key_path(path, "status")
    if status == "opened" and cancel >= 1:
        ctx.fail(
            spath,
            f"contradicts the priors: {about} cancels every project (cancellation_probability = 1)",
            status,
        )
    if status == "cancelled" and cancel <= 0:
        ctx.fail(
            spath,
            f"contradicts the priors: {about} never cancels a project "
            "(cancellation_probability = 0)",
            status,
        )
    if month is None:
        return ProjectFact(**t)
    scheduled = max(ctx.base + 1, month_number(project.scheduled_month))  # index >= 1
    low, high = _shift_bounds(ctx, provider, project)
    earliest, latest = scheduled + low, scheduled + high
    m = month_number(month)
    if status == "opened":
        if m < scheduled:
            ctx.fail(
                mpath,
                f"is before the project's scheduled_month ({project.scheduled_month}): a hall "
                "opens in its scheduled month or later",
                month,
            )
        if m < earliest:
            ctx.fail(
                mpath,
                f"contradicts the priors: the hall opens in {_month_text(earliest)} at the "
                f"earliest ({about} is always late (delivery_delay_months.p_on_time = 0), by "
                f"at least {low:g} months)",
                month,
            )
        if m > latest:
            why = (
                f"{about} is never late (delivery_delay_months.p_on_time = 1)"
                if on_time >= 1
                else f"the priors' delays of {about} are at most {high:g} months"
            )
            ctx.fail(
                mpath,
                f"contradicts the priors: the hall opens by {_month_text(latest)} ({why})",
                month,
            )
    if status == "not_opened" and cancel <= 0 and m >= latest:
        why = "never late" if on_time >= 1 else f"late by at most {high:g} months"
        ctx.fail(
            mpath,
            f"contradicts the priors: the hall opens by {_month_text(latest)} on every path "
            f"({about} never cancels and is {why})",
            month,
        )
    return ProjectFact(**t)


def _month_text(number: float) -> str:
    n = int(number)
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def _validate(doc: dict[str, Any], file: str, priors: Priors) -> dict[str, Any]:
    """Check a parsed observations document against ``priors``; the Observations fields
    but name (None when absent), source_path and sha256."""
    ctx = _ObsCtx(file, priors=priors)
    if not isinstance(doc, dict):
        ctx.fail("", "must be a table of name, description, illustrative, measurements, facts", doc)
    mixed = [k for k in _PRIORS_KEYS if k in doc]
    if mixed:
        ctx.fail(
            mixed[0],
            "is a priors key: this is a priors file, not an observations file (one holds "
            "[[measurements]] and [[facts]])",
        )
    top = _table(ctx, "", doc, _TOP)
    ctx.base, ctx.horizon = month_number(priors.base_month), month_number(priors.horizon_month)
    ctx.base_month = priors.base_month
    ctx.region_ids = priors.region_ids
    ctx.projects = {j.id: (p, j) for p in priors.providers for j in p.projects}

    measurements: list[Measurement] = []
    seen: dict[Measurement, str] = {}
    for path, item in _items(ctx, "measurements", top["measurements"], ""):
        m = _measurement(ctx, path, item)
        key = dataclasses.replace(m, note="")
        if key in seen:
            ctx.fail(
                path,
                f"repeats {seen[key]} (the same evidence twice counts twice; two sources that "
                "agree are one measurement with a smaller sd)",
                item,
            )
        seen[key] = path
        measurements.append(m)

    facts: list[ProjectFact] = []
    first: dict[str, str] = {}
    for path, item in _items(ctx, "facts", top["facts"], "project"):
        f = _fact(ctx, path, item)
        if f.project in first:
            ctx.fail(
                _key_path(path, "project"),
                f"already has a fact ({first[f.project]}): one fact per project",
                f.project,
            )
        first[f.project] = path
        facts.append(f)

    if not measurements and not facts:
        ctx.fail("", "has no [[measurements]] and no [[facts]]: there is nothing to condition on")
    return {
        "name": top["name"] or None,
        "description": top["description"],
        "illustrative": top["illustrative"],
        "measurements": tuple(measurements),
        "facts": tuple(facts),
    }


# ----------------------------------------------------------------------------- files


def builtin_observations_names() -> list[str]:
    """Stems of the observations files shipped with mcsd (``priors/observations*.toml``)."""
    folder = builtin_priors_dir()
    try:
        return sorted(p.stem for p in folder.glob(f"{BUILTIN_PREFIX}*.toml"))
    except OSError:  # pragma: no cover
        return []


def _resolve(path: str | os.PathLike[str]) -> Path:
    """Find an observations file: as given, with ``.toml`` added when it has no suffix,
    then (a bare name) among the built-in ones in the priors folder."""
    given = Path(path)
    candidates = [given]
    if given.name and not given.suffix:  # "", "." and "/" have no name to add it to
        candidates.append(given.with_name(given.name + ".toml"))
    if given.name == str(path) and given.name:
        builtin = builtin_priors_dir()
        candidates += [builtin / given.name, builtin / (given.name + ".toml")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ObservationsError(
        given.name or str(path) or '""',
        "",
        f"no such observations file (looked for {', '.join(str(c) for c in candidates)}; "
        f"built-in observations: {', '.join(builtin_observations_names()) or 'none'})",
    )


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    """The loader's TOML reading (size, UTF-8, syntax errors with line), its errors as
    ObservationsError."""
    try:
        return _parse(path)
    except PriorsError as exc:
        problem = exc.problem.replace("not a priors file", "not an observations file")
        value = _MISSING if exc.value is None else exc.value
        raise ObservationsError(exc.file, exc.field, problem, value) from None


def load_observations(
    path: str | os.PathLike[str], priors: Priors | str | os.PathLike[str] | None
) -> Observations:
    """Load an observations file and check it against ``priors``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a bare name (``"observations_example"``) that is no file in the working
        directory is looked up among the built-in ones (the priors folder).
    priors : Priors, or what ``mcsd.load_priors`` takes
        The priors the observations condition (regions, projects, months).

    Raises
    ------
    ObservationsError
        On the first problem, naming the file, the field path and the value.
    """
    priors = as_priors(priors)
    resolved = _resolve(path)
    doc, data = _read(resolved)
    fields = _validate(doc, resolved.name, priors)
    name = fields.pop("name") or resolved.stem
    digest = hashlib.sha256(data).hexdigest()
    return Observations(name=name, source_path=str(resolved), sha256=digest, **fields)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (``np.float64`` already is a float; ``np.int64`` and
    ``np.bool_`` are not)."""
    item = getattr(value, "item", None)
    if type(value).__module__ == "numpy" and callable(item) and getattr(value, "ndim", 1) == 0:
        return item()
    return value


_Kind = type[Measurement] | type[ProjectFact]


def _record(ctx: _ObsCtx, path: str, item: Any, kind: _Kind) -> Any:
    """A measurement or fact given in code (a dataclass or a mapping) as a TOML-like dict."""
    if isinstance(item, kind):
        raw = dataclasses.asdict(item)
        if kind is ProjectFact and raw["month"] is None:
            del raw["month"]
        return {k: _plain(v) for k, v in raw.items()}
    if isinstance(item, Mapping):
        return {k: _plain(v) for k, v in item.items()}
    ctx.fail(path, f"must be a {kind.__name__} or a dict, not {_type_name(item)}", item)


def _records(ctx: _ObsCtx, path: str, items: Any, kind: _Kind) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping, kind)) or not isinstance(items, Iterable):
        ctx.fail(
            path, f"must be a list of {kind.__name__}s or dicts, not {_type_name(items)}", items
        )
    return [_record(ctx, f"{path}[{i}]", item, kind) for i, item in enumerate(items)]


def _canonical_sha256(fields: dict[str, Any]) -> str:
    """SHA-256 of a canonical JSON text of the fields: equal observations, equal hashes."""
    data = {
        "name": fields["name"],
        "description": fields["description"],
        "illustrative": fields["illustrative"],
        "measurements": [dataclasses.asdict(m) for m in fields["measurements"]],
        "facts": [dataclasses.asdict(f) for f in fields["facts"]],
    }
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"mcsd observations\n" + text.encode("utf-8")).hexdigest()


def make_observations(
    priors: Priors | str | os.PathLike[str] | None,
    measurements: Iterable[Measurement | Mapping[str, Any]] = (),
    facts: Iterable[ProjectFact | Mapping[str, Any]] = (),
    *,
    name: str = "observations",
    description: str = "",
    illustrative: bool = False,
) -> Observations:
    """Observations built in code, checked as a file's would be (errors name the file
    ``<observations>``). Measurements and facts are dataclasses or dicts with the file's
    keys. ``source_path`` is ""; ``sha256`` hashes a canonical text of the other fields."""
    priors = as_priors(priors)
    ctx = _ObsCtx(IN_CODE, priors=priors)
    doc = {
        "name": name,
        "description": description,
        "illustrative": _plain(illustrative),
        "measurements": _records(ctx, "measurements", measurements, Measurement),
        "facts": _records(ctx, "facts", facts, ProjectFact),
    }
    fields = _validate(doc, IN_CODE, priors)
    fields["name"] = fields["name"] or "observations"
    return Observations(source_path="", sha256=_canonical_sha256(fields), **fields)


def as_observations(
    obs: Observations | str | os.PathLike[str] | None, priors: Priors
) -> Observations | None:
    """None -> None; an Observations -> itself, once checked against ``priors`` (raises
    ObservationsError if it does not fit them); a path or built-in name -> loaded."""
    if obs is None:
        return None
    if isinstance(obs, Observations):
        doc = {
            "name": obs.name,
            "description": obs.description,
            "illustrative": obs.illustrative,
            "measurements": [dataclasses.asdict(m) for m in obs.measurements],
            "facts": [
                {k: v for k, v in dataclasses.asdict(f).items() if v is not None} for f in obs.facts
            ],
        }
        file = Path(obs.source_path).name if obs.source_path else IN_CODE
        _validate(doc, file, as_priors(priors))
        return obs
    if isinstance(obs, (str, os.PathLike)):
        return load_observations(obs, priors)
    raise TypeError(
        "observations must be None, an Observations, a file path or a built-in name, "
        f"not {_type_name(obs)}"
    )
