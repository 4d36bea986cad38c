"""symact.compute_rules: the numerics are keyed on the maths.  Any spelling of a function gets the same canonical
expression and the same kernel; rules fire on the shape of an expression, never on an entry's name."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest
import sympy

from symact.catalog import get, names
from symact.catalog.symbols import x
from symact.compute_rules import canonical, match_derivative, match_double_double
from symact.derive import user_entry
from symact.emit import elementwise_forms, render
from symact.functions import sigmoid, softplus

beta = sympy.Symbol("beta", positive=True)


def _parse(text):
    return sympy.sympify(text, locals={"x": x, "beta": beta, "sigmoid": sigmoid, "softplus": softplus})


#: spelling -> the canonical expression it must become
SPELLINGS = {
    "exp(x)/(1+exp(x))": sigmoid(x),
    "1/(1+exp(-x))": sigmoid(x),
    "1-1/(1+exp(x))": sigmoid(x),
    "exp(x)/(exp(x)+1)": sigmoid(x),
    "(1+exp(-x))**-1": sigmoid(x),
    "(tanh(x/2)+1)/2": None,  # sigma by tanh: no exp to find it from; stays as written
    "(exp(x)-exp(-x))/(exp(x)+exp(-x))": sympy.tanh(x),
    "(1-exp(-2*x))/(1+exp(-2*x))": sympy.tanh(x),
    "(exp(2*x)-1)/(exp(2*x)+1)": sympy.tanh(x),
    "2/(1+exp(-2*x))-1": sympy.tanh(x),
    "log(1+exp(x))": softplus(x),
    "log(exp(x)+1)": softplus(x),
    "x+log(1+exp(-x))": softplus(x),
    "-log(1/(1+exp(x)))": None,
    "x*tanh(log(1+exp(x)))": x * sympy.tanh(softplus(x)),
    "x*tanh(log(exp(x)+1))": x * sympy.tanh(softplus(x)),
    "x/(1+exp(-x))": x * sigmoid(x),
    "x*exp(x)/(1+exp(x))": x * sigmoid(x),
    "x/(1+exp(-beta*x))": x * sigmoid(beta * x),
    "2*x/(1+exp(-2*x))": 2 * x * sigmoid(2 * x),
    "log(1+exp(2*x))/2": softplus(2 * x) / 2,
    "x*(exp(x)-exp(-x))/(exp(x)+exp(-x))": x * sympy.tanh(x),
    "log((exp(x)+exp(-x))/2)": sympy.log(sympy.cosh(x)),
    "(exp(2*x)+exp(-2*x))/2": sympy.cosh(2 * x),
    "exp(x)+exp(-x)": 2 * sympy.cosh(x),
    "(exp(x)-exp(-x))/2": sympy.sinh(x),
    "x*(exp(x)-exp(-x))": 2 * x * sympy.sinh(x),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_every_spelling_is_one_canonical_expression(spelling):
    expected = SPELLINGS[spelling]
    got = canonical(_parse(spelling))
    if expected is None:  # what canonical leaves alone must still be the same function
        assert sympy.simplify((got - _parse(spelling)).rewrite(sympy.exp)) == 0
    else:
        assert got == expected


def test_catalog_definitions_are_already_canonical():
    """Up to c (1 + tanh(w)) = 2c sigma(2w): gelu_tanh keeps the textbook spelling of its documents, and both
    spellings give one module (``symact generate --check`` passes with canonical taking tanh tails to sigma)."""
    from symact.catalog import Kind, entries
    from symact.functions import recognise
    from symact.rewrites import _tanh_tail

    def tails_as_sigma(e):
        return e.replace(lambda n: isinstance(n, sympy.Add) and _tanh_tail(n) is not None, _tanh_tail)

    for entry in entries():
        if entry.kind is Kind.ELEMENTWISE:
            assert canonical(entry.definition) == tails_as_sigma(recognise(entry.definition)), entry.name


@pytest.mark.parametrize(
    "definition, rule, factor",
    [
        ("exp(x)/(1+exp(x))", "sigma'", 1),
        ("3*sigmoid(2*x)", "sigma'", 6),
        ("(exp(x)-exp(-x))/(exp(x)+exp(-x))", "tanh'", 1),
        ("tanh(x/2)", "tanh'", sympy.Rational(1, 2)),
        ("x*sigmoid(x)", "(w sigma(w))'", 1),
        ("x*sigmoid(beta*x)", "(w sigma(w))'", 1),
        ("5*x/(1+exp(-x))", "(w sigma(w))'", 5),
        ("x*sigmoid(x)+x", None, None),  # f' = silu' + 1: no rule has that shape
        ("x**2*sigmoid(x)", None, None),
        ("log(1+exp(x))", None, None),
    ],
)
def test_derivative_rules_fire_on_the_shape(definition, rule, factor):
    expr = canonical(_parse(definition))
    match = match_derivative(sympy.diff(expr, x), x)
    if rule is None:
        assert match is None
    else:
        assert match is not None and match.rule.name.startswith(rule)
        assert match.factor == factor


def test_double_double_rule_fires_on_the_function_not_the_name():
    assert match_double_double(canonical(_parse("x*tanh(log(1+exp(x)))")), x) is not None
    assert match_double_double(canonical(_parse("x*tanh(log(1+exp(2*x)))")), x) is None


def _body(text: str) -> list[str]:
    """The module's code, without the header docstring, the identity line and the docstrings of its API."""
    lines = text.split('"""', 2)[2].splitlines()
    return [line for line in lines if "one_name(" not in line and "Elementwise, for any shape" not in line]


