"""symact.rowlib: the row kernels' building blocks run as ordinary Numba functions, and the source they give
generated modules is complete."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from symact import rowlib
from symact.rowlib import dd, fast, reduce, rows


def test_two_prod_and_dd_arithmetic_are_exact():
    rng = np.random.default_rng(1)
    for a, b in rng.standard_normal((20, 2)) * 1e3:
        p, e = dd._two_prod(a, b)
        assert Fraction(p) + Fraction(e) == Fraction(a) * Fraction(b)
        s, t = dd._dd_add(a, 0.0, b, 0.0)
        assert Fraction(s) + Fraction(t) == Fraction(a) + Fraction(b)
        h, lo = dd._dd_mul(a, 0.0, b, 0.0)
        assert Fraction(h) + Fraction(lo) == Fraction(a) * Fraction(b)
        q, r = dd._dd_div(a, 0.0, b, 0.0)
        assert abs((Fraction(q) + Fraction(r)) / (Fraction(a) / Fraction(b)) - 1) < Fraction(1, 2**100)


@pytest.mark.parametrize("x", [0.0, -1e-10, -0.5, -3.0, -700.0, -745.5])
def test_exp_dd_beyond_double_precision(x):
    """hi + lo within 2**-56 (the Taylor tail is formed in double: about 2**-60 of exp(x) at |r| = ln2 / 2)."""
    import mpmath

    hi, lo, k = dd._exp_dd(x, 0.0)
    with mpmath.workprec(200):  # not mpmath.mp.prec = 200: that outlived the test (tests/test_emit.py's generation)
        got = (mpmath.mpf(hi) + mpmath.mpf(lo)) * mpmath.mpf(2) ** k
        assert abs(got / mpmath.exp(x) - 1) < mpmath.mpf(2) ** -56


def test_the_branch_free_exp_dd_matches_exp_dd_accuracy_over_its_range():
    """dd._vexp_dd(x, xlo) (the exp of the losses' and logistic regression's SIMD first tries) is exp(x + xlo) to
    2**-56 relative, as _exp_dd, over its whole range [-600, 700] (both ends, integers times ln 2, where the
    reduction's rounding to even may differ from _exp_dd's floor, and a tiny xlo)."""
    import mpmath

    rng = np.random.default_rng(4)
    xs = np.concatenate(
        [[-600.0, 700.0, 0.0, -1e-300, 1e-20], rng.uniform(-600, 700, 400), np.arange(-800, 1000) * 0.34657359027997264]
    )
    xs = xs[(xs >= -600.0) & (xs <= 700.0)]
    with mpmath.workprec(200):
        for x in xs.tolist():
            for xlo in (0.0, 2.0**-60, -(2.0**-57)):
                hi, lo = dd._vexp_dd(x, xlo)
                exact = mpmath.exp(mpmath.mpf(x) + mpmath.mpf(xlo))
                assert abs((mpmath.mpf(hi) + mpmath.mpf(lo)) / exact - 1) < mpmath.mpf(2) ** -56, (x, xlo)
                assert abs(lo) <= abs(hi) * 2.0**-51


def test_compensated_sums():
    values = np.array([1e16, 1.0, -1e16, 3.0, 1e-5])
    assert rows._neumaier(values, -1) == math.fsum(values)
    assert rows._neumaier(values, 3) == math.fsum(np.delete(values, 3))
    assert reduce._fsum(values) == math.fsum(values)
    out = np.empty(4)
    rows._excluded(np.array([1.0, 2.0, 4.0, 8.0]), out)
    assert out.tolist() == [14.0, 13.0, 11.0, 7.0]


def test_shifted_exponentials_and_the_exact_maximum():
    a = np.array([0.5, 3.0, -2.0, 3.0, -np.inf])
    assert rows._row_special(a) == (False, 3.0)
    assert fast._key_value(fast._max_key(a)) == 3.0
    assert fast._max_key(np.array([1.0, np.nan])) > fast._INF_BITS  # nan above every number
    e, lo = np.empty(5), np.empty(5)
    assert rows._shifted(a, 3.0, e, lo) == 1  # the first maximum
    np.testing.assert_allclose(e, np.exp(a - 3.0), rtol=1e-15)
    rest = fast._exps(a, 3.0, e)  # sum_k exp(a_k - m) - 1, to about 2**-61
    assert abs(rest - (math.fsum(np.exp(a - 3.0)) - 1)) < 2**-58
    tiny = np.array([1e-30, 3e-31, 0.0])
    assert fast._nonneg_sum(tiny, 1.0) == pytest.approx(1.3e-30, rel=1e-15)


def test_the_source_of_a_kernel_runs_on_its_own(tmp_path):
    """The hardmax module's kernels and everything they use, and nothing else, run without symact."""
    import importlib.util

    text = rowlib.IMPORTS + rowlib.source(["forward"], ["checks", "rows", "fast", "hardmax"])
    assert "def _exps(" not in text  # only what forward uses
    path = tmp_path / "rowlib_source_test.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("rowlib_source_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    got = module.forward(np.array([[1.0, 3.0, 3.0], [np.nan, 0.0, 1.0]]))
    assert np.array_equal(got[0], [0.0, 1.0, 0.0]) and np.isnan(got[1]).all()


