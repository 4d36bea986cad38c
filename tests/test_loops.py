"""The elementwise loops behind the generated modules: broadcasting, ``out=``, threads, types and vectorisation."""

import re
from pathlib import Path

import numba
import numpy as np
import pytest

from symact.check import load_module


def mod(name):
    return load_module(name, "generated")


def test_broadcasting_and_scalars_match_the_full_arrays():
    m = mod("silu")
    x = np.linspace(-4, 4, 12).reshape(3, 4)
    g = np.array([1.0, -2.0, 0.5, 3.0])
    full = m.vjp(x, np.broadcast_to(g, x.shape).copy())
    np.testing.assert_array_equal(m.vjp(x, g), full)
    np.testing.assert_array_equal(m.vjp(x[:, :1], g), m.vjp(np.repeat(x[:, :1], 4, axis=1), g))
    scalar = m.forward(0.5)
    assert isinstance(scalar, np.float64) and scalar == m.forward(np.array([0.5]))[0]


def test_out_strided_other_dtype_and_wrong_shape():
    m = mod("sigmoid")
    x = np.linspace(-30, 30, 40)
    expected = m.forward(x)
    strided = np.zeros(80)[::2]
    assert m.forward(x, out=strided) is strided
    np.testing.assert_array_equal(strided, expected)
    narrow = np.empty(40, np.float32)
    m.forward(x, out=narrow)  # float64 result cast to a float32 out, as a ufunc would
    np.testing.assert_array_equal(narrow, expected.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        m.forward(x, out=np.empty(39))
    with pytest.raises(TypeError, match="float32 or float64"):
        m.forward(x, out=np.empty(40, np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        m.forward(x, out=[0.0] * 40)


def test_dtypes_follow_numpy_promotion():
    m = mod("elu")
    x32 = np.linspace(-3, 3, 8, dtype=np.float32)
    assert m.forward(x32).dtype == np.float32
    assert m.forward(x32.astype(np.float16)).dtype == np.float32
    assert m.forward(np.arange(-3, 4)).dtype == np.float64
    assert m.vjp(x32, np.ones(8)).dtype == np.float64  # a float64 g makes the result float64
    assert m.vjp(x32, np.float32(2.0)).dtype == np.float32


def test_array_parameter_broadcasts_like_an_input():
    m = mod("prelu")
    x = np.linspace(-2, 2, 12).reshape(4, 3)
    alpha = np.array([0.1, 0.2, 0.3])  # one slope per channel
    expected = np.where(x > 0, x, alpha * x)
    np.testing.assert_allclose(m.forward(x, alpha=alpha), expected, rtol=1e-15)
    np.testing.assert_allclose(m.vjp(x, 2.0, alpha=alpha), 2.0 * np.where(x > 0, 1.0, alpha), rtol=1e-15)


GENERATED = Path(__file__).resolve().parents[1] / "generated"
ELEMENTWISE = sorted(p.stem for p in GENERATED.glob("*.py") if "_forward_scalar" in p.read_text())


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_parallel_twin_gives_the_same_bits(name):
    """The twin (rowlib.elementwise._go with 2 threads: the serial loop's compiled code called at its address on
    slices) gives the serial loop's bits for every loop of every elementwise module, float32 and float64, a
    read-only input, scalar and array parameters, and the flag of a loop that has one."""
    m = mod(name)
    n = m.PARALLEL_MIN + 3
    rng = np.random.default_rng(1)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        for dtype in (np.float32, np.float64):
            x = rng.uniform(-20, 20, n).astype(dtype)
            x[:4] = [0.0, 1e-30, -100.0, np.inf]
            x.setflags(write=False)
            g = rng.uniform(-3, 3, n).astype(dtype)
            params = [(rng.random(n) * 0.5).astype(dtype) if k == 0 else 0.25 for k in range(len(m.PARAMS))]
            aux = [np.ones(n, dtype) for _ in range(_aux_count(m))]
            loops = {"forward": (x, *aux), "vjp": (x, g, *aux), "value_and_grad": (x, *aux)}
            for kernel, inputs in loops.items():
                outs = [np.empty(n, dtype) for _ in range(2 if kernel == "value_and_grad" else 1)]
                serial, parallel = getattr(m, f"_{kernel}_loop"), getattr(m, f"_{kernel}_loop_parallel")
                expected = [o.copy() for o in outs]
                flag = serial(*inputs, *params, *expected)
                assert m._go(serial, parallel, (*inputs, *params, *outs)) == flag, (kernel, dtype)
                for got, want in zip(outs, expected):
                    np.testing.assert_array_equal(got, want, err_msg=f"{name} {kernel} {dtype.__name__}")
    finally:
        numba.set_num_threads(previous)


def _aux_count(m):
    import inspect

    sig = inspect.signature(m.forward).parameters
    return sum(1 for p in list(sig)[1:] if sig[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)


@pytest.mark.parametrize("name", ["sigmoid", "silu", "tanh", "elu", "softplus", "relu"])
def test_the_loops_vectorise(name):
    """A SIMD loop uses vector registers (ymm or zmm); a scalar one only xmm."""
    m = mod(name)
    for dtype in (np.float32, np.float64):
        x = np.linspace(-3, 3, 64).astype(dtype)
        out = np.empty_like(x)
        signature = (numba.typeof(x), *[numba.typeof(1.0)] * len(m.PARAMS), numba.typeof(out))
        fresh = numba.njit(**{**m._FAST, "cache": False})(m._forward_loop.py_func)  # cached code has no asm
        fresh.compile(signature)
        asm = fresh.inspect_asm(signature)
        assert re.search(r"\b[yz]mm\d+", asm), f"{name} {dtype.__name__}: the loop is not vectorised"


def test_float32_loops_compute_in_float32():
    """The float32 forward of sigmoid is computed in float32: it differs from the float64 result rounded."""
    m = mod("sigmoid")
    x = np.random.default_rng(2).uniform(-10, 10, 4096).astype(np.float32)
    in32 = m.forward(x)
    via64 = m.forward(x.astype(np.float64)).astype(np.float32)
    assert in32.dtype == np.float32
    assert np.any(in32 != via64)
    np.testing.assert_allclose(in32, via64, rtol=3e-7)


@pytest.mark.parametrize("name", ["sigmoid", "silu", "mish", "elu", "dropout"])
def test_value_and_grad_is_forward_and_derivative_in_one_pass(name):
    m = mod(name)
    for dtype in (np.float32, np.float64):
        x = np.concatenate([np.linspace(-30, 30, 601), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
        extra = [(np.arange(x.size) % 2).astype(dtype)] if name == "dropout" else []
        f, d = m.value_and_grad(x, *extra)
        assert f.dtype == d.dtype == dtype
        np.testing.assert_array_equal(f, m.forward(x, *extra))
        np.testing.assert_array_equal(d, m.derivative(x, *extra))
        pair = (np.empty_like(x), np.empty_like(x))
        assert all(a is b for a, b in zip(m.value_and_grad(x, *extra, out=pair), pair))
    with pytest.raises(TypeError, match="sequence of 2"):
        m.value_and_grad(x, *extra, out=np.empty_like(x))
