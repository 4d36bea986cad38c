"""A disk cache for generated text, so that regenerating an unchanged module costs a file read, not a derivation.

Rendering a module derives, stabilises, proves and measures its forms (seconds to a minute per entry); the
result is a pure function of the entry, the command line in its header, symact's own source and the versions of
the libraries that compute it.  :func:`cached` keys the text on all of these (a SHA-256), so a change to any
of them is a miss, and a hit is the text the same computation gave: regeneration stays byte-for-byte
deterministic.

The cache lives in ``$SYMACT_CACHE_DIR``, else ``$XDG_CACHE_HOME/symact``, else ``~/.cache/symact``;
``SYMACT_CACHE=0`` turns it off.  It is only ever an optimisation: an unwritable or corrupt cache is ignored.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock; two processes may then compute the same text, each whole
    fcntl = None

__all__ = ["cached", "directory", "source_digest"]

#: the libraries whose results end up in generated text
_LIBRARIES = ("sympy", "mpmath", "numpy", "numba", "llvmlite")


def directory() -> Path | None:
    """Where cached texts live; None when the cache is turned off."""
    if os.environ.get("SYMACT_CACHE", "1") == "0":
        return None
    if os.environ.get("SYMACT_CACHE_DIR"):
        return Path(os.environ["SYMACT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symact"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of every ``.py`` file of the symact package (paths and contents) and of the library versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for name in _LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version};".encode())
    digest.update(platform.python_version().encode())
    return digest.hexdigest()


def _key(kind: str, parts: tuple[str, ...]) -> str:
    digest = hashlib.sha256(source_digest().encode())
    for part in (kind, *parts):
        digest.update(b"\0")
        digest.update(part.encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _computing(path: Path):
    """Hold an exclusive lock on ``path``'s lock file (in the cache's ``.locks`` folder) while its text is
    computed, so that a second process asking for the same text waits for the first and reads it rather than
    computing it again (a test run's workers and the commands they start render the same modules).  Without
    the lock, nothing is shared."""
    handle = None
    if fcntl is not None:
        try:
            locks = path.parent.parent / ".locks"
            locks.mkdir(parents=True, exist_ok=True)
            handle = open(locks / f"{path.parent.name}-{path.name}", "a")  # noqa: SIM115 (closed below)
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing releases the lock


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def cached(kind: str, parts: tuple[str, ...], compute: Callable[[], str]) -> str:
    """The text ``compute()`` returns for ``parts`` (strings that, with symact's source, determine it), read from
    the cache where an earlier call stored it."""
    folder = directory()
    if folder is None:
        return compute()
    path = folder / kind / _key(kind, parts)
    if (text := _read(path)) is not None:
        return text
    with _computing(path):
        if (text := _read(path)) is not None:  # another process computed it while this one waited
            return text
        text = compute()
        _store(path, text)
    return text


def _store(path: Path, text: str) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)  # whole or not at all: a concurrent reader sees no file or the whole text
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