def test_settings_replace_a_module_constant():
    text = rowlib.source(["_labels"], ["checks", "reduce", "softmax_ce"], {"_SPARSE": "True"})
    assert "_SPARSE = True" in text and "_SPARSE = False" not in text
    with pytest.raises(KeyError):
        rowlib.source(["_labels"], ["checks", "reduce", "softmax_ce"], {"_NO_SUCH": "1"})


def test_used_names_finds_library_names_only():
    code = "def grad(z):\n    return _finish(_fsum(z), 'sum', z.dtype, None, 1) + math.pi + _local(z)\n"
    assert rowlib.used_names(code, ["reduce"]) == ["_finish", "_fsum"]


def test_sigmoid_cross_entropy_kernels_match_the_plain_forms():
    """rowlib.losses with its own defaults (w = 1): the SIMD forward and the double-double gradient agree with
    the per-element forms, float64 and float32."""
    from symact.rowlib import losses

    z = np.array([-30.0, -2.0, -0.1, 0.0, 0.5, 3.0, 40.0])
    y = np.array([0.0, 0.3, 1.0, 0.5, 0.2, 1.0, 0.0])
    for dtype in (np.float64, np.float32):
        zt = z.astype(dtype)
        fast = losses._forward(zt, y, (), "none", None, losses._fast_forward)
        plain = losses._forward(zt, y, (), "none", None, None)
        assert fast.dtype == dtype
        np.testing.assert_allclose(fast, plain, rtol=1e-14 if dtype == np.float64 else 1e-6)
        grad = losses._grad(zt, y, (), "sum", None, losses._fast_grad)
        np.testing.assert_allclose(grad, losses._grad_ufunc(z, y), rtol=1e-12 if dtype == np.float64 else 1e-6)
    plain = losses._forward(z, y, (), "none", None, None)
    assert losses._forward(z, y, (), "mean", None, losses._fast_forward) == pytest.approx(np.mean(plain), rel=1e-15)


def test_a_loss_without_simd_kernels_copies_only_what_it_calls(tmp_path):
    """An elementwise loss that is no sigmoid cross-entropy: its parameter threaded as a keyword into the
    printed per-element forms, and none of rowlib.losses' SIMD kernels in the module."""
    import importlib.util

    import sympy

    from symact.catalog import Aux, Entry, Kind, Param
    from symact.catalog.symbols import label, z
    from symact.kernel_templates import render_template

    c = sympy.Symbol("c", positive=True)
    entry = Entry(
        "my_scaled_squares",
        Kind.LOSS,
        "mine",
        c * (z - label) ** 2,
        variable=z,
        wrt=(z,),
        params=(Param(c, 2, "`scale`: a scale"),),
        aux=(Aux(label, "the label", "unit"),),
        builtin=False,
    )
    text = render_template(entry, "cmd")
    assert "def _loss_fast" not in text and "def _weight" not in text and "def _forward(" in text
    path = tmp_path / "my_scaled_squares.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("my_scaled_squares", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zs, ys = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0, 0.25])
    assert module.forward(zs, ys, scale=3.0) == pytest.approx(3.0 * np.mean((zs - ys) ** 2), rel=1e-15)
    np.testing.assert_allclose(module.grad(zs, ys, reduction="sum"), 4.0 * (zs - ys), rtol=1e-15)


@pytest.mark.parametrize(
    "domain, checked", [("unit", r"\[0, 1\]"), ("nonnegative", "nonnegative"), ("real", None), ("sign", None)]
)
def test_a_loss_checks_its_labels_by_their_domain_and_gives_nan_for_nan(tmp_path, domain, checked):
    """Labels are held to [0, 1] where the entry's label domain is unit (or binary), to y >= 0 where it is
    nonnegative, and not checked otherwise; a Piecewise form whose conditions are false at nan (max(0, 1 - y z),
    written as a Piecewise) still gives nan there."""
    import importlib.util

    import sympy

    from symact.catalog import Aux, Entry, Kind
    from symact.catalog.symbols import label, z
    from symact.kernel_templates import render_template

    entry = Entry(
        f"my_margin_{domain}",
        Kind.LOSS,
        "mine",
        sympy.Piecewise((1 - label * z, label * z < 1), (0, True)),
        variable=z,
        wrt=(z,),
        aux=(Aux(label, "the label", domain),),
        builtin=False,
    )
    path = tmp_path / f"{entry.name}.py"
    path.write_text(render_template(entry, "cmd"))
    spec = importlib.util.spec_from_file_location(entry.name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zs, ys = np.array([0.5, np.nan, 2.0, 0.25]), np.array([1.0, 1.0, 1.0, np.nan])
    np.testing.assert_array_equal(module.forward(zs, ys, reduction="none"), [0.5, np.nan, 0.0, np.nan])
    np.testing.assert_array_equal(module.grad(zs, ys, reduction="none"), [-1.0, np.nan, 0.0, np.nan])
    if checked:
        with pytest.raises(ValueError, match=checked):
            module.forward(np.zeros(2), np.array([-1.0, 1.0]))
        if domain == "nonnegative":  # no upper end
            assert module.forward(np.zeros(2), np.array([0.0, 2.0]), reduction="sum") == 2.0
        else:
            with pytest.raises(ValueError, match=checked):
                module.forward(np.zeros(2), np.array([0.0, 2.0]))
    else:
        assert module.forward(np.zeros(2), np.array([-1.0, 1.0]), reduction="sum") == 2.0


def test_kernel_code_in_string_literals_stays_below_150_lines():
    """Numba code lives in real modules (copied into generated/ from their source), not in string literals: the
    lines of code-like text in every string constant of the package that is not a docstring (f-strings' parts
    included) stay below 150 in all, the glue the printer and emit need."""
    import ast
    import re
    from pathlib import Path

    code = re.compile(r"^\s*(def |return\b|for |while |if |elif |else:|@|[A-Za-z_][\w\[\], ]*\s*[-+*/]?=[^=])")

    def docstrings(tree):
        kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        return {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, kinds)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }

    counts = {}
    for path in sorted((Path(__file__).parent.parent / "symact").rglob("*.py")):
        tree = ast.parse(path.read_text())
        skip = docstrings(tree)
        strings = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
        ]
        counts[path.name] = sum(1 for s in strings for line in s.splitlines() if code.match(line))
    assert code.match("    s = a + b") and code.match("@numba.njit") and not code.match("the sum of a and b")
    assert sum(counts.values()) < 150, sorted(counts.items(), key=lambda kv: -kv[1])[:5]


