"""The kernel printer: scalar math.* code that Numba compiles, strict about what it cannot print."""

import importlib.util
import itertools

import numpy as np
import pytest
import sympy
from sympy import Piecewise, Rational, exp, tanh
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from symact.catalog.symbols import x, y
from symact.functions import sigmoid, softplus
from symact.printer import kernel_code

_counter = itertools.count()


def compile_expr(expr, tmp_path):
    """Write the printed expression into a module file, import it by path and njit it."""
    source = (
        "import math\n\nimport numba\n\n\n@numba.njit\ndef _sigmoid(v):\n    return 1.0 / (1.0 + math.exp(-v))\n\n\n"
        f"@numba.njit\ndef f(x):\n    return {kernel_code(expr)}\n"
    )
    path = tmp_path / f"printed_{next(_counter)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def test_piecewise_is_a_conditional_expression(tmp_path):
    code = kernel_code(Piecewise((x, x > 0), (Rational(1, 100) * x, True)))
    assert "if" in code and "else" in code and "select" not in code
    f = compile_expr(Piecewise((x, x > 0), (Rational(1, 100) * x, True)), tmp_path)
    assert f(2.0) == 2.0 and f(-2.0) == -0.02


def test_numbers_are_float_literals():
    assert kernel_code(x / 3) == "x*0.3333333333333333"
    assert "1/100" not in kernel_code(Rational(1, 100) * x)


def test_small_powers_are_products_in_parentheses(tmp_path):
    expr = x / (x + 1) ** 3
    assert compile_expr(expr, tmp_path)(2.0) == pytest.approx(2.0 / 27.0, rel=1e-15)


def test_coefficient_is_multiplied_last_so_that_nothing_overflows_first(tmp_path):
    f = compile_expr(4 * x * sigmoid(-2 * x), tmp_path)
    assert f(1e308) == 0.0  # 4 * 1e308 would overflow before the sigmoid's 0


def test_named_functions_become_helper_calls():
    assert kernel_code(sigmoid(x) * tanh(x)) == "math.tanh(x)*_sigmoid(x)"


def test_unknown_functions_fail_loudly():
    with pytest.raises(PrintMethodNotImplementedError):
        kernel_code(sympy.Function("mystery")(x))
    with pytest.raises(PrintMethodNotImplementedError):
        kernel_code(sympy.besselj(0, x) * exp(x))


def test_constant_subexpressions_fold_to_correctly_rounded_literals():
    import mpmath
    from sympy import pi, sqrt

    from symact.printer import correctly_rounded, kernel_code

    code = kernel_code(sqrt(2) * x * sympy.exp(-(x**2) / 2) / (2 * sqrt(pi)))
    assert "sqrt" not in code and "pi" not in code
    with mpmath.workdps(60):
        want = float(mpmath.mpf(1) / mpmath.sqrt(2 * mpmath.pi))
    assert repr(want) in code
    # round to nearest, not toward zero (mpmath's to_float default)
    assert correctly_rounded(sympy.Rational(2, 3)) == 2 / 3
    assert correctly_rounded(sympy.Rational(1, 3), 24) == float(np.float32(1 / 3))


def test_a_constant_added_to_a_variable_is_split_into_exact_words():
    from symact.printer import AddConstant, fold_constants

    c = sympy.Rational("1.0507009873554804934193349852946") * sympy.Rational("1.6732632423543772848170429916717")
    folded = fold_constants(y + c)
    assert isinstance(folded, AddConstant)
    _, hi, mid, lo = folded.args
    assert float(np.float32(float(hi))) == float(hi)  # exact in float32 and float64
    assert abs(
        sympy.Rational(float(hi)) + sympy.Rational(float(mid)) + sympy.Rational(float(lo)) - c
    ) < c * sympy.Rational(1, 2**120)
    # at y = -fl64(c), y + c is c - fl64(c); one float64 constant would give 0
    y0 = -float(c)
    got = ((y0 + float(hi)) + float(mid)) + float(lo)
    assert abs(got - float(c - sympy.Rational(float(c)))) <= abs(got) * 2**-52
    assert fold_constants(y + 1) == y + 1  # exact constants are left as they are


