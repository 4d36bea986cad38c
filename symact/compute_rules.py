"""Compute rules: how an elementwise expression is computed, decided by its mathematics, never by a name.

Three kinds of decision, each a function of SymPy expressions only:

- :func:`canonical` spells plain maths as the named functions it equals (sigma, tanh, softplus), however it
  was written: ``exp(x)/(1 + exp(x))``, ``1 - 1/(1 + exp(x))`` and ``sigmoid(x)`` are one expression, and
  ``(exp(x) - exp(-x))/(exp(x) + exp(-x))`` is ``tanh(x)``.  Each replacement is proved an identity (SymPy's
  simplification of the difference) before it is made; a numeric screen at a few points keeps the proofs to
  the candidates that can hold.
- :data:`DERIVATIVE_RULES` are compensated kernel-library forms of derivatives: a rule fires where the
  derivative is a constant times the rule's pattern at some argument w (sigma'(w), tanh'(w), (w sigma(w))'),
  whatever the function is called and however it was written (:func:`match_derivative`).
- :data:`DOUBLE_DOUBLE_RULES` compute a whole function and its derivative in double-double arithmetic
  where plain float64 cannot reach the bound (x tanh(softplus(x))) (:func:`match_double_double`).

The kernel-library functions named here live in :mod:`symact.kernel_lib`, as tested code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import sympy

from .budget import BudgetExceeded, run_limited
from .functions import NamedFunction, recognise, sigmoid, softplus
from .rewrites import _tanh_tail, to_plain

__all__ = [
    "DERIVATIVE_RULES",
    "DOUBLE_DOUBLE_RULES",
    "DerivativeMatch",
    "DerivativeRule",
    "DoubleDoubleRule",
    "canonical",
    "match_derivative",
    "match_double_double",
]

#: seconds for one proof that a subexpression equals a named function
PROOF_BUDGET = 5.0


@dataclass(frozen=True)
class DerivativeRule:
    """A kernel-library form of a derivative: ``pattern(w)`` is the maths, ``call`` the code computing it
    (``{w}``: the argument's code, ``{v}``: the variable, whose type constants take)."""

    name: str
    pattern: Callable[[sympy.Expr], sympy.Expr]
    call: str
    helpers: tuple[str, ...]
    #: half-width of the root patches of f' where the form stays accurate closer to a zero than the general
    #: form (None: the default radius), and of the float32 patches (0: the float64 patch serves float32)
    radius: float | None = None
    radius32: float = 0.0


@dataclass(frozen=True)
class DoubleDoubleRule:
    """A function computed in double-double arithmetic (float64) and in plain float64 (float32 arguments)."""

    name: str
    pattern: Callable[[sympy.Expr], sympy.Expr]
    forward: str
    derivative: str
    plain_forward: str
    plain_derivative: str
    radius: float | None = None


DERIVATIVE_RULES: tuple[DerivativeRule, ...] = (
    DerivativeRule(
        "sigma'(w) = t / (1 + t)^2, t = exp(-|w|)",
        lambda w: sigmoid(w) * (1 - sigmoid(w)),
        "_t_over_square(vexp(-abs({w})))",
        ("_t_over_square", "vexp"),
    ),
    DerivativeRule(
        "tanh'(w) = 4 t / (1 + t)^2, t = exp(-2|w|)",
        lambda w: 1 - sympy.tanh(w) ** 2,
        "_lit(4.0, {v})*_t_over_square(vexp(abs({w})*_lit(-2.0, {v})))",
        ("_t_over_square", "vexp"),
    ),
    # _silu_prime is within 2.01 ulp (float32) and 1.9 (float64) from 1/16 of its zero on
    DerivativeRule(
        "(w sigma(w))' = sigma(w) (1 + w (1 - sigma(w)))",
        lambda w: sigmoid(w) * (1 + w * (1 - sigmoid(w))),
        "_silu_prime({w})",
        ("_silu_prime",),
        radius=0.0625,
        radius32=0.0625,
    ),
)

#: mish' from _mish_prime_dd is within 0.8 ulp for |x - u0| > 0.03 and 1 ulp above 0.015 (the cancellation in
#: N D + 4 x w Q grows as the zero nears), so a patch of 1/16 (degree 12 instead of 43 for radius 1) covers the rest
DOUBLE_DOUBLE_RULES: tuple[DoubleDoubleRule, ...] = (
    DoubleDoubleRule(
        "w tanh(softplus(w)) in head-tail arithmetic",
        lambda w: w * sympy.tanh(softplus(w)),
        "_mish_dd",
        "_mish_prime_dd",
        "_mish_plain",
        "_mish_prime_plain",
        radius=0.0625,
    ),
)


# --- canonical spelling -------------------------------------------------------------------------------------

#: the functions a subexpression is recognised as (then the rewrites and primitives of that function apply):
#: cosh and sinh too, and twice each, since exp(w) + exp(-w) is written for 2 cosh(w) as often as with its half
_NAMED = (
    sigmoid,
    sympy.tanh,
    softplus,
    sympy.cosh,
    sympy.sinh,
    lambda w: 2 * sympy.cosh(w),
    lambda w: 2 * sympy.sinh(w),
)


def _arguments(node: sympy.Expr) -> list[sympy.Expr]:
    """Candidate arguments w of a named function equal to ``node``: from each exp(a) in it, a, -a, a/2, -a/2."""
    found: list[sympy.Expr] = []
    for e in sorted(node.atoms(sympy.exp), key=sympy.default_sort_key):
        a = e.args[0]
        for w in (a, -a, a / 2, -a / 2):
            if w not in found:
                found.append(w)
    return found


def _numerically_equal(a: sympy.Expr, b: sympy.Expr, symbols: list[sympy.Symbol]) -> bool:
    """Whether a and b agree to 25 digits at a few fixed pseudo-random points (a screen, not a proof)."""
    rng = random.Random(20261205)
    fa = sympy.lambdify(symbols, to_plain(a), modules="mpmath")
    fb = sympy.lambdify(symbols, to_plain(b), modules="mpmath")
    with mpmath.workdps(40):
        for _ in range(4):
            point = [mpmath.mpf(rng.uniform(-3, 3)) for _ in symbols]
            try:
                va, vb = fa(*point), fb(*point)
            except (ZeroDivisionError, ValueError, TypeError, OverflowError, NameError):
                return False
            if not (mpmath.isfinite(va) and mpmath.isfinite(vb)):
                return False
            if abs(va - vb) > mpmath.mpf(10) ** -25 * (1 + abs(vb)):
                return False
    return True


def _proved_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Whether SymPy proves a = b (in plain exp/log) within the proof budget."""

    def attempt():
        difference = to_plain(a) - to_plain(b)
        if sympy.simplify(difference.rewrite(sympy.exp)) == 0:
            return True
        return sympy.simplify(sympy.expand_log(difference, force=True)) == 0

    try:
        return bool(run_limited(attempt, PROOF_BUDGET))
    except (BudgetExceeded, Exception):
        return False


def _as_named(node: sympy.Expr) -> sympy.Expr | None:
    """The named function (sigma, tanh, softplus, cosh, sinh of some w, or twice cosh or sinh) that ``node`` equals,
    proved, or None."""
    if isinstance(node, NamedFunction) or not node.has(sympy.exp):
        return None
    symbols = sorted(node.free_symbols, key=lambda s: s.name)
    if not symbols:
        return None
    for w in _arguments(node):
        for function in _NAMED:
            candidate = function(w)
            if _numerically_equal(node, candidate, symbols) and _proved_equal(node, candidate):
                return candidate
    return None


def canonical(expr: sympy.Expr, tanh_tails: bool = True) -> sympy.Expr:
    """``expr`` with every subexpression that equals sigma(w), tanh(w), softplus(w), cosh(w) or sinh(w) (or twice
    either of the last two) written so (the largest first), after :func:`symact.functions.recognise`'s patterns;
    with ``tanh_tails``, c (1 + tanh(w)) and c (1 - tanh(w)) as 2c sigma(+-2w) (the kernels' maths; a derivation
    document keeps the tanh its reader wrote).

    >>> from sympy import Symbol, exp
    >>> x = Symbol("x", real=True)
    >>> canonical((exp(x) - exp(-x)) / (exp(x) + exp(-x))), canonical(exp(x) / (1 + exp(x)))
    (tanh(x), sigmoid(x))
    """

    def walk(node: sympy.Expr) -> sympy.Expr:
        if node.is_Atom or not isinstance(node, sympy.Expr):
            return node.func(*[walk(a) for a in node.args]) if node.args else node
        named = _as_named(node)
        if named is not None:
            return named
        if isinstance(node, sympy.Mul | sympy.Add):  # the factors (terms) holding exp and log, together
            inner = [a for a in node.args if a.has(sympy.exp, sympy.log)]
            if 1 < len(inner) < len(node.args):
                rest = [a for a in node.args if not a.has(sympy.exp, sympy.log)]
                part = node.func(*inner)
                named = _as_named(part)
                if named is not None:
                    return node.func(named, *[walk(a) for a in rest])
        args = [walk(a) for a in node.args]
        node = node.func(*args) if args != list(node.args) else node
        if tanh_tails and isinstance(node, sympy.Add):  # c + c tanh(w) = 2c sigma(2w): x (1 + tanh(x/2))/2 is silu
            node = _tanh_tail(node) or node
        return node

    return recognise(walk(to_plain(expr)))


# --- derivative rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivativeMatch:
    """A derivative equal to ``factor`` times ``rule.pattern(argument)``."""

    rule: DerivativeRule
    argument: sympy.Expr
    factor: sympy.Expr


def _named_arguments(expr: sympy.Expr) -> list[sympy.Expr]:
    found = []
    for f in sorted(expr.atoms(sigmoid, sympy.tanh), key=sympy.default_sort_key):
        if f.args[0] not in found:
            found.append(f.args[0])
    return found


def _constant_ratio(d: sympy.Expr, p: sympy.Expr, w: sympy.Expr, var: sympy.Symbol) -> sympy.Expr | None:
    """c where d = c p with c free of the variable (sigma(w) and tanh(w) taken as symbols), else None."""
    s, t = sympy.Dummy("s"), sympy.Dummy("t")
    named = {sigmoid(w): s, sympy.tanh(w): t}
    ds, ps = d.xreplace(named), p.xreplace(named)
    if ds.has(sigmoid, sympy.tanh, sympy.exp, sympy.log, sympy.Piecewise, NamedFunction):
        return None  # other transcendental parts: not this rule's form
    ratio = sympy.cancel(ds / ps)
    if ratio == 0 or ratio.free_symbols & {var, s, t}:
        return None
    return ratio


def match_derivative(derivative: sympy.Expr, var: sympy.Symbol) -> DerivativeMatch | None:
    """The first rule whose pattern, at some argument w of a sigma or tanh in ``derivative``, is the derivative
    up to a constant factor (the derivative in canonical spelling, see :func:`canonical`)."""
    for rule in DERIVATIVE_RULES:
        for w in _named_arguments(derivative):
            if var not in w.free_symbols:
                continue
            factor = _constant_ratio(derivative, rule.pattern(w), w, var)
            if factor is not None:
                return DerivativeMatch(rule, w, factor)
    return None


def match_double_double(definition: sympy.Expr, var: sympy.Symbol) -> DoubleDoubleRule | None:
    """The double-double rule whose pattern at the variable is the definition (in canonical spelling)."""
    for rule in DOUBLE_DOUBLE_RULES:
        if sympy.expand(definition - rule.pattern(var)) == 0:
            return rule
    return None
