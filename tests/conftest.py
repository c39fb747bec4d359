"""Shared fixtures. Toy-priors builders live in ``mcsd.testing.toy`` (tests and benchmarks
import them from there).

The suite writes only inside temporary folders: hypothesis keeps no example database,
pytest no cache (``-p no:cacheprovider`` in pyproject), and a session fixture fails the run
if any file of the checkout outside the compilers' caches was created, changed or removed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import configuration, settings

import mcsd
from mcsd.priors.model import Priors

settings.register_profile("mcsd", database=None)
settings.load_profile("mcsd")
# hypothesis also caches what it learns (e.g. the code's constants) under its home folder,
# by default ./.hypothesis: point it at a temporary folder
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="mcsd-hypothesis-")
configuration.set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)

ROOT = Path(__file__).resolve().parents[1]
# caches of compilers and tools (numba's and Python's bytecode, linters), not results
_CACHES = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _checkout_files() -> dict[str, tuple[int, int]]:
    out = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _CACHES and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            st = path.lstat()
            out[str(path.relative_to(ROOT))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session", autouse=True)
def _writes_only_to_temporary_folders() -> Iterator[None]:
    before = _checkout_files()
    yield
    after = _checkout_files()
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (created or removed or changed), (
        f"the test suite wrote into the checkout: created {created[:10]}, "
        f"removed {removed[:10]}, changed {changed[:10]}"
    )


@pytest.fixture(scope="session")
def study_priors() -> Priors:
    return mcsd.load_priors(None)
