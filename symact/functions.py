"""Named SymPy functions, so that derivations print the way textbooks write them.

``diff(1/(1 + exp(-x)), x)`` is ``exp(-x)/(1 + exp(-x))**2`` to SymPy; a textbook writes
sigma(x)(1 - sigma(x)).  The classes here carry the textbook rules: each knows its derivative
(``fdiff``), its special values (``eval``), its LaTeX, and its definition in plain exp/log maths
(``rewrite(exp)`` or :func:`expand_named`).

>>> from sympy import Symbol, diff
>>> x = Symbol("x", real=True)
>>> diff(sigmoid(x), x)
(1 - sigmoid(x))*sigmoid(x)
>>> sigmoid(x).rewrite("exp")
1/(1 + exp(-x))
"""

from __future__ import annotations

import sympy
from sympy import Function, S, exp, log, tanh

__all__ = ["NamedFunction", "sigmoid", "softplus", "NAMED_FUNCTIONS", "expand_named", "recognise", "square_plus"]


class NamedFunction(Function):
    """A function of one argument with a plain-maths definition.

    Subclasses define :meth:`definition` (the exp/log form) and ``latex_name``.
    """

    nargs = 1
    latex_name = ""

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return self.definition(arg)

    _eval_rewrite_as_log = _eval_rewrite_as_exp

    def _eval_evalf(self, prec):
        return self.definition(self.args[0])._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_extended_real

    def _eval_is_finite(self):
        return self.args[0].is_finite

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        body = rf"{self.latex_name}\left({arg}\right)"
        if exp is not None:
            return rf"{body}^{{{exp}}}"
        return body


class sigmoid(NamedFunction):
    r"""The logistic sigmoid, :math:`\sigma(x) = 1/(1 + e^{-x})`, with :math:`\sigma' = \sigma(1-\sigma)`."""

    latex_name = r"\sigma"

    @classmethod
    def definition(cls, arg):
        return 1 / (1 + exp(-arg))

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return S.Half
        if arg is S.Infinity:
            return S.One
        if arg is S.NegativeInfinity:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_tanh(self, arg, **kwargs):
        return (1 + tanh(arg / 2)) / 2

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None


class softplus(NamedFunction):
    r"""The softplus, :math:`\operatorname{softplus}(x) = \log(1 + e^{x})`, with derivative :math:`\sigma(x)`."""

    latex_name = r"\operatorname{softplus}"

    @classmethod
    def definition(cls, arg):
        return log(1 + exp(arg))

    @classmethod
    def eval(cls, arg):
        if arg is S.NegativeInfinity:
            return S.Zero
        if arg is S.Infinity:
            return S.Infinity
        if arg.is_zero:
            return log(2)
        return None

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None


#: Every named function, by the name a user writes.
NAMED_FUNCTIONS: dict[str, type[NamedFunction]] = {"sigmoid": sigmoid, "softplus": softplus}


def expand_named(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite every named function into its plain exp/log definition."""
    return expr.replace(lambda e: isinstance(e, NamedFunction), lambda e: e.definition(e.args[0]))


_w = sympy.Wild("w")
#: (pattern, replacement) pairs that recognise plain maths as a named function, applied in order.
_RECOGNISERS = (
    (1 / (1 + exp(-_w)), sigmoid(_w)),
    (exp(_w) / (1 + exp(_w)), sigmoid(_w)),
    (1 / (1 + exp(_w)), sigmoid(-_w)),
    (log(1 + exp(_w)), softplus(_w)),
)


def recognise(expr: sympy.Expr) -> sympy.Expr:
    """Replace plain-maths subexpressions by the named function they define.

    >>> from sympy import Symbol, exp, log
    >>> x = Symbol("x", real=True)
    >>> recognise(x * tanh(log(1 + exp(x))))
    x*tanh(softplus(x))
    """
    for pattern, replacement in _RECOGNISERS:
        expr = expr.replace(pattern, replacement)
    return expr


def square_plus(base: sympy.Expr):
    """(w, c) for ``base`` = w**2 + c with c a positive number, else None; a positive factor of the square goes
    into w (x**2/4 + 1: w = x/2)."""
    if not base.is_Add:
        return None
    c = sum((t for t in base.args if t.is_number), sympy.S.Zero)
    rest = [t for t in base.args if not t.is_number]
    if not (c.is_positive and len(rest) == 1):
        return None
    k, square = rest[0].as_coeff_Mul()
    if not (k.is_positive and square.is_Pow and square.exp == 2):
        return None
    return sympy.sqrt(k) * square.base, c
