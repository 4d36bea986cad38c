"""Derivation: from an Entry's definition to its gradients, each in raw, textbook and output form.

``derive(entry)`` differentiates the plain-maths definition with SymPy (the *raw* derivative),
then differentiates the definition with its named functions recognised (sigma, softplus), which
gives the textbook rules (sigma' = sigma (1 - sigma)), and tidies the result.  For indexed entries
the sifting rule resolves the KroneckerDelta sums (SymPy's ``simplify`` raises StopIteration on
them) and the named intermediates are put back (p_i for the softmax).  Every displayed form is
accepted only after :func:`symact.prove.prove_equal` shows it equal to the raw derivative; a form
that fails its proof raises :class:`symact.prove.ProofError`, and an output form that cannot be
proved is reported as absent.

>>> from symact import catalog
>>> d = derive(catalog.get("sigmoid"))
>>> d.gradient("first").textbook.expr
(1 - sigmoid(x))*sigmoid(x)
>>> d.gradient("first").output.expr
y*(1 - y)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sympy
from sympy import IndexedBase, Sum

from ._callable import make_callable
from .catalog import Entry, Kind
from .catalog.symbols import i, x, y
from .compute_rules import canonical
from .errors import InputError
from .forms import absorb_sign, name_intermediates, normalise_sums, output_form, tidy
from .functions import expand_named, recognise
from .prove import Proof, ProofError, Space, find_kinks, prove_equal, replace_sum, sift

__all__ = [
    "Form",
    "Gradient",
    "Derivation",
    "derive",
    "user_entry",
    "space_for",
    "expand_intermediates",
    "PROOF_BUDGET",
]

PROOF_BUDGET = 20.0  #: seconds each form's proof may take
g = IndexedBase("g", real=True)  #: the upstream gradient in a vector-Jacobian product


@dataclass(frozen=True)
class Form:
    """An expression shown to a reader, with the proof that it equals the raw result."""

    expr: sympy.Expr
    proof: Proof


@dataclass(frozen=True)
class Gradient:
    """One derivative of an entry.

    ``role`` names it: ``first``, ``second``, ``param:<name>``, ``variant:<name>`` (elementwise);
    ``jacobian``, ``vjp`` (vector); ``wrt:<target>`` (losses).  ``raw`` is SymPy's derivative of
    the plain definition; ``textbook`` the compact form; ``output`` the form written with the
    output alone (y for elementwise entries, the output vector for vector entries) or None.
    ``assumptions`` are the (lhs, rhs) equalities the textbook form needs (sum_k y_k = 1).
    """

    role: str
    label: str
    wrt: sympy.Expr
    raw: sympy.Expr
    textbook: Form
    output: Form | None = None
    assumptions: tuple[tuple[sympy.Expr, sympy.Expr], ...] = ()

    @property
    def output_is_textbook(self) -> bool:
        """True where the textbook form is already written with the output alone, so that the
        output form is the same expression (softmax's p_i (delta_ij - p_j), the step's 0)."""
        return self.output is not None and self.output.expr == self.textbook.expr


@dataclass(frozen=True)
class Derivation:
    """Everything symact derives from one entry."""

    entry: Entry
    definition: sympy.Expr
    recognised: sympy.Expr
    params: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    gradients: tuple[Gradient, ...]

    def gradient(self, role: str) -> Gradient | None:
        """The gradient with this role, or None."""
        return next((gr for gr in self.gradients if gr.role == role), None)

    @property
    def main(self) -> Gradient:
        """The first derivative, the Jacobian, or the first loss gradient."""
        return self.gradients[0]


# --------------------------------------------------------------------------------------------


def space_for(entry: Entry, values: Mapping[sympy.Symbol, sympy.Expr] | None = None) -> Space:
    """Where to sample an entry's expressions in numeric proofs."""
    kinks = {}
    if isinstance(entry.variable, sympy.Symbol):
        kinks[entry.variable] = tuple(entry.kinks) or find_kinks(entry.definition, entry.variable)
    params = {p.symbol: (p.default,) for p in entry.params if not values or p.symbol not in values}
    domains = {aux.symbol: aux.domain for aux in entry.aux}
    domains[g] = "real"
    return Space(kinks=kinks, params=params, domains=domains, index_ranges=dict(entry.index_ranges))


def _assumptions(entry: Entry) -> tuple[tuple[sympy.Expr, sympy.Expr], ...]:
    out = []
    for aux in entry.aux:
        if aux.domain == "simplex" and isinstance(aux.symbol, IndexedBase):
            size = aux.sizes[0]
            k = sympy.Symbol("k", integer=True, nonnegative=True)
            out.append((Sum(aux.symbol[k], (k, 0, size - 1)), sympy.Integer(1)))
    return tuple(out)


