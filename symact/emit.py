"""Emission: render every generated kernel module in memory, then write it or check it.

``render(entry)`` returns the text of ``generated/<name>.py`` for one entry; :func:`emit` renders the
requested entries, and either writes them (each through a temporary file and ``os.replace``, after
every file has rendered, so that a failing run leaves the old files intact) or, in check mode,
compares them with the disk and reports stale, missing and extra files.

Elementwise modules are written from the entry's compute forms: the definition and its derivative
after :func:`symact.rewrites.stabilise`, printed by :class:`symact.printer.KernelPrinter`, with
special values (nan, +-inf as the symbolic limits) handled before the formula.  Vector entries and
losses use the row kernels of :mod:`symact.kernel_templates`, whose per-element terms are printed
from the stabilised loss and gradient in the same way.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mpmath
import numpy as np
import sympy
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from . import kernel_lib, rowlib, vecmath
from . import kernel_templates as T
from .budget import BudgetExceeded, run_limited
from .cache import cached
from .catalog import Entry, Kind
from .catalog.symbols import x, y
from .compute_rules import DerivativeMatch, DoubleDoubleRule, canonical, match_derivative, match_double_double
from .dd_printer import DoubleDoubleUnsupported, dd_function
from .files import write_atomic
from .form_proofs import form_claims
from .functions import NamedFunction, sigmoid, softplus
from .measure import _np_sigmoid, _np_softplus, error_at, errors_at, float32_error, form_gives
from .module_identity import identity_source, stamp
from .printer import ARGUMENT, call_code, helper_name, kernel_code
from .prose import plain as plain_text
from .rewrites import PRIMITIVES, combine_by_sign, stabilise
from .roots import RootPatch, root_patches

__all__ = ["Forms", "elementwise_forms", "render", "render_all", "emit", "EmitReport", "DEFAULT_DIR"]

DEFAULT_DIR = "generated"
LIMIT_BUDGET = 5.0  #: seconds for each symbolic limit at +-inf


@dataclass(frozen=True)
class Forms:
    """The compute forms of an elementwise entry (each proved equal to its source: :mod:`symact.form_proofs`)."""

    forward: sympy.Expr
    derivative: sympy.Expr
    output: sympy.Expr | None  #: f' in terms of y, stabilised; None where no output form exists
    raw_derivative: sympy.Expr
    aux: tuple[sympy.Symbol, ...]  #: auxiliary inputs the definition uses (dropout's mask)
    params: tuple[tuple[str, float], ...]  #: (name, default)
    patches: tuple[RootPatch, ...] = field(default=())  #: root-centred forms of the derivative
    #: the definition computed in double-double (a compute_rules.DOUBLE_DOUBLE_RULES rule), or None
    double_double: DoubleDoubleRule | None = None
    #: the derivative as a compensated kernel-library form (a compute_rules.DERIVATIVE_RULES rule), or None
    derivative_rule: DerivativeMatch | None = None
    #: whether f'(x) falls below float32's normal range somewhere without being 0 there (float32 vjp redo)
    underflows: bool = False
    #: whether f(x) itself falls below float32's normal range somewhere without being 0 there
    forward_underflows: bool = False
    #: whether the float32 forward and derivative compute in float64 (their forms miss the bound far in float32)
    float32_wide: tuple[bool, bool] = (False, False)
    #: whether the float32 proxy is near the bound or misses it, not far: the rendered kernel is measured
    #: (_measured)
    float32_doubt: tuple[bool, bool] = (False, False)
    #: root-centred forms of f itself, near its zeros where the forward form cancels (x + sqrt(x^2 + 1)/2 - 1/2)
    forward_patches: tuple[RootPatch, ...] = ()
    #: and of the output form, near its zeros where it cancels (1 - exp(-y)/2 at y = -log 2)
    output_patches: tuple[RootPatch, ...] = ()
    #: whether the float64 forward and derivative compute their forms in double-double (symact.dd_printer): their
    #: plain float64 kernels, measured, miss the bound (_measured)
    float64_dd: tuple[bool, bool] = (False, False)


@functools.lru_cache(maxsize=64)
def elementwise_forms(entry: Entry) -> Forms:
    """Stabilised forward, derivative and output forms of an elementwise entry."""
    from .derive import derive

    derivation = derive(entry)
    first = derivation.gradient("first")
    var = entry.variable
    definition = canonical(entry.definition)  # the same maths, however spelled, is one expression
    forward = _without_cancelling_terms(_by_sign(stabilise(definition), var), loss_only=True)  # where it loses digits
    derivative = _without_cancelling_terms(combine_by_sign(stabilise(_derivative_source(definition, var, first)), var))
    derivative = _shorter_by_logs(derivative, definition, var)
    double_double = match_double_double(definition, var)
    match = None if double_double else match_derivative(sympy.diff(definition, var), var)
    output = stabilise(first.output.expr) if first.output is not None else None
    if output is not None and not _printable(output):  # erf(x/sqrt 2)'s, in erfinv(y): no vjp_from_output
        output = None
    aux = tuple(a.symbol for a in entry.aux if a.symbol in entry.definition.free_symbols)
    params = tuple((T.keyword(p), float(p.default)) for p in entry.params)
    renames = {p.symbol: sympy.Symbol(T.keyword(p)) for p in entry.params if T.keyword(p) != p.name}
    if renames:
        forward, derivative = forward.xreplace(renames), derivative.xreplace(renames)
        output = output.xreplace(renames) if output is not None else None
        if match is not None:
            match = DerivativeMatch(match.rule, match.argument.xreplace(renames), match.factor.xreplace(renames))
    rule = double_double or (match.rule if match else None)
    radius32 = match.rule.radius32 if match else 0.0
    # a zero of f' where the derivative's form does not cancel (-2x/(1 + x^2)^2 at 0, a product) needs no wide
    # patch: a fit there only loses digits toward its edge (4.8 ulp at x = 0.96, the fit's series converging for
    # |d| < 1); one at 0 stays, narrow, for the vjp's sake (g f'(x) with f'(x) subnormal: _vjp_patched)
    cancels = None if entry.params or rule is not None else _cancels_at(derivative, var)
    keep = None if cancels is None else (lambda root: cancels(root) is not False or (root == 0.0 and _NARROW))
    patches = root_patches(entry, first.raw, getattr(rule, "radius", None), radius32, keep=keep)
    defaults = {p.symbol: p.default for p in entry.params}
    underflows = double_double is None and _underflows(sympy.diff(definition, var).xreplace(defaults), var)
    fixed = tuple((p.symbol, p.default) for p in entry.params) + tuple((a, 1) for a in aux)
    back = {sympy.Symbol(k): p.symbol for (k, _), p in zip(params, entry.params)}
    errors = (
        float32_error(forward.xreplace(back), definition, var, fixed),
        float32_error(derivative.xreplace(back), first.raw, var, fixed),
    )
    # erf and erfc compute in float64 for a float32 argument (vecmath's erfc_f32 is erfc_f64 rounded): a float32
    # loop around them gains no SIMD width and loses digits (gelu's forward: 2.45 ulp in float32, 0.5 in float64,
    # and twice as fast), so such a form computes in float64, rounded once
    by_erf = [form.has(sympy.erf, sympy.erfc) for form in (forward, derivative)]
    wide = (errors[0] > FAR * FORWARD_BOUND or by_erf[0], errors[1] > FAR * DERIVATIVE_BOUND or by_erf[1])
    doubt = (
        DOUBT * FORWARD_BOUND < errors[0] <= FAR * FORWARD_BOUND,
        DOUBT * DERIVATIVE_BOUND < errors[1] <= FAR * DERIVATIVE_BOUND,
    )
    tiny_f = double_double is None and _underflows(definition.xreplace(defaults), var, near_zero=False)
    near_zeros = out_zeros = ()
    if not (double_double or entry.params):
        near_zeros = root_patches(entry, definition, keep=_cancels_at(forward, var), even=True)
        if output is not None:
            out_zeros = root_patches(entry, first.output.expr, keep=_cancels_at(output, y), var=y, even=True)
    return Forms(
        forward,
        derivative,
        output,
        first.raw,
        aux,
        params,
        patches,
        double_double,
        match,
        underflows,
        tiny_f,
        wide,
        doubt,
        near_zeros,
        out_zeros,
    )


def _by_sign(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """``expr`` with |var| written as var or -var inside each branch of a Piecewise split by var's sign (and in the
    branches nested there), stabilised again where that changed it.  A rule may bring |x| into a branch that
    already knows x's sign: log cosh(x) - |x| became -x + (|x| + softplus(-2|x|) - log 2) for x >= 0, which cancels
    for large x (6e15 ulp); with |x| = x there, SymPy's own sum leaves softplus(-2x) - log 2.  Taken only where
    terms cancel so, so forms that keep |x| for stability keep it (squareplus)."""

    def refined(e, sign):
        if sign:
            e = e.xreplace({sympy.Abs(var): sign * var})
        if isinstance(e, sympy.Piecewise):
            pieces, known = [], None
            for value, condition in e.args:
                here = {var >= 0: 1, var > 0: 1, var < 0: -1, var <= 0: -1}.get(condition)
                if here is None and condition is sympy.true and known is not None:
                    here = -known  # the else branch of a split by sign
                known = here if len(pieces) == 0 else None
                value = refined(value, here or sign)
                if value.is_Add and value.has(sympy.Piecewise):  # -x + (x + ... or ...): the sum into each branch
                    value = sympy.piecewise_fold(value)
                pieces.append((value, condition))
            return sympy.Piecewise(*pieces, evaluate=False)
        if e.args and not e.is_Atom:
            args = [refined(a, sign) for a in e.args]
            return e.func(*args) if args != list(e.args) else e
        return e

    done = refined(expr, None)
    if done == expr:
        return expr
    done = stabilise(done)
    return done if _terms(done) < _terms(expr) else expr  # only where terms went away


def _terms(expr: sympy.Expr) -> int:
    """How many terms the sums in ``expr`` have, all together."""
    return sum(len(e.args) for e in sympy.preorder_traversal(expr) if e.is_Add)


def _nan_at_nan(raw: sympy.Expr, var: sympy.Symbol) -> bool:
    """Whether SymPy's derivative ``raw`` of the definition is a smooth expression in ``var``, so nan at nan, even
    where its compute form is a constant (the definition spelled a function equal to x)."""
    return var in raw.free_symbols and not raw.has(sympy.Piecewise, sympy.Heaviside, sympy.DiracDelta)


def _printable(form: sympy.Expr) -> bool:
    """Whether the kernel printer can write ``form`` (an output form may hold an inverse function, erfinv, that
    no kernel computes)."""
    try:
        kernel_code(form, vec=True)
    except PrintMethodNotImplementedError:
        return False
    return True


#: distances from a zero of f at which a forward form is measured (float64 and float32 arithmetic, NumPy)
_NEAR_ZERO = (1e-300, 1e-30, 1e-12, 1e-6, 1e-3, 0.1)


def _cancels_at(forward: sympy.Expr, var: sympy.Symbol):
    """``keep(root)`` for :func:`symact.roots.root_patches` on f: whether the forward form, measured in float64
    and float32 arithmetic (symact.measure), misses the forward bound near that zero of f (a form that
    cancels there: f(x) - f(x0) computed as a difference).  Forms accurate near their zeros (tanh, x sigma(x))
    get no patch and no select."""

    if forward.free_symbols != {var}:
        return lambda root: False

    def keep(root: float) -> bool | float:
        for dtype in (np.float64, np.float32):
            for d in _NEAR_ZERO:
                for point in (root + d, root - d):
                    if point == root or not np.isfinite(dtype(point)):
                        continue
                    error = error_at(forward, var, float(dtype(point)), dtype)
                    if error is not None and error > FORWARD_BOUND:
                        return _patch_radius(forward, var, root)
        return False

    return keep


#: the half-width of a patch at a zero of f' at 0 where the derivative's form does not cancel
_NARROW = 0.125
#: the half-widths a patch of f near a zero may take, and the share of the forward bound the form itself must
#: meet just beyond the patch (measured in NumPy, a proxy for the kernel's own arithmetic)
_PATCH_RADII, _BEYOND = (1.0, 1.5, 2.0, 3.0, 4.0), 0.5


def _patch_radius(forward: sympy.Expr, var: sympy.Symbol, root: float) -> float:
    """The smallest of :data:`_PATCH_RADII` beyond which the forward form meets half the forward bound again, in
    float64 and float32 arithmetic, measured from the patch's edge to three times as far (x - tanh(x) cancels
    to 3 ulp at x = 1 and needs 1.5); where none does, the one beyond which the form misses it least (a wider
    patch is a longer polynomial, itself less accurate: 1 - exp(-y)/2 at radius 4 gave 3.6 ulp)."""
    worst = {}
    for radius in _PATCH_RADII:
        points = [root + s * radius * (1 + k / 16) for s in (1, -1) for k in range(33)]
        worst[radius] = max(
            (
                e
                for dtype in (np.float64, np.float32)
                for e in errors_at(forward, var, [float(dtype(p)) for p in points], dtype)
                if e is not None
            ),
            default=0.0,
        )
        if worst[radius] <= _BEYOND * FORWARD_BOUND:
            return radius
    return min(_PATCH_RADII, key=lambda r: (worst[r], r))  # the form's own rounding beyond: where it is least


def _derivative_source(definition: sympy.Expr, var: sympy.Symbol, first) -> sympy.Expr:
    """What the derivative's compute form is built from: SymPy's derivative of the definition, or the textbook form
    derive proved equal to it where that is at most half as many operations (log(x + sqrt(x^2 + 1))' =
    1/sqrt(x^2 + 1), not (1 + x/sqrt(x^2 + 1))/(x + sqrt(x^2 + 1)), which overflows and cancels)."""
    raw = sympy.diff(definition, var)
    textbook = first.textbook
    if textbook is None or textbook.proof is None or textbook.expr.has(sympy.Derivative):
        return raw
    return textbook.expr if 2 * sympy.count_ops(textbook.expr) <= sympy.count_ops(raw) else raw


def _primitive(expr: sympy.Expr) -> bool:
    """Whether ``expr`` is computed by one kernel-library primitive: a named function (sigma, softplus) or m
    sigma(w) (:func:`symact.kernel_lib._mul_sigmoid`), times a constant."""
    _, rest = expr.as_coeff_Mul()
    if isinstance(rest, NamedFunction):
        return True
    return bool(rest.is_Mul and len([f for f in rest.args if isinstance(f, sigmoid)]) == 1)


#: the kernels' bounds in ulp, and how far beyond them a form measured in float32 arithmetic (a proxy: NumPy's
#: functions, not the kernel's) must be before the float32 kernel computes in float64: rounding-level differences
#: between the proxy and the kernel stay in float32, structural losses (cancellation, an amplified argument) do not
FORWARD_BOUND, DERIVATIVE_BOUND, FAR = 2.0, 4.0, 4.0
#: and from how far below them the rendered float32 kernel itself is measured (_measured): the proxy's error
#: and the kernel's differ by rounding-level amounts either way (log((exp(x)+exp(-x))/2): proxy 1.58, kernel 3.21;
#: log cosh(x) - |x|: proxy below 1.5, kernel 3.34)
DOUBT = 0.5


#: float32's smallest normal number is 2**-126; a vjp g f'(x) whose f'(x) is below 2**-120 may have lost digits
_F32_TINY_DERIVATIVE = 2.0**-120
#: where f' is evaluated to decide whether it underflows: the float32 exponential's underflow, and far out
_TAIL_POINTS = (50, 90, 110, 1e4, 1e19, 3.4e38)
#: and near 0, where f' vanishes with x (x erf(x): f'(x) ~ 4 x / sqrt(pi), subnormal in float32 below 1e-38)
_TINY_POINTS = ("1e-30", "1e-38", "1e-41", "1e-44")


def _underflows(derivative: sympy.Expr, var: sympy.Symbol, near_zero: bool = True) -> bool:
    """Whether |f'(x)| falls below 2**-120 (near or below float32's normal range) at some float32 x in a tail
    without being exactly 0 there, so that a float32 vjp g f'(x) loses the digits of a subnormal f'(x) before g
    scales them back: f' -> 0 as x -> +-inf (sigma', tanh', elu's alpha e^x, softsign's 1/(1 + |x|)^2) or as
    x -> 0 (x erf(x)' ~ 4 x / sqrt(pi); not with ``near_zero`` False: a forward f(x) ~ x loses nothing there),
    and not f' = 0 on a half-line (relu).  Decided from the expression at 30 digits; auxiliary inputs (a 0/1
    mask) at 1."""
    from .rewrites import to_plain

    plain = to_plain(derivative)
    others = {s: 1 for s in plain.free_symbols if s != var}
    points = [sympy.Integer(int(p)) for p in _TAIL_POINTS]
    points += [sympy.Rational(p) for p in _TINY_POINTS] if near_zero else []
    for point in points:
        for sign in (1, -1):
            try:
                value = sympy.N(plain.xreplace({**others, var: sign * point}), 30)
            except Exception:
                continue
            if value.is_number and value.is_finite and 0 < abs(value) < _F32_TINY_DERIVATIVE:
                return True
    return False


def _shorter_by_logs(derivative: sympy.Expr, definition: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """The derivative of the definition with its logs of positive products split (log(a b) = log a + log b),
    canonical and stabilised, where that is shorter than ``derivative`` and finite wherever it is: log((1 + e^x)
    sigma(1 - x))' by the product rule is a sum of five terms that cancels for x >> 0 (5e12 ulp at x = 30); by
    the split it is sigma(x) - sigma(x - 1), which stabilises to a product."""
    from .rewrites import _log_of_positive_product

    split = definition.replace(lambda e: _log_of_positive_product(e) is not None, lambda e: _log_of_positive_product(e))
    if split == definition:
        return derivative
    candidate = _without_cancelling_terms(combine_by_sign(stabilise(canonical(sympy.diff(split, var))), var))
    if sympy.count_ops(candidate) >= sympy.count_ops(derivative):
        return derivative
    if any(a and not b for a, b in zip(_finite_at_probes(derivative, var), _finite_at_probes(candidate, var))):
        return derivative
    return candidate


def _without_cancelling_terms(
    expr: sympy.Expr, inner: bool = False, loss_only: bool = False, where: sympy.Basic = sympy.true
) -> sympy.Expr:
    """A sum whose terms cancel symbolically, as the one fraction they make (stabilised again), else ``expr``.

    softsign' = 1/(1 + |x|) - |x|/(1 + |x|)^2 subtracts two numbers near 1/|x| for large |x| and squares
    1 + |x| (overflow past 1e154); over a common denominator the numerator is 1 + |x| - |x| = 1, and the
    derivative is 1/(1 + |x|)^2.  Taken only where the fraction has fewer operations than the sum (terms
    cancelled), so a sum that merely shares a denominator keeps its form.  A Piecewise is taken branch by
    branch (x/(1 + |x|) spelled as its branches, x/(1 + x) for x >= 0, has the same sums per branch).  A fraction
    no shorter than the sum is taken where the sum loses digits and the fraction does not (:func:`_loses_less`);
    with ``loss_only`` (a forward, whose form is otherwise kept as written) only there.  Where each of the two
    loses digits in a range of |x| of its own, each is taken in the other's (:func:`_by_regime`; ``where``: the
    condition of the Piecewise branch ``expr`` is)."""
    if isinstance(expr, sympy.Piecewise):
        pieces = ((_without_cancelling_terms(v, inner, loss_only, c), c) for v, c in expr.args)
        return sympy.Piecewise(*pieces, evaluate=False)
    if not isinstance(expr, (sympy.Add, sympy.Mul, sympy.Pow)):
        return expr
    # the sums inside first (pflu': x (1/sqrt(x^2 + 1) - x^2/(x^2 + 1)^(3/2))/2 + ..., whose inner sum is
    # 1/(x^2 + 1)^(3/2); the whole over one denominator overflows past 1e102), there only where terms of the
    # numerator cancel (x e + 1 + e over (1 + e)^2 is no shorter as (x + 1/e + 1) e)
    args = [_without_cancelling_terms(a, True, loss_only) for a in expr.args]
    if args != list(expr.args):
        expr = expr.func(*args)
    if not expr.is_Add:
        return expr
    combined = stabilise(sympy.together(expr))
    shorter = not loss_only and sympy.count_ops(combined) < sympy.count_ops(expr)
    if not shorter and (inner or not _loses_less(combined, expr)):
        regime = None if inner else _by_regime(combined, expr, where)
        return expr if regime is None else regime
    if inner and len(sympy.Add.make_args(sympy.expand(sympy.fraction(sympy.together(expr))[0]))) >= len(expr.args):
        return expr
    # not where the fraction overflows and the sum does not: 1 + exp(-x^2) - 2 x^2 exp(-x^2) over exp(x^2) is
    # (exp(x^2) - 2 x^2 + 1) exp(-x^2), inf for |x| > 26.6
    finite = _finite_at_probes(expr, var=None)
    if any(a and not b for a, b in zip(finite, _finite_at_probes(combined, var=None))):
        return expr
    return combined


#: arguments of both signs at which a candidate form must stay finite where the form it replaces is
_FINITE_PROBES = tuple(
    s * m for m in (0.5, 3.0, 30.0, 300.0, 3e4, 1e10, 1e30, 1e60, 1e100, 1e150, 1e200, 1e300) for s in (1, -1)
)


#: arguments of both signs at which two forms' losses are compared (near 0 too: x - x/(1 + |x|) cancels there)
_LOSS_PROBES = tuple(
    s * m for m in (1e-300, 1e-30, 1e-8, 1e-3, 0.5, 3.0, 30.0, 3e4, 1e10, 1e100, 1e300) for s in (1, -1)
)


def _loses_less(candidate: sympy.Expr, form: sympy.Expr) -> bool:
    """Whether ``form``, computed in float64 (NumPy), misses the forward bound at one of :data:`_LOSS_PROBES` and
    ``candidate`` meets it at every one where ``form`` is finite: a sum that cancels numerically where no term
    cancels symbolically (x/(2 (1 + |x|)) + 1/2 for x << 0, 1e273 ulp; (x + |x| + 1)/(2 (1 + |x|)) is exact)."""
    symbols = form.free_symbols
    if len(symbols) != 1 or candidate.free_symbols != symbols:
        return False
    var = next(iter(symbols))
    ours, theirs = errors_at(form, var, _LOSS_PROBES, np.float64), errors_at(candidate, var, _LOSS_PROBES, np.float64)
    if not any(e is not None and e > FORWARD_BOUND for e in ours):
        return False
    return all(b is not None and b <= FORWARD_BOUND for a, b in zip(ours, theirs) if a is not None)


def _by_regime(candidate: sympy.Expr, form: sympy.Expr, where: sympy.Basic = sympy.true) -> sympy.Expr | None:
    """``form`` and ``candidate`` (equal), each where |x| puts it within the forward bound, as a Piecewise by |x|
    (Herbie's regimes): x - x/(1 + x) cancels for small x and x^2/(1 + x) overflows past 1e154, so the fraction
    below |x| = 3e4 and the sum above.  The switch is a probe magnitude (the middle one of those that do) from
    which the large-|x| form meets the bound at every probe of :data:`_LOSS_PROBES` (those ``where`` holds at),
    the small-|x| form meeting it below; None where no switch does, or the forms take other variables."""
    symbols = form.free_symbols
    if len(symbols) != 1 or not candidate.free_symbols <= symbols:
        return None
    var = next(iter(symbols))
    try:
        probes = [p for p in _LOSS_PROBES if where is sympy.true or bool(where.subs(var, p))]
    except TypeError:  # a condition that is not a plain comparison
        return None
    if not probes:
        return None
    good = {}
    for name, f in (("form", form), ("candidate", candidate)):
        good[name] = [e is None or e <= FORWARD_BOUND for e in errors_at(f, var, probes, np.float64)]
    if all(good["form"]):
        return None
    magnitudes = sorted({abs(p) for p in probes})
    forms = {"form": form, "candidate": candidate}
    for small, large in (("candidate", "form"), ("form", "candidate")):
        feasible = [
            m
            for m in magnitudes[1:]
            if all(g for p, g in zip(probes, good[small]) if abs(p) < m)
            and all(g for p, g in zip(probes, good[large]) if abs(p) >= m)
        ]
        if feasible:  # the middle one: a margin to the probes where either form stops meeting the bound
            m = feasible[len(feasible) // 2]
            return sympy.Piecewise((forms[small], sympy.Abs(var) < m), (forms[large], True), evaluate=False)
    return None


def _finite_at_probes(expr: sympy.Expr, var: sympy.Symbol | None) -> list[bool]:
    """Whether ``expr`` (its one free symbol, or ``var``) computed in float64 (NumPy) is finite at each of
    :data:`_FINITE_PROBES`; all True where it has other symbols or NumPy cannot evaluate it."""
    symbols = expr.free_symbols
    var = var or (next(iter(symbols)) if len(symbols) == 1 else None)
    if var is None or symbols != {var}:
        return [True] * len(_FINITE_PROBES)
    try:
        fn = sympy.lambdify(
            [var], expr, modules=[{sigmoid.__name__: _np_sigmoid, softplus.__name__: _np_softplus}, "numpy"]
        )
        with np.errstate(all="ignore"):
            values = np.broadcast_to(np.asarray(fn(np.array(_FINITE_PROBES)), dtype=np.float64), (len(_FINITE_PROBES),))
    except Exception:  # a form NumPy cannot evaluate
        return [True] * len(_FINITE_PROBES)
    return [bool(v) for v in np.isfinite(values)]


def _limit(expr: sympy.Expr, var: sympy.Symbol, direction) -> sympy.Expr | None:
    """lim expr as var -> direction (+-oo), or None when SymPy cannot find a finite or infinite value.

    A Piecewise is followed into the branch whose condition holds for |var| large."""
    far = sympy.Integer(10**9) * (1 if direction is sympy.oo else -1)
    if isinstance(expr, sympy.Piecewise):
        for value, condition in expr.args:
            holds = condition.subs(var, far)
            if holds is sympy.true:
                return _limit(value, var, direction)
            if holds is not sympy.false:
                return None
        return None
    if expr.has(sympy.Piecewise):  # a Piecewise inside (gelu' = ... Piecewise(erfc by the sign) ...): its far arm
        expr = expr.replace(lambda e: isinstance(e, sympy.Piecewise), lambda e: _far_arm(e, var, far))
        if expr.has(sympy.Piecewise):
            return None
    try:
        value = run_limited(sympy.limit, LIMIT_BUDGET, expand_for_limit(expr), var, direction)
    except (BudgetExceeded, Exception):
        return None
    if value is None or value.has(sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.Limit):
        return None
    if value.has(sympy.I) or value.is_extended_real is False:  # a form past its real domain (an output form's log)
        return None
    if value.free_symbols - {s for s in expr.free_symbols if s != var}:
        return None
    return value


def _far_arm(piecewise: sympy.Piecewise, var: sympy.Symbol, far: sympy.Expr) -> sympy.Expr:
    """The arm of ``piecewise`` that holds for var = ``far`` (left as it is where that is not decided)."""
    for value, condition in piecewise.args:
        holds = condition.subs(var, far)
        if holds is sympy.true:
            return value
        if holds is not sympy.false:
            return piecewise
    return piecewise


def expand_for_limit(expr: sympy.Expr) -> sympy.Expr:
    """Named functions and codegen functions in plain exp/log, which ``sympy.limit`` understands."""
    from .rewrites import to_plain

    return to_plain(expr)


#: the decorator of the scalar functions: each compiled once and inlined into the loops by LLVM (``forceinline``:
#: alwaysinline), so that LLVM sees one loop body, with the loops' error model and contraction (_INLINE_FAST, or
#: _INLINE_EXACT in a module whose loops are _EXACT).  Numba's own inline="always" inlined a scalar function's IR
#: at every call and typed each copy: gelu's forward took 12 s to compile, 1.4 s this way, for the same code.
_SCALAR = "@numba.njit(**_INLINE_FAST)"


def _library_helpers(*exprs: sympy.Expr) -> list[str]:
    """The :mod:`symact.kernel_lib` helpers (sigma, softplus, m sigma(w)) the elementwise loops of the
    expressions call, in a fixed order."""
    used = {type(f) for e in exprs if e is not None for f in e.atoms(NamedFunction)}
    names = [helper_name(f) for f in sorted(PRIMITIVES, key=lambda f: f.__name__) if f in used]
    missing = [n for n in names if not hasattr(kernel_lib, n)]
    if missing:
        raise ValueError(f"the kernel library has no helper {', '.join(missing)}")
    return names + (["_mul_sigmoid"] if "_sigmoid" in names else [])


def _scalar_function(
    name: str,
    expr: sympy.Expr,
    args: Sequence[str],
    var: sympy.Symbol,
    guards: bool,
    patches=(),
    binary=(),
    elide: bool = True,
    dd_helper: str | None = None,
    plain_helper: str | None = None,
    f32_call: str | None = None,
    nan_at_nan: bool = False,
    dd_form: str | None = None,
    bound: float = FORWARD_BOUND,
):
    """A scalar function, inlined into the loops: nan and +-inf guards, then root patches, then the
    compute form.  Every branch is cheap or a select, so that the loop around it vectorises.

    ``binary`` are 0/1 auxiliary inputs (dropout's mask): where the limit depends on one, it is taken
    for each value (m x / keep_prob at x = inf is inf where m = 1 and 0 where m = 0, not 0 * inf).
    With ``elide``, a select is left out where the compute form already gives the special value (not
    for double-double entries, whose general case is another computation: ``dd_helper``, for float64
    arguments; float32 ones take the compute form in plain float64, accurate enough to round once).
    ``f32_call`` replaces the compute form (a compute_rules.DERIVATIVE_RULES call, for both float types; the guards
    then apply to float64 only, as the float32 helper gives the limits itself).
    """
    general = kernel_code(_share_exponentials(expr, var), vec=True, typed=var.name)
    lines = [_SCALAR, f"def {name}({', '.join(args)}):", f"    r = {general}"]
    if dd_helper is not None:  # float64 in double-double; float32 by the compute form in plain float64
        wide = sympy.Symbol(f"{var.name}64", real=True)
        general = kernel_code(_share_exponentials(expr, var).xreplace({var: wide}), vec=True, typed=wide.name)
        general = f"{plain_helper}({wide})" if plain_helper else general
        lines[2:] = [f"    {wide} = np.float64({var})", f"    r = select(_is32({var}), {general}, {dd_helper}({wide}))"]
    elif f32_call is not None:  # a compensated form in place of the compute form
        lines[2] = f"    r = {f32_call}"
    elif dd_form is not None:  # float64: the same form in double-double (symact.dd_printer), rounded once
        lines.append(f"    r = select(_is32({var}), r, {dd_form}({var}, r))")
    for patch in reversed(patches):  # the first patch that holds wins, as in a chain of returns
        lines += patch.select_code(var.name)
    if var in expr.free_symbols or patches:
        if guards:
            tests = ((-sympy.oo, f"{var} == _lit(-math.inf, {var})"), (sympy.oo, f"{var} == _lit(math.inf, {var})"))
            for direction, test in tests:
                value = _limit(expr, var, direction)
                # (a kernel-library form in place of the compute form handles its own tails)
                own = dd_helper is None and f32_call is None
                line = _asymptote_select(expr, var, direction, value) if own else None
                if line is not None:  # an intermediate overflow where f itself is finite: f's asymptote there
                    lines.append(line)
                far = _far_term_select(expr, var, direction, bound) if own and line is None else None
                if far is not None:  # accuracy lost far out (2x/(1 + x^2) at x = 1e160): the leading term there
                    lines.append(far)
                tail = own and value is not None and _nan_in_tail(expr, var, direction)
                if binary and (value is None or value.free_symbols & set(binary)):
                    value = _limit_by_flag(expr, var, direction, binary[0], var.name)
                    code = value
                elif value is not None:
                    if elide and not tail and form_gives(expr, var, direction, value):
                        continue  # the compute form already gives the limit there: no select needed
                    code = _value_code(value, var.name)
                if value is not None:
                    if tail:  # inf * 0 or inf - inf in the tail (x tanh(e^x)' at x = 1e30): the limit there too
                        side = ">" if direction is sympy.oo else "<"
                        test = f"({test}) | ((r != r) & ({var} {side} _lit(0.0, {var})))"
                    guard = f"select({test}, {code}, r)"
                    if f32_call is not None:  # the float32 helper gives the limits itself (a select costs 20%)
                        guard = f"select(_is32({var}), r, {guard})"
                    lines.append(f"    r = {guard}")
        if not (elide and form_gives(expr, var, sympy.nan, sympy.nan)):
            lines.append(f"    r = select({var} != {var}, {var}, r)")
    elif nan_at_nan:  # a constant form of what is nan at nan (log(sigma(x)/sigma(-x))' = 1; (x/2 + 1)' stays 1/2)
        lines.append(f"    r = select({var} != {var}, {var}, r)")
    lines.append("    return r")
    return split_by_dtype("\n".join(lines) + "\n", var.name)


def _vjp_patched(patches, args: Sequence[str]) -> str:
    """``_vjp_patched(g, r, w, *args)``: g r, r = f'(x), except inside a root patch of f' (RootPatch.times_code),
    where it is (g d) P(d) / d: near a zero of f' the float64 f'(x) is subnormal before g scales it back (x erf(x)
    at x = 1.3e-313, g = 1e5: 3.6e4 ulp as g r).  ``w``, the input as the loop read it: a float32 one keeps g r
    (split_by_dtype folds the select), also where the loop widens it to float64 (gelu's vjp: 7% slower else)."""
    var = args[0]
    lines = [_SCALAR, f"def _vjp_patched(g, r, w, {', '.join(args)}):", "    v = g * r"]
    for patch in reversed(patches):  # the first patch that holds wins, as in the derivative
        lines += patch.times_code(var, "g", "w")
    lines.append("    return v")
    return split_by_dtype("\n".join(lines) + "\n", "w")


def split_by_dtype(text: str, var: str) -> str:
    """A scalar function (``text``, one decorated ``def``) as a float32 and a float64 version, with an overload
    that picks one by the type of ``var`` as Numba types a call, so that a call types one version only.

    In each version ``_is32(var)`` is the constant it is there, and a select on a constant keeps its one arm (an
    ``&`` or ``|`` with a constant folds too), then each repeated subexpression is computed once
    (:func:`_share_subexpressions`), and an assignment nothing reads is dropped.  The arithmetic of the arm kept
    is unchanged (LLVM folded the other arm away already), but Numba typed both arms and every copy of an
    inlined call: gelu's forward held four inlined erfc's and its first call took 12 s.  Without
    ``_is32(var)`` the function stays one, its repeated subexpressions shared.
    """
    tree = ast.parse(text)
    (fn,) = tree.body
    uses = [
        n
        for n in ast.walk(fn)
        if isinstance(n, ast.Call) and _called(n) == "_is32" and [ast.unparse(a) for a in n.args] == [var]
    ]
    if not uses or var not in [a.arg for a in fn.args.args]:
        _share_subexpressions(fn)
        return ast.unparse(ast.fix_missing_locations(fn)) + "\n"
    args = ", ".join(a.arg for a in fn.args.args)
    versions = []
    for flag, suffix in ((True, "32"), (False, "64")):
        version = _Constant32(var, flag).visit(copy.deepcopy(fn))
        version.name = f"{fn.name}_{suffix}"
        _share_subexpressions(version)
        _drop_unread(version)
        versions.append(ast.unparse(ast.fix_missing_locations(version)))
    dispatch = (
        f"def {fn.name}({args}):\n"
        f'    """{fn.name}_32 or {fn.name}_64 by the type of {var} (in Numba an overload: a call types one)."""\n'
        f"    return ({fn.name}_32 if isinstance({var}, np.float32) else {fn.name}_64)({args})\n\n\n"
        f'@overload({fn.name}, inline="always")\n'
        f"def _{fn.name.lstrip('_')}_typed({args}):\n"
        f"    if {var} == types.float32:\n"
        f"        return lambda {args}: {fn.name}_32({args})\n"
        f"    return lambda {args}: {fn.name}_64({args})\n"
    )
    return "\n\n\n".join([*versions, dispatch])


def _called(call: ast.Call) -> str:
    return ast.unparse(call.func)


class _Constant32(ast.NodeTransformer):
    """``_is32(var)`` replaced by ``flag``, ``_lit(c, var)`` by c in that type, and the selects, ``&`` and ``|``
    on constants folded."""

    def __init__(self, var: str, flag: bool):
        self.var, self.flag = var, flag

    def visit_Call(self, node):
        self.generic_visit(node)
        if _called(node) == "_is32" and [ast.unparse(a) for a in node.args] == [self.var]:
            return ast.Constant(self.flag)
        if _called(node) == "_lit" and len(node.args) == 2 and ast.unparse(node.args[1]) == self.var:
            # the constant in the version's type, as _lit gives it: a float64 literal, or np.float32 of it (an
            # inlined overload call per constant costs Numba about 10 ms to type; gelu's derivative has 47)
            value = node.args[0]
            if not self.flag:
                return value
            return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "float32", ast.Load()), [value], [])
        if _called(node) == "select" and len(node.args) == 3 and _constant(node.args[0]) is not None:
            return node.args[1] if _constant(node.args[0]) else node.args[2]
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        for known, other in ((node.left, node.right), (node.right, node.left)):
            value = _constant(known)
            if value is not None and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
                if isinstance(node.op, ast.BitAnd):
                    return other if value else ast.Constant(False)
                return ast.Constant(True) if value else other
        return node


def _constant(node) -> bool | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, bool) else None


