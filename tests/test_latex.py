"""LaTeX as ML papers write it: what it reads, what it refuses, and that hostile text stays harmless."""

from __future__ import annotations

import time

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy import Abs, E, IndexedBase, KroneckerDelta, Max, Piecewise, Rational, Sum, Symbol, exp, log, tanh

from symact import catalog
from symact.errors import ParseError
from symact.functions import sigmoid, softplus
from symact.latex import parse_latex
from symact.parse import parse_sympy
from symact.prove import prove_equal

from .test_parse import _tripwires

x = Symbol("x", real=True)
alpha = Symbol("alpha", positive=True)
beta = Symbol("beta", positive=True)
i = Symbol("i", integer=True, nonnegative=True)
j = Symbol("j", integer=True, nonnegative=True)
k = Symbol("k", integer=True, nonnegative=True)
n = Symbol("n", integer=True, positive=True)
a = IndexedBase("a", real=True)
p = IndexedBase("p", real=True)
Y = Symbol("y", real=True)
Z = Symbol("z", real=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"e^{x}", exp(x)),
        (r"2 \cdot 2^{x} x", 2 * 2**x * x),  # SymPy's own printer: an implicit product after a \cdot
        (r"\exp(-x)", exp(-x)),
        (r"\sigma(x)\left(1 - \sigma(x)\right)", sigmoid(x) * (1 - sigmoid(x))),
        (r"\sigma(x)(1-\sigma(x))", sigmoid(x) * (1 - sigmoid(x))),
        (r"\frac{1}{1 + e^{-x}}", 1 / (1 + exp(-x))),
        (r"1 - \tanh^2(x)", 1 - tanh(x) ** 2),
        (r"1 - \tanh^{2}(x)", 1 - tanh(x) ** 2),
        (r"2\sigma(2x) - 1", 2 * sigmoid(2 * x) - 1),
        (r"\ln(1 + e^{x})", log(1 + exp(x))),
        (r"\log_{10}(x)", log(x) / log(10)),
        (r"-\operatorname{softplus}(-x)", -softplus(-x)),
        (r"\mathrm{softplus}(x)", softplus(x)),
        (r"\operatorname{ReLU}(x)", Piecewise((x, x > 0), (0, True))),
        (r"\text{ELU}(x, \alpha)", Piecewise((x, x > 0), (alpha * (exp(x) - 1), True))),
        (r"\operatorname{LeakyReLU}(x, 0.2)", Piecewise((x, x > 0), (x / 5, True))),
        (r"\beta x \sigma(\beta x)", beta * x * sigmoid(beta * x)),
        (r"0.5(1 + \tanh(0.4999999 x))", (1 + tanh(Rational(4999999, 10**7) * x)) / 2),
        (r"\frac{d}{dx}\sigma(x)", sigmoid(x) * (1 - sigmoid(x))),
        (r"\frac{d}{dx}\left(x^3\right)", 3 * x**2),
        (r"\max(0, x)", Max(0, x)),
        (r"|x|", Abs(x)),
        (r"\pi x", sympy.pi * x),
        (r"$x^2$", x**2),
        (r"x(1 - x)", x * (1 - x)),
        (r"\tanh x", tanh(x)),
        (r"\ln(x) + 1", log(x) + 1),
        (r"\exp(x)(1 + x)", exp(x) * (1 + x)),
        (r"\ln x + \ln 2", log(x) + log(2)),
        (r"\log_2 x", log(x) / log(2)),
        (r"-y\ln\sigma(z) - (1 - y)\ln(1 - \sigma(z))", -Y * log(sigmoid(Z)) - (1 - Y) * log(1 - sigmoid(Z))),
        (r"\sum_{k=0}^{n-1} a_k + 1", Sum(a[k], (k, 0, n - 1)) + 1),
        (r"\ln \frac{1}{x}", log(1 / x)),
        (
            r"\begin{cases} x, & \text{if } x > 0 \\ \alpha(e^x - 1), & x \le 0 \end{cases}",
            Piecewise((x, x > 0), (alpha * (exp(x) - 1), x <= 0)),
        ),
        (r"\begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}", Piecewise((1, x > 0), (0, True))),
        (r"p_i(\delta_{ij} - p_j)", p[i] * (KroneckerDelta(i, j) - p[j])),
        (r"\delta_{i,j}", KroneckerDelta(i, j)),
        (r"\frac{e^{a_i}}{\sum_{k=0}^{n-1} e^{a_k}}", exp(a[i]) / Sum(exp(a[k]), (k, 0, n - 1))),
        (r"a_0 + a_1", Symbol("a0", real=True) + Symbol("a1", real=True)),
    ],
)
def test_reads(text, expected):
    assert parse_latex(text) == expected


