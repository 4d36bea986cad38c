"""symact.kernel_lib: each building block against mpmath in float32 and float64, branch-free, and its source
(as copied into generated modules) complete on its own."""

from __future__ import annotations

import ast
import inspect

import mpmath
import numpy as np
import pytest
from numba import njit

from symact import kernel_lib as kl
from symact.check import load_module
from symact.compute_rules import DOUBLE_DOUBLE_RULES
from symact.ulp import reference, ulp_error


def _sigma(v):
    return 1 / (1 + mpmath.exp(-v))


def _silu_prime(v):
    s = _sigma(v)
    return s * (1 + v * (1 - s))


def _t_over_square(t):
    return t / (1 + t) ** 2


def _mish(v):
    return v * mpmath.tanh(mpmath.log1p(mpmath.exp(v)))


def _mish_prime(v):
    e = mpmath.exp(v)
    t = mpmath.tanh(mpmath.log1p(e))
    return t + v * (1 - t**2) * e / (1 + e)


_loops: dict = {}


def _apply(name: str, xs: np.ndarray) -> np.ndarray:
    """kernel_lib.<name> over an array, in the array's dtype, as a generated loop calls it."""
    if name not in _loops:
        f = getattr(kl, name)

        @njit(error_model="numpy", fastmath={"contract"})
        def loop(v, out):
            for i in range(v.shape[0]):
                out[i] = f(v[i])

        _loops[name] = loop
    out = np.empty_like(xs)
    _loops[name](xs, out)
    return out


def _points(dtype, lo, hi, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    xs = np.concatenate([rng.uniform(lo, hi, n), np.sign(rng.uniform(-1, 1, n)) * np.exp(rng.uniform(-30, 4, n))])
    xs = xs[(xs >= lo) & (xs <= hi)]
    return xs.astype(dtype)


#: (helper, mpmath reference, domain, float32 bound, float64 bound, points kept away from, half-width)
CASES = [
    ("_sigmoid", _sigma, (-745.0, 745.0), 2.0, 2.0, None, 0.0),
    ("_softplus", lambda v: mpmath.log1p(mpmath.exp(v)), (-745.0, 1e30), 2.0, 2.0, None, 0.0),
    ("_t_over_square", _t_over_square, (0.0, 1.0), 2.0, 3.5, None, 0.0),  # f64: plain, 3.1 ulp,
    ("_silu_prime", _silu_prime, (-100.0, 100.0), 2.5, 2.5, -1.2784645427610738, 0.0625),
    ("_mish_dd", _mish, (-740.0, 40.0), None, 1.0, None, 0.0),
    ("_mish_prime_dd", _mish_prime, (-740.0, 40.0), None, 1.5, -1.1924312145154952, 0.0625),
    ("_mish_plain", _mish, (-85.0, 40.0), None, 1e5, None, 0.0),
]


#: float32 bound None: a float64-only block (float32 arguments take the plain float64 form)
_BY_DTYPE = [
    pytest.param(name, ref, domain, bound, zero, radius, dtype, id=f"{name}-{dtype.__name__}")
    for name, ref, domain, bound32, bound64, zero, radius in CASES
    for dtype, bound in ((np.float32, bound32), (np.float64, bound64))
    if bound is not None
]


@pytest.mark.parametrize("name, ref, domain, bound, zero, radius, dtype", _BY_DTYPE)
def test_building_block_within_its_bound(name, ref, domain, bound, zero, radius, dtype):
    xs = _points(dtype, *domain)
    if zero is not None:
        xs = xs[np.abs(xs.astype(np.float64) - zero) > radius]
    got = _apply(name, xs)
    assert got.dtype == dtype
    exact = reference(ref, xs)
    if name == "_mish_plain":  # float64 algebra for float32 results: within 1 ulp of float32 after rounding
        got, dtype, bound = got.astype(np.float32), np.float32, 1.0
    errors = ulp_error(got, exact, dtype)
    assert errors.max() <= bound, (xs[np.argmax(errors)], errors.max())


def test_blocks_are_straight_line_code():
    """No branch in any njit block (a branch stops LLVM from vectorising the loop around it)."""
    for name, obj in vars(kl).items():
        fn = getattr(obj, "py_func", None)
        if fn is None or fn.__module__ != kl.__name__:
            continue
        tree = ast.parse(inspect.getsource(fn))
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.If, ast.IfExp, ast.For, ast.While, ast.BoolOp)), (name, ast.unparse(node))


