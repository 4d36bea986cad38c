"""The kernel printer: scalar math.* code that Numba compiles, strict about what it cannot print."""

import importlib.util
import itertools

import pytest
import sympy
from sympy import Piecewise, Rational, exp, tanh
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from symact.catalog.symbols import x
from symact.functions import sigmoid
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
