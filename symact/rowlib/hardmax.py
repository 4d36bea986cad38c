"""Hardmax over rows: the indicator of the (first) maximum, its vjp (zero) and jacobian.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from .checks import _floats
from .fast import _INF_BITS, _by_blocks, _key_value, _max_key, _threaded
from .rows import _direct, _result, _rows


@numba.njit(cache=True, error_model="numpy")
def _forward_row(row, out):
    n = row.shape[0]
    key = _max_key(row)
    if key > _INF_BITS:
        out[:] = math.nan
        return
    m = _key_value(key)
    first = n
    for k in range(n):  # the first entry equal to the maximum: an integer min, vectorised
        hit = np.float64(row[k]) == m
        c = k if hit else n
        first = c if c < first else first  # min, without Numba compiling its builtin's overload
    out[:] = 0.0
    if first < n:
        out[first] = 1.0


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _forward_rows(a, out):
    for r in range(a.shape[0]):
        _forward_row(a[r], out[r])
    return out


def _forward_rows_par(a, out, chunks):
    """_forward_rows over ``chunks`` blocks of rows on threads."""
    _by_blocks(_forward_rows, chunks, (a, out), (0, 1))
    return out


@numba.njit(cache=True, error_model="numpy")
def _vjp_row(row, g, out):
    bad = _max_key(row) > _INF_BITS
    for k in range(row.shape[0]):
        gk = np.float64(g[k])
        out[k] = math.nan if bad or gk != gk else 0.0


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _vjp_rows(a, g, out):
    for r in range(a.shape[0]):
        _vjp_row(a[r], g[r], out[r])
    return out


def _vjp_rows_par(a, g, out, chunks):
    """_vjp_rows over ``chunks`` blocks of rows on threads."""
    _by_blocks(_vjp_rows, chunks, (a, g, out), (0, 1, 2))
    return out


def forward(a, axis=-1, *, out=None):
    """The one-hot vector of the (first) maximum along ``axis``; a row with nan gives nan."""
    array, shape, rows = _rows(a, "a", axis)
    chunks = _threaded(rows)
    target = np.empty_like(rows) if (direct := _direct(out, array, axis)) is None else direct
    if not rows.size:  # an empty result for an empty input
        result = target
    else:
        result = _forward_rows_par(rows, target, chunks) if chunks else _forward_rows(rows, target)
    return out if direct is not None else _result(result, shape, axis, out, array.dtype)


def vjp(a, g, axis=-1, *, out=None):
    """Zero: hardmax is piecewise constant, so every partial derivative is 0 (nan where a is nan)."""
    array, shape, rows = _rows(a, "a", axis)
    garray = _floats(g, "g")
    if garray.shape != array.shape:
        raise ValueError(f"g must have the shape of a, {array.shape}, not {garray.shape}")
    _, _, grows = _rows(garray, "g", axis)
    chunks = _threaded(rows)
    target = np.empty_like(rows) if (direct := _direct(out, array, axis, garray)) is None else direct
    if not rows.size:
        result = target
    else:
        result = _vjp_rows_par(rows, grows, target, chunks) if chunks else _vjp_rows(rows, grows, target)
    return out if direct is not None else _result(result, shape, axis, out, array.dtype)


def jacobian(a, *, out=None):
    """The n x n zero matrix for a 1-D ``a``."""
    array = _floats(a, "a")
    if array.ndim != 1:
        raise ValueError(f"jacobian expects a 1-D vector a, not an array of shape {array.shape}")
    result = np.zeros((array.shape[0], array.shape[0]), dtype=array.dtype)
    if out is None:
        return result
    if not isinstance(out, np.ndarray) or out.shape != result.shape:
        raise ValueError(f"out must be an array of shape {result.shape}")
    out[...] = result
    return out