def test_e_is_eulers_number():
    assert parse_latex("e").equals(E)


@pytest.mark.parametrize(
    "text, message, column",
    [
        (r"\input{/etc/passwd}", r"\\input is refused", 1),
        (r"x + \include{a}", r"\\include is refused", 5),
        (r"\def\x{1} x", r"\\def is refused", 1),
        (r"\newcommand{\f}{x}", r"\\newcommand is refused", 1),
        (r"\immediate\write18{rm -rf /}", r"\\immediate is refused", 1),
        (r"x \catcode", r"\\catcode is refused", 3),
        (r"\foo(x)", r"unknown LaTeX command \\foo", 1),
        (r"\int x dx", r"unknown LaTeX command \\int", 1),
        (r"\operatorname{bogus}(x)", "unknown function", 1),
        (r"\begin{matrix} 1 \end{matrix}", "only cases", 1),
        (r"x % comment", "comment", 3),
        (r"\ln \sqrt{x}", "parentheses", 1),
        (r"x +", "ended too early", None),
        (r"\frac{1}{0}", "undefined", None),
        (r"10^{10^{10}}", "too large", None),
        (r"f(x, y)", "unknown function f", None),
        (r"\frac{d}{dx}\frac{d}{dx}", "incomplete", None),
        ("x" * 1001, "too long", 1000),
    ],
)
def test_refuses(text, message, column):
    with pytest.raises(ParseError, match=message) as info:
        parse_latex(text)
    if column is not None:
        assert info.value.position == column


_PIECES = st.sampled_from(
    [
        "x", "e", "^", "{", "}", "(", ")", "+", "-", "\\frac", "\\sigma", "\\tanh", "\\left(", "\\right)",
        "\\begin{cases}", "\\end{cases}", "&", "\\\\", "_", "i", "0.5", "99999", "!", "|",
        "\\operatorname{ReLU}", "\\ln", "\\sum_{k=0}^{n}", "\\alpha", " ", "\\input",
        "\\cdot", "\\delta_{ij}", "\\write18{touch /tmp/symact-pwned}", "\\immediate",
        "'", "[", "]", "\\partial", "\\|", "\\mathbb{1}", "x^{(i)}", "if", "wx", "L-ReLU", "\\hat{y}", "\\sum_k",
        "\\prod_{k=1}^{n}", "d", "{dx}", "^T", "\\left\\{\\begin{array}{ll}", "\\end{array}\\right.",
    ]
)  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_hostile_latex_raises_only_parse_error_quickly(text):
    start = time.monotonic()
    with _tripwires() as calls:
        try:
            result = parse_latex(text)
        except ParseError as exc:
            assert str(exc)
        else:
            assert isinstance(result, sympy.Expr)
    assert calls == []
    assert time.monotonic() - start < 6.0


def test_readings_that_differ_are_refused_and_equal_ones_accepted():
    """The grammar keeps every parse of an ambiguous text (ambiguity="explicit"); the transformer
    accepts several readings only when they mean the same."""
    from symact.latex import _transformer_class
    from symact.parse import _Refused, default_namespace

    transformer = _transformer_class()(default_namespace())
    assert transformer._ambig([x * (1 - x), x - x**2]) == x * (1 - x)
    with pytest.raises(_Refused, match="ambiguous"):
        transformer._ambig([log(x + 1), log(x) + 1])


