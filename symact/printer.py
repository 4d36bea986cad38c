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

import sympy
from sympy.printing.pycode import PythonCodePrinter

from .functions import NamedFunction, sigmoid

__all__ = ["KernelPrinter", "kernel_code", "helper_name"]


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

    def _print_vecmath(self, expr):
        name = f"math.{type(expr).__name__}"
        args = ", ".join(self._print(a) for a in expr.args)
        return f"{VECMATH[name] if self._settings['vec'] else name}({args})"

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
        return self._number(float(expr))

    def _print_Half(self, expr):
        return self._number(0.5)

    def _print_Max(self, expr):  # a ternary keeps the loop free of Python's max() dispatch
        a, *rest = expr.args
        code = self._print(a)
        for b in rest:
            pb = self._print(b)
            code = f"({code} if {code} >= {pb} else {pb})"
        return code

    def _print_Min(self, expr):
        a, *rest = expr.args
        code = self._print(a)
        for b in rest:
            pb = self._print(b)
            code = f"({code} if {code} <= {pb} else {pb})"
        return code

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent.is_Integer and 2 <= int(exponent) <= 4:
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"])
            return "(" + "*".join([b] * int(exponent)) + ")"
        if exponent == -1:
            return f"1.0/{self.parenthesize(base, sympy.printing.precedence.PRECEDENCE['Pow'])}"
        return super()._print_Pow(expr, rational=rational)

    def _print_Mul(self, expr):
        if self._settings["vec"]:  # m sigma(w): the helper keeps m sigma(w) accurate where sigma(w) is subnormal
            factors = sympy.Mul.make_args(expr)
            sig = [f for f in factors if isinstance(f, sigmoid)]
            if len(sig) == 1 and len(factors) > 1:
                rest = sympy.Mul(*[f for f in factors if f is not sig[0]])
                return f"_mul_sigmoid({self._print(rest)}, {self._print(sig[0].args[0])})"
        # the numeric coefficient last: 4*x*sigma(x)*sigma(-2x) overflows at x = 1e308 where
        # x*sigma(x)*sigma(-2x)*4 does not
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Number and coeff not in (1, -1) and rest != 1 and rest.is_Mul is not None:
            body = self.parenthesize(rest, sympy.printing.precedence.PRECEDENCE["Mul"])
            return f"{body}*{self._print(coeff)}"
        return super()._print_Mul(expr)

    def _print_Function(self, expr):
        if isinstance(expr, NamedFunction):
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
    return KernelPrinter({"vec": vec, "typed": typed}).doprint(expr)
