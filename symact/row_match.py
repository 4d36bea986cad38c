"""Which row kernel a vector entry or a loss gets, decided from the mathematics of its definition.

Each matcher reads the SymPy structure of a definition (its ``Sum``, ``Indexed`` and ``KroneckerDelta``
nodes) with the entry's own symbols, builds the template's defining expression from what it found, and
accepts only when the two are equal (structurally, or after ``expand_log`` and ``simplify``).  Nothing
here looks at an entry's name, so a user's entry with the same maths gets the same kernel.

>>> from sympy import IndexedBase, Sum, Symbol, exp
>>> v, r, q, N = IndexedBase("v", real=True), Symbol("r", integer=True), Symbol("q", integer=True), Symbol("N")
>>> softmax_index(exp(v[r]) / Sum(exp(v[q]), (q, 0, N - 1)), v)
r
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import Indexed, KroneckerDelta, Sum, exp, log

from .budget import BudgetExceeded, run_limited
from .catalog import Entry, Kind

__all__ = [
    "RowTemplate",
    "row_template",
    "exp_sums",
    "softmax_index",
    "log_softmax_index",
    "is_hardmax",
    "is_mean_squared_error",
    "softmax_cross_entropy_labels",
    "sigmoid_cross_entropy_weight",
    "logistic_regression_nll",
]


@dataclass(frozen=True)
class RowTemplate:
    """The kernel template a definition matched, and what the match found.

    ``kind``: ``normalised_exp`` (softmax), ``log_normalised_exp`` (log-softmax), ``argmax_indicator`` (hardmax),
    each of the first two with ``sign`` -1 where it is taken of the negated scores (softmin: softmax(-a)),
    ``mean_squared_error``,
    ``categorical_cross_entropy`` (``sparse``: an integer label gathers one log-probability),
    ``logistic_regression_nll`` or ``binary_cross_entropy_with_logits`` (``weight``: the coefficient q of
    -q y log sigma(z), a positive number or a positive expression in the parameters).
    """

    kind: str
    sparse: bool = False
    weight: sympy.Expr | None = None
    sign: int = 1


#: seconds for one proof that a definition equals a template's expression (simplify can run for minutes)
PROOF_BUDGET = 10.0


def _simplify_to_zero(difference: sympy.Expr) -> bool:
    return sympy.simplify(sympy.expand_log(difference, force=True)) == 0


def _equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """a == b: structurally, else after expanding logarithms (real arguments) and simplifying, within
    :data:`PROOF_BUDGET` (a proof that runs out of time is no match)."""
    if a == b:
        return True
    try:
        return run_limited(_simplify_to_zero, PROOF_BUDGET, a - b)
    except (BudgetExceeded, TypeError, ValueError, NotImplementedError):
        return False


def _single_sum(expr: sympy.Expr) -> tuple[sympy.Expr, Sum] | None:
    """(c, s) where expr = c * s with s the only Sum factor (one index, from 0), else None."""
    factors = sympy.Mul.make_args(expr)
    sums = [f for f in factors if isinstance(f, Sum)]
    if len(sums) != 1 or len(sums[0].limits) != 1 or sums[0].limits[0][1] != 0:
        return None
    rest = sympy.Mul(*(f for f in factors if f is not sums[0]))
    if sums[0].limits[0][0] in rest.free_symbols:
        return None
    return rest, sums[0]


def _size(s: Sum) -> sympy.Expr:
    """The number of terms of a Sum from 0: upper limit + 1."""
    return s.limits[0][2] + 1


def exp_sums(expr: sympy.Expr, var: sympy.IndexedBase, sign: int = 1) -> list[Sum]:
    """The sums Sum(exp(sign var[k]), (k, 0, N - 1)) in ``expr``: softmax's denominator over a whole row (of the
    negated scores where ``sign`` is -1)."""
    found = []
    for s in expr.atoms(Sum):
        if len(s.limits) == 1 and s.limits[0][1] == 0:
            k = s.limits[0][0]
            if s.function == exp(sign * var[k]):
                found.append(s)
    return sorted(found, key=sympy.default_sort_key)


def _index_of(expr: sympy.Expr, var: sympy.IndexedBase):
    """The index i where ``expr`` is var[i] (one index), else None."""
    if isinstance(expr, Indexed) and expr.base == var and len(expr.indices) == 1:
        return expr.indices[0]
    return None


def softmax_index(expr: sympy.Expr, var: sympy.IndexedBase, sign: int = 1):
    """The index i where ``expr`` is softmax's p_i = exp(var[i]) / Sum(exp(var[k]), (k, 0, N - 1)), else None;
    with ``sign`` -1, of the negated scores: exp(-var[i]) / Sum(exp(-var[k]), ...) (softmin)."""
    for s in exp_sums(expr, var, sign):
        numerator = expr * s
        if not isinstance(numerator, exp):
            numerator = sympy.powsimp(sympy.simplify(numerator))
        if isinstance(numerator, exp):
            i = _index_of(sign * numerator.args[0], var)
            if i is not None and _equal(expr, exp(sign * var[i]) / s):
                return i
    return None


def log_softmax_index(expr: sympy.Expr, var: sympy.IndexedBase, sign: int = 1):
    """The index i where ``expr`` is log p_i = var[i] - log(Sum(exp(var[k]), (k, 0, N - 1))), else None; with
    ``sign`` -1, of the negated scores: -var[i] - log(Sum(exp(-var[k]), ...))."""
    for s in exp_sums(expr, var, sign):
        i = _index_of(sign * sympy.expand_log(expr + log(s), force=True), var)
        if i is not None and _equal(expr, log(exp(sign * var[i]) / s)):
            return i
    return None


def is_hardmax(expr: sympy.Expr, index: sympy.Symbol | None) -> bool:
    """Whether ``expr`` is KroneckerDelta(i, argmax): the one-hot vector of argmax_k a_k at the free index i.

    SymPy has no argmax of an IndexedBase, so a definition writes it as an integer symbol called argmax."""
    if not isinstance(expr, KroneckerDelta):
        return False
    others = [arg for arg in expr.args if arg != index]
    return (
        len(others) == 1
        and isinstance(others[0], sympy.Symbol)
        and others[0].name == "argmax"
        and bool(others[0].is_integer)
    )


def _aux_bases(entry: Entry) -> set:
    return {a.symbol for a in entry.aux if isinstance(a.symbol, sympy.IndexedBase)}


def is_mean_squared_error(entry: Entry) -> bool:
    """Whether the definition is Sum((var[k] - y[k])**2, (k, 0, N - 1)) / N, y an indexed auxiliary input."""
    parts = _single_sum(entry.definition)
    if parts is None:
        return False
    coefficient, s = parts
    k, size = s.limits[0][0], _size(s)
    targets = {t.base for t in s.function.atoms(Indexed)} & _aux_bases(entry)
    if len(targets) != 1 or not isinstance(entry.variable, sympy.IndexedBase):
        return False
    (target,) = targets
    return coefficient == 1 / size and sympy.expand(s.function - (entry.variable[k] - target[k]) ** 2) == 0


def softmax_cross_entropy_labels(entry: Entry) -> str | None:
    """``"soft"`` where the definition is -Sum(y[k] log p_k, (k, 0, N - 1)) with y an indexed auxiliary input
    (labels as probabilities), ``"sparse"`` where it is -log p_t with t an integer auxiliary input (a label
    gathering one log-probability), p the softmax of the entry's variable; else None."""
    var = entry.variable
    if not isinstance(var, sympy.IndexedBase):
        return None
    expr = entry.definition
    labels = {a.symbol for a in entry.aux if isinstance(a.symbol, sympy.Symbol) and a.symbol.is_integer}
    if log_softmax_index(-expr, var) in labels:
        return "sparse"
    parts = _single_sum(expr)
    if parts is None or parts[0] != -1:
        return None
    s = parts[1]
    k = s.limits[0][0]
    for factor in sympy.Mul.make_args(s.function):
        if isinstance(factor, Indexed) and factor.base in _aux_bases(entry) and factor.indices == (k,):
            if log_softmax_index(s.function / factor, var) == k:
                return "soft"
    return None


