"""The ground truth for kernel checks: the UNstabilised expression, evaluated with mpmath.

A kernel computes a stabilised form; the reference evaluates the catalog's plain definition (or
SymPy's raw derivative of it) instead, so that a wrong rewrite cannot hide behind itself.  Each value
is computed at 50 digits and again at twice the precision, doubling until the two agree to 30 digits,
so that cancellation in the plain formula (1 - tanh(x)^2 at x = 300) cannot fake a result; where
they still disagree at 1600 digits (1 - sigma(z) at z = 1e35 needs 10^35 digits) the value is
None, "unresolved", and the check counts it rather than trusting it.  An
infinite input is evaluated as +-10^1000, which gives the limit for the functions of the catalog; where the value
still moves between 10^1000 and 10^2000 (log x) or cannot be resolved there, the value is SymPy's limit.

>>> from symact.catalog.symbols import x
>>> from sympy import tanh
>>> f = Scalar(1 - tanh(x) ** 2, (x,))
>>> print("%.6e" % f(300.0))  # 4 exp(-600): the plain formula at 50 digits would give 0
1.060159e-260
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import mpmath
import sympy

__all__ = ["Scalar", "Instance", "mp_value", "DIGITS", "MAX_DIGITS", "INFINITY"]

DIGITS = 50  #: the first working precision
MAX_DIGITS = 1600  #: precision is doubled up to this while two evaluations disagree
AGREE = mpmath.mpf(10) ** -30
INFINITY = mpmath.mpf("1e1000")  #: stands for an infinite input


def mp_value(v) -> mpmath.mpf:
    """A float (or int) as an exact mpmath number; +-inf as +-10^1000; nan stays nan."""
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return mpmath.mpf(v)
    f = float(v)
    if math.isnan(f):
        return mpmath.nan
    if math.isinf(f):
        return INFINITY if f > 0 else -INFINITY
    return mpmath.mpf(f)


_HUGE = mpmath.mpf(2) ** 8192  #: past 1e2466: beyond the 1e1000 that stands for an infinite input, times constants
_CLAMP = mpmath.mpf(2) ** 8200
_REDUCE = mpmath.mpf(2) ** 40  #: from here exp reduces its argument itself (see _exp)


def _exp(x):
    """mpmath's exp, but for |x| > 2**8192 the power of two 2**round(x / log 2), with x clamped to +-2**8200:
    mpmath reduces the argument with log 2 to as many bits as x has before its point, and exp(-exp(1e30)) (a
    Gumbel cdf at -1e30) ran for hours.  Below 2**2048 mpmath's own exp is exact and fast (an 8192-bit reduction),
    so that exp(2 w) = exp(w)^2 still holds where a derivative cancels such terms (x e^w / (1 + e^w) at
    w = 1.7e52); beyond it every value is far outside every float's range (0 or inf once rounded)."""
    if mpmath.isfinite(x) and abs(x) > _HUGE:
        k = mpmath.nint(max(min(x, _CLAMP), -_CLAMP) / mpmath.ln2)
        return mpmath.ldexp(mpmath.mpf(1), int(k))
    if mpmath.isfinite(x) and abs(x) > _REDUCE:
        # x = k log 2 + r with log 2 to as many more bits as x has before its point: mpmath itself takes e**x
        # for a large integer x (every float past 2**53) as a power of e, 10-20x slower (12 ms at 400 digits,
        # most of the time of symact check), with the same value
        with mpmath.extraprec(int(mpmath.mag(x)) + 30):
            k = int(mpmath.nint(x / mpmath.ln2))
            r = x - k * mpmath.ln2
        return mpmath.ldexp(mpmath.exp(r), k)
    return mpmath.exp(x)


def _tanh(x):
    """mpmath's tanh, but for |x| beyond the working precision's reach, sign(x) (1 - 2 exp(-2|x|)): mpmath's own
    tanh sizes a shift by the magnitude of x and runs out of memory at tanh(exp(1e38)) (tanhexp's reference)."""
    if mpmath.isfinite(x) and abs(x) > 4 * mpmath.mp.prec:
        return mpmath.sign(x) * (1 - 2 * _exp(-2 * abs(x)))
    return mpmath.tanh(x)


#: functions lambdify takes from here before mpmath
_SAFE = {"tanh": _tanh, "exp": _exp}


def _adaptive(fn, args):
    """fn(*args) at increasing precision until two evaluations agree; None if they never do.

    With finite arguments an infinite or nan value can only come from lost precision (log of a
    difference that cancelled to 0), so it is not accepted; an exact 0 is accepted only at the
    highest precisions (the true value may be 1e-400, below every float).
    """
    finite_args = all(mpmath.isfinite(a) and abs(a) < INFINITY for a in args)
    previous = None
    # exp(-350) next to 1 is lost below 152 digits at both precisions of a pair, which would then
    # agree on the wrong value: start with enough digits for exponentials of the arguments
    scale = max((min(abs(a), 800) for a in args if mpmath.isfinite(a)), default=0)
    digits = DIGITS + int(scale / 2.3)
    # 1 - p_0 - p_1 with p = (1, 1e-112, 5e-324) loses 1e-112 at 50 and at 100 digits alike, and the two
    # agree on -5e-324: start with enough digits to add the arguments exactly
    sizes = [abs(a) for a in args if mpmath.isfinite(a) and 0 < abs(a) < INFINITY]
    if len(sizes) > 1:
        digits = max(digits, DIGITS + int(mpmath.log10(max(sizes) / min(sizes))) + 17)
    while digits <= MAX_DIGITS:
        with mpmath.workdps(digits):
            try:
                value = fn(*[+a for a in args])
            except (ZeroDivisionError, ValueError, OverflowError, MemoryError):  # MemoryError: a huge shift
                value = mpmath.nan
            value = mpmath.mpf(value) if not isinstance(value, mpmath.mpf) else +value
        if previous is not None:
            special = mpmath.isnan(value) or mpmath.isinf(value)
            if special:
                same = (mpmath.isnan(value) and mpmath.isnan(previous)) or value == previous
                if same and not finite_args:
                    return value
            elif value == 0 and previous == 0:
                if digits >= MAX_DIGITS // 2:
                    return value
            elif abs(value - previous) <= abs(value) * AGREE:
                return value
        previous = value
        digits *= 2
    return None  # unresolved: the plain formula needs more than MAX_DIGITS digits here


