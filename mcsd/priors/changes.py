"""What-ifs without a file: ``--set FIELD=VALUE`` / ``--scale FIELD=FACTOR`` and
``Priors.with_changes(set={...}, scale={...})``.

A what-if is a scenario file written on the command line: each change is one
``[[scenario.set]]`` (``field``, ``value``) or ``[[scenario.scale]]`` (``field``,
``factor``) entry, applied to the priors file's document by the loader's own scenario code
(:func:`mcsd.priors.loader.apply_set` / :func:`~mcsd.priors.loader.apply_scale`: the same
selectors, ``buyers.bytedance.persistence``, ``buyers.*.increments_mw``, the same
refusals), all sets first, then all scales, and the result is validated as a whole like any
priors file. Errors name the change (``--set settings.threshold=1.5: ...``) where a scenario
file's name would be.

The changed priors never pass for the file: ``name`` becomes ``"<name>+what-if"``,
``sha256`` hashes the file's bytes (and its scenario chain's) followed by the list of changes,
and ``description`` lists the changes. :func:`what_if_changes` returns that list.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcsd.priors.loader import (
    PriorsError,
    PriorsLike,
    _toml,
    apply_scale,
    apply_set,
    load_document,
    priors_from_document,
)
from mcsd.priors.model import Priors

__all__ = ["Change", "parse_change", "apply_changes", "what_if_changes", "WHAT_IF_SUFFIX"]

WHAT_IF_SUFFIX = "+what-if"
_HISTORY = "_mcsd_what_if"  # instance attribute (not a dataclass field) of a what-if Priors
_KINDS = {"set": "VALUE", "scale": "FACTOR"}


@dataclass(frozen=True)
class Change:
    """One what-if: ``kind`` ``"set"`` (``value`` replaces the field) or ``"scale"``
    (``value`` is the factor); ``text`` names it in error messages (``--set FIELD=VALUE``
    as written on the command line)."""

    kind: str
    field: str
    value: Any
    text: str

    @property
    def canonical(self) -> str:
        """``--set FIELD=VALUE`` with VALUE written as TOML: the same change gives the same
        text from the command line and from Python (it is what the sha256 hashes)."""
        return f"--{self.kind} {self.field}={_toml(self.value)}"

    def entry(self) -> dict[str, Any]:
        """The scenario-file entry of this change."""
        key = "value" if self.kind == "set" else "factor"
        return {"field": self.field, key: self.value}


@dataclass(frozen=True)
class _History:
    base_sha256: str
    base_name: str
    base_description: str
    changes: tuple[Change, ...]


# ----------------------------------------------------------------------------- parsing


_POSITION = re.compile(r"\s*\(at line \d+, column \d+\)")


def _toml_value(text: str) -> Any:
    """``text`` read as one TOML value (ValueError with tomllib's reason if it is not)."""
    if "\n" in text or "\r" in text:
        raise ValueError("holds a line break")
    try:
        doc = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(_POSITION.sub("", str(exc))) from None
    except ValueError:  # tomllib's int() of a literal beyond 4300 digits
        raise ValueError("an integer literal has more than 4300 digits") from None
    if set(doc) != {"v"}:
        raise ValueError("is more than one value")
    return doc["v"]


def parse_change(kind: str, text: str) -> Change:
    """A command-line what-if: ``kind`` ``"set"`` with ``FIELD=VALUE`` or ``"scale"`` with
    ``FIELD=FACTOR``; VALUE / FACTOR is a TOML value (strings need quotes:
    ``--set 'settings.turning_point="year_end"'``).

    FIELD is split off at the first ``=`` after which a TOML value follows (an id may hold
    ``=``). Raises PriorsError naming ``--set TEXT``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'set' or 'scale', got {kind!r}")
    what = _KINDS[kind]
    label = f"--{kind} {text}"
    if "\n" in text or "\r" in text:
        raise PriorsError(label, "", "holds a line break: one FIELD=VALUE per option")
    # a selector holds no whitespace (ids and keys have none): only such cuts are tried
    cuts = [
        i
        for i, c in enumerate(text)
        if c == "=" and text[:i].strip() and len(text[:i].split()) == 1
    ]
    if not cuts:
        raise PriorsError(label, "", f"must be FIELD={what} (e.g. --set settings.threshold=0.85)")
    first_problem = ""
    for i in cuts:
        try:
            value = _toml_value(text[i + 1 :])
        except ValueError as exc:
            first_problem = first_problem or str(exc)
            continue
        return Change(kind, text[:i].strip(), value, label)
    raise PriorsError(
        label,
        "",
        f"{what} is not a TOML value ({first_problem}; strings need quotes, e.g. "
        "--set 'settings.turning_point=\"year_end\"')",
    )


def _plain(value: Any, label: str) -> Any:
    """A Python value as the TOML types a scenario file's value has."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise PriorsError(label, "", "has a table whose keys are not all strings")
        return {k: _plain(v, label) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, label) for v in value]
    raise PriorsError(label, "", f"is not a TOML value (a {type(value).__name__})")


