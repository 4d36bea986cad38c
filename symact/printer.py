"""Print a compute form as one scalar Python expression that Numba compiles.

:class:`KernelPrinter` is SymPy's ``PythonCodePrinter`` with three changes: ``Piecewise`` becomes a
chain of conditional expressions (Numba compiles them; ``numpy.select`` it does not, and it would
evaluate every branch), numbers become float literals (so that a float32 input is computed in
float64), and the named primitives (sigma, softplus) become calls of helper functions that the
generated module defines.  It is strict: a node it cannot print raises
:class:`sympy.printing.codeprinter.PrintMethodNotImplementedError` rather than producing wrong code.

>>> from sympy import Piecewise, exp, Rational
>>> from symact.catalog.symbols import x
>>> from symact.functions import sigmoid
>>> print(kernel_code(Piecewise((x, x > 0), (Rational(1, 100) * x, True))))
(x if (x > 0.0) else x*0.01)
>>> print(kernel_code(x * sigmoid(-x)))
x*_sigmoid(-x)
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy
from mpmath.libmp import normalize, round_nearest, to_float
from sympy.printing.pycode import PythonCodePrinter

from .functions import NamedFunction, sigmoid, softplus, square_plus
from .reference import Scalar

__all__ = [
    "KernelPrinter",
    "kernel_code",
    "helper_name",
    "fold_constants",
    "correctly_rounded",
    "amplifies_rounding",
    "call_code",
    "ARGUMENT",
]

#: digits a constant subexpression is evaluated to before it is rounded to a float literal
FOLD_DIGITS = 40


def correctly_rounded(value: sympy.Expr, bits: int = 53) -> float:
    """The real constant ``value`` (sqrt(2)/sqrt(pi), an exact rational, ...) rounded to nearest to ``bits``
    bits (53: a float64; 24: a number that float32 holds exactly), from a FOLD_DIGITS-digit evaluation."""
    number = sympy.Float(value.evalf(FOLD_DIGITS), FOLD_DIGITS)
    if number == 0:
        return 0.0
    sign, man, exp, bc = number._mpf_
    return to_float(normalize(sign, man, exp, bc, bits, round_nearest))


def _folded(value: sympy.Expr) -> sympy.Float:
    """A constant as a FOLD_DIGITS-digit Float: the printer prints it correctly rounded, and what its literal
    does not hold stays known (the rounding of 2 sqrt(2/pi) in sigma(2 sqrt(2/pi) u) costs |w|/2 ulp)."""
    return sympy.Float(value.evalf(FOLD_DIGITS), FOLD_DIGITS)


class AddConstant(sympy.Function):
    """``rest + c`` with the constant c as the unevaluated words ``hi + mid + lo``: hi has 24 bits, so that it
    is exact in float32 and float64, and rest + hi is exact where rest is near -hi (Sterbenz); mid = c - hi
    and lo = c - hi - mid (rounded to float64) follow, each sum exact or rounded once where rest + c is small.
    y + lambda alpha at y = -1.7580993408473768 then keeps its digits (c - fl(c) is 1e-17: a constant
    rounded to one float64 gets none of them right)."""

    nargs = 4


class ErfcScaled(sympy.Function):
    """erfc(rest * c) for a constant c that float32 does not hold: ``(rest, hi32, lo32, hi64, lo64)`` with hi = c
    rounded to the type's precision and lo = c - hi.  erfc's relative condition number is about 2 w^2, so the
    rounding of w = rest * c alone cost 500 ulp at w = 19 (gelu at x = -27); printed as erfc(w) (1 - 2 w d),
    with d = rest * c - w recovered by an fma: erfc(w + d) = erfc(w) (1 - 2 w d) to within d / w, below an ulp."""

    nargs = 5


class ExpOfSquare(sympy.Function):
    """exp(c w^2) for a number c that float32 and float64 hold exactly: ``(w, c)``.  exp's relative condition
    number is |c w^2|, so the rounding of w*w alone cost 70 ulp at c w^2 = -360 (gelu' at x = -27); printed as
    exp(t) (1 + r) with t = c (w*w) and r = c w^2 - t recovered exactly by two fmas."""

    nargs = 2


class ExpTimes(sympy.Function):
    """m exp(a) for a power of two m: ``(a, m)``.  Printed as kernel_lib._mul_exp(m, a, e): m enters exp's own
    scaling by 2**k, so that where exp(a) alone is subnormal the product keeps its digits (the float64 vjp's lift
    of f'(x) by 2**600, symact.emit._lifted_derivative)."""

    nargs = 2


class ErfcTimes(sympy.Function):
    """m erfc(w) for a constant m: ``(w, m)``.  Printed as kernel_lib._mul_erfc(m, w, e), m inside erfc's exp
    scaling (the printer's m erfc(w) rule takes only an m that depends on x; the lift of f'(x) by 2**600 needs
    it for a constant m)."""

    nargs = 2


class LinearByRoot(sympy.Function):
    """a v + b for rationals a (not +-1), b != 0 whose root -b/a float32 holds: ``(v, b/a, a)``.  a v + b rounds
    a v and then cancels near the root (hard sigmoid x/6 + 1/2 lost every digit at x = -3 + 2**-40); printed as
    (v + b/a) a, or (v + b/a)/d for a = 1/d, v + b/a is exact near the root (Sterbenz) and the value rounds
    once or twice."""

    nargs = 3


def _affine_in_erfc(piecewise: sympy.Piecewise):
    """(E, [(a, b) per branch]) where every branch of ``piecewise`` is a + b E for numbers a, b and one erfc(w) (or
    its corrected form) E, at least one b nonzero; else None."""
    found = {e for v, _ in piecewise.args for e in v.atoms(sympy.erfc, ErfcScaled)}
    if len(found) != 1 or piecewise.args[-1][1] is not sympy.true:
        return None
    (erfc,) = found
    pairs = []
    for value, _ in piecewise.args:
        b = sympy.expand(value).coeff(erfc)
        a = sympy.expand(value - b * erfc)
        if not (a.is_Number and b.is_Number):
            return None
        pairs.append((a, b))
    return (erfc, pairs) if any(b != 0 for _, b in pairs) else None


def _is_constant(e) -> bool:
    return not e.free_symbols and e.is_number and e.is_extended_real is True and e.is_finite is True


def fold_constants(expr: sympy.Expr) -> sympy.Expr:
    """Every constant subexpression (sqrt(2), pi, sqrt(2)/(2 sqrt(pi)), products of them) as one correctly
    rounded float, evaluated once at generation time; a sum ``rest + c`` with a constant that float32 does not
    hold exactly as :class:`AddConstant`.  Plain numbers (Integer, Rational, Float) are left as they are: the
    printer rounds them correctly."""
    if expr.is_Atom:
        if isinstance(expr, sympy.NumberSymbol):
            return _folded(expr)
        return expr
    if _is_constant(expr) and not expr.is_Number:
        return _folded(expr)
    if expr.is_Pow and expr.exp in (sympy.S.Half, -sympy.S.Half) and square_plus(expr.base) is not None:
        # sqrt(w^2 + c) stays one for the printer's hypot (an AddConstant of c = 1e-6 hid it: inf past 1e154)
        w, c = square_plus(expr.base)
        return sympy.Pow(fold_constants(w) ** 2 + c, expr.exp, evaluate=False)
    if isinstance(expr, sympy.exp) and expr.args[0].is_Mul and len(expr.args[0].args) == 2:
        c, square = expr.args[0].as_coeff_Mul()
        if (
            c.is_Number
            and c != 1
            and square.is_Pow
            and square.exp == 2
            and c == sympy.Rational(correctly_rounded(c, 24))
        ):
            return ExpOfSquare(fold_constants(square.base), c)
    if isinstance(expr, sympy.erfc) and expr.args[0].is_Mul:
        const = [a for a in expr.args[0].args if _is_constant(a)]
        if const:
            c = sympy.Mul(*const)
            hi = correctly_rounded(c, 24)
            if c != sympy.Rational(hi):
                rest = fold_constants(sympy.Mul(*[a for a in expr.args[0].args if not _is_constant(a)]))
                hi64 = correctly_rounded(c)
                words = (
                    hi,
                    correctly_rounded(c - sympy.Rational(hi)),
                    hi64,
                    correctly_rounded(c - sympy.Rational(hi64)),
                )
                return ErfcScaled(rest, *(sympy.Float(v) for v in words))
    linear = _linear_by_its_root(expr)
    if linear is not None:
        return LinearByRoot(*linear)
    if isinstance(expr, (sympy.Mul, sympy.Add)):
        const = [a for a in expr.args if _is_constant(a)]
        if not const or (len(const) == 1 and const[0].is_Number and not isinstance(expr, sympy.Add)):
            args = [fold_constants(a) for a in expr.args]
            return expr.func(*args, evaluate=False) if args != list(expr.args) else expr
        rest = [fold_constants(a) for a in expr.args if not _is_constant(a)]
        if isinstance(expr, sympy.Add):
            c = sympy.Add(*const)
            hi = correctly_rounded(c, 24)
            if c != sympy.Rational(hi):  # not held exactly by float32: hi + mid + lo
                mid = correctly_rounded(c - sympy.Rational(hi))
                lo = correctly_rounded(c - sympy.Rational(hi) - sympy.Rational(mid))
                words = (sympy.Float(hi), sympy.Float(mid), sympy.Float(lo))
                return AddConstant(sympy.Add(*rest, evaluate=False), *words)
            if rest == [a for a in expr.args if not _is_constant(a)] and len(const) == 1 and const[0].is_Number:
                return expr
            return sympy.Add(sympy.Rational(hi), *rest, evaluate=False)
        return sympy.Mul(_folded(sympy.Mul(*const)), *rest, evaluate=False)
    args = [fold_constants(a) for a in expr.args]
    return expr.func(*args) if args != list(expr.args) else expr


def _exact_in_float32(q: sympy.Rational) -> bool:
    """Whether the rational ``q`` is a float32 number (and so a float64 one): a dyadic with a 24-bit numerator."""
    return q.q & (q.q - 1) == 0 and abs(q.p) < 2**24 and q.q <= 2**126


def _linear_by_its_root(expr: sympy.Expr):
    """``(v, b/a, a)`` where ``expr`` is a v + b with a symbol v, rationals a (not +-1) and b != 0, and b/a a
    float32 number (the root is printed exactly); else None."""
    if not expr.is_Add or len(expr.args) != 2:
        return None
    b, term = expr.as_coeff_Add()
    if not b.is_Rational or b == 0:
        return None
    a, v = term.as_coeff_Mul()
    if not (v.is_Symbol and a.is_Rational and abs(a) != 1):
        return None
    shift = b / a
    return (v, shift, a) if _exact_in_float32(shift) else None


#: the argument of a function whose sensitivity to its argument's rounding :func:`amplifies_rounding` measures
ARGUMENT = sympy.Symbol("_w", real=True)
#: where that sensitivity is measured, and the condition number above which the argument's rounding is corrected
_PROBES = (-60, -20, 20, 60)
_AMPLIFICATION = 4


@functools.lru_cache(maxsize=256)
def amplifies_rounding(outer: sympy.Expr) -> bool:
    """Whether ``outer``, a function of :data:`ARGUMENT` w, turns a small relative error of w into a large one:
    its condition number |w f'(w) / f(w)|, evaluated with mpmath at w = +-20 and +-60, above 4 at one of them.
    exp(w) (|w|), sigma(w) and softplus(w) in their left tails (|w|), erfc(w) (2 w^2) amplify; tanh, erf, sqrt
    and log do not.  The rounding of an argument 1.702 x costs 35 ulp in sigma(1.702 x) at x = -47, which the
    printer corrects for where this holds (:meth:`KernelPrinter._corrected`)."""
    value = Scalar(outer, (ARGUMENT,))
    slope = Scalar(sympy.diff(outer, ARGUMENT), (ARGUMENT,))
    for w in _PROBES:
        try:
            f, d = value(w), slope(w)
        except (TypeError, ValueError):  # complex there (log(w) at w < 0): not in the function's real domain
            continue
        if f is None or d is None or f == 0 or not (mpmath.isfinite(f) and mpmath.isfinite(d)):
            continue
        if abs(w * d / f) > _AMPLIFICATION:
            return True
    return False


def _power_of_two(c: sympy.Expr) -> bool:
    """Whether the number ``c`` is +-2^k: a product with it is exact (barring overflow and underflow)."""
    if not c.is_Rational or c == 0:
        return False
    p, q = abs(c.p), c.q
    return p & (p - 1) == 0 and q & (q - 1) == 0


def helper_name(function: type) -> str:
    """The name of the helper a generated module defines for a named primitive."""
    return f"_{function.__name__}"


#: math functions and the vectorisable :mod:`symact.vecmath` function that replaces each with ``vec=True``
VECMATH = {
    "math.exp": "vexp",
    "math.expm1": "vexpm1",
    "math.log": "vlog",
    "math.log1p": "vlog1p",
    "math.tanh": "vtanh",
    "math.erf": "verf",
    "math.erfc": "verfc",
}


class KernelPrinter(PythonCodePrinter):
    """Scalar ``math.*`` code for Numba kernels; strict about what it can print.

    With the setting ``vec=True`` the transcendental functions print as the vectorisable
    :mod:`symact.vecmath` functions (``vexp``, ``vlog1p``, ...) and ``Piecewise`` as ``select(c, a, b)``
    (both arms computed, then selected: a branch-free loop body), which the module must define.  With
    ``typed="x"`` numbers print as ``_lit(c, x)``: the constant in the type of ``x``, so that a float32
    argument is computed in float32."""

    _default_settings = {**PythonCodePrinter._default_settings, "vec": False, "typed": None}

    def __init__(self, settings=None):
        super().__init__({"strict": True, "fully_qualified_modules": True, **(settings or {})})
        self._correcting = False

    # --- the rounding error of a computed argument -------------------------------------------------------------

    def _number_error(self, c: sympy.Expr) -> str | None:
        """Code of c - fl(c), the part of the constant c that its literal does not hold (float32: c - the
        float32 rounding of its float64 literal), or None where the literal is exact."""
        exact = sympy.Rational(c)
        hi = float(exact)
        lo64 = float(exact - sympy.Rational(hi))
        like = self._settings["typed"]
        lo32 = float(exact - sympy.Rational(float(np.float32(hi)))) if like else 0.0
        if lo64 == 0.0 and lo32 == 0.0:
            return None
        if not like:
            return self._number(lo64)
        return f"select(_is32({like}), {self._number(lo32)}, {self._number(lo64)})"

    def _with_error(self, expr: sympy.Expr) -> tuple[str, str | None]:
        """(code computing ``expr``, code of its rounding error to first order, or None where it is exact) for
        sums, products, quotients and small powers of symbols and constants: each product's error from an FMA,
        each sum's from TwoSum, each constant's from its literal's rounding, propagated to first order (the
        compensated evaluation of Ogita, Rump and Oishi).  Anything else counts as exact: its own error is its
        own printer's business."""
        if expr.is_Number:
            return self._print(expr), (None if expr.is_Integer else self._number_error(expr))
        if isinstance(expr, AddConstant):
            rest, hi, mid, lo = expr.args
            r, er = self._with_error(rest)
            h = self._print(hi)
            s = f"({r} + {h})"
            terms = [f"_two_sum({r}, {h})[1]", er, self._print(mid), self._print(lo)]
            return s, " + ".join(t for t in terms if t)
        if isinstance(expr, LinearByRoot):
            v, shift, a = expr.args
            return self._with_error(sympy.Mul(sympy.Add(v, shift, evaluate=False), a, evaluate=False))
        if expr.is_Add:
            parts = [self._with_error(term) for term in expr.args]
            if not self._tracked(expr, expr.args, parts):
                return self._operand(expr), None
            code, err = parts[0]
            for b, eb in parts[1:]:
                s = f"({code} + {b})"
                terms = [f"_two_sum({code}, {b})[1]", err, eb]
                code, err = s, " + ".join(t for t in terms if t)
            return code, err
        if isinstance(expr, sympy.exp) and self._settings["typed"]:  # e = exp(v): its own error, and v's times e
            v, ev = self._with_error(expr.args[0])
            e = f"vexp({v})"
            terms = [f"_exp_error({v}, {e})", f"{e}*({ev})" if ev else None]
            return e, " + ".join(t for t in terms if t)
        if (
            isinstance(expr, softplus) and self._settings["typed"]
        ):  # s = softplus(v): its own error, and v's times sigma(v)
            v, ev = self._with_error(expr.args[0])
            terms = [f"_softplus_parts({v})[1]", f"_sigmoid({v})*({ev})" if ev else None]
            return f"_softplus_parts({v})[0]", " + ".join(t for t in terms if t)
        if isinstance(expr, sympy.Abs):  # |v|: exact; its error is v's, with v's sign
            v, ev = self._with_error(expr.args[0])
            if ev is None:
                return self._operand(expr), None
            return f"abs({v})", f"select({v} < {self._number(0.0)}, -({ev}), {ev})"
        if expr.is_Pow and expr.exp in (2, 3):
            return self._with_error(sympy.Mul(*[expr.base] * int(expr.exp), evaluate=False))
        if expr.is_Mul:
            c, rest = expr.as_coeff_Mul()
            if c != 1 and _power_of_two(c) and rest != 1:  # exact: -w, w/2, 4 w
                code, err = self._with_error(rest)
                if c == -1:
                    return f"(-{code})", (f"(-({err}))" if err else None)
                k = self._print(c)
                return f"({code}*{k})", (f"({err})*{k}" if err else None)
            # divisors last: -|x|/alpha as |x| / alpha (a quotient, correctly rounded), not (1/alpha) |x|
            factors = sorted(expr.args, key=lambda f: f.is_Pow and f.exp == -1)
            divisor = [f.is_Pow and f.exp == -1 for f in factors]
            operands = [f.base if d else f for f, d in zip(factors, divisor)]
            parts = [self._with_error(f) for f in operands]
            if not self._tracked(expr, operands, parts):
                return self._operand(expr), None
            code, err = parts[0]
            for (b, eb), quotient in zip(parts[1:], divisor[1:]):
                if quotient:  # q = a / b: (fma(-q, b, a) + ea - q eb) / b
                    q = f"({code}/{b})"
                    num = [f"fma(-{q}, {b}, {code})", err, f"-{q}*({eb})" if eb else None]
                    code, err = q, f"({' + '.join(t for t in num if t)})/{b}"
                    continue
                p = f"({code}*{b})"
                terms = [f"fma({code}, {b}, -{p})", f"{code}*({eb})" if eb else None, f"{b}*({err})" if err else None]
                code, err = p, " + ".join(t for t in terms if t)
            return code, err
        return self._operand(expr), None

    def _operand(self, expr: sympy.Expr) -> str:
        """``expr`` printed as one operand of a product (a sum parenthesised): the corrected forms interpolate it."""
        return self.parenthesize(expr, sympy.printing.precedence.PRECEDENCE["Mul"])

    def _tracked(self, expr: sympy.Expr, operands, parts) -> bool:
        """Whether an operation's own rounding error is tracked: where an operand is a constant (1.702 x,
        x + 0.5), carries an error already, or the operation is of the variable alone (x x).  The products and
        sums of the variable with runtime parameters (beta x, x / alpha) are not: corrected per element, they
        cost swish and celu 1.2-2.8x their time, and the catalog's bounds are measured at the parameters'
        defaults."""
        if any(o.is_Number for o in operands) or any(e is not None for _, e in parts):
            return True
        like = self._settings["typed"]
        return like is None or {s.name for s in expr.free_symbols} <= {like}

    def _corrected(self, probe: sympy.Expr, slope: sympy.Expr, argument: sympy.Expr, call) -> str | None:
        """``call(w)`` plus ``slope`` (the derivative with respect to :data:`ARGUMENT`) times the rounding error of
        the computed argument w, where ``probe`` (a function of :data:`ARGUMENT`) :func:`amplifies_rounding` and
        w is not exact; None elsewhere.  The correction is dropped where it is not finite (w = +-inf)."""
        if not self._settings["vec"] or self._correcting:
            return None
        w, err = self._with_error(argument)
        if err is None or not amplifies_rounding(probe):
            return None
        self._correcting = True
        try:
            named = sympy.Symbol(w, real=True)
            d = self._print(slope.xreplace({ARGUMENT: named}))
        finally:
            self._correcting = False
        return f"_plus_finite({call(w)}, ({d})*({err}))"

    def corrected_call(self, pattern: sympy.Expr, argument: sympy.Expr, template: str) -> str:
        """``template`` (code with ``{w}`` for the argument) for ``pattern`` (a function of :data:`ARGUMENT`) at
        ``argument``, corrected for the argument's rounding where that matters."""
        slope = sympy.diff(pattern, ARGUMENT)
        s = sympy.Dummy("s")
        by_sigma = slope.subs(sigmoid(ARGUMENT), s)
        if not by_sigma.has(sigmoid):  # a polynomial in sigma(w) and w: factored, sigma computed once, and a
            # factor sigma(w) - 1 as -sigma(-w), which does not cancel (sigma(2x + 1)' in float32 at x = 32: the
            # correction was 0 and the derivative 52 ulp off)
            slope = sympy.factor(by_sigma).subs(s - 1, -sigmoid(-ARGUMENT)).subs(s, sigmoid(ARGUMENT))
        fixed = self._corrected(pattern, slope, argument, lambda w: template.format(w=w))
        return fixed or template.format(w=self._print(argument))

    def _print_vecmath(self, expr):
        name = f"math.{type(expr).__name__}"
        function = VECMATH[name] if self._settings["vec"] else name
        if len(expr.args) == 1:
            outer = type(expr)(ARGUMENT)
            fixed = self._corrected(outer, sympy.diff(outer, ARGUMENT), expr.args[0], lambda w: f"{function}({w})")
            if fixed:
                return fixed
        args = ", ".join(self._print(a) for a in expr.args)
        return f"{function}({args})"

    _print_exp = _print_expm1 = _print_log = _print_log1p = _print_vecmath
    _print_tanh = _print_erf = _print_erfc = _print_vecmath

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond is not sympy.true:
            raise ValueError(f"a Piecewise without an otherwise branch cannot be compiled: {expr}")
        code = self._print(last)
        if self._settings["vec"]:  # every arm computed, then selected: no branch in the loop body
            for value, condition in reversed(branches):
                code = f"select({self._print(condition)}, {self._print(value)}, {code})"
            return code
        for value, condition in reversed(branches):
            code = f"{self._print(value)} if {self._print(condition)} else {code}"
        return f"({code})"

    def _number(self, value: float) -> str:
        like = self._settings["typed"]
        return f"_lit({value!r}, {like})" if like else repr(value)

    def _print_Rational(self, expr):
        return self._number(float(expr))

    def _print_Integer(self, expr):
        return self._number(float(expr))

    def _print_Float(self, expr):
        return self._number(correctly_rounded(expr))

    def _print_Half(self, expr):
        return self._number(0.5)

    def _print_Max(self, expr):  # a ternary (a select with vec) keeps the loop free of max()'s dispatch
        return self._extremum(expr, ">=")

    def _print_Min(self, expr):
        return self._extremum(expr, "<=")

    def _extremum(self, expr, op):
        a, *rest = expr.args
        code = self._print(a)
        for b in rest:
            pb = self._print(b)
            code = (
                f"select({code} {op} {pb}, {code}, {pb})"
                if self._settings["vec"]
                else f"({code} if {code} {op} {pb} else {pb})"
            )
        return code

    def _print_sign(self, expr):  # sign(w): 1, -1, or w itself at +-0 and nan; a select with vec
        w = self._print(expr.args[0])
        one, minus = self._number(1.0), self._number(-1.0)
        if self._settings["vec"]:
            return f"select({w} > {self._number(0.0)}, {one}, select({w} < {self._number(0.0)}, {minus}, {w}))"
        return f"({one} if {w} > 0.0 else ({minus} if {w} < 0.0 else {w}))"

    def _exp_of_square_parts(self, expr) -> tuple[str, str]:
        """(t, e) for exp(c w^2): t = (w w) c as computed and e = c w^2 - t, its rounding error (two fmas).  w is
        parenthesised: exp(-(x - 1)^2/2) printed its square as x + -1.0*x + -1.0."""
        w = self.parenthesize(expr.args[0], sympy.printing.precedence.PRECEDENCE["Mul"])
        c = self._print(expr.args[1])
        p = f"({w}*{w})"
        t = f"({p}*{c})"
        return t, f"(fma({c}, {p}, -{t}) + {c}*fma({w}, {w}, -{p}))"

    def _print_ExpOfSquare(self, expr):
        if not self._settings["vec"]:
            w = self.parenthesize(expr.args[0], sympy.printing.precedence.PRECEDENCE["Mul"])
            c = self._print(expr.args[1])
            return f"math.exp(({w}*{w})*{c})"
        t, r = self._exp_of_square_parts(expr)
        one = self._number(1.0)
        # the correction only where it is finite (|t| < 1000: exp(t) is 0 or inf beyond, and w*w = inf gives nan)
        return f"(vexp({t})*select(abs({t}) < {self._number(1000.0)}, {one} + {r}, {one}))"

    def _print_ExpTimes(self, expr):
        return self._times(expr, "math.exp", "_mul_exp")

    def _print_ErfcTimes(self, expr):
        return self._times(expr, "math.erfc", "_mul_erfc")

    def _times(self, expr, scalar: str, helper: str) -> str:
        """m f(w) for ExpTimes and ErfcTimes (``(w, m)``): the kernel-library ``helper(m, w, e)``, e the rounding
        error of a computed w; ``m*scalar(w)`` outside vectorised code."""
        w, m = expr.args
        if not self._settings["vec"]:
            return f"({self._print(m)}*{scalar}({self._print(w)}))"
        t, e = self._with_error(w)
        return f"{helper}({self._print(m)}, {t}, {e or self._number(0.0)})"

    def _print_ErfcScaled(self, expr, m: str | None = None):
        """erfc(rest c) corrected for the rounding of w = rest c; ``m``: the code of a factor, m erfc(...) by
        kernel_lib._mul_erfc (a subnormal erfc(w) scaled back by m without losing its digits)."""
        rest = self.parenthesize(expr.args[0], sympy.printing.precedence.PRECEDENCE["Mul"])

        def corrected(hi, lo):
            hi, lo = self._print(hi), self._print(lo)
            w = f"({rest}*{hi})"
            two, one = self._number(2.0), self._number(1.0)
            factor = f"({one} - {two}*{w}*(fma({rest}, {hi}, -{w}) + {rest}*{lo}))"
            if m is not None:  # the residual d joins m erfc's exponent: erfc(w + d), no rounding of its own
                return f"_mul_erfc({m}, {w}, fma({rest}, {hi}, -{w}) + {rest}*{lo})"
            # only where erfc(w) has not underflowed (w < 27): at w = inf the factor is nan
            return f"(verfc({w})*select({w} < {self._number(64.0)}, {factor}, {one}))"

        if not self._settings["vec"]:
            return f"math.erfc({rest}*{self._print(expr.args[3])})"
        wide = corrected(*expr.args[3:])
        like = self._settings["typed"]
        return f"select(_is32({like}), {corrected(*expr.args[1:3])}, {wide})" if like else wide

    def _print_LinearByRoot(self, expr):
        v, shift, a = expr.args
        # parenthesised whole: it prints as a call would, so nothing around it does (1/(2 x + 2) printed as
        # 1.0/(x + 1.0)*2.0 was 4/(2 x + 2))
        inner = f"({self._print(v)} + {self._print(shift)})"
        if abs(a.p) == 1:
            return f"({'-' if a < 0 else ''}{inner}/{self._print(sympy.Integer(a.q))})"
        return f"({inner}*{self._print(a)})"

    def _print_AddConstant(self, expr):
        rest, hi, mid, lo = expr.args
        return f"((({self._print(rest)} + {self._print(hi)}) + {self._print(mid)}) + {self._print(lo)})"

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == sympy.S.Half and square_plus(base) is not None:  # sqrt(w^2 + c): hypot(w, sqrt(c))
            w, c = square_plus(base)
            root = sympy.Float(correctly_rounded(sympy.sqrt(c)))  # w^2 overflows for |w| > 1e154 (1e19 float32)
            return f"math.hypot({self._print(w)}, {self._print(root)})"
        if exponent.is_Integer and 2 <= int(exponent) <= 4:
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"])
            return "(" + "*".join([b] * int(exponent)) + ")"
        if exponent == -sympy.S.Half and square_plus(base) is not None:  # 1/sqrt(w^2 + c): 1/hypot(w, sqrt(c))
            return f"{self._number(1.0)}/{self._print(sympy.sqrt(base))}"
        if exponent == -1:
            return f"1.0/{self.parenthesize(base, sympy.printing.precedence.PRECEDENCE['Pow'])}"
        if exponent.is_Integer and -4 <= int(exponent) <= -2:  # (1/b)^n: b^n would overflow long before it
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"])
            return "(" + "*".join([f"({self._number(1.0)}/{b})"] * -int(exponent)) + ")"
        return super()._print_Pow(expr, rational=rational)

    def _print_Mul(self, expr):
        if self._settings["vec"]:  # m sigma(w): the helper keeps m sigma(w) accurate where sigma(w) is subnormal
            factors = sympy.Mul.make_args(expr)
            sig = [f for f in factors if isinstance(f, sigmoid)]
            if len(sig) == 1 and len(factors) > 1:
                rest = sympy.Mul(*[f for f in factors if f is not sig[0]])
                return self._mul_sigmoid(self._print(rest), sig[0].args[0])
            # t / (1 + t)^2 for t = exp(a), a <= 0 (sech^2 w = 4 e^(-2|w|) / (1 + e^(-2|w|))^2): the quotient corrected
            # by its residual (kernel_lib._t_over_square), where the plain one rounds four times (2.14 ulp); for an
            # exact a only (a computed a gets exp's argument corrected instead, as gelu_tanh' does)
            for f in factors:
                base = f.base if f.is_Pow and f.exp == -2 else None
                t = next((a for a in base.args if isinstance(a, sympy.exp)), None) if base is not None else None
                if base is not None and base.is_Add and t is not None and base == 1 + t and t in factors:
                    exact = self._with_error(t.args[0])[1] is None  # else exp's argument is corrected (amplified)
                    if t.args[0].is_nonpositive and self._settings["typed"] and exact:
                        rest = sympy.Mul(*[g for g in factors if g is not f and g is not t])
                        call = f"_t_over_square(vexp({self._print(t.args[0])}))"
                        mul = sympy.printing.precedence.PRECEDENCE["Mul"]
                        return call if rest == 1 else f"{self.parenthesize(rest, mul)}*{call}"
            # m erfc(w): m goes inside the scaling of erfc's exp (kernel_lib._mul_erfc), so that a subnormal erfc(w)
            # keeps the digits m scales back (x erfc(x) at x = 26.8: 12.5 -> 0.5 ulp); m times a Piecewise whose
            # branches are a + b erfc(w) for one w (gelu's forward: 2 - erfc(|x|/sqrt 2) or erfc(|x|/sqrt 2)) is
            # a m + b P with P = m erfc(w) computed once, shared by the branches
            if self._settings["typed"] and len(factors) > 1:
                for f in factors:
                    affine = _affine_in_erfc(f) if isinstance(f, sympy.Piecewise) else None
                    rest = sympy.Mul(*[g for g in factors if g is not f])
                    if affine is not None and rest.free_symbols:
                        erfc, branches = affine
                        m = self.parenthesize(rest, sympy.printing.precedence.PRECEDENCE["Mul"])
                        product = self._print(sympy.Mul(rest, erfc, evaluate=False))
                        code = None
                        for (a, b), (_, condition) in reversed(list(zip(branches, f.args))):
                            value = {1: product, -1: f"-{product}"}.get(b, f"{self._number(float(b))}*{product}")
                            if a != 0:
                                value = f"({self._number(float(a))}*{m} + {value})"
                            code = value if code is None else f"select({self._print(condition)}, {value}, {code})"
                        return code
                erfcs = [f for f in factors if isinstance(f, (sympy.erfc, ErfcScaled))]
                if len(erfcs) == 1 and any(f.free_symbols for f in factors if f is not erfcs[0]):
                    rest = self._print(sympy.Mul(*[f for f in factors if f is not erfcs[0]]))
                    if isinstance(erfcs[0], ErfcScaled):
                        return self._print_ErfcScaled(erfcs[0], rest)
                    w, err = self._with_error(erfcs[0].args[0])
                    return f"_mul_erfc({rest}, {w}, {err or self._number(0.0)})"
            # m exp(c w^2): m goes inside exp's scaling (kernel_lib._mul_exp), so that a subnormal exp(c w^2) keeps
            # the digits m scales back (-2 x exp(-x^2) at x = 26.8: 13.5 -> 0.5 ulp)
            gauss = [f for f in factors if isinstance(f, ExpOfSquare)]
            if len(gauss) == 1 and len(factors) > 1:
                rest = sympy.Mul(*[f for f in factors if f is not gauss[0]])
                t, e = self._exp_of_square_parts(gauss[0])
                return f"_mul_exp({self._print(rest)}, {t}, {e})"
        # the numeric coefficient last: 4*x*sigma(x)*sigma(-2x) overflows at x = 1e308 where
        # x*sigma(x)*sigma(-2x)*4 does not; one below 1 right after the first factor: x*(2 - erfc(w))*0.5
        # overflows at x = 1e308 where x*0.5*(2 - erfc(w)) does not
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Number and abs(coeff) < 1 and coeff != 0 and rest.is_Mul:
            first, *others = rest.args
            mul = sympy.printing.precedence.PRECEDENCE["Mul"]
            tail = self.parenthesize(sympy.Mul(*others, evaluate=False), mul) if len(others) > 1 else None
            tail = tail or self.parenthesize(others[0], mul)
            if coeff.is_Rational and abs(coeff.p) == 1 and coeff.q & (coeff.q - 1):  # 1/d, d no power of 2:
                # divide (correctly rounded) rather than multiply by 1/d rounded (hard swish x (x + 3)/6:
                # 2.06 -> 1.5 ulp in float32); a power of 2 stays a product, which is the same and faster
                sign = "-" if coeff < 0 else ""
                return f"{sign}{self.parenthesize(first, mul)}/{self._print(sympy.Integer(coeff.q))}*{tail}"
            return f"{self.parenthesize(first, mul)}*{self._print(coeff)}*{tail}"
        if coeff.is_Number and coeff not in (1, -1) and rest != 1 and rest.is_Mul is not None:
            body = self.parenthesize(rest, sympy.printing.precedence.PRECEDENCE["Mul"])
            return f"{body}*{self._print(coeff)}"
        below = [f for f in sympy.Mul.make_args(expr) if f.is_Pow and f.exp.is_negative]
        if len(below) > 1:  # one division each: a product of denominators overflows (1/(s h) at s = h = 1e155)
            above = sympy.Mul(*[f for f in sympy.Mul.make_args(expr) if f not in below])
            mul = sympy.printing.precedence.PRECEDENCE["Mul"]
            text = self.parenthesize(above, mul) if above != 1 else self._number(1.0)
            return text + "".join(
                f"/{self.parenthesize(1 / f, sympy.printing.precedence.PRECEDENCE['Pow'])}" for f in below
            )
        return super()._print_Mul(expr)

    def _mul_sigmoid(self, m: str, argument: sympy.Expr) -> str:
        """m sigma(w): ``_mul_sigmoid``, or ``_mul_sigmoid_at`` with the rounding error of a computed w."""
        if self._settings["vec"] and not self._correcting and amplifies_rounding(sigmoid(ARGUMENT)):
            w, err = self._with_error(argument)
            if err is not None:
                return f"_mul_sigmoid_at({m}, {w}, {err})"
        return f"_mul_sigmoid({m}, {self._print(argument)})"

    def _print_Function(self, expr):
        if isinstance(expr, sigmoid) and self._settings["vec"] and not self._correcting:
            fixed = self._mul_sigmoid(self._number(1.0), expr.args[0])
            if "_mul_sigmoid_at" in fixed:
                return fixed
        if isinstance(expr, NamedFunction):
            if len(expr.args) == 1:
                outer = type(expr)(ARGUMENT)
                name = helper_name(type(expr))
                slope = sympy.diff(outer, ARGUMENT)
                fixed = self._corrected(outer, slope, expr.args[0], lambda w: f"{name}({w})")
                if fixed:
                    return fixed
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{helper_name(type(expr))}({args})"
        return super()._print_Function(expr)

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


def kernel_code(expr: sympy.Expr, names: dict | None = None, vec: bool = False, typed: str | None = None) -> str:
    """``expr`` as one line of scalar Python for a Numba kernel; ``names`` renames symbols; ``vec`` prints
    exp, log1p, tanh, ... as the vectorisable :mod:`symact.vecmath` functions (``vexp``, ``vlog1p``, ...);
    ``typed`` names the variable whose type the numbers take (``_lit(1.0, x)``).

    >>> from sympy import exp, tanh
    >>> from symact.catalog.symbols import x
    >>> print(kernel_code(exp(-x) + tanh(x), vec=True))
    vtanh(x) + vexp(-x)
    """
    if names:
        expr = expr.xreplace(names)
    expr = fold_constants(expr)
    return KernelPrinter({"vec": vec, "typed": typed}).doprint(expr)


def call_code(pattern: sympy.Expr, argument: sympy.Expr, template: str, typed: str = "x") -> str:
    """A kernel-library call ``template`` (code with ``{w}``) computing ``pattern`` (a function of
    :data:`ARGUMENT`) at ``argument``, vectorised, plus the pattern's slope times the rounding error of the
    computed argument where the pattern amplifies it ((w sigma(w))' at w = 1.702 x)."""
    printer = KernelPrinter({"vec": True, "typed": typed})
    return printer.corrected_call(pattern, fold_constants(argument), template)