def _share_subexpressions(fn: ast.FunctionDef) -> None:
    """Compute each subexpression the function repeats (an operation or a call, in one statement or in several
    with none of its names assigned between them) once, into a local before its first use, the largest first.

    Numba types every operation of its IR one by one (gelu's float32 forward repeats |x|/sqrt(2) six times and
    the erfc correction twice); LLVM's CSE merges the copies again, so the code compiled is the same and so are
    its results (tests/test_emit.py compares every elementwise kernel's bits).  A constant's conversion
    (``np.float32(0.5)``) stays where it is: it is a literal to Numba."""
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    while True:
        found: dict[str, list[tuple[int, ast.AST]]] = {}
        for index, stmt in enumerate(fn.body):
            for node in _shareable(stmt):
                found.setdefault(ast.dump(node), []).append((index, node))
        best = None
        assigned = None
        for key, places in found.items():
            if len(places) < 2 or (best is not None and len(key) <= len(best[0])):
                continue  # most appear once; and only a larger one can replace the best so far
            if assigned is None:
                assigned = [_assigned(stmt) for stmt in fn.body]
            names = {n.id for n in ast.walk(places[0][1]) if isinstance(n, ast.Name)}
            first = places[0][0]
            # the copies up to the first statement (from the first one on) that assigns one of its names
            end = next((i for i in range(first, len(fn.body)) if assigned[i] & names), len(fn.body) - 1)
            same = [(i, n) for i, n in places if i <= end]
            if len(same) > 1 and (best is None or len(key) > len(best[0])):
                best = (key, same)
        if best is None:
            return
        key, same = best
        name = next(f"_c{k}" for k in range(len(taken) + 1) if f"_c{k}" not in taken)
        taken.add(name)
        first = same[0][0]
        value = copy.deepcopy(same[0][1])
        replace = _Replace(key, name)
        for i in sorted({i for i, _ in same}):
            fn.body[i] = replace.visit(fn.body[i])
        fn.body.insert(first, ast.Assign([ast.Name(name, ast.Store())], value, lineno=0))