def test_sign_and_max_print_as_selects_in_vectorised_code():
    from symact.printer import kernel_code

    assert kernel_code(sympy.sign(x), vec=True) == "select(x > 0.0, 1.0, select(x < 0.0, -1.0, x))"
    assert kernel_code(sympy.Max(x, 0), vec=True) == "select(0.0 >= x, 0.0, x)"
    assert "if" not in kernel_code(sympy.sign(x) * sympy.Max(x, 1), vec=True)
    assert kernel_code((1 + abs(x)) ** -2) == "((1.0/(abs(x) + 1.0))*(1.0/(abs(x) + 1.0)))"


def test_root_of_a_square_plus_a_constant_prints_as_hypot():
    # sqrt(x^2 + 4): x*x overflows for |x| > 1.3e154 (float32: 1.8e19); hypot(x, 2) does not
    assert kernel_code(sympy.sqrt(x**2 + 4)) == "math.hypot(x, 2.0)"
    assert kernel_code(sympy.sqrt(x**2 + 2)) == f"math.hypot(x, {2**0.5!r})"
    assert kernel_code(1 / sympy.sqrt(x**2 + 4)) == "1.0/math.hypot(x, 2.0)"  # 1/sqrt(x*x + 4) is 0 at 1e155


def test_squareplus_stable_form_is_finite_and_right_over_the_whole_range(tmp_path):
    from symact.rewrites import stabilise

    f = compile_expr(stabilise((x + sympy.sqrt(x**2 + 4)) / 2), tmp_path)
    assert f(1.79e308) == 1.79e308  # |x| + sqrt(x^2 + 4) overflows here; |x|/2 + sqrt(x^2 + 4)/2 does not
    assert f(-1.79e308) == pytest.approx(1 / 1.79e308, rel=1e-15)
    assert f(-1e155) == pytest.approx(1e-155, rel=1e-15)
    assert f(-1e4) == pytest.approx(1 / (0.5e4 + (1e8 + 4) ** 0.5 / 2), rel=1e-15)


def test_a_product_of_denominators_is_divided_out_one_by_one(tmp_path):
    # 1/(s h) with s = h = 1e155 overflows to 0 where the truth, 1e-310, is a subnormal
    s, h = sympy.sqrt(x**2 + 4), abs(x) + 1
    f = compile_expr(1 / (s * h), tmp_path)
    assert f(-1e155) == pytest.approx(1e-310, rel=1e-12)


def test_erfc_of_a_scaled_argument_corrects_the_rounding_of_the_argument():
    # erfc's condition number is about 2 w^2: w = fl(x / sqrt(2)) alone cost 500 ulp at w = 19
    import math
    from fractions import Fraction

    import mpmath

    code = kernel_code(sympy.erfc(x / sympy.sqrt(2)), vec=True, typed="x")
    assert "fma(" in code and "select(_is32(x)" in code
    from symact.printer import ErfcScaled, fold_constants

    folded = fold_constants(sympy.erfc(x / sympy.sqrt(2)))
    assert isinstance(folded, ErfcScaled)
    hi64, lo64 = float(folded.args[3]), float(folded.args[4])
    x0 = 27.0
    w = x0 * hi64
    d = float(Fraction(x0) * Fraction(hi64) - Fraction(w)) + x0 * lo64  # what fma gives: the exact residual
    got = math.erfc(w) * (1 - 2 * w * d)
    with mpmath.workdps(40):
        want = float(mpmath.erfc(mpmath.mpf(x0) / mpmath.sqrt(2)))
    assert abs(got - want) <= 4 * abs(want) * 2**-52


