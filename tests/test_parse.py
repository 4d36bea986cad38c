"""The safe parser: what it builds, what it refuses (and where), and that hostile text never runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy import Abs, IndexedBase, KroneckerDelta, Piecewise, Rational, Sum, Symbol, exp, log, tanh

from symact import catalog
from symact.errors import ParseError
from symact.functions import sigmoid, softplus
from symact.parse import MAX_LENGTH, check_allowed, default_namespace, parse_sympy

x = Symbol("x", real=True)
alpha = Symbol("alpha", positive=True)
i = Symbol("i", integer=True, nonnegative=True)
j = Symbol("j", integer=True, nonnegative=True)
k = Symbol("k", integer=True, nonnegative=True)
n = Symbol("n", integer=True, positive=True)
a = IndexedBase("a", real=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x", x),
        ("-softplus(-x)", -softplus(-x)),
        ("log(sigmoid(x))", log(sigmoid(x))),
        ("ln(2) + pi + E", log(2) + sympy.pi + sympy.E),
        ("e**x", exp(x)),
        ("0.4999999 * x", Rational(4999999, 10**7) * x),
        ("1e-5", Rational(1, 10**5)),
        ("2.5e3", Rational(2500)),
        ("sigmoid(x) * (1 - sigmoid(x))", sigmoid(x) * (1 - sigmoid(x))),
        ("diff(sigmoid(x), x)", sigmoid(x) * (1 - sigmoid(x))),
        ("diff(x**3, x, 2)", 6 * x),
        ("diff(x**3, (x, 2))", 6 * x),
        ("1 - tanh(x)**2", 1 - tanh(x) ** 2),
        ("abs(x) + Abs(x)", 2 * Abs(x)),
        ("max(0, x)", sympy.Max(0, x)),
        ("Piecewise((x, x > 0), (alpha*x, True))", Piecewise((x, x > 0), (alpha * x, True))),
        ("Piecewise((1, (x > 0) & (x < 1)), (0, True))", Piecewise((1, (x > 0) & (x < 1)), (0, True))),
        ("Piecewise((1, 0 < x < 1), (0, True))", Piecewise((1, (x > 0) & (x < 1)), (0, True))),
        ("a[i] * KroneckerDelta(i, j)", a[i] * KroneckerDelta(i, j)),
        ("Sum(exp(a[k]), (k, 0, n - 1))", Sum(exp(a[k]), (k, 0, n - 1))),
        ("  x + 1", x + 1),
        ("x +\n 1", x + 1),
    ],
)
def test_builds(text, expected):
    assert parse_sympy(text) == expected


def test_unknown_names_are_real_symbols_and_parameters_are_the_catalogs():
    expr = parse_sympy("alpha * y + beta")
    y = Symbol("y", real=True)
    assert expr == alpha * y + Symbol("beta", positive=True)


def test_namespace_overrides_the_default():
    lam = Symbol("lam", positive=True)
    assert parse_sympy("lam * x", {"lam": lam}) == lam * x
    assert parse_sympy("alpha", {"alpha": Rational(1, 2)}) == Rational(1, 2)


@pytest.mark.parametrize(
    "entry", [e for e in catalog.entries() if e.kind is catalog.Kind.ELEMENTWISE], ids=lambda e: e.name
)
def test_every_elementwise_entry_is_callable_by_name(entry):
    """Generic over the catalog: f(x, p1, p2, ...) substitutes in order, omitted parameters stay symbolic."""
    values = [Rational(3 + q, 7) for q in range(len(entry.params))]
    args = ", ".join(["x", *(str(v) for v in values)])
    got = parse_sympy(f"{entry.name}({args})")
    from symact.functions import NAMED_FUNCTIONS

    if entry.name in NAMED_FUNCTIONS:  # sigmoid, softplus: the named function, equal to the definition
        assert got == NAMED_FUNCTIONS[entry.name](x)
        return
    subs = {entry.variable: x, **{p.symbol: v for p, v in zip(entry.params, values, strict=True)}}
    assert got == entry.definition.subs(subs, simultaneous=True)
    assert parse_sympy(f"{entry.name}(x)") == entry.definition.subs(entry.variable, x)
    with pytest.raises(ParseError, match="argument"):
        parse_sympy(f"{entry.name}({', '.join(['x'] * (len(entry.params) + 2))})")


@pytest.mark.parametrize(
    "entry", [e for e in catalog.entries() if e.kind is not catalog.Kind.ELEMENTWISE], ids=lambda e: e.name
)
def test_vector_entries_and_losses_refuse_a_call_with_a_clear_message(entry):
    with pytest.raises(ParseError, match="cannot be called"):
        parse_sympy(f"{entry.name}(x)")


def test_default_namespace_has_the_documented_names():
    ns = default_namespace()
    for name in (
        "exp log ln sqrt tanh sinh cosh atanh erf erfc Abs abs Max Min max min Heaviside Piecewise "
        "KroneckerDelta Sum diff pi E sigmoid softplus relu elu swish leaky_relu silu mish"
    ).split():
        assert name in ns, name


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("x^2", r"'\^' is not a power here", 2),
        ("(x + 1) ^ 2", r"'\^' is not a power", 9),
        ("__import__('os').system('true')", "only named functions", 1),
        ("__import__('os')", "underscore", 1),
        ("x + y.real", "attribute access", 5),
        ("(lambda: 1)()", "only named functions can be called", 1),
        ("x + 'abc'", "strings are not allowed", 5),
        ("exp(x, evaluate=False)", "keyword arguments", 1),
        ("x if x > 0 else 0", "if-expression", 1),
        ("[x for x in y]", "comprehension", 1),
        ("foo(x)", "unknown function 'foo'", 1),
        ("sigmod(x)", "did you mean sigmoid", 1),
        ("sigmoid + 1", "sigmoid is a function", 1),
        ("x +* 2", "invalid syntax", 4),
        ("x > 0", "got a condition", 1),
        ("(x, 1)", "tuple is allowed only", 1),
        ("1j * x", "not allowed", 1),
        ("x // 2", "floor division", 3),
        ("a[1:2]", "slices", 1),
        ("2**10**10", "too large", 1),
        ("10**4000", "too large", 1),
        ("factorial(10**10)", "too large", 1),
        ("1e999999", "exponent", 1),
        ("diff(x, x, 100)", "order", 1),
        ("Piecewise(x)", "pairs", 1),
        ("Sum(a[k])", "limits", 1),
        ("x + softmax(x)", "vector function", 5),
        ("1/0", "undefined", None),
        ("", "empty", None),
        ("x" * (MAX_LENGTH + 1), "too long", MAX_LENGTH),
        ("-" * 200 + "x", "nested too deeply", None),
        ("+".join(["x"] * 600), "too large", None),
    ],
)
def test_refuses_with_message_and_column(text, message, column):
    with pytest.raises(ParseError, match=message) as info:
        parse_sympy(text)
    if column is not None:
        assert info.value.position == column
        assert f"column {column}" in str(info.value)


def test_columns_count_characters_not_bytes():
    with pytest.raises(ParseError) as info:
        parse_sympy("é + x.real")
    assert info.value.position == 5


def test_check_allowed_refuses_foreign_nodes():
    from sympy.matrices import Matrix

    with pytest.raises(ParseError, match="not allowed"):
        check_allowed(sympy.Integral(x, x))
    with pytest.raises(ParseError, match="expected an expression"):
        check_allowed(Matrix([x]))
    with pytest.raises(ParseError, match="tuple"):
        check_allowed(sympy.exp(sympy.Tuple(x, 1), evaluate=False))
    assert check_allowed(sigmoid(x) + KroneckerDelta(i, j)) == sigmoid(x) + KroneckerDelta(i, j)


# --------------------------------------------------------------------------------------------
# hostile and random text: never runs code, raises only ParseError, returns quickly


@contextlib.contextmanager
def _tripwires():
    """Record any attempt to run a command while the body runs (it would mean the text was executed)."""
    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("tripwire")

    saved = os.system, os.popen, subprocess.Popen
    os.system = os.popen = subprocess.Popen = record
    try:
        yield calls
    finally:
        os.system, os.popen, subprocess.Popen = saved


_FRAGMENTS = st.sampled_from(
    [
        "x", "y", "alpha", "a[i]", "1", "0.5", "1e308", "2", "99999", "(", ")", "+", "-", "*", "/", "**", "^",
        ",", "exp(", "log(", "sigmoid(", "diff(", "Sum(", "Piecewise((", "factorial(", "__import__(", "'os'",
        ").system(", "'touch /tmp/symact-pwned'", "lambda", ":", "[", "]", "{", "}", "=", "==", "<", ">", "&",
        "|", "~", " ", "True", "__class__", ".__subclasses__()", "getattr(", "open(", "eval(", "exec(", "\\",
        "#", "@", "if", "else", "for", "in", "not", "and", "or", "yield", ":=", "**kw", "10**10**10", "é",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=25).map("".join))
def test_hostile_fragments_never_run_code(text):
    start = time.monotonic()
    with _tripwires() as calls:
        try:
            result = parse_sympy(text)
        except ParseError:
            pass
        else:
            assert isinstance(result, sympy.Expr)
    assert calls == []
    assert not os.path.exists("/tmp/symact-pwned")
    assert time.monotonic() - start < 2.0


def test_the_tripwires_work():
    """The property above would notice an executed command: check the tripwire itself."""
    with _tripwires() as calls:
        with pytest.raises(RuntimeError):
            os.system("true")
    assert calls == [("true",)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_parse_error(text):
    start = time.monotonic()
    try:
        parse_sympy(text)
    except ParseError as exc:
        assert str(exc)
    assert time.monotonic() - start < 2.0


def test_no_eval_in_the_package():
    """The parser must never hand user text to eval, exec, sympify or parse_expr."""
    import pathlib
    import re

    package = pathlib.Path(__file__).resolve().parents[1] / "symact"
    pattern = re.compile(r"\b(eval|exec|sympify|parse_expr)\s*\(")
    offenders = [
        f"{path.name}:{number}"
        for path in (package / "parse.py", package / "latex.py", package / "verify.py", package / "prove.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line.split("#")[0]) and not line.strip().startswith("def ")
    ]
    assert offenders == []
