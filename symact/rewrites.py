"""Stabilising rewrites: how a definition becomes a form that is safe to compute in floating point.

A textbook writes sigma'(x) = sigma(x)(1 - sigma(x)); at x = 40 that cancels to 0 in floating point
while the true value is 4e-18.  Each :class:`Rewrite` here is a named identity ``pattern ->
replacement`` (SymPy ``Wild`` symbols stand for any subexpression) with the reason it is more
accurate; :func:`stabilise` applies them until nothing changes.  Every rule is an identity, and
:func:`prove_rule` proves it with :func:`symact.prove.prove_equal` (the tests prove them all).

The named functions sigma and softplus are kept as calls in compute forms: the kernels define them
once, as helpers whose bodies are the :data:`PRIMITIVES` below (sigma by the sign of x; softplus as
max(x, 0) + log1p(exp(-|x|)), which neither overflows nor cancels).

>>> from symact.catalog.symbols import x
>>> from symact.functions import sigmoid
>>> stabilise(sigmoid(x) * (1 - sigmoid(x)))
exp(-Abs(x))/(1 + exp(-Abs(x)))**2
>>> stabilise(sympy.log(1 + sympy.exp(x)))
softplus(x)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sympy
from sympy import Abs, Max, Piecewise, Wild, cosh, erf, erfc, exp, log, sinh, tanh
from sympy.codegen.cfunctions import expm1, log1p
from sympy.codegen.rewriting import ReplaceOptim, optimize

from .functions import expand_named, recognise, sigmoid, softplus, square_plus
from .prove import Outcome, Space, prove_equal

__all__ = [
    "Rewrite",
    "RULES",
    "PRIMITIVES",
    "stabilise",
    "prove_rule",
    "to_plain",
    "prove_compute_form",
    "combine_by_sign",
    "W",
]

#: the placeholder every pattern is written with: any real subexpression
W = Wild("w", real=True)


@dataclass(frozen=True)
class Rewrite:
    """One stabilising identity: ``pattern`` becomes ``replacement`` wherever it matches.

    ``apply`` defaults to SymPy's ``replace`` with the Wild ``W``; a rule reused from
    ``sympy.codegen.rewriting`` brings its own ``optim`` instead.
    """

    name: str
    pattern: sympy.Expr
    replacement: sympy.Expr
    reason: str
    optim: object = None

    def apply(self, expr: sympy.Expr) -> sympy.Expr:
        if self.optim is not None:
            return optimize(expr, [self.optim])
        return expr.replace(self.pattern, self.replacement)


def to_plain(expr: sympy.Expr) -> sympy.Expr:
    """The expression in plain maths: named functions, log1p, expm1 and erfc (as 1 - erf) expanded."""
    expr = expand_named(expr)
    expr = expr.replace(lambda e: isinstance(e, erfc), lambda e: 1 - erf(e.args[0]))
    return expr.replace(lambda e: isinstance(e, (log1p, expm1)), lambda e: sympy.expand_func(e))


A = Wild("a", real=True)
B = Wild("b", real=True)
C = Wild("c", real=True)


def _sigmoid_pair(expr):
    """For a product c sigma(w) sigma(-w) (sigmoid factors to the first power):
    c exp(-|w|) / (1 + exp(-|w|))^2; else None."""
    if not expr.is_Mul:
        return None
    sigmas = [f for f in expr.args if isinstance(f, sigmoid)]
    for s in sigmas:
        partner = sigmoid(-s.args[0])
        if partner in sigmas:
            rest = sympy.Mul(*[f for f in expr.args if f is not s and f != partner])
            e = exp(-Abs(s.args[0]))
            return rest * e / (1 + e) ** 2
    return None


def _exp_minus_one(expr):
    """A sum with the terms c exp(w) and -c (c a number): the same sum with c expm1(w); else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        c, f = term.as_coeff_Mul()
        if isinstance(f, exp) and -c in expr.args:
            rest = [t for t in expr.args if t is not term and t != -c]
            return sympy.Add(c * expm1(f.args[0]), *rest)
    return None


def _square_of(expr):
    """u for an expression that is exactly 1 - u**2 (u not a named function's square), else None."""
    if not expr.is_Add or len(expr.args) != 2 or sympy.S.One not in expr.args:
        return None
    other = expr.args[0] if expr.args[1] == 1 else expr.args[1]
    coeff, rest = other.as_coeff_Mul()
    if coeff != -1 or not (rest.is_Pow and rest.exp == 2):
        return None
    return rest.base


def _split_sigmoid(expr):
    """For ``a sigma(w) - b`` (a sum with one sigmoid term; b a label: free of sigmoids and of w's symbols):
    ``(a - b) sigma(w) - b sigma(-w)``; else None."""
    if not expr.is_Add:
        return None
    with_sigmoid = [t for t in expr.args if t.has(sigmoid)]
    rest = sympy.Add(*[t for t in expr.args if not t.has(sigmoid)])
    if len(with_sigmoid) != 1 or rest == 0:
        return None
    factors = sympy.Mul.make_args(with_sigmoid[0])
    sigmas = [f for f in factors if isinstance(f, sigmoid)]
    if len(sigmas) != 1:
        return None
    a = sympy.Mul(*[f for f in factors if f is not sigmas[0]])
    if a.has(sigmoid):
        return None
    w, b = sigmas[0].args[0], -rest
    if not b.free_symbols or b.free_symbols & w.free_symbols:  # a label, not part of the formula in w
        return None
    return (a - b) * sigmoid(w) - b * sigmoid(-w)