@pytest.mark.parametrize(
    "name, spelling",
    [
        ("mish", "x*tanh(log(1+exp(x)))"),
        ("silu", "x/(1+exp(-x))"),
        ("silu", "x*(1+tanh(x/2))/2"),
        ("sigmoid", "exp(x)/(1+exp(x))"),
        ("sigmoid", "(1-tanh(-x/2))/2"),
        ("tanh", "(exp(x)-exp(-x))/(exp(x)+exp(-x))"),
        ("softplus", "log(1+exp(x))"),
        ("swish", "x/(1+exp(-beta*x))"),
    ],
)
def test_the_same_maths_gets_the_same_kernel(name, spelling):
    mine = user_entry(f"my_{name}", _parse(spelling))
    catalog, user = _body(render(get(name))), _body(render(mine))
    assert catalog == user, "\n".join(difflib.unified_diff(catalog, user, lineterm="", n=1))


def test_vjp_underflow_redo_is_decided_by_the_derivative():
    underflows = {
        n: elementwise_forms(get(n)).underflows
        for n in ("sigmoid", "tanh", "elu", "softplus", "silu", "relu", "leaky_relu", "step")
    }
    assert underflows == {
        "sigmoid": True,
        "tanh": True,
        "elu": True,
        "softplus": True,
        "silu": True,
        "relu": False,  # f' = 0 on a half-line: exactly 0, nothing lost
        "leaky_relu": False,
        "step": False,
    }
    assert elementwise_forms(user_entry("softsign_like", x / (1 + x**2))).underflows  # f' ~ -1/x^2


GENERATOR = [
    "emit.py",
    "printer.py",
    "rewrites.py",
    "kernel_lib.py",
    "compute_rules.py",
    "roots.py",
    "vecmath.py",
    "primitive_helpers.py",
    "row_match.py",
    "kernel_templates.py",
    *sorted(f"rowlib/{p.name}" for p in (Path(__file__).parent.parent / "symact" / "rowlib").glob("*.py")),
]


