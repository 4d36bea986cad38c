"""symact.vecmath: ULP error against mpmath over the whole float range, special values, vectorisation, and
the emitted source working on its own."""

from __future__ import annotations

import ast
import importlib.util
import math
import re

import mpmath
import numpy as np
import pytest
from numba import njit

from symact import vecmath as vm
from symact.ulp import float_grid, reference, ulp_error


def _erf_ref(v):
    return mpmath.erf(v) if abs(v) < 40 else mpmath.sign(v) * (1 - mpmath.erfc(40))


def _erfc_ref(v):  # mpmath's erfc fails on huge arguments; erfc(40) is far below the smallest subnormal
    return mpmath.erfc(v) if abs(v) < 40 else (mpmath.erfc(40) if v > 0 else mpmath.mpf(2))


#: generic name -> (reference, points where the implementation switches form or the result is extreme)
REFERENCES = {
    "vexp": (mpmath.exp, [709.782712893384, -708.39641853226, -745.1332191019411, 88.72283, -103.97208, 0.3465]),
    "vexpm1": (mpmath.expm1, [709.782712893384, 0.3465, -0.3465, 1e-8, -38.0, 88.72283, -17.33, 5.9e-8]),
    "vlog": (lambda v: mpmath.log(v) if v > 0 else (-mpmath.inf if v == 0 else mpmath.nan), [0.7071, 1.4142]),
    "vlog1p": (
        lambda v: mpmath.log1p(v) if v > -1 else (-mpmath.inf if v == -1 else mpmath.nan),
        [-0.2929, 0.4142, 2.0, -1.0, 1e-8],
    ),
    "vtanh": (mpmath.tanh, [0.55, -0.55, 20.0, 1e-8, 0.75, -0.75, 0.7499999, 9.01, 9.5]),
    "verf": (_erf_ref, [0.5, -0.5, 2.5, -2.5, 5.9]),
    "verfc": (_erfc_ref, [0.5, -0.5, 2.5, 26.5, 27.2, 27.5]),
    "vexp_shifted": (lambda v: mpmath.exp(v) * mpmath.mpf(2) ** 64, [-148.0, -147.9, -64.0, 44.3, 645.0]),
    "vsigmoid": (lambda v: 1 / (1 + mpmath.exp(-v)), [-745.0, -103.0, 36.0]),
    "vsoftplus": (lambda v: mpmath.log1p(mpmath.exp(v)), [-745.0, 37.0, 710.0]),
}
#: the bound the tests hold the functions to (float64, float32), in ulp of the result's dtype
BOUND = {np.float64: 2.0, np.float32: 2.0}
DTYPES = [np.float64, np.float32]


@njit(inline="always")
def _shifted_f32(x):
    return vm.exp_shifted_f32(x, True)  # the shifted case; unshifted, it is exp_f32


@njit(inline="always")
def _shifted_f64(x):
    return vm.exp_shifted_f64(x, True)


def _version(name: str, dtype):
    if name == "vexp_shifted":  # two arguments: tested with the shift
        return _shifted_f32 if dtype == np.float32 else _shifted_f64
    f32, f64 = vm.FUNCTIONS[name]
    return getattr(vm, f32 if dtype == np.float32 else f64)


def _loop(fn, fastmath):
    @njit(error_model="numpy", fastmath={"contract"} if fastmath else False)
    def run(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    return run


def test_every_function_is_tested():
    assert set(REFERENCES) == set(vm.FUNCTIONS)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(vm.FUNCTIONS))
