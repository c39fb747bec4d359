"""Shared fixtures. Toy-priors builders live in ``mcsd.testing.toy`` (tests and benchmarks
import them from there)."""

from __future__ import annotations

import pytest

import mcsd
from mcsd.priors.model import Priors


@pytest.fixture(scope="session")
def study_priors() -> Priors:
    return mcsd.load_priors(None)
