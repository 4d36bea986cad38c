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

__all__ = ["IMPORTS", "source", "used_names"]

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