def test_exp_plus_keeps_the_digits_that_plain_float64_cancels():
    from symact.rowlib import losses

    assert losses._exp_plus(1e-20, -1.0, 1.0, math.exp(1e-20) - 1.0) == pytest.approx(1e-20, rel=1e-15)
    z, y = 5.332419403886679, 40.0  # near a zero of exp(z) - y z
    import mpmath

    with mpmath.workdps(50):
        exact = float(mpmath.exp(mpmath.mpf(z)) - mpmath.mpf(y) * mpmath.mpf(z))
    assert losses._exp_plus(z, -y, z, math.exp(z) - y * z) == exact
    assert losses._exp_plus(800.0, -1.0, 1.0, math.inf) == math.inf  # the limits from the plain value


@pytest.mark.parametrize(
    "form, fires",
    [
        ("exp(z) - y*z", True),
        ("exp(z) - y", True),
        ("exp(2*z) - 2*y*z", True),
        ("exp(z) - y/3", False),
        ("exp(z) + exp(y)", False),
        ("exp(z) - y*z*q", False),
        ("log(z) - y", False),
    ],
)
def test_exp_plus_fires_on_an_exponential_plus_an_exact_product(form, fires):
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _exp_compensated

    expr = sympy.sympify(form, locals={"z": z, "y": label, "q": sympy.Symbol("q", positive=True)})
    code = _exp_compensated(expr, "PLAIN", {})
    assert code.startswith("_exp_plus(") == fires and code.endswith("PLAIN)" if fires else "PLAIN")


def test_log_dd_is_a_double_double_log():
    import mpmath

    from symact.rowlib.dd import _log_dd

    rng = np.random.default_rng(11)
    xs = [1.0, 0.5, 2.0, 0.75, 0.1, 1e-300, 5e-324, 1.7e308, 1 + 2**-52, 1 - 2**-53, 1 + 1e-10]
    xs += list(np.ldexp(rng.uniform(0.5, 1.0, 200), rng.integers(-1074, 1024, 200)))
    xs += list(1.0 + rng.uniform(-0.3, 0.3, 200))
    with mpmath.workdps(60):
        for x in xs:
            hi, lo = _log_dd(float(x))
            exact = mpmath.log(mpmath.mpf(float(x)))
            assert abs(mpmath.mpf(hi) + lo - exact) <= 2.0**-100 * abs(exact), x
            assert hi == float(exact)  # the high part is the correctly rounded log


def test_log_plus_keeps_the_digits_that_plain_float64_cancels():
    import mpmath

    from symact.rowlib import losses

    y = 0.1
    z = math.log(y)  # y log y - y z = y (log y - z): plain float64 keeps only the rounding of log y
    with mpmath.workdps(60):
        exact = float(mpmath.mpf(y) * (mpmath.log(mpmath.mpf(y)) - mpmath.mpf(z)))
    plain = y * math.log(y) - y * z
    assert plain != exact
    assert losses._log_plus(y, y, -1.0, z, plain) == pytest.approx(exact, rel=2**-52)
    assert losses._log_plus(0.0, 0.0, -1.0, 3.0, -0.0) == -0.0  # the plain value where log(u) is not finite
    assert math.isnan(losses._log_plus(y, y, -1.0, math.nan, math.nan))