def _keys(tree: ast.AST):
    """String constants the code compares with, looks up or keys on: the operands of comparisons (and the
    items of the tuples, lists and sets compared with), dictionary keys and subscripts."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            operands = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Subscript):
            operands = [node.slice]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "startswith")
        ):
            operands = list(node.args[:1])
        else:
            continue
        for operand in operands:
            items = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
            yield from (i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str))


@pytest.mark.parametrize("module", GENERATOR)
def test_no_entry_name_in_the_generator(module):
    """The generator never compares with, looks up or keys on a catalog entry's name."""
    tree = ast.parse((Path(__file__).parent.parent / "symact" / module).read_text())
    catalog = set(names())
    found = [key for key in _keys(tree) if key in catalog or any(key.startswith(n) for n in catalog if len(n) > 3)]
    assert not found, f"{module} keys on entry names: {found}"


def test_the_name_test_finds_names():
    code = 'if entry.name == "mish": pass\nTABLE = {"silu": 1}\nx = FORMS["tanh"]\ny = name in ("relu", "elu")\n'
    assert sorted(_keys(ast.parse(code))) == ["elu", "mish", "relu", "silu", "tanh"]


@pytest.mark.parametrize(
    "definition, zero",
    [("x*erf(x)", 0.0), ("x*tanh(x)", 0.0), ("x**2*exp(-x)", 0.0), ("x*sigmoid(x)", -1.2784645427610738)],
)
def test_zeros_of_the_derivative_are_exact_where_sympy_can_prove_them(definition, zero):
    """Bisection ends within 1e-62 of x erf(x)'s zero at 0: the patch is centred at 0 itself, proved f'(0) = 0
    (a patch at 1.5e-62 made f' wrong by 1e258 ulp for every tiny x); a zero without a closed form stays."""
    from symact.roots import root_patches

    entry = user_entry("mine", canonical(_parse(definition)))
    patches = root_patches(entry, sympy.diff(entry.definition, x))
    roots = [float(p.root) for p in patches]
    assert any(r == zero if zero == 0 else abs(r - zero) < 1e-15 for r in roots), roots


def test_float32_measurement_flags_structural_losses_only():
    """A form that cancels or amplifies its argument's rounding in float32 is measured far beyond the bound; a
    stable one is not (symact.measure, which decides a float32 kernel's arithmetic at generation time)."""
    from sympy.codegen.cfunctions import log1p

    from symact.measure import float32_error, needs_float64

    stable = log1p(sympy.exp(-abs(x))) + sympy.Max(x, 0)
    assert float32_error(sympy.log(1 + sympy.exp(-abs(x))) + sympy.Max(x, 0), sympy.log(1 + sympy.exp(x)), x) > 1e6
    assert float32_error(stable, sympy.log(1 + sympy.exp(x)), x) < 3
    cancelling = 1 - 1 / (1 + sympy.exp(-x))  # 1 - sigma(x) cancels for large x
    truth = 1 / (1 + sympy.exp(x))
    assert needs_float64(cancelling, truth, x, 8.0)
    assert not needs_float64(truth, truth, x, 8.0)


def test_float32_kernels_go_wide_only_where_measured():
    wide = {n: elementwise_forms(get(n)).float32_wide for n in ("sigmoid", "tanh", "elu")}
    assert wide["sigmoid"] == wide["tanh"] == wide["elu"] == (False, False)
    assert elementwise_forms(get("gelu_tanh")).float32_wide == (
        True,
        True,
    )  # sigma(2w) amplifies w = c (x + 0.044715 x^3)


def test_output_form_simplified_on_a_positive_range():
    from symact.derive import derive

    output = derive(get("squareplus")).gradient("first").output.expr
    y = sympy.Symbol("y", real=True)
    assert output == y**2 / (y**2 + 1)


