"""The accuracy net of float64 kernels: the kernel library's double-double functions (``_ddx_*``), the printer that
computes a compute form on pairs (symact.dd_printer), and the generator's use of it where a plain float64 kernel,
measured, misses its bound."""

import math
import random

import mpmath
import numba
import numpy as np
import pytest
import sympy
from sympy import Rational
from sympy.codegen.cfunctions import expm1, log1p

import symact.kernel_lib as lib
import symact.vecmath as vecmath
from symact.catalog.symbols import x
from symact.dd_printer import DoubleDoubleUnsupported, dd_function
from symact.functions import sigmoid, softplus
from symact.rewrites import to_plain

_RNG = np.random.default_rng(20261207)
_POINTS = np.concatenate(
    [
        _RNG.uniform(-6, 6, 300),
        10.0 ** _RNG.uniform(-300, 2.6, 300) * _RNG.choice([-1.0, 1.0], 300),
        _RNG.uniform(-0.4, 0.4, 200),
    ]
)


def _relative(pair, exact) -> float:
    """|h + lo - exact| / |exact| in units of 2**-53."""
    with mpmath.workdps(60):
        if exact == 0:
            return 0.0 if pair[0] + pair[1] == 0 else math.inf
        return float(abs((mpmath.mpf(pair[0]) + mpmath.mpf(pair[1]) - exact) / exact)) * 2.0**53


_FUNCTIONS = [
    ("exp", lambda h: lib._ddx_exp(h, 0.0), mpmath.exp, lambda v: v < 700),
    ("expm1", lambda h: lib._ddx_expm1(h, 0.0), mpmath.expm1, lambda v: v < 700),
    ("log", lambda h: lib._ddx_log(abs(h), 0.0), lambda v: mpmath.log(abs(v)), lambda v: v != 0),
    ("log1p", lambda h: lib._ddx_log1p(abs(h), 0.0), lambda v: mpmath.log1p(abs(v)), lambda v: True),
    ("tanh", lambda h: lib._ddx_tanh(h, 0.0), mpmath.tanh, lambda v: True),
    ("sigmoid", lambda h: lib._ddx_sigmoid(h, 0.0), lambda v: 1 / (1 + mpmath.exp(-v)), lambda v: v > -600),
    ("softplus", lambda h: lib._ddx_softplus(h, 0.0), lambda v: mpmath.log1p(mpmath.exp(v)), lambda v: v > -600),
    ("sqrt", lambda h: lib._ddx_sqrt(abs(h), 0.0), lambda v: mpmath.sqrt(abs(v)), lambda v: True),
]


@pytest.mark.parametrize("name, fn, exact, inside", _FUNCTIONS, ids=[f[0] for f in _FUNCTIONS])
def test_double_double_functions_are_good_to_a_few_bits_past_float64(name, fn, exact, inside):
    """Each _ddx_ function within 2**-56 relative (1/8 of a float64 ulp) over its range: log1p of a tiny argument
    (its r^2 term), softplus far left and tanh near 0 (expm1, not exp - 1) included."""
    compiled = numba.njit(fn)
    worst = 0.0
    for v in _POINTS:
        if inside(v):
            with mpmath.workdps(60):
                worst = max(worst, _relative(compiled(float(v)), exact(mpmath.mpf(float(v)))))
    assert worst < 0.125, (name, worst)


def test_double_double_functions_pass_their_low_part_on():
    """exp(h + lo) is not exp(h): the low part of the argument moves the result by exp'(h) lo."""
    h, lo = 1.0, 1e-17
    with mpmath.workdps(60):
        want = mpmath.exp(mpmath.mpf(h) + mpmath.mpf(lo))
    assert _relative(lib._ddx_exp(h, lo), want) < 0.01
    assert _relative(lib._ddx_exp(h, 0.0), want) > 0.01


def test_a_pair_that_overflows_keeps_the_plain_value():
    value = lib._ddx_value
    assert value(math.inf, math.nan, 3.0) == 3.0
    assert value(1.0, 2.0**-60, 3.0) == 1.0


def _compile(expr, tmp_name="f"):
    namespace = {**vars(vecmath), **vars(lib), "numba": numba, "math": math, "np": np}
    exec(dd_function(tmp_name, expr, x, "@numba.njit"), namespace)  # the printer's output, as a module holds it
    return namespace[tmp_name]