def test_exp_of_a_square_recovers_the_rounding_of_the_square():
    # exp's condition number is |c w^2|: the rounding of x*x alone cost 70 ulp in gelu' at x = -27
    from symact.printer import ExpOfSquare, fold_constants

    assert fold_constants(sympy.exp(-(x**2) / 2)) == ExpOfSquare(x, Rational(-1, 2))
    code = kernel_code(sympy.exp(-(x**2) / 2), vec=True, typed="x")
    assert code.count("fma(") == 2 and "vexp(" in code
    # 1/3 is not exact: no ExpOfSquare, but the general correction of a computed argument (below)
    assert "_plus_finite(vexp(" in kernel_code(sympy.exp(-(x**2) / 3), vec=True)


@pytest.mark.parametrize(
    ("expr", "root"),
    [(x / 6 + Rational(1, 2), -3), (-x / 3 + 1, 3), (x * Rational(2, 5) - Rational(3, 10), Rational(3, 4))],
)
def test_a_linear_form_is_printed_by_its_root_and_keeps_its_digits_there(expr, root, tmp_path):
    """a x + b printed as (x + b/a) a (or /d): no cancellation near the root -b/a, where a x + b rounded
    a x first and lost every digit (hard sigmoid x/6 + 1/2 at x = -3 + 2**-40)."""
    import mpmath

    f = compile_expr(expr, tmp_path)
    for offset in (2.0**-40, -(2.0**-30), 2.0**-52 * 4):
        point = float(root) + offset
        want = expr.subs(x, sympy.Rational(point))
        got = f(point)
        assert abs(got - float(want)) <= abs(float(want)) * 2**-51, (point, got, float(want))
    assert kernel_code(x / 6 + Rational(1, 2)) == "((x + 3.0)/6.0)"  # one operand, whatever surrounds it
    assert "6.0" in kernel_code(x * (x + 3) / 6) and "0.1666" not in kernel_code(x * (x + 3) / 6)
    assert kernel_code(x / 2 + 1) == "((x + 2.0)/2.0)"  # the same as *0.5 (LLVM multiplies by an exact reciprocal)
    assert kernel_code(-x / 3 + 1) == "(-(x + -3.0)/3.0)"
    del mpmath


def test_a_linear_form_whose_root_no_float_holds_is_printed_as_it_is():
    assert "(x + " not in kernel_code(x / 3 + Rational(1, 7))  # root -3/7: rounding it would move the root


def _kernel(code: str):
    """An njit function of x computing the printed vectorised ``code``, with the kernel library in scope."""
    import numba

    import symact.kernel_lib as lib

    namespace = dict(vars(lib))
    exec(f"def f(x):\n    return {code}\n", namespace)  # generated code, as a generated module holds it
    return numba.njit(namespace["f"])


@pytest.mark.parametrize(
    ("outer", "amplifies"),
    [
        (sympy.exp, True),
        (sigmoid, True),
        (sympy.erfc, True),
        (sympy.tanh, False),
        (sympy.erf, False),
        (lambda w: sympy.sqrt(w**2 + 1), False),
    ],
)
def test_amplification_of_an_arguments_rounding_is_measured(outer, amplifies):
    from symact.printer import ARGUMENT, amplifies_rounding

    assert amplifies_rounding(outer(ARGUMENT)) is amplifies


