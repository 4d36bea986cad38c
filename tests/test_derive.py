"""Every displayed form equals the raw derivative; finite differences and explicit small cases agree."""

import random

import pytest
import sympy
from sympy import Matrix, Rational, exp, log

from symact import catalog
from symact.catalog import Kind
from symact.catalog.symbols import X, b, i, j, t, w, x, y, yv, zv
from symact.derive import derive, expand_intermediates, g, user_entry
from symact.functions import expand_named, sigmoid
from symact.prove import ProofError

from .conftest import ALL, ELEMENTWISE, INDEXED

DIGITS = 40
POINTS = [Rational(v) for v in ("-7.3", "-1.19", "-0.4", "0.3", "1.7", "12.5")]
H = Rational(1, 10**25)


def value(expr, subs, digits=DIGITS + 20):
    return expand_named(expr).evalf(digits, subs=subs, maxn=2000)


def assert_close(got, want, what):
    got, want = sympy.N(got, DIGITS), sympy.N(want, DIGITS)
    scale = max(abs(got), abs(want), sympy.Float(1e-300))
    assert abs(got - want) <= scale * sympy.Float(10) ** -30, f"{what}: {got} != {want}"


@pytest.mark.parametrize("name", ALL)
def test_every_form_is_proved(derivations, name):
    d = derivations[name]
    assert d.gradients
    for gr in d.gradients:
        assert gr.textbook.proof.method in {"symbolic", "numeric"}
        if gr.output is not None:
            assert gr.output.proof.method in {"symbolic", "numeric"}


def _aux_values(entry, rng):
    out = {}
    for aux in entry.aux:
        if isinstance(aux.symbol, sympy.Symbol) and aux.domain != "index":
            out[aux.symbol] = {"binary": 1, "unit": Rational(rng.randint(1, 99), 100)}.get(aux.domain, Rational(1, 3))
    return out


@pytest.mark.parametrize(
    "name", ELEMENTWISE + ["sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits"]
)
def test_finite_differences_agree_with_every_derivative(derivations, name):
    d = derivations[name]
    entry = d.entry
    var = entry.variable
    rng = random.Random(name)
    base = {**entry.defaults, **_aux_values(entry, rng)}
    f = d.definition
    for point in POINTS:
        if any(abs(point - k) < Rational(1, 10) for k in entry.kinks):
            continue
        subs = {**base, var: point}
        for gr in d.gradients:
            if gr.role.startswith("variant:"):
                continue
            target = gr.wrt
            fn = d.gradients[0].raw if gr.role == "second" else d.definition
            up, down = {**subs, target: subs[target] + H}, {**subs, target: subs[target] - H}
            fd = (value(fn, up, 120) - value(fn, down, 120)) / (2 * H)
            assert_close(value(gr.textbook.expr, subs), fd, f"{name} {gr.role} at {point}")
            if gr.output is not None:
                y_value = value(f, subs)
                assert_close(value(gr.output.expr, {**subs, y: y_value}), fd, f"{name} output form at {point}")


@pytest.mark.parametrize(
    "name, form",
    [
        ("sigmoid", y * (1 - y)),
        ("tanh", 1 - y**2),
        ("softplus", 1 - exp(-y)),
        ("relu", sympy.Piecewise((1, y > 0), (0, True))),
    ],
)
def test_output_forms_are_the_known_ones(derivations, name, form):
    got = derivations[name].main.output.expr
    assert sympy.simplify(got - form) == 0 or got == form


def test_elu_output_form_is_y_plus_alpha_below_zero(derivations):
    out = derivations["elu"].main.output.expr
    alpha = catalog.get("elu").param("alpha").symbol
    assert out.subs(y, Rational(-1, 2)) == alpha - Rational(1, 2)
    assert out.subs(y, 3) == 1


@pytest.mark.parametrize("name", ["silu", "mish", "swish"])
def test_non_monotonic_functions_have_no_output_form(derivations, name):
    assert derivations[name].main.output is None


def test_textbook_forms_are_the_compact_ones(derivations):
    s = sigmoid(x)
    assert derivations["sigmoid"].main.textbook.expr == s * (1 - s)
    assert derivations["tanh"].main.textbook.expr == 1 - sympy.tanh(x) ** 2
    assert derivations["softplus"].main.textbook.expr == s


@pytest.mark.parametrize("name", [e.name for e in catalog.entries() if e.subgradients])
def test_chosen_subgradient_at_each_kink(derivations, name):
    entry = catalog.get(name)
    for point, chosen in entry.subgradients:
        assert sympy.expand(derivations[name].main.raw.subs(entry.variable, point) - chosen) == 0
        assert sympy.expand(derivations[name].main.textbook.expr.subs(entry.variable, point) - chosen) == 0


def test_relu_subgradient_is_zero_not_heaviside_half(derivations):
    assert derivations["relu"].main.textbook.expr.subs(x, 0) == 0


def test_parameter_gradients_exist():
    for name, param in [("prelu", "alpha"), ("elu", "alpha"), ("swish", "beta"), ("leaky_relu", "slope")]:
        assert derive(catalog.get(name)).gradient(f"param:{param}") is not None


