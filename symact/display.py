r"""Printing for readers: SymPy's str and LaTeX printers, with terms and factors in textbook order.

SymPy orders the terms of a sum and the factors of a product by its sort key, which is not the
order a textbook writes: ``-sigmoid(theta) + y`` for y - sigma(theta), and ``log(p[k])*y[k]`` for
y_k log p_k (an indexed symbol sorts after every function, a plain symbol before).  The printers
here change two things, and only the order, so that a printed string reads back (``sympify``) to
the same expression:

* a sum starts with a positive term when it has one (the first such term is moved to the front,
  the rest keep SymPy's order): y - sigma(theta), 1 - y;
* in a product an indexed symbol sorts as the plain symbol it prints as: y_k log p_k,
  p_i (delta_ij - p_j), as x log x and x (1 - x) already do.

Documents, the command line's text and LaTeX, and the JSON display strings all print through
:func:`latex` and :func:`sstr` (or subclass :class:`TextbookStrPrinter`).

>>> from sympy import IndexedBase, Symbol, log
>>> y, p, k = IndexedBase("y"), IndexedBase("p"), Symbol("k")
>>> sstr(log(p[k]) * y[k])
'y[k]*log(p[k])'
>>> latex(p[k] - y[k] ** 2)
'{p}_{k} - {y}_{k}^{2}'
>>> latex(-p[k] + y[k])
'{y}_{k} - {p}_{k}'
"""

from __future__ import annotations

from contextlib import contextmanager

import sympy
from sympy import Indexed, Mul, Number, Pow, S, Symbol
from sympy.core.mul import _keep_coeff
from sympy.printing.latex import LatexPrinter
from sympy.printing.printer import Printer
from sympy.printing.str import StrPrinter

__all__ = ["TextbookLatexPrinter", "TextbookStrPrinter", "latex", "sstr", "textbook_terms", "textbook_factors"]


def textbook_terms(terms: list[sympy.Expr]) -> list[sympy.Expr]:
    """``terms`` (in SymPy's order) with the first positive one moved to the front, if one is not there."""
    first = next((n for n, term in enumerate(terms) if not term.could_extract_minus_sign()), 0)
    return [terms[first], *terms[:first], *terms[first + 1 :]]


def _factor_key(factor: sympy.Expr):
    """SymPy's sort key, with an indexed base (y_k, p_i^2) keyed as the symbol it prints as."""
    base, exponent = factor.as_base_exp()
    if isinstance(base, Indexed):
        return Pow(Symbol(sympy.sstr(base)), exponent, evaluate=False).sort_key()
    return factor.sort_key()


def textbook_factors(expr: sympy.Expr) -> tuple[sympy.Expr, list[sympy.Expr]] | None:
    """(numeric coefficient, the other factors in textbook order) of a product, or None where
    SymPy's own order is already that order (or the product is written as is, with 1 or a number
    after its first factor, which SymPy prints unchanged)."""
    if not isinstance(expr, Mul) or not expr.is_commutative:
        return None
    if expr.args[0] is S.One or any(isinstance(arg, Number) for arg in expr.args[1:]):
        return None
    coeff, rest = expr.as_coeff_Mul()
    if not isinstance(rest, Mul):
        return None
    ordered = rest.as_ordered_factors()
    mine = sorted(ordered, key=_factor_key)
    if mine == ordered:
        return None
    return coeff, mine


class _TextbookOrder:
    """The ordering shared by both printers (a mixin ahead of a SymPy printer class)."""

    _textbook_minus = "-"

    def __init__(self, settings=None):
        super().__init__(settings)
        self._term_order = self._settings.get("order")  #: kept: _print_Mul sets 'none' while it prints

    def _as_ordered_terms(self, expr, order=None):
        return textbook_terms(Printer._as_ordered_terms(self, expr, order=order or self._term_order))

    @contextmanager
    def _factor_order(self, order):
        """Products printed with SymPy's factor order (the one asked for) or, with 'none', as written."""
        saved = self._settings.get("order")
        self._settings["order"] = order
        try:
            yield
        finally:
            self._settings["order"] = saved

    def _print_Mul(self, expr):
        found = textbook_factors(expr)
        if found is None:
            with self._factor_order(self._term_order):  # also inside a product printed as written
                return super()._print_Mul(expr)
        coeff, factors = found
        sign = ""
        if coeff.is_negative:
            sign, coeff = self._textbook_minus, -coeff
        written = Mul._from_args(factors) if coeff is S.One else _keep_coeff(coeff, Mul._from_args(factors))
        with self._factor_order("none"):
            return sign + super()._print_Mul(written)


class TextbookLatexPrinter(_TextbookOrder, LatexPrinter):
    """SymPy's LaTeX printer with textbook order."""

    _textbook_minus = "- "


class TextbookStrPrinter(_TextbookOrder, StrPrinter):
    """SymPy's str printer with textbook order; what it prints, ``sympify`` reads back."""


def latex(expr: sympy.Basic, **settings) -> str:
    """LaTeX of ``expr`` in textbook order (SymPy's ``latex`` settings apply)."""
    return TextbookLatexPrinter(settings).doprint(expr)


def sstr(expr: sympy.Basic, **settings) -> str:
    """``str`` of ``expr`` in textbook order."""
    return TextbookStrPrinter(settings).doprint(expr)