def _constant_term(expr, c):
    """The sign (+1 or -1) with which the number ``c`` is a term of the sum ``expr``, else 0."""
    if c in expr.args:
        return 1
    if -c in expr.args:
        return -1
    return 0


def _erf_tail(expr):
    """A sum with the terms c erf(w) and +-c (c a number): c (1 + erf(w)) or -c (1 - erf(w)) written with
    erfc(|w|) by the sign of w, the rest of the sum kept; else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        c, f = term.as_coeff_Mul()
        if isinstance(f, erf):
            sign = _constant_term(expr, c)
            if not sign:
                continue
            w = f.args[0] if sign > 0 else -f.args[0]
            tail = Piecewise((2 - erfc(Abs(w)), w >= 0), (erfc(Abs(w)), True))
            rest = [t for t in expr.args if t is not term and t != sign * c]
            return sympy.Add(sign * c * tail, *rest)
    return None


def _tanh_tail(expr):
    """A sum with the terms c tanh(w) and +-c (c a number): 2c sigma(2w) or -2c sigma(-2w), the rest of the
    sum kept; else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        c, f = term.as_coeff_Mul()
        if isinstance(f, tanh):
            sign = _constant_term(expr, c)
            if not sign:
                continue
            rest = [t for t in expr.args if t is not term and t != sign * c]
            return sympy.Add(2 * sign * c * sigmoid(2 * sign * f.args[0]), *rest)
    return None


def _sech_tail(expr):
    """A sum with the terms -c tanh(w)^2 and c (c a number): 4c sigma(2w) sigma(-2w), the rest of the sum kept;
    else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        c, f = term.as_coeff_Mul()
        if f.is_Pow and f.exp == 2 and isinstance(f.base, tanh) and -c in expr.args:
            w = f.base.args[0]
            rest = [t for t in expr.args if t is not term and t != -c]
            return sympy.Add(-4 * c * sigmoid(2 * w) * sigmoid(-2 * w), *rest)
    return None


def _log_of_positive_product(expr):
    """log(a b ...) whose factors SymPy proves positive: log a + log b + ...; else None."""
    if not isinstance(expr, log) or not expr.args[0].is_Mul:
        return None
    factors = expr.args[0].args
    if not all(f.is_positive for f in factors):
        return None
    return sympy.Add(*[log(f) for f in factors])


def _shifted_pair(expr, kind):
    """(k, w, v, rest) for a sum with the terms k F(w) and -k F(v), F = ``kind``, where w - v is a positive number,
    ``rest`` the sum's other terms; else None."""
    if not expr.is_Add:
        return None
    terms = [t.as_coeff_Mul() for t in expr.args]
    for i, (k, f) in enumerate(terms):
        for j, (k2, g) in enumerate(terms):
            if i != j and isinstance(f, kind) and isinstance(g, kind) and k2 == -k:
                c = sympy.simplify(f.args[0] - g.args[0])
                if c.is_number and c.is_positive:
                    return k, f.args[0], g.args[0], [t for n, t in enumerate(expr.args) if n not in (i, j)]
    return None


def _softplus_difference(expr):
    """A sum with the terms k softplus(w) and -k softplus(v) where w - v is a positive number c: k log1p((e^c - 1)
    sigma(v)), the rest of the sum kept; else None."""
    found = _shifted_pair(expr, softplus)
    if found is None:
        return None
    k, w, v, rest = found
    return sympy.Add(k * log1p((sympy.exp(sympy.simplify(w - v)) - 1) * sigmoid(v)), *rest)


def _softplus_minus_argument(expr):
    """A sum with the term k softplus(w) and the terms of -k w: k softplus(-w), the rest of the sum kept (softplus(w)
    = w + softplus(-w)); with the term -k softplus(-w): k w; with the term -k max(0, w): k softplus(-|w|); else
    None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        k, f = term.as_coeff_Mul()
        if not isinstance(f, softplus):
            continue
        rest = [t for t in expr.args if t is not term]
        if -k * softplus(-f.args[0]) in rest:  # softplus(w) - softplus(-w) = w
            rest.remove(-k * softplus(-f.args[0]))
            return sympy.Add(k * f.args[0], *rest)
        relu = -k * Max(0, f.args[0])  # softplus(w) - max(0, w) = softplus(-|w|)
        if relu in rest:
            rest.remove(relu)
            return sympy.Add(k * softplus(-Abs(f.args[0])), *rest)
        for t in sympy.Add.make_args(sympy.expand(-k * f.args[0])):
            if t not in rest:
                break
            rest.remove(t)
        else:
            return sympy.Add(k * softplus(-f.args[0]), *rest)
    return None


def _sigmoid_and_its_constant(expr):
    """A sum of three or more terms with k sigma(w) and the number -k: -k sigma(-w), the rest kept; else None (a
    sum of two is the rules one_minus_sigmoid and sigmoid_minus_one)."""
    if not expr.is_Add or len(expr.args) < 3:
        return None
    for term in expr.args:
        k, f = term.as_coeff_Mul()
        if isinstance(f, sigmoid) and -k in expr.args:
            rest = [t for t in expr.args if t is not term and t != -k]
            return sympy.Add(-k * sigmoid(-f.args[0]), *rest)
    return None


def _sigmoid_difference(expr):
    """A sum with the terms k sigma(w) and -k sigma(v) where w - v is a positive number c: k (1 - e^-c) sigma(w)
    sigma(-v), the rest of the sum kept; else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:  # k sigma(u) - k = -k sigma(-u) first (sigma(x) + sigma(1 - x) - 1)
        k, f = term.as_coeff_Mul()
        if isinstance(f, sigmoid) and -k in expr.args and len(expr.args) > 2:
            rest = [t for t in expr.args if t is not term and t != -k]
            found = _sigmoid_difference(sympy.Add(-k * sigmoid(-f.args[0]), *rest))
            if found is not None:
                return found
    found = _shifted_pair(expr, sigmoid)
    if found is None:
        return None
    k, w, v, rest = found
    return sympy.Add(k * (1 - sympy.exp(-sympy.simplify(w - v))) * sigmoid(w) * sigmoid(-v), *rest)