def test_a_definition_solve_cannot_invert_has_no_output_form_and_no_error():
    """sympy.solve raises NotImplementedError on y = x + log(1 + exp(-x)) ("multiple generators"); the output
    form is simply absent, and the user's expression is derived and generated as any other."""
    from symact.derive import derive, user_entry
    from symact.forms import output_form

    x = sympy.Symbol("x", real=True)
    y = sympy.Symbol("y", real=True)
    f = x + sympy.log(1 + sympy.exp(-x))
    assert output_form(f, sympy.diff(f, x), x, y) in (None, 1 - sympy.exp(-y))  # softplus: sigma = 1 - exp(-y)
    first = derive(user_entry("u", f, x)).gradient("first")
    assert sympy.simplify(first.raw - sympy.diff(f, x)) == 0


def test_a_derivative_spelled_by_branches_loses_its_cancelling_sums_per_branch():
    """softsign spelled as its branches: each branch of f' is one fraction, 1/(1 + x)^2, not
    1/(1 + x) - x/(1 + x)^2, which cancels and squares 1 + x (overflow past 1e154)."""
    from symact.derive import user_entry
    from symact.emit import elementwise_forms

    x = sympy.Symbol("x", real=True)
    f = sympy.Piecewise((x / (1 + x), x >= 0), (x / (1 - x), True))
    derivative = elementwise_forms(user_entry("u", f, x)).derivative
    assert isinstance(derivative, sympy.Piecewise)
    assert all(not value.is_Add for value, _ in derivative.args), derivative


def test_the_vjp_redo_is_decided_from_f_prime_in_the_tails_and_near_zero():
    from symact.emit import _underflows

    x = sympy.Symbol("x", real=True)
    assert _underflows(sympy.diff(x * sympy.erf(x), x), x)  # 4 x / sqrt(pi): subnormal float32 below 1e-38
    assert _underflows(sympy.exp(x), x)  # the left tail
    assert not _underflows(1 / (1 + x**2) + 1, x)
    assert not _underflows(sympy.Piecewise((1, x > 0), (0, True)), x)  # 0 on a half-line: nothing to redo
    assert not _underflows(x, x, near_zero=False)  # a forward f(x) ~ x loses nothing at tiny x


def test_a_form_that_gives_nan_in_a_tail_gets_its_limit_there():
    """x tanh(e^x): f' = tanh(e^x) + x e^x (1 - tanh(e^x)^2) is inf * 0 past x = 88 (float32) and 709; the kernel
    takes the limit 1 where the form gives nan on that side, not at +inf alone."""
    from symact.emit import _nan_in_tail

    t = sympy.tanh(sympy.exp(x))
    assert _nan_in_tail(t + x * sympy.exp(x) * (1 - t**2), x, sympy.oo)
    assert not _nan_in_tail(t + x * sympy.exp(x) * (1 - t**2), x, -sympy.oo)
    assert not _nan_in_tail(sigmoid(x) * (1 - sigmoid(x)), x, sympy.oo)
    code = render(user_entry("tanhexp_like", x * sympy.tanh(sympy.exp(x))))
    assert "(r != r) & (x > 0.0)" in code and "(r != r) & (x > np.float32(0.0))" in code  # float64 and float32
    assert "(r != r)" not in render(get("sigmoid"))  # a form with no nan in its tails keeps its plain guards


def test_an_output_form_takes_the_log_of_a_reciprocal_as_a_negated_log():
    """1 - exp(-exp(x)): SymPy's inverse gave f' = (1 - y) log(-1/(y - 1)), 1e13 ulp at y = 1e-13 (1 - y first);
    -(1 - y) log(1 - y) is the textbook form, and its log becomes log1p(-y)."""
    from sympy.codegen.cfunctions import log1p

    from symact.derive import derive

    y = sympy.Symbol("y", real=True)
    entry = user_entry("cloglog_like", 1 - sympy.exp(-sympy.exp(x)))
    assert derive(entry).gradient("first").output.expr == (y - 1) * sympy.log(1 - y)
    assert elementwise_forms(entry).output == (y - 1) * log1p(-y)


