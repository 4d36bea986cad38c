"""Source of the scalar helper functions that row kernels call for the named primitives (sigma, softplus).

Each helper evaluates its :data:`symact.rewrites.PRIMITIVES` rule, printed by :mod:`symact.printer`, or, for
sigma, a compensated form of it.  The elementwise loops call :mod:`symact.kernel_lib`'s vectorisable helpers
instead; the losses of :mod:`symact.kernel_templates` copy these in.
"""

from __future__ import annotations

import sympy

from .catalog.symbols import x
from .functions import NamedFunction, sigmoid
from .printer import helper_name, kernel_code
from .rewrites import PRIMITIVES, W

__all__ = ["helpers_for"]


#: helpers that evaluate their PRIMITIVES rule with an error-free transformation: the rounding error
#: of 1 + exp(-|x|) is recovered exactly (Fast2Sum) and corrected for, which takes sigma from about
#: 1.5 ulp to about 1.  The maths is the proved rule (sigma by the sign of x); only the rounding differs.
_COMPENSATED = {
    sigmoid: (
        "    t = math.exp(-abs(x))\n"
        "    s = 1.0 + t\n"
        "    err = (1.0 - s) + t  # 1 + t = s + err exactly\n"
        "    q = (1.0 if x >= 0.0 else t) / s\n"
        "    return q - q * (err / s)\n"
    ),
}


def helpers_for(*exprs: sympy.Expr) -> str:
    """Source of the scalar ``math.*`` helper functions (sigma, softplus) the expressions call, in a fixed
    order."""
    used: set[type] = set()
    for e in exprs:
        if e is not None:
            used |= {type(f) for f in e.atoms(NamedFunction)}
    parts = []
    for function, rule in sorted(PRIMITIVES.items(), key=lambda kv: kv[0].__name__):
        if function not in used:
            continue
        body = _COMPENSATED.get(function) or f"    return {kernel_code(rule.replacement.xreplace({W: x}))}\n"
        doc = f'    """{rule.name}: {rule.reason}."""\n'
        parts.append(f"@numba.njit(cache=True)\ndef {helper_name(function)}(x):\n{doc}{body}")
    return "\n\n".join(parts)
