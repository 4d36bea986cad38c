"""Load a generated kernel module in one line: ``sigmoid = symact.load("sigmoid")``.

A generated module is a plain Python file that needs only math, NumPy and Numba; it can be
imported any ordinary way (its folder on ``sys.path``, a copy inside a package,
``importlib``).  :func:`load` is the shortcut for users who have symact installed: a catalog
name is looked up in a folder (``generated/`` by default), a path is loaded as it is.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from .errors import SymactError

__all__ = ["load", "KernelNotFoundError"]


class KernelNotFoundError(SymactError, FileNotFoundError):
    """No generated module at the path asked for."""


def load(name_or_path: str | os.PathLike, directory: str | os.PathLike = "generated") -> ModuleType:
    """Import a generated kernel module and return it.

    ``name_or_path`` is a module name (``"sigmoid"``, found as ``directory/sigmoid.py``) or the path of
    a ``.py`` file (anything with a ``/`` or ending in ``.py``).  The same file loads once per process.

    >>> import symact
    >>> symact.load("nokernel")
    Traceback (most recent call last):
    ...
    symact.loader.KernelNotFoundError: no generated module generated/nokernel.py: run 'symact generate nokernel'
    """
    text = os.fspath(name_or_path)
    if text.endswith(".py") or os.sep in text or "/" in text:
        path = Path(text)
        hint = "check the path"
    else:
        if not text.isidentifier():
            raise KernelNotFoundError(f"{text!r} is neither a module name nor a path to a .py file")
        path = Path(directory) / f"{text}.py"
        hint = f"run 'symact generate {text}'" if Path(directory) == Path("generated") else f"no {text}.py there"
    if not path.is_file():
        raise KernelNotFoundError(f"no generated module {path.as_posix()}: {hint}")
    return _load(str(path.resolve()))


@functools.cache
def _load(path: str) -> ModuleType:
    # a name of our own in sys.modules, unique per file; the module then registers its fixed name too
    name = f"symact_loaded_{Path(path).stem}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