@pytest.mark.parametrize(
    "entry", [e for e in catalog.entries() if e.kind is catalog.Kind.ELEMENTWISE], ids=lambda e: e.name
)
def test_sympys_own_latex_of_every_entry_reads_back(entry):
    """What SymPy prints (\\log{\\left(x \\right)}, \\tanh^{2}{...}, cases) reads back as the same function."""
    derivative = sympy.diff(entry.definition, entry.variable)
    back = parse_latex(sympy.latex(derivative))
    # LaTeX carries no assumptions: the dropout mask m reads as a real m, the catalog's is non-negative
    back = back.xreplace({s: t for s in back.free_symbols for t in derivative.free_symbols if s.name == t.name})
    assert prove_equal(derivative, back, budget=5).equal is True


_LEAF = st.sampled_from(["x", "alpha", "1", "2", "3", "y"])
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["exp", "log", "sigmoid", "softplus", "tanh", "sqrt", "abs", "silu"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
    ),
    max_leaves=6,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREE)
def test_round_trip_through_sympys_latex_printer(text):
    try:
        expr = parse_sympy(text)
    except ParseError:
        return
    back = parse_latex(sympy.latex(expr))
    assert prove_equal(expr, back, budget=5).equal is not False


# --------------------------------------------------------------------------------------------
# no silent guess: text that could be read two ways is read as the context makes certain (with a note), or refused


def _read(*texts):
    from symact.latex import read_latex_claim

    return read_latex_claim(list(texts))


@pytest.mark.parametrize(
    "text, expected, note",
    [
        ("x*tanh(ln(1+e^{x}))", x * tanh(log(1 + exp(x))), "the word 'tanh' is read as the function tanh"),
        (r"\operatorname{Mish}(x)", x * tanh(log(1 + exp(x))), None),
        ("ReLU(x) + 1", Piecewise((x, x > 0), (0, True)) + 1, "the word 'ReLU' is read as the function relu"),
        ("L-ReLU(x)", Piecewise((x, x > 0), (Symbol("slope", positive=True) * x, True)), "L-ReLU is read as"),
        (r"\operatorname{L-ReLU}(x)", Piecewise((x, x > 0), (Symbol("slope", positive=True) * x, True)), "leaky_relu"),
        (
            r"\begin{cases} 1 &if x>0 \\ 0 &if x\le 0 \end{cases}",
            Piecewise((1, x > 0), (0, True)),
            "the word 'if' in the cases is read as text",
        ),
        (r"\begin{cases} 1 & x>0 \\ 0 & otherwise \end{cases}", Piecewise((1, x > 0), (0, True)), "'otherwise'"),
        (r"xe^{x}", x * exp(x), "x times the exponential"),
        (r"\sigma^2 + \mu", Symbol("sigma", real=True) ** 2 + Symbol("mu", real=True), "variable sigma"),
        (r"\sigma(x)(1-\sigma(x)), \quad x \in \mathbb{R}", sigmoid(x) * (1 - sigmoid(x)), "domain"),
    ],
)
def test_a_reading_the_context_makes_certain_is_used_and_noted(text, expected, note):
    (reading,) = _read(text)
    assert reading.expr == expected
    if note is None:
        assert reading.notes == ()
    else:
        assert any(note in n for n in reading.notes), reading.notes


def test_sigma_used_as_a_value_takes_its_argument_from_the_other_side():
    y = Symbol("y", real=True)
    left, right = _read(r"\frac{d}{dy}\sigma(y)", r"\sigma(1-\sigma)")
    assert right.expr == sigmoid(y) * (1 - sigmoid(y))
    assert any("read as \\sigma(y)" in n for n in right.notes)
    assert any("\\sigma \\cdot (1-\\sigma)" in n for n in right.notes)
    assert left.notes == ()
    _, tanh_side = _read(r"\frac{d}{dx}\tanh(x)", r"1 - \tanh^2")
    assert tanh_side.expr == 1 - tanh(x) ** 2
    left, _ = _read(r"\frac{d\sigma}{dx}", r"\sigma(x)(1 - \sigma(x))")  # the value on top of the fraction
    assert left.expr == sigmoid(x) * (1 - sigmoid(x))


