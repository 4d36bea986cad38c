"""Kernel semantics as NumPy 2 and the frameworks' own tests define them: empty arrays, 0-d inputs,
signed zeros, NEP 50 promotion of Python scalars, and a clean error for unsupported dtypes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from symact import catalog
from symact.catalog import Kind
from symact.check import load_module

ELEMENTWISE = [e.name for e in catalog.entries() if e.kind is Kind.ELEMENTWISE]
ROWS = [e.name for e in catalog.entries() if e.kind is Kind.VECTOR]
#: losses of one logit and one label per element (reduction none keeps the input's shape)
BINARY_LOSSES = [e.name for e in catalog.entries() if e.kind is Kind.LOSS and not e.is_indexed]


def _aux(module, x):
    """Extra positional inputs an elementwise kernel takes (dropout's mask), all ones."""
    names = [p for p in inspect.signature(module.forward).parameters if p not in ("x", "out")]
    kinds = inspect.signature(module.forward).parameters
    return [np.ones_like(x) for p in names if kinds[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize(
    "shape, axis", [((3, 0), -1), ((0,), -1), ((0, 3), 0), ((0, 3), -1), ((3, 0), 0), ((2, 0, 4), 1)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_functions_of_empty_arrays_are_empty(name, shape, axis, dtype):
    module = load_module(name)
    a = np.ones(shape, dtype)
    for kernel in ("forward", "vjp", "vjp_from_output"):
        if not hasattr(module, kernel):
            continue
        args = (a,) if kernel == "forward" else (a, a)
        result = getattr(module, kernel)(*args, axis=axis)
        assert result.shape == shape and result.dtype == dtype, (kernel, result.shape, result.dtype)
        out = np.full(shape, 7.0, dtype)
        assert getattr(module, kernel)(*args, axis=axis, out=out) is out


@pytest.mark.parametrize("name", BINARY_LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_of_0d_logits_are_0d(name, dtype):
    module = load_module(name)
    z, y = np.asarray(0.3, dtype), np.asarray(1.0, dtype)
    for kernel in (module.forward, module.grad):
        none = kernel(z, y, reduction="none")
        assert np.shape(none) == () and none.dtype == dtype
        for reduction in ("mean", "sum"):
            value = kernel(z, y, reduction=reduction)
            assert np.shape(value) == () and value == none
        np.testing.assert_array_equal(kernel(np.full(3, 0.3, dtype), np.ones(3, dtype), reduction="none"), none)


def _kernels(module):
    yield "forward", lambda x, *aux: module.forward(x, *aux)
    yield "derivative", lambda x, *aux: module.derivative(x, *aux)
    yield "vjp", lambda x, *aux: module.vjp(x, np.ones_like(x), *aux)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_signed_zeros_agree_between_dtypes(name):
    """Where a kernel's value at +-0.0 is zero, float32 gives it the sign float64 gives it (IEEE, NumPy,
    PyTorch and JAX: tanh(-0.0) = -0.0, silu(-0.0) = -0.0)."""
    module = load_module(name)
    for kernel, call in _kernels(module):
        for n in (1, 40):  # the scalar tail and the vectorised body of the loops
            x64 = np.array([-0.0, 0.0] * n)
            r64 = call(x64, *_aux(module, x64))
            x32 = x64.astype(np.float32)
            r32 = call(x32, *_aux(module, x32))
            zero = r64 == 0
            np.testing.assert_array_equal(np.signbit(r32[zero]), np.signbit(r64[zero]), err_msg=f"{name} {kernel}")


@pytest.mark.parametrize("name", ["tanh", "silu", "swish", "mish", "elu", "leaky_relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_odd_at_zero_functions_keep_negative_zero(name, dtype):
    module = load_module(name)
    for n in (1, 33):
        assert np.all(np.signbit(module.forward(np.full(n, -0.0, dtype))))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_python_scalars_are_weak(name):
    """NEP 50: a Python int or float takes the dtype of the array beside it; a NumPy scalar does not."""
    module = load_module(name)
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    aux = _aux(module, x)
    assert module.vjp(x, 2.0, *aux).dtype == np.float32
    assert module.vjp(x, 2, *aux).dtype == np.float32
    assert module.vjp(x, np.float64(2.0), *aux).dtype == np.float64
    assert module.vjp(x.astype(np.float64), np.float32(2.0), *aux).dtype == np.float64
    np.testing.assert_array_equal(module.vjp(x, 2.0, *aux), module.vjp(x, np.full(5, 2.0, np.float32), *aux))
    scalar = module.forward(0.5, *[1.0 for _ in aux])
    assert type(scalar) is np.float64


@pytest.mark.parametrize("name", catalog.names())
def test_unsupported_dtypes_are_a_clean_type_error(name):
    module = load_module(name)
    if name == "logistic_nll":
        calls = [lambda bad: module.forward(bad, 0.0, np.ones((2, 3)), np.ones(2))]
    elif catalog.get(name).kind is Kind.LOSS:
        calls = [lambda bad: module.forward(bad, np.zeros(bad.shape))]
    elif name in ROWS:
        calls = [lambda bad: module.forward(bad), lambda bad: module.vjp(bad, bad)]
    else:
        calls = [
            lambda bad: module.forward(bad, *_aux(module, bad)),
            lambda bad: module.vjp(bad, bad, *_aux(module, bad)),
        ]
    for dtype in (np.longdouble, np.complex128, object):
        if dtype is np.longdouble and np.dtype(np.longdouble).itemsize == 8:
            continue  # a platform where long double is double
        bad = np.ones(3, dtype)
        for call in calls:
            with pytest.raises(TypeError, match="float32 or float64"):
                call(bad)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_and_strided_inputs_agree(name, dtype):
    """The fast path (contiguous arrays of one shape and dtype) and the general one (strided views,
    broadcasting, a Fortran-ordered out) give the same values, shapes, dtypes and result types."""
    module = load_module(name)
    rng = np.random.default_rng(1)
    for shape in [(), (7,), (3, 5), (2, 3, 4)]:
        x = rng.normal(0.0, 3.0, shape).astype(dtype)
        g = rng.normal(size=shape).astype(dtype)
        aux = _aux(module, x)
        strided = np.repeat(x[..., None], 2, axis=-1)[..., 0]  # the same values, not contiguous
        for call, extra in ((module.forward, ()), (module.vjp, (g,))):
            fast, general = call(x, *extra, *aux), call(strided if shape else x[()], *extra, *aux)
            assert type(fast) is type(general) and np.shape(fast) == shape
            np.testing.assert_array_equal(fast, general)
            assert np.asarray(fast).dtype == dtype
        out = np.empty(shape, dtype)
        assert module.forward(x, *aux, out=out) is out
        np.testing.assert_array_equal(out, module.forward(x, *aux))
        if len(shape) >= 2:
            fortran = np.empty(shape, dtype, order="F")
            assert module.forward(x, *aux, out=fortran) is fortran
            np.testing.assert_array_equal(fortran, out)