def _times_sign(expr):
    """A product with the factors w and sign(w): the same product with |w| for both; else None."""
    if not expr.is_Mul:
        return None
    for f in expr.args:
        if isinstance(f, sympy.sign) and f.args[0] in expr.args:
            w = f.args[0]
            rest = [g for g in expr.args if g is not f and g != w]
            return sympy.Mul(Abs(w), *rest)
    return None


def _root_of_square_plus(s):
    """(w, c) for s = sqrt(w**2 + c) with c a positive number, else None."""
    return square_plus(s.base) if s.is_Pow and s.exp == sympy.S.Half else None


def _stable_w_plus_root(w, c, s, k=sympy.S.One):
    """k (w + sqrt(w^2 + c)) by the sign of w: k |w| + k s, or (k c / 2) / h with h = |w|/2 + s/2 where w < 0
    (no cancellation).  The coefficient goes into the branches and h halves both terms, so that nothing
    overflows where the result is finite (|w| + s is inf for |w| > 9e307)."""
    half = sympy.Add(Abs(w) / 2, s / 2, evaluate=False)
    return Piecewise((k * Abs(w) + k * s, w >= 0), (sympy.Mul(k * c / 2, sympy.Pow(half, -1)), True))


def _root_sum(expr):
    """A sum with the terms k w and k sqrt(w^2 + c) (k, c numbers, c > 0) in the stable form of
    :func:`_stable_w_plus_root`; or with the terms k and k w / sqrt(w^2 + c): k (w + s) / s; else None."""
    if not expr.is_Add:
        return None
    for term in expr.args:
        k, f = term.as_coeff_Mul()
        found = _root_of_square_plus(f)
        if found is not None:
            w, c = found
            if w.could_extract_minus_sign() or isinstance(w, Abs):
                continue
            partner = k * w
            if partner in expr.args:
                rest = [t for t in expr.args if t is not term and t != partner]
                return sympy.Add(_stable_w_plus_root(w, c, f, k), *rest)
        # k + k w / s
        factors = sympy.Mul.make_args(f)
        roots = [g for g in factors if g.is_Pow and g.exp == -sympy.S.Half and _root_of_square_plus(sympy.sqrt(g.base))]
        if len(roots) == 1 and k in expr.args:
            s = sympy.sqrt(roots[0].base)
            w, c = _root_of_square_plus(s)
            if sympy.Mul(*[g for g in factors if g is not roots[0]]) == w and not w.could_extract_minus_sign():
                rest = [t for t in expr.args if t is not term and t != k]
                half = sympy.Add(Abs(w) / 2, s / 2, evaluate=False)  # k (w + s) / s; where w < 0 c/(|w| + s)/s
                tail = sympy.Mul(k * c / 2, sympy.Pow(half, -1), sympy.Pow(s, -1))
                return sympy.Add(Piecewise((k + k * w / s, w >= 0), (tail, True)), *rest)
    return None


def _root_minus_its_value(expr):
    """A sum with the terms k sqrt(w^2 + c) and -k sqrt(c) (k, c numbers, c > 0): the difference as
    k w^2 / (sqrt(w^2 + c) + sqrt(c)) where |w| < 2^60 sqrt(c) (it cancels to 0 near 0: bent identity at x =
    1e-30; and loses bits up to |w| = 3 sqrt(c)) and beyond as k s (1 - sqrt(c)/s) (w^2 overflows float32 past
    2^64, and the difference no longer cancels); else None."""
    if not expr.is_Add:
        return None
    constant = sum((t for t in expr.args if t.is_number), sympy.S.Zero)
    for term in expr.args:
        k, f = term.as_coeff_Mul()
        found = _root_of_square_plus(f)
        if found is None or k == 0:
            continue
        w, c = found
        value = k * sympy.sqrt(c)
        if sympy.simplify(constant + value) != 0:
            continue
        rest = [t for t in expr.args if t is not term and not t.is_number]
        small = k * w**2 / (f + sympy.sqrt(c))
        big = k * f * (1 - sympy.sqrt(c) / f)
        return sympy.Add(Piecewise((small, Abs(w) < 2**60 * sympy.sqrt(c)), (big, True)), *rest)
    return None