@pytest.mark.parametrize(
    "texts, message",
    [
        ((r"\sigma(1-\sigma)",), r"reads as the sigmoid of \(1-\\sigma\) or as \\sigma \\cdot"),
        ((r"\sigma(1-\sigma)", r"\sigma(x) + \sigma(2x)"), r"could be \\sigma\(.*\) or \\sigma\(.*\): write its"),
        ((r"\sigma z",), r"reads as \\sigma\(z\) \(the sigmoid\) or as \\sigma \\cdot z"),
        ((r"1 - \tanh^2",), r"no \\tanh\(x\) in the claim"),
        (("wx + b",), r"'wx' is a run of letters: write w x for a product, \\mathit\{wx\} for one variable"),
        ((r"\sum_{j=0}^{numclass-1} x_j",), "'numclass' is a run of letters"),
        (("Foo(x)",), "unknown function Foo"),
        (("relux(x)",), r"unknown function relux \(did you mean relu"),
        ((r"\frac{\delta L}{\delta w_j}",), "the formula does not define L"),
        ((r"\frac{\partial L}{\partial w}",), "the formula does not define L"),
        (("f'(x)",), "f is not a known function"),
        ((r"\mathit{SIGMAOFTHECLAIM}",), "reserved"),
        ((r"f(x)",), r"reads as a function f applied to x .* or as f times \(x\)"),
        ((r"x\phi(x)",), r"\\phi\(x\) reads as a function \\phi"),
        ((r"\begin{array}{ll} 1 & x \end{array}",), "only cases"),
        ((r"\|w x\|",), r"\\\| is read only as a norm of a vector"),
        (
            (r"\theta^T x",),
            r"reads as a transpose \(the dot product \\sum_k \\theta_k x_k\) or as \\theta to the power",
        ),
        ((r"w^{\top} x + b",), r"reads as a transpose"),
        ((r"h_\theta(x)",), r"h_\\theta\(x\) reads as a function h_\\theta applied to x"),
        ((r"\partial x",), r"write one of them"),
        ((r"\mathbb{1}[x > 0",), r"not closed"),
        (("lambda x",), r"write \\lambda for the Greek letter"),
        ((r"\ln x^2",), r"\\ln x\^2 reads as \\ln\(x\^2\) or as \(\\ln x\)\^2"),  # a bare argument, then more
        ((r"\log 2x",), r"\\log 2x reads as \\log\(2x...\) or as \\log\(2\) times x"),
        ((r"\exp x^2",), r"\\exp\(x\^2\) or as \(\\exp x\)\^2"),
        ((r"\log \sigma(x)^2",), r"or as \(\\log \\sigma\(x\)\)\^2"),
        (("x^2^3",), "a double superscript"),
        (("1e-3 x",), r"1e-3 reads as 1 \\cdot e - 3 \(Euler's number\) or as 1 \\cdot 10\^\{-3\}"),
        (("2.5e3",), r"2.5 \\cdot e \\cdot 3"),
        ((r"\frac{d^2}{dx}x^3",), "the orders of the derivative differ"),
        ((r"\frac{d}{dx}",), "incomplete"),
    ],
)
def test_text_with_several_readings_is_refused_with_the_readings(texts, message):
    with pytest.raises(ParseError, match=message):
        _read(*texts)


# --------------------------------------------------------------------------------------------
# ordinary notation from papers, lecture notes and posts