def test_the_rounding_error_of_a_computed_argument_is_tracked_to_first_order():
    """value + error equals the exact argument to far below an ulp: products by FMA, sums by TwoSum, the part
    of each constant its literal does not hold; products of the variable with parameters are not tracked."""
    from fractions import Fraction

    from symact.printer import KernelPrinter, fold_constants

    c = Rational(1595769121605731, 10**15)
    argument = c * (x + Rational(44715, 10**6) * x**3)
    value, error = KernelPrinter({"vec": True, "typed": "x"})._with_error(fold_constants(argument))
    f = _kernel(f"({value}, {error})")
    for point in (-3.7, -0.3, 1.1, 5.9, 27.25):
        v, e = f(point)
        exact = c * (Fraction(point) + Fraction(44715, 10**6) * Fraction(point) ** 3)
        exact = Fraction(exact.p, exact.q)
        assert abs(Fraction(v) + Fraction(e) - exact) <= abs(exact) * Fraction(1, 2**100), point
        assert abs(Fraction(v) - exact) > 0  # the plain value does round
    beta = sympy.Symbol("beta", real=True)
    assert KernelPrinter({"vec": True, "typed": "x"})._with_error(beta * x)[1] is None
    assert KernelPrinter({"vec": True, "typed": "x"})._with_error(-x)[1] is None  # exact


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigma_of_a_scaled_argument_is_corrected_for_the_arguments_rounding(dtype):
    """x sigma(1.702 x): the rounding of 1.702 x alone cost 35 ulp at x = -47 (sigma's condition number |w|)."""
    import mpmath

    from symact.ulp import ulp_error

    c = Rational(851, 500)
    code = kernel_code(x * sigmoid(c * x), vec=True, typed="x")
    assert "_mul_sigmoid_at(" in code
    f = _kernel(code)
    plain = _kernel("_mul_sigmoid(x, x*_lit(1.702, x))")
    worst = worst_plain = 0.0
    for point in np.linspace(-60.0 if dtype is np.float32 else -400.0, 5.0, 997).astype(dtype):  # normal results
        with mpmath.workdps(60):
            p = mpmath.mpf(float(point))
            want = p / (1 + mpmath.exp(-mpmath.mpf(851) / 500 * p))
        worst = max(worst, ulp_error(f(point), want, dtype)[0])
        worst_plain = max(worst_plain, ulp_error(plain(point), want, dtype)[0])
    assert worst <= 2.0 < 8.0 < worst_plain  # what the correction is for
    assert np.isnan(f(dtype(np.nan))) and f(dtype(np.inf)) == np.inf  # the correction dropped where it is nan


def test_softplus_in_an_amplified_argument_brings_its_own_rounding_error():
    """sigma(-2 softplus(x)) (tanh(softplus(x))' through sech^2 = 4 sigma(2w) sigma(-2w)) amplifies softplus's
    rounding 2 softplus(x) times: the argument's error is softplus's own (TwoSum of its last sum) times -2."""
    from symact.functions import softplus

    code = kernel_code(sigmoid(-2 * softplus(x)), vec=True, typed="x")
    assert "_mul_sigmoid_at(" in code and "_softplus_parts(x)[1]" in code
    assert "_softplus_parts" not in kernel_code(sympy.tanh(softplus(x)), vec=True, typed="x")  # no amplification


@pytest.mark.parametrize(
    "expr",
    [
        sympy.exp(-((x - 1) ** 2) / 2),  # its square was printed x + -1.0*x + -1.0: exp(1/2) everywhere
        sympy.exp(-((2 * x + 3) ** 2)),
        x * sympy.exp(-((x + Rational(1, 4)) ** 2)),
        sympy.erfc((x + 1) / sympy.sqrt(2)),  # erfc(c w) with c split in two words: w a sum
        sympy.erfc(-(x - 2) / sympy.sqrt(2)) * x,
    ],
)
def test_a_helper_printed_around_a_sum_keeps_the_sum_one_operand(expr):
    """The printers of exp(c w^2) and erfc(c w) interpolate w into products: a w that is a sum must stay one
    operand there, in the vectorised and the plain code alike."""
    import math

    import mpmath
    import numba
    import numpy as np

    import symact.kernel_lib as lib
    import symact.vecmath as vecmath

    namespace = {**vars(vecmath), **vars(lib)}
    exec(f"def f(x):\n    return {kernel_code(expr, vec=True, typed='x')}\n", namespace)
    vectorised = numba.njit(namespace["f"])
    plain = kernel_code(expr)
    for point in (-3.5, -0.75, 0.0, 0.4, 1.0, 2.5, 6.0):
        want = float(mpmath.mpf(sympy.N(expr.subs(x, sympy.Rational(point)), 30)))
        assert math.isclose(vectorised(np.float64(point)), want, rel_tol=1e-14, abs_tol=1e-300), (point, want)
        got = eval(plain, {"math": math, "x": point})  # the printer's own output, as a module holds it
        assert math.isclose(got, want, rel_tol=1e-13, abs_tol=1e-300), (point, want)