def test_a_form_that_cancels_near_a_zero_gets_a_patch_there_and_only_there(tmp_path):
    """log(1 + e^x) - log 2 is softplus(x) - log 2, which cancels to 0 near its zero x = 0 (f ~ x/2); its output
    form 1 - e^(-y)/2 cancels near y = -log 2 (x -> -inf).  Each gets a polynomial in the distance to the zero,
    found from the expression; tanh and silu, accurate at their zeros, get none."""
    import numpy as np

    from symact import load

    entry = user_entry("shifted_softplus", sympy.log(1 + sympy.exp(x)) - sympy.log(2), x)
    forms = elementwise_forms(entry)
    assert [float(p.root) for p in forms.forward_patches] == [0.0]
    assert [round(float(p.root), 15) for p in forms.output_patches] == [round(-np.log(2), 15)]
    assert elementwise_forms(get("tanh")).forward_patches == elementwise_forms(get("silu")).forward_patches == ()
    path = tmp_path / "shifted_softplus.py"
    path.write_text(render(entry))
    module = load(path)
    for dtype in (np.float32, np.float64):
        points = np.array([1e-20, -3e-8, 0.3, 1e-300], dtype=dtype)
        want = np.log1p(np.expm1(points.astype(np.float64)) / 2)  # log((1 + e^x)/2), no cancellation
        assert np.allclose(module.forward(points), want, rtol=4 * np.finfo(dtype).eps, atol=0)
    y0 = np.nextafter(-np.log(2.0), 0.0)  # f'(x) = 1 - e^(-y)/2 = 1.1e-16 there, not 0 or 2.2e-16
    assert module.vjp_from_output(np.array([y0]), np.array([1.0]))[0] == pytest.approx(
        -np.expm1(-y0 - np.log(2)), rel=1e-14
    )


def test_the_derivative_is_built_from_the_proved_textbook_form_where_that_is_much_simpler():
    """log(x + sqrt(x^2 + 1))': SymPy's (1 + x/s)/(x + s) overflows past 1e154 and cancels for x << 0; the
    textbook form derive proves, 1/sqrt(x^2 + 1), does neither.  Catalog derivatives keep SymPy's (their textbook
    forms are not half as long)."""
    from symact.derive import derive
    from symact.emit import _derivative_source

    entry = user_entry("asinh_log", sympy.log(x + sympy.sqrt(x**2 + 1)), x)
    first = derive(entry).gradient("first")
    assert _derivative_source(entry.definition, x, first) == 1 / sympy.sqrt(x**2 + 1)
    assert elementwise_forms(entry).derivative == 1 / sympy.sqrt(x**2 + 1)
    for name in ("silu", "gelu", "softsign"):
        f = canonical(get(name).definition)  # as elementwise_forms sees it: x sigma(x), not x/(1 + e^-x)
        assert _derivative_source(f, x, derive(get(name)).gradient("first")) == sympy.diff(f, x)


def test_zeros_are_looked_for_only_where_the_form_is_real():
    """1 - exp(-exp(x)): its output form -(1 - y) log(1 - y) is complex past y = 1, where the search for zeros
    used to compare complex numbers (TypeError); the module is generated, and its zeros are real ones."""
    from symact.roots import _function, _zeros

    y = sympy.Symbol("y", real=True)
    form = -(1 - y) * sympy.log(1 - y)
    assert [float(z) for z in _zeros(_function(form, y), form, y)] == [0.0]
    assert "def forward" in render(user_entry("cloglog", 1 - sympy.exp(-sympy.exp(x)), x))


