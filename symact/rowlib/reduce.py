"""The reductions of the losses (none, mean, sum) and their output arrays.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of none, mean, sum, not {reduction!r}")
    return reduction


def _same_shape(a, b, names):
    if a.shape != b.shape:
        raise ValueError(f"{names[1]} must have the shape of {names[0]}, {a.shape}, not {b.shape}")


def _finish(values, reduction, dtype, out, count):
    """Reduce float64 per-element (or per-row) values; 'mean' divides by ``count``."""
    if reduction == "none":
        if out is None:
            return values.astype(dtype)
        if not isinstance(out, np.ndarray) or out.shape != values.shape:
            raise ValueError(f"out must be an array of shape {values.shape}")
        out[...] = values
        return out
    if out is not None:
        raise ValueError("out= is only for reduction='none'; mean and sum return a scalar")
    total = _fsum(values.reshape(-1))
    if reduction == "mean":
        total = total / count if count else math.nan
    return dtype.type(total)


def _grad_out(values, dtype, out):
    if out is None:
        return values.astype(dtype)
    if not isinstance(out, np.ndarray) or out.shape != values.shape:
        raise ValueError(f"out must be an array of shape {values.shape}")
    out[...] = values
    return out


@numba.njit(cache=True)
def _fsum(values):
    s = 0.0
    c = 0.0
    for k in range(values.shape[0]):
        v = values[k]
        t = s + v
        if abs(s) >= abs(v):
            c += (s - t) + v
        else:
            c += (v - t) + s
        s = t
    return s + c if math.isfinite(s) else s