def _accept(role: str, entry: Entry, shown: sympy.Expr, raw: sympy.Expr, space: Space) -> Form:
    outcome = prove_equal(shown, raw, space, budget=PROOF_BUDGET)
    if outcome.equal:
        return Form(shown, outcome.proof)
    if outcome.counterexample is None and shown != raw:  # undecided, not refuted: the raw form, equal to itself
        # (log erfc(x)': 2 e^(-x^2)/(sqrt(pi) (erf(x) - 1)) needs 4e5 digits at x = 1000 to be told from it)
        return Form(raw, Proof("symbolic", "the raw derivative itself (the compact form was undecided)", 0, 0))
    why = outcome.counterexample or outcome.note
    raise ProofError(f"{entry.name}: the {role} form {shown} was not proved equal to the raw derivative ({why})")


def _label(entry: Entry, wrt: sympy.Expr, order: int = 1) -> str:
    top = "f" if entry.kind is Kind.ELEMENTWISE else ("L" if entry.kind is Kind.LOSS else sympy.latex(entry.output[i]))
    bottom = sympy.latex(wrt)
    if order == 1:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
    return rf"\frac{{\partial^{order} {top}}}{{\partial {bottom}^{order}}}"


def _elementwise(entry: Entry, plain: sympy.Expr, space: Space, first_only: bool, mapping: dict) -> list[Gradient]:
    var = entry.variable
    # an activation's maths, however spelled, gets one textbook form; a loss keeps its named log-terms
    recognised = canonical(plain, tanh_tails=False) if entry.kind is Kind.ELEMENTWISE else recognise(plain)
    raw = sympy.diff(plain, var)
    first_tb = tidy(sympy.diff(recognised, var))
    first = _accept("first derivative", entry, first_tb, raw, space)
    output = None
    if entry.kind is Kind.ELEMENTWISE:
        params = {p.symbol: p.default for p in entry.params}
        candidate = output_form(plain, first_tb, var, y, params=params)
        whole = canonical(plain)  # tanh tails as sigma too: (1 - tanh(-x/2))/2 has sigmoid's y (1 - y)
        if candidate is None and whole != recognised:
            candidate = output_form(plain, tidy(sympy.diff(whole, var)), var, y, params=params)
        if candidate is not None:
            outcome = prove_equal(candidate.subs(y, plain), raw, space, budget=PROOF_BUDGET)
            if outcome.equal:
                output = Form(candidate, outcome.proof)
    role = "first" if entry.kind is Kind.ELEMENTWISE else f"wrt:{var}"
    grads = [Gradient(role, _label(entry, var), var, raw, first, output)]
    if first_only:
        return grads
    if entry.kind is Kind.ELEMENTWISE:
        raw2 = sympy.diff(raw, var)
        second_tb = tidy(sympy.diff(first_tb, var))
        grads.append(
            Gradient("second", _label(entry, var, 2), var, raw2, _accept("second", entry, second_tb, raw2, space))
        )
    for param in entry.params:
        if param.symbol not in plain.free_symbols:
            continue
        raw_p = sympy.diff(plain, param.symbol)
        tb_p = tidy(sympy.diff(recognised, param.symbol))
        grads.append(
            Gradient(
                f"param:{param.name}",
                _label(entry, param.symbol),
                param.symbol,
                raw_p,
                _accept(f"d/d{param.name}", entry, tb_p, raw_p, space),
            )
        )
    for variant in entry.variants:
        v_plain = variant.definition.subs(mapping) if mapping else variant.definition
        raw_v = sympy.diff(v_plain, var)
        tb_v = tidy(sympy.diff(recognise(v_plain), var))
        grads.append(
            Gradient(
                f"variant:{variant.name}",
                _label(entry, var),
                var,
                raw_v,
                _accept(variant.name, entry, tb_v, raw_v, space),
            )
        )
    return grads


def _indexed_textbook(entry: Entry, expr: sympy.Expr, assumptions) -> tuple[sympy.Expr, tuple]:
    """Sift, name the intermediates, apply the assumptions (recording those that mattered), tidy."""
    shown = sift(expr)
    if entry.named:
        shown = name_intermediates(sympy.expand(shown), entry.named)
    used = []
    for lhs, rhs in assumptions:
        replaced = replace_sum(normalise_sums(shown), lhs, rhs)
        if replaced != normalise_sums(shown):
            used.append((lhs, rhs))
            shown = replaced
    shown = tidy(shown)
    if isinstance(shown, Sum) and isinstance(-entry.definition, Sum):
        # keep the sign of a negated-sum definition (an NLL) outside, as textbooks do
        shown = -Sum(absorb_sign(-shown.function), *shown.limits)
    return shown, tuple(used)