@pytest.mark.parametrize("names", [["_mish_dd", "_mish_prime_dd", "_mish_plain"], ["_silu_prime"], ["_mul_sigmoid"]])
def test_library_source_runs_on_its_own(names):
    """The copied source defines everything it uses: executed alone, it computes what the module computes."""
    namespace: dict = {}
    exec(compile(kl.library_source(names), "<library>", "exec"), namespace)
    xs = np.array([-3.0, -0.5, 0.0, 0.25, 2.0, 30.0])
    for name in names:
        if name == "_mul_sigmoid":
            continue
        original = getattr(kl, name)
        copied = njit(lambda v, f=namespace[name]: f(v))
        assert [copied(v) for v in xs] == [njit(lambda v, f=original: f(v))(v) for v in xs]


def test_mul_sigmoid_keeps_subnormal_float32_products():
    xs = np.array([-60.0, -80.0, -90.0, -100.0, -103.0], dtype=np.float32)

    @njit
    def loop(m, w, out):
        for i in range(m.shape[0]):
            out[i] = kl._mul_sigmoid(m[i], w[i])

    out = np.empty_like(xs)
    loop(xs, xs, out)
    exact = reference(lambda v: v * _sigma(v), xs)
    assert ulp_error(out, exact, np.float32).max() <= 1.5


def test_mish_near_the_zero_of_its_derivative_and_at_the_patch_edge():
    module = load_module("mish", "generated")
    u0 = -1.1924312145154952
    rng = np.random.default_rng(6)
    (rule,) = DOUBLE_DOUBLE_RULES
    radius = rule.radius
    xs = np.concatenate(
        [
            u0 + rng.uniform(-4 * radius, 4 * radius, 300),
            u0 + radius * rng.uniform(0.98, 1.02, 100) * rng.choice([-1, 1], 100),
            u0 + np.exp(rng.uniform(-35, -3, 100)) * rng.choice([-1, 1], 100),
        ]
    )
    forward, derivative = module.forward(xs), module.derivative(xs)
    assert ulp_error(forward, reference(_mish, xs), np.float64).max() <= 2
    assert ulp_error(derivative, reference(_mish_prime, xs), np.float64).max() <= 4


