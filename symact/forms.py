"""Display forms: the compact textbook form of a derivative, and its output form f'(x) = g(f(x)).

Both are found by algorithms, not typed in per function, and :mod:`symact.derive` accepts each
only after :func:`symact.prove.prove_equal` has shown it equal to SymPy's raw derivative.

* :func:`tidy` rewrites an expression among equivalent candidates (as is, expanded, factored,
  collected on the named functions) and keeps the shortest, branch by branch and inside sums.
* :func:`name_intermediates` writes indexed results with named intermediates (exp(a_i) / sum_k
  exp(a_k) becomes p_i), which turns the softmax Jacobian into p_i (delta_ij - p_j).
* :func:`output_form` finds g with f' = g(y), y = f(x): by substituting y for f(x) in the
  textbook form, or, where f is monotonic, by inverting each piece of f (SymPy's ``solve``) and
  mapping each region's condition on x to one on y.  Non-monotonic functions (silu, mish) have none.
"""

from __future__ import annotations

import random

import mpmath
import sympy
from sympy import Add, Mul, Piecewise, Sum, Wild

from .budget import BudgetExceeded, run_limited
from .compute_rules import canonical
from .functions import NamedFunction, expand_named
from .sums import merge_sums, normalise_sums

__all__ = [
    "tidy",
    "display_cost",
    "normalise_sums",
    "merge_sums",
    "name_intermediates",
    "output_form",
    "monotonic_direction",
]


def display_cost(expr: sympy.Expr) -> tuple[int, int]:
    """How long an expression reads: operations first, then leading minus signs, then printed length."""
    return sympy.count_ops(expr), int(expr.could_extract_minus_sign()), len(sympy.sstr(expr))


def _unsigned_cost(expr):
    """display_cost with a leading minus sign free, so that -sum_i (y_i - sigma_i) x_ij ties with
    sum_i (sigma_i - y_i) x_ij and the form closer to the definition (tried first) is kept."""
    return display_cost(-expr if expr.could_extract_minus_sign() else expr)


def absorb_sign(expr: sympy.Expr) -> sympy.Expr:
    """-(a - b) c written as (b - a) c: a leading minus sign moved into a difference factor."""
    if isinstance(expr, Mul) and expr.could_extract_minus_sign():
        coeff, rest = expr.as_coeff_Mul()
        factors = list(Mul.make_args(rest))
        for n, factor in enumerate(factors):
            if isinstance(factor, Add):
                factors[n] = -factor
                return Mul(-coeff, *factors, evaluate=False) if coeff != -1 else Mul(*factors, evaluate=False)
    return expr


CANDIDATE_BUDGET = 2.0  #: seconds each rewriting in tidy() may take before it is skipped


def _candidates(expr):
    for candidate in _raw_candidates(expr):
        yield candidate
        absorbed = absorb_sign(candidate)
        if absorbed is not candidate:
            yield absorbed


def _rewritings(expr):
    """The rewritings tidy() compares, as (function, argument) pairs run under a budget."""
    atoms = sorted(expr.atoms(NamedFunction, sympy.tanh, sympy.exp, sympy.KroneckerDelta), key=sympy.default_sort_key)
    yield sympy.expand, expr
    for atom in atoms:
        yield (lambda e, atom=atom: sympy.collect(sympy.expand(e), atom)), expr
    if atoms:
        yield (lambda e: sympy.collect(sympy.expand(e), atoms)), expr
    yield sympy.factor_terms, expr
    yield sympy.factor, expr
    yield (lambda e: -sympy.factor(-e)), expr
    yield sympy.cancel, expr


def _raw_candidates(expr):
    yield expr
    for rewrite, argument in _rewritings(expr):
        try:
            yield run_limited(rewrite, CANDIDATE_BUDGET, argument)
        except BudgetExceeded:
            continue
        except Exception:  # a rewriting SymPy cannot do on this input is skipped
            continue