def _output_in_vector(entry: Entry, shown: sympy.Expr, plain: sympy.Expr) -> sympy.Expr | None:
    """Write the named intermediate p through the entry's output o_i = definition, where possible.

    With a_i = log(p_i D) the definition becomes a function of p_i alone (p_i for the softmax,
    log p_i for the log-softmax); solving it for p_i gives p in terms of the output.
    """
    if entry.output is None or not entry.named:
        return None
    item = entry.named[0]
    numerator, denominator = sympy.fraction(item.expr, exact=True)  # exp(-a_i) stays a numerator
    hold, stand_in, out = sympy.Dummy("D", positive=True), sympy.Dummy("P", positive=True), sympy.Dummy("O")
    score = entry.variable[item.index]
    sign = next((s for s in (1, -1) if numerator == sympy.exp(s * score)), None)  # p_i = exp(+-a_i) / D
    if sign is None:
        return None
    relation = plain.xreplace({denominator: hold}).subs(score, sign * sympy.log(stand_in * hold))
    relation = sympy.expand_log(relation, force=True)
    if relation.free_symbols != {stand_in}:
        return None
    solutions = sympy.solve(sympy.Eq(out, relation), stand_in)
    if len(solutions) != 1:
        return None
    w = sympy.Wild("w")
    result = shown.replace(item.base[w], lambda w: solutions[0].subs(out, entry.output[w]))
    if entry.variable in {ix.base for ix in result.atoms(sympy.Indexed)}:
        return None
    return result


def expand_intermediates(entry: Entry, expr: sympy.Expr) -> sympy.Expr:
    """Substitute the named intermediates' definitions back (p_k -> exp(a_k) / sum exp(a))."""
    w = sympy.Wild("w")
    for item in entry.named:
        expr = expr.replace(item.base[w], lambda w, item=item: item.expr.xreplace({item.index: w}))
    return expr


def _indexed(entry: Entry, plain: sympy.Expr, space: Space, first_only: bool) -> list[Gradient]:
    assumptions = _assumptions(entry)
    recognised = recognise(plain)
    grads = []
    for target in entry.wrt:
        raw = sympy.diff(plain, target)
        shown, used = _indexed_textbook(entry, sympy.diff(recognised, target), assumptions)
        check_space = Space(**{**space.__dict__, "assumptions": used})
        form = _accept(f"d/d{target}", entry, expand_intermediates(entry, shown), raw, check_space)
        form = Form(shown, form.proof)
        output = None
        if entry.kind is Kind.VECTOR:
            candidate = _output_in_vector(entry, shown, plain)
            if candidate is not None:
                output = Form(candidate, form.proof)
        role = "jacobian" if entry.kind is Kind.VECTOR else f"wrt:{target}"
        grads.append(Gradient(role, _label(entry, target), target, raw, form, output, used))
        if first_only:
            break
        if entry.kind is Kind.VECTOR:
            grads.append(_vjp(entry, target, raw, shown, space))
    return grads


def _vjp(entry: Entry, target, raw, jacobian, space) -> Gradient:
    n = dict(entry.index_ranges)[i]
    raw_vjp = Sum(g[i] * raw, (i, 0, n - 1))
    shown = Sum(g[i] * jacobian, (i, 0, n - 1))
    shown, _ = _indexed_textbook(entry, shown, ())
    shown = tidy(sympy.factor_terms(shown))
    form = _accept("vjp", entry, expand_intermediates(entry, shown), raw_vjp, space)
    form = Form(shown, form.proof)
    plain = entry.definition
    candidate = _output_in_vector(entry, shown, plain)
    output = Form(candidate, form.proof) if candidate is not None else None
    label = rf"\sum_{{i}} g_{{i}} \frac{{\partial {sympy.latex(entry.output[i])}}}{{\partial {sympy.latex(target)}}}"
    return Gradient("vjp", label, target, raw_vjp, form, output)


def _param_values(entry: Entry, params: Mapping[str, object] | None) -> dict[sympy.Symbol, sympy.Expr]:
    values = {}
    for name, value in (params or {}).items():
        try:
            param = entry.param(name)
        except KeyError as exc:
            raise InputError(exc.args[0]) from None
        number = sympy.nsimplify(value, rational=True) if isinstance(value, (int, float, str)) else value
        if not (isinstance(number, sympy.Expr) and number.is_number and number.is_real):
            raise InputError(f"parameter {name} needs a real number, not {value!r}")
        values[param.symbol] = sympy.Rational(number)
    return values


