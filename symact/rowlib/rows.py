"""Rows of an array along an axis, and the scalar row helpers: the exact shifted exponentials, compensated sums.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from .checks import _floats


def _rows(value, name, axis):
    """The input as a C-contiguous 2-D array of rows along ``axis``, and how to undo that."""
    array = _floats(value, name)
    if array.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (a vector of scores)")
    if not -array.ndim <= axis < array.ndim:
        raise ValueError(f"axis {axis} is out of range for {name} with {array.ndim} dimensions")
    # rows along the last axis need no moveaxis (4 us of a small call's 16)
    moved = array if axis in (-1, array.ndim - 1) else np.moveaxis(array, axis, -1)
    rows = np.ascontiguousarray(moved.reshape(math.prod(moved.shape[:-1]), moved.shape[-1]))  # (k, 0) rows too
    return array, moved.shape, rows


def _direct(out, array, axis, *others):
    """``out`` as rows, to be written in place, where it is a C-contiguous array of the input's shape and
    dtype and the rows run along its last axis; else None (the result is computed, then copied)."""
    if (
        isinstance(out, np.ndarray)
        and out.shape == array.shape
        and out.dtype == array.dtype
        and out.flags.c_contiguous
        and out.ndim >= 1
        and axis in (-1, array.ndim - 1)
        and not any(np.shares_memory(out, x) for x in (array, *others))
    ):
        return out.reshape(math.prod(array.shape[:-1]), array.shape[-1])
    return None


def _result(rows_out, moved_shape, axis, out, dtype):
    result = rows_out.reshape(moved_shape)
    if axis not in (-1, len(moved_shape) - 1):
        result = np.moveaxis(result, -1, axis)
    if out is None:
        return result
    if not isinstance(out, np.ndarray) or out.shape != result.shape:
        raise ValueError(f"out must be an array of shape {result.shape}")
    out[...] = result
    return out


@numba.njit(cache=True)
def _shifted(a, m, e, lo):
    """e[k] = exp(a[k] - m) with a[k] - m taken exactly (as d + lo); returns the index of the max."""
    kmax = -1
    for k in range(a.shape[0]):
        v = np.float64(a[k])
        d = v - m
        if d == -math.inf:  # a[k] - m overflows (or a[k] = -inf): exp gives 0
            e[k] = 0.0
            lo[k] = 0.0
            continue
        bb = d - v
        err = (v - (d - bb)) + (-m - bb)
        t = math.exp(d)
        e[k] = t + t * err
        lo[k] = err
        if kmax < 0 and v == m:
            kmax = k
    return kmax


@numba.njit(cache=True)
def _neumaier(values, skip):
    """Compensated sum of values[k] for k != skip."""
    s = 0.0
    c = 0.0
    for k in range(values.shape[0]):
        if k == skip:
            continue
        v = values[k]
        t = s + v
        if abs(s) >= abs(v):
            c += (s - t) + v
        else:
            c += (v - t) + s
        s = t
    return s + c if math.isfinite(s) else s


@numba.njit(cache=True)
def _row_special(a):
    """(has_nan, max)."""
    m = -math.inf
    bad = False
    for k in range(a.shape[0]):
        v = np.float64(a[k])
        if v != v:
            bad = True
        elif v > m:
            m = v
    return bad, m


@numba.njit(cache=True)
def _excluded(values, out):
    """out[k] = sum of values[i] for i != k, from prefix and suffix sums (no cancellation)."""
    n = values.shape[0]
    acc = 0.0
    for k in range(n):
        out[k] = acc
        acc += values[k]
    acc = 0.0
    for k in range(n - 1, -1, -1):
        out[k] += acc
        acc += values[k]
