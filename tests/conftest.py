"""Shared fixtures: catalog entries by kind, so tests are parametrised over the catalog."""

from __future__ import annotations

import os
import tempfile

import pytest

from symact import catalog
from symact.catalog import Kind

# One fresh cache of generated text per test session (symact.cache), shared with the commands the tests run in
# new processes: each module and document set is computed once per run, not taken from an earlier run.
os.environ["SYMACT_CACHE_DIR"] = tempfile.mkdtemp(prefix="symact-cache-")

ALL = catalog.names()
ELEMENTWISE = [e.name for e in catalog.entries() if e.kind is Kind.ELEMENTWISE]
INDEXED = [e.name for e in catalog.entries() if e.is_indexed]


@pytest.fixture(scope="session")
def derivations():
    """Every catalog entry's derivation, computed once per test session."""
    from symact.derive import derive

    return {name: derive(catalog.get(name)) for name in ALL}