@pytest.mark.parametrize(
    "form, fires",
    [
        ("y*log(y) - y*z", True),
        ("y*log(y) - 2*y*z", True),
        ("Piecewise((0, Eq(y, 0)), (y*log(y), True)) - y*z", True),
        ("Piecewise((0, Eq(z, 0)), (y*log(y), True)) - y*z", False),
        ("Piecewise((1, Eq(y, 0)), (y*log(y), True)) - y*z", False),
        ("y*log(y) - y*z/3", False),
        ("y*log(y) - z", False),
        ("y*log(y) - y*z*q", False),
        ("log(y) - z", False),
        ("exp(z) - y*z", False),
    ],
)
def test_log_plus_fires_on_s_log_u_plus_an_exact_multiple_of_s(form, fires):
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _log_compensated

    expr = sympy.sympify(form, locals={"z": z, "y": label, "q": sympy.Symbol("q", positive=True)})
    code = _log_compensated(expr, "PLAIN", {})
    assert code.startswith("_log_plus(") == fires and code.endswith("PLAIN)" if fires else "PLAIN")


def test_entropy_pair_rounds_once_where_plain_float64_rounds_five_times():
    import mpmath

    from symact.rowlib import losses

    rng = np.random.default_rng(2)
    worst = 0.0
    with mpmath.workdps(50):
        for p, y in zip(rng.uniform(0, 1, 300), rng.choice([0.1, 0.3, 0.6, 0.9], 300)):
            plain = -y * math.log(p) - (1 - y) * math.log1p(-p)
            got = losses._entropy_pair(y, p, plain)
            P, Y = mpmath.mpf(p), mpmath.mpf(y)
            exact = -Y * mpmath.log(P) - (1 - Y) * mpmath.log(1 - P)
            worst = max(worst, float(abs(got - exact) / np.spacing(float(exact))))
    assert worst <= 0.5 + 2**-10
    assert losses._entropy_pair(1.0, 0.0, math.inf) == math.inf  # the ends from the plain value
    assert losses._entropy_pair(0.0, 1.0, -0.0) == 0.0


def test_entropy_pair_fires_on_the_binary_entropy_of_two_symbols_only():
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _entropy_pair_of
    from symact.rewrites import stabilise

    y = label
    ce = -sympy.Piecewise((0, sympy.Eq(y, 0)), (y * sympy.log(z), True)) - sympy.Piecewise(
        (0, sympy.Eq(y, 1)), ((1 - y) * sympy.log(1 - z), True)
    )
    assert _entropy_pair_of(stabilise(ce)) == (y, z)
    assert _entropy_pair_of(stabilise(ce.subs(y, 2 * y))) is None
    assert _entropy_pair_of(stabilise(-y * sympy.log(z) - (1 - y) * sympy.log(1 + z))) is None