def _random_expression(rng, depth: int) -> sympy.Expr:
    """A random expression in x of the kinds the printer treats specially (linear forms by their roots, exp(c w^2),
    erfc(c w), named functions, squares, quotients, Max/Min), nested ``depth`` deep, real for every real x."""
    if depth == 0 or rng.random() < 0.25:
        c = Rational(rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 2, 3, 4, 10])) * rng.choice([1, -1])
        return rng.choice([x, x + c, c * x, c * x + Rational(1, 2), x - c])
    a = _random_expression(rng, depth - 1)
    unary = [
        lambda: sympy.exp(a / 4),
        lambda: sympy.log(sympy.Abs(a) + 1),
        lambda: sympy.sqrt(a**2 + rng.choice([1, 2, 4])),
        lambda: sympy.tanh(a),
        lambda: sympy.erf(a),
        lambda: sympy.erfc(a / sympy.sqrt(2)),
        lambda: sigmoid(a),
        lambda: softplus(a),
        lambda: sympy.Abs(a),
        lambda: a**2,
        lambda: 1 / (1 + a**2),
        lambda: sympy.exp(-(a**2) / 2),
    ]
    k = rng.randrange(len(unary) + 5)
    if k < len(unary):
        return unary[k]()
    b = _random_expression(rng, depth - 1)
    return [a + b, a - b, a * b, a / (1 + b**2), rng.choice([sympy.Max, sympy.Min])(a, b)][k - len(unary)]


def test_random_expressions_print_to_code_that_computes_them():
    """Forty random expressions, printed vectorised as a generated module holds them, compiled and evaluated
    against SymPy: a printer that interpolates a sum into a product without parentheses gives O(1) errors
    (three of sixty such expressions were wrong before e2a85d4), not rounding-level ones."""
    import math
    import random

    import numba

    import symact.kernel_lib as lib
    import symact.vecmath as vecmath
    from symact.rewrites import to_plain

    rng = random.Random(7)
    namespace = {**vars(vecmath), **vars(lib)}
    seen = []
    while len(seen) < 40:
        expr = _random_expression(rng, 3)
        if not expr.has(x) or expr in seen:
            continue
        seen.append(expr)
        code = kernel_code(expr, vec=True, typed="x")
        exec(f"def f(x):\n    return {code}\n", namespace)  # generated code, as a generated module holds it
        f = numba.njit(namespace["f"])
        for point in (-2.3, -0.7, 0.4, 1.9):
            want = complex(sympy.N(to_plain(expr).subs(x, Rational(point)), 30))
            if want.imag == 0 and math.isfinite(want.real) and abs(want.real) < 1e200:
                got = float(f(np.float64(point)))
                assert math.isclose(got, want.real, rel_tol=1e-6, abs_tol=1e-9), (expr, point, got, code)


def test_sqrt_of_a_square_plus_an_inexact_constant_stays_a_hypot():
    """sqrt(x^2 + 1e-6) (a smooth |x|): 1e-6 is no float32, and its folded three-word sum hid the square plus a
    constant from the hypot printer, so x^2 overflowed past 1e154 (inf, and 4.5e15 ulp for the derivative)."""
    c = Rational(1, 10**6)
    assert kernel_code(sympy.sqrt(x**2 + c), vec=True, typed="x") == "math.hypot(x, _lit(0.001, x))"
    assert "hypot" in kernel_code(x / sympy.sqrt(x**2 + c), vec=True, typed="x")


def test_a_product_with_erfc_scales_inside_erfc():
    """m erfc(w) prints as kernel_lib._mul_erfc(m, w) (a subnormal erfc(w) keeps its digits); a constant m does not
    need it (-erfc(w) is exact)."""
    assert kernel_code(x * sympy.erfc(x), vec=True, typed="x") == "_mul_erfc(x, x, _lit(0.0, x))"
    assert "_mul_erfc" not in kernel_code(2 - sympy.erfc(x), vec=True, typed="x")