# ---------------------------------------------------------------------------- indexed entries


def _explicit_softmax(n):
    avec = sympy.symbols(f"a0:{n}", real=True)
    total = sum(exp(v) for v in avec)
    return avec, [exp(v) / total for v in avec]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_general_jacobian_matches_explicit_n4(derivations, name):
    n = 4
    avec, probs = _explicit_softmax(n)
    outputs = probs if name == "softmax" else [log(p) for p in probs]
    jac = Matrix(outputs).jacobian(Matrix(avec))
    entry = catalog.get(name)
    general = expand_intermediates(entry, derivations[name].main.textbook.expr)
    rng = random.Random(4)
    point = {v: Rational(rng.randint(-3000, 3000), 1000) for v in avec}
    a = entry.variable
    for row in range(n):
        for col in range(n):
            inst = general.subs(dict(entry.index_ranges)[i], n).doit().subs({i: row, j: col})
            inst = inst.xreplace({a[q]: avec[q] for q in range(n)})
            assert_close(value(inst, point), value(jac[row, col], point), f"{name} J[{row},{col}]")


def test_softmax_jacobian_is_in_kronecker_form(derivations):
    p = catalog.get("softmax").output
    assert derivations["softmax"].main.textbook.expr == p[i] * (sympy.KroneckerDelta(i, j) - p[j])
    assert derivations["log_softmax"].main.textbook.expr == sympy.KroneckerDelta(i, j) - p[j]


def test_softmax_vjp_is_p_times_g_minus_dot(derivations):
    p = catalog.get("softmax").output
    n = dict(catalog.get("softmax").index_ranges)[i]
    vjp = derivations["softmax"].gradient("vjp").textbook.expr
    assert sympy.expand(vjp - p[j] * (g[j] - sympy.Sum(g[i] * p[i], (i, 0, n - 1)))) == 0


def test_loss_gradients_are_the_textbook_ones(derivations):
    p = catalog.get("softmax_cross_entropy_with_logits").named[0].base
    ce = derivations["softmax_cross_entropy_with_logits"].main
    assert ce.textbook.expr == p[j] - yv[j]
    assert ce.assumptions, "p - y needs sum(y) = 1 and must say so"
    sparse = derivations["sparse_softmax_cross_entropy_with_logits"].main.textbook.expr
    assert sympy.expand(sparse - (p[j] - sympy.KroneckerDelta(j, t))) == 0
    z, label = catalog.get("sigmoid_cross_entropy_with_logits").variable, y
    assert sympy.expand(derivations["sigmoid_cross_entropy_with_logits"].main.textbook.expr - (sigmoid(z) - label)) == 0
    q = catalog.get("weighted_cross_entropy_with_logits").param("q").symbol
    weighted = derivations["weighted_cross_entropy_with_logits"].main.textbook.expr
    assert sympy.expand(weighted - ((1 + (q - 1) * label) * sigmoid(z) - q * label)) == 0


@pytest.mark.parametrize("n, label", [(4, 2), (3, 0)])
def test_cross_entropy_gradients_match_explicit_case(derivations, n, label):
    zs, probs = _explicit_softmax(n)
    rng = random.Random(n)
    raw = [rng.randint(1, 9) for _ in range(n)]
    soft = [Rational(v, sum(raw)) for v in raw]
    soft_loss = -sum(s * log(pr) for s, pr in zip(soft, probs))
    sparse_loss = -log(probs[label])
    point = {v: Rational(rng.randint(-3000, 3000), 1000) for v in zs}
    for name, loss in [
        ("softmax_cross_entropy_with_logits", soft_loss),
        ("sparse_softmax_cross_entropy_with_logits", sparse_loss),
    ]:
        entry = catalog.get(name)
        general = expand_intermediates(entry, derivations[name].main.textbook.expr)
        general = general.subs(sympy.Symbol("n", integer=True, positive=True), n).doit()
        for col in range(n):
            inst = general.subs({j: col, t: label}).xreplace({zv[q]: zs[q] for q in range(n)})
            inst = inst.xreplace({yv[q]: soft[q] for q in range(n)})
            assert_close(value(inst, point), value(sympy.diff(loss, zs[col]), point), f"{name} dL/dz{col}")