def _log_of_root_sum(expr):
    """log(w + sqrt(w^2 + c)) (c > 0 a number) as asinh(w / sqrt(c)) + log(sqrt(c)); else None."""
    if not (isinstance(expr, log) and expr.args[0].is_Add and len(expr.args[0].args) == 2):
        return None
    for root in expr.args[0].args:
        found = _root_of_square_plus(root)
        if found is not None:
            w, c = found
            if sympy.Add(*[t for t in expr.args[0].args if t is not root]) == w:
                return sympy.asinh(w / sympy.sqrt(c)) + log(sympy.sqrt(c))
    return None


def _sigmoid_pair_complement(expr):
    """A sum with a number k and the terms c1 sigma(w) and c2 sigma(-w): k as k sigma(w) + k sigma(-w), so that
    the sum becomes (k + c1) sigma(w) + (k + c2) sigma(-w) (1 - y sigma(w) - (1 - y) sigma(-w) is
    (1 - y) sigma(w) + y sigma(-w)); else None."""
    if not expr.is_Add:
        return None
    k = sum((t for t in expr.args if t.is_number), sympy.S.Zero)
    if k == 0:
        return None
    for s in expr.atoms(sigmoid):
        w = s.args[0]
        if w.could_extract_minus_sign():
            continue
        c1 = sympy.Add(*[t.as_independent(s, as_Add=False)[0] for t in expr.args if t.has(s) and _factor_of(t, s)])
        partner = sigmoid(-w)
        c2 = sympy.Add(*[t.as_independent(partner, as_Add=False)[0] for t in expr.args if _factor_of(t, partner)])
        if c1 == 0 or c2 == 0:
            continue
        rest = [t for t in expr.args if not t.is_number and not _factor_of(t, s) and not _factor_of(t, partner)]
        return sympy.Add(sympy.expand(k + c1) * s, sympy.expand(k + c2) * partner, *rest)
    return None


def _factor_of(term, s) -> bool:
    """Whether ``s`` is a factor of ``term`` to the first power, and the rest of the term does not contain it."""
    factors = sympy.Mul.make_args(term)
    return factors.count(s) == 1 and not sympy.Mul(*[f for f in factors if f != s]).has(sigmoid)


def _sinh_over_cosh(expr):
    """A product with the factors sinh(w) and 1/cosh(w): the same product with tanh(w) for both; else None."""
    if not expr.is_Mul:
        return None
    for f in expr.args:
        if isinstance(f, sinh) and cosh(f.args[0]) ** -1 in expr.args:
            w = f.args[0]
            rest = [g for g in expr.args if g is not f and g != cosh(w) ** -1]
            return sympy.Mul(tanh(w), *rest)
    return None


def _square_minus_itself(expr):
    """c w^2 - c w (two terms, w not a number) as -c w (1 - w); else None.  -w (1 - w) rather than w (w - 1): the
    two differ in the sign of their zero at w = 1, where -w (1 - w) is -0, the side of a probability w <= 1."""
    if not expr.is_Add or len(expr.args) != 2:
        return None
    for sq, lin in (expr.args, expr.args[::-1]):
        c, w2 = sq.as_coeff_Mul()
        if not (w2.is_Pow and w2.exp == 2) or w2.base.is_number:
            continue
        w = w2.base
        if lin == -c * w:
            return -c * w * (1 - w)
    return None


#: below this |w|, log cosh(w) is computed as log1p(2 sinh(w/2)^2); above, as |w| + softplus(-2|w|) - log 2
_LOG_COSH_SPLIT = 2


def _log_of_scaled_cosh(expr):
    """log(c cosh(w)) for a number c > 0 (c = 1 included) as log(c) + the stable log cosh(w); else None.
    exp(w) + exp(-w) is read as 2 cosh(w), so log(exp(w) + exp(-w)) arrives here as log(2 cosh(w))."""
    if not isinstance(expr, log):
        return None
    c, rest = expr.args[0].as_coeff_Mul()
    if isinstance(rest, cosh) and c.is_Number and c > 0:
        return log(c) + _log_cosh(rest.args[0]) if c != 1 else _log_cosh(rest.args[0])
    return None


def _log_cosh(w):
    """log cosh(w) without overflow (cosh overflows for |w| > 710) and without cancellation near 0 (|w| -
    log 2 + log1p(exp(-2|w|)) cancels to nothing at w = 1e-3, where log cosh(w) = w^2/2)."""
    wide = Abs(w) + softplus(-2 * Abs(w)) - log(2)
    return Piecewise((log1p(2 * sinh(w / 2) ** 2), Abs(w) < _LOG_COSH_SPLIT), (wide, True))


def _product_of_exponentials(expr):
    """A product with two or more factors exp(a), exp(b), ... as the same product with the one factor
    exp(a + b + ...); else None."""
    if not expr.is_Mul:
        return None
    exps = [f for f in expr.args if isinstance(f, exp)]
    if len(exps) < 2:
        return None
    rest = [f for f in expr.args if not isinstance(f, exp)]
    return sympy.Mul(exp(sympy.Add(*[f.args[0] for f in exps]), evaluate=False), *rest)


