"""Shared fixtures: catalog entries by kind, so tests are parametrised over the catalog."""

from __future__ import annotations

import pytest

from symact import catalog
from symact.catalog import Kind

ALL = catalog.names()
ELEMENTWISE = [e.name for e in catalog.entries() if e.kind is Kind.ELEMENTWISE]
INDEXED = [e.name for e in catalog.entries() if e.is_indexed]


@pytest.fixture(scope="session")
def derivations():
    """Every catalog entry's derivation, computed once per test session."""
    from symact.derive import derive

    return {name: derive(catalog.get(name)) for name in ALL}
