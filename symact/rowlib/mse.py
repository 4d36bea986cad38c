"""Mean squared error: the squares of exact differences, summed exactly.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from .checks import _floats
from .fast import _FAST_MAX_N, _chunk, _nonneg_sum
from .reduce import _finish, _fsum, _grad_out, _reduction, _same_shape
from .rows import _direct


@numba.njit(cache=True, error_model="numpy")
def _squares(yhat, y, out):
    for k in range(yhat.shape[0]):
        a = np.float64(yhat[k])
        b = np.float64(y[k])
        d = a - b
        bb = d - a
        err = (a - (d - bb)) + (-b - bb)
        out[k] = d * d + 2.0 * d * err
    return out


@numba.njit(cache=True, error_model="numpy")
def _block_sum(yhat, y, c, blocks, buf):
    """The squares of block c of ``blocks`` summed to relative precision (nonnegative: fixed point)."""
    start, stop = _chunk(c, blocks, yhat.shape[0])
    part = buf[: stop - start]
    _squares(yhat[start:stop], y[start:stop], part)
    return _nonneg_sum(part, math.inf)


@numba.njit(cache=True, error_model="numpy")
def _sum_squares(yhat, y, blocks):
    sums = np.empty(blocks)
    buf = np.empty(_FAST_MAX_N)
    for c in range(blocks):
        sums[c] = _block_sum(yhat, y, c, blocks, buf)
    return _fsum(sums)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _sum_squares_par(yhat, y, blocks, chunks):
    sums = np.empty(blocks)
    for c in numba.prange(chunks):
        buf = np.empty(_FAST_MAX_N)
        start, stop = _chunk(c, chunks, blocks)
        for b in range(start, stop):
            sums[b] = _block_sum(yhat, y, b, blocks, buf)
    return _fsum(sums)


@numba.njit(cache=True, error_model="numpy")
def _scaled_differences(yhat, y, size, out):
    """out = 2 (yhat - y) / size."""
    for k in range(yhat.shape[0]):
        out[k] = 2.0 * (np.float64(yhat[k]) - np.float64(y[k])) / size
    return out


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _scaled_differences_par(yhat, y, size, out, chunks):
    for c in numba.prange(chunks):
        start, stop = _chunk(c, chunks, yhat.shape[0])
        _scaled_differences(yhat[start:stop], y[start:stop], size, out[start:stop])
    return out


def _inputs(predictions, targets):
    yhat = _floats(predictions, "predictions")
    y = _floats(targets, "targets")
    _same_shape(yhat, y, ("predictions", "targets"))
    return yhat, y


def _flat(x):
    return np.ascontiguousarray(x).reshape(-1)


def forward(predictions, targets, reduction="mean", *, out=None):
    """Squared errors (yhat - y)^2, reduced by ``reduction`` (none, mean or sum)."""
    reduction = _reduction(reduction)
    yhat, y = _inputs(predictions, targets)
    if reduction == "none":
        direct = _direct(out, yhat, -1, y) if yhat.ndim else None
        target = direct.reshape(-1) if direct is not None else np.empty(yhat.size, dtype=yhat.dtype)
        flat = _squares(_flat(yhat), _flat(y), target).reshape(yhat.shape)
        if direct is not None or out is None:
            return out if direct is not None else flat
        return _finish(flat, reduction, yhat.dtype, out, yhat.size)
    if out is not None:
        raise ValueError("out= is only for reduction='none'; mean and sum return a scalar")
    blocks = max(1, -(-yhat.size // _FAST_MAX_N))
    chunks = min(blocks, 4 * numba.get_num_threads()) if yhat.size >= 262144 and numba.get_num_threads() > 1 else 0
    if chunks:
        total = _sum_squares_par(_flat(yhat), _flat(y), blocks, chunks)
    else:
        total = _sum_squares(_flat(yhat), _flat(y), blocks)
    if reduction == "mean":
        total = total / yhat.size if yhat.size else math.nan
    return yhat.dtype.type(total)


def grad(predictions, targets, reduction="mean", *, out=None):
    """The gradient 2 (yhat - y), divided by the number of elements for the mean."""
    reduction = _reduction(reduction)
    yhat, y = _inputs(predictions, targets)
    size = float(yhat.size) if reduction == "mean" and yhat.size else 1.0
    direct = _direct(out, yhat, -1, y) if yhat.ndim else None
    target = direct.reshape(-1) if direct is not None else np.empty(yhat.size, dtype=yhat.dtype)
    chunks = min(yhat.size // 65536, 4 * numba.get_num_threads()) if numba.get_num_threads() > 1 else 0
    if yhat.size >= 262144 and chunks > 1:
        values = _scaled_differences_par(_flat(yhat), _flat(y), size, target, chunks)
    else:
        values = _scaled_differences(_flat(yhat), _flat(y), size, target)
    if direct is not None or out is None:
        return out if direct is not None else values.reshape(yhat.shape)
    return _grad_out(values.reshape(yhat.shape), yhat.dtype, out)
