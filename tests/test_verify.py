"""Verifying hand-derived formulas: the classic derivations, known-wrong claims, near misses, kinks,
parameters, LaTeX, the command line, and hostile input that must end in a verdict or exit 2 in time."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symact.cli import main
from symact.errors import InputError, ParseError, SymactError
from symact.verify import Undecided, Verdict, parse_assumption, verify

S_I = "exp(a[i])/Sum(exp(a[k]), (k, 0, n - 1))"
S_J = "exp(a[j])/Sum(exp(a[k]), (k, 0, n - 1))"
THETA = "Sum(w[k]*X[i, k], (k, 0, d - 1)) + b"

#: (name, lhs, rhs, options): hand derivations that are right
CLASSIC = [
    ("sigmoid' = sigma(1 - sigma)", "diff(sigmoid(x), x)", "sigmoid(x)*(1 - sigmoid(x))", {}),
    ("sigmoid' from its definition", "diff(1/(1 + exp(-x)), x)", "sigmoid(x)*(1 - sigmoid(x))", {}),
    ("tanh' = 1 - tanh^2", "diff(tanh(x), x)", "1 - tanh(x)**2", {}),
    ("tanh(x) = 2 sigma(2x) - 1", "tanh(x)", "2*sigmoid(2*x) - 1", {}),
    (
        "elu' = f + alpha for x < 0",
        "diff(elu(x, alpha), x)",
        "Piecewise((1, x > 0), (elu(x, alpha) + alpha, True))",
        {},
    ),
    ("silu' = f + sigma(1 - f)", "diff(silu(x), x)", "silu(x) + sigmoid(x)*(1 - silu(x))", {}),
    (
        "swish' = beta f + sigma(beta x)(1 - beta f)",
        "diff(swish(x, beta), x)",
        "beta*swish(x, beta) + sigmoid(beta*x)*(1 - beta*swish(x, beta))",
        {},
    ),
    ("softmax Jacobian p_i(delta_ij - p_j)", f"diff({S_I}, a[j])", f"{S_I}*(KroneckerDelta(i, j) - {S_J})", {}),
    (
        "sigmoid cross-entropy gradient sigma(z) - y",
        "diff(-y*log(sigmoid(z)) - (1 - y)*log(1 - sigmoid(z)), z)",
        "sigmoid(z) - y",
        {},
    ),
    (
        "logistic regression gradient sum_i (sigma - y_i) X_ij",
        f"diff(-Sum(y[i]*log(sigmoid({THETA})) + (1 - y[i])*log(1 - sigmoid({THETA})), (i, 0, m - 1)), w[j])",
        f"Sum((sigmoid({THETA}) - y[i])*X[i, j], (i, 0, m - 1))",
        {},
    ),
    ("log sigmoid(x) = -softplus(-x)", "-softplus(-x)", "log(sigmoid(x))", {}),
    ("softplus' = sigmoid", "diff(softplus(x), x)", "sigmoid(x)", {}),
    ("(1 - e^-x)/(1 + e^-x) is tanh(x/2)", "(1 - exp(-x))/(1 + exp(-x))", "tanh(x/2)", {}),
    ("mish' (two forms)", "diff(mish(x), x)", "tanh(softplus(x)) + x*sigmoid(x)*(1 - tanh(softplus(x))**2)", {}),
    ("LaTeX sigmoid'", r"\frac{d}{dx}\sigma(x)", r"\sigma(x)\left(1 - \sigma(x)\right)", {"latex": True}),
    (
        "LaTeX elu' as cases",
        r"\frac{d}{dx}\operatorname{ELU}(x, \alpha)",
        r"\begin{cases} 1 & x > 0 \\ \alpha e^{x} & \text{otherwise} \end{cases}",
        {"latex": True},
    ),
    ("LaTeX tanh'", r"\frac{d}{dx}\tanh(x)", r"1 - \tanh^2(x)", {"latex": True}),
]

#: (name, lhs, rhs, options): claims that are wrong, including near misses
WRONG = [
    ("tanh written as (1 - e^-x)/(1 + e^-x)", "(1 - exp(-x))/(1 + exp(-x))", "tanh(x)", {}),
    ("mish with a base-10 log in its softplus", "x*tanh(log(1 + exp(x), 10))", "mish(x)", {}),
    ("LaTeX tanh as (1 - e^-x)/(1 + e^-x)", r"\frac{1 - e^{-x}}{1 + e^{-x}}", r"\tanh(x)", {"latex": True}),
    ("LaTeX mish with log_10", r"x\tanh(\log_{10}(1 + e^{x}))", r"\operatorname{mish}(x)", {"latex": True}),
    ("near miss 0.5(1 + tanh(0.4999999 x))", "0.5*(1 + tanh(0.4999999*x))", "sigmoid(x)", {}),
    ("near miss 1/(1 + exp(-1.0000001 x))", "1/(1 + exp(-1.0000001*x))", "sigmoid(x)", {}),
    ("near miss + 1e-30", "sigmoid(x)*(1 - sigmoid(x)) + 1e-30", "diff(sigmoid(x), x)", {}),
    ("near miss far out: softplus vs relu", "softplus(x)", "Max(0, x) + exp(-Abs(x))", {}),
    ("near miss below 35 digits: + 1e-60", "x + 1e-60", "x", {}),
    ("near miss below 35 digits: * (1 + 1e-50)", "exp(x)*(1 + 1e-50)", "exp(x)", {}),
    ("near miss below 35 digits: pi to 36 digits", "pi*x", "3.14159265358979323846264338327950288*x", {}),
    ("tanh' = 1 - tanh", "diff(tanh(x), x)", "1 - tanh(x)", {}),
    ("softmax Jacobian without the delta", f"diff({S_I}, a[j])", f"-{S_I}*{S_J}", {}),
    ("sqrt(x^2) = x", "sqrt(x**2)", "x", {}),
]


def _check_counterexample(v: Verdict):
    example = v.counterexample
    assert set(example) == {"point", "parameters", "lhs", "rhs"}
    assert example["point"] and example["lhs"] != example["rhs"]
    assert all(name in example["point"] for name in example["parameters"])


@pytest.mark.parametrize("name, lhs, rhs, options", CLASSIC, ids=[c[0] for c in CLASSIC])
def test_classic_derivations_are_equal(name, lhs, rhs, options):
    v = verify(lhs, rhs, **options)
    assert v.equal is True, v
    assert v.method in ("symbolic", "numeric")
    assert v.counterexample is None
    assert v.seconds < 10


@pytest.mark.parametrize("name, lhs, rhs, options", WRONG, ids=[c[0] for c in WRONG])
def test_wrong_claims_get_a_counterexample(name, lhs, rhs, options):
    v = verify(lhs, rhs, **options)
    assert v.equal is False, v
    assert v.method == "counterexample"
    _check_counterexample(v)
    assert v.seconds < 10


def test_counterexample_values_are_high_precision():
    v = verify("0.5*(1 + tanh(0.4999999*x))", "sigmoid(x)")
    lhs, rhs = v.counterexample["lhs"], v.counterexample["rhs"]
    assert len(lhs.replace("-", "").replace(".", "").lstrip("0")) >= 25
    assert lhs[:8] == rhs[:8]  # a near miss: they agree at first, and differ later


def test_measure_zero_difference_is_equal_with_a_note_naming_the_point():
    v = verify("diff(relu(x), x)", "Heaviside(x)")
    assert v.equal is True
    assert "measure zero" in v.note and "x = 0" in v.note


def test_second_derivative_at_a_kink_is_zero_almost_everywhere():
    v = verify("diff(Max(x, 1), x, 2)", "0")
    assert v.equal is True and "x = 1" in v.note


def test_kink_at_a_parameter_dependent_point():
    v = verify("diff(Abs(x - 1), x)", "Piecewise((1, x > 1), (-1, True))")
    assert v.equal is True
    assert "x = 1" in v.note


def test_kink_that_moves_with_a_parameter():
    v = verify("diff(relu(x - alpha), x)", "Heaviside(x - alpha)")
    assert v.equal is True and "x = alpha" in v.note
    assert "skipped" not in v.note  # the points around x = alpha take each point's value of alpha
    assert verify("diff(relu(x - alpha), x)", "Heaviside(x - 1)").equal is False


def test_claim_true_only_for_some_parameter_values_is_not_equal():
    claim = ("diff(elu(x), x)", "Piecewise((1, x > 0), (elu(x) + 1, True))")  # right only for alpha = 1
    v = verify(*claim)
    assert v.equal is False
    assert "alpha" in v.counterexample["parameters"]
    assert v.counterexample["parameters"]["alpha"] != "1"
    assert verify(*claim, assume=["alpha=1"]).equal is True


def test_soft_label_cross_entropy_gradient_needs_the_labels_to_sum_to_one():
    loss = "-Sum(y[k]*log(exp(z[k])/Sum(exp(z[l]), (l, 0, n - 1))), (k, 0, n - 1))"
    claim = (f"diff({loss}, z[j])", "exp(z[j])/Sum(exp(z[l]), (l, 0, n - 1)) - y[j]")
    without = verify(*claim)
    assert without.equal is False and "n" in without.counterexample["point"]
    with_labels = verify(*claim, assume=["Sum(y[i], (i, 0, n - 1)) = 1"])
    assert with_labels.equal is True and "Sum(y[i], (i, 0, n - 1)) = 1" in with_labels.note


def test_numbers_given_for_parameters():
    assert verify("leaky_relu(x, 0.2)", "Max(x, x/5)").equal is True
    assert verify("leaky_relu(x, 0.2)", "Max(x, x/4)").equal is False


def test_assumption_restricts_the_variable():
    assert verify("sqrt(x**2)", "x", assume=["x>=0"]).equal is True
    assert verify("sqrt(x**2)", "-x", assume=["x<0"]).equal is True
    assert verify("Abs(y)", "y", assume=["0<y<1"]).equal is True


def test_sign_assumption_restricts_the_samples():
    assert verify("relu(x)", "x", assume=["x>=0"]).equal is True
    assert verify("relu(x)", "x").equal is False
    assert verify("relu(x)", "0", assume=["x<=0"]).equal is True


def test_explicit_small_dimensions():
    lhs = "diff(exp(a1)/(exp(a0) + exp(a1) + exp(a2)), a0)"
    rhs = "-exp(a1)*exp(a0)/(exp(a0) + exp(a1) + exp(a2))**2"
    assert verify(lhs, rhs).equal is True
    assert verify(lhs, "-" + rhs).equal is False


def test_indexed_counterexample_names_the_size_and_the_indices():
    v = verify(f"diff({S_I}, a[j])", f"-{S_I}*{S_J}")
    point = v.counterexample["point"]
    assert {"n", "i", "j"} <= set(point)
    assert int(point["n"]) >= 1 and int(point["i"]) < int(point["n"]) and int(point["j"]) < int(point["n"])


def test_a_name_means_one_symbol_on_both_sides():
    """n bounds a Sum on the left (a positive integer) and is a bare factor on the right."""
    assert verify("Sum(k, (k, 0, n - 1))", "n*(n - 1)/2").equal is True
    v = verify("Sum(k, (k, 0, n - 1))", "n*(n + 1)/2")
    assert v.equal is False and v.counterexample["point"]["n"] == "2"  # a realistic size, not the degenerate n = 1
    assert verify("Sum(a[k], (k, 0, n - 1))", "n*a[0]").equal is False


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("alpha>0", "positive", None),
        ("x >= 0", "nonnegative", None),
        ("0 > x", "negative", None),
        ("x<0", "negative", None),
        ("0<y<1", "unit", None),
        ("alpha=1", "value", 1),
    ],
)
def test_parse_assumption(text, kind, value):
    name, got_kind, got_value = parse_assumption(text)
    assert got_kind == kind and got_value == value


@pytest.mark.parametrize("text", ["import os", "x", "x > y", "x > 2", "1 < x < 3", "x = y", "exp(y) = 1"])
def test_bad_assumptions_are_input_errors(text):
    with pytest.raises(InputError):
        parse_assumption(text)


def test_bad_input_raises_the_documented_errors():
    with pytest.raises(ParseError) as info:
        verify("x^2", "x")
    assert info.value.position == 2
    with pytest.raises(ParseError):
        verify(r"\input{/etc/passwd}", "x", latex=True)
    with pytest.raises(InputError):
        verify("x", "x", var="q")
    with pytest.raises(InputError):
        verify("x", 1)


def test_sympy_expressions_from_python():
    import sympy

    from symact.functions import sigmoid

    x = sympy.Symbol("x", real=True)
    assert verify(sympy.diff(sigmoid(x), x), "sigmoid(x)*(1 - sigmoid(x))").equal is True
    assert verify(sympy.tanh(x), (1 - sympy.exp(-x)) / (1 + sympy.exp(-x))).equal is False


# --------------------------------------------------------------------------------------------
# hostile input: a verdict or a SymactError (exit 2), within the limit


HOSTILE = [
    ("x**x**x**x**99999", "x"),
    ("factorial(10**10)", "1"),
    ("2**2**2**2**2**2", "1"),
    ("Sum(k**k, (k, 0, 10**6))", "x"),
    ("exp(exp(exp(exp(exp(x)))))", "exp(exp(exp(exp(exp(x)))))*(1 + 1e-40)"),
    ("__import__('os').system('touch /tmp/symact-pwned')", "x"),
    ("().__class__.__bases__[0].__subclasses__()", "x"),
    ("-" * 1900 + "x", "x"),
    ("x+" * 999 + "x", "1000*x"),
]


@pytest.mark.parametrize("lhs, rhs", HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_input_ends_in_time(lhs, rhs):
    start = time.monotonic()
    try:
        v = verify(lhs, rhs)
    except SymactError as exc:
        assert str(exc)
    else:
        assert v.equal in (True, False)
    assert not os.path.exists("/tmp/symact-pwned")
    assert time.monotonic() - start < 10


def test_hostile_latex_is_refused():
    for text in (r"\input{/etc/passwd}", r"\def\a{\a}\a", r"\immediate\write18{touch /tmp/symact-pwned}"):
        with pytest.raises(ParseError, match="refused"):
            verify(text, "x", latex=True)


def test_an_expensive_formula_gets_exit_2_not_a_hang():
    start = time.monotonic()
    with pytest.raises(Undecided):
        verify("diff(x**x**x**x, x, 10)", "x", limit=3)
    assert time.monotonic() - start < 5


_TOKENS = st.sampled_from(
    [
        "x", "alpha", "1", "0.5", "99999", "10", "(", ")", "+", "-", "*", "/", "**", ",", "exp(", "log(",
        "sigmoid(", "elu(", "diff(", "factorial(", "Sum(", "a[i]", "(k, 0, n)", "__import__('os')",
        ".system('touch /tmp/symact-pwned')", "'x'", "lambda", ":", "[", "]",
    ]
)  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, min_size=1, max_size=12).map("".join))
def test_random_claims_give_a_verdict_or_the_documented_error(text):
    start = time.monotonic()
    try:
        v = verify(text, "x", limit=4)
    except SymactError as exc:
        assert str(exc)
    else:
        assert v.equal in (True, False)
    assert not os.path.exists("/tmp/symact-pwned")
    assert time.monotonic() - start < 6


# --------------------------------------------------------------------------------------------
# the command line


def _run(argv, capsys):
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_equal_json(capsys):
    code, out, err = _run(["--json", "--", "-softplus(-x)", "log(sigmoid(x))"], capsys)
    assert code == 0 and not err
    data = json.loads(out)
    assert list(data) == ["equal", "method", "counterexample", "lhs", "rhs", "note", "readings"]
    assert data["readings"] == []  # SymPy syntax has one reading
    assert data["equal"] is True and data["method"] == "symbolic" and data["counterexample"] is None
    assert data["lhs"] == "-softplus(-x)"


def test_cli_not_equal_json(capsys):
    code, out, _ = _run(["--json", "(1 - exp(-x))/(1 + exp(-x))", "tanh(x)"], capsys)
    assert code == 1
    data = json.loads(out)
    assert data["equal"] is False and data["method"] == "counterexample"
    assert data["counterexample"]["point"] == {"x": "0.001"}


def test_cli_text(capsys):
    code, out, _ = _run(["diff(elu(x), x)", "Piecewise((1, x > 0), (elu(x) + 1, True))"], capsys)
    assert code == 1
    assert "NOT EQUAL" in out and "alpha" in out
    code, out, _ = _run(["--assume", "alpha=1", "diff(elu(x), x)", "Piecewise((1, x > 0), (elu(x) + 1, True))"], capsys)
    assert code == 0 and "EQUAL" in out


def test_cli_latex(capsys):
    code, out, _ = _run(["--latex", "--json", r"\frac{d}{dx}\sigma(x)", r"\sigma(x)(1 - \sigma(x))"], capsys)
    assert code == 0 and json.loads(out)["equal"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ["x^2", "x"],
        ["--latex", r"\input{/etc/passwd}", "x"],
        ["--assume", "import os", "x", "x"],
        ["--var", "q", "x", "x"],
        ["x"],
        ["--", "exp(", "x"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, capsys):
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert not out
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_symact_verify_is_callable_from_the_package():
    import symact
    import symact.verify as module

    assert symact.verify("tanh(x)", "2*sigmoid(2*x) - 1").equal is True
    assert module("x", "2*x").equal is False  # the module itself, once imported, calls verify


# --------------------------------------------------------------------------------------------
# counterexamples that can be trusted: confirmed at a higher precision, numbers only


def test_a_difference_lost_to_cancellation_is_not_a_counterexample():
    """TensorFlow's stable form of the sigmoid cross-entropy against the textbook one: at x = 1000,
    1 - sigmoid(1000) inside the log loses every digit at 50 digits (rhs -4444.46 instead of -10443)."""
    v = verify("Max(x, 0) - x*z + log(1 + exp(-Abs(x)))", "-(z*log(sigmoid(x)) + (1 - z)*log(1 - sigmoid(x)))")
    assert v.equal is True, v
    assert "1 of them only at 200 digits" in v.note
    rhs = "-(z*log(sigmoid(x)) + (1 - z)*log(1 - sigmoid(x))) + x/10**20"
    wrong = verify("Max(x, 0) - x*z + log(1 + exp(-Abs(x)))", rhs)
    assert wrong.equal is False


def test_a_difference_that_does_not_settle_is_undecided():
    import sympy

    from symact.prove import _confirm, evaluate

    x = sympy.Symbol("x", real=True)
    left, right = sympy.log(1 - 1 / (1 + sympy.exp(-x))), -x - sympy.log(1 + sympy.exp(-x))
    at = {x: 10**5}  # 1 - sigmoid(1e5) needs 43430 digits
    outcome, values, why = _confirm(left, right, at, evaluate(left, at), evaluate(right, at))
    assert outcome == "unstable" and values is None and "digits" in why
    stable = _confirm(x, x + 1, {x: 2}, sympy.Integer(2), sympy.Integer(3))
    assert stable[0] == "differ"


def test_a_name_that_is_a_scalar_and_a_vector_is_refused():
    with pytest.raises(InputError, match="both a scalar"):
        verify(r"x_i + x", r"x_i", latex=True)


# --------------------------------------------------------------------------------------------
# the LaTeX examples: the right verdict, with the reading shown, or an honest refusal


@pytest.mark.parametrize(
    "lhs, rhs, equal, reading",
    [
        (r"\frac{d}{dy}\sigma(y)", r"\sigma(1-\sigma)", True, r"rhs: \sigma without an argument is read as \sigma(y)"),
        (r"\operatorname{Mish}(x)", "x*tanh(ln(1+e^{x}))", True, "rhs: the word 'ln' is read as the function log"),
        (
            r"\begin{cases} 1 &if x>0 \\ 0 &if x\le 0 \end{cases}",
            r"\frac{d}{dx}\operatorname{ReLU}(x)",
            True,
            "lhs: the word 'if' in the cases is read as text",
        ),
        ("L-ReLU(y)", r"\max(0, y) + \mathit{slope} \min(0, y)", True, "lhs: L-ReLU is read as the function"),
        (r"\tanh'(x)", r"1 - \tanh^2", True, r"rhs: \tanh without an argument is read as \tanh(x)"),
        (r"\sigma'(x)", r"\sigma(x)(1 + \sigma(x))", False, None),
    ],
)
def test_latex_claims_as_people_write_them(lhs, rhs, equal, reading):
    v = verify(lhs, rhs, latex=True)
    assert v.equal is equal, v
    if reading:
        assert any(reading in r for r in v.readings), v.readings
    else:
        assert v.readings == ()


def test_the_verdict_shows_how_each_side_was_read(capsys):
    code, out, _ = _run(["--latex", r"\frac{d}{dy}\sigma(y)", r"\sigma(1-\sigma)"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "lhs: (1 - sigmoid(y))*sigmoid(y)" and lines[1] == "rhs: (1 - sigmoid(y))*sigmoid(y)"
    assert r"read rhs: \sigma without an argument is read as \sigma(y)" in out
    code, out, _ = _run(["--latex", "--json", r"\operatorname{Mish}(x)", "x*tanh(ln(1+e^{x}))"], capsys)
    assert code == 0 and "rhs: the word 'tanh' is read as the function tanh" in json.loads(out)["readings"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--latex", r"\sigma(1-\sigma)", r"\sigma(1-\sigma)"], r"or as \sigma \cdot (1-\sigma)"),
        (["--latex", r"\frac{\delta L}{\delta w_j}", "x_j"], "does not define L"),
        (["--latex", r"\sum_{j=0}^{numclass-1} x_j", "x_0"], r"write n u m c l a s s for a product, \mathit{numclass}"),
        (["--latex", r"\mathrm{ReLU}(x)", "wx"], "'wx' is a run of letters"),
    ],
)
def test_latex_refusals_are_one_line_with_the_readings(argv, message, capsys):
    code, out, err = _run(argv, capsys)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and message in err


def test_a_kink_where_the_sides_differ_only_for_some_parameter_values_gets_the_note():
    """ELU' against {1 for x >= 0; f + alpha}: at x = 0 the sides agree for alpha = 1 (the default) only."""
    for a in ("alpha", "a"):
        v = verify(f"diff(elu(x, {a}), x)", f"Piecewise((1, x >= 0), (elu(x, {a}) + {a}, True))")
        assert v.equal is True
        assert f"x = 0 ({a} = 1.9) (lhs 1.9, rhs 1)" in v.note, v.note


def test_a_side_given_from_python_lends_its_calls_to_a_latex_side():
    import sympy

    from symact.functions import sigmoid

    x = sympy.Symbol("x", real=True)
    v = verify(sympy.diff(sigmoid(x), x), r"\sigma(1-\sigma)", latex=True)
    assert v.equal is True
    assert any(r"read as \sigma(x)" in r for r in v.readings)


def test_a_complex_value_settles_too():
    """log(x) at x < 0 is complex: the confirmation at higher precision compares complex values, not only reals."""
    v = verify("log(x)", "log(Abs(x))")
    assert v.equal is False and "I" in v.counterexample["lhs"]