@pytest.mark.parametrize(
    "definition, low, high",
    [(1 - sympy.exp(-sympy.exp(x)), 3.0, 6.62), (sympy.exp(-sympy.exp(-x)), -6.62, -3.0)],
    ids=["cloglog", "gumbel_cdf"],
)
def test_an_exp_of_a_large_argument_keeps_the_digits_its_argument_lost(tmp_path, definition, low, high):
    """exp(x - exp(x)) (the complementary log-log's derivative) and exp(-exp(-x)) (a Gumbel cdf) where their
    argument is -20 to -745: the condition number is the argument's size, so the argument's correction (the rounding
    error of exp(x), kernel_lib._exp_error) must be good to 2**-63 of exp(x).  Sampled densely there, the float64
    derivative was 74 ulp off (cloglog) and the forward 46 ulp (gumbel) with a 2**-55 correction."""
    import mpmath
    import numpy as np

    from symact import load
    from symact.ulp import ulp_error

    path = tmp_path / "large_argument.py"
    path.write_text(render(user_entry("large_argument", definition, x)))
    module = load(path)
    xs = np.random.default_rng(5).uniform(low, high, 600)
    f = sympy.lambdify(x, definition, "mpmath")
    d = sympy.lambdify(x, sympy.diff(definition, x), "mpmath")
    with mpmath.workdps(50):
        forward = [f(mpmath.mpf(v)) for v in xs.tolist()]
        derivative = [d(mpmath.mpf(v)) for v in xs.tolist()]
    assert ulp_error(module.forward(xs), forward, np.float64).max() <= 2
    assert ulp_error(module.derivative(xs), derivative, np.float64).max() <= 4


@pytest.mark.parametrize(
    "definition, multiplicity, bound",
    [(x - sympy.tanh(x), 3, 2), (sympy.exp(x) - 1 - x, 2, 2), (4 * (sympy.sqrt(1 + (x / 2) ** 2) - 1), 0, 2.5)],
    ids=["tanhshrink", "exp_minus_1_minus_x", "pseudo_huber_delta_2"],
)
def test_a_form_that_cancels_near_a_multiple_zero_keeps_its_digits(tmp_path, definition, multiplicity, bound):
    """x - tanh(x) = x^3/3 + ... (a zero of multiplicity 3, found where f changes sign) and exp(x) - 1 - x =
    x^2/2 + ... (multiplicity 2, where f touches 0: a zero of f' at which f vanishes) cancel near 0: every digit
    was lost there (x - tanh(x) gave 1e160 ulp, exp(x) - 1 - x 8e15).  Each gets a patch d^m P(d) with P by
    compensated Horner, as wide as the form needs beyond it (x - tanh(x) is 3 ulp off at x = 1: the patch is
    1.5 wide).  sqrt(1 + (x/2)^2) - 1 needs no patch: it is the conjugate rewrite's, once the square's factor 1/4
    is recognised (it gave 8e15 ulp); its float64 forward, four roundings, is 2.17 ulp at worst (a known miss of
    the 2-ulp bound, which needs a compensated quotient)."""
    import mpmath
    import numpy as np

    from symact import load
    from symact.ulp import ulp_error

    forms = elementwise_forms(user_entry("near_multiple_zero", definition, x))
    assert [p.multiplicity for p in forms.forward_patches] == ([multiplicity] if multiplicity else [])
    assert all(f"d^{multiplicity} P(d)" in p.describe() for p in forms.forward_patches)
    path = tmp_path / "near_multiple_zero.py"
    path.write_text(render(user_entry("near_multiple_zero", definition, x)))
    module = load(path)
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.uniform(-4.0, 4.0, 300), np.exp2(rng.uniform(-60, 0, 200)) * rng.choice([-1, 1], 200)])
    f = sympy.lambdify(x, definition, "mpmath")
    for dtype in (np.float64, np.float32):
        points = xs.astype(dtype)
        with mpmath.workdps(60):
            exact = [f(mpmath.mpf(float(v))) for v in points]
        assert ulp_error(module.forward(points), exact, dtype).max() <= bound, dtype


