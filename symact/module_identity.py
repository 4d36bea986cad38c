"""One module name for a generated kernel module, however it is loaded.

Numba's on-disk cache (``cache=True``, files next to the module) pickles each compiled function's
environment with the name of the module that defined it, and a later process imports that name
to load the cached code.  A module loaded as ``sigmoid`` in one process and as
``symact_generated_sigmoid`` (or through ``importlib.util.spec_from_file_location`` under any
name, registered in ``sys.modules`` or not) in another would find a cache that names a module it
cannot import, and fail with ``ModuleNotFoundError``.  So every generated module gives itself one
fixed name, derived from its own text, before it defines a function: :func:`one_name` registers
the module under that name and returns it, and the module assigns it to ``__name__``.  The
source of :func:`one_name` is copied into each generated module, which stays self-contained.
"""

from __future__ import annotations

import hashlib
import inspect
import sys

__all__ = ["one_name", "identity_source", "stamp", "PLACEHOLDER"]

#: stands for the module's fixed name in the rendered text until :func:`stamp` replaces it
PLACEHOLDER = "@@MODULE_NAME@@"


def one_name(name: str, namespace: dict) -> str:
    """Register the module whose globals are ``namespace`` in ``sys.modules`` as ``name``; return ``name``.

    The module itself is registered where it was imported under a name (a folder on ``sys.path``, a
    package, ``importlib`` with ``sys.modules`` set); a module executed without registration gets an
    empty stand-in, enough for Numba, whose compiled kernels look no module global up at run time.
    The first module to take a name keeps it.

    >>> ns = {"__name__": "not_registered_anywhere"}
    >>> one_name("symact_doctest_one_name", ns)
    'symact_doctest_one_name'
    >>> import sys; type(sys.modules.pop("symact_doctest_one_name")).__name__
    'module'
    """
    current = sys.modules.get(namespace.get("__name__"))
    module = current if current is not None and vars(current) is namespace else type(sys)(name)
    sys.modules.setdefault(name, module)
    return name


def identity_source() -> str:
    """The lines a generated module runs before its first definition: :func:`one_name`, copied from its
    source, and the assignment of its result to ``__name__`` (with :data:`PLACEHOLDER` for the name)."""
    return (
        "# One fixed name for this module however it is loaded (a folder on sys.path, a package, importlib under\n"
        "# any name): Numba's cache pickles the defining module's name and a later process imports it.\n"
        + inspect.getsource(one_name)
        + f'\n\n__name__ = one_name("{PLACEHOLDER}", globals())\n'
    )


def stamp(text: str, stem: str) -> str:
    """``text`` with :data:`PLACEHOLDER` replaced by ``symact_kernel_<stem>_<digest>``, the digest being
    the first 12 hex digits of the SHA-256 of the text itself (so that the name is deterministic and two
    different modules never share one)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return text.replace(PLACEHOLDER, f"symact_kernel_{stem}_{digest}")