def _exp_over_power_of_one_plus(expr):
    """A product with a factor (1 + e^a)^-n (n >= 2 an integer) and factors e^(k a) with k in 0..n in all, where a
    may be positive: e^(k a) / (1 + e^a)^n as t^k / (1 + t)^n where a <= 0 and t^(n - k) / (1 + t)^n where a > 0,
    t = e^(-|a|) (one exponential, no overflow: sigma' = t / (1 + t)^2 is the case k = 1, n = 2); else None.
    (1 + e^a)^n overflows long before the quotient does (sigma(x)^2' = 2 e^-x / (1 + e^-x)^3 gave 0 for
    x < -236, where it is 5e-261 and more)."""
    if not expr.is_Mul:
        return None
    factors = list(expr.args)
    for f in factors:
        if not (f.is_Pow and f.exp.is_Integer and f.exp <= -2 and f.base.is_Add and len(f.base.args) == 2):
            continue
        one, t = sorted(f.base.args, key=lambda e: not e.is_Number)
        if one != 1 or not isinstance(t, exp) or t.args[0].is_nonpositive:
            continue
        a, n = t.args[0], -int(f.exp)
        rest, k = [], 0
        for g in factors:
            if g is f:
                continue
            if isinstance(g, exp) and (ratio := sympy.simplify(g.args[0] / a)).is_Integer and 0 <= ratio <= n:
                k += int(ratio)
                continue
            rest.append(g)
        if k > n:
            return None
        t = exp(-Abs(a))
        top = t**k if 2 * k == n else Piecewise((t**k, a <= 0), (t ** (n - k), True))
        return sympy.Mul(*rest) * top / (1 + t) ** n
    return None


#: the rules, applied in order and repeatedly by :func:`stabilise`
def _where(find) -> ReplaceOptim:
    """The optimisation that replaces each node ``find`` maps to an expression (not None) by that expression, ``find``
    called once per node (SymPy's replace asks the query, then the value, of the same node)."""
    found: dict = {}

    def query(expr) -> bool:
        result = find(expr)
        if result is not None:
            found[expr] = result
        return result is not None

    return ReplaceOptim(query, lambda expr: found.pop(expr) if expr in found else find(expr))