def test_ulp_error_over_the_whole_range(name, dtype):
    ref, extra = REFERENCES[name]
    x = float_grid(dtype, 3000, seed=1, extra=extra)
    out = np.empty_like(x)
    _loop(_version(name, dtype), fastmath=False)(x, out)
    err = ulp_error(out, reference(ref, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], f"{name}({x[worst]!r}) = {out[worst]!r}: {err[worst]:.3g} ulp"


@pytest.mark.parametrize("name", ["expm1", "tanh"])
def test_float32_forms_on_a_dense_sweep(name):
    """expm1_f32 and tanh_f32 compute in float32 arithmetic (their own range reduction, polynomial and
    reconstruction): on every 4099th float32 (about a million, both signs, subnormals to the largest) within
    1.5 ulp of their float64 twins (themselves within 2 float64 ulp), with and without FMA contraction."""
    from symact.check import _f32_ulps

    top = int(np.float32(np.finfo(np.float32).max).view(np.int32))
    bits = np.arange(1, top + 1, 4099, dtype=np.int32)
    x = np.concatenate([bits, bits | np.int32(-(2**31))]).view(np.float32)
    ref = np.empty(x.size)
    _loop(getattr(vm, name + "_f64"), fastmath=False)(x.astype(np.float64), ref)
    for fastmath in (False, True):
        out = np.empty_like(x)
        _loop(getattr(vm, name + "_f32"), fastmath=fastmath)(x, out)
        err, nonfinite = _f32_ulps(out, ref)
        assert nonfinite == 0
        assert err.max() <= 1.5, f"{name}_f32({x[int(np.argmax(err))]!r}): {err.max():.3g} ulp"


SPECIAL = {  # name -> [(x, expected)], signed zeros included
    "vexp": [(-np.inf, 0.0), (np.inf, np.inf), (-0.0, 1.0), (710.0, np.inf), (-746.0, 0.0)],
    "vexpm1": [(-0.0, -0.0), (-np.inf, -1.0), (np.inf, np.inf), (5e-324, 5e-324), (-5e-324, -5e-324)],
    "vlog": [(0.0, -np.inf), (-0.0, -np.inf), (-1.0, np.nan), (np.inf, np.inf), (1.0, 0.0), (5e-324, -744.44)],
    "vlog1p": [(-0.0, -0.0), (-1.0, -np.inf), (-2.0, np.nan), (np.inf, np.inf), (-np.inf, np.nan)],
    "vtanh": [(-0.0, -0.0), (np.inf, 1.0), (-np.inf, -1.0), (-5e-324, -5e-324)],
    "verf": [(-0.0, -0.0), (np.inf, 1.0), (-np.inf, -1.0), (-5e-324, -5e-324)],
    "verfc": [(0.0, 1.0), (np.inf, 0.0), (-np.inf, 2.0), (30.0, 0.0)],
    "vexp_shifted": [(-np.inf, 0.0), (np.inf, np.inf), (0.0, 2.0**64), (-0.0, 2.0**64)],
    "vsigmoid": [(0.0, 0.5), (np.inf, 1.0), (-np.inf, 0.0)],
    "vsoftplus": [(-np.inf, 0.0), (np.inf, np.inf), (1e308, 1e308)],
}


@pytest.mark.parametrize("name", sorted(vm.FUNCTIONS))
def test_special_values_and_signed_zeros(name):
    cases = SPECIAL[name] + [(np.nan, np.nan)]
    x = np.array([c[0] for c in cases])
    want = np.array([c[1] for c in cases])
    out = np.empty_like(x)
    _loop(_version(name, np.float64), fastmath=False)(x, out)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=0)  # nan matches nan
    numbers = ~np.isnan(want)
    assert (np.signbit(out) == np.signbit(want))[numbers].all(), f"{name}: signs {out} vs {want}"


@pytest.mark.parametrize("name", sorted(vm.FUNCTIONS))
def test_a_loop_vectorises_and_stays_accurate_with_fma(name):
    """With error_model='numpy' and FMA contraction, the loop uses 512-bit (or 256-bit) vector registers."""
    run = _loop(_version(name, np.float64), fastmath=True)
    x = float_grid(np.float64, 600, seed=2, extra=REFERENCES[name][1])
    out = np.empty_like(x)
    run(x, out)
    asm = run.inspect_asm(run.signatures[0])
    vector = len(re.findall(r"%[yz]mm", asm))
    assert vector > 20, f"{name}: {vector} vector register uses: not vectorised"
    err = ulp_error(out, reference(REFERENCES[name][0], x), np.float64)
    assert err.max() <= BOUND[np.float64], f"{name} with FMA: {err.max():.3g} ulp at {x[int(np.argmax(err))]!r}"


def test_generic_functions_dispatch_on_dtype_and_fall_back_to_math_in_python():
    @njit(error_model="numpy")
    def both(a, b):
        return vm.vexp(a), vm.vexp(b), vm.verf(b), vm.vlog1p(3.0)

    r32, r64, e64, l3 = both(np.float32(1.0), 1.0)

    @njit(error_model="numpy")
    def generic_loop(x, out):
        for i in range(x.size):
            out[i] = vm.vtanh(x[i]) + vm.vsigmoid(x[i])

    for dtype in DTYPES:
        x = np.linspace(-3, 3, 64).astype(dtype)
        generic_loop(x, np.empty_like(x))
    for signature in generic_loop.signatures:  # the generic names inline and vectorise as well
        assert len(re.findall(r"%[yz]mm", generic_loop.inspect_asm(signature))) > 20
    assert r32 == float(np.float32(math.e))  # rounded to float32 (Numba returns it as a Python float)
    assert abs(r64 / math.e - 1) < 3e-16 and abs(e64 - math.erf(1.0)) < 3e-16 and abs(l3 - math.log(4)) < 5e-16
    for name in vm.FUNCTIONS:  # the pure-Python versions agree with the compiled ones at ordinary points
        x = np.array([0.2, 0.7, 3.0] if name in ("vlog", "vlog1p") else [-2.5, -0.3, 0.7, 3.0])
        compiled = _compiled(name)(x)
        extra = (True,) if name == "vexp_shifted" else ()  # tested with the shift
        python = [getattr(vm, name)(v, *extra) for v in x.tolist()]
        np.testing.assert_allclose(python, compiled, rtol=1e-15)