def test_mish_tails_and_subnormal_results():
    module = load_module("mish", "generated")
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.uniform(-760, -700, 200), rng.uniform(-60, -20, 100), rng.uniform(15, 45, 100)])
    forward, derivative = module.forward(xs), module.derivative(xs)
    assert ulp_error(forward, reference(_mish, xs), np.float64).max() <= 2
    assert ulp_error(derivative, reference(_mish_prime, xs), np.float64).max() <= 4
    assert np.signbit(module.forward(np.array([-0.0, -1e6]))).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_rounding_error_of_exp_is_recovered(dtype):
    """_exp_error(v, vexp(v)) is exp(v) - vexp(v): with it, exp(-exp(-x)) (a Gumbel cdf) keeps the digits its
    argument's rounding lost (305 -> 1.3 ulp at x = -6, where the condition number is e^6).  In float64 the sum
    is exp(v) to 2**-64, as a condition number up to 745 needs (the head-tail exp it used before, 2**-55, left
    exp(-exp(-x)) 46 ulp off at x = -6.5)."""

    @njit
    def pair(v):
        e = kl.vexp(v)
        return e, kl._exp_error(v, e)

    rng = np.random.default_rng(7)
    low, top = (-60.0, 88.0) if dtype is np.float32 else (-700.0, 709.78)  # the error itself a normal number
    points = np.concatenate([rng.uniform(low, top, 400), rng.uniform(-3.0, 3.0, 200), [top, 1e-300]]).astype(dtype)
    worst = 0.0
    for v in points:
        e, err = pair(v)
        with mpmath.workdps(60):
            exact = mpmath.exp(mpmath.mpf(float(v)))
            worst = max(worst, float(abs(mpmath.mpf(float(e)) + mpmath.mpf(float(err)) - exact) / exact))
    assert worst < (2.0**-40 if dtype is np.float32 else 2.0**-64)
    for special in (np.nan, np.inf, -np.inf, 800.0, -800.0):
        assert pair(dtype(special))[1] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_rounding_error_of_softplus_is_recovered(dtype):
    """_softplus_parts(v) is (softplus(v) as _softplus gives it, the rest): their sum is softplus(v) to far below
    one ulp where softplus is 1 or more, which is where tanh(softplus(x))' amplifies it (22.5 -> 2.3 ulp)."""

    @njit
    def parts(v):
        s, e = kl._softplus_parts(v)
        return s, e, kl._softplus(v)

    rng = np.random.default_rng(11)
    points = np.concatenate([rng.uniform(0.5, 80.0, 300), rng.uniform(-3.0, 3.0, 100)]).astype(dtype)
    worst = 0.0
    for v in points:
        s, err, plain = parts(v)
        assert s == plain or dtype is np.float32  # float32: float64's softplus rounded, not float32 arithmetic
        with mpmath.workdps(60):
            exact = mpmath.log1p(mpmath.exp(mpmath.mpf(float(v))))
            if exact >= 1:
                worst = max(worst, float(abs(mpmath.mpf(float(s)) + mpmath.mpf(float(err)) - exact) / exact))
    assert worst < (2.0**-40 if dtype is np.float32 else 2.0**-54)  # float64: log1p's own error remains
    for special in (np.inf, -np.inf):
        assert parts(dtype(special))[1] == 0.0


def test_mul_exp_keeps_the_digits_of_a_subnormal_exp():
    """_mul_exp(m, t, e) is m exp(t + e) within an ulp, also where exp(t) is subnormal and m scales it back into the
    normal range (-2 x exp(-x^2) at x = 26.8: 13.5 ulp computed as x exp(-x^2) (-2)), and where it is subnormal."""

    @njit
    def loop(m, t, e, out):
        for i in range(m.shape[0]):
            out[i] = kl._mul_exp(m[i], t[i], e[i])

    rng = np.random.default_rng(14)
    t = np.concatenate([rng.uniform(-760.0, -700.0, 300), rng.uniform(-30.0, 30.0, 100), rng.uniform(680, 709, 50)])
    m = np.concatenate([rng.uniform(1.0, 1e6, 300), rng.uniform(-1e3, 1e3, 100), rng.uniform(0.01, 1.0, 50)])
    e = rng.uniform(-1e-14, 1e-14, t.size) * np.abs(t) * 2.0**-52
    out = np.empty_like(t)
    loop(m, t, e, out)
    with mpmath.workdps(60):
        exact = [mpmath.mpf(a) * mpmath.exp(mpmath.mpf(b) + mpmath.mpf(c)) for a, b, c in zip(m, t, e)]
    from symact.check import ulp_error as one_ulp

    worst = max(one_ulp(v, x, np.float64) for v, x in zip(out, exact))
    assert worst <= 1.0
    specials = np.array(
        [
            [2.0, -2000.0],
            [-2.0, -2000.0],
            [np.inf, -2000.0],
            [-np.inf, 5.0],
            [3.0, 2000.0],
            [3.0, np.nan],
            [np.nan, 1.0],
            [np.inf, np.inf],
        ]
    )
    got = np.empty(len(specials))
    loop(specials[:, 0].copy(), specials[:, 1].copy(), np.zeros(len(specials)), got)
    expected = [0.0, -0.0, 0.0, -np.inf, np.inf, np.nan, np.nan, np.inf]
    for a, b in zip(got, expected):
        assert (np.isnan(a) and np.isnan(b)) or (a == b and np.signbit(a) == np.signbit(b)), (got, expected)
    m32 = np.array([3.0, -0.5, 1e5], dtype=np.float32)
    t32 = np.array([-2.0, 10.0, -20.0], dtype=np.float32)  # float32: m (exp(t) (1 + e)), as before
    out32 = np.empty_like(m32)
    loop(m32, t32, np.zeros(3, dtype=np.float32), out32)
    assert np.allclose(out32, m32.astype(np.float64) * np.exp(t32.astype(np.float64)), rtol=3e-7, atol=1e-44)


