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
    """Reduce float64 per-element (or per-row) values, an array the caller made (returned as they are where they
    have ``dtype``: no copy); 'mean' divides by ``count``."""
    if reduction == "none":
        if out is None:
            return values.astype(dtype, copy=False)
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
    """``values`` (an array the caller made) in ``dtype``, as they are where they have it, or copied into ``out``."""
    if out is None:
        return values.astype(dtype, copy=False)
    if not isinstance(out, np.ndarray) or out.shape != values.shape:
        raise ValueError(f"out must be an array of shape {values.shape}")
    out[...] = values
    return out


@numba.njit(cache=True)
def _fsum(values):
    """The sum of ``values``, compensated: four interleaved accumulators, each adding with TwoSum (its rounding
    error kept exactly, no branch), so that the four chains run at the adds' throughput rather than one chain
    at their latency; then the four sums, their four errors and the last elements added by Neumaier's sum.
    The error is that of a compensated sum, about one rounding of the total plus n u^2 sum |v|; non-finite:
    the plain sum (inf, or nan)."""
    n = values.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    c0 = c1 = c2 = c3 = 0.0
    k = 0
    while k + 4 <= n:
        v0, v1, v2, v3 = values[k], values[k + 1], values[k + 2], values[k + 3]
        t0, t1, t2, t3 = s0 + v0, s1 + v1, s2 + v2, s3 + v3
        b0, b1, b2, b3 = t0 - s0, t1 - s1, t2 - s2, t3 - s3
        c0 += (s0 - (t0 - b0)) + (v0 - b0)
        c1 += (s1 - (t1 - b1)) + (v1 - b1)
        c2 += (s2 - (t2 - b2)) + (v2 - b2)
        c3 += (s3 - (t3 - b3)) + (v3 - b3)
        s0, s1, s2, s3 = t0, t1, t2, t3
        k += 4
    plain = s0 + s1 + s2 + s3
    for i in range(k, n):
        plain += values[i]
    if not math.isfinite(plain):  # an inf or nan among the values (or a sum past the float range)
        return plain
    s = 0.0
    c = 0.0
    for v in (s0, s1, s2, s3, c0, c1, c2, c3):
        t = s + v
        c += (s - t) + v if abs(s) >= abs(v) else (v - t) + s
        s = t
    for i in range(k, n):
        v = values[i]
        t = s + v
        c += (s - t) + v if abs(s) >= abs(v) else (v - t) + s
        s = t
    return s + c
