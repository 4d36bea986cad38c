"""Proofs that two expressions are equal: symbolically where SymPy can, by sampling where it cannot.

Every form symact displays, every rewrite it applies and every claim it verifies goes through
:func:`prove_equal`.  It tries, each under a time budget: structural identity after rewriting the
named functions to exp/log; ``expand``, ``cancel`` and ``simplify`` of the difference (branch by
branch for Piecewise; after the sifting rule for sums over KroneckerDelta); and otherwise
evaluation of both sides with mpmath at 50 significant digits, the working precision raised
adaptively (SymPy's ``evalf`` with a large ``maxn``) so that cancellation in either side cannot
fake agreement.  Sample points cover both sides of every kink, small and large magnitudes up to
|x| = 1000, and the parameters at their defaults and at other positive values.  Indexed
expressions are instantiated at small sizes (n = 1..4) with every assignment of their free indices.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction

import sympy
from sympy import (
    Abs,
    Add,
    Float,
    Heaviside,
    Indexed,
    KroneckerDelta,
    Max,
    Min,
    Piecewise,
    Rational,
    Sum,
    Symbol,
    sign,
)

from .budget import BudgetExceeded, run_limited
from .functions import expand_named

__all__ = [
    "Proof",
    "Counterexample",
    "Outcome",
    "Space",
    "ProofError",
    "prove_equal",
    "sift",
    "find_kinks",
    "evaluate",
    "replace_sum",
]

DIGITS = 50  #: significant digits of every numeric evaluation
AGREE = 35  #: digits two values must share to count as equal at a point
MAXN = 4000  #: the most bits evalf may use to resolve cancellation
POINT_BUDGET = 1.0  #: seconds one side may take at one point before the point is skipped
SCALAR_VALUES = (
    Rational(1, 1000), Rational(1, 10), Rational(1, 2), 1, Rational(3, 2), Rational(5, 2),
    5, 10, 30, 100, 1000,
)  # fmt: skip
PARAM_VALUES = (Rational(37, 100), Rational(19, 10), Rational(7, 2))


class ProofError(ArithmeticError):
    """A displayed form or a rewrite turned out not to equal what it claims to equal."""


@dataclass(frozen=True)
class Proof:
    """How an equality was established."""

    method: str  #: "symbolic" or "numeric"
    detail: str
    points: int = 0
    digits: int = 0

    def __str__(self) -> str:
        return f"{self.method}: {self.detail}"


@dataclass(frozen=True)
class Counterexample:
    """A point where two expressions differ, with both values at high precision."""

    point: dict[str, str]
    lhs: str
    rhs: str


@dataclass(frozen=True)
class Outcome:
    """The answer of :func:`prove_equal`: equal (with a proof), not equal (with a counterexample),
    or undecided (``equal is None``) when neither could be established within the budget."""

    equal: bool | None
    proof: Proof | None = None
    counterexample: Counterexample | None = None
    note: str = ""


@dataclass(frozen=True)
class Space:
    """Where to sample: which symbols are real variables, which are positive parameters, and so on.

    Symbols that are not listed are classified by their assumptions (positive symbols are
    parameters, others are real variables).  ``domains`` gives an auxiliary symbol or IndexedBase
    a sampling domain (``real``, ``unit``, ``binary``, ``simplex``, ``index``); ``index_ranges``
    says which size symbol bounds each index; ``assumptions`` are substitutions applied before
    comparing (sum_k y_k -> 1).
    """

    kinks: dict[sympy.Symbol, tuple[sympy.Expr, ...]] = field(default_factory=dict)
    params: dict[sympy.Symbol, tuple[sympy.Expr, ...]] = field(default_factory=dict)
    domains: dict[sympy.Basic, str] = field(default_factory=dict)
    index_ranges: dict[sympy.Symbol, sympy.Symbol] = field(default_factory=dict)
    assumptions: tuple[tuple[sympy.Expr, sympy.Expr], ...] = ()
    sizes: tuple[int, ...] = (1, 2, 3, 4)
    seed: int = 20261125


# --------------------------------------------------------------------------------------------
# symbolic helpers


def sift(expr: sympy.Expr) -> sympy.Expr:
    """Apply the sifting rule sum_k f(k) delta_kj = f(j) to every sum (j assumed in the range).

    >>> from sympy import IndexedBase, Symbol, Sum, KroneckerDelta, exp
    >>> a, k, j, n = IndexedBase("a"), Symbol("k", integer=True), Symbol("j", integer=True), Symbol("n")
    >>> sift(Sum(exp(a[k]) * KroneckerDelta(j, k), (k, 0, n - 1)))
    exp(a[j])
    """

    def rule(s):
        (var, lo, hi), *rest = s.limits
        if rest:
            return s
        kept, sifted = [], []
        for term in Add.make_args(sympy.expand(s.function, deep=False, mul=True, multinomial=False)):
            delta = next(
                (f for f in sympy.Mul.make_args(term) if isinstance(f, KroneckerDelta) and var in f.free_symbols),
                None,
            )
            if delta is None:
                kept.append(term)
                continue
            other = delta.args[1] if delta.args[0] == var else delta.args[0]
            if var in other.free_symbols:
                kept.append(term)
                continue
            sifted.append((term / delta).subs(var, other))
        if not sifted:
            return s
        rest_sum = Sum(Add(*kept), (var, lo, hi)) if kept else 0
        return Add(*sifted) + rest_sum

    previous = None
    while previous != expr:
        previous = expr
        expr = expr.replace(lambda e: isinstance(e, Sum), rule)
    return expr


def find_kinks(expr: sympy.Expr, var: sympy.Symbol) -> tuple[sympy.Expr, ...]:
    """Points where ``expr`` may fail to be smooth in ``var``: the roots of the linear arguments
    of Piecewise conditions, Abs, sign, Heaviside, DiracDelta, Max and Min."""
    places = []
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sympy.core.relational.Relational):
                    places.append(rel.lhs - rel.rhs)
        elif isinstance(node, (Abs, sign, Heaviside, sympy.DiracDelta)):
            places.append(node.args[0])
        elif isinstance(node, (Max, Min)):
            places.extend(u - v for u, v in itertools.combinations(node.args, 2))
    roots = set()
    for place in places:
        if var not in place.free_symbols:
            continue
        poly = sympy.Poly(place, var) if place.is_polynomial(var) else None
        if poly is not None and poly.degree() == 1:
            c1, c0 = poly.all_coeffs()
            root = -c0 / c1
            if not (root.free_symbols - {s for s in root.free_symbols if s.is_positive}):
                roots.add(root)
    return tuple(sorted(roots, key=sympy.default_sort_key))


def _symbolic_zero(diff: sympy.Expr) -> str | None:
    """The name of the first cheap transformation that takes ``diff`` to 0, else None."""
    if diff == 0:
        return "identical after rewriting named functions to exp/log"
    diff = sift(diff)
    if diff == 0:
        return "identical after the sifting rule for KroneckerDelta"
    diff = sympy.piecewise_fold(diff)
    if isinstance(diff, Piecewise):
        reasons, before = [], []
        for branch, cond in diff.args:
            reasons.append(_symbolic_zero_smooth(_on_side(branch, cond, before)))
            before.append(cond)
        if all(reasons):
            return "zero on every branch of the Piecewise (" + "; ".join(dict.fromkeys(reasons)) + ")"
        return None
    return _zero_on_each_side(diff) or _symbolic_zero_smooth(diff)


_SIGNED = (Abs, sign, Heaviside)


def _zero_on_each_side(diff: sympy.Expr) -> str | None:
    """Where ``diff`` holds |w|, sign(w) or Heaviside(w) and is a function of one real variable v whose sign
    fixes every such w (w = v (1 + v^2/3), gelu_tanh's derivative): ``diff`` with v = p and with v = -p, p > 0,
    where SymPy's evaluation then resolves them all, each taken to 0 by the smooth steps (v = 0 is a set of
    measure zero).  None where it does not apply or a side is not shown zero.  Seconds cheaper than letting
    simplify try the expression whole, which cannot see through |w| (and twenty seconds on gelu_tanh)."""
    if not diff.has(*_SIGNED) or len(diff.free_symbols) != 1:
        return None
    (v,) = diff.free_symbols
    if not (v.is_real and v.is_positive is None and v.is_negative is None):
        return None
    p = sympy.Dummy(v.name, positive=True)
    reasons = []
    for side in (p, -p):
        branch = diff.xreplace({v: side})
        if branch.has(*_SIGNED):
            return None
        reason = _symbolic_zero_smooth(branch)
        if reason is None:
            return None
        reasons.append(reason)
    return f"zero for {v} > 0 and for {v} < 0 (" + "; ".join(dict.fromkeys(reasons)) + ")"


def _on_side(branch: sympy.Expr, cond, before: list) -> sympy.Expr:
    """``branch`` with its variable written as +-p (p > 0) where its condition, after the conditions of the
    branches ``before`` it failed, fixes the variable's sign: v >= 0 or v > 0, or True after one of those
    (|v| is then v or -v, which SymPy's simplification needs: 2/(sqrt(v^2 + 4) + |v|) = (v + sqrt(v^2 + 4))/2
    only where v < 0)."""
    for test, negate in [(cond, False), *[(c, True) for c in reversed(before)]]:
        if test is sympy.true:
            continue
        if isinstance(test, (sympy.GreaterThan, sympy.StrictGreaterThan, sympy.LessThan, sympy.StrictLessThan)):
            v, other = test.lhs, test.rhs
            if other == 0 and v.is_Symbol and v.is_real:
                positive = isinstance(test, (sympy.GreaterThan, sympy.StrictGreaterThan)) != negate
                p = sympy.Dummy(v.name, positive=True)
                return branch.xreplace({v: p if positive else -p})
        return branch
    return branch


_STEPS = (
    ("expand", lambda e: sympy.expand(e)),
    ("cancel", lambda e: sympy.cancel(sympy.together(e))),
    ("expand in exp", lambda e: sympy.cancel(sympy.expand(e.rewrite(sympy.exp)))),
    ("simplify", lambda e: sympy.simplify(e)),
    ("simplify in exp", lambda e: sympy.simplify(e.rewrite(sympy.exp))),
)


def _symbolic_zero_smooth(diff):
    if diff == 0:
        return "identical"
    for name, step in _STEPS:
        try:
            if step(diff) == 0:
                return f"{name}(lhs - rhs) = 0"
        except BudgetExceeded:
            raise
        except Exception:  # SymPy raises StopIteration, RecursionError, ... on hard inputs
            continue
    return None


# --------------------------------------------------------------------------------------------
# numeric evaluation


def evaluate(expr: sympy.Expr, subs: dict, digits: int = DIGITS) -> sympy.Expr:
    """``expr`` at ``subs`` to ``digits`` significant digits, cancellation resolved by ``evalf``."""
    return expr.evalf(digits, subs=subs, maxn=MAXN, chop=False)


def _is_number(v) -> bool:
    return isinstance(v, (Float, sympy.Integer, sympy.Rational)) or (v.is_number and v.is_real and v.is_finite)


def _agree(va, vb) -> bool:
    """Equal to AGREE digits; an imprecise zero from evalf (0.e-N) counts as zero."""
    if not (_is_number(va) and _is_number(vb)):
        return False
    za, zb = (v == 0 or (isinstance(v, Float) and v._prec < 10 and abs(v) < 1e-300) for v in (va, vb))
    if za or zb:
        return za and zb
    return bool(Abs(va - vb) <= max(Abs(va), Abs(vb)) * Rational(1, 10**AGREE))


def _unresolved(imprecise, other) -> bool:
    """Whether ``imprecise`` is a zero evalf could not resolve (0.e-N: MAXN bits did not reach its first digit;
    1 + tanh(-35000) at x = -100 in gelu_tanh's derivative) and ``other`` a number below its bound: the point
    decides nothing either way."""
    if not (isinstance(imprecise, Float) and imprecise._prec < 10 and _is_number(other)):
        return False
    if isinstance(other, Float) and other._prec < 10:
        return False
    return other != 0 and Abs(other) < Abs(imprecise) * 10  # 0.e-N: a magnitude below about 10**-N


def _scalar_values(var, kinks, rng: random.Random) -> list[sympy.Expr]:
    values = [s * v for v in SCALAR_VALUES for s in (1, -1)]
    for c in kinks:
        for eps in (Rational(1, 10**9), Rational(1, 1000), Rational(3, 10), 2):
            values += [c - eps, c + eps]
    values += [Rational(rng.randint(-20000, 20000), 1000) for _ in range(8)]
    # a kink itself is a set of measure zero: the sides may differ there (f'(0) of relu) and still be equal
    at_kinks = {c for c in kinks if getattr(c, "is_number", True)}
    values = [v for v in values if v not in at_kinks]
    return _respecting(var, values)


def _respecting(var, values: list) -> list:
    """The values that the variable's assumptions allow (x >= 0, x < 0, ...); all of them otherwise."""
    checks = (
        (var.is_nonnegative, lambda v: v >= 0),
        (var.is_nonpositive, lambda v: v <= 0),
        (var.is_negative, lambda v: v < 0),
        (var.is_positive, lambda v: v > 0),
    )
    for holds, keep in checks:
        if holds:
            values = [v for v in values if not getattr(v, "free_symbols", ()) and keep(v)]
    return values or [Rational(0)]


def _sample_domain(domain: str, rng: random.Random, size: int = 1):
    if domain == "unit":
        return [Rational(rng.randint(1, 999), 1000) for _ in range(size)]
    if domain == "binary":
        return [rng.randint(0, 1) for _ in range(size)]
    if domain == "sign":
        return [rng.choice((-1, 1)) for _ in range(size)]
    if domain == "simplex":
        raw = [rng.randint(1, 100) for _ in range(size)]
        return [Rational(v, sum(raw)) for v in raw]
    if domain == "positive":
        return [Rational(rng.randint(100, 5000), 1000) for _ in range(size)]
    if domain == "nonnegative":
        return [Rational(rng.randint(0, 5000), 1000) for _ in range(size)]
    return [Rational(rng.randint(-8000, 8000), 1000) for _ in range(size)]


def _classify(exprs, space: Space):
    """Split the free symbols into real variables, parameters and auxiliary symbols."""
    reals, params, aux = [], [], []
    symbols = set()
    for e in exprs:
        symbols |= {s for s in e.free_symbols if isinstance(s, Symbol)}
    bases = set()
    for e in exprs:
        bases |= {ix.base for ix in e.atoms(Indexed)}
    base_labels = {b.label for b in bases}
    for s in sorted(symbols, key=sympy.default_sort_key):
        if s in base_labels or s in space.index_ranges or s in set(space.index_ranges.values()):
            continue
        if s in space.domains:
            aux.append(s)
        elif s in space.params or s.is_positive:
            params.append(s)
        else:
            reals.append(s)
    return reals, params, aux, sorted(bases, key=sympy.default_sort_key)


def _points(lhs, rhs, space: Space, limit: int):
    """Yield (description, lhs instance, rhs instance, substitutions) for each sample point."""
    rng = random.Random(space.seed)
    reals, params, aux, bases = _classify((lhs, rhs), space)
    if bases or space.index_ranges:
        yield from _indexed_points(lhs, rhs, space, rng, reals, params, aux, bases, limit)
        return
    columns = {v: _scalar_values(v, space.kinks.get(v, ()), rng) for v in reals}
    count = max([len(c) for c in columns.values()] + [6])
    for v in columns:
        rng.shuffle(columns[v]) if len(reals) > 1 else None
    for n in range(min(count, limit)):
        subs = {v: columns[v][n % len(columns[v])] for v in reals}
        for prm in params:
            choices = space.params.get(prm, ()) + PARAM_VALUES
            subs[prm] = choices[n % len(choices)]
        for s in aux:
            subs[s] = _sample_domain(space.domains[s], rng)[0]
        # a kink that depends on a parameter (x = alpha +- eps) takes this point's parameter values
        fixed = {prm: subs[prm] for prm in params}
        for v in reals:
            if getattr(subs[v], "free_symbols", None):
                subs[v] = subs[v].subs(fixed)
        yield subs, lhs, rhs


def _indexed_points(lhs, rhs, space, rng, reals, params, aux, bases, limit):
    size_symbols = sorted(set(space.index_ranges.values()), key=sympy.default_sort_key)
    free_indices = [
        s for s in sorted(lhs.free_symbols | rhs.free_symbols, key=sympy.default_sort_key) if s in space.index_ranges
    ]
    produced = 0
    for size in space.sizes:
        sizes = {s: size for s in size_symbols}
        # a second size symbol (features next to samples) gets a different size, to catch mixed-up axes
        for offset, s in enumerate(size_symbols[1:], start=1):
            sizes[s] = max(1, size + offset) if size < 4 else size - offset
        try:
            left, right = (sympy.expand_func(e.subs(sizes)).doit() for e in (lhs, rhs))
        except Exception:
            continue
        ranges = [range(int(space.index_ranges[ix].subs(sizes))) for ix in free_indices]
        for assignment in itertools.product(*ranges):
            subs_ix = dict(zip(free_indices, assignment))
            li, ri = left.subs(subs_ix), right.subs(subs_ix)
            for _ in range(2):
                # the sizes and the free indices are already substituted; they stay in the point's description
                subs = {**sizes, **subs_ix}
                for v in reals:
                    subs[v] = Rational(rng.randint(-8000, 8000), 1000)
                for prm in params:
                    subs[prm] = rng.choice(space.params.get(prm, ()) + PARAM_VALUES)
                for s in aux:
                    dom = space.domains[s]
                    if dom == "index":
                        continue
                    subs[s] = _sample_domain(dom, rng)[0]
                for base in bases:
                    dom = space.domains.get(base, "real")
                    shape = _shape_of(base, li.atoms(Indexed) | ri.atoms(Indexed))
                    if dom == "simplex" and len(shape) == 1:
                        vals = _sample_domain("simplex", rng, shape[0])
                        subs.update({base[q]: vals[q] for q in range(shape[0])})
                        continue
                    # in a fixed order: a set's order follows the string hash, which differs between processes
                    for ix in sorted(li.atoms(Indexed) | ri.atoms(Indexed), key=sympy.default_sort_key):
                        if ix.base == base:
                            subs[ix] = _sample_domain(dom, rng)[0]
                yield subs, li, ri
                produced += 1
                if produced >= limit:
                    return


def _shape_of(base, indexed_atoms):
    idx = [ix.indices for ix in indexed_atoms if ix.base == base]
    if not idx:
        return ()
    return tuple(int(max(ix[axis] for ix in idx)) + 1 for axis in range(len(idx[0])))


def _apply_assumptions(expr, space: Space):
    if space.assumptions:
        from .sums import normalise_sums

        expr = normalise_sums(sift(expr))
    for lhs, rhs in space.assumptions:
        expr = replace_sum(expr, lhs, rhs)
    return expr


def replace_sum(expr, pattern, value):
    """Replace every sum equal to ``pattern`` up to the name of its dummy index."""
    if not isinstance(pattern, Sum):
        return expr.subs(pattern, value)
    (pv, plo, phi) = pattern.limits[0]

    def matches(e):
        if not isinstance(e, Sum) or len(e.limits) != 1:
            return False
        v, lo, hi = e.limits[0]
        return lo == plo and hi == phi and e.function.subs(v, pv) == pattern.function

    return expr.replace(matches, lambda e: value)


def _numeric(lhs, rhs, space: Space, points: int, deadline: float):
    """Sample both sides; return (agreeing points, skipped points, counterexample or None, why undecided or "",
    points that agreed only at a higher precision).

    A difference at DIGITS digits is confirmed at rising precision (:func:`_confirm`) before it counts:
    1 - sigmoid(1000) inside a log loses every digit at 50 digits and settles only at 200."""
    checked = skipped = raised = highest = 0
    undecided = ""
    for subs, li, ri in _points(lhs, rhs, space, points):
        if time.monotonic() > deadline:
            break
        try:
            va = run_limited(evaluate, POINT_BUDGET, li, subs)
            vb = run_limited(evaluate, POINT_BUDGET, ri, subs)
        except BudgetExceeded:
            if time.monotonic() > deadline:
                raise
            skipped += 1  # a point too expensive to evaluate (exp(exp(exp(x))) at x = 1000)
            continue
        except Exception:
            skipped += 1
            continue
        finite = [_is_number(v) for v in (va, vb)]
        if not all(finite):
            if any(finite) and all(_is_value(v) for v in (va, vb)):
                pass  # one side finite, the other infinite or complex: a genuine difference
            else:
                skipped += 1  # nan, or a value that is not a number (an unevaluated Sum): decides nothing
                continue
        if _unresolved(va, vb) or _unresolved(vb, va):
            skipped += 1  # evalf could only bound one side (|v| < 1e-13770), and the other is below the bound
            continue
        if not _agree(va, vb):
            verdict, values, why = _confirm(li, ri, subs, va, vb)
            if verdict == "agree":
                checked += 1
                raised += 1
                highest = max(highest, values)
                continue
            if verdict == "unstable":
                where = ", ".join(f"{k} = {_show(v)}" for k, v in subs.items())
                undecided = undecided or f"at {where} the sides differ at {DIGITS} digits, but {why}"
                skipped += 1
                continue
            point = {str(k): _show(v) for k, v in subs.items()}
            return (
                checked,
                skipped,
                Counterexample(point, _show(values[0]), _show(values[1])),
                undecided,
                (raised, highest),
            )
        checked += 1
    return checked, skipped, None, undecided, (raised, highest)


CONFIRM_DIGITS = (100, 200, 400, 800)  #: the precisions a difference found at DIGITS digits is re-evaluated at


def _is_value(v) -> bool:
    """A number, an infinity or a complex number: no free symbol, no unevaluated Sum, not nan."""
    return bool(
        isinstance(v, sympy.Basic)
        and not v.free_symbols
        and not v.has(sympy.nan, Sum, sympy.Product, sympy.Integral, sympy.Derivative)
    )


def _settled(before, after) -> bool:
    """Whether a value did not move when the precision rose: the same to AGREE digits, or the same infinity."""
    if _is_number(before) and _is_number(after):
        return _agree(before, after)
    if not (_is_value(before) and _is_value(after)):
        return False
    if before == after:  # the same infinity
        return True
    if before.is_finite and after.is_finite:  # complex values (log of a negative number): the same to AGREE digits
        try:
            gap = abs(complex(sympy.N(before - after, 20)))
            return gap <= abs(complex(sympy.N(after, 20))) * 10.0**-AGREE
        except TypeError:  # a value SymPy cannot make a number of (erfc(1000) - 1 + erf(1000) left unevaluated)
            return False
    return False


def _confirm(li, ri, subs, va, vb):
    """Re-evaluate a difference found at DIGITS digits at rising precision until both values settle.

    Returns ("differ", (lhs, rhs), ""), with the values at the highest precision used, ("agree", digits, "")
    when the sides agree at a higher precision (the difference was lost digits; digits is the precision it took),
    or ("unstable", None, reason) when the values keep moving up to the last precision or take too long."""
    before = (va, vb)
    for digits in CONFIRM_DIGITS:
        try:
            after = tuple(run_limited(evaluate, POINT_BUDGET, e, subs, digits) for e in (li, ri))
        except BudgetExceeded:
            return "unstable", None, f"evaluating them at {digits} digits took more than {POINT_BUDGET:g} s"
        except Exception as exc:
            return "unstable", None, f"evaluating them at {digits} digits failed ({type(exc).__name__})"
        if _agree(*after):
            return "agree", digits, ""
        if all(_settled(b, a) for b, a in zip(before, after, strict=True)):
            return "differ", after, ""
        before = after
    return "unstable", None, f"their values still change between {CONFIRM_DIGITS[-2]} and {CONFIRM_DIGITS[-1]} digits"


def _show(v, digits: int = 30) -> str:
    """A value for a person: exact decimals for sample points (0.001, not 0.0010000000000000000000),
    p/q for other rationals, ``digits`` significant digits for computed values."""
    if isinstance(v, (int, sympy.Integer)):
        return str(v)
    if isinstance(v, sympy.Rational):
        q = int(v.q)
        twos = fives = 0
        while q % 2 == 0:
            q //= 2
            twos += 1
        while q % 5 == 0:
            q //= 5
            fives += 1
        if q == 1 and max(twos, fives) <= 40:  # a terminating decimal: print it exactly
            places = max(twos, fives)
            digits = str(abs(int(v.p)) * 10**places // int(v.q)).rjust(places + 1, "0")
            text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".") if places else digits
            return ("-" if v < 0 else "") + text
        return str(v)
    try:
        text = sympy.sstr(sympy.N(v, digits)) if v.is_number else str(v)
    except Exception:
        return str(v)
    if "." in text and not any(c in text for c in "eEIi*"):  # 0.500000 -> 0.5, keeping every digit computed
        text = text.rstrip("0").rstrip(".")
    return text


def _certain_difference(lhs, rhs, space: Space) -> Outcome | None:
    """Not equal, for certain, when lhs - rhs is a nonzero rational function (x + 1e-60 against x) or
    lhs / rhs a constant other than 1 (exp(x)*(1 + 1e-50) against exp(x)): differences far below the
    35 digits that sampling compares.  The counterexample shows both values with enough digits."""
    if any(e.has(Indexed, Sum, Piecewise) for e in (lhs, rhs)):
        return None
    d = sympy.cancel(sympy.expand(lhs - rhs))
    how = None
    if d != 0 and d.is_rational_function():
        how = f"lhs - rhs = {sympy.sstr(d)}, a nonzero rational function"
    elif rhs != 0:
        q = sympy.cancel(sympy.expand(sympy.powsimp(lhs / rhs)))
        if q.is_number and q != 1:
            d, how = q - 1, f"lhs / rhs = {sympy.sstr(q)}"
    if how is None:
        return None
    for subs, li, ri in _points(lhs, rhs, space, 64):
        gap = evaluate(d, subs)
        if not _is_number(gap) or gap == 0:
            continue
        va = evaluate(li, subs)
        if not _is_number(va):
            continue
        # digits enough to show where the two values part: 50 beyond the size of the gap
        extra = 0 if va == 0 else max(0, int(sympy.log(Abs(va) / Abs(gap), 10).evalf(15)) + 1)
        digits = min(DIGITS + extra, 4000)
        va, vb = evaluate(li, subs, digits), evaluate(ri, subs, digits)
        if _agree_exactly(va, vb):
            continue
        point = {str(k): _show(v) for k, v in subs.items()}
        example = Counterexample(point, _show(va, digits), _show(vb, digits))
        return Outcome(False, counterexample=example, note=how)
    return None


def _agree_exactly(va, vb) -> bool:
    return _is_number(va) and _is_number(vb) and va == vb


# --------------------------------------------------------------------------------------------


def _as_expr(value) -> sympy.Basic:
    """A SymPy object for an expression or a Python number; strings are refused (read them with symact.parse)."""
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise TypeError(f"prove_equal compares SymPy expressions or numbers, not {type(value).__name__}")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.Float(value)


def prove_equal(
    lhs: sympy.Expr,
    rhs: sympy.Expr,
    space: Space | None = None,
    *,
    budget: float = 10.0,
    symbolic_budget: float = 3.0,
    points: int = 48,
    symbolic: bool = True,
    wall: bool = True,
) -> Outcome:
    """Decide whether ``lhs`` equals ``rhs`` wherever both are defined (up to sets of measure zero).

    Returns an :class:`Outcome`: equal with a :class:`Proof`, not equal with a
    :class:`Counterexample`, or undecided when the budget ran out first.
    """
    space = space or Space()
    # wall-clock time, unlike the processor-time limits of symact.budget: ``budget`` is what a user of verify waits,
    # inside verify's own wall-clock limit on its worker, and must end before it (a busy machine gives a numeric
    # proof fewer points, not a worker killed at the limit)
    start = time.monotonic()
    lhs, rhs = (_apply_assumptions(_as_expr(e), space) for e in (lhs, rhs))
    plain_l, plain_r = expand_named(lhs), expand_named(rhs)
    if symbolic:
        try:
            reason = run_limited(_symbolic_zero, min(symbolic_budget, budget), plain_l - plain_r)
        except BudgetExceeded:
            reason = None
        if reason:
            if space.assumptions:
                used = ", ".join(f"{sympy.sstr(lhs)} = {sympy.sstr(rhs)}" for lhs, rhs in space.assumptions)
                reason = f"{reason}, after the sifting rule and {used}"
            return Outcome(True, Proof("symbolic", reason))
        remaining = budget - (time.monotonic() - start)
        try:
            certain = run_limited(_certain_difference, min(0.5, max(remaining / 4, 0.1)), plain_l, plain_r, space)
        except BudgetExceeded:
            certain = None
        if certain is not None:
            return certain
    # at least half a second of sampling, on its processor-time budget and on its wall-clock deadline alike: the
    # symbolic attempts' budgets count processor time, so on a busy machine they may leave no wall-clock time
    remaining = max(budget - (time.monotonic() - start), 0.5)
    # wall=False (a generated module's header): the sampling gets ``budget`` processor seconds of its own and no
    # wall-clock deadline, so that how many points agree does not depend on how busy the machine is (gelu_tanh's
    # header said 19 points instead of 28 under load, and generate --check failed)
    deadline = time.monotonic() + remaining if wall else math.inf
    try:
        checked, skipped, counter, undecided, raised = run_limited(
            _numeric, remaining if wall else budget, plain_l, plain_r, space, points, deadline
        )
    except BudgetExceeded:
        return Outcome(None, note=f"no proof and no counterexample within {budget:g} s")
    if counter is not None:
        return Outcome(False, counterexample=counter)
    if undecided:
        return Outcome(None, note=f"could not decide: {undecided}")
    if checked == 0:
        return Outcome(None, note="no sample point could be evaluated")
    note = f"{skipped} sample points could not be evaluated and were skipped" if skipped else ""
    detail = f"agree to {AGREE} digits at {checked} points ({DIGITS}-digit mpmath evaluation)"
    raised, highest = raised
    if raised:
        detail += f"; {raised} of them only at {highest} digits: digits lost to cancellation at {DIGITS}"
    return Outcome(True, Proof("numeric", detail, checked, AGREE), note=note)
