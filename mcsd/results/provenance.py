"""Provenance attributes of every mcsd Dataset: one builder, so every result says the same.

Attributes describe a result; they never drive computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mcsd._version import __version__
from mcsd.priors.model import Priors


def provenance(
    title: str, priors: Priors | Sequence[Priors], seed: int, n_paths: int, **extra: object
) -> dict[str, object]:
    """Title, mcsd version, seed, n_paths, creation time and the priors' name and sha256.

    One priors object: ``priors_name``, ``priors_sha256`` and its model settings; several
    (a comparison): ``priors_a``, ``priors_a_sha256``, ``priors_b``, ... ``extra`` last.
    """
    attrs: dict[str, object] = {"title": title}
    if isinstance(priors, Priors):
        from mcsd.priors.changes import what_if_changes

        changes = what_if_changes(priors)
        if changes:  # a what-if: say which changes the priors' name and hash stand for
            attrs["priors_changes"] = "; ".join(changes)
        attrs.update(
            priors_name=priors.name,
            priors_sha256=priors.sha256,
            threshold=priors.threshold,
            max_occupancy=priors.max_occupancy,
            sustain_months=priors.sustain_months,
            turning_point_rule=priors.turning_point,
            base_month=priors.base_month,
            horizon_month=priors.horizon_month,
        )
    else:
        for label, p in zip("abcdefgh", priors, strict=False):
            attrs[f"priors_{label}"] = p.name
            attrs[f"priors_{label}_sha256"] = p.sha256
            attrs[f"threshold_{label}"] = p.threshold
    attrs.update(
        mcsd_version=__version__,
        seed=int(seed),
        n_paths=int(n_paths),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    attrs.update(extra)
    return attrs
