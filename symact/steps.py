r"""Step-by-step differentiation: f' derived from the definition one named rule at a time.

Each :class:`Step` is one line of an equation chain, ``= expr`` with the rule that produced it
(sum, constant multiple, product, quotient, power, chain, exp, log, tanh, erf, Abs, Max/Min,
Heaviside, Piecewise region by region, ...).  Derivatives still to be taken are SymPy
``Derivative`` objects left unevaluated, so a step prints as the textbook writes it:

.. math:: \frac{d}{dx} \frac{1}{1 + e^{-x}} = -\frac{1}{(1 + e^{-x})^2} \frac{d}{dx}(1 + e^{-x}) = \dots

After the rules come the simplification steps to the textbook form (and, for an elementwise
entry, the output form in y = f(x)).  Every step is checked equal to the one before it with
:func:`symact.prove.prove_equal` (pending derivatives evaluated, named intermediates such as
p_i written out); a step that is shown to differ raises :class:`symact.prove.ProofError`.

>>> from symact import catalog
>>> chain = derive_steps(catalog.get("sigmoid")).chains[0]
>>> [s.rule for s in chain.steps][2:4]
['sum rule; constant rule', "chain rule with $\\exp' = \\exp$; constant multiple rule"]
>>> chain.steps[-2].expr
sigmoid(x)*(1 - sigmoid(x))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy
from sympy import (
    Abs,
    Add,
    Derivative,
    Heaviside,
    Indexed,
    IndexedBase,
    KroneckerDelta,
    Max,
    Min,
    Mul,
    Piecewise,
    Pow,
    Sum,
    UnevaluatedExpr,
    exp,
    log,
    sign,
)

from .catalog import Entry, Kind
from .catalog.symbols import i, j, y
from .display import latex
from .functions import NamedFunction, expand_named, recognise, sigmoid
from .prove import Proof, ProofError, Space, prove_equal, sift

__all__ = ["Step", "Chain", "StepDerivation", "derive_steps", "differentiate", "StepError", "STEP_BUDGET"]

STEP_BUDGET = 8.0  #: seconds each step's proof may take
MAX_STEPS = 60  #: a derivation longer than this is cut off (a user's expression can be huge)


class StepError(ValueError):
    """An expression the step engine cannot differentiate step by step."""


@dataclass(frozen=True)
class Step:
    """One line of a chain: ``= expr`` by ``rule``; ``proof`` shows it equals the line before.

    ``proof`` is None on the first line and on a line whose proof ran out of time (``note`` says so).
    """

    expr: sympy.Expr
    rule: str
    proof: Proof | None = None
    note: str = ""


@dataclass(frozen=True)
class Chain:
    """An equation chain ``label = steps[0] = steps[1] = ...``.

    ``named`` maps an IndexedBase used as shorthand (p for the softmax, theta for w.x + b) to
    (index, definition); ``subs`` maps a plain symbol (y = f(x)) to what it stands for.
    """

    title: str
    label: str
    steps: tuple[Step, ...]
    named: tuple[tuple[IndexedBase, sympy.Symbol, sympy.Expr], ...] = ()
    subs: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()

    @property
    def result(self) -> sympy.Expr:
        return self.steps[-1].expr

    @property
    def proved(self) -> bool:
        """True when every step after the first has a proof."""
        return all(s.proof is not None for s in self.steps[1:])


@dataclass(frozen=True)
class StepDerivation:
    """The step-by-step chains of one entry (one per gradient; softmax adds its i = j and i != j cases)."""

    entry: Entry
    chains: tuple[Chain, ...]


# --------------------------------------------------------------------------------------------
# the rules: each takes an unevaluated Derivative and returns (replacement, rule name)


def _depends(expr: sympy.Expr, var: sympy.Expr) -> bool:
    if isinstance(var, Indexed):
        return any(ix.base == var.base for ix in expr.atoms(Indexed))
    return expr.has(var)


def _d(expr: sympy.Expr, var: sympy.Expr) -> sympy.Expr:
    return Derivative(expr, var, evaluate=False)


def _trivial(expr: sympy.Expr, var: sympy.Expr) -> tuple[sympy.Expr, str] | None:
    """Derivatives so simple that they are resolved in the step that produced them."""
    if not _depends(expr, var):
        return sympy.S.Zero, "constant rule"
    if expr == var:
        return sympy.S.One, "$dx/dx = 1$"
    if isinstance(var, Indexed) and isinstance(expr, Indexed) and expr.base == var.base:
        rule = r"index rule: $\partial a_i / \partial a_j = \delta_{ij}$"
        return KroneckerDelta(expr.indices[0], var.indices[0]), rule
    coeff, rest = _split(expr, var)
    if rest == var and coeff != 1:
        return coeff, "constant multiple rule"
    return None


def _split(expr: sympy.Expr, var: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """(the factors that do not depend on var, the factors that do)."""
    factors = Mul.make_args(expr)
    return Mul(*[f for f in factors if not _depends(f, var)]), Mul(*[f for f in factors if _depends(f, var)])


_FUNCTION_RULES = {
    "exp": r"$\exp' = \exp$",
    "log": r"$\log' u = 1/u$",
    "tanh": r"$\tanh' = 1 - \tanh^2$",
    "sinh": r"$\sinh' = \cosh$",
    "cosh": r"$\cosh' = \sinh$",
    "erf": r"$\operatorname{erf}' u = \tfrac{2}{\sqrt{\pi}} e^{-u^2}$",
    "sigmoid": r"$\sigma' = \sigma (1 - \sigma)$",
    "softplus": r"$\operatorname{softplus}' = \sigma$",
}


def _apply_rule(d: Derivative) -> tuple[sympy.Expr, str]:
    u, var = d.expr, d.variables[0]
    trivial = _trivial(u, var)
    if trivial is not None:
        return trivial
    if isinstance(u, Add):
        return Add(*[_d(t, var) for t in u.args]), "sum rule"
    if isinstance(u, Sum):
        return Sum(_d(u.function, var), *u.limits), "sum rule (term by term inside the sum)"
    if isinstance(u, Mul):
        return _mul_rule(u, var)
    if isinstance(u, Pow):
        return _pow_rule(u, var)
    if isinstance(u, Piecewise):
        return Piecewise(*[(_d(e, var), c) for e, c in u.args]), "Piecewise: differentiate region by region"
    if isinstance(u, Abs):
        return sign(u.args[0]) * _d(
            u.args[0], var
        ), r"chain rule with $\lvert u \rvert' = \operatorname{sign}(u)$ ($u \ne 0$)"
    if isinstance(u, (Heaviside, sign)):
        return sympy.S.Zero, f"{type(u).__name__} is constant on each side of its jump (derivative 0 almost everywhere)"
    if isinstance(u, (Max, Min)):
        first, *others = u.args
        second = type(u)(*others) if len(others) > 1 else others[0]
        cond = first > second if isinstance(u, Max) else first < second
        which = "larger" if isinstance(u, Max) else "smaller"
        return (
            Piecewise((_d(first, var), cond), (_d(second, var), True)),
            f"{type(u).__name__}: differentiate the {which} argument",
        )
    if isinstance(u, sympy.Function) and len(u.args) == 1 and not isinstance(u, sympy.core.function.AppliedUndef):
        arg = u.args[0]
        outer = u.fdiff(1)
        if outer.has(Derivative) or outer.has(sympy.Subs):
            raise StepError(f"no step rule for {type(u).__name__}")
        name = type(u).__name__
        rule = _FUNCTION_RULES.get(name, f"derivative of {name}")
        if arg == var:
            return outer, rule
        return outer * _d(arg, var), f"chain rule with {rule}"
    raise StepError(f"no step rule for {type(u).__name__} in {u}")


def _mul_rule(u: Mul, var) -> tuple[sympy.Expr, str]:
    coeff, rest = _split(u, var)
    if coeff != 1:
        return coeff * _d(rest, var), "constant multiple rule"
    factors = Mul.make_args(u)
    below = [f for f in factors if isinstance(f, Pow) and f.exp.is_negative and _depends(f.base, var)]
    above = [f for f in factors if f not in below]
    if below and above and _depends(Mul(*above), var):
        num, den = Mul(*above), Mul(*[f.base ** (-f.exp) for f in below])
        return (_d(num, var) * den - num * _d(den, var)) / den**2, "quotient rule: $(u/v)' = (u'v - uv')/v^2$"
    terms = []
    for n_, f in enumerate(factors):
        others = Mul(*(factors[:n_] + factors[n_ + 1 :]))
        terms.append(others * _d(f, var))
    return Add(*terms), "product rule"


def _pow_rule(u: Pow, var) -> tuple[sympy.Expr, str]:
    base, expo = u.args
    if not _depends(expo, var):
        u_ = sympy.Symbol("u")
        rule = f"power rule: $(u^{{{latex(expo)}}})' = {latex(expo * u_ ** (expo - 1))}$"
        if base == var:
            return expo * base ** (expo - 1), rule
        return expo * base ** (expo - 1) * _d(base, var), "chain rule with the " + rule
    if not _depends(base, var):
        return u * log(base) * _d(expo, var), "chain rule with the exponential rule: $(c^u)' = c^u \\log c$"
    return _d(exp(expo * log(base)), var), "write $u^v = e^{v \\log u}$"


def _pending(expr: sympy.Expr) -> list[Derivative]:
    return [node for node in sympy.preorder_traversal(expr) if isinstance(node, Derivative)]


def _resolve_trivial(expr: sympy.Expr) -> tuple[sympy.Expr, list[str]]:
    rules = []
    while True:
        mapping = {}
        for d in _pending(expr):
            found = _trivial(d.expr, d.variables[0])
            if found is not None:
                mapping[d] = found[0]
                rules.append(found[1])
        if not mapping:
            return expr, rules
        expr = expr.xreplace(mapping)


def differentiate(expr: sympy.Expr, var: sympy.Expr) -> list[tuple[sympy.Expr, str]]:
    """The unchecked rule steps: [(d/dvar expr, 'definition'), (next, rule), ...].

    >>> from sympy import Symbol, exp
    >>> x = Symbol("x")
    >>> [rule for _, rule in differentiate(x * exp(x), x)]
    ['definition', 'product rule; $dx/dx = 1$', '$e^x$ is its own derivative']
    """
    current = _d(expr, var)
    out = [(current, "definition")]
    while True:
        pending = _pending(current)
        if not pending:
            return out
        if len(out) > MAX_STEPS:
            raise StepError(f"more than {MAX_STEPS} steps: the expression is too large to derive step by step")
        target = pending[0]
        replacement, rule = _apply_rule(target)
        if replacement == exp(target.variables[0]) and rule == _FUNCTION_RULES["exp"]:
            rule = "$e^x$ is its own derivative"
        current = current.xreplace({target: replacement})
        current, extra = _resolve_trivial(current)
        out.append((current, "; ".join(dict.fromkeys([rule, *extra]))))


# --------------------------------------------------------------------------------------------
# checking


def _plain(expr: sympy.Expr, chain_named, subs) -> sympy.Expr:
    """Write out the shorthand (p_k, theta_i, y), then evaluate pending derivatives."""
    w = sympy.Wild("w")
    for base, index, definition in chain_named:
        expr = expr.replace(base[w], lambda w, d=definition, ix=index: d.xreplace({ix: w}))
    if subs:
        expr = expr.xreplace(dict(subs))
    return expand_named(expr.doit())


def _checked(title, label, lines, space: Space, named=(), subs=()) -> Chain:
    steps = [Step(lines[0][0], lines[0][1])]
    previous = _plain(lines[0][0], named, subs)
    for expr, rule, *extra in lines[1:]:
        line_subs = tuple(subs) + tuple(extra[0] if extra else ())
        current = _plain(expr, named, line_subs)
        outcome = prove_equal(previous, current, space, budget=STEP_BUDGET)
        if outcome.equal is False:
            raise ProofError(f"{title}: the step '{rule}' gives {expr}, which differs ({outcome.counterexample})")
        note = "" if outcome.equal else f"not proved: {outcome.note}"
        steps.append(Step(expr, rule, outcome.proof if outcome.equal else None, note))
        previous = current
    return Chain(title, label, tuple(steps), tuple(named), tuple(subs))


# --------------------------------------------------------------------------------------------
# simplification moves after the rules


def _sigmoid_moves(expr: sympy.Expr, var) -> list[tuple[sympy.Expr, str]]:
    """The textbook route e^{-x}/(1+e^{-x})^2 = 1/(1+e^{-x}) . e^{-x}/(1+e^{-x}) = sigma (1 - sigma)."""
    numerator, denominator = None, None
    for f in Mul.make_args(expr):
        if isinstance(f, Pow) and f.exp == -2:
            denominator = f.base
    if denominator is None:
        return []
    numerator = sympy.cancel(expr * denominator**2)
    if sympy.expand(denominator - 1 - numerator) != 0:
        return []
    # UnevaluatedExpr keeps each factor a fraction of its own when printed
    split = Mul(UnevaluatedExpr(1 / denominator), UnevaluatedExpr(numerator / denominator), evaluate=False)
    one_minus = Mul(UnevaluatedExpr(1 / denominator), UnevaluatedExpr(1 - 1 / denominator), evaluate=False)
    named = recognise(1 / denominator)
    if not isinstance(named, NamedFunction):
        return []
    return [
        (split, "split the fraction"),
        (one_minus, r"$\frac{e^{-x}}{1 + e^{-x}} = \frac{(1 + e^{-x}) - 1}{1 + e^{-x}} = 1 - \frac{1}{1 + e^{-x}}$"),
        (Mul(named, UnevaluatedExpr(1 - named), evaluate=False), r"$\sigma(x) = \frac{1}{1 + e^{-x}}$"),
    ]


def _finish(lines, textbook, entry: Entry | None, named_items=()) -> list:
    """Sifting, naming the intermediates, the sigmoid route, and the textbook form."""
    current = lines[-1][0]
    sifted = sift(current)
    if sifted != current:
        lines.append((sifted, r"sifting rule: $\sum_k f(k) \delta_{kj} = f(j)$"))
        current = sifted
    if named_items:
        from .forms import name_intermediates

        shown = name_intermediates(sympy.expand(current), named_items)
        if shown != current:
            names = ", ".join(latex(item.base[item.index]) for item in named_items)
            lines.append((shown, f"write with ${names}$"))
            current = shown
    var = entry.variable if entry is not None and not isinstance(entry.variable, IndexedBase) else None
    if var is not None:
        for move in _sigmoid_moves(current, var):
            lines.append(move)
            current = move[0]
    recognised = recognise(current)
    if recognised != current and not named_items and not recognised.has(exp):
        lines.append((recognised, "recognise the named functions"))
        current = recognised
    if textbook is not None and textbook not in (current, current.doit()):
        lines.append((textbook, "simplify"))
    return lines


# --------------------------------------------------------------------------------------------
# per kind


def _start(entry: Entry, definition: sympy.Expr) -> sympy.Expr:
    """Differentiate the plain definition of a named function itself; otherwise its named form."""
    recognised = recognise(definition)
    if isinstance(recognised, NamedFunction) and recognised.args[0] == entry.variable:
        return definition
    return recognised


def _space(entry: Entry) -> Space:
    from .derive import space_for

    return space_for(entry)


def _elementwise_chains(entry, derivation, space) -> list[Chain]:
    chains = []
    for grad in derivation.gradients:
        if grad.role == "second":
            start = derivation.gradient("first").textbook.expr
            if start.is_number:  # f' constant: nothing to show
                continue
            title = "second derivative, from $f'$ above"
        elif grad.role.startswith("variant:"):
            name = grad.role.split(":", 1)[1]
            start = recognise(next(v.definition for v in entry.variants if v.name == name))
            title = f"derivative in {name} mode"
        elif grad.role.startswith("param:"):
            start = recognise(derivation.definition)
            title = f"derivative with respect to the parameter ${latex(grad.wrt)}$"
        else:
            start = _start(entry, derivation.definition)
            title = "first derivative"
        lines = differentiate(start, grad.wrt)
        lines = _finish(lines, grad.textbook.expr, entry)
        if grad.output is not None and grad.output.expr != lines[-1][0]:
            lines.append((grad.output.expr, "in terms of the output $y = f(x)$", ((y, derivation.definition),)))
        label = {"first": "f'(x)", "second": "f''(x)"}.get(grad.role, grad.label)
        chains.append(_checked(title, label, lines, space))
    return chains


def _vector_chains(entry, derivation, space) -> list[Chain]:
    grad = derivation.gradient("jacobian")
    named = tuple((item.base, item.index, item.expr) for item in entry.named)
    lines = differentiate(entry.definition, grad.wrt)
    lines = _finish(lines, grad.textbook.expr, entry, entry.named)
    chains = [_checked("Jacobian", grad.label, lines, space, named)]
    shown = grad.textbook.expr
    if entry.named and shown.has(KroneckerDelta(i, j)):
        before = next(e for e, rule, *_ in reversed(lines) if rule != "simplify")
        for title, value, rule in (
            ("case $i = j$", 1, r"set $j = i$: $\delta_{ii} = 1$"),
            ("case $i \\ne j$", 0, r"$\delta_{ij} = 0$"),
        ):
            case = before.subs(KroneckerDelta(i, j), value)
            case = case.subs(j, i) if value == 1 else case
            case_lines = [(case, rule)]
            factored = sympy.factor_terms(case)
            if factored != case:
                case_lines.append((factored, "factor"))
            var = grad.wrt
            label = grad.label
            if value == 1:
                label = label.replace(latex(var), latex(var.base[i]))
            chains.append(_checked(title, label, case_lines, space, named))
        combined = [
            (
                Piecewise(
                    (shown.subs(KroneckerDelta(i, j), 1).subs(j, i), sympy.Eq(i, j)),
                    (shown.subs(KroneckerDelta(i, j), 0), True),
                ),
                "the two cases",
            ),
            (shown, r"with the Kronecker delta $\delta_{ij}$"),
        ]
        chains.append(_checked("both cases in one formula", grad.label, combined, space, named))
    vjp = derivation.gradient("vjp")
    if vjp is not None and shown != 0:
        chains.append(_vjp_chain(entry, grad, vjp, space, named))
    return chains


def _vjp_chain(entry, jacobian, vjp, space, named) -> Chain:
    """The backward pass: sum_i g_i dp_i/da_j with the Jacobian, expanded and sifted."""
    from .derive import g
    from .sums import normalise_sums

    size = dict(entry.index_ranges)[i]
    lines = [(Sum(g[i] * jacobian.textbook.expr, (i, 0, size - 1)), "the Jacobian above")]
    expanded = normalise_sums(sympy.expand(lines[0][0]))
    if expanded != lines[0][0]:
        lines.append((expanded, "expand; factors without $i$ move out of the sum"))
    sifted = sift(expanded)
    if sifted != expanded:
        lines.append((sifted, r"sifting rule: $\sum_i g_i \delta_{ij} f(i) = g_j f(j)$"))
    if vjp.textbook.expr not in (sifted, sifted.doit()):
        lines.append((vjp.textbook.expr, "factor"))
    return _checked("vector-Jacobian product (the backward pass)", vjp.label, lines, space, named)


def _through_softmax(entry, grad, space) -> Chain:
    """Cross-entropy losses: dL/dz_j = sum_k dL/dp_k dp_k/dz_j, with the softmax Jacobian."""
    item = entry.named[0]
    named = ((item.base, item.index, item.expr),)
    p, zv = item.base, entry.variable
    jac = lambda q: p[q] * (KroneckerDelta(q, j) - p[j])  # noqa: E731
    if isinstance(-entry.definition, Sum):
        term = -entry.definition
        (kk, lo, hi) = term.limits[0]
        labels = term.function.as_independent(log)[0]
        written = -Sum(labels * log(p[kk]), (kk, lo, hi))
        lines = [
            (_d(written, zv[j]), "write the loss with $p_k = \\operatorname{softmax}(z)_k$"),
            (-Sum(labels / p[kk] * _d(p[kk], zv[j]), (kk, lo, hi)), r"chain rule through $\log$: $\log' p = 1/p$"),
            (
                -Sum(Mul(labels / p[kk], jac(kk), evaluate=False), (kk, lo, hi)),
                r"softmax Jacobian $\partial p_k / \partial z_j = p_k (\delta_{kj} - p_j)$",
            ),
            (-Sum(labels * (KroneckerDelta(kk, j) - p[j]), (kk, lo, hi)), "cancel $p_k$"),
            (-labels.subs(kk, j) + p[j] * Sum(labels, (kk, lo, hi)), r"sifting rule: $\sum_k y_k \delta_{kj} = y_j$"),
        ]
        assumptions = tuple(grad.assumptions)
        if assumptions:
            lines.append((grad.textbook.expr, r"the labels sum to one: $\sum_k y_k = 1$"))
            space = Space(**{**space.__dict__, "assumptions": assumptions})
    else:
        summed = {limit[0] for total in entry.definition.atoms(Sum) for limit in total.limits}
        (t_,) = {ix.indices[0] for ix in entry.definition.atoms(Indexed) if ix.base == zv} - summed
        lines = [
            (_d(-log(p[t_]), zv[j]), "write the loss with $p_t = \\operatorname{softmax}(z)_t$"),
            (-_d(p[t_], zv[j]) / p[t_], r"chain rule through $\log$: $\log' p = 1/p$"),
            (
                -Mul(1 / p[t_], jac(t_), evaluate=False),
                r"softmax Jacobian $\partial p_t / \partial z_j = p_t (\delta_{tj} - p_j)$",
            ),
            (grad.textbook.expr, "cancel $p_t$"),
        ]
    lines = [(_d(entry.definition, zv[j]), "definition"), *lines]
    if lines[-1][0] != grad.textbook.expr:
        lines.append((grad.textbook.expr, "simplify"))
    return _checked(f"gradient with respect to ${latex(grad.wrt)}$", grad.label, lines, space, named)


def _logistic_chain(entry, grad, space) -> Chain:
    """The logistic NLL through theta_i = w . x_i + b and d sigma(theta)/dw = sigma (1 - sigma) dtheta/dw."""
    (term,) = [a for a in sympy.preorder_traversal(entry.definition) if isinstance(a, Sum) and a.limits[0][0] == i]
    theta_def = next(s.args[0] for s in recognise(entry.definition).atoms(sigmoid))
    theta = IndexedBase("theta", real=True)
    named = ((theta, i, theta_def),)
    # the labels: the auxiliary vector with one entry per sample
    labels_ = next(aux.symbol[i] for aux in entry.aux if isinstance(aux.symbol, IndexedBase) and len(aux.sizes) == 1)
    s = sigmoid(theta[i])
    (ii, lo, hi) = term.limits[0]
    wrt = grad.wrt
    dtheta = theta_def.diff(wrt)
    dtheta_shown = sift(dtheta)
    outer = labels_ / s - (1 - labels_) / (1 - s)
    lines = [
        (_d(entry.definition, wrt), "definition"),
        (
            _d(-Sum(labels_ * log(s) + (1 - labels_) * log(1 - s), (ii, lo, hi)), wrt),
            rf"write $\theta_i = {latex(theta_def)}$",
        ),
        (-Sum(outer * _d(s, wrt), (ii, lo, hi)), r"sum rule and chain rule through $\log$"),
        (
            -Sum(outer * s * (1 - s) * _d(theta[i], wrt), (ii, lo, hi)),
            r"chain rule with $\sigma' = \sigma (1 - \sigma)$",
        ),
        (
            -Sum(Mul(outer, s * (1 - s), dtheta_shown, evaluate=dtheta_shown == 1), (ii, lo, hi)),
            rf"$\partial \theta_i / \partial {latex(wrt)} = {latex(dtheta_shown)}$",
        ),
        (
            -Sum((labels_ * (1 - s) - (1 - labels_) * s) * dtheta_shown, (ii, lo, hi)),
            r"multiply out: $\frac{y}{\sigma} \sigma (1 - \sigma) = y (1 - \sigma)$",
        ),
        (
            Sum(sympy.expand(s - labels_) * dtheta_shown, (ii, lo, hi)),
            r"expand: $y (1 - \sigma) - (1 - y) \sigma = y - \sigma$",
        ),
    ]
    return _checked(f"gradient with respect to ${latex(wrt)}$", grad.label, lines, space, named)


def _loss_chains(entry, derivation, space) -> list[Chain]:
    chains = []
    for grad in derivation.gradients:
        if entry.named and grad.role.startswith("wrt:"):
            chains.append(_through_softmax(entry, grad, space))
            continue
        recognised = recognise(entry.definition)
        if entry.is_indexed and recognised.has(Sum) and recognised.has(sigmoid):  # sigmoid of a linear model
            chains.append(_logistic_chain(entry, grad, space))
            continue
        lines = differentiate(recognise(derivation.definition), grad.wrt)
        lines = _finish(lines, grad.textbook.expr, entry if not entry.is_indexed else None)
        title = f"gradient with respect to ${latex(grad.wrt)}$"
        chains.append(_checked(title, grad.label, lines, space))
    return chains


@functools.lru_cache(maxsize=128)
def derive_steps(entry: Entry) -> StepDerivation:
    """The step-by-step chains of ``entry``, every step proved equal to the one before."""
    from .derive import derive

    derivation = derive(entry)
    space = _space(entry)
    if entry.kind is Kind.ELEMENTWISE:
        chains = _elementwise_chains(entry, derivation, space)
    elif entry.kind is Kind.VECTOR:
        chains = _vector_chains(entry, derivation, space)
    else:
        chains = _loss_chains(entry, derivation, space)
    return StepDerivation(entry, tuple(chains))
