"""Modules that can be called like their main function.

``symact.derive`` and ``symact.verify`` are both a module and that module's main function. Once
``import symact.derive`` has run, Python binds the attribute ``symact.derive`` to the module, so
``symact.derive(entry)`` would fail; making the module callable keeps both spellings working.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable


def make_callable(module_name: str, function: Callable) -> None:
    """Let ``module_name`` be called as ``function``."""

    class CallableModule(types.ModuleType):
        __doc__ = sys.modules[module_name].__doc__

        def __call__(self, *args, **kwargs):
            return function(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