RULES: tuple[Rewrite, ...] = (
    Rewrite(
        "one_minus_sigmoid",
        1 - sigmoid(W),
        sigmoid(-W),
        "1 - sigma(w) cancels to 0 for w > 37 (double); sigma(-w) keeps every digit",
    ),
    Rewrite(
        "sigmoid_minus_one",
        sigmoid(W) - 1,
        -sigmoid(-W),
        "the same cancellation with the opposite sign",
    ),
    Rewrite(
        "sigmoid_and_its_constant",
        sigmoid(W) - 1 + A,
        -sigmoid(-W) + A,
        "k sigma(w) - k cancels inside a longer sum too (silu(x) - x)' = sigma(x) + x sigma(x) sigma(-x) - 1 "
        "was 5e11 ulp off at x = 30); -k sigma(-w) does not",
        optim=_where(_sigmoid_and_its_constant),
    ),
    Rewrite(
        "sech_squared",
        1 - tanh(W) ** 2,
        4 * sigmoid(2 * W) * sigmoid(-2 * W),
        "1 - tanh(w)^2 cancels to 0 for |w| > 19; sech^2 w = 4 sigma(2w) sigma(-2w) has no cancellation "
        "and no overflow (and c - c tanh(w)^2 for any number c: (1 - tanh(x)^2)' = -(2 - 2 tanh(x)^2) tanh(x))",
        optim=_where(_sech_tail),
    ),
    Rewrite(
        "sigmoid_product",
        C * sigmoid(W) * sigmoid(-W),
        C * exp(-Abs(W)) / (1 + exp(-Abs(W))) ** 2,
        "sigma(w) sigma(-w) rounds two sigmoids and their product; exp(-|w|) / (1 + exp(-|w|))^2 is one "
        "exponential and no overflow",
        optim=_where(_sigmoid_pair),
    ),
    Rewrite(
        "sigmoid_pair_complement",
        1 + A * sigmoid(W) + B * sigmoid(-W),
        (1 + A) * sigmoid(W) + (1 + B) * sigmoid(-W),
        "k + c1 sigma(w) + c2 sigma(-w) cancels where the sigmoids' terms come near -k (1 - p_t of a focal loss, "
        "1 - y sigma(z) - (1 - y) sigma(-z), at y = 1 and z = 40 is 0, not 4e-18); with k = k sigma(w) + k sigma(-w) "
        "the terms (1 - y) sigma(z) and y sigma(-z) are small where the sum is",
        optim=_where(_sigmoid_pair_complement),
    ),
    Rewrite(
        "sigmoid_minus_label",
        A * sigmoid(W) - B,
        (A - B) * sigmoid(W) - B * sigmoid(-W),
        "a sigma(w) - b cancels when sigma(w) is near b/a (a = b = 1: sigma(40) - 1 is 0, not -4e-18); "
        "with sigma(w) = 1 - sigma(-w) the two terms are small where the result is",
        optim=_where(_split_sigmoid),
    ),
    Rewrite(
        "difference_of_squares",
        1 - W**2,
        (1 - W) * (1 + W),
        "1 - y^2 loses y's last digits when |y| is near 1 (tanh' from its output); (1 - y)(1 + y) is exact "
        "to a rounding",
        optim=ReplaceOptim(lambda e: _square_of(e) is not None, lambda e: (1 - _square_of(e)) * (1 + _square_of(e))),
    ),
    Rewrite(
        "log1p_exp_as_softplus",
        log(1 + exp(W)),
        softplus(W),
        "log(1 + exp(w)) overflows for w > 709 (SymPy's log1p(exp(w)) too); the softplus primitive does not",
    ),
    Rewrite(
        "log1p_exp_as_softplus_too",
        log1p(exp(W)),
        softplus(W),
        "log1p(exp(w)), as SymPy writes log(1 + exp(w)), overflows as it does",
    ),
    Rewrite(
        "log_of_sigmoid",
        log(sigmoid(W)),
        -softplus(-W),
        "log(sigma(w)) is log(0) = -inf once sigma(w) underflows; -softplus(-w) stays finite and exact",
    ),
    Rewrite(
        "log_of_inverse_sigmoid",
        log(1 / sigmoid(W)),
        softplus(-W),
        "log(1/sigma(w)) is log(inf) = inf once sigma(w) underflows; softplus(-w) stays finite and exact",
    ),
    Rewrite(
        "log_of_positive_product",
        log(exp(W) * sigmoid(W)),
        W - softplus(-W),
        "log(a b) of positive factors is log a + log b, so that each log can take its own stable form "
        "(log((1 + e^x) sigma(1 - x)): softplus(x) - softplus(x - 1))",
        optim=_where(_log_of_positive_product),
    ),
    Rewrite(
        "softplus_difference",
        softplus(W) - softplus(W - 1),
        log1p((sympy.E - 1) * sigmoid(W - 1)),
        "softplus(w) - softplus(w - c) cancels for w >> 0 (both near w: soft clipping at x = 1e20 gave 0, not 1); "
        "log1p((e^c - 1) sigma(w - c)) is the same, with no difference taken",
        optim=_where(_softplus_difference),
    ),
    Rewrite(
        "softplus_minus_argument",
        softplus(W) - W,
        softplus(-W),
        "softplus(w) - w cancels for w >> 0 (x - log(1 + e^x), log sigma(x) spelled out, was 0 at x = 40, not "
        "-4e-18); softplus(-w) is the same, with no difference taken",
        optim=_where(_softplus_minus_argument),
    ),
    Rewrite(
        "sigmoid_difference",
        sigmoid(W) - sigmoid(W - 1),
        (1 - sympy.exp(-1)) * sigmoid(W) * sigmoid(1 - W),
        "sigma(w) - sigma(w - c) cancels for w >> 0 (both near 1: soft clipping's derivative at x = 30 was 5e12 ulp "
        "off); (1 - e^-c) sigma(w) sigma(c - w) is the same, a product",
        optim=_where(_sigmoid_difference),
    ),
    Rewrite(
        "one_minus_exp",
        1 - exp(-W),
        -expm1(-W),
        "1 - exp(-w) cancels for small w; expm1 is exact there",
    ),
    Rewrite(
        "expm1",
        exp(W) - 1,
        expm1(W),
        "exp(w) - 1 cancels for small w.  SymPy's expm1_opt is not reused: on 4 exp(-2|x|)/(1 + "
        "exp(-2|x|))^2 it returns 4 exp(2|x|)/(exp(2|x|) + 1)^2, which overflows",
        optim=_where(_exp_minus_one),
    ),
    Rewrite(
        "log_of_cosh",
        log(cosh(W)),
        _log_cosh(W),
        "log(cosh(w)) overflows to inf for |w| > 710 (log cosh(w) is |w| - log 2 there) and loses w^2/2 near 0 "
        "to the rounding of cosh(w) near 1; log1p(2 sinh(w/2)^2) for |w| < 2 and |w| + softplus(-2|w|) - log 2 "
        "beyond keep both",
        optim=_where(_log_of_scaled_cosh),
    ),
    Rewrite(
        "square_minus_itself",
        W**2 - W,
        -W * (1 - W),
        "w^2 - w cancels near w = 1 (at w = 1 - 2^-40 the rounding of w^2 is 2^14 times the result, as in the "
        "p(1 - p) of a loss of probabilities); -w (1 - w) rounds twice, 1 - w exact there",
        optim=_where(_square_minus_itself),
    ),
    Rewrite(
        "tanh_from_ratio",
        sinh(W) / cosh(W),
        tanh(W),
        "sinh(w)/cosh(w) is inf/inf = nan for |w| > 710 and rounds twice; tanh(w) is one library call, "
        "exact to an ulp and +-1 in the tails",
        optim=_where(_sinh_over_cosh),
    ),
    Rewrite(
        "log1p",
        log(1 + W),
        log1p(W),
        "log(1 + w) loses w's digits for small w.  Only a literal 1 + w matches: a Wild would also match "
        "log(S) as log1p(S - 1), which adds a cancellation (and SymPy's log1p_opt rewrites "
        "log(1 + exp(-|x|)) into -|x| + log1p(exp(|x|)), which overflows)",
        optim=ReplaceOptim(
            lambda e: isinstance(e, log) and e.args[0].is_Add and sympy.S.One in e.args[0].args,
            lambda e: log1p(e.args[0] - 1),
        ),
    ),
    Rewrite(
        "one_plus_erf",
        1 + erf(W),
        Piecewise((2 - erfc(Abs(W)), W >= 0), (erfc(Abs(W)), True)),
        "c + c erf(w) cancels for w < -1 (1 + erf(-6) is 2e-17); erfc(|w|) keeps the tail.  Written with |w| "
        "because SymPy evaluates erfc(-u) to 2 - erfc(u), which would bring the cancellation back; also "
        "inside a longer sum (gelu' = x phi(x) + 1/2 + erf(w)/2)",
        optim=_where(_erf_tail),
    ),
    Rewrite(
        "one_minus_erf",
        1 - erf(W),
        Piecewise((erfc(Abs(W)), W >= 0), (2 - erfc(Abs(W)), True)),
        "c - c erf(w) cancels for w > 1; erfc(|w|) keeps the tail (|w|, so that SymPy cannot turn erfc(-u) "
        "into 2 - erfc(u))",
        optim=_where(_erf_tail),
    ),
    Rewrite(
        "one_plus_tanh",
        1 + tanh(W),
        2 * sigmoid(2 * W),
        "c + c tanh(w) cancels for w < -1 (1 + tanh(-20) is 8e-18); 2 sigma(2w) keeps every digit; also "
        "inside a longer sum",
        optim=_where(_tanh_tail),
    ),
    Rewrite(
        "one_minus_tanh",
        1 - tanh(W),
        2 * sigmoid(-2 * W),
        "c - c tanh(w) cancels for w > 1; 2 sigma(-2w) keeps every digit",
        optim=_where(_tanh_tail),
    ),
    Rewrite(
        "abs_by_sign",
        W * sympy.sign(W),
        Abs(W),
        "w sign(w) is |w|: one operation and no branch, and a sum |w| - w sign(w) then cancels symbolically "
        "(softsign' = 1/(1 + |x|) - x sign(x)/(1 + |x|)^2) instead of in floating point",
        optim=_where(_times_sign),
    ),
    Rewrite(
        "log_of_root_sum_as_asinh",
        log(W + sympy.sqrt(W**2 + 1)),
        sympy.asinh(W),
        "log(w + sqrt(w^2 + c)) is log(1 + tiny) near w = 0 and cancels inside for w << 0; asinh(w/sqrt(c)) + "
        "log(sqrt(c)) (the library's asinh) is accurate everywhere",
        optim=_where(_log_of_root_sum),
    ),
    Rewrite(
        "root_of_square_plus",
        W + sympy.sqrt(W**2 + 4),
        Piecewise((Abs(W) + sympy.sqrt(W**2 + 4), W >= 0), (4 / (Abs(W) + sympy.sqrt(W**2 + 4)), True)),
        "w + sqrt(w^2 + c) cancels for w << 0 (squareplus at x = -1e4 lost every digit); c / (|w| + sqrt(w^2 + c)) "
        "there adds two positive numbers.  Also k + k w / sqrt(w^2 + c) (squareplus') as k (w + sqrt(w^2 + c)) / "
        "sqrt(w^2 + c)",
        optim=_where(_root_sum),
    ),
    Rewrite(
        "root_minus_its_value",
        sympy.sqrt(W**2 + 1) - 1,
        Piecewise(
            (W**2 / (sympy.sqrt(W**2 + 1) + 1), Abs(W) < 2**60),
            (sympy.sqrt(W**2 + 1) * (1 - 1 / sympy.sqrt(W**2 + 1)), True),
        ),
        "sqrt(w^2 + c) - sqrt(c) cancels to 0 near w = 0 (bent identity at x = 1e-30 gave 0, not x) and loses "
        "bits up to |w| = 3 sqrt(c) (3 ulp at w = 1.05); w^2 / (sqrt(w^2 + c) + sqrt(c)) adds positive numbers (and, "
        "as k times either, for any k) wherever w^2 is finite in float32 (|w| < 2^60 sqrt(c))",
        optim=_where(_root_minus_its_value),
    ),
    Rewrite(
        "product_of_exponentials",
        exp(W) * exp(-exp(W)),
        exp(W - exp(W)),
        "exp(a) exp(b) rounds each exponential and their product (three roundings; exp(x) exp(-exp(x)), the "
        "complementary log-log's derivative, reached 4.14 ulp), and overflows in one factor where the product is "
        "finite (exp(800) exp(-790)); exp(a + b) rounds once, with the rounding error of a + b corrected for",
        optim=_where(_product_of_exponentials),
    ),
    Rewrite(
        "exp_over_power_of_one_plus",
        exp(W) / (1 + exp(W)) ** 3,
        Piecewise((exp(-Abs(W)), W <= 0), (exp(-2 * Abs(W)), True)) / (1 + exp(-Abs(W))) ** 3,
        "e^(k a) / (1 + e^a)^n overflows in (1 + e^a)^n for a > 709/n where the quotient is finite (sigma(x)^2' = "
        "2 e^-x / (1 + e^-x)^3 gave 0 for x < -236); in t = e^(-|a|) it neither overflows nor cancels",
        optim=_where(_exp_over_power_of_one_plus),
    ),
)