def sigmoid_cross_entropy_weight(expr: sympy.Expr, logit: sympy.Expr, label: sympy.Expr) -> sympy.Expr | None:
    """q where ``expr`` is the binary cross-entropy -q y log(sigma(z)) - (1 - y) log(1 - sigma(z)) of the logit
    z and the label y (sigma(z) = 1 / (1 + exp(-z))), q free of z and y; else None.

    q is solved for, (expr + (1 - y) log(1 - sigma)) / (-y log sigma), and the equality then proved."""
    sig = 1 / (1 + exp(-logit))
    negative = -(1 - label) * log(1 - sig)
    q = (expr - negative) / (-label * log(sig))
    q = sympy.cancel(q)
    if q.has(logit) or q.has(label):
        q = sympy.simplify(sympy.expand_log(q, force=True))
    if q.has(logit) or q.has(label) or q.has(sympy.nan, sympy.zoo):
        return None
    return q if _equal(expr, -q * label * log(sig) + negative) else None


def logistic_regression_nll(entry: Entry) -> bool:
    """Whether the definition is -Sum(CE(theta_i, y[i]), (i, 0, M - 1)) with CE the binary cross-entropy of
    weight 1 (:func:`sigmoid_cross_entropy_weight`), theta_i = Sum(var[k] X[i, k], (k, 0, D - 1)) + b the
    logit of sample i (the rows of an auxiliary X), y an indexed auxiliary input and b a symbol in ``wrt``."""
    parts = _single_sum(entry.definition)
    var = entry.variable
    if parts is None or parts[0] != -1 or not isinstance(var, sympy.IndexedBase):
        return False
    outer = parts[1]
    i = outer.limits[0][0]
    bases = _aux_bases(entry)
    biases = [w for w in entry.wrt if isinstance(w, sympy.Symbol)]
    for s in outer.function.atoms(Sum):
        if len(s.limits) != 1 or s.limits[0][1] != 0:
            continue
        k = s.limits[0][0]
        data = [f.base for f in sympy.Mul.make_args(s.function) if isinstance(f, Indexed) and f.base in bases]
        if len(data) != 1 or not _equal(s.function, var[k] * data[0][i, k]):
            continue
        for b in biases:
            u = sympy.Dummy("theta", real=True)
            body = outer.function.xreplace({s: u - b})  # theta_i = s + b becomes u
            labels = [t for t in body.atoms(Indexed) if t.base in bases and t.indices == (i,)]
            if body.has(s) or b in body.free_symbols or len(labels) != 1:
                continue
            if sigmoid_cross_entropy_weight(-body, u, labels[0]) == 1:
                return True
    return False


