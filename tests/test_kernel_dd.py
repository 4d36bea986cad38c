"""The branch-free double-double forms of symact.kernel_dd: their source is straight-line code, and mish's
forms keep their bounds where the grid of symact check is thin (near the zero of mish', subnormal results)."""

import ast

import mpmath
import numpy as np
import pytest

from symact.check import load_module
from symact.kernel_dd import PATCH_RADIUS, VEC_DD_FORMS
from symact.vecmath import vecmath_source


@pytest.mark.parametrize("name", sorted(VEC_DD_FORMS))
def test_forms_are_inlined_straight_line_code(name):
    source, forward, derivative, names = VEC_DD_FORMS[name]
    tree = ast.parse(source)
    defined = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert {forward, derivative} - {None} <= defined
    for function in tree.body:
        assert isinstance(function, ast.FunctionDef)
        assert ast.unparse(function.decorator_list[0]) == "numba.njit(inline='always')"
        for node in ast.walk(function):
            assert not isinstance(node, (ast.If, ast.IfExp, ast.For, ast.While, ast.BoolOp)), ast.unparse(node)
            if isinstance(node, ast.Attribute):
                assert not (isinstance(node.value, ast.Name) and node.value.id == "math"), ast.unparse(node)
    pasted = vecmath_source(names, imports=False)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert all(f"def {c}(" in pasted for c in called - defined - {"abs"})


def _mish(x):
    x = mpmath.mpf(x)
    e = mpmath.exp(x)
    t = mpmath.tanh(mpmath.log1p(e))
    return x * t, t + x * (1 - t**2) * e / (1 + e)


def _ulps(got, exact):
    return float(abs(mpmath.mpf(float(got)) - exact)) / np.spacing(abs(float(exact)))


def test_mish_near_the_zero_of_its_derivative_and_at_the_patch_edge():
    module = load_module("mish", "generated")
    u0 = -1.1924312145154952
    rng = np.random.default_rng(6)
    radius = PATCH_RADIUS["mish"]
    xs = np.concatenate(
        [
            u0 + rng.uniform(-4 * radius, 4 * radius, 300),
            u0 + radius * rng.uniform(0.98, 1.02, 100) * rng.choice([-1, 1], 100),
            u0 + np.exp(rng.uniform(-35, -3, 100)) * rng.choice([-1, 1], 100),
        ]
    )
    forward, derivative = module.forward(xs), module.derivative(xs)
    with mpmath.workdps(40):
        for x, f, d in zip(xs, forward, derivative):
            exact_f, exact_d = _mish(x)
            assert _ulps(f, exact_f) <= 2 and _ulps(d, exact_d) <= 4, x


def test_mish_tails_and_subnormal_results():
    module = load_module("mish", "generated")
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.uniform(-760, -700, 200), rng.uniform(-60, -20, 100), rng.uniform(15, 45, 100)])
    forward, derivative = module.forward(xs), module.derivative(xs)
    with mpmath.workdps(40):
        for x, f, d in zip(xs, forward, derivative):
            exact_f, exact_d = _mish(x)
            assert _ulps(f, exact_f) <= 2 and _ulps(d, exact_d) <= 4, x
    assert np.signbit(module.forward(np.array([-0.0, -1e6]))).all()
