"""The row kernels' rare paths as kernels of their own: the hot kernel flags a row it cannot finish (nan or
infinite entries, rows past the vectorised length, cancellation beyond its error bound), and the Python
wrapper calls the redo kernel only when some row is flagged, so that a first call compiles the rare path only
where its input needs it (issue 13: the cold first call).  The redone rows are those the row kernel used to
redo in place."""

from __future__ import annotations

import numpy as np
import pytest

from symact.check import load_module

from .conftest import from_python


def _vjp_dd_rows(m, a, g):
    """Every row by the scalar double-double _vjp_row_dd."""
    n = a.shape[1]
    out = np.empty_like(a)
    w = np.empty((6, n))
    ke = np.empty(n, dtype=np.int64)
    for r in range(a.shape[0]):
        from_python(m._vjp_row_dd)(a[r], g[r], out[r], w, ke)
    return out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the nan row
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_the_vjp_flags_the_rows_it_leaves_and_the_redo_gives_the_double_double_rows(name):
    m = load_module(name)
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        a = rng.normal(0, 2, (6, 40)).astype(dtype)
        g = rng.normal(size=a.shape).astype(dtype)
        a[1, 3] = np.nan
        a[2, 5] = np.inf
        a[3, 0] = 40.0  # one class near 1: for softmax g_j - sum_i p_i g_i cancels where g is constant
        g[3] = 1.0 if name == "softmax" else 0.0
        g[3, 0] = g[3, 0] if name == "softmax" else 1.0  # log-softmax: g_0 - p_0 g_0 cancels
        redo = np.zeros(a.shape[0], dtype=np.bool_)
        hot = m._vjp_rows(a, g, np.empty_like(a), redo)
        assert redo[1] and redo[2] and not redo[0]
        assert redo[3] == (dtype == np.float32)  # float64 rows are in double-double throughout: no bound to check
        again = m._vjp_redo(a, g, hot.copy(), redo)
        np.testing.assert_array_equal(again[redo], _vjp_dd_rows(m, a, g)[redo])
        np.testing.assert_array_equal(again[~redo], hot[~redo])
        np.testing.assert_array_equal(m.vjp(a, g), again)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_the_forward_leaves_nan_and_infinite_rows_to_the_scalar_kernel(name):
    m = load_module(name)
    for dtype in (np.float32, np.float64):
        a = np.array([[0.0, 1.0, 2.0], [np.nan, 0.0, 1.0], [np.inf, 0.0, np.inf], [-np.inf] * 3], dtype=dtype)
        redo = np.zeros(4, dtype=np.bool_)
        hot = m._forward_rows(a, np.empty_like(a), redo)
        assert redo.tolist() == [False, True, True, True]
        again = m._forward_redo(a, hot.copy(), redo)
        expected = np.empty_like(a)
        e = np.empty(3)
        lo = np.empty(3)
        for r in range(4):
            from_python(m._forward_row_slow)(a[r], expected[r], e, lo)
        np.testing.assert_array_equal(again[1:], expected[1:])
        np.testing.assert_array_equal(m.forward(a), again)


@pytest.mark.parametrize("sparse", [False, True])
def test_the_cross_entropy_gradient_redoes_a_cancelling_row_in_double_double(sparse):
    """A float32 row whose soft labels equal the prediction (p_j sum(y) - y_j cancels) and a row with an infinite
    logit are flagged and redone by _grad_row_dd; the loss leaves the infinite row to _loss_row_slow."""
    m = load_module("sparse_softmax_cross_entropy_with_logits" if sparse else "softmax_cross_entropy_with_logits")
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 8)).astype(np.float32)
    z[1] = 0.0  # p = 1/8 exactly: labels equal to it cancel to 0 (the bound no longer grows with n, issue 15)
    z[2, 1] = np.inf
    if sparse:
        y = np.array([0, 1, 1])
        rows_y, t = np.zeros((1, 8)), y.astype(np.int64)
    else:
        p = np.exp(z[1] - z[1].max())
        y = np.abs(rng.normal(size=z.shape)).astype(np.float32)
        y[1] = p / p.sum()
        rows_y, t = y, np.zeros(1, dtype=np.int64)
    redo = np.zeros(3, dtype=np.bool_)
    hot = m._grad_rows(z, rows_y, np.empty_like(z), sparse, t, 1.0, redo)
    assert redo[2] and not redo[0]
    if not sparse:
        assert redo[1]
    again = m._grad_redo(z, rows_y, hot.copy(), sparse, t, 1.0, redo)
    w = np.empty((15, 8))
    ke = np.empty(8, dtype=np.int64)
    for r in np.flatnonzero(redo):
        yrow = np.eye(8)[y[r]] if sparse else y[r].astype(np.float64)
        alone = np.empty(8, dtype=np.float32)
        from_python(m._grad_row_dd)(z[r], yrow, alone, 1.0, w, ke)
        np.testing.assert_array_equal(alone, again[r])
    np.testing.assert_array_equal(m.grad(z, y, reduction="sum"), again)
    loss_redo = np.zeros(3, dtype=np.bool_)
    m._loss_rows(z, rows_y, np.empty(3), sparse, t, loss_redo)
    assert loss_redo.tolist() == [False, False, True]