def test_a_loss_of_probabilities_checks_its_input(tmp_path):
    """An elementwise loss whose input domain is unit holds its input to [0, 1] (a logit's is unchecked)."""
    import dataclasses
    import importlib.util

    from symact import catalog
    from symact.kernel_templates import render_template

    entry = dataclasses.replace(catalog.get("binary_cross_entropy"), name="my_bce", builtin=False)
    path = tmp_path / "my_bce.py"
    path.write_text(render_template(entry, "cmd"))
    spec = importlib.util.spec_from_file_location("my_bce", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.forward(np.array([0.5, 1.0]), np.array([1.0, 1.0]), reduction="sum") == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match=r"inputs must lie in \[0, 1\]"):
        module.forward(np.array([0.5, 1.5]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"inputs must lie in \[0, 1\]"):
        module.grad(np.array(-0.25), np.array(1.0))


def test_log_plus_square_rounds_once_where_log_v_and_the_square_cancel():
    import mpmath

    from symact.rowlib import losses

    v, y = 0.5, 0.3
    z = y + math.sqrt(-v * math.log(v))  # near a zero of (log v + (z - y)^2 / v) / 2
    plain = math.log(v) * 0.5 + 0.5 * (z - y) ** 2 / v
    with mpmath.workdps(60):
        exact = float((mpmath.log(mpmath.mpf(v)) + (mpmath.mpf(z) - mpmath.mpf(y)) ** 2 / mpmath.mpf(v)) / 2)
    assert abs(plain - exact) > 1e6 * abs(np.spacing(exact))
    assert losses._log_plus_square(v, z, y, 0.5, plain) == exact
    assert losses._log_plus_square(0.0, 1.0, 0.0, 0.5, math.inf) == math.inf  # the plain value at the limits


@pytest.mark.parametrize(
    "form, fires",
    [
        ("log(v)/2 + (z - y)**2/(2*v)", True),
        ("log(v) + (y - z)**2/v", True),
        ("log(v)/3 + (z - y)**2/(3*v)", False),
        ("log(v)/2 + (z - y)**2/(4*v)", False),
        ("log(v)/2 + (z - 2*y)**2/(2*v)", False),
        ("log(v)/2 + (z - y)**2/2", False),
    ],
)
def test_log_plus_square_fires_on_a_gaussian_nll_shape(form, fires):
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _log_plus_square_of

    v = sympy.Symbol("v", positive=True)
    expr = sympy.sympify(form, locals={"z": z, "y": label, "v": v})
    assert (_log_plus_square_of(expr) is not None) == fires


def test_a_loss_parameter_must_be_positive():
    from symact.check import load_module

    module = load_module("gaussian_nll", Path(__file__).parent.parent / "generated")
    for bad in (0.0, -1.0, np.array([1.0, -2.0])):
        with pytest.raises(ValueError, match="parameter var must be positive"):
            module.forward(np.zeros(2), np.ones(2), var=bad)
        with pytest.raises(ValueError, match="parameter var must be positive"):
            module.grad(np.zeros(2), np.ones(2), var=bad)
    assert module.forward(np.zeros(2), np.ones(2), var=np.array([1.0, 4.0]), reduction="none")[1] == pytest.approx(
        (math.log(4.0) + 0.25) / 2
    )


def test_exp_times_difference_rounds_once():
    import mpmath

    from symact.rowlib import losses

    rng = np.random.default_rng(4)
    worst = 0.0
    with mpmath.workdps(50):
        for y, z in zip(rng.uniform(-60, 60, 300), rng.uniform(-100, 100, 300)):
            got = losses._exp_times_difference(y, y, z, (y - z) * math.exp(y))
            exact = mpmath.exp(mpmath.mpf(y)) * (mpmath.mpf(y) - mpmath.mpf(z))
            worst = max(worst, float(abs(got - exact) / np.spacing(abs(float(exact)))))
    assert worst <= 0.5 + 2**-10
    assert losses._exp_times_difference(-2.5, -2.5, 1.79e308, -1.5e307) == -1.5e307  # plain near the largest
    assert math.isnan(losses._exp_times_difference(1.0, 1.0, math.nan, math.nan))


@pytest.mark.parametrize(
    "form, fires",
    [
        ("exp(y)*(y - z)", True),
        ("exp(2*y)*(z - y)", True),
        ("2*exp(y)*(y - z)", False),
        ("exp(y)*(y - 2*z)", False),
        ("exp(y)*(y - z - 1)", False),
        ("y*(y - z)", False),
    ],
)
def test_exp_times_difference_fires_on_an_exponential_times_a_difference_of_symbols(form, fires):
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _exp_times_difference_of

    expr = sympy.sympify(form, locals={"z": z, "y": label})
    assert (_exp_times_difference_of(expr) is not None) == fires


@pytest.mark.parametrize(
    "form, pair",
    [
        ("log(cosh(z - y))", ("z", "y")),
        ("log(cosh(y - z))", ("y", "z")),
        ("log(cosh(2*z - y))", None),
        ("log(cosh(z))", None),
        ("log(sinh(z - y))", None),
    ],
)
def test_log_cosh_of_a_difference_is_found_by_its_shape(form, pair):
    import sympy

    from symact.catalog.symbols import label, z
    from symact.kernel_templates import _log_cosh_of_difference

    symbols = {"z": z, "y": label}
    found = _log_cosh_of_difference(sympy.sympify(form, locals=symbols))
    if pair is None:
        assert found is None
    else:  # cosh is even: SymPy may write cosh(z - y) as cosh(y - z), and either order computes the same
        assert found is not None and set(found) == {symbols[s] for s in pair}


def test_log_cosh_difference_carries_the_residual_rounding():
    import mpmath

    from symact.rowlib import losses

    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(3000):
        b = float(rng.choice([0.0, 1.0, 0.25, -2.5, 40.0, rng.normal()]))
        a = b + float(np.exp(rng.uniform(-30, 3))) * float(rng.choice([-1.0, 1.0]))
        with mpmath.workdps(60):
            exact = mpmath.log(mpmath.cosh(mpmath.mpf(a) - mpmath.mpf(b)))
        if exact == 0:
            continue
        got = losses._log_cosh_difference(a, b, math.nan)
        worst = max(worst, float(abs(mpmath.mpf(got) - exact) / (math.ulp(float(exact)))))
    assert worst <= 1.5
    assert math.isnan(losses._log_cosh_difference(math.nan, 0.0, math.nan))
    assert losses._log_cosh_difference(math.inf, 0.0, math.inf) == math.inf
    assert losses._log_cosh_difference(1e300, -1e300, 2e300) == pytest.approx(2e300 - math.log(2))


@pytest.mark.parametrize("name", ["sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits"])
def test_the_loss_twins_give_the_serial_kernels_bits(name):
    """rowlib.losses' parallel=True twins run the serial kernels' compiled code at its address
    (rowlib.fast._address, _call_loop, _call_loop_out) on chunks: the serial kernels' bits, float32 and float64,
    a read-only input, and an output array's reference returned by the kernel released (no array kept alive)."""
    import inspect
    import sys

    import numba

    from symact.check import load_module

    m = load_module(name, "generated")
    n = 300_001
    rng = np.random.default_rng(4)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        for dtype in (np.float32, np.float64):
            z = (rng.standard_normal(n) * 20).astype(dtype)
            z[:3] = [0.0, -1e-30, 88.0]
            z.setflags(write=False)
            y = rng.random(n).astype(dtype)
            params = (1.5,) * len(
                [
                    p
                    for p in inspect.signature(m.forward).parameters.values()
                    if p.kind is p.KEYWORD_ONLY and p.name not in ("reduction", "out")
                ]
            )
            blocks = -(-n // m._FAST_MAX_N)
            serial, twin = np.empty(blocks), np.empty(blocks)
            m._loss_blocks(z, y, params, 0, blocks, blocks, serial, np.empty(m._FAST_MAX_N))
            m._loss_blocks_par(z, y, params, blocks, twin, 4)
            np.testing.assert_array_equal(twin, serial)
            np.testing.assert_array_equal(
                m._loss_fast_par(z, y, params, np.empty(n), 4), m._loss_fast(z, y, params, np.empty(n))
            )
            grad, grad_par = (
                (m._grad_fast, m._grad_fast_par) if dtype == np.float32 else (m._grad_double, m._grad_double_par)
            )
            out = np.empty(n, dtype)
            before = sys.getrefcount(out)
            result = grad_par(z, y, params, 3.0, out, 4)
            assert result is out
            del result
            assert sys.getrefcount(out) == before  # the kernels' returned views of out released
            np.testing.assert_array_equal(out, grad(z, y, params, 3.0, np.empty(n, dtype)))
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "kl_divergence", "huber", "poisson_nll"])
def test_the_generic_loss_loops_on_threads_give_the_serial_bits(name):
    """A large array's generic loss loops (_loss_each, _loss_sums, _grad_each) run on up to Numba's thread count
    of Python threads (rowlib.losses._each_loop: the serial loop on slices, whole blocks for the sums); forward
    with each reduction and grad give the bits of one thread, float32 and float64, read-only inputs and out=
    included."""
    import numba

    from symact.check import load_module

    m = load_module(name, "generated")
    n = 300_001  # above rowlib.losses._chunks' threshold, not a multiple of a block
    rng = np.random.default_rng(6)
    previous = numba.get_num_threads()
    try:
        for dtype in (np.float32, np.float64):
            low = 0.0 if getattr(m, "_INPUT_RANGE", None) else -3.0
            z = rng.uniform(low, 1.0, n).astype(dtype)
            y = rng.random(n).astype(dtype)
            z.setflags(write=False)
            results = []
            for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
                numba.set_num_threads(threads)
                out = np.empty(n, dtype)
                assert m.forward(z, y, reduction="none", out=out) is out
                results.append(
                    [
                        m.forward(z, y, reduction="none"),
                        out,
                        m.forward(z, y, reduction="mean"),
                        m.forward(z, y, reduction="sum"),
                        m.grad(z, y, reduction="mean"),
                        m.grad(z, y, reduction="none", out=np.empty(n, dtype)),
                    ]
                )
            for serial, threaded in zip(*results):
                np.testing.assert_array_equal(threaded, serial)
                assert np.asarray(threaded).dtype == dtype
    finally:
        numba.set_num_threads(previous)