def test_an_output_form_no_kernel_can_compute_is_left_out_not_the_module(tmp_path):
    """erf(x/sqrt 2)'s output form holds erfinv(y), which no kernel computes: generation failed on it
    (PrintMethodNotImplementedError); now the module has every kernel but vjp_from_output."""
    import numpy as np

    from symact import load

    entry = user_entry("phi_like", sympy.erf(x / sympy.sqrt(2)), x)
    assert elementwise_forms(entry).output is None
    path = tmp_path / "phi_like.py"
    path.write_text(render(entry))
    module = load(path)
    assert not hasattr(module, "vjp_from_output")
    assert module.derivative(np.array([0.0]))[0] == pytest.approx(np.sqrt(2 / np.pi), rel=1e-15)


def test_patches_of_neighbouring_zeros_do_not_overlap(tmp_path):
    """sigma(sigma(x)): its output form's zeros in y are 1/2 and sigma(1) = 0.731, 0.231 apart, and each patch
    was 0.25 or 0.125 wide, so the patch at 1/2 (selected last) replaced the one at sigma(1) near its zero:
    2e7 ulp.  Each patch is now at most half as wide as the distance to its neighbour; a form whose limit is
    complex (the output form past y's range) gets no select for it (it did not compile)."""
    import mpmath
    import numpy as np

    from symact import load
    from symact.derive import derive
    from symact.ulp import ulp_error

    definition = sigmoid(sigmoid(x))
    entry = user_entry("sigmoid_of_sigmoid", definition, x)
    patches = elementwise_forms(entry).output_patches
    roots = sorted(float(p.root) for p in patches)
    assert roots == pytest.approx([0.5, 1 / (1 + np.exp(-1.0))], rel=1e-15)
    assert all(p.radius <= (roots[1] - roots[0]) / 2 for p in patches)
    path = tmp_path / "sigmoid_of_sigmoid.py"
    path.write_text(render(entry))
    module = load(path)
    y = sympy.Symbol("y", real=True)
    form = sympy.lambdify(y, derive(entry).gradient("first").output.expr, "mpmath")
    ys = roots[1] - np.exp2(-np.arange(3.0, 50.0))  # approaching sigma(1) from below, as y = f(x) does
    with mpmath.workdps(60):
        exact = [form(mpmath.mpf(v)) for v in ys.tolist()]
    assert ulp_error(module.vjp_from_output(ys, np.ones_like(ys)), exact, np.float64).max() <= 4


def test_terms_are_combined_over_one_denominator_only_where_that_stays_finite():
    """(x e^(-x^2) + x)' = 1 + e^(-x^2) - 2 x^2 e^(-x^2) over the common denominator e^(x^2) is
    (e^(x^2) - 2 x^2 + 1) e^(-x^2), fewer operations but inf past |x| = 26.6 (the derivative was inf there, 1 in
    truth); softsign's sum still becomes 1/(1 + |x|)^2, which removes an overflow rather than adding one."""
    from symact.emit import _without_cancelling_terms

    e = sympy.exp(-(x**2))
    assert _without_cancelling_terms(1 + e - 2 * x**2 * e) == 1 + e - 2 * x**2 * e
    a = sympy.Abs(x)
    assert _without_cancelling_terms(1 / (1 + a) - a / (1 + a) ** 2) == (1 + a) ** -2