def _change(kind: str, item: Change | tuple[str, Any]) -> Change:
    if isinstance(item, Change):
        if item.kind != kind:
            raise ValueError(f"a {item.kind} change given as a {kind}: {item.text}")
        return item
    field, value = item
    if not isinstance(field, str):
        raise PriorsError(f"--{kind} {field!r}", "", "FIELD must be a string")
    label = f"--{kind} {field}=..."
    value = _plain(value, label)
    change = Change(kind, field, value, "")
    return dataclasses.replace(change, text=change.canonical)


# ----------------------------------------------------------------------------- applying


def _apply(doc: dict[str, Any], change: Change) -> None:
    apply = apply_set if change.kind == "set" else apply_scale
    apply(change.text, "", doc, change.entry())


def apply_changes(
    priors_or_path: PriorsLike,
    sets: Iterable[Change | tuple[str, Any]] = (),
    scales: Iterable[Change | tuple[str, Any]] = (),
) -> Priors:
    """Priors with what-ifs applied, exactly as a scenario file's entries would be.

    Parameters
    ----------
    priors_or_path : Priors, path, built-in name or None (the study's priors)
        A Priors must come from a file (``source_path``), unchanged on disk since; a what-if
        Priors takes further changes after its own.
    sets : iterable of (field, value) or Change
        Scenario ``set`` entries: ``("settings.threshold", 0.85)``.
    scales : iterable of (field, factor) or Change
        Scenario ``scale`` entries: ``("buyers.*.increments_mw", 0.8)``.

    Returns
    -------
    Priors
        Validated as a whole; ``name`` ``"<name>+what-if"``, ``sha256`` over the file bytes
        and the change list, the changes in ``description``. No changes: the priors as given.

    Raises
    ------
    PriorsError
        Naming the change (``--set FIELD=VALUE``) that made the priors invalid.
    """
    new = [_change("set", s) for s in sets] + [_change("scale", s) for s in scales]
    if isinstance(priors_or_path, Priors):
        priors = priors_or_path
        history = priors.__dict__.get(_HISTORY)
        if not new:
            return priors
        source = Path(priors.source_path)
        if not priors.source_path or not source.is_file():
            raise PriorsError(
                new[0].text,
                "",
                f"needs priors loaded from a file; these ({priors.name}) have source "
                f"{priors.source_path or 'none'}",
            )
        resolved, loaded = load_document(source)
        digest = hashlib.sha256(b"".join(loaded.chain_bytes)).hexdigest()
        expected = history.base_sha256 if history is not None else priors.sha256
        if digest != expected:
            raise PriorsError(
                resolved.name,
                "",
                "has changed on disk since these priors were loaded (its sha256 differs): "
                "load it again before applying what-ifs",
            )
        if history is None:
            history = _History(digest, priors.name, priors.description, ())
    else:
        resolved, loaded = load_document(priors_or_path)
        if not new:
            return priors_from_document(resolved, loaded)
        base = priors_from_document(resolved, loaded)
        history = _History(base.sha256, base.name, base.description, ())
    doc = copy.deepcopy(loaded.doc)
    for change in (*history.changes, *new):
        _apply(doc, change)
    try:
        changed = priors_from_document(resolved, loaded, doc, file="what-if")
    except PriorsError as err:
        raise _blamed(resolved, loaded, history.changes, new, doc, err) from None
    changes = (*history.changes, *new)
    listing = [c.canonical for c in changes]
    digest = hashlib.sha256(
        b"".join(loaded.chain_bytes) + b"\n# mcsd what-if\n" + "\n".join(listing).encode()
    ).hexdigest()
    words = f"What-if: {'; '.join(listing)}."
    description = f"{history.base_description} {words}" if history.base_description else words
    out = dataclasses.replace(
        changed,
        name=history.base_name + WHAT_IF_SUFFIX,
        sha256=digest,
        description=description,
    )
    object.__setattr__(out, _HISTORY, dataclasses.replace(history, changes=changes))
    return out


def _blamed(resolved, loaded, earlier, new, doc, err: PriorsError) -> PriorsError:
    """The validation error ``err`` of the whole changed document, naming the first change
    after which the same field fails the same way (the one that broke the rule)."""
    culprit = new[-1]
    for k in range(1, len(new)):
        partial = copy.deepcopy(loaded.doc)
        for change in (*earlier, *new[:k]):
            _apply(partial, change)
        try:
            priors_from_document(resolved, loaded, partial, file="what-if")
        except PriorsError as e:
            if (e.field, e.problem) == (err.field, err.problem):
                culprit = new[k - 1]
                break
    try:
        priors_from_document(resolved, loaded, doc, file=culprit.text)
    except PriorsError as named:
        return named
    return err  # pragma: no cover - validation is deterministic


def what_if_changes(priors: Priors) -> tuple[str, ...]:
    """The changes (``--set FIELD=VALUE``, ``--scale FIELD=FACTOR``, VALUE as TOML) that
    made ``priors`` from its file, in order; ``()`` for priors loaded as they are."""
    history = priors.__dict__.get(_HISTORY)
    return tuple(c.canonical for c in history.changes) if history is not None else ()