_ORDER_CHILD = r"""
import sys
import numba
import numpy as np
sys.path.insert(0, sys.argv[1])
import sigmoid_cross_entropy_with_logits as m
if sys.argv[2] == "loop-first":  # the contracting float32 loop compiles _grad_scalar and the vecmath functions
    z = np.array([1.0, np.nan, 2.0], np.float32)
    m.grad(z, np.full(3, 0.5, np.float32), reduction="none")
zs = np.log(3) + np.arange(-40, 40) * 2.0**-52
call = numba.njit(lambda f, *args: f(*args))  # (callees have no wrapper for Python: rowlib.CALLEE)
print([float(call(m._grad_scalar, z, 0.75)).hex() for z in zs], float(call(m._sigmoid, 0.3)).hex())
"""


def test_a_kernels_bits_do_not_depend_on_which_caller_compiled_it_first(tmp_path):
    """Numba compiles a function once per argument types, and an option the function leaves unset comes from the
    caller that compiles it first: _grad_scalar (double-double, exact only without contraction) first compiled
    by the contracting float32 loop gave other bits (4.7501e-16 for 4.7513e-16 at z = log 3, y = 3/4).  Every
    function that such a loop calls sets its options (vecmath._HELPER, the loss templates): two fresh processes,
    one compiling through the loop first, print the same bits."""
    import shutil
    import subprocess
    import sys

    outputs = []
    for order in ("loop-first", "scalar-first"):
        folder = tmp_path / order
        folder.mkdir()
        shutil.copy(Path(__file__).resolve().parents[1] / "generated" / "sigmoid_cross_entropy_with_logits.py", folder)
        run = subprocess.run([sys.executable, "-c", _ORDER_CHILD, str(folder), order], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]


_WRAPPER_CHILD = r"""
import importlib, json, sys, types
import numpy as np
from numba.core.registry import CPUDispatcher
sys.path.insert(0, sys.argv[1])
report = {}
rng = np.random.default_rng(0)
for name in sys.argv[2:]:
    m = importlib.import_module(name)
    for n in (7, 300000):
        x = rng.standard_normal(n)
        if name == "softmax":
            x = x.reshape(-1, 100) if n > 7 else x
            m.forward(x), m.vjp(x, x), m.vjp_from_output(m.forward(x), x)
        elif name == "sigmoid":
            m.forward(x), m.derivative(x), m.vjp(x, x), m.vjp_from_output(m.forward(x), x)
        else:
            m.forward(x, rng.random(n)), m.grad(x, rng.random(n))
    python_names = set()
    for value in vars(m).values():
        if isinstance(value, types.FunctionType) and value.__globals__ is vars(m):
            python_names |= set(value.__code__.co_names)
    for key, value in vars(m).items():
        if isinstance(value, CPUDispatcher) and value.overloads:
            wrapped = [bool(c.library.get_pointer_to_function(c.fndesc.llvm_cpython_wrapper_name))
                       for c in value.overloads.values()]
            report[f"{name}.{key}"] = [all(wrapped), key in python_names]
print(json.dumps(report))
"""