def _loop2(fn):
    @njit
    def loop(m, w, out):
        for i in range(m.shape[0]):
            out[i] = fn(m[i], w[i])

    return loop


def test_mul_erfc_keeps_the_digits_of_a_subnormal_erfc():
    """m erfc(w) within an ulp where erfc(w) is subnormal (w > 26.55) and m scales it back, or the product is
    subnormal itself (x erfc(x) at x = 26.8: 12.5 ulp as x times erfc(x)); and in float32 where erfc(w) is below
    float32's normal range (w > 9.2)."""
    from symact.check import ulp_error as one_ulp

    rng = np.random.default_rng(15)
    w = np.concatenate([rng.uniform(26.0, 27.5, 200), rng.uniform(-3.0, 6.0, 100), [0.5, 27.5, 30.0, -30.0]])
    m = np.concatenate([rng.uniform(1.0, 1e8, 200), rng.uniform(-1e3, 1e3, 100), [2.0, 3.0, 4.0, 5.0]])
    out = np.empty_like(w)
    _loop2(njit(lambda a, b: kl._mul_erfc(a, b, 0.0)))(m, w, out)
    with mpmath.workdps(60):
        exact = [mpmath.mpf(a) * mpmath.erfc(mpmath.mpf(b)) for a, b in zip(m, w)]
    assert max(one_ulp(v, x, np.float64) for v, x in zip(out, exact)) <= 1.5  # erfc's own ulp and the product's
    plain = [one_ulp(a * kl.vecmath.erfc_f64(b), x, np.float64) for a, b, x in zip(m, w, exact)]
    assert max(plain) > 2.0  # the plain product does lose digits there: the test can tell
    w32, m32 = w[:100].astype(np.float32) / np.float32(2.9), m[:100].astype(np.float32)
    out32 = np.empty_like(w32)
    _loop2(njit(lambda a, b: kl._mul_erfc(a, b, np.float32(0.0))))(m32, w32, out32)
    with mpmath.workdps(60):
        exact32 = [mpmath.mpf(float(a)) * mpmath.erfc(mpmath.mpf(float(b))) for a, b in zip(m32, w32)]
    assert max(one_ulp(v, x, np.float32) for v, x in zip(out32, exact32)) <= 0.5 + 1e-9


def test_mul_sigmoid_keeps_subnormal_float64_products():
    """m sigma(w) in float64 where sigma(w) ~ e^w is subnormal (w < -708): -2x sigma(-x^2) at x = 26.8 was 12.5
    ulp; exp_shifted_f64 scales by 2**64 before exp's own scaling, so nothing is lost."""
    from symact.check import ulp_error as one_ulp

    rng = np.random.default_rng(16)
    w = np.concatenate([rng.uniform(-745.0, -700.0, 200), rng.uniform(-40.0, 40.0, 50)])
    m = np.concatenate([rng.uniform(1.0, 1e6, 200), rng.uniform(-10.0, 10.0, 50)])
    for fn in (kl._mul_sigmoid, lambda a, b: kl._mul_sigmoid_at(a, b, 0.0)):
        out = np.empty_like(w)
        _loop2(njit(fn) if not hasattr(fn, "py_func") else fn)(m, w, out)
        with mpmath.workdps(60):
            exact = [mpmath.mpf(a) * _sigma(mpmath.mpf(b)) for a, b in zip(m, w)]
        assert max(one_ulp(v, x, np.float64) for v, x in zip(out, exact)) <= 1.5
    shifted = njit(lambda v: kl.vecmath.exp_shifted_f64(v, True))
    for v in (-720.0, -745.5, -780.0, -3.0):
        with mpmath.workdps(60):
            assert one_ulp(shifted(v), mpmath.exp(v) * 2**64, np.float64) <= 1.0, v
