"""symact: activations and losses defined once in SymPy.

From one definition per function symact derives gradients in textbook form, writes derivation
documents, emits numerically stable Numba kernels into ``generated/`` and verifies hand-derived
formulas.  Heavy modules load on first use, so ``import symact`` is cheap.

>>> import symact
>>> symact.get("sigmoid").name
'sigmoid'
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "get": ("symact.catalog", "get"),
    "names": ("symact.catalog", "names"),
    "entries": ("symact.catalog", "entries"),
    "CATALOG": ("symact.catalog", "CATALOG"),
    "Entry": ("symact.catalog", "Entry"),
    "derive": ("symact.derive", "derive"),
    "user_entry": ("symact.derive", "user_entry"),
    "Derivation": ("symact.derive", "Derivation"),
    "prove_equal": ("symact.prove", "prove_equal"),
    "sigmoid": ("symact.functions", "sigmoid"),
    "softplus": ("symact.functions", "softplus"),
    "SymactError": ("symact.errors", "SymactError"),
    "ParseError": ("symact.errors", "ParseError"),
    "verify": ("symact.verify", "verify"),
    "verify_batch": ("symact.batch", "verify_batch"),
    "Verdict": ("symact.verify", "Verdict"),
    "parse_sympy": ("symact.parse", "parse_sympy"),
    "parse_latex": ("symact.latex", "parse_latex"),
    "load": ("symact.loader", "load"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'symact' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
