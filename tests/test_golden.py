"""Golden hashes: the numbers of fixed runs, bit for bit, so a change that moves them is seen.

Every variable and coordinate of ``simulate(study, 200_000 paths)``, of the three shipped
scenarios, of a point-mode run, of ``compare`` and of ``sensitivity`` is hashed (dtype,
shape, dims and the raw bytes). A refactor must leave every hash unchanged; a change that
moves numbers on purpose regenerates the file (``MCSD_UPDATE_GOLDEN=1 pytest
tests/test_golden.py``) and says so, with a before/after table, in its note.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mcsd
from mcsd.testing.toy import all_mechanisms_priors

GOLDEN = Path(__file__).resolve().parent / "golden" / "hashes.json"
SEED = 20250101
SCENARIOS = (
    "cic2025",
    "deepseek_efficiency",
    "ai_capex_boom",
    "power_constrained",
    "buyers_move_abroad",
)


def variable_hash(da: xr.DataArray) -> str:
    values = np.ascontiguousarray(da.values)
    if values.dtype == object:
        payload = "\x1f".join(map(str, values.ravel())).encode()
    else:
        payload = values.tobytes()
    head = f"{values.dtype.str}|{values.shape}|{da.dims}|".encode()
    return hashlib.sha256(head + payload).hexdigest()


def dataset_hashes(ds: xr.Dataset) -> dict[str, str]:
    return {str(name): variable_hash(ds[name]) for name in sorted(ds.variables, key=str)}


def _runs() -> dict[str, xr.Dataset]:
    runs = {
        f"simulate/{name}": mcsd.simulate(name, n_paths=200_000, seed=SEED) for name in SCENARIOS
    }
    runs["simulate/cic2025/point"] = mcsd.simulate("cic2025", point=True)
    # every market mechanism at once (turning rule, shared lateness, pre-leases, share on
    # the cycle, demand events), on a toy whose numbers do not move with the study priors
    runs["simulate/all_mechanisms"] = mcsd.simulate(
        all_mechanisms_priors(), n_paths=50_000, seed=SEED
    )
    runs["compare/cic2025-power_constrained"] = mcsd.compare(
        "cic2025", "power_constrained", n_paths=50_000, seed=SEED
    )
    runs["sensitivity/cic2025"] = mcsd.sensitivity("cic2025", n_paths=8_192, seed=SEED, n_boot=20)
    return runs


@pytest.fixture(scope="module")
def hashes() -> dict[str, dict[str, str]]:
    return {key: dataset_hashes(ds) for key, ds in _runs().items()}


def test_golden_hashes(hashes: dict[str, dict[str, str]]) -> None:
    if os.environ.get("MCSD_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(hashes) == sorted(golden)
    changed = {
        f"{run}:{var}"
        for run, table in golden.items()
        for var, h in table.items()
        if hashes[run].get(var) != h
    }
    added = {
        f"{run}:{var}" for run, table in hashes.items() for var in set(table) - set(golden[run])
    }
    assert not changed, f"numbers changed: {sorted(changed)}"
    assert not added, f"variables not in the golden file: {sorted(added)}"