def test_a_form_that_loses_its_digits_far_out_takes_its_leading_term_there(tmp_path):
    """log(1 + x^2)' = 2x/(1 + x^2) is 0 past |x| = 1.3e154, where x^2 overflows, and 2/x in truth (5.7e15 ulp).
    Its leading term at +-inf, 2/x, is selected beyond 2^52, where it is the form to 2^-104; the printed form is
    measured as the kernel computes it (squareplus' divides twice where a product of its denominators would
    overflow, and gets no select)."""
    import mpmath
    import numpy as np

    from symact import load
    from symact.emit import _far_term_select
    from symact.ulp import ulp_error

    form = 2 * x / (x**2 + 1)
    assert "1.0/x" in _far_term_select(form, x, sympy.oo)
    squareplus = elementwise_forms(get("squareplus"))
    assert _far_term_select(squareplus.derivative, x, -sympy.oo) is None
    entry = user_entry("log_one_plus_square", sympy.log(1 + x**2), x)
    path = tmp_path / "log_one_plus_square.py"
    path.write_text(render(entry))
    module = load(path)
    xs = np.concatenate([np.exp2(np.random.default_rng(2).uniform(0, 1023, 300)), [1.7e308]])
    xs = np.concatenate([xs, -xs])
    with mpmath.workdps(40):
        exact = [2 / mpmath.mpf(v) / (1 + mpmath.mpf(v) ** -2) for v in xs.tolist()]
    assert ulp_error(module.derivative(xs), exact, np.float64).max() <= 4


def test_soft_clipping_takes_no_difference_forward_or_backward(tmp_path):
    """log((1 + e^x)/(1 + e^(x - 1))): forward softplus(x) - softplus(x - 1) and derivative (by the product rule
    on log((1 + e^x) sigma(1 - x))) a sum of five terms both cancel for x >> 0 (6.9e12 and 5e12 ulp).  Its logs
    split, the forward is log1p((e - 1) sigma(x - 1)) and the derivative (1 - 1/e) sigma(x) sigma(1 - x)."""
    import mpmath
    import numpy as np

    from symact import load
    from symact.ulp import ulp_error

    definition = sympy.log((1 + sympy.exp(x)) / (1 + sympy.exp(x - 1)))
    entry = user_entry("soft_clipping", definition, x)
    assert not elementwise_forms(entry).derivative.is_Add
    path = tmp_path / "soft_clipping.py"
    path.write_text(render(entry))
    module = load(path)
    xs = np.array([-700.0, -30.0, -1.0, 0.0, 0.5, 1.0, 3.0, 30.0, 1e5, 1e20, 1e300])
    f = sympy.lambdify(x, definition, "mpmath")
    d = sympy.lambdify(x, sympy.diff(definition, x), "mpmath")
    with mpmath.workdps(400):
        forward = [f(mpmath.mpf(v)) for v in xs.tolist()]
        derivative = [d(mpmath.mpf(v)) for v in xs.tolist()]
    assert ulp_error(module.forward(xs), forward, np.float64).max() <= 2
    assert ulp_error(module.derivative(xs), derivative, np.float64).max() <= 4


def test_a_sum_and_its_fraction_each_take_the_range_of_x_where_the_other_loses_digits():
    """x - x/(1 + |x|) cancels near 0 (7.9e15 ulp at 1e-300) and its one fraction, x|x|/(1 + |x|), overflows past
    1e154: the forward takes the fraction below a switch in |x| and the sum above it (a regime, as Herbie infers
    them), and so is within 2 ulp at every probe, each sign's branch on its own side."""
    import numpy as np

    from symact.emit import _LOSS_PROBES, _by_regime
    from symact.measure import errors_at

    a = sympy.Abs(x)
    form = x - x / (1 + a)
    forward = elementwise_forms(user_entry("softsign_shrink", form, x)).forward
    assert forward.has(sympy.Piecewise) and any(
        isinstance(c, sympy.StrictLessThan) and c.lhs == a for c in forward.atoms(sympy.core.relational.Relational)
    )
    assert max(e for e in errors_at(forward, x, _LOSS_PROBES, np.float64) if e is not None) <= 2
    assert max(e for e in errors_at(form, x, _LOSS_PROBES, np.float64) if e is not None) > 1e10
    positive = x - x / (1 + x)  # one branch, for x >= 0: the regime is chosen from the probes there
    regime = _by_regime(x**2 / (1 + x), positive, x >= 0)
    assert regime is not None and regime.args[0][0] == x**2 / (1 + x)
    assert _by_regime(x**2 / (1 + x), x**2 / (1 + x)) is None  # a form within its bound everywhere stays