def derive(entry: Entry, params: Mapping[str, object] | None = None, *, first_only: bool = False) -> Derivation:
    """Derive every gradient of ``entry``; ``params`` fixes parameters to numbers (``{"alpha": 0.2}``).

    ``first_only`` stops after the first gradient (f', the Jacobian, the first loss gradient) and
    its output form, for quick listings.
    """
    values = _param_values(entry, params)
    return _derive(entry, tuple(sorted(values.items(), key=lambda kv: kv[0].name)), first_only)


@functools.lru_cache(maxsize=256)
def _derive(entry: Entry, values: tuple, first_only: bool) -> Derivation:
    mapping = dict(values)
    plain = entry.definition.subs(mapping) if mapping else entry.definition
    space = space_for(entry, mapping)
    if entry.is_indexed:
        grads = _indexed(entry, plain, space, first_only)
    else:
        grads = _elementwise(entry, plain, space, first_only, mapping)
    _check_subgradients(entry, grads, mapping)
    return Derivation(entry, plain, recognise(plain), values, tuple(grads))


def _check_subgradients(entry: Entry, grads, mapping) -> None:
    """The Piecewise conditions of the definition must give the chosen value of f' at each kink."""
    if not entry.subgradients:
        return
    raw = grads[0].raw
    for point, chosen in entry.subgradients:
        got = raw.subs(entry.variable, point)
        want = (sympy.Integer(chosen) if isinstance(chosen, int) else chosen).subs(mapping)
        if sympy.simplify(got - want) != 0:
            raise ProofError(f"{entry.name}: f'({point}) is {got} by the definition, but the catalog chooses {want}")


def _as_piecewise(expr: sympy.Expr) -> sympy.Expr:
    """Max, Min, Abs, sign and Heaviside as Piecewise, so that the conditions choose the value of
    f' at a kink as the catalog does (Max(0, x)' at 0 is 0, not Heaviside(0) = 1/2) and second
    derivatives are 0 almost everywhere rather than DiracDelta."""
    kinds = (sympy.Max, sympy.Min, sympy.Abs, sympy.sign)
    expr = expr.replace(lambda e: isinstance(e, kinds), lambda e: e.rewrite(sympy.Piecewise))
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Heaviside), lambda e: sympy.Piecewise((0, e.args[0] < 0), (1, True))
    )
    if not expr.has(sympy.Piecewise):
        return expr
    return _without_point_branches(sympy.piecewise_fold(expr))


def _without_point_branches(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` without the Piecewise branches whose condition holds at single points only ((x >= 0) & (x <= 0),
    where folding Max(x, 0) + log(1 + exp(-|x|)) pairs the kinks): f has the same value without them (it is
    continuous there), but a branch valid at one point has no derivative of its own; differentiated, it gave
    f'(0) = -1/2 where the function, softplus, has 1/2.  The point then takes the next branch's value."""

    def simplify(piecewise: sympy.Piecewise) -> sympy.Expr:
        kept = []
        for value, condition in piecewise.args:
            symbols = condition.free_symbols
            if condition is not sympy.true and len(symbols) == 1:
                try:
                    where = condition.as_set()
                except (NotImplementedError, TypeError, ValueError):
                    where = None
                if isinstance(where, sympy.FiniteSet) or where is sympy.S.EmptySet:
                    continue
            kept.append((value, condition))
        return sympy.Piecewise(*kept) if kept and kept != list(piecewise.args) else piecewise

    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), simplify)


def user_entry(name: str, expr: sympy.Expr, variable: sympy.Symbol = x) -> Entry:
    """An elementwise Entry for a user's own expression in ``variable``.

    Other free symbols become parameters (default 1): positive symbols as they are, any other
    symbol replaced by a positive one of the same name.  Max, Min, Abs, sign and Heaviside are
    written as Piecewise (Heaviside(0) = 1, as the catalog's step).
    """
    if not name.isidentifier():
        raise InputError(f"--name must be a Python identifier, not {name!r}")
    if variable not in expr.free_symbols:
        raise InputError(f"the expression does not depend on {variable}")
    if expr.atoms(sympy.Indexed):
        raise InputError("user expressions are elementwise: indexed symbols are not supported here")
    renames, params = {}, []
    from .catalog import Param

    for s in sorted(expr.free_symbols - {variable}, key=sympy.default_sort_key):
        positive = s if s.is_positive else sympy.Symbol(s.name, positive=True)
        renames[s] = positive
        params.append(Param(positive, sympy.Integer(1), f"parameter {s.name} of the user expression"))
    definition = _as_piecewise(expand_named(expr).xreplace(renames))
    return Entry(
        name=name,
        kind=Kind.ELEMENTWISE,
        summary=f"user expression `{sympy.sstr(expr)}`",
        definition=definition,
        variable=variable,
        wrt=(variable,),
        params=tuple(params),
        output=y,
        kinks=find_kinks(definition, variable),
        builtin=False,
    )


make_callable(__name__, derive)