def test_only_the_kernels_python_calls_get_a_wrapper_and_a_cache(tmp_path):
    """A generated module compiles a jitted function that only other jitted functions call without the wrappers
    that let Python or C call it, and does not cache it (rowlib.entry_points_only): a fresh process that ran
    every kernel (the serial and the threaded paths) has wrappers exactly on the functions its Python functions
    name, and cache files of those alone."""
    import json
    import shutil
    import subprocess
    import sys

    names = ["sigmoid", "softmax", "sigmoid_cross_entropy_with_logits"]
    for name in names:
        shutil.copy(Path(__file__).resolve().parents[1] / "generated" / f"{name}.py", tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", _WRAPPER_CHILD, str(tmp_path), *names], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for name in names:
        mine = {k: v for k, v in report.items() if k.startswith(name + ".")}
        assert any(wrapped for wrapped, _ in mine.values()) and not all(wrapped for wrapped, _ in mine.values())
    assert all(wrapped == from_python for wrapped, from_python in report.values()), report
    cached = {p.name.split("-")[0] for p in (tmp_path / "__pycache__").glob("*.nbi")}
    assert cached and cached <= {k for k, (wrapped, _) in report.items() if wrapped}


_POOL_CHILD = r"""
import sys
import numpy as np
from numba.np.ufunc import parallel
sys.path.insert(0, sys.argv[1])
import kl_divergence, softmax
rng = np.random.default_rng(0)
z, y = rng.standard_normal((400, 1000)), rng.random((400, 1000))
values = [kl_divergence.forward(z, y), kl_divergence.grad(z, y, reduction="none"), softmax.forward(z)]
print(parallel._is_initialized)
"""


def test_kernels_on_python_threads_leave_numbas_thread_pool_unstarted(tmp_path):
    """Losses and row functions on large arrays run on Python threads (rowlib.fast._on_threads), and count them
    without starting Numba's own thread pool, which they never use (numba.get_num_threads() starts it: 4 to 5 ms
    of a first call): a fresh process that ran them has not started it."""
    import shutil
    import subprocess
    import sys

    for name in ("kl_divergence", "softmax"):
        shutil.copy(Path(__file__).resolve().parents[1] / "generated" / f"{name}.py", tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", _POOL_CHILD, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


_FIRST_TRIES = [
    ("_entropy_pair_first", 2),
    ("_log_plus_first", 4),
    ("_log_plus_square_first", 4),
    ("_exp_plus_first", 3),
    ("_exp_times_difference_first", 3),
    ("_log_cosh_difference_first", 2),
]


@pytest.mark.parametrize("name,arity", _FIRST_TRIES, ids=[n for n, _ in _FIRST_TRIES])
def test_the_first_tries_of_the_compensated_losses_vectorise(name, arity):
    """Each compensated form's first try (rowlib.losses._*_first) is branch-free: a loop of it compiles to SIMD
    code, which is what makes the generic loss loops' first pass (_block_losses) fast; and it agrees with its
    compensated form wherever it has a value (nan elsewhere, where the form takes its plain value or redoes)."""
    import numba

    from symact.rowlib import losses

    first = getattr(losses, name)
    full = getattr(losses, name[: -len("_first")])
    args = ", ".join(f"a[{k}, i]" for k in range(arity))
    namespace = {"first": first}
    exec(f"def run(a, out):\n    for i in range(out.size):\n        out[i] = first({args})\n", namespace)
    run = numba.njit(error_model="numpy")(namespace["run"])
    rng = np.random.default_rng(11)
    a = rng.uniform(0.01, 0.99, (arity, 2000))
    a[:, ::7] = rng.standard_normal((arity, a[:, ::7].shape[1])) * 5.0
    a[:, 3::11] = np.array([0.0, 1.0, np.inf, -np.inf, np.nan, 1e300, -700.0, 800.0])[rng.integers(0, 8, (arity, 1))]
    out = np.empty(a.shape[1])
    run(a, out)
    asm = run.inspect_asm(run.signatures[0])
    assert len(re.findall(r"%[yz]mm", asm)) > 20, f"a loop of {name} is not vectorised"
    have = ~np.isnan(out)
    assert have.mean() > 0.5
    for i in np.flatnonzero(have):
        assert full(*a[:, i], math.nan) == out[i]


_SUSPECTS = {  # inputs where a first try has no value: its range's ends, deep cancellation, the specials
    "binary_cross_entropy": ([0.0, 1.0, 5e-324, 1.0 - 2.0**-53, 0.5], [0.0, 1.0, 0.3, 1.0, 0.5]),
    "kl_divergence": (
        [math.log(0.3), math.nextafter(math.log(0.3), 0.0), -745.0, math.inf, 1.0],
        [0.3, 0.3, 0.0, 2.0, math.inf],
    ),
    "kl_divergence_log_target": ([1.0, -1e300, 3.0, 0.0, 2.0], [700.5, -650.0, 800.0, -math.inf, 2.0]),
    "gaussian_nll": ([1e200, -1e200, 0.0, 3.0, 1.0], [-1e200, 1e200, 0.0, 3.0 + 2.0**-40, math.nan]),
    "poisson_nll": ([-650.0, 710.0, math.log(5.0), 0.0, math.inf], [1.0, 1.0, 5.0, 0.0, 1.0]),
    "log_cosh": ([1e308, -1e308, 2.0, 1.0, math.nan], [-1e308, 1e308, 0.0, 1.0 + 2.0**-30, 0.0]),
}


@pytest.mark.parametrize("name", sorted(_SUSPECTS))
def test_the_generic_loss_loops_give_the_bits_of_the_per_element_form(name):
    """The generic loops take each element's first try in one vectorised pass and redo by _loss_scalar
    (_grad_scalar) the elements it left nan (rowlib.losses._block_losses): the losses and gradients of every
    element, reduction none, float32 and float64, are the per-element form's (its ufunc's) bits, at random
    points and where the first try has no value."""
    import inspect

    from symact.check import load_module

    m = load_module(name, "generated")
    params = [p.default for p in inspect.signature(m.forward).parameters.values() if p.name not in ("reduction", "out")]
    params = [p for p in params if p is not inspect.Parameter.empty]
    rng = np.random.default_rng(8)
    n = 9000
    unit = getattr(m, "_INPUT_RANGE", None) is not None
    z = rng.random(n) if unit else rng.standard_normal(n) * 4.0
    y = rng.random(n) if getattr(m, "_LABEL_RANGE", None) is not None else rng.standard_normal(n) * 4.0
    sz, sy = _SUSPECTS[name]
    z[: len(sz) * 100], y[: len(sy) * 100] = np.repeat(sz, 100), np.repeat(sy, 100)
    for dtype in (np.float32, np.float64):
        with np.errstate(all="ignore"):
            zd, yd = z.astype(dtype), y.astype(dtype)
            wide = (zd.astype(np.float64), yd.astype(np.float64), *params)
            np.testing.assert_array_equal(m.forward(zd, yd, reduction="none"), m._loss_ufunc(*wide).astype(dtype))
            np.testing.assert_array_equal(m.grad(zd, yd, reduction="none"), m._grad_ufunc(*wide).astype(dtype))


def test_the_logistic_residuals_are_right_on_both_sides_of_the_simd_range():
    """logistic_nll's gradient takes sigma(theta) - y for |theta| <= 600 in one SIMD loop (rowlib.logistic
    ._residual, exp by dd._vexp_dd) and beyond by _residual_far (exp scaled by ldexp, sigma at +-inf): db of a
    single row is sigma(theta) - y within an ulp on both sides of 600, tiny residuals included (exp(-700)), and
    dw of many rows is the compensated sum the row-by-row loop gives (mpmath over every row)."""
    import mpmath

    from symact.check import load_module

    m = load_module("logistic_nll", "generated")
    w = np.array([1.0, 0.0])
    for t in (-800.0, -700.0, -600.5, -599.5, -30.0, -1e-20, 0.0, 3.0, 36.0, 599.5, 600.5, 700.0, 1e300):
        for y in (0.0, 1.0, 0.3):
            dw, db = m.grad(w, 0.0, np.array([[t, 1.0]]), np.array([y]))
            with mpmath.workdps(60):
                if t >= 0:  # (1 - y) - sigma(-t): no cancellation in 1 - sigma(-t) for mpmath to lose
                    exact = (1 - mpmath.mpf(y)) - 1 / (1 + mpmath.exp(mpmath.mpf(t)))
                else:
                    exact = 1 / (1 + mpmath.exp(-mpmath.mpf(t))) - mpmath.mpf(y)
            if exact == 0:
                assert db == 0.0
                continue
            assert abs(mpmath.mpf(float(db)) - exact) <= math.ulp(float(exact)), (t, y, db, exact)
            assert dw[1] == db
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 5)) * rng.choice([1.0, 100.0, 300.0], (3000, 1))
    w, y = rng.standard_normal(5), (rng.random(3000) > 0.5).astype(float)
    dw, db = m.grad(w, 0.25, X, y)
    with mpmath.workdps(80):
        thetas = [mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(b) for a, b in zip(row, w)) + mpmath.mpf(0.25) for row in X]
        residuals = [1 / (1 + mpmath.exp(-t)) - mpmath.mpf(v) for t, v in zip(thetas, y)]
        for j in range(5):
            exact = mpmath.fsum(r * mpmath.mpf(x) for r, x in zip(residuals, X[:, j]))
            assert abs(mpmath.mpf(float(dw[j])) - exact) <= math.ulp(float(exact)), j
        exact = mpmath.fsum(residuals)
        assert abs(mpmath.mpf(float(db)) - exact) <= math.ulp(float(exact))
