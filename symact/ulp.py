"""ULP errors against mpmath and grids that span the whole float range (used by vecmath's tests and report).

>>> import numpy as np
>>> float(ulp_error(np.float64(1.0) + np.finfo(np.float64).eps, 1.0, np.float64)[0])
1.0
>>> g = float_grid(np.float32, 200)
>>> bool(np.isnan(g).any() and np.isinf(g).any() and (g == np.finfo(np.float32).smallest_subnormal).any())
True
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

__all__ = ["float_grid", "ulp_error", "reference"]


def float_grid(dtype, n: int, seed: int = 0, extra=()) -> np.ndarray:
    """About n values of dtype: +-(every binade from the smallest subnormal to the largest finite, log-spaced
    with random mantissas), uniform values in [-40, 40], the extremes, +-0, +-inf, nan, and ``extra``
    (with their neighbours)."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    rng = np.random.default_rng(seed)
    lo, hi = math.log2(float(fi.smallest_subnormal)), math.log2(float(fi.max))
    mags = np.exp2(rng.uniform(lo, hi, n // 2))
    small = rng.uniform(-40.0, 40.0, n // 4)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, fi.max, -fi.max, fi.smallest_subnormal, fi.tiny, 1.0, -1.0]
    with np.errstate(over="ignore"):
        pts = np.concatenate([mags, -mags[: n // 4], small, np.array(specials, dtype=np.float64)]).astype(dtype)
    around = np.array(list(extra), dtype=dtype)
    near = [around]
    for _ in range(3):
        near.append(np.nextafter(near[-1], dtype.type(np.inf)))
        near.append(np.nextafter(near[-2], dtype.type(-np.inf)))
    return np.concatenate([pts, *near]).astype(dtype)


def reference(f, x: np.ndarray, dps: int = 40) -> list:
    """f (an mpmath function) at every element of x, exactly converted, at dps digits."""
    with mpmath.workdps(dps):
        out = []
        for v in x.astype(np.float64).tolist():
            if math.isnan(v):
                out.append(mpmath.nan)
            else:
                out.append(f(mpmath.mpf(v)))
        return out


def _ulp_at(r: mpmath.mpf, dtype) -> mpmath.mpf:
    fi = np.finfo(dtype)
    a = abs(r)
    if a < mpmath.mpf(float(fi.tiny)):
        return mpmath.mpf(float(fi.smallest_subnormal))
    e = mpmath.floor(mpmath.log(a, 2))
    if mpmath.mpf(2) ** (e + 1) <= a:  # log2 rounding at exact powers of two
        e += 1
    return mpmath.mpf(2) ** (e - (fi.nmant))


def ulp_error(values, ref, dtype) -> np.ndarray:
    """|value - ref| in units of the last place of ref in dtype, per element.

    An infinite value counts as +-2**(emax+1), the next power of two beyond the largest finite, so overflow
    to inf is 0.5 ulp or less exactly where rounding to nearest overflows.  nan matches only a nan
    reference; an infinite reference matches only the same infinity; a mismatch there is inf ulp."""
    dtype = np.dtype(dtype)
    with mpmath.workdps(max(60, mpmath.mp.dps)):  # an mpf reference keeps its digits (mpf() rounds to the context)
        return _ulp_errors(values, ref, dtype)


def _ulp_errors(values, ref, dtype) -> np.ndarray:
    fmax = mpmath.mpf(float(np.finfo(dtype).max))
    beyond = mpmath.mpf(2) ** (np.finfo(dtype).maxexp)
    values = np.atleast_1d(np.asarray(values, dtype=dtype))
    refs = ref if isinstance(ref, (list, tuple)) else [mpmath.mpf(ref)] * values.size
    out = np.empty(values.size)
    for i, (v, r) in enumerate(zip(values.tolist(), refs)):
        if math.isnan(v) or mpmath.isnan(r):
            out[i] = 0.0 if (math.isnan(v) and mpmath.isnan(r)) else np.inf
        elif mpmath.isinf(r):
            out[i] = 0.0 if v == r else np.inf
        else:
            veff = mpmath.mpf(v) if math.isfinite(v) else (beyond if v > 0 else -beyond)
            r = max(-beyond, min(beyond, r))
            out[i] = float(abs(veff - r) / _ulp_at(min(abs(r), fmax), dtype))
    return out