def tidy(expr: sympy.Expr) -> sympy.Expr:
    """The shortest of several exactly equivalent rewritings of ``expr``.

    >>> from symact.functions import sigmoid
    >>> from sympy import Symbol
    >>> z, y = Symbol("z"), Symbol("y")
    >>> tidy(-y * (1 - sigmoid(z)) + (1 - y) * sigmoid(z))
    -y + sigmoid(z)
    """
    if isinstance(expr, Piecewise):
        pieces = [(tidy(e), c) for e, c in expr.args]
        if all(e == pieces[0][0] for e, _ in pieces):
            return pieces[0][0]
        return Piecewise(*pieces)
    if expr.has(Piecewise):
        folded = sympy.piecewise_fold(expr)
        if isinstance(folded, Piecewise):
            return tidy(folded)
    if expr.has(Sum):
        in_place = _tidy_sums(expr)
        merged = _tidy_sums(merge_sums(expr))
        normalised = _tidy_sums(normalise_sums(expr))
        expr = min((in_place, merged, normalised), key=_unsigned_cost)
    cost = _unsigned_cost if isinstance(-expr if expr.could_extract_minus_sign() else expr, Sum) else display_cost
    best = expr
    for candidate in _candidates(expr):
        try:
            if cost(candidate) < cost(best):
                best = candidate
        except Exception:  # a candidate that SymPy cannot count is skipped
            continue
    return best


def _tidy_sums(expr):
    return expr.replace(lambda e: isinstance(e, Sum), lambda e: Sum(tidy(e.function), *e.limits))


def name_intermediates(expr: sympy.Expr, named) -> sympy.Expr:
    """Write ``expr`` with the named intermediates: with p_i = N_i / D, every N_k becomes p_k D.

    The denominator D itself (sum_k exp(a_k) for the softmax) is left as it is.
    """
    for item in named:
        numerator, denominator = sympy.fraction(item.expr, exact=True)  # exp(-a_i) stays a numerator
        hold = sympy.Dummy("D", positive=True)
        w = Wild("w")
        pattern = numerator.xreplace({item.index: w})
        expr = expr.xreplace({denominator: hold})
        expr = expr.replace(pattern, lambda w, item=item, hold=hold: item.base[w] * hold)
        expr = expr.xreplace({hold: denominator})
    return expr


# --------------------------------------------------------------------------------------------
# output forms


def monotonic_direction(derivative: sympy.Expr, x: sympy.Symbol, extra: dict | None = None) -> int:
    """+1 if ``derivative`` is >= 0 at every sample point (and somewhere > 0), -1 if <= 0, else 0."""
    rng = random.Random(7)
    points = [v / 8 for v in range(-160, 161, 5)] + [rng.randint(-9999, 9999) / 97 for _ in range(20)]
    expr = expand_named(derivative.subs(extra or {}))
    if expr.free_symbols - {x}:
        return 0
    # SymPy generates this code from the expression (no user text): mpmath at 30 digits, no overflow
    fn = sympy.lambdify(x, expr, modules="mpmath")
    signs = set()
    for point in points:
        try:
            with mpmath.workdps(30):
                value = run_limited(fn, 0.5, mpmath.mpf(point))
        except BudgetExceeded:
            return 0
        except (ArithmeticError, ValueError, TypeError):
            return 0
        if not isinstance(value, mpmath.mpf) and not isinstance(value, (int, float)):
            return 0
        if value > 1e-30:
            signs.add(1)
        elif value < -1e-30:
            signs.add(-1)
    if signs == {1}:
        return 1
    if signs == {-1}:
        return -1
    return 0


def _pieces(expr):
    if isinstance(expr, Piecewise):
        return list(expr.args)
    return [(expr, sympy.true)]


def _map_condition(cond, x, y, f, direction):
    if cond == sympy.true:
        return cond
    if not isinstance(cond, sympy.core.relational.Relational):
        return None
    lhs, rhs = cond.lhs, cond.rhs
    if lhs == x and x not in rhs.free_symbols:
        c, op = rhs, type(cond)
    elif rhs == x and x not in lhs.free_symbols:
        c, op = lhs, type(cond.reversed)
    else:
        return None
    if direction < 0:
        op = _FLIP[op]
    return op(y, f.subs(x, c))


_FLIP = {sympy.Gt: sympy.Lt, sympy.Ge: sympy.Le, sympy.Lt: sympy.Gt, sympy.Le: sympy.Ge}


def _invert_piece(piece, derivative, x, y):
    """g with derivative = g(y) on a piece where y = piece(x), or None."""
    if x not in derivative.free_symbols:
        return derivative
    try:
        solutions = sympy.solve(sympy.Eq(y, piece), x)
    except NotImplementedError:  # no algorithm inverts the piece (x + log(1 + exp(-x))): no output form
        return None
    if len(solutions) != 1:
        return None
    g = sympy.simplify(expand_named(derivative.subs(x, solutions[0])))
    g = tidy(sympy.expand(_logs_of_reciprocals(g)))
    return None if x in g.free_symbols else g


