"""vjp_from_output of softmax and log-softmax: the gradient from the forward's output, as PyTorch's backward."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symact.check import load_module, ulp_error

from .conftest import from_python


def mod(name):
    return load_module(name)


def _exact_softmax(p, g, j):
    """p_j (g_j - sum_i p_i g_i) in exact rational arithmetic."""
    s = sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(p, g))
    return Fraction(float(p[j])) * (Fraction(float(g[j])) - s)


def _mp(f: Fraction):
    with mpmath.workdps(2000):
        return mpmath.mpf(f.numerator) / f.denominator


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_agrees_with_the_vjp_from_the_scores(name, dtype):
    m = mod(name)
    rng = np.random.default_rng(3)
    for n in (1, 2, 31, 32, 33, 100, 1000):
        a = rng.normal(0, 3, (5, n)).astype(dtype)
        g = rng.normal(0, 1, (5, n)).astype(dtype)
        y = m.forward(a)
        got = m.vjp_from_output(y, g)
        assert got.dtype == dtype and got.shape == a.shape
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, m.vjp(a, g), rtol=tol, atol=tol * np.abs(g).max())


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_axis_out_and_errors(name):
    m = mod(name)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 4, 5))
    g = rng.normal(size=a.shape)
    y = m.forward(a, axis=1)
    want = np.moveaxis(m.vjp_from_output(np.moveaxis(y, 1, -1), np.moveaxis(g, 1, -1)), -1, 1)
    np.testing.assert_array_equal(m.vjp_from_output(y, g, axis=1), want)
    buffer = np.empty_like(a)
    assert m.vjp_from_output(y, g, axis=1, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, want)
    with pytest.raises(ValueError, match="shape of y"):
        m.vjp_from_output(y, g[:, :, :2])
    with pytest.raises(TypeError):
        m.vjp_from_output(y.astype(np.complex128), g)
    nan_row = m.vjp_from_output(np.array([np.nan, 0.5]), np.ones(2))
    if name == "softmax":  # the sum takes every y
        assert np.isnan(nan_row).all()
    else:  # g_j - exp(y_j) sum(g): only y_j
        assert np.isnan(nan_row[0]) and nan_row[1] == pytest.approx(1 - 2 * np.exp(0.5), rel=1e-15)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_the_threaded_rows_match_the_serial_ones(name):
    m = mod(name)
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        y = m.forward(rng.normal(0, 2, (300, 1000)).astype(dtype))
        g = rng.normal(size=y.shape).astype(dtype)
        g[7] = 1.0  # a row that cancels and is redone
        redo = np.zeros(y.shape[0], dtype=np.bool_)
        threaded_redo = np.zeros(y.shape[0], dtype=np.bool_)
        serial = m._from_output_rows(y, g, np.empty_like(y), redo)
        threaded = m._from_output_rows_par(y, g, np.empty_like(y), threaded_redo, 4)
        np.testing.assert_array_equal(serial, threaded)
        np.testing.assert_array_equal(redo, threaded_redo)
        if name == "softmax":  # g = 1: 1 - sum_i p_i cancels
            assert redo[7]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_a_row_left_to_the_redo_kernel_gets_the_redo(name):
    """The hot kernel only flags a row whose sum cancels; _from_output_redo (a kernel of its own, compiled
    only when a row needs it) redoes it with _dot3, as the row kernel did in place before."""
    m = mod(name)
    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.float64):
        y = m.forward(rng.normal(0, 2, (3, 50)).astype(dtype))
        g = rng.normal(size=y.shape).astype(dtype)
        g[1] = 1.0  # softmax: g_j - sum_i p_i g_i = 1 - sum_i p_i cancels
        redo = np.zeros(3, dtype=np.bool_)
        hot = m._from_output_rows(y, g, np.empty_like(y), redo)
        if not redo.any():
            continue
        again = m._from_output_redo(y, g, hot.copy(), redo)
        np.testing.assert_array_equal(again, m.vjp_from_output(y, g))
        acc = np.empty((3, m._LANES))
        for r in np.flatnonzero(redo):  # the redo of a row is the row alone through _from_output_again
            w = np.empty((4, y.shape[1]))
            ke = np.empty(y.shape[1], dtype=np.int64)
            alone = np.empty(y.shape[1], dtype=dtype)
            from_python(m._from_output_again)(y[r], g[r], alone, acc, w, ke)
            np.testing.assert_array_equal(alone, again[r])
        np.testing.assert_array_equal(again[~redo], hot[~redo])


def test_softmax_keeps_its_last_bits_where_the_sum_cancels():
    """g = 1: g_j - sum_i p_i g_i is 1 - sum_i p_i, a few ulps of 1 or less; PyTorch's formula returns noise."""
    m = mod("softmax")
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        for n in (3, 40, 1000):
            for scale in (1.0, 30.0):
                p = m.forward(rng.normal(0, scale, n).astype(dtype))
                g = np.ones(n, dtype=dtype)
                got = m.vjp_from_output(p, g)
                for j in range(0, n, max(1, n // 25)):
                    assert ulp_error(got[j], _mp(_exact_softmax(p, g, j)), dtype) <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1, width=64), min_size=1, max_size=70),
    st.lists(st.floats(-1e6, 1e6, width=64), min_size=70, max_size=70),
)
def test_softmax_within_an_ulp_of_the_exact_value_at_any_p(p, g):
    """Any y (not only a forward's output) and g: exact in rational arithmetic, the kernel within an ulp."""
    m = mod("softmax")
    p = np.array(p)
    g = np.array(g[: len(p)])
    got = m.vjp_from_output(p, g)
    for j in range(len(p)):
        assert ulp_error(got[j], _mp(_exact_softmax(p, g, j)), np.float64) <= 2.0