def test_logistic_gradient_matches_explicit_3_samples_2_features(derivations):
    m, dim = 3, 2
    rng = random.Random(32)
    data = [[Rational(rng.randint(-2000, 2000), 1000) for _ in range(dim)] for _ in range(m)]
    labels = [1, 0, 1]
    ws = sympy.symbols("w0:2", real=True)
    bias = sympy.Symbol("bias", real=True)
    loss = 0
    for row, lab in zip(data, labels):
        theta = sum(wk * xk for wk, xk in zip(ws, row)) + bias
        loss += -(lab * log(1 / (1 + exp(-theta))) + (1 - lab) * log(1 - 1 / (1 + exp(-theta))))
    point = {ws[0]: Rational(3, 10), ws[1]: Rational(-7, 10), bias: Rational(1, 5)}
    sizes = {sympy.Symbol("m", integer=True, positive=True): m, sympy.Symbol("d", integer=True, positive=True): dim}

    def instantiate(expr):
        expr = expr.subs(sizes).doit()
        expr = expr.xreplace({X[r, c]: data[r][c] for r in range(m) for c in range(dim)})
        expr = expr.xreplace({yv[r]: labels[r] for r in range(m)})
        return expr.xreplace({w[c]: ws[c] for c in range(dim)}).xreplace({b: bias})

    dw = derivations["logistic_nll"].gradient("wrt:w[j]").textbook.expr
    for col in range(dim):
        assert_close(value(instantiate(dw.subs(j, col)), point), value(sympy.diff(loss, ws[col]), point), f"dL/dw{col}")
    db = derivations["logistic_nll"].gradient("wrt:b").textbook.expr
    assert_close(value(instantiate(db), point), value(sympy.diff(loss, bias), point), "dL/db")
    # the displayed form is the textbook -sum_i (y_i - sigma(w.x_i + b)) x_ij
    assert dw.could_extract_minus_sign() and isinstance(-dw, sympy.Sum)
    assert (-dw).function.has(X[i, j]) and (-dw).function.has(yv[i])


@pytest.mark.parametrize("name", INDEXED)
def test_indexed_entries_have_their_gradients(derivations, name):
    entry = catalog.get(name)
    roles = {gr.role for gr in derivations[name].gradients}
    if entry.kind is Kind.VECTOR:
        assert {"jacobian", "vjp"} <= roles
    else:
        assert {f"wrt:{target}" for target in entry.wrt} <= roles


# ---------------------------------------------------------------------------- user expressions


def test_user_expression_goes_through_the_same_derivation():
    expr = x * sympy.tanh(log(1 + exp(x)))
    d = derive(user_entry("my_mish", expr))
    mish = derive(catalog.get("mish"))
    assert d.main.textbook.expr == mish.main.textbook.expr
    assert d.main.output is None


def test_user_expression_parameters_and_kinks():
    beta = sympy.Symbol("beta")
    entry = user_entry("scaled", sympy.Max(0, beta * x))
    assert [p.name for p in entry.params] == ["beta"]
    assert entry.kinks == (0,)
    assert derive(entry).main.textbook.proof


def test_params_are_substituted_and_checked():
    d = derive(catalog.get("elu"), {"alpha": "1/5"})
    assert d.main.textbook.expr.subs(x, -1) == Rational(1, 5) * exp(-1)
    from symact.errors import InputError

    with pytest.raises(InputError, match="no parameter"):
        derive(catalog.get("elu"), {"beta": 1})


def test_a_wrong_form_is_refused():
    from symact.derive import _accept, space_for

    entry = catalog.get("sigmoid")
    with pytest.raises(ProofError):
        _accept("first", entry, sigmoid(x) * (1 + sigmoid(x)), sympy.diff(entry.definition, x), space_for(entry))


def test_a_branch_valid_at_one_point_gives_no_derivative_of_its_own():
    """Max(x, 0) + log(1 + exp(-|x|)) is softplus, smooth at 0; folding its Piecewise pairs the two kinks into a
    branch for x = 0 alone, whose derivative gave f'(0) = -1/2 (the reference the check compared the correct
    kernel with, 9e15 ulp).  Without such branches f'(0) = 1/2 from the branch x >= 0."""
    from symact.reference import Scalar

    entry = user_entry("softplus_by_branches", sympy.Max(x, 0) + sympy.log(1 + sympy.exp(-sympy.Abs(x))), x)
    assert all(c != (x >= 0) & (x <= 0) for _, c in entry.definition.args)
    raw = derive(entry).gradient("first").raw
    assert Scalar(raw, (x,))(0.0) == 0.5
    assert Scalar(entry.definition, (x,))(0.0) == Scalar(sympy.log(2) + 0 * x, (x,))(0.0)


def test_an_undecided_compact_form_gives_way_to_the_raw_derivative_and_a_refuted_one_raises(monkeypatch):
    """log erfc(x)' written 2 e^(-x^2)/(sqrt(pi) (erf(x) - 1)) cannot be told from the raw derivative at x = 1000
    without 4e5 digits: undecided, the raw derivative is shown (a user expression still generates); a form the
    prover refutes still raises ProofError."""
    import symact.derive as D
    from symact.prove import Counterexample, Outcome, Space

    entry = user_entry("undecided", sympy.log(sympy.erfc(x)), x)
    raw, shown = sympy.diff(entry.definition, x), sympy.Integer(7)
    monkeypatch.setattr(D, "prove_equal", lambda *a, **k: Outcome(None, note="could not decide"))
    form = D._accept("first derivative", entry, shown, raw, Space())
    assert form.expr == raw and "raw derivative" in form.proof.detail
    refuted = Outcome(False, counterexample=Counterexample({"x": "1"}, "7", "-2.3"))
    monkeypatch.setattr(D, "prove_equal", lambda *a, **k: refuted)
    with pytest.raises(ProofError):
        D._accept("first derivative", entry, shown, raw, Space())
