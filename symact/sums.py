"""Sums over an index: moving factors in and out, so that the same sum is recognised however it is written."""

from __future__ import annotations

import sympy
from sympy import Add, Mul, Sum

__all__ = ["merge_sums", "normalise_sums"]


def merge_sums(expr: sympy.Expr) -> sympy.Expr:
    """Combine the terms of a sum that are sums over the same range into one sum (inverse of
    :func:`normalise_sums`), keeping a common sign outside."""
    if not isinstance(expr, Add):
        return expr
    groups: dict = {}
    rest = []
    for term in expr.args:
        coeff, body = term.as_coeff_Mul()
        if isinstance(body, Sum) and len(body.limits) == 1:
            groups.setdefault(body.limits, []).append(coeff * body.function)
        else:
            rest.append(term)
    merged = [Sum(Add(*parts), *limits) for limits, parts in groups.items()]
    return Add(*rest, *merged)


def normalise_sums(expr: sympy.Expr) -> sympy.Expr:
    """Split sums over their terms and move factors that do not depend on the index outside.

    >>> from sympy import IndexedBase, Symbol, Sum
    >>> y, k, n, c = IndexedBase("y"), Symbol("k"), Symbol("n"), Symbol("c")
    >>> normalise_sums(Sum(c * y[k] + y[k] ** 2, (k, 0, n - 1)))
    c*Sum(y[k], (k, 0, n - 1)) + Sum(y[k]**2, (k, 0, n - 1))
    """

    def rule(s):
        if len(s.limits) != 1:
            return s
        var = s.limits[0][0]
        total = []
        for term in Add.make_args(sympy.expand(s.function)):
            outside, inside = [], []
            for factor in Mul.make_args(term):
                (inside if var in factor.free_symbols else outside).append(factor)
            total.append(
                Mul(*outside) * (Sum(Mul(*inside), *s.limits) if inside else (s.limits[0][2] - s.limits[0][1] + 1))
            )
        return Add(*total)

    return expr.replace(lambda e: isinstance(e, Sum), rule)