w = IndexedBase("w", real=True)
X = IndexedBase("X", real=True)
z = IndexedBase("z", real=True)
y_ = IndexedBase("y", real=True)
yhat = IndexedBase("yhat", real=True)
N = Symbol("N", integer=True, positive=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"\sigma'(x)", sigmoid(x) * (1 - sigmoid(x))),  # primes of a known function
        (r"\sigma^{\prime}(x)", sigmoid(x) * (1 - sigmoid(x))),
        (r"{\sigma}'(x)", sigmoid(x) * (1 - sigmoid(x))),
        (r"\tanh'(x)", 1 - tanh(x) ** 2),
        (r"\tanh''(x)", sympy.diff(tanh(x), x, 2)),
        (r"\operatorname{ReLU}'(x)", Piecewise((1, x > 0), (0, True))),
        (r"\operatorname{softplus}'(2x)", sigmoid(2 * x)),  # the derivative at the argument, not d/dx
        (r"\frac{d^{2}}{dx^{2}}\sigma(x)", sympy.diff(sigmoid(x), x, 2)),
        (r"\frac{d^2 \tanh(x)}{dx^2}", sympy.diff(tanh(x), x, 2)),
        (r"\frac{d\sigma(x)}{dx}", sigmoid(x) * (1 - sigmoid(x))),
        (r"\frac{\partial \sigma(x)}{\partial x}", sigmoid(x) * (1 - sigmoid(x))),
        (r"\dfrac{\mathrm{d}}{\mathrm{d}x} x^2", 2 * x),
        (r"\frac{\partial}{\partial w_j} \sum_{i=0}^{n-1} w_i X_{i}", X[j]),
        (r"\operatorname{sech}^2(x)", 1 / sympy.cosh(x) ** 2),
        (r"\sin^2(x) + \cos^{2} x", sympy.sin(x) ** 2 + sympy.cos(x) ** 2),
        (r"\sech^{2}(x)", 1 / sympy.cosh(x) ** 2),
        (r"\sigma(x)[1 - \sigma(x)]", sigmoid(x) * (1 - sigmoid(x))),
        (r"\sigma(x)\left[1 - \sigma(x)\right]", sigmoid(x) * (1 - sigmoid(x))),
        (r"\sqrt[4]{x} [1 - x]", x ** Rational(1, 4) * (1 - x)),  # a root's degree keeps its brackets
        (r"-\log p_{ij}", -log(p[i, j])),
        (r"\log\sum_{k=0}^{n-1} e^{z_k} - z_j", log(Sum(exp(z[k]), (k, 0, n - 1))) - z[j]),
        (r"\log\sum_k e^{z_k}", log(Sum(exp(z[k]), (k, 0, n - 1)))),
        (r"\prod_{k=1}^{n} a_k", sympy.Product(a[k], (k, 1, n))),
        (r"X_{i,j}", X[i, j]),
        (r"\begin{cases} x & x >= 0 \\ 0 & x < 0 \end{cases}", Piecewise((x, x >= 0), (0, True))),
        (
            r"\begin{cases} x & \text{if } x \geq 0 \\ 0.01x & \text{otherwise} \end{cases}",
            Piecewise((x, x >= 0), (x / 100, True)),
        ),
        (r"x \Phi(x)", x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2),
        (
            r"\left\{ \begin{array}{ll} x & \text{if } x > 0 \\ \alpha(e^x - 1) & \text{otherwise} \end{array} \right.",
            Piecewise((x, x > 0), (alpha * (exp(x) - 1), True)),
        ),
        (r"\{ \begin{matrix} 1 & x>0 \\ 0 & x \le 0\end{matrix}", Piecewise((1, x > 0), (0, True))),
        (r"\left\| w \right\|_2^2", Sum(w[k] ** 2, (k, 0, n - 1))),  # the norm of a vector, over its entries
        (r"\|x - y\|^{2}", Sum((IndexedBase("x", real=True)[k] - y_[k]) ** 2, (k, 0, n - 1))),
        (r"\frac{w_j}{\|w\|_2}", w[j] / sympy.sqrt(Sum(w[k] ** 2, (k, 0, n - 1)))),
        (r"\|\mathbf{w}\|_1", Sum(Abs(w[k]), (k, 0, n - 1))),
        (r"\lVert w \rVert_2^2", Sum(w[k] ** 2, (k, 0, n - 1))),
        (r"\mathbb{1}[x > 0]", Piecewise((1, x > 0), (0, True))),  # an indicator
        (r"x \mathbf{1}\{x > 0\}", x * Piecewise((1, x > 0), (0, True))),
        (r"\partial_x (x^3)", 3 * x**2),
        (r"\partial_{w_j} \sum_{i=0}^{n-1} w_i X_{i}", X[j]),
        (r"(y^{(i)} - \sigma(x^{(i)}))", y_[i] - sigmoid(IndexedBase("x", real=True)[i])),  # the i-th example
        (r"\frac{1}{N}\sum_{i=1}^{N} (y_i - \hat{y}_i)^2", Sum((y_[i] - yhat[i]) ** 2, (i, 1, N)) / N),
        (r"\max(0, x), \; x \in \mathbb{R}", Max(0, x)),
    ],
)
def test_reads_ordinary_notation(text, expected):
    from symact.prove import sift

    got = parse_latex(text)
    assert got == expected or sympy.simplify(sift(got) - expected) == 0, got
