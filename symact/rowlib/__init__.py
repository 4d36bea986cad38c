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

__all__ = ["CALLEE", "IMPORTS", "entry_points_only", "source", "used_names"]

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


#: the options a generated module adds to every jitted function that only other jitted functions call
#: (:func:`entry_points_only`)
CALLEE = {"cache": False, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def entry_points_only(code: str) -> str:
    """``code`` (a generated module's text) with every jitted function that no Python code of the module calls
    compiled as a callee only: not cached, and without the wrappers that let Python (``no_cpython_wrapper``) or C
    (``no_cfunc_wrapper``) call it, by the options :data:`CALLEE`, defined in the module before its first jitted
    function.  The entry points, the kernels the Python functions run, keep ``cache=True`` and their wrappers.

    A cached kernel is stored with everything it calls linked in, so a later process loads it whole and never
    compiles its callees; caching a callee as well bought nothing there, and cost a first call dearly: every
    cached function is written out as machine code of its own, the callees it links included, so each level of
    a row kernel (the per-row function, its SIMD loops) was emitted once more for the cache.  A callee's wrappers
    (the unboxing of its arguments from Python objects, for an array a few hundred lines of LLVM IR) were
    optimised and compiled for every callee and never run.  A callee still compiles once per process, shared by
    the kernels that call it.  The entry points: the jitted functions named in the body of a Python function (not
    in the module-level calls that build an overload from them)."""
    tree = ast.parse(code)
    jitted = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and _jit_decorator(n) is not None}
    called = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not _compiled(node):
            called |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    callees = [node for name, node in jitted.items() if name not in called]
    if not callees:
        return code
    lines = code.split("\n")
    for node in callees:
        decorator = _jit_decorator(node)
        row = decorator.lineno - 1
        if decorator.end_lineno != decorator.lineno:
            raise ValueError(f"the decorator of {node.name} spans several lines")
        text = lines[row]
        if not isinstance(decorator, ast.Call):  # @numba.njit
            lines[row] = text.rstrip() + "(**_CALLEE)"
            continue
        keywords = [k for k in decorator.keywords if k.arg != "cache"]
        if decorator.args:
            raise ValueError(f"the decorator of {node.name} has a positional argument")
        if len(keywords) == 1 and keywords[0].arg is None:  # njit(**_HELPER): one dict with the options
            options = f"**{{{ast.unparse(keywords[0])}, **_CALLEE}}"
        else:
            options = ", ".join([*(_keyword_text(k) for k in keywords), "**_CALLEE"])
        column = decorator.col_offset
        lines[row] = text[:column] + ast.unparse(decorator.func) + f"({options})" + text[decorator.end_col_offset :]
    first = min(_jit_decorator(n).lineno for n in jitted.values()) - 1
    lines[first:first] = [
        "#: the options of the functions that only the kernels call: not cached, no wrapper for Python or C",
        "#: (symact.rowlib.entry_points_only); from Python, call one through a jitted function",
        "_CALLEE = " + repr(CALLEE).replace("'", '"'),
        "",
        "",
    ]
    return "\n".join(lines)


def _compiled(node: ast.FunctionDef) -> bool:
    """Whether Numba compiles the function (``njit``, ``vectorize``, ...): its calls are not Python's."""
    for d in node.decorator_list:
        f = d.func if isinstance(d, ast.Call) else d
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in ("njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil"):
            return True
    return False


def _keyword_text(keyword: ast.keyword) -> str:
    """A keyword argument's text, strings in double quotes (the style of the rest of a generated module)."""
    value = keyword.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        text = '"' + value.value + '"'
    else:
        text = ast.unparse(value).replace("'", '"')
    return f"{keyword.arg}={text}" if keyword.arg else f"**{text}"
