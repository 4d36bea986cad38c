"""The row kernels of the vector entries and the losses, as real, tested Numba code.

The modules here implement the stabilised forms that :mod:`symact.rewrites` names for sums over a row
(log-sum-exp with the maximum subtracted, the difference a_k - max taken exactly; log p_k as
(a_k - max) - log1p(sum over the other classes); 1 - p_j as the sum over the other classes divided by the
total; compensated sums and dot products).  :func:`source` copies the functions a generated module calls, and
everything they use here and in :mod:`symact.vecmath`, into that module, so that it stays self-contained:

- :mod:`.checks`, :mod:`.rows`, :mod:`.reduce`: input checks, rows along an axis, reductions;
- :mod:`.dd`: double-double arithmetic and exp; :mod:`.fast`: the vectorised max and exact sums of exponentials;
- :mod:`.softmax`, :mod:`.hardmax`, :mod:`.mse`, :mod:`.softmax_ce`, :mod:`.logistic`, :mod:`.losses`: the
  kernels of each kind of entry (:mod:`.losses`: the elementwise losses).

A module constant that differs between generated modules (``_LOG``: log-softmax or softmax, ``_SPARSE``:
integer or probability labels) has a default here; ``settings`` gives a generated module its own value.
"""

from __future__ import annotations

import ast
import importlib
import inspect

from .. import vecmath

__all__ = ["IMPORTS", "cache_entry_points_only", "source", "used_names"]

#: the imports every generated row module starts with (the copied functions use these names)
IMPORTS = (
    "import math\nimport sys\n\nimport numba\nimport numpy as np\n"
    "from numba import extending, njit, types\nfrom numba.extending import intrinsic, overload\n"
)


def _modules(names):
    return [vecmath] + [importlib.import_module(f"{__name__}.{n}") for n in names]


def source(names, modules, settings=None, exclude=()) -> str:
    """The source of the functions ``names`` of the rowlib ``modules`` (by short name, such as ``"softmax"``;
    later ones win a name both define) and of everything they use, here and in :mod:`symact.vecmath`, in
    dependency order, without import lines (:data:`IMPORTS`).  ``settings``: module constants given another
    value (``{"_LOG": "True"}``); ``exclude``: names the generated module defines itself."""
    return vecmath.library_source(list(names), _modules(modules), imports=False, settings=settings, exclude=exclude)


def used_names(code: str, modules) -> list[str]:
    """The names that ``code`` (glue text of a generated module) reads and the rowlib ``modules`` define."""
    glb: dict[str, object] = {}
    for module in _modules(modules):
        glb.update(vars(module))
    tree = ast.parse(code)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - defined
    return sorted(n for n in loads if n in glb and not n.startswith("__") and not inspect.ismodule(glb[n]))


def _jit_decorator(node) -> ast.expr | None:
    """The ``numba.njit(...)`` / ``njit(...)`` decorator of a function definition, if it has one."""
    for d in node.decorator_list:
        f = d.func if isinstance(d, ast.Call) else d
        if (isinstance(f, ast.Attribute) and f.attr == "njit") or (isinstance(f, ast.Name) and f.id == "njit"):
            return d
    return None


def cache_entry_points_only(code: str) -> str:
    """``code`` (a generated row module's text) with ``cache=True`` taken off every jitted function that no Python
    code of the module calls: Numba caches only the entry points, the kernels the Python functions run.

    A cached kernel is stored with everything it calls linked in, so a later process loads it whole and never
    compiles its callees; caching a callee as well bought nothing there, and cost a first call dearly: every
    cached function is written out as machine code of its own, the callees it links included, so each level of
    a row kernel (the per-row function, its SIMD loops) was emitted once more for the cache.  A callee still
    compiles once per process, shared by the kernels that call it.  The entry points: the jitted functions named
    in the body of a Python function (not in the module-level calls that build an overload from them)."""
    tree = ast.parse(code)
    jitted = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and _jit_decorator(n) is not None}
    called = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name not in jitted:
            called |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    lines = code.split("\n")
    for name, node in jitted.items():
        decorator = _jit_decorator(node)
        if name in called or not isinstance(decorator, ast.Call):
            continue
        row = decorator.lineno - 1
        text = lines[row]
        options = [k.value.id for k in decorator.keywords if k.arg is None and isinstance(k.value, ast.Name)]
        if len(options) == 1 and not decorator.args and len(decorator.keywords) == 1:  # njit(**_CONTRACT)
            lines[row] = text.replace(f"**{options[0]})", f'**{{**{options[0]}, "cache": False}})', 1)
            continue
        if not [k for k in decorator.keywords if k.arg == "cache"]:
            continue
        for old in ("cache=True, ", ", cache=True", "cache=True"):
            if old in text:
                lines[row] = text.replace(old, "", 1).replace("njit()", "njit")
                break
    return "\n".join(lines)