def _shareable(stmt: ast.stmt):
    """The operations and calls of a statement's value that a local can hold: not a constant (``-1.0``,
    ``np.float32(0.5)``), nothing inside a conditional expression or a lambda (evaluated only on one arm)."""
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.Return, ast.Expr)) else None
    if value is None:
        return
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.IfExp, ast.BoolOp, ast.Lambda)):
            continue
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Compare)) and not _is_literal(node):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _is_literal(node.operand)
    if isinstance(node, ast.Call):
        return _called(node) in ("np.float32", "np.float64") and all(_is_literal(a) for a in node.args)
    return False


def _assigned(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


class _Replace(ast.NodeTransformer):
    def __init__(self, key: str, name: str):
        self.key, self.name = key, name

    def generic_visit(self, node):
        if isinstance(node, ast.expr) and not isinstance(node, ast.Name) and ast.dump(node) == self.key:
            return ast.Name(self.name, ast.Load())
        return super().generic_visit(node)


def _drop_unread(fn: ast.FunctionDef) -> None:
    """Drop assignments to a name that no later statement reads (a float32 root patch's d32 in the float64
    version), until none is left."""
    while True:
        for i, stmt in enumerate(fn.body):
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                later = [n for s in fn.body[i + 1 :] for n in ast.walk(s) if isinstance(n, ast.Name)]
                if not any(n.id == name and isinstance(n.ctx, ast.Load) for n in later):
                    del fn.body[i]
                    break
        else:
            return


def _asymptote_select(expr: sympy.Expr, var: sympy.Symbol, direction, value) -> str | None:
    """A select of f's linear asymptote a x + b where the compute form overflows at a finite x on the side of
    ``direction`` while f does not, or None.  softplus(2 x)/2 is inf for x > 8.99e307 (2 x overflows) where f(x) = x
    to the last bit: with a = lim f(x)/x and b = lim f(x) - a x both finite numbers, f(x) - (a x + b) -> 0, so at
    the magnitudes where an intermediate overflows (x beyond 1e38) a x + b is f(x) to far below an ulp.  Only where
    f -> +-inf (``value``), |a| <= 1 (a x + b finite wherever x is), and the form, evaluated in IEEE float64 and
    float32 arithmetic (NumPy) at the largest finite x of that side, gives +-inf there."""
    if value not in (sympy.oo, -sympy.oo) or expr.free_symbols != {var} or not _overflows_at_top(expr, var, direction):
        return None
    a = _limit(expr / var, var, direction)
    if a is None or not a.is_number or not a.is_finite or a == 0 or abs(a) > 1:
        return None
    b = _limit(expr - a * var, var, direction)
    if b is None or not b.is_number or not b.is_finite:
        return None
    side = ">" if direction is sympy.oo else "<"
    name = var.name
    asymptote = kernel_code(a * var + b, vec=True, typed=name)
    test = (
        f"(abs(r) == _lit(math.inf, {name})) & ({name} {side} _lit(0.0, {name})) "
        f"& (abs({name}) < _lit(math.inf, {name}))"
    )
    return f"    r = select({test}, {asymptote}, r)"


#: magnitudes at which a compute form is probed far out, and the relative error its leading term must meet there;
#: not powers of two, whose powers are exact where others round: x (x^2 + 1)^(-3/2) is subnormal, 19 bits, at
#: x = 1e104, but exact at x = 2^352
_FAR_PROBES = tuple(1.3 * 2.0**k for k in range(16, 1023, 12))
_FAR_TOLERANCE = {np.float64: 2.0**-62, np.float32: 2.0**-33}


def _leads(reference, term, point: float, tolerance: float) -> bool:
    """Whether the leading term's mpmath value at ``point`` is the form's to ``tolerance`` relative."""
    a, b = _real_value(reference, point), _real_value(term, point)
    return a is not None and b is not None and mpmath.isfinite(a) and a != 0 and abs(a - b) <= abs(a) * tolerance


class _MathInNumPy:
    """What printed kernel code takes from ``math``, for NumPy arrays."""

    hypot, inf, copysign = staticmethod(np.hypot), math.inf, staticmethod(np.copysign)


#: the names printed elementwise code uses (symact.printer), as NumPy functions of arrays
_PRINTED_IN_NUMPY = {
    "select": np.where,
    "_lit": lambda c, like: np.asarray(c).astype(like.dtype),
    "abs": np.abs,
    "math": _MathInNumPy,
    "np": np,
    **{f"v{name}": getattr(np, name) for name in ("exp", "log", "log1p", "expm1", "tanh")},
}


def _printed_values(expr: sympy.Expr, var: sympy.Symbol, points, dtype) -> np.ndarray | None:
    """``expr`` as the printer writes its kernel code (the order of its operations, hypot for sqrt(w^2 + c), a
    chain of divisions for a product of denominators), computed in ``dtype`` arithmetic with NumPy's elementary
    functions at ``points``; None where the code calls anything else (a kernel-library function): SymPy's
    lambdify with the kernel printer and only these names."""
    from .printer import KernelPrinter

    try:
        printer = KernelPrinter({"vec": True, "typed": var.name})
        fn = sympy.lambdify([var], expr, modules=[_PRINTED_IN_NUMPY], printer=printer)
        with np.errstate(all="ignore"):
            values = fn(np.array(points, dtype=dtype))
        return np.broadcast_to(np.asarray(values, dtype=dtype), (len(points),))
    except Exception:  # a name NumPy has no stand-in for
        return None


def _real_value(reference, point: float):
    """``reference(point)`` (a :class:`symact.reference.Scalar`), or None outside its real domain (an output form
    past y's range is complex there)."""
    try:
        return reference(point)
    except (TypeError, ValueError, ArithmeticError):
        return None


def _far_term_select(expr: sympy.Expr, var: sympy.Symbol, direction, bound: float = FORWARD_BOUND) -> str | None:
    """A select of the compute form's leading term at +-inf (``direction``) beyond the last magnitude where the
    form, computed in float64 and float32 arithmetic (NumPy), meets the forward bound, or None.  2x/(1 + x^2)
    (log(1 + x^2)') is 0 past 1e154, where x^2 overflows, and 2/x in truth: its leading term 2/x serves from
    2^16 on, where it is the form to 2^-32 relative.  Only where that leading term (SymPy's, in t = 1/x) is the
    form's mpmath value to 2^-62 at the switch and beyond, and is itself accurate in NumPy there."""
    from .reference import Scalar
    from .rewrites import to_plain
    from .ulp import ulp_error

    if expr.free_symbols != {var}:
        return None
    sign = 1 if direction is sympy.oo else -1
    reference = Scalar(to_plain(expr), (var,))
    goods = {}  # per type: the magnitude from which the leading term serves
    wrong_number = False  # whether a miss is a finite number (a nan far out is the limit's select's to mend)
    for dtype in (np.float64, np.float32):
        top = float(np.finfo(dtype).max)  # and the largest finite: x/(2x + 2) overflows only past 9e307
        points = [sign * m for m in _FAR_PROBES if m < top] + [sign * top]
        values = _printed_values(expr, var, points, dtype)
        if values is None:  # the printed form calls what NumPy cannot stand in for: not measured, no select
            return None
        wrong = False
        # the switch: from the first probe of the run of misses that lasts to the top (a form a little over the
        # bound at moderate x, 2.2 ulp at 8.5e4, is no reason to give up a tail it loses wholly)
        for point, value in zip(points, values):
            exact = _real_value(reference, point)
            if exact is None or not mpmath.isfinite(exact) or abs(exact) < np.finfo(dtype).tiny:
                continue  # (a value below the normal range tells nothing: -1/(4 x^2) is 0 past 1e162, and right)
            error = float(ulp_error(np.array([value], dtype=dtype), [exact], dtype)[0])
            if error <= bound:
                goods.pop(dtype, None)
                wrong = False
            elif dtype not in goods:
                goods[dtype] = abs(point) / 2**12
                wrong = bool(np.isfinite(value))
        wrong_number |= dtype in goods and wrong
    # a type whose form misses from the first probe on has no tail to mend (the other type may)
    goods = {dtype: good if good >= _FAR_PROBES[0] else math.inf for dtype, good in goods.items()}
    if not goods or min(goods.values()) == math.inf:
        return None
    t = sympy.Dummy("t", positive=True)
    try:
        lead = run_limited(lambda: to_plain(expr).subs(var, sign / t).as_leading_term(t), LIMIT_BUDGET)
    except (BudgetExceeded, Exception):  # SymPy cannot expand it there
        return None
    lead = sympy.simplify(lead.subs(t, sign / var))
    constant = lead.is_Number and wrong_number  # x/(2x + 2) + 1/2 is 1/2 past 9e307, and 1 in truth
    if lead.has(sympy.Order) or not (lead.free_symbols == {var} or constant) or lead == expr:
        return None
    term = Scalar(lead, (var,))
    coeff, power = _monomial(lead, var)
    for dtype in (np.float64, np.float32):  # a type with no loss far out takes the float64 switch, if any
        good = goods.get(dtype, goods.get(np.float64))
        if good is None or good == math.inf:
            goods[dtype] = math.inf
            continue
        # the switch moves out to where the leading term is the form to well below the type's ulp (float32 from
        # its own loss: 1/(1 + x^2)' overflows from 1e12 in float32, where -2/x^3 is the form to 2^-80 only)
        while good < _FAR_PROBES[-1] and not _leads(reference, term, sign * good, _FAR_TOLERANCE[dtype]):
            good *= 2.0**12
        checks = [sign * good] + [sign * m for m in _FAR_PROBES if m > good][:8]
        for point in checks:
            if not _leads(reference, term, point, _FAR_TOLERANCE[dtype]):
                return None
        points = [p for p in checks if abs(p) < float(np.finfo(dtype).max)]
        if power is not None:  # c x^n by pow, one rounding and no overflow (-2/x^3: (1/x)^3 rounds four times)
            with np.errstate(all="ignore"):
                values = dtype(coeff) * np.power(np.array(points, dtype=dtype), dtype(power))
        else:
            values = _printed_values(lead, var, points, dtype)
        truth = [_real_value(term, p) for p in points]
        # a leading term that its type cannot compute to an ulp leaves that type without the select (NumPy's
        # float32 power of 1.3 * 2^k: 1.85 ulp), not the other
        accurate = values is not None and None not in truth and ulp_error(values, truth, dtype).max(initial=0.0) <= 1.0
        goods[dtype] = good if points and accurate else math.inf
    if goods[np.float32] == goods[np.float64] == math.inf:
        return None
    side = ">" if sign > 0 else "<"
    name = var.name
    if power is not None:
        code = f"_lit({float(coeff)!r}, {name}) * {name} ** _lit({float(power)!r}, {name})"
    else:
        code = f"_lit({kernel_code(lead, vec=True, typed=name)}, {name})"  # in x's type
    g32, g64 = ("math.inf" if g == math.inf else repr(g) for g in (goods[np.float32], goods[np.float64]))
    at = f"_lit({g64}, {name})" if g32 == g64 else f"select(_is32({name}), _lit({g32}, {name}), _lit({g64}, {name}))"
    test = f"({name} {side} _lit(0.0, {name})) & (abs({name}) >= {at}) & (abs({name}) < _lit(math.inf, {name}))"
    return f"    r = select({test}, {code}, r)"


def _monomial(expr: sympy.Expr, var: sympy.Symbol) -> tuple[sympy.Expr | None, int | None]:
    """(c, n) where ``expr`` is c var^n with an exactly representable number c and an integer n <= -2, else
    (None, None)."""
    coeff, rest = expr.as_coeff_Mul()
    if rest.is_Pow and rest.base == var and rest.exp.is_Integer and rest.exp <= -2 and coeff.is_Rational:
        if coeff.q & (coeff.q - 1) == 0 and abs(coeff.p) < 2**53:
            return coeff, int(rest.exp)
    return None, None


#: the scale of :func:`_scaled_derivative`: f'(x) 2**-64
_DERIVATIVE_SCALE = sympy.Rational(1, 2**64)


def _scaled_derivative(derivative: sympy.Expr, var: sympy.Symbol) -> sympy.Expr | None:
    """f'(x) 2**-64, the scale folded into each product (and each arm of a Piecewise), where the derivative's form
    overflows at the largest finite x of either side (float64 or float32 arithmetic, NumPy) and this one does not,
    else None.  A vjp g f'(x) with |g| < 1 is finite there (x |x|' = 2|x| at x = 1.8e308, g = 0.3: 1.08e308): the
    vjp loop redoes such elements as g (f'(x) 2**-64) 2**64."""
    if derivative.free_symbols != {var}:
        return None
    sides = [d for d in (sympy.oo, -sympy.oo) if _overflows_at_top(derivative, var, d)]
    if not sides:
        return None
    scaled = sympy.piecewise_fold(_DERIVATIVE_SCALE * derivative)
    if isinstance(scaled, sympy.Piecewise):
        scaled = sympy.Piecewise(*((sympy.expand_mul(v), c) for v, c in scaled.args), evaluate=False)
    if any(_overflows_at_top(scaled, var, d) for d in sides):
        return None
    return scaled


#: the float64 vjp's lift where f'(x) is subnormal: g (2**LIFT f'(x)) 2**-LIFT (:func:`_lifted_derivative`)
LIFT = 600


def _lifted_derivative(derivative: sympy.Expr) -> sympy.Expr | None:
    """2**LIFT f'(x), the power of two folded into a factor of each term that takes it without rounding: an
    exp(a) as ExpTimes and an erfc(w) as ErfcTimes (kernel_lib._mul_exp, _mul_erfc: inside exp's scaling), 2**(LIFT/N)
    into each of N sigma factors as the m of the printer's m sigma(w) (kernel_lib._mul_sigmoid), a Piecewise factor
    arm by arm, softplus(w) and g(u) for g(0) = 0 by their small-argument forms (_lifted_small), a b^-n as
    (b 2**(-LIFT/n))^-n, a constant term times 2**LIFT; None where a term has none of these.

    Where f'(x) is subnormal in float64 (its tail: sigma' at x < -708), g f'(x) rounds f' to a subnormal first and
    g scales its lost digits back (29,700 ulp at g = 1e5 for sigmoid's vjp); float32 redoes such elements in float64
    (Forms.underflows), which float64 cannot.  Its derivative and vjp redo them from the lifted form, normal where
    f'(x) is subnormal: (2**LIFT f'(x)) 2**-LIFT and g (2**LIFT f'(x)) 2**-LIFT."""
    from .printer import ErfcTimes, ExpTimes

    scale = sympy.Integer(2) ** LIFT

    def lift(expr):
        if expr.is_Add:
            terms = [lift(t) for t in expr.args]
            return None if any(t is None for t in terms) else sympy.Add(*terms)
        if isinstance(expr, sympy.Piecewise):
            arms = [(lift(v), c) for v, c in expr.args]
            return None if any(v is None for v, _ in arms) else sympy.Piecewise(*arms, evaluate=False)
        if not expr.free_symbols:
            return scale * expr  # a constant term: exact (a power of two), and normal
        factors = list(sympy.Mul.make_args(expr))
        for k, f in enumerate(factors):
            if isinstance(f, sympy.exp):
                factors[k] = ExpTimes(f.args[0], scale)
                return sympy.Mul(*factors, evaluate=False)
        for k, f in enumerate(factors):
            if isinstance(f, sympy.erfc):
                factors[k] = ErfcTimes(f.args[0], scale)
                return sympy.Mul(*factors, evaluate=False)
        powers = [_sigmoid_power(f) for f in factors]
        total = sum(powers)
        if total and LIFT % total == 0:  # 2**(LIFT/N) into each of the N sigma factors: the printer's m sigma(w)
            share = sympy.Integer(2) ** (LIFT // total)
            for k, (f, n) in enumerate(zip(factors, powers)):
                if n:
                    w = (f.base if f.is_Pow else f).args[0]
                    lifted = sympy.Mul(share, sigmoid(w), evaluate=False)
                    factors[k] = lifted if n == 1 else sympy.Pow(lifted, n, evaluate=False)
            return sympy.Mul(*factors, evaluate=False)
        for k, f in enumerate(factors):
            if isinstance(f, sympy.Piecewise):  # a factor by sign (t^k or t^(n-k) over (1 + t)^n)
                arms = [(lift(v), c) for v, c in f.args]
                if all(v is not None for v, _ in arms):
                    factors[k] = sympy.Piecewise(*arms, evaluate=False)
                    return sympy.Mul(*factors, evaluate=False)
        for k, f in enumerate(factors):
            small = _lifted_small(f, lift, scale)
            if small is not None:
                factors[k] = small
                return sympy.Mul(*factors, evaluate=False)
        for k, f in enumerate(factors):
            if f.is_Pow and f.exp.is_Integer and f.exp < 0 and LIFT % -f.exp == 0:
                base = sympy.expand_mul(f.base * sympy.Rational(1, 2 ** (LIFT // -int(f.exp))))
                factors[k] = sympy.Pow(base, f.exp, evaluate=False)
                return sympy.Mul(*factors, evaluate=False)
        return None

    return lift(sympy.piecewise_fold(derivative))


def _sigmoid_power(f: sympy.Expr) -> int:
    """n for a factor sigma(w)^n (n a positive integer, 1 for sigma(w)); else 0."""
    if isinstance(f, sigmoid):
        return 1
    if f.is_Pow and isinstance(f.base, sigmoid) and f.exp.is_Integer and f.exp > 0:
        return int(f.exp)
    return 0


#: functions g with g(0) = 0: g'(0), so that g(u) = g'(0) u to double precision for |u| < 2**-60
_SMALL_ARGUMENT = {
    sympy.tanh: 1,
    sympy.sinh: 1,
    sympy.sin: 1,
    sympy.atan: 1,
    sympy.asinh: 1,
    sympy.erf: 2 / sympy.sqrt(sympy.pi),
}
#: below this |u|, g(u) is g'(0) u to double precision for every g of _SMALL_ARGUMENT
_SMALL = sympy.Rational(1, 2**60)
#: below this w, softplus(w) = log(1 + e^w) is e^w to double precision (e^w < 2**-53)
_SOFTPLUS_EXP = -37


def _lifted_small(f: sympy.Expr, lift, scale) -> sympy.Expr | None:
    """2**LIFT f for a factor f that is small where its argument is: softplus(w) (e^w for w < -37) and g(u) for g
    of _SMALL_ARGUMENT (g'(0) u for |u| < 2**-60), each as a select of that lifted small-argument form and
    2**LIFT f elsewhere (where f is not small, its plain value times 2**LIFT is normal); None for other factors
    and where u takes no lift.  mish' holds tanh(softplus(x)), e^x for x << 0."""
    from .printer import ExpTimes

    if isinstance(f, softplus):
        w = f.args[0]
        return sympy.Piecewise((ExpTimes(w, scale), w < _SOFTPLUS_EXP), (scale * f, True), evaluate=False)
    slope = _SMALL_ARGUMENT.get(type(f))
    if slope is None:
        return None
    u = f.args[0]
    lifted = lift(u)
    if lifted is None:
        return None
    return sympy.Piecewise((slope * lifted, sympy.Abs(u) < _SMALL), (scale * f, True), evaluate=False)


def _with_hypot(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with sqrt(w^2 + c) as the printer prints it, hypot(w, sqrt(c)) (``_hypot``: NumPy's under
    :data:`_NP_HYPOT`), which does not overflow where w^2 does."""
    from .functions import square_plus

    hypot = sympy.Function("_hypot")
    return expr.replace(
        lambda e: e.is_Pow and abs(e.exp) == sympy.S.Half and square_plus(e.base) is not None,
        lambda e: hypot(square_plus(e.base)[0], sympy.sqrt(square_plus(e.base)[1])) ** (2 * e.exp),
    )


def _overflows_at_top(expr: sympy.Expr, var: sympy.Symbol, direction) -> bool:
    """Whether the compute form gives +-inf at the largest finite float64 or float32 of the side of ``direction``."""
    sign = 1.0 if direction is sympy.oo else -1.0
    expr = _with_hypot(expr)
    try:
        fn = sympy.lambdify(
            [var],
            expr,
            modules=[{sigmoid.__name__: _np_sigmoid, softplus.__name__: _np_softplus, "_hypot": np.hypot}, "numpy"],
        )
        with np.errstate(all="ignore"):
            for dtype in (np.float64, np.float32):
                got = fn(dtype(sign * np.finfo(dtype).max))
                if np.isinf(got):
                    return True
    except Exception:  # a form NumPy cannot evaluate: no select
        return False
    return False


#: large finite arguments where a compute form is probed for nan (float32 and float64 magnitudes)
_TAIL_PROBES = (1e2, 1e4, 1e10, 1e30, 3e38, 1e100, 1e300)


def _nan_in_tail(expr: sympy.Expr, var: sympy.Symbol, direction) -> bool:
    """Whether the compute form, evaluated in IEEE float64 and float32 arithmetic (NumPy), gives nan at a
    large finite argument on the side of ``direction`` (+-oo): an intermediate overflow, inf * 0 or inf - inf,
    as in x e^x (1 - tanh(e^x)^2) at x = 100.  Such a form gets its limit there as well as at +-inf."""
    others = sorted(expr.free_symbols - {var}, key=str)
    sign = 1.0 if direction is sympy.oo else -1.0
    try:
        fn = sympy.lambdify(
            [var, *others], expr, modules=[{sigmoid.__name__: _np_sigmoid, softplus.__name__: _np_softplus}, "numpy"]
        )
        with np.errstate(all="ignore"):
            for dtype in (np.float64, np.float32):
                for point in _TAIL_PROBES:
                    if point > np.finfo(dtype).max:
                        continue
                    got = fn(dtype(sign * point), *[dtype(1.0)] * len(others))
                    if np.isnan(got):
                        return True
    except Exception:  # a form NumPy cannot evaluate: no tail select
        return False
    return False


def _limit_by_flag(expr, var, direction, flag, like: str) -> str | None:
    """Code for the limit of ``expr`` taken separately for ``flag`` = 0 and 1, or None."""
    zero = _limit(expr.subs(flag, 0), var, direction)
    one = _limit(expr.subs(flag, 1), var, direction)
    if zero is None or one is None:
        return None
    return f"select({flag} != 0.0, {_value_code(one, like)}, {_value_code(zero, like)})"


def _value_code(value: sympy.Expr, like: str) -> str:
    """A limit value as code in the type of the variable ``like``."""
    if value is sympy.oo:
        return f"_lit(math.inf, {like})"
    if value is -sympy.oo:
        return f"_lit(-math.inf, {like})"
    return kernel_code(value, vec=True, typed=like)


def _share_exponentials(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """``expr`` with the arms of a Piecewise split on the sign of ``var`` sharing their work: inside the arm
    where var >= 0 (or > 0), exp(a) becomes exp(a with var = |var|); inside the arm where var < 0, exp(a with
    var = -|var|) (equal on each arm, so that the loop computes one exponential, not one per arm); then a
    denominator common to every arm is divided once, after the select."""
    if not isinstance(expr, sympy.Piecewise) or len(expr.args) != 2:
        return expr
    (first, cond), (second, otherwise) = expr.args
    if otherwise is not sympy.true:
        return expr
    if cond in (sympy.Ge(var, 0), sympy.Gt(var, 0)):
        up, down = first, second
    elif cond in (sympy.Lt(var, 0), sympy.Le(var, 0)):
        down, up = first, second
    else:
        return expr

    def on(arm, value):
        return arm.replace(lambda e: isinstance(e, sympy.exp), lambda e: sympy.exp(e.args[0].subs(var, value)))

    up, down = on(up, sympy.Abs(var)), on(down, -sympy.Abs(var))
    common = _common_factor(up, down)
    up, down = up / common, down / common
    arms = ((up, cond), (down, True)) if cond in (sympy.Ge(var, 0), sympy.Gt(var, 0)) else ((down, cond), (up, True))
    return sympy.Mul(sympy.Piecewise(*arms), common, evaluate=False) if common != 1 else sympy.Piecewise(*arms)


def _common_factor(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """The product of the factors ``D**-k`` (denominators) that both ``a`` and ``b`` carry (1 if none)."""

    def inverse_factors(e):
        return {f for f in sympy.Mul.make_args(e) if f.is_Pow and f.exp.is_negative}

    return sympy.Mul(*(inverse_factors(a) & inverse_factors(b)))


_LIB_CALL = re.compile(r"\b(_[a-z][a-z0-9_]*)\(")  # kernel-library calls the printer wrote
_VEC_CALL = re.compile(r"\b(v(?:exp|expm1|log|log1p|tanh|erf|erfc|exp_shifted|softplus|sigmoid))\(")


def _loops(
    kernel: str,
    inputs: Sequence[str],
    params: Sequence[str],
    body: str | Sequence[str],
    fastmath: bool,
    native: bool,
    redo: str | None = None,
    scale: str = "a_g * ",
    overflow: str | None = None,
    redo_tiny: bool = True,
    product: str | None = None,
    lift: str | None = None,
) -> str:
    """The serial loop of one kernel and its ``parallel=True`` twin over flat arrays into ``out`` (and
    ``out2``, ... where ``body`` is several values: one pass computing them all).

    Every input and parameter is a flat array or a scalar (``_at`` reads either); ``body`` is the value
    of element i in terms of ``a_<name>``: the input in its own type where ``native`` (a float32 loop
    computes in float32; parameters take the type of the first input), else in float64.  With ``redo`` (a
    vjp's f'(x) call; ``body`` is then ``a_g * f'(x)``), the loop returns whether some float32 f'(x) fell below
    2**-120 (:func:`_redo_piece`), and ``_<kernel>_redo`` (with its own twin) computes the array again in
    float64, called by ``_run`` only then: compiled only when an input needs it.  With ``overflow`` (a call of f'(x)
    times 2**-64, :func:`_scaled_derivative`), the loop also returns whether some f'(x) overflowed at a finite x,
    float32 or float64, and the redo takes g (f'(x) 2**-64) 2**64 there (x |x|: g 2|x| at x = 1.8e308, g = 0.3).
    ``product``: how the redo piece forms the vjp from f'(x), a template with ``{}`` for f'(x) (_vjp_patched),
    else ``scale`` f'(x).  With ``lift`` (a call of 2**LIFT f'(x), :func:`_lifted_derivative`), the loop also
    returns whether some float64 f'(x) came out subnormal, and the redo takes g (2**LIFT f'(x)) 2**-LIFT there."""
    bodies = [body] if isinstance(body, str) else list(body)
    outs = ["out", *[f"out{k}" for k in range(2, len(bodies) + 1)]]
    stores = "".join(f"        {o}[i] = {b}\n" for o, b in zip(outs, bodies))
    wide = "".join(f"        a_{n} = np.float64(_at({n}, i))\n" for n in [*inputs, *params])
    if native:
        reads = "".join(f"        a_{n} = _at({n}, i)\n" for n in inputs)
        reads += "".join(f"        a_{n} = _lit(_at({n}, i), a_{inputs[0]})\n" for n in params)
    else:
        reads = wide
    flags = "_FAST" if fastmath else "_EXACT"
    args = [*inputs, *params, *outs]
    if redo and (native or overflow or lift):
        wide_head = f"@numba.njit(**{flags})\ndef _{kernel}_redo({', '.join(args)}):\n"
        again = f"        out[i] = {scale}{redo}\n"
        if overflow or lift:
            again = f"        d = {redo}\n"
            value = f"{scale}d"
        if overflow:  # g (f'(x) 2**-64) 2**64 where f'(x) overflowed, the product rounded once
            again += f"        big = (abs(d) == math.inf) & (abs(a_{inputs[0]}) < math.inf)\n"
            value = f"select(big, ({scale}{overflow})*18446744073709551616.0, {value})"
        if lift:  # g (2**LIFT f'(x)) 2**-LIFT where f'(x) is subnormal, if the lifted f'(x) is finite
            # where the lifted form is within a factor of 1024 of f'(x) (a subnormal f' may have few digits, or none,
            # and its intermediates magnified: x^2 e^-x at x = 745 was 54% off) and below 2**-960 where f'(x) is
            # 0: a lifted form that is 0 or inf by an intermediate overflow (2x/(1 + x^2) at x = 1.7e308, where f' has
            # its far term) does not replace it
            again += (
                f"        u = {lift}\n        e = abs(u*{2.0**-LIFT!r})\n"
                f"        agree = (e >= abs(d)*0.0009765625) & (e <= abs(d)*1024.0 + {LIFT_BELOW!r})\n"
                f"        low = (abs(d) < {LIFT_BELOW!r}) & (abs(u) < math.inf) & agree\n"
            )
            value = f"select(low, ({scale}u)*{2.0**-LIFT!r}, {value})"
        if overflow or lift:
            again += f"        out[i] = {value}\n"
        loop = _redo_piece(
            kernel,
            args,
            reads,
            redo,
            scale,
            tiny=native and redo_tiny,
            overflow=bool(overflow),
            product=product,
            lift=bool(lift),
        )
        again = f"{wide_head}    for i in range(out.shape[0]):\n{wide}{again}"
        return "\n\n".join([loop, _parallel_twin(loop), again, _parallel_twin(again)])
    head = f"@numba.njit(**{flags})\ndef _{kernel}_loop({', '.join(args)}):\n"
    loop = f"{head}    for i in range(out.shape[0]):\n{reads}{stores}"
    return f"{loop}\n\n{_parallel_twin(loop)}"


def _parallel_twin(serial: str) -> str:
    """The ``parallel=True`` twin of a serial loop (``serial``, its text): the loop on _SLICES slices of its
    arrays, one prange over them; where the loop returns a flag, the twin returns whether a slice raised it.

    Each slice runs the serial loop's own compiled code, called at its address (the twin's last argument:
    rowlib.elementwise._address, _call_loop, _call_flagged): the twin compiles nothing but the prange, and
    runs the serial loop's vectorised code (silu's vjp on 2 threads: 5.4 ms, against 7.2 for a prange over
    elements; a copy of the loop inside the twin ran 12% slower than the loop itself, sigmoid's forward in
    float32)."""
    (fn,) = ast.parse(serial).body
    args = [a.arg for a in fn.args.args]
    flagged = isinstance(fn.body[-1], ast.Return)
    slices = ", ".join(f"_part({a}, lo, hi)" for a in args)
    call = f"{'_call_flagged' if flagged else '_call_loop'}(address, ({slices}))"
    decorator = ast.unparse(fn.decorator_list[0])[:-1] + ", parallel=True)"
    return (
        f"@{decorator}\n"
        f"def {fn.name}_parallel({', '.join(args)}, address):\n"
        "    n = out.shape[0]\n" + ("    count = 0\n" if flagged else "") + "    for c in numba.prange(_SLICES):\n"
        "        lo = c * n // _SLICES\n"
        "        hi = (c + 1) * n // _SLICES\n"
        + (f"        count += {call}\n    return count > 0\n" if flagged else f"        {call}\n")
    )


def _redo_piece(
    kernel: str,
    args: Sequence[str],
    reads: str,
    derivative: str,
    scale: str = "a_g * ",
    tiny: bool = True,
    overflow: bool = False,
    product: str | None = None,
    lift: bool = False,
) -> str:
    """The float32-native vjp loop of a function whose f'(x) underflows in a tail (Forms.underflows: a vjp
    g f'(x) whose f'(x) is subnormal loses its digits before g scales them back, 150 ulp and more at g = 1e5;
    redone in float64, g f'(x) keeps them, at no cost to other calls), returning whether some f'(x) fell below 2**-120,
    near or below float32's normal range, where it may be subnormal or come from a subnormal exponential
    (tanh' = 4 t / (1 + t)^2 with t below 2**-126 up to |x| = 44.4): a boolean or (a counter would halve the
    float32 lanes: elu's vjp 3.6 -> 4.5 ms at 10^7, and on 2 threads, as a prange reduction, silu's 5.2 -> 7.2
    ms)."""
    first = reads.split("=", 1)[0].strip()  # the loop's first input: float32 or float64
    flag = ""
    if tiny:
        flag += (
            f"        tiny |= _is32({first}) & (abs(d) < 7.52316384526264e-37)"
            "  # 2**-120; d is float64 by a root patch\n"
        )
    if overflow:  # f'(x) overflowed at a finite x: redone as g (f'(x) 2**-64) 2**64
        flag += f"        tiny |= (abs(d) == math.inf) & (abs({first}) < math.inf)\n"
    if lift:  # an f'(x) below 2**-960: redone as g (2**LIFT f'(x)) 2**-LIFT; a zero only for |x| > 16 (where f'
        # underflowed whole: sigma'(-800); an exact zero of f' in the data, x = 0 of x^2 sigma(x), would redo every
        # call)
        far = f"(abs({first}) > 16.0)"
        flag += f"        tiny |= (not _is32({first})) & (abs(d) < {LIFT_BELOW!r}) & ((d != 0) | {far})\n"
    return (
        f"@numba.njit(**_FAST)\ndef _{kernel}_loop({', '.join(args)}):\n"
        "    tiny = False\n"
        "    for i in range(out.shape[0]):\n"
        f"{reads}"
        f"        d = {derivative}\n"
        f"{flag}"
        f"        out[i] = {product.format('d') if product else scale + 'd'}\n"
        "    return tiny\n"
    )


#: a float64 f'(x) below this may have come from a subnormal intermediate (gelu_tanh' = x P(x) e^(-c|w|) / (1 +
#: e^(-c|w|))^2 at x = -21.2: e^(-c|w|) subnormal, f' = 2e-307 normal and 925 ulp off): the derivative and the vjp
#: are redone from the lifted form there (:func:`_lifted_derivative`); 2**-960, 62 bits above the normal range
LIFT_BELOW = 2.0**-960

#: the runtime of an elementwise module (symact.rowlib.elementwise): what its loops and functions call
_RUN = [
    "_floats",
    "_param",
    "_at",
    "_part",
    "_FAST",
    "_EXACT",
    "_INLINE_FAST",
    "_INLINE_EXACT",
    "PARALLEL_MIN",
    "_SLICES",
    "_input",
    "_flat",
    "_go",
    "_call_loop",
    "_call_flagged",
    "_run",
]


def _elementwise_prelude(vecmath_names: Sequence[str], fast: bool) -> str:
    """Imports, the :mod:`symact.vecmath` functions the kernels call, input checks and ``_run``; the functions
    contract to fused multiply-adds where the loops do (``fast``: :data:`symact.vecmath._HELPER`)."""
    imports = (
        "import math\nimport sys\n\nimport numba\nimport numpy as np\n"
        "from numba import njit, types\nfrom numba.extending import intrinsic, overload\n"
    )
    parts = [imports, identity_source()]
    parts.append("# --- branch-free selects and vectorisable elementary functions (symact.vecmath) ---\n")
    library = kernel_lib.library_source(
        ["select", "_lit", "_is32", *vecmath_names],
        imports=False,
        settings={"_HELPER": vecmath.CONTRACTED_HELPER} if fast else None,
    )
    parts.append(library.strip("\n") + "\n")
    parts.append("# --- the kernels ---\n")
    parts.append(rowlib.source(_RUN, ["checks", "fast", "elementwise"]).strip("\n") + "\n")
    return "\n\n".join(parts)


#: the float32 sweep that decides a doubtful float32 kernel: every MEASURE_STRIDE-th float32 by its bits, both
#: signs (about a million points; odd, and neither of symact.check's strides)
MEASURE_STRIDE = 4001


def _measured(entry: Entry, command: str, forms: Forms) -> Forms:
    """``forms`` with float32_wide and float64_dd decided by measuring the rendered module, where a proxy leaves
    doubt; nothing is measured where there is none (most entries).

    float32: where the float32 proxy (symact.measure: NumPy's functions in float32) is within DOUBT of the bound
    or misses it, but not by FAR, the module's float32 forward and derivative are measured against its float64
    ones (as symact.check's float32 sweep does) on a sweep of float32; a kernel over its bound computes in
    float64, rounded once (log((exp(x)+exp(-x))/2)'s float32 forward, 3.21 ulp, and sigmoid(x) tanh(x)'s float32
    derivative, 4.17, are so within their bounds).

    float64: where the proxy finds a form delicate in float32 (near its bound or past it), its float64 kernels are
    checked against mpmath on symact.check's small grid, and one over its bound computes its form in double-double
    (symact.dd_printer), kept where that measures better (sigma(x)^2's forward: 2.09 ulp in float64 arithmetic,
    its roundings compounding; 0.49 in double-double).  The module is rendered once for both."""
    import dataclasses

    if forms.double_double or forms.aux:
        return forms
    doubt = (
        forms.float32_doubt[0] and not forms.float32_wide[0],
        forms.float32_doubt[1] and not forms.float32_wide[1] and forms.derivative_rule is None,
    )
    delicate = any(a or b for a, b in zip(forms.float32_doubt, forms.float32_wide)) and not forms.params
    if delicate:
        try:  # every form one the double-double printer can compute?
            for form in (forms.forward, forms.derivative):
                dd_function("_probe", form, x, "")
        except DoubleDoubleUnsupported:
            delicate = False
    if not (any(doubt) or delicate):
        return forms
    wide = list(forms.float32_wide)
    with _rendered(entry, command, forms) as module:
        for k, kernel in enumerate((module.forward, module.derivative)):
            if doubt[k]:
                wide[k] = _float32_misses(kernel, (FORWARD_BOUND, DERIVATIVE_BOUND)[k])
        before = _float64_misses(entry, module) if delicate else (0.0, 0.0)
    forms = dataclasses.replace(forms, float32_wide=tuple(wide))
    flags = (before[0] > 1.0, before[1] > 1.0 and forms.derivative_rule is None)
    if not any(flags):
        return forms
    with _rendered(entry, command, dataclasses.replace(forms, float64_dd=flags)) as module:
        after = _float64_misses(entry, module)
    flags = tuple(f and a < b for f, a, b in zip(flags, after, before))
    return dataclasses.replace(forms, float64_dd=flags)


def _float32_misses(kernel, bound: float) -> bool:
    """Whether the float32 loop of ``kernel`` misses ``bound`` against its float64 loop on a sweep of float32."""
    from .check import _f32_ulps, float32_by_parts

    top = np.float32(np.finfo(np.float32).max).view(np.int32)
    positive = np.arange(1, int(top) + 1, MEASURE_STRIDE, dtype=np.int32)
    x32 = np.concatenate([positive, positive | np.int32(-(2**31))]).view(np.float32)
    reference = kernel(x32.astype(np.float64))
    errors, wrong = _f32_ulps(float32_by_parts(kernel, reference, x32), reference)
    return bool(wrong) or float(errors.max()) > bound


@contextlib.contextmanager
def _rendered(entry: Entry, command: str, forms: Forms):
    """The module of ``entry`` with ``forms``, rendered and imported from a temporary file (to be measured)."""
    import importlib.util
    import sys
    import tempfile

    text = stamp(_render_elementwise(entry, command, forms).rstrip("\n") + "\n", entry.name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"_measure_{entry.name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"_symact_measure_{entry.name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
            yield module
        finally:
            sys.modules.pop(spec.name, None)


def _float64_misses(entry: Entry, module) -> tuple[float, float]:
    """The worst float64 errors of the forward and the derivative of ``module`` over symact.check's small grid
    (its finite inputs), against mpmath, in units of their bounds (above 1: a miss; inf: not finite where the
    truth is).  Only those two kernels are called, so only their loops compile (the vjp is g f'(x), one rounding
    more)."""
    from .check import _numeric_kinks, _zeros, grid
    from .derive import derive
    from .reference import Scalar
    from .ulp import ulp_error

    raw = derive(entry).gradient("first").raw
    xs = np.array([v for _, values in grid(np.float64, "small", _numeric_kinks(entry), _zeros(raw, x)) for v in values])
    xs = xs[np.isfinite(xs)]
    worst = []
    for kernel, truth, bound in (
        (module.forward, entry.definition, FORWARD_BOUND),
        (module.derivative, raw, DERIVATIVE_BOUND),
    ):
        reference = Scalar(truth, (x,))
        with np.errstate(all="ignore"):
            got = kernel(xs)
        excess = 0.0
        for value, point in zip(got.tolist(), xs.tolist()):
            exact = _real_value(reference, point)
            if exact is None or not mpmath.isfinite(exact) or abs(exact) > np.finfo(np.float64).max:
                continue
            if not math.isfinite(value):
                return math.inf, math.inf
            excess = max(excess, float(ulp_error(np.array([value]), [exact], np.float64)[0]) / bound)
        worst.append(excess)
    return worst[0], worst[1]


def _render_elementwise(entry: Entry, command: str, forms: Forms | None = None) -> str:
    if forms is None:
        forms = _measured(entry, command, elementwise_forms(entry))
    pnames = [p for p, _ in forms.params]
    aux = [a.name for a in forms.aux]
    scalar_args = ["x", *aux, *pnames]
    out_args = ["y", *aux, *pnames]
    binary = [a.symbol for a in entry.aux if a.domain == "binary" and a.symbol in forms.aux]

    parts = []
    library = _library_helpers(forms.forward, forms.derivative, forms.output)
    rule = forms.double_double
    dd = rule is not None
    f_helper = d_helper = f_plain = d_plain = None
    if rule is not None:  # the finite case in double-double (float32: plain float64); special values stay
        f_helper, d_helper, f_plain, d_plain = rule.forward, rule.derivative, rule.plain_forward, rule.plain_derivative
        library += [f_helper, d_helper, f_plain, d_plain]
    dd_forms = [
        dd_function(name, form, x, _SCALAR.replace("_INLINE_FAST", "_INLINE_EXACT"))
        for name, form, flag in (
            ("_forward_dd", forms.forward, forms.float64_dd[0]),
            ("_derivative_dd", forms.derivative, forms.float64_dd[1]),
        )
        if flag
    ]
    parts += dd_forms
    forward = _scalar_function(
        "_forward_scalar",
        forms.forward,
        scalar_args,
        x,
        True,
        forms.forward_patches,
        binary,
        not dd,
        f_helper,
        f_plain,
        dd_form="_forward_dd" if forms.float64_dd[0] else None,
    )
    f32_call = None
    if forms.derivative_rule is not None:  # a compensated kernel-library form of f'
        match = forms.derivative_rule
        f32_call = call_code(match.rule.pattern(ARGUMENT), match.argument, match.rule.call.format(w="{w}", v="x"))
        if match.factor != 1:
            f32_call = f"{kernel_code(match.factor, vec=True, typed='x')}*({f32_call})"
        library += list(match.rule.helpers)
    derivative = _scalar_function(
        "_derivative_scalar",
        forms.derivative,
        scalar_args,
        x,
        True,
        forms.patches,
        binary,
        not dd,
        d_helper,
        d_plain,
        f32_call,
        _nan_at_nan(forms.raw_derivative, x),
        "_derivative_dd" if forms.float64_dd[1] else None,
        DERIVATIVE_BOUND,
    )
    parts += [forward, derivative]
    if forms.output is not None:
        output = _scalar_function(
            "_from_output_scalar", forms.output, out_args, y, True, forms.output_patches, bound=DERIVATIVE_BOUND
        )
        parts.append(output)
    fast = not dd  # contraction (FMA) would break the error-free transformations of double-double
    a = lambda names: ", ".join(f"a_{n}" for n in names)  # noqa: E731
    # a float32 loop computes in float32 (twice the SIMD lanes) unless the form, measured in float32 arithmetic at
    # generation time, misses its bound far (symact.measure): then in float64, rounded once.  Kernel-library forms
    # (a compute rule's compensated sigma', tanh', (w sigma(w))'; the double-double rule's plain float64 form) are
    # accurate in float32 already.
    native = {
        "forward": dd or not forms.float32_wide[0],
        "derivative": dd or forms.derivative_rule is not None or not forms.float32_wide[1],
    }
    native["vjp"] = native["derivative"]
    native["vjp_from_output"] = True
    value = f"_forward_scalar({a(scalar_args)})"
    # f(x) itself subnormal in float32 (gelu at x < -13): a float32 loop redone in float64 where it came out tiny,
    # unless a kernel-library primitive computes f (sigma, softplus, m sigma(w) keep a subnormal's digits)
    tiny_f = forms.forward_underflows and native["forward"] and not dd and not _primitive(forms.forward)
    redo_f = value if tiny_f else None
    parts.append(_loops("forward", ["x", *aux], pnames, value, fast, native["forward"], redo_f, scale=""))
    body = f"_derivative_scalar({a(scalar_args)})"
    underflowing = forms.underflows or (dd and _underflows(forms.raw_derivative, x))  # (dd: forms.underflows off)
    lifted = _lifted_derivative(forms.derivative) if underflowing and not forms.aux else None
    lift = None
    if lifted is not None:  # f'(x) subnormal in float64 in a tail: (2**LIFT f'(x)) 2**-LIFT there, g times it
        parts.append(_scalar_function("_derivative_lifted_scalar", lifted, scalar_args, x, False, elide=False))
        lift = f"_derivative_lifted_scalar({', '.join(f'a_{n}' for n in scalar_args)})"
    parts.append(
        _loops(
            "derivative",
            ["x", *aux],
            pnames,
            body,
            fast,
            native["derivative"],
            body if lift else None,
            scale="",
            redo_tiny=False,
            lift=lift,
        )
    )
    redo = body if (forms.underflows and native["vjp"]) or lift else None
    scaled = None if dd or forms.derivative_rule is not None else _scaled_derivative(forms.derivative, x)
    overflow = None
    if scaled is not None:  # f'(x) overflows at the top of the range where g f'(x) may not: its redo
        parts.append(_scalar_function("_derivative_scaled_scalar", scaled, scalar_args, x, False))
        wide_args = ", ".join(f"a_{n}" for n in scalar_args)
        overflow = f"_derivative_scaled_scalar({wide_args})"
        redo_tiny = redo is not None
        redo = body
    else:
        redo_tiny = forms.underflows  # (a double-double entry's lift: float64 only)
    product = None
    if forms.patches:  # g f'(x) as (g d) P(d) / d near a zero of f' (float64: no subnormal f' before g scales it)
        parts.append(_vjp_patched(forms.patches, scalar_args))
        product = f"_vjp_patched(a_g, {{}}, _at(x, i), {a(scalar_args)})"  # (x as read: its dtype decides)
    parts.append(
        _loops(
            "vjp",
            ["x", "g", *aux],
            pnames,
            product.format(body) if product else f"a_g * {body}",
            fast,
            native["vjp"],
            redo,
            overflow=overflow,
            redo_tiny=redo_tiny,
            product=product,
            lift=lift,
        )
    )
    wide = ", ".join(f"np.float64(a_{n})" for n in scalar_args)  # each half in the type its own loop uses
    both = [
        f"_forward_scalar({a(scalar_args) if native['forward'] else wide})",
        f"_derivative_scalar({a(scalar_args) if native['derivative'] else wide})",
    ]
    parts.append(_loops("value_and_grad", ["x", *aux], pnames, both, fast, True))
    if forms.output is not None:
        body = f"a_g * _from_output_scalar({a(out_args)})"
        parts.append(_loops("vjp_from_output", ["y", "g", *aux], pnames, body, fast, native["vjp_from_output"]))

    kw = "".join(f", {p}={d!r}" for p, d in forms.params)
    aux_sig = "".join(f", {n}" for n in aux)
    aux_chk = "".join(f" _input({n}, {n!r})," for n in aux)
    pvals = f"({', '.join(f'_param({p}, {p!r})' for p in pnames)}{',' if len(pnames) == 1 else ''})"
    api = [
        ("forward", "x", "", f"{plain_text(entry.summary)} Elementwise, for any shape; float32 stays float32."),
        ("derivative", "x", "", "The derivative f'(x), elementwise."),
        ("vjp", "x", "g", "The vector-Jacobian product g * f'(x), elementwise with broadcasting."),
    ]
    if forms.output is not None:
        api.append(
            ("vjp_from_output", "y", "g", f"g * f'(x) computed from the output y = f(x): {sympy.sstr(forms.output)}.")
        )
    api.append(("value_and_grad", "x", "", "(f(x), f'(x)) from one pass over x; out is None or a pair of arrays."))
    tails = {"value_and_grad": ", 2)\n"}
    if redo:
        tails["vjp"] = ", redo=(_vjp_redo, _vjp_redo_parallel))\n"
    if redo_f:
        tails["forward"] = ", redo=(_forward_redo, _forward_redo_parallel))\n"
    if lift:
        tails["derivative"] = ", redo=(_derivative_redo, _derivative_redo_parallel))\n"
    for kernel, first, second, doc in api:
        args = first + (f", {second}" if second else "")
        checks = f"_input({first}, {first!r}),"
        if second:
            checks += f" _input({second}, {second!r}),"
        parts.append(
            f"def {kernel}({args}{aux_sig}, *{kw}, out=None):\n"
            f'    """{doc}"""\n'
            f"    return _run(_{kernel}_loop, _{kernel}_loop_parallel, ({checks}{aux_chk}), {pvals}, out"
            + tails.get(kernel, ")\n")
        )
    body = "\n\n".join(parts)
    if not fast:
        body = body.replace(_SCALAR, "@numba.njit(**_INLINE_EXACT)")
    called = {n for n in _LIB_CALL.findall(body) if hasattr(kernel_lib, n)}  # argument corrections (printer)
    used = sorted(set(_VEC_CALL.findall(body)) | set(library) | called | ({"fma"} if "fma(" in body else set()))
    code = [T.header(entry, command, _forms_doc(entry, forms)), _elementwise_prelude(used, fast)]
    code.append(f"PARAMS = {dict(forms.params)!r}\n")
    code.append(body)
    return rowlib.entry_points_only("\n\n".join(code))


#: what the header says of a compute form computed in double-double (symact.dd_printer)
DOUBLE_DOUBLE = "the same form, measured over its bound in plain float64 at generation time (symact.dd_printer)"

#: what the header says of a kernel-library form that replaces a compute form
RULE = "symact.kernel_lib forms, chosen by the shape of f or f' and proved equal by cancellation"


def _forms_doc(entry: Entry, forms: Forms) -> list[tuple[str, str, str]]:
    """(label, form, claim) for the header: each compute form that runs, with what was proved of it
    (symact.form_proofs); where a compute rule replaces a form, the rule and its argument."""
    rows = list(form_claims(entry, forms))
    if forms.double_double is not None:
        rule = forms.double_double
        for label, call in (("forward", rule.forward), ("derivative", rule.derivative)):
            text = f"{call}(x) (float64), {rule.plain_forward if label == 'forward' else rule.plain_derivative}(x) "
            rows.append((f"{label} (finite x)", text + f"(float32): {rule.name}", RULE))
    if forms.derivative_rule is not None:
        match = forms.derivative_rule
        factor = "" if match.factor == 1 else f"{sympy.sstr(match.factor)} * "
        text = f"{factor}{match.rule.name}, w = {sympy.sstr(match.argument)}"
        rows.append(("derivative (finite x)", text, RULE))
    for label, form, flag in (
        ("forward", forms.forward, forms.float64_dd[0]),
        ("derivative", forms.derivative, forms.float64_dd[1]),
    ):
        if flag:
            text = f"{sympy.sstr(form)} in double-double arithmetic, rounded once"
            rows.append((f"{label} (float64)", text, DOUBLE_DOUBLE))
    return rows


def render(entry: Entry, command: str | None = None) -> str:
    """The text of the generated module for ``entry``."""
    command = command or f"symact generate {entry.name}"
    return cached("module", (repr(entry), command), lambda: _render(entry, command))


def _render(entry: Entry, command: str) -> str:
    if entry.kind is Kind.ELEMENTWISE:
        text = _render_elementwise(entry, command)
    else:
        text = T.render_template(entry, command)
    return stamp(text.rstrip("\n") + "\n", entry.name)


def render_all(entries: Iterable[Entry], command: str | None = None) -> dict[str, str]:
    """File name -> text for each entry, all rendered before anything is written."""
    return {f"{e.name}.py": render(e, command) for e in entries}


@dataclass(frozen=True)
class EmitReport:
    """What :func:`emit` did or found: file names written, or stale / missing / extra in check mode."""

    written: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def emit(
    files: dict[str, str], directory: str | os.PathLike = DEFAULT_DIR, *, check: bool = False, complete: bool = True
) -> EmitReport:
    """Write ``files`` (name -> text) into ``directory``, or with ``check`` compare them with it.

    ``complete`` says that ``files`` is every module that belongs in the directory, so that any
    other ``*.py`` there is reported as extra.
    """
    directory = Path(directory)
    if check:
        stale, missing = [], []
        for name, text in sorted(files.items()):
            path = directory / name
            if not path.exists():
                missing.append(name)
            elif path.read_text(encoding="utf-8") != text:
                stale.append(name)
        extra = []
        if complete and directory.is_dir():
            extra = sorted(p.name for p in directory.glob("*.py") if p.name not in files)
        return EmitReport(stale=tuple(stale), missing=tuple(missing), extra=tuple(extra))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = directory / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        write_atomic(path, text)
        written.append(name)
    return EmitReport(written=tuple(written))