def _free_index(entry: Entry):
    """The index of a vector entry's output p_i: the one of its index_ranges free in the definition."""
    free = [s for s, _ in entry.index_ranges if s in entry.definition.free_symbols]
    return free[0] if len(free) == 1 else None


def row_template(entry: Entry, label: sympy.Symbol, logit: sympy.Symbol) -> RowTemplate | None:
    """The row kernel template for a vector entry or a loss, or None where no template has its maths.

    ``label`` and ``logit`` are the symbols of an elementwise loss (y and z), whose kernel arguments are
    named after them; for such a loss the result is ``binary_cross_entropy_with_logits`` when the definition is one
    (with its weight), else None (the generic elementwise-loss kernel then prints the definition)."""
    expr, var = entry.definition, entry.variable
    if entry.kind is Kind.VECTOR:
        index = _free_index(entry)
        if is_hardmax(expr, index):
            return RowTemplate("argmax_indicator")
        if isinstance(var, sympy.IndexedBase) and index is not None:
            for sign in (1, -1):
                if softmax_index(expr, var, sign) == index:
                    return RowTemplate("normalised_exp", sign=sign)
                if log_softmax_index(expr, var, sign) == index:
                    return RowTemplate("log_normalised_exp", sign=sign)
        return None
    if entry.kind is not Kind.LOSS:
        return None
    if var == logit:
        weight = sigmoid_cross_entropy_weight(expr, logit, label)
        positive = weight is not None and weight.is_positive and weight.free_symbols <= {p.symbol for p in entry.params}
        return RowTemplate("binary_cross_entropy_with_logits", weight=weight) if positive else None
    if is_mean_squared_error(entry):
        return RowTemplate("mean_squared_error")
    labels = softmax_cross_entropy_labels(entry)
    if labels is not None:
        return RowTemplate("categorical_cross_entropy", sparse=labels == "sparse")
    if logistic_regression_nll(entry):
        return RowTemplate("logistic_regression_nll")
    return None
