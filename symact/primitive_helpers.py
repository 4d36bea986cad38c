"""Source of the helper functions that generated modules call for the named primitives (sigma, softplus).

Each helper evaluates its :data:`symact.rewrites.PRIMITIVES` rule, printed by :mod:`symact.printer`, or, for
sigma, a compensated form of it.  Both the elementwise modules (:mod:`symact.emit`) and the elementwise
losses (:mod:`symact.kernel_templates`) copy them in, so they live below both.
"""

from __future__ import annotations

import sympy

from .catalog.symbols import x
from .functions import NamedFunction
from .printer import helper_name, kernel_code
from .rewrites import PRIMITIVES, W

__all__ = ["SCALAR", "helpers_for"]


#: helpers that evaluate their PRIMITIVES rule with an error-free transformation: the rounding error
#: of 1 + exp(-|x|) is recovered exactly (Fast2Sum) and corrected for, which takes sigma from about
#: 1.5 ulp to about 1.  The maths is the proved rule (sigma by the sign of x); only the rounding differs.
_COMPENSATED = {
    "sigmoid": (
        "    t = math.exp(-abs(x))\n"
        "    s = 1.0 + t\n"
        "    err = (1.0 - s) + t  # 1 + t = s + err exactly\n"
        "    q = (1.0 if x >= 0.0 else t) / s\n"
        "    return q - q * (err / s)\n"
    ),
}

#: the same for the elementwise loops, with one division: the correction q err / s needs 1 / s only to a
#: few digits, and 1 / s is q (x >= 0) or 1 - q (x < 0, where q = t / (1 + t)) to the last bit or so
_COMPENSATED_VEC = {
    # softplus_stable as vecmath's softplus: float64 the same, float32 with no division by 1 + e
    "softplus": "    return vsoftplus(x)\n",
    "sigmoid": (
        "    one = _lit(1.0, x)\n"
        "    t = vexp(-abs(x))\n"
        "    s = one + t\n"
        "    err = (one - s) + t  # 1 + t = s + err exactly\n"
        "    up = x >= _lit(0.0, x)\n"
        "    a = select(up, one, t)\n"
        "    q = a / s\n"
        "    q64 = q - q * (err * select(up, q, one - q))\n"
        "    inv = one / s  # float32: q corrected by its residual before it rounds (q64's correction comes after)\n"
        "    q32 = a * inv\n"
        "    q32 = fma(fma(-q32, s, a) - q32 * err, inv, q32)\n"
        "    return select(_is32(x), q32, q64)\n"
    ),
}

#: m sigma(w) (silu, swish): as m * sigma(w), but where a float32 sigma(w) would be subnormal (w < -64) the
#: exponential is taken of w + 32 (exact) and the product scaled by 2^-32 last, so that m e^w rounds once
#: rather than losing the subnormal's bits (up to 5 ulp below w = -87); float64 is m * sigma(w) exactly
_MUL_SIGMOID = '''@numba.njit(inline="always")
def _mul_sigmoid(m, w):
    """m sigma(w), float32 kept accurate where sigma(w) is subnormal."""
    one = _lit(1.0, w)
    low = _is32(w) & (w < _lit(-64.0, w))
    ts = vexp_shifted(-abs(w), low)  # e^-|w|, times 2**64 where a float32 e^w would be subnormal
    scale = select(low, _lit(5.421010862427522e-20, w), one)  # 2**-64
    t = ts * scale
    s = one + t
    err = (one - s) + t  # 1 + t = s + err exactly
    up = w >= _lit(0.0, w)
    a = select(up, one, ts)
    q = a / s
    q = q - q * (err * select(up, q, one - q * scale))  # 1 / s to a few digits: q (w >= 0) or 1 - q
    # float32: m a / (1 + t) with m a split exactly and the quotient corrected by its residual before it rounds
    # (rounding q first, then m q, lost up to 3.1 ulp)
    nh = m * a
    inv = one / s
    q32 = nh * inv
    c = (fma(-q32, s, nh) + fma(m, a, -nh)) - q32 * err
    # m = +-inf: c is nan; the corrected quotient keeps q32's sign (m = -0.0 gives -0.0, as m sigma(w) does)
    q32 = select(abs(q32) < _lit(math.inf, w), math.copysign(fma(c, inv, q32), q32), q32)
    return select(_is32(w), q32, m * q) * scale
'''

#: the decorator of the scalar functions: inlined into the loops, so that LLVM sees one loop body
SCALAR = '@numba.njit(inline="always")'


def helpers_for(*exprs: sympy.Expr, vec: bool = False) -> str:
    """Source of the helper functions (sigma, softplus) the expressions call, in a fixed order: with
    ``vec``, inlined and calling :mod:`symact.vecmath` (for the elementwise loops), else ``math.*`` ones."""
    used: set[type] = set()
    for e in exprs:
        if e is not None:
            used |= {type(f) for f in e.atoms(NamedFunction)}
    parts = []
    for function, rule in sorted(PRIMITIVES.items(), key=lambda kv: kv[0].__name__):
        if function not in used:
            continue
        body = (_COMPENSATED_VEC if vec else _COMPENSATED).get(function.__name__)
        body = (
            body
            or f"    return {kernel_code(rule.replacement.xreplace({W: x}), vec=vec, typed='x' if vec else None)}\n"
        )
        decorator = SCALAR if vec else "@numba.njit(cache=True)"
        parts.append(f'{decorator}\ndef {helper_name(function)}(x):\n    """{rule.name}: {rule.reason}."""\n{body}')
        if vec and function.__name__ == "sigmoid":
            parts.append(_MUL_SIGMOID.rstrip("\n"))
    return "\n\n".join(parts)
