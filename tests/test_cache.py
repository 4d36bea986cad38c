"""The disk cache of generated text: a hit is the text the same computation gave; anything else recomputes."""

from __future__ import annotations

import os

import pytest

from symact import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMACT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SYMACT_CACHE", raising=False)
    return tmp_path / "cache"


def test_a_second_call_reads_what_the_first_computed(folder):
    calls = []

    def compute():
        calls.append(1)
        return "text \u03c3\n"

    assert cache.cached("module", ("a", "b"), compute) == "text \u03c3\n"
    assert cache.cached("module", ("a", "b"), compute) == "text \u03c3\n"
    assert len(calls) == 1
    assert cache.cached("module", ("a", "c"), compute) == "text \u03c3\n" and len(calls) == 2  # other parts
    assert cache.cached("documents", ("a", "b"), compute) and len(calls) == 3  # another kind
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_the_key_covers_symacts_source_and_library_versions(folder, monkeypatch):
    first = cache._key("module", ("a",))
    cache.source_digest.cache_clear()
    monkeypatch.setattr(cache, "_LIBRARIES", (*cache._LIBRARIES, "pytest"))
    try:
        assert cache._key("module", ("a",)) != first
    finally:
        cache.source_digest.cache_clear()


def test_turned_off_or_unwritable_it_only_recomputes(folder, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setenv("SYMACT_CACHE", "0")
    for _ in range(2):
        cache.cached("module", ("a",), lambda: calls.append(1) or "x")
    assert len(calls) == 2 and not folder.exists()
    monkeypatch.delenv("SYMACT_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SYMACT_CACHE_DIR", str(blocker / "cache"))
    assert cache.cached("module", ("a",), lambda: "y") == "y"


def test_a_cached_module_is_the_module_computed_afresh(folder, monkeypatch):
    from symact.catalog import get
    from symact.emit import render

    fresh = render(get("relu"))  # computed, stored
    assert len(os.listdir(folder / "module")) == 1
    assert render(get("relu")) == fresh
    monkeypatch.setenv("SYMACT_CACHE", "0")
    assert render(get("relu")) == fresh


_SLOW = """
import sys, time
from symact import cache

def compute():
    with open(sys.argv[1], "a") as handle:
        handle.write("computed\\n")
    time.sleep(1.0)
    return "text"

print(cache.cached("module", ("shared",), compute))
"""


@pytest.mark.skipif(os.name != "posix", reason="the lock is fcntl's")
def test_two_processes_asking_for_one_text_compute_it_once(folder, tmp_path):
    import subprocess
    import sys

    marker = tmp_path / "marker"
    env = {**os.environ, "SYMACT_CACHE_DIR": str(folder)}
    runs = [
        subprocess.Popen([sys.executable, "-c", _SLOW, str(marker)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    assert [run.communicate(timeout=120)[0] for run in runs] == ["text\n", "text\n"]
    assert marker.read_text() == "computed\n"  # the second process waited for the first and read its text
    assert len(os.listdir(folder / "module")) == 1  # the text only: lock files live apart
