"""A compute form printed in double-double arithmetic: the accuracy net of a float64 kernel.

A float64 kernel whose plain form, measured at generation time, misses its bound because roundings compound
(sigma(x)^2 squares sigma's rounding; tanh(tanh(x)) passes one tanh's rounding through another) computes the same
form on pairs (h, lo), h + l the value to about 2**-60, with the :mod:`symact.kernel_lib` functions ``_ddx_*`` and
rowlib.dd's arithmetic, and rounds once at the end.  The printer is keyed on the shape of the expression only:

- sums, products, quotients, integer powers and square roots: exact transformations (TwoSum, an fma);
- exp, expm1, log, log1p, tanh, sigma, softplus, abs, max, min, Piecewise: their double-double forms;
- constants as the pair of their two nearest doubles (pi: 3.141592653589793 + 1.2246467991473532e-16);
- any other function f(w) (erf, erfc, ...): f(h) in plain float64 plus f'(h) l, the first-order effect of its
  argument's low part, so that only f's own rounding remains.

Where a pair is not finite (an intermediate overflowed) the kernel keeps its plain float64 value there
(``_ddx_value``).
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from .functions import sigmoid, softplus
from .printer import KernelPrinter, correctly_rounded

__all__ = ["DoubleDoubleUnsupported", "dd_function"]

#: one-argument functions with a double-double form in symact.kernel_lib
_UNARY = {
    sympy.exp: "_ddx_exp",
    expm1: "_ddx_expm1",
    sympy.log: "_ddx_log",
    log1p: "_ddx_log1p",
    sympy.tanh: "_ddx_tanh",
    sigmoid: "_ddx_sigmoid",
    softplus: "_ddx_softplus",
    sympy.Abs: "_ddx_abs",
}

#: the largest integer power printed as products (beyond it: exp(n log b))
_MAX_POWER = 64


class DoubleDoubleUnsupported(ValueError):
    """The expression has a part the double-double printer cannot compute (a symbol other than the variable)."""


class _Printer:
    def __init__(self, var: sympy.Symbol):
        self.var = var
        self.lines: list[str] = []
        self.names: dict[sympy.Expr, tuple[str, str]] = {}
        self.plain = KernelPrinter({"vec": True})

    def _emit(self, code: str) -> tuple[str, str]:
        k = len(self.lines)
        self.lines.append(f"    h{k}, l{k} = {code}")
        return f"h{k}", f"l{k}"

    def pair(self, expr: sympy.Expr) -> tuple[str, str]:
        if expr in self.names:
            return self.names[expr]
        result = self._pair(expr)
        self.names[expr] = result
        return result

    def _constant(self, c: sympy.Expr) -> tuple[str, str]:
        if isinstance(c, sympy.Float):  # a user's 1.702 is the double nearest it
            return repr(correctly_rounded(c)), "0.0"
        value = sympy.N(c, 40)
        if not value.is_real or not value.is_finite:
            raise DoubleDoubleUnsupported(f"the constant {c} is not a finite real number")
        hi = float(value)
        lo = float(sympy.N(value - sympy.Float(hi, 40), 20))
        return repr(hi), repr(lo)

    def _pair(self, expr: sympy.Expr) -> tuple[str, str]:
        if expr == self.var:
            return self.var.name, "0.0"
        if not expr.free_symbols:
            return self._constant(expr)
        if expr.free_symbols - {self.var}:
            raise DoubleDoubleUnsupported(f"{sympy.sstr(expr)} has symbols other than {self.var}")
        if expr.is_Add:
            h, lo = self.pair(expr.args[0])
            for term in expr.args[1:]:
                th, tl = self.pair(term)
                h, lo = self._emit(f"_dd_add({h}, {lo}, {th}, {tl})")
            return h, lo
        if expr.is_Mul:
            return self._product(expr)
        if expr.is_Pow:
            return self._power(expr.base, expr.exp)
        if type(expr) in _UNARY:
            h, lo = self.pair(expr.args[0])
            return self._emit(f"{_UNARY[type(expr)]}({h}, {lo})")
        if isinstance(expr, (sympy.Max, sympy.Min)):
            fn = "_ddx_max" if isinstance(expr, sympy.Max) else "_ddx_min"
            h, lo = self.pair(expr.args[0])
            for arg in expr.args[1:]:
                bh, bl = self.pair(arg)
                h, lo = self._emit(f"{fn}({h}, {lo}, {bh}, {bl})")
            return h, lo
        if isinstance(expr, sympy.Piecewise):
            *branches, (last, cond) = expr.args
            if cond is not sympy.true:
                raise DoubleDoubleUnsupported(f"a Piecewise without an otherwise branch: {sympy.sstr(expr)}")
            h, lo = self.pair(last)
            for value, condition in reversed(branches):
                test = self.plain.doprint(condition)
                vh, vl = self.pair(value)
                h, lo = self._emit(f"select({test}, {vh}, {h}), select({test}, {vl}, {lo})")
            return h, lo
        return self._function(expr)

    def _function(self, expr: sympy.Expr) -> tuple[str, str]:
        """f(w1, ...) in plain float64 at the high parts, plus sum_i df/dw_i l_i."""
        stand = [sympy.Dummy(f"w{i}", real=True) for i in range(len(expr.args))]
        pairs = [self.pair(a) for a in expr.args]
        applied = expr.func(*stand)
        names = {s: sympy.Symbol(h, real=True) for s, (h, _) in zip(stand, pairs)}
        value = self.plain.doprint(applied.xreplace(names))
        slopes = []
        for s, (_, lo) in zip(stand, pairs):
            if lo == "0.0":
                continue
            slope = sympy.diff(applied, s)
            try:
                slopes.append(f"({self.plain.doprint(slope.xreplace(names))})*{lo}")
            except Exception:  # a slope with no code (sign's DiracDelta): f's own rounding only
                continue
        return self._emit(f"{value}, {' + '.join(slopes) or '0.0'}")

    def _product(self, expr: sympy.Expr) -> tuple[str, str]:
        c, rest = expr.as_coeff_Mul()
        numerator, denominator = [], []
        for factor in sympy.Mul.make_args(rest):
            if factor.is_Pow and factor.exp.is_Integer and factor.exp < 0:
                denominator.append(factor.base ** (-factor.exp))
            else:
                numerator.append(factor)
        h, lo = self._chain(numerator)
        if denominator:
            dh, dl = self._chain(denominator)
            h, lo = self._emit(f"_vdd_div({h}, {lo}, {dh}, {dl})")
        if c == 1:
            return h, lo
        if c == -1:
            return self._emit(f"-{h}, -{lo}")
        ch, cl = self._constant(c)
        return self._emit(f"_vdd_mul({ch}, {cl}, {h}, {lo})")

    def _chain(self, factors: list[sympy.Expr]) -> tuple[str, str]:
        if not factors:
            return "1.0", "0.0"
        h, lo = self.pair(factors[0])
        for factor in factors[1:]:
            fh, fl = self.pair(factor)
            h, lo = self._emit(f"_vdd_mul({h}, {lo}, {fh}, {fl})")
        return h, lo

    def _power(self, base: sympy.Expr, exp: sympy.Expr) -> tuple[str, str]:
        if exp.is_Integer and 0 < abs(int(exp)) <= _MAX_POWER:
            n = abs(int(exp))
            bh, bl = self.pair(base)
            result = None
            while n:
                if n & 1:
                    step = f"_vdd_mul({result[0]}, {result[1]}, {bh}, {bl})" if result else None
                    result = (bh, bl) if result is None else self._emit(step)
                n >>= 1
                if n:
                    bh, bl = self._emit(f"_vdd_mul({bh}, {bl}, {bh}, {bl})")
            if exp < 0:
                result = self._emit(f"_vdd_div(1.0, 0.0, {result[0]}, {result[1]})")
            return result
        if exp == sympy.Rational(1, 2):
            h, lo = self.pair(base)
            return self._emit(f"_ddx_sqrt({h}, {lo})")
        if exp == -sympy.Rational(1, 2):
            h, lo = self._power(base, sympy.Rational(1, 2))
            return self._emit(f"_vdd_div(1.0, 0.0, {h}, {lo})")
        return self.pair(sympy.exp(exp * sympy.log(base), evaluate=False))


def dd_function(name: str, expr: sympy.Expr, var: sympy.Symbol, decorator: str) -> str:
    """The source of ``name(x, plain)``: ``expr`` at a float64 ``x`` in double-double, rounded once, or ``plain``
    (the plain float64 value) where the pair is not finite.  Raises :class:`DoubleDoubleUnsupported`."""
    printer = _Printer(var)
    h, lo = printer.pair(expr)
    lines = [decorator, f"def {name}({var.name}, plain):", *printer.lines, f"    return _ddx_value({h}, {lo}, plain)"]
    return "\n".join(lines) + "\n"