def _ulps(value: float, exact) -> float:
    with mpmath.workdps(60):
        if not mpmath.isfinite(exact) or abs(exact) > 1e300 or abs(exact) < 1e-290:
            return 0.0
        spacing = 2.0 ** (math.frexp(float(exact))[1] - 53)
        return float(abs(mpmath.mpf(value) - exact)) / spacing


def _random_expression(rng, depth: int) -> sympy.Expr:
    """A random expression in x from the functions with double-double forms (and erf, a plain leaf), real for
    every real x."""
    if depth == 0 or rng.random() < 0.2:
        c = Rational(rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 3, 4, 10])) * rng.choice([1, -1])
        return rng.choice([x, x + c, c * x, x * sympy.pi / 7, x / sympy.sqrt(2)])
    a = _random_expression(rng, depth - 1)
    unary = [
        lambda: sympy.exp(-sympy.Abs(a)),
        lambda: log1p(sympy.Abs(a)),
        lambda: sympy.log(a**2 + 1),
        lambda: sympy.sqrt(a**2 + 2),
        lambda: sympy.tanh(a),
        lambda: sigmoid(a),
        lambda: softplus(a),
        lambda: expm1(-sympy.Abs(a)),
        lambda: sympy.erf(a),
        lambda: a**3,
        lambda: 1 / (2 + a**2),
    ]
    k = rng.randrange(len(unary) + 4)
    if k < len(unary):
        return unary[k]()
    b = _random_expression(rng, depth - 1)
    return [a * b, a / (1 + b**2), rng.choice([sympy.Max, sympy.Min])(a, b), a + b][k - len(unary)]


def test_random_forms_in_double_double_round_once():
    """Forty random forms printed in double-double, compiled and compared with mpmath: within 1 ulp where their
    plain float64 evaluation (SymPy's lambdify in NumPy) is within 8, and never worse than an eighth of the plain
    error beyond (a sum that cancels amplifies the pairs' 2**-60 too)."""
    rng = random.Random(11)
    seen = []
    plain_worst = dd_worst = 0.0
    while len(seen) < 40:
        expr = _random_expression(rng, 3)
        if not expr.has(x) or expr in seen:
            continue
        seen.append(expr)
        f = _compile(expr)
        plain = sympy.lambdify(x, to_plain(expr), "numpy")
        for point in (-2.3, -0.7, 0.4, 1.9, 7.5):
            with mpmath.workdps(60):
                exact = mpmath.mpf(sympy.N(to_plain(expr).subs(x, Rational(point)), 60))
            with np.errstate(all="ignore"):
                p = _ulps(float(plain(np.float64(point))), exact)
            d = _ulps(float(f(point, math.nan)), exact)
            plain_worst, dd_worst = max(plain_worst, p), max(dd_worst, d)
            assert d <= max(1.0, p / 8), (expr, point, d, p)
    assert plain_worst > 2.0  # the family is one where plain float64 misses: the test can tell the two apart


def test_unsupported_forms_are_refused():
    with pytest.raises(DoubleDoubleUnsupported):
        dd_function("f", x * sympy.Symbol("alpha"), x, "")


def test_the_generator_computes_a_compounding_form_in_double_double(tmp_path):
    """sigma(x)^2 squares sigma's rounding: 2.09 ulp in plain float64.  The generator measures that, prints the
    forward in double-double, and the kernel rounds once; the same happens however the form is spelled."""
    from symact.check import check_entry
    from symact.derive import user_entry
    from symact.emit import emit, render

    entry = user_entry("sigma_squared", 1 / (1 + sympy.exp(-x)) ** 2)
    text = render(entry, "test")
    emit({"sigma_squared.py": text}, tmp_path, complete=False)
    assert "def _forward_dd(x, plain):" in text and "_forward_dd(x, r)" in text
    results = {(r.kernel, r.dtype): r for r in check_entry(entry, tmp_path, size="small")}
    assert all(r.passed for r in results.values()), [r for r in results.values() if not r.passed]
    assert results[("forward", "float64")].max_ulp <= 0.6
