"""The step engine: every chain of every catalog entry is valid, and each rule does what it says."""

from __future__ import annotations

import pytest
import sympy
from sympy import Abs, Derivative, Heaviside, KroneckerDelta, Max, Piecewise, Sum, erf, exp, log, tanh

from symact import catalog
from symact.catalog.symbols import i, j, label, p, t, x, y, yv, z
from symact.derive import expand_intermediates, space_for
from symact.functions import sigmoid
from symact.prove import ProofError, Space, prove_equal
from symact.steps import StepError, _checked, _plain, derive_steps, differentiate

from .conftest import ALL


@pytest.fixture(scope="module")
def steps():
    return {name: derive_steps(catalog.get(name)) for name in ALL}


@pytest.mark.parametrize("name", ALL)
def test_every_step_is_proved_equal_to_the_one_before(steps, name):
    chains = steps[name].chains
    assert chains
    for chain in chains:
        assert chain.proved, [(s.rule, s.note) for s in chain.steps if s.proof is None][:1]
        assert not chain.result.has(Derivative)


@pytest.mark.parametrize("name", ALL)
def test_each_chain_ends_at_a_form_the_derivation_shows(steps, derivations, name):
    shown = set()
    for grad in derivations[name].gradients:
        shown.add(grad.textbook.expr)
        if grad.output is not None:
            shown.add(grad.output.expr)
    chain = steps[name].chains[0]
    if chain.named:  # written with a shorthand (theta_i = w.x_i + b): equal once it is written out
        entry = catalog.get(name)
        textbook = expand_intermediates(entry, derivations[name].main.textbook.expr)
        outcome = prove_equal(_plain(chain.result, chain.named, chain.subs), textbook, space_for(entry))
        assert outcome.equal
    else:
        assert chain.result in shown or chain.result.doit() in shown


def _rebound_indices(expr, bound=frozenset()):
    """(index, sum) for every Sum inside ``expr`` whose index an enclosing Sum already binds."""
    if not isinstance(expr, sympy.Basic):
        return []
    if isinstance(expr, Sum):
        own = [limit[0] for limit in expr.limits]
        found = [(v, expr) for v in own if v in bound]
        found += [hit for limit in expr.limits for part in limit[1:] for hit in _rebound_indices(part, bound)]
        return found + _rebound_indices(expr.function, bound | set(own))
    return [hit for arg in expr.args for hit in _rebound_indices(arg, bound)]


@pytest.mark.parametrize("name", ALL)
def test_no_sum_reuses_the_index_of_an_enclosing_sum(steps, derivations, name):
    entry, derivation = catalog.get(name), derivations[name]
    shown = [("definition", entry.definition), ("definition, named functions", derivation.recognised)]
    shown += [(f"named {item.base}", item.expr) for item in entry.named]
    for grad in derivation.gradients:
        shown += [(f"{grad.role} raw", grad.raw), (f"{grad.role} textbook", grad.textbook.expr)]
        shown += [(f"{grad.role} output", grad.output.expr)] if grad.output is not None else []
    shown += [(chain.title, step.expr) for chain in steps[name].chains for step in chain.steps]
    clashes = [(what, str(index), str(inner)) for what, expr in shown for index, inner in _rebound_indices(expr)]
    assert not clashes, clashes[:3]


def test_rebound_indices_are_found():
    k, n = sympy.symbols("k n", integer=True)
    z = sympy.IndexedBase("z")
    inner = Sum(exp(z[k]), (k, 0, n - 1))
    assert _rebound_indices(Sum(log(exp(z[k]) / inner), (k, 0, n - 1))) == [(k, inner)]
    assert _rebound_indices(Sum(z[k], (k, 0, n - 1)) * inner) == []


def test_sigmoid_goes_the_textbook_way(steps):
    chain = steps["sigmoid"].chains[0]
    exprs = [s.expr.doit() for s in chain.steps]
    assert exp(-x) / (1 + exp(-x)) ** 2 in exprs
    assert sigmoid(x) * (1 - sigmoid(x)) in exprs
    assert chain.result == y * (1 - y)
    rules = " ".join(s.rule for s in chain.steps)
    for rule in ("chain rule", "power rule", "sum rule", "split the fraction"):
        assert rule in rules