def test_log_softmax_float32_keeps_its_last_bits_where_it_cancels():
    m = mod("log_softmax")
    n = 7
    y = m.forward(np.zeros(n, dtype=np.float32))  # log(1/7), rounded: 1 - 7 exp(y_j) cancels
    g = np.ones(n, dtype=np.float32)
    got = m.vjp_from_output(y, g)
    with mpmath.workdps(60):
        exact = 1 - n * mpmath.exp(mpmath.mpf(float(y[0])))
    assert all(ulp_error(v, exact, np.float32) <= 1.0 for v in got)
    assert got[0] != 0.0


def test_log_softmax_float64_error_is_the_documented_one():
    m = mod("log_softmax")
    assert m.FROM_OUTPUT_SLACK == {"float64": 2.0**-50}
    n = 7
    y = m.forward(np.zeros(n))
    got = m.vjp_from_output(y, np.ones(n))
    with mpmath.workdps(60):
        exact = 1 - n * mpmath.exp(mpmath.mpf(float(y[0])))
    slack = n * mpmath.exp(mpmath.mpf(float(y[0]))) * m.FROM_OUTPUT_SLACK["float64"]
    assert all(ulp_error(v, exact, np.float64, slack) <= 4.0 for v in got)


def test_log_softmax_float32_exponential_is_within_its_bound_and_large_outputs_take_the_exact_path():
    """_exp_short (the float32 rows' exponential, Taylor to degree 10) is within 2**-41 of exp on every 997th
    float32 in [-700, 700]; a row with y_j > 700 (no log-softmax output; _exp_short clamps there) gives what the
    plain scalar path gives, and mid-size rows with random g match mpmath within an ulp."""
    m = mod("log_softmax")
    top = np.float32(700.0).view(np.int32)
    bits = np.arange(0, int(top), 997, dtype=np.int32)
    y = np.concatenate([bits, bits | np.int32(-(2**31))]).view(np.float32).astype(np.float64)
    got = np.array([from_python(m._exp_short)(v) for v in y[::50]])
    with mpmath.workdps(40):
        exact = [mpmath.exp(mpmath.mpf(float(v))) for v in y[::50]]
    rel = max(abs((mpmath.mpf(float(a)) - b) / b) for a, b in zip(got, exact))
    assert rel <= 2.0**-41
    row = np.array([-1.0, 800.0, np.inf, -3.0], dtype=np.float32)
    g = np.array([1.0, 0.5, -2.0, 3.0], dtype=np.float32)
    want = np.empty_like(row)
    from_python(m._from_output_plain)(row, g, want)
    np.testing.assert_array_equal(m.vjp_from_output(row, g), want)
    rng = np.random.default_rng(3)
    ys = m.forward(rng.normal(0, 3, (4, 50)).astype(np.float32))
    gs = rng.normal(size=ys.shape).astype(np.float32)
    out = m.vjp_from_output(ys, gs)
    with mpmath.workdps(40):
        for yr, gr, orow in zip(ys, gs, out):
            total = sum(mpmath.mpf(float(v)) for v in gr)
            for yj, gj, oj in zip(yr, gr, orow):
                exact = mpmath.mpf(float(gj)) - mpmath.exp(mpmath.mpf(float(yj))) * total
                assert ulp_error(oj, exact, np.float32) <= 1.0


def test_float32_rows_longer_than_1024_sum_in_double_double_and_stay_within_an_ulp():
    """Rows of 3000: the sum in double-double (its error bound n**2 2**-105, not the plain sum's n 2**-53, which
    sent nearly every long row to the redo); every output within an ulp of the exact value."""
    rng = np.random.default_rng(9)
    a = rng.normal(0, 2, (2, 3000)).astype(np.float32)
    g = rng.normal(size=a.shape).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        m = mod(name)
        y = m.forward(a)
        got = m.vjp_from_output(y, g)
        for r in range(a.shape[0]):
            if name == "softmax":
                s = sum(Fraction(float(p)) * Fraction(float(q)) for p, q in zip(y[r], g[r]))
                exact = [_mp(Fraction(float(p)) * (Fraction(float(q)) - s)) for p, q in zip(y[r], g[r])]
            else:
                rows = (y[r], g[r])
                total = _mp(sum(Fraction(float(q)) for q in g[r]))
                with mpmath.workdps(40):
                    exact = [mpmath.mpf(float(q)) - mpmath.exp(mpmath.mpf(float(v))) * total for v, q in zip(*rows)]
            assert max(ulp_error(v, e, np.float32) for v, e in zip(got[r], exact)) <= 1.0, name