def _logs_of_reciprocals(expr: sympy.Expr) -> sympy.Expr:
    """log(c / d) as -log(d / c) for a number c: SymPy's inverse of 1 - exp(-exp(x)) gives
    f' = (1 - y) log(-1/(y - 1)), where 1 - y loses y's digits before the division; -(1 - y) log(1 - y) is the
    textbook form, and log(1 - y) becomes log1p(-y).  Equal wherever either log is real (c / d > 0 exactly when
    d / c > 0), which is where an output form is evaluated."""

    def reciprocal(u):
        n, d = u.as_numer_denom()
        if n.is_number and n != 0 and d.free_symbols:
            return sympy.expand(d / n)
        return None

    return expr.replace(
        lambda e: isinstance(e, sympy.log) and reciprocal(e.args[0]) is not None,
        lambda e: -sympy.log(reciprocal(e.args[0])),
    )


def output_form(
    definition: sympy.Expr,
    derivative: sympy.Expr,
    x: sympy.Symbol,
    y: sympy.Symbol,
    *,
    params: dict | None = None,
    budget: float = 10.0,
) -> sympy.Expr | None:
    """A candidate g with ``derivative`` = g(``definition``), written in ``y`` alone, or None.

    ``definition`` is the plain maths of f, ``derivative`` the textbook form of f'; ``params``
    gives parameters values at which monotonicity is sampled.  The caller proves the candidate
    before accepting it.
    """
    recognised = canonical(definition)
    substituted = derivative.subs(recognised, y)
    if x not in substituted.free_symbols:
        return substituted
    direction = monotonic_direction(sympy.diff(definition, x), x, params)
    if direction == 0:
        return None
    pieces = []
    for (piece, cond), (dpiece, _) in zip(_pieces(definition), _pieces(_as_piecewise_like(derivative, definition))):
        try:
            g = run_limited(_invert_piece, budget, piece, dpiece, x, y)
        except BudgetExceeded:
            return None
        if g is None:
            return None
        mapped = _map_condition(cond, x, y, definition, direction)
        if mapped is None:
            return None
        pieces.append((g, mapped))
    if all(g == pieces[0][0] for g, _ in pieces):
        return _on_positive_range(pieces[0][0], definition, x, y)
    return Piecewise(*pieces)


def _on_positive_range(g: sympy.Expr, definition: sympy.Expr, x: sympy.Symbol, y: sympy.Symbol) -> sympy.Expr:
    """g simplified for y > 0 where f takes only positive values (sampled; the caller proves the result with
    y = f(x) put in), and the squares under a root factored: squareplus' output form
    (y^2 |y| + y sqrt(y^4 + 2 y^2 + 1) - |y|) / (2 y (y^2 + 1)) is y^2 / (y^2 + 1) there."""
    if not g.has(sympy.Abs, sympy.sqrt) or not _positive(definition, x):
        return g
    positive = sympy.Dummy("y", positive=True)
    try:
        tidy_g = run_limited(
            lambda: sympy.simplify(
                g.xreplace({y: positive}).replace(
                    lambda e: e.is_Pow and e.exp == sympy.Rational(1, 2), lambda e: sympy.sqrt(sympy.factor(e.base))
                )
            ),
            10.0,
        )
    except BudgetExceeded:
        return g
    tidy_g = tidy_g.xreplace({positive: y})
    return tidy_g if sympy.count_ops(tidy_g) < sympy.count_ops(g) else g


def _positive(definition: sympy.Expr, x: sympy.Symbol) -> bool:
    """Whether f(x) > 0 at every sample point from -1e6 to 1e6 (other symbols at 1)."""
    others = {s: 1 for s in definition.free_symbols if s != x}
    for v in (-1e6, -1e3, -50, -10, -3, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 3, 10, 50, 1e3, 1e6):
        value = sympy.N(expand_named(definition).xreplace({**others, x: sympy.Float(v)}), 20)
        if not (value.is_number and value.is_positive):
            return False
    return True


def _as_piecewise_like(derivative, definition):
    """The derivative split into the same pieces as the definition."""
    if not isinstance(definition, Piecewise):
        return derivative
    if isinstance(derivative, Piecewise) and len(derivative.args) == len(definition.args):
        return derivative
    return Piecewise(*[(derivative, c) for _, c in definition.args])