def _agree(a, b) -> bool:
    if mpmath.isinf(a) or mpmath.isinf(b):
        return a == b
    return abs(a - b) <= max(abs(a), abs(b)) * AGREE


#: seconds for SymPy's limit at an infinite input
LIMIT_BUDGET = 10.0


@functools.lru_cache(maxsize=256)
def _limit(expr: sympy.Expr, variables: tuple, args: tuple, i: int):
    """The limit of ``expr`` as variable ``i`` goes to the infinity in ``args`` (mpmath numbers as text; the
    others finite), as an mpmath number; None where SymPy finds none in time."""
    from .budget import BudgetExceeded, run_limited

    values = {v: sympy.Float(a, 60) for k, (v, a) in enumerate(zip(variables, args)) if k != i}
    direction = sympy.oo if mpmath.mpf(args[i]) > 0 else -sympy.oo
    try:
        found = run_limited(lambda: sympy.limit(expr.xreplace(values), variables[i], direction), LIMIT_BUDGET)
    except (BudgetExceeded, Exception):  # SymPy raises NotImplementedError, ValueError, ... on hard limits
        return None
    if found is sympy.oo:
        return mpmath.inf
    if found is -sympy.oo:
        return -mpmath.inf
    if found.is_number and found.is_real:
        with mpmath.workdps(DIGITS):
            return mpmath.mpf(sympy.N(found, DIGITS))
    return None


class Scalar:
    """A scalar expression of ``variables`` (symbols) as an adaptive-precision mpmath function."""

    def __init__(self, expr: sympy.Expr, variables: Sequence[sympy.Symbol]):
        from .rewrites import to_plain

        self.expr = to_plain(expr)
        self.variables = tuple(variables)
        self._fn = sympy.lambdify(self.variables, self.expr, [_SAFE, "mpmath"])

    def __call__(self, *values) -> mpmath.mpf:
        args = [mp_value(v) for v in values]
        if any(mpmath.isnan(a) for a in args):
            used = self.expr.free_symbols
            if any(mpmath.isnan(a) and s in used for a, s in zip(args, self.variables)):
                return mpmath.nan
        value = _adaptive(self._fn, args)
        infinite = [i for i, a in enumerate(args) if mpmath.isfinite(a) and abs(a) >= INFINITY]
        if len(infinite) != 1:
            return value
        i = infinite[0]
        further = _adaptive(self._fn, [a * INFINITY if k == i else a for k, a in enumerate(args)])  # +-10^2000
        if value is not None and further is not None and not mpmath.isnan(value) and _agree(value, further):
            return value
        # still moving between 10^1000 and 10^2000 (log x), or lost (a difference that cancels past 1600 digits):
        # SymPy's limit, under a time budget; else what 10^1000 gave
        limit = _limit(self.expr, self.variables, tuple(str(a) for a in args), i)
        return limit if limit is not None else value


class Instance:
    """An indexed expression at concrete sizes and index values, as a function of its Indexed atoms.

    ``order`` lists the IndexedBase objects whose elements are the arguments, flattened in C order
    of their shapes; ``call(arrays)`` takes one NumPy array (or scalar) per base.
    """

    def __init__(self, expr: sympy.Expr, subs: dict, bases: Sequence[sympy.IndexedBase], scalars=()):
        concrete = sympy.expand_func(expr.subs(subs)).doit()
        concrete = concrete.replace(lambda e: isinstance(e, sympy.Sum), lambda e: e.doit())
        self.bases = tuple(bases)
        atoms = concrete.atoms(sympy.Indexed)
        self.slots = {}
        symbols = []
        for ix in sorted(atoms, key=sympy.default_sort_key):
            if ix.base not in self.bases:
                raise ValueError(f"unexpected indexed atom {ix}")
            s = sympy.Symbol(f"_{ix.base.label}_{'_'.join(str(i) for i in ix.indices)}", real=True)
            self.slots[s] = (self.bases.index(ix.base), tuple(int(i) for i in ix.indices))
            symbols.append(s)
        concrete = concrete.xreplace({ix: s for s, (b, idx) in self.slots.items() for ix in [self.bases[b][idx]]})
        self.scalars = tuple(scalars)
        self.symbols = tuple(symbols)
        self.scalar = Scalar(concrete, (*self.symbols, *self.scalars))

    def __call__(self, arrays, *scalars) -> mpmath.mpf:
        values = [arrays[b][idx] for (b, idx) in (self.slots[s] for s in self.symbols)]
        return self.scalar(*values, *scalars)


@functools.lru_cache(maxsize=512)
def instance(expr: sympy.Expr, subs: tuple, bases: tuple, scalars: tuple = ()) -> Instance:
    """A cached :class:`Instance`."""
    return Instance(expr, dict(subs), bases, scalars)