#: compute forms of the named primitives: the body of the helper each kernel module defines
PRIMITIVES: dict[type, Rewrite] = {
    sigmoid: Rewrite(
        "sigmoid_by_sign",
        sigmoid(W),
        Piecewise((1 / (1 + exp(-W)), W >= 0), (exp(W) / (1 + exp(W)), True)),
        "exp(-w) overflows for w < -709: evaluate with the exponential of -|w| only",
    ),
    softplus: Rewrite(
        "softplus_stable",
        softplus(W),
        Max(W, 0) + log1p(exp(-Abs(W))),
        "log(1 + exp(w)) overflows for w > 709 and log1p(exp(w)) too; max(w, 0) + log1p(exp(-|w|)) "
        "neither overflows nor cancels",
    ),
}


def stabilise(expr: sympy.Expr, rules: Iterable[Rewrite] = RULES) -> sympy.Expr:
    """Recognise the named functions in ``expr`` and apply ``rules`` until a fixed point; then, where a sum's terms
    share a factor and a rule applies to what remains once it is taken out, the product (x sigma(x) - x is
    x (sigma(x) - 1) = -x sigma(-x), which does not cancel for x >> 0)."""
    rules = tuple(rules)
    expr = recognise(expr)
    for _ in range(20):
        previous = expr
        for rule in rules:
            expr = rule.apply(expr)
        if expr == previous:
            factored = expr.replace(lambda e: e.is_Add, lambda e: _factored(e, rules))
            if factored == expr:
                return expr
            expr = factored
    raise RuntimeError(f"stabilising rewrites did not reach a fixed point on {expr}")


