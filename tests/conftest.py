"""Shared fixtures: catalog entries by kind, so tests are parametrised over the catalog."""

from __future__ import annotations

import functools
import os
import tempfile

import pytest

from symact import catalog
from symact.catalog import Kind

# One fresh cache of generated text per test run (symact.cache), shared by pytest-xdist's workers and by the
# commands the tests run in new processes: each module and document set is computed once per run (rendering
# the catalog takes minutes), not taken from an earlier run.  The cache writes whole files only (os.replace).
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _RUN:
    os.environ["SYMACT_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"symact-cache-{_RUN}")
    os.makedirs(os.environ["SYMACT_CACHE_DIR"], exist_ok=True)
else:
    os.environ["SYMACT_CACHE_DIR"] = tempfile.mkdtemp(prefix="symact-cache-")


def pytest_ignore_collect(collection_path, config):
    """tests/jax_crosscheck.py imports JAX, whose threads must not be in the suite's processes (they fork): only
    the process that names it on its command line (tests/test_jax_crosscheck.py starts one) collects it, never
    the suite's --doctest-modules collection of every module."""
    if collection_path.name == "jax_crosscheck.py":
        return not any(os.path.basename(arg.split("::")[0]) == "jax_crosscheck.py" for arg in config.args)
    return None


ALL = catalog.names()
ELEMENTWISE = [e.name for e in catalog.entries() if e.kind is Kind.ELEMENTWISE]
INDEXED = [e.name for e in catalog.entries() if e.is_indexed]


@pytest.fixture(scope="session")
def derivations():
    """Every catalog entry's derivation, computed once per test session."""
    from symact.derive import derive

    return {name: derive(catalog.get(name)) for name in ALL}


@functools.cache
def from_python(function):
    """``function``, a jitted function of a generated module that only its kernels call, made callable from Python:
    a generated module compiles such a function without the wrapper that lets Python call it
    (symact.rowlib.CALLEE), so a test calls it through a jitted function of its own."""
    import inspect

    import numba

    arity = len(inspect.signature(function.py_func).parameters)
    calls = {
        1: lambda a: function(a),
        2: lambda a, b: function(a, b),
        3: lambda a, b, c: function(a, b, c),
        4: lambda a, b, c, d: function(a, b, c, d),
        5: lambda a, b, c, d, e: function(a, b, c, d, e),
        6: lambda a, b, c, d, e, f: function(a, b, c, d, e, f),
    }  # (not *args: Numba cannot call an inlined function with it)
    return numba.njit(calls[arity])