def _compiled(name):
    run = _loop(_version(name, np.float64), fastmath=False)

    def call(x):
        out = np.empty_like(x)
        run(x, out)
        return out

    return call


def test_emitted_source_is_self_contained_and_gives_the_same_bits(tmp_path):
    names = ["verf", "vsoftplus", "tanh_f32"]
    src = vm.vecmath_source(names)
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"math", "numpy", "numba"}
    assert "def log1p_f64" in src and "def _exp_hilo_f64" in src and "_LN2_HI =" in src
    assert "def vexpm1" not in src  # only what is asked for and used
    path = tmp_path / "emitted_vecmath.py"
    path.write_text(
        src
        + "\n\n@njit(error_model='numpy')\n"
        + "def run(x, y, out):\n"
        + "    for i in range(x.size):\n"
        + "        out[i] = verf(x[i]) + vsoftplus(x[i])\n"
        + "    for i in range(y.size):\n"
        + "        y[i] = tanh_f32(y[i])\n"
    )
    spec = importlib.util.spec_from_file_location("emitted_vecmath", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = float_grid(np.float64, 400, seed=3)
    x = x[~(np.abs(x) > 1e38)]
    y = x.astype(np.float32)
    out = np.empty_like(x)
    module.run(x, y, out)
    want = np.empty_like(x)
    _loop(lambda_sum, fastmath=False)(x, want)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(y, _compiled_f32_tanh(x.astype(np.float32)))


@njit(inline="always")
def lambda_sum(v):
    return vm.verf(v) + vm.vsoftplus(v)


def _compiled_f32_tanh(y):
    out = np.empty_like(y)
    _loop(vm.tanh_f32, fastmath=False)(y, out)
    return out


def test_unknown_names_are_refused():
    with pytest.raises(KeyError, match="vecmath has no function"):
        vm.vecmath_source(["vgamma"])


@pytest.mark.parametrize("fastmath", [False, True], ids=["plain", "contracted"])
def test_log_dd_is_a_double_double_log_to_2_to_the_minus_61(fastmath):
    """log_dd_f64(x) = hi + lo within 2**-61.5 of log(x) relative (2**-62.1 measured), over the positive floats
    (subnormals to the largest, and densely where its reduction switches, at sqrt(1/2) and sqrt(2), and near 1),
    and its loop vectorises: it is the first try of the losses' compensated logs (rowlib.losses._entropy_pair,
    _log_plus)."""

    @njit(error_model="numpy", fastmath={"contract"} if fastmath else False)
    def run(x, hi, lo):
        for i in range(x.size):
            hi[i], lo[i] = vm.log_dd_f64(x[i])

    rng = np.random.default_rng(7)
    grid = float_grid(np.float64, 3000, seed=3, extra=[5e-324, 2.2250738585072014e-308, 1.0, 2.0])
    x = np.concatenate(
        [
            np.abs(grid[np.isfinite(grid) & (grid != 0)]),
            rng.uniform(0.70, 0.72, 1000),
            rng.uniform(1.40, 1.42, 1000),
            1.0 + rng.standard_normal(1000) * 1e-9,
            np.exp(rng.uniform(-745, 709, 2000)),
        ]
    )
    hi, lo = np.empty_like(x), np.empty_like(x)
    run(x, hi, lo)
    worst = mpmath.mpf(0)
    with mpmath.workprec(200):
        for v, h, low in zip(x.tolist(), hi.tolist(), lo.tolist()):
            exact = mpmath.log(v)
            if exact == 0:
                assert h == 0.0 and low == 0.0
                continue
            worst = max(worst, abs((mpmath.mpf(h) + low - exact) / exact))
            assert abs(low) <= abs(h) * 2.0**-52  # a normalised pair
    assert worst <= 2.0**-61.5, f"{float(worst):.3g} relative"
    asm = run.inspect_asm(run.signatures[0])
    assert len(re.findall(r"%[yz]mm", asm)) > 20, "log_dd_f64's loop is not vectorised"