def test_softmax_cases_and_kronecker_form(steps):
    chains = {c.title: c for c in steps["softmax"].chains}
    same = chains["case $i = j$"].result
    other = chains["case $i \\ne j$"].result
    assert sympy.expand(same - p[i] * (1 - p[i])) == 0
    assert other == -p[i] * p[j]
    assert chains["both cases in one formula"].result == p[i] * (KroneckerDelta(i, j) - p[j])
    jacobian = chains["Jacobian"]
    assert any("quotient rule" in s.rule for s in jacobian.steps)
    assert any("sifting rule" in s.rule for s in jacobian.steps)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("softmax_cross_entropy_with_logits", p[j] - yv[j]),
        ("sparse_softmax_cross_entropy_with_logits", p[j] - KroneckerDelta(j, t)),
        ("sigmoid_cross_entropy_with_logits", sigmoid(z) - label),
    ],
)
def test_losses_come_down_to_p_minus_y(steps, name, expected):
    result = steps[name].chains[0].result
    assert sympy.expand(result - expected) == 0


def test_softmax_losses_go_through_the_softmax_jacobian(steps):
    rules = [s.rule for s in steps["softmax_cross_entropy_with_logits"].chains[0].steps]
    assert any("softmax Jacobian" in r for r in rules)
    assert any("sum to one" in r for r in rules)


def test_logistic_nll_goes_through_theta(steps):
    chain = steps["logistic_nll"].chains[0]
    rules = " ".join(s.rule for s in chain.steps)
    assert r"\sigma' = \sigma (1 - \sigma)" in rules
    assert r"\partial \theta_i" in rules
    result = chain.result
    assert isinstance(result, Sum)
    theta = sympy.IndexedBase("theta", real=True)
    X = sympy.IndexedBase("X", real=True)
    assert sympy.expand(result.function - (sigmoid(theta[i]) - yv[i]) * X[i, j]) == 0


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        (x**3, "power rule"),
        (exp(2 * x), "chain rule with $\\exp' = \\exp$"),
        (log(1 + x**2), "\\log' u = 1/u"),
        (tanh(x**2), "\\tanh' = 1 - \\tanh^2"),
        (erf(3 * x), "\\operatorname{erf}'"),
        (x * exp(x), "product rule"),
        ((x + 1) / (x**2 + 1), "quotient rule"),
        (Abs(x - 1), "\\lvert u \\rvert'"),
        (Max(x, x**2), "Max: differentiate the larger argument"),
        (Heaviside(x) + x, "Heaviside is constant"),
        (Piecewise((x**2, x > 0), (exp(x), True)), "Piecewise: differentiate region by region"),
        (5 * sigmoid(x), "constant multiple rule"),
        (2**x, "exponential rule"),
        (x**x, "e^{v \\log u}"),
    ],
)
def test_rules_give_sympys_derivative(expr, rule):
    lines = differentiate(expr, x)
    assert any(rule in r for _, r in lines), [r for _, r in lines]
    result = lines[-1][0]
    assert not result.has(Derivative)
    diff = sympy.diff(expr, x)
    for value in (-2.5, -0.3, 0.7, 1.9):
        assert abs(complex(sympy.N((result - diff).subs(x, value)))) < 1e-12


def test_a_wrong_step_is_caught():
    lines = [(Derivative(x**2, x), "definition"), (3 * x, "a wrong power rule")]
    with pytest.raises(ProofError, match="a wrong power rule"):
        _checked("test", "f'(x)", lines, Space())


def test_an_unknown_function_is_refused():
    f = sympy.Function("f")
    with pytest.raises(StepError):
        differentiate(f(x), x)


def _expressions():
    """Random expressions in x from the functions the rules cover."""
    from hypothesis import strategies as st

    leaves = st.sampled_from([x, 2 * x, x + 1, sympy.Integer(3), sympy.Rational(1, 2) * x])
    unary = [exp, tanh, sigmoid, erf, Abs, lambda u: log(1 + u**2), lambda u: u**3, lambda u: 1 / (2 + u**2)]

    def extend(children):
        one = st.tuples(st.sampled_from(unary), children).map(lambda t: t[0](t[1]))
        two = st.tuples(st.sampled_from([sympy.Add, sympy.Mul, Max]), children, children).map(
            lambda t: t[0](t[1], t[2])
        )
        quotient = st.tuples(children, children).map(lambda t: t[0] / (3 + t[1] ** 2))
        return one | two | quotient

    return st.recursive(leaves, extend, max_leaves=6)


def test_random_expressions_differentiate_to_sympys_derivative():
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(_expressions())
    def check(expr):
        lines = differentiate(expr, x)
        result = lines[-1][0]
        assert not result.has(Derivative)
        expected = sympy.diff(expr, x)
        for value in (-1.7, -0.45, 0.35, 1.3):  # away from the kinks of Abs and Max at small integers
            got, want = (complex(sympy.N(e.subs(x, value), 30)) for e in (result, expected))
            assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (expr, value)

    check()