def _factored(expr: sympy.Expr, rules: tuple[Rewrite, ...]) -> sympy.Expr:
    """The sum ``expr`` with its terms' common factor taken out, where ``rules`` change what remains; else the sum."""
    common, rest = sympy.factor_terms(expr).as_independent(sympy.Add, as_Add=False)
    if common.is_Number or not rest.is_Add or rest == expr:
        return expr
    stable = stabilise(rest, rules)
    return expr if stable == rest else common * stable


def prove_rule(rule: Rewrite, budget: float = 10.0) -> Outcome:
    """Prove ``rule.pattern == rule.replacement`` with the Wild replaced by a real variable."""
    v = sympy.Symbol("v", real=True)
    lhs = to_plain(rule.pattern.xreplace({W: v}))
    rhs = to_plain(rule.replacement.xreplace({W: v}))
    if rule.optim is not None:  # a SymPy optimisation: prove what it does to the pattern
        rhs = to_plain(rule.apply(rule.pattern.xreplace({W: v})))
    return prove_equal(lhs, rhs, Space(kinks={v: (0,)}), budget=budget)


def prove_compute_form(
    compute: sympy.Expr, truth: sympy.Expr, space: Space | None = None, budget: float = 20.0
) -> Outcome:
    """Prove a stabilised compute form equal to the expression it came from."""
    return prove_equal(to_plain(compute), truth, space, budget=budget)


def combine_by_sign(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """A sum of terms in ``var``, sigma(+-w) and exp(-|w|) (w = k var, k > 0) as one fraction per sign.

    silu' = x e/(1 + e)^2 + sigma(x), e = exp(-|x|), has two terms of opposite sign for x < -1 that
    partly cancel; as (x e + 1 + e)/(1 + e)^2 for x >= 0 and e (x + 1 + e)/(1 + e)^2 for x < 0 it is
    one rounding chain each (the zero of x + 1 + e is covered by the root-centred form).  Each branch
    is written with e = exp(-|w|) <= 1, so nothing overflows.  Returns ``expr`` unchanged when it is
    not such a sum.

    >>> from symact.catalog.symbols import x
    >>> combine_by_sign(x * exp(-Abs(x)) / (1 + exp(-Abs(x))) ** 2 + sigmoid(x), x)
    Piecewise(((x*exp(-x) + 1 + exp(-x))/(1 + exp(-x))**2, x >= 0), ((x + exp(x) + 1)*exp(x)/(exp(x) + 1)**2, True))
    """
    if not expr.is_Add or not expr.has(sigmoid):
        return expr
    args = {f.args[0] for f in expr.atoms(sigmoid)}
    w = next(iter(args))
    w = -w if (w / var).could_extract_minus_sign() else w
    k = sympy.simplify(w / var)
    if var in k.free_symbols or not k.is_positive or not args <= {w, -w}:
        return expr
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Function) and not isinstance(node, (sigmoid, exp, Abs)):
            return expr
    e = sympy.Dummy("e", positive=True)
    branches = []
    for sign, condition in ((1, var >= 0), (-1, sympy.true)):
        small = exp(-sign * w)  # exp(-|w|) on this branch
        branch = expr.subs(Abs(var), sign * var)
        branch = branch.xreplace(
            {sigmoid(w): (1 if sign > 0 else e) / (1 + e), sigmoid(-w): (e if sign > 0 else 1) / (1 + e)}
        )
        branch = branch.subs(small, e)
        if branch.has(exp):
            return expr
        branches.append((sympy.together(branch).subs(e, small), condition))
    return Piecewise(*branches)
