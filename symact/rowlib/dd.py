"""Double-double arithmetic: exact products, sums and quotients, exp to about 2**-60 relative
(a few bits past float64), and log to about 2**-100.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from ..vecmath import _EXACT, _INV_LN2, _SHIFT, _SHIFT_BITS, _f64_bits, _fast_two_sum, _pow2_f64, _two_sum, fma


@numba.njit(**_EXACT)
def _two_prod(a, b):
    """p + e = a * b exactly (Dekker with Veltkamp's split; no FMA); e = 0 where the split would overflow."""
    p = a * b
    if not (abs(a) < 1e300 and abs(b) < 1e300 and abs(p) < 1e300) or p == 0.0:
        return p, 0.0
    c = 134217729.0 * a
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(**_EXACT)
def _vtwo_prod(a, b):
    """p + e = a * b exactly (barring underflow), the error by one fma (vecmath's intrinsic; Veltkamp's split
    took 17 operations).  Inlined by LLVM: the SIMD loops that call it stay vectorised."""
    p = a * b
    return p, fma(a, b, -p)


@numba.njit(**_EXACT)
def _dd_add(ah, al, bh, bl):
    s, e = _two_sum(ah, bh)
    return _fast_two_sum(s, e + (al + bl))


@numba.njit(**_EXACT)
def _dd_mul(ah, al, bh, bl):
    p, e = _two_prod(ah, bh)
    return _fast_two_sum(p, e + (ah * bl + al * bh))


@numba.njit(cache=True)
def _dd_div(ah, al, bh, bl):
    q = ah / bh
    p, e = _two_prod(q, bh)
    r = (((ah - p) - e) + al) - q * bl
    return _fast_two_sum(q, r / bh)


@numba.njit(**_EXACT)
def _vdd_mul(ah, al, bh, bl):
    """(ah + al)(bh + bl) in double-double, as ``_dd_mul`` with the product's error by an fma: branch-free."""
    p, e = _vtwo_prod(ah, bh)
    s = p + (e + (ah * bl + al * bh))
    return s, (e + (ah * bl + al * bh)) - (s - p)


@numba.njit(**_EXACT)
def _vdd_div(ah, al, bh, bl):
    """(ah + al) / (bh + bl) in double-double, as ``_dd_div`` with the product's error by an fma: branch-free."""
    q = ah / bh
    p, e = _vtwo_prod(q, bh)
    r = (((ah - p) - e) + al) - q * bl
    return _fast_two_sum(q, r / bh)


@numba.njit(**_EXACT)
def _exp_tail_poly(r1):
    """(exp(r) - 1 - r - r^2/2) / r^3 at the reduced argument r1: Horner's scheme on the Taylor series to degree
    17, the tail of the double-double exp (here and in the SIMD loops), inlined by LLVM."""
    q = 1.0 / 20922789888000.0
    q = q * r1 + 1.0 / 1307674368000.0
    q = q * r1 + 1.0 / 87178291200.0
    q = q * r1 + 1.0 / 6227020800.0
    q = q * r1 + 1.0 / 479001600.0
    q = q * r1 + 1.0 / 39916800.0
    q = q * r1 + 1.0 / 3628800.0
    q = q * r1 + 1.0 / 362880.0
    q = q * r1 + 1.0 / 40320.0
    q = q * r1 + 1.0 / 5040.0
    q = q * r1 + 1.0 / 720.0
    q = q * r1 + 1.0 / 120.0
    q = q * r1 + 1.0 / 24.0
    q = q * r1 + 1.0 / 6.0
    return q


@numba.njit(cache=True)
def _exp_dd(x, xlo):
    """exp(x + xlo) = (hi + lo) * 2**k with hi + lo about 2**-60 relative (what the split of ln 2 in 21 + 53
    bits and the polynomial give), for x <= 0 (xlo tiny)."""
    if x < -2200.0:
        return 0.0, 0.0, 0
    k = math.floor(x * 1.4426950408889634 + 0.5)
    rh = x - k * 0.6931467056274414  # exact: the constant has 21 bits and |k| < 2**12
    r1, r2 = _two_sum(rh, -(k * 4.7493250390316726e-07))
    r2 += xlo
    sh, sl = _two_prod(r1, r1)
    q = _exp_tail_poly(r1)
    tail = (r1 * sh) * q
    a, b = _two_sum(1.0, r1)
    c, d = _two_sum(a, 0.5 * sh)
    hi, lo = _fast_two_sum(c, b + d + (0.5 * sl + tail))
    return hi, lo + hi * r2, int(k)


@numba.njit(**_EXACT)
def _vexp_dd(x, xlo):
    """exp(x + xlo) = hi + lo, to about 2**-60 relative as ``_exp_dd``, for x in [-600, 700] and a tiny xlo (the
    callers select a value in range and redo the elements outside): branch-free, so that a loop of it stays
    vectorised.  The reduction
    x = k ln 2 + r1 + r2 rounds x / ln 2 to the nearest integer by adding 1.5 * 2**52 (vecmath's exp), the
    polynomial is ``_exp_tail_poly``'s, r1^2 exact by an fma; 2**k scales hi and lo exactly (normal numbers)."""
    t = x * _INV_LN2 + _SHIFT
    k = t - _SHIFT
    rh = x - k * 0.6931467056274414  # exact: the constant has 21 bits and |k| < 2**11
    r1, r2 = _two_sum(rh, -(k * 4.7493250390316726e-07))
    r2 += xlo
    sh = r1 * r1
    sl = fma(r1, r1, -sh)
    tail = (r1 * sh) * _exp_tail_poly(r1)
    a, b = _two_sum(1.0, r1)
    c, d = _two_sum(a, 0.5 * sh)
    hi, lo = _fast_two_sum(c, b + d + (0.5 * sl + tail))
    scale = _pow2_f64(_f64_bits(t) - _SHIFT_BITS)
    return hi * scale, (lo + hi * r2) * scale


@numba.njit(cache=True)
def _log_dd(x):
    """log(x) = hi + lo to about 2**-100 relative, for a finite x > 0: x = m 2**e with m in [1/sqrt 2, sqrt 2),
    log m = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...) with s = (m - 1)/(m + 1), |s| < 0.172, the series to
    s^44 (its first eleven terms in double-double, the rest, below 2**-53 of the sum, in double), and e ln 2
    added with ln 2 as two doubles."""
    m, e = math.frexp(x)
    if m < 0.7071067811865476:
        m *= 2.0
        e -= 1
    dh, dl = _two_sum(m, 1.0)
    sh, sl = _dd_div(m - 1.0, 0.0, dh, dl)  # m - 1 exact (Sterbenz)
    s2h, s2l = _dd_mul(sh, sl, sh, sl)
    q = 1.0 / 45.0
    for c in (1.0 / 43.0, 1.0 / 41.0, 1.0 / 39.0, 1.0 / 37.0, 1.0 / 35.0, 1.0 / 33.0, 1.0 / 31.0, 1.0 / 29.0):
        q = q * s2h + c
    q = (q * s2h + 1.0 / 27.0) * s2h + 1.0 / 25.0
    qh, ql = q * s2h + 1.0 / 23.0, 0.0
    for ch, cl in (
        (0.047619047619047616, 2.64338815386942e-18),  # 1/21 as two doubles
        (0.05263157894736842, 2.921639538487254e-18),
        (0.058823529411764705, 8.163404592832033e-19),
        (0.06666666666666667, 9.251858538542971e-19),
        (0.07692307692307693, -4.270088556250602e-18),
        (0.09090909090909091, -2.523234146875356e-18),
        (0.1111111111111111, 6.1679056923619804e-18),
        (0.14285714285714285, 7.93016446160826e-18),
        (0.2, -1.1102230246251566e-17),
        (0.3333333333333333, 1.850371707708594e-17),  # 1/3
        (1.0, 0.0),
    ):
        qh, ql = _dd_mul(qh, ql, s2h, s2l)
        qh, ql = _dd_add(qh, ql, ch, cl)
    lh, ll = _dd_mul(sh, sl, qh, ql)
    ph, pl = _two_prod(float(e), 0.6931471805599453)
    return _dd_add(ph, pl + e * 2.3190468138462996e-17, 2.0 * lh, 2.0 * ll)


@numba.njit(cache=True)
def _dd_exps(row, m, eh, el, ke):
    """exp(row[k] - m) = (eh[k] + el[k]) * 2**ke[k] in double-double, for a finite max m;
    returns the total sum_k exp(row[k] - m) as a double-double."""
    th = 0.0
    tl = 0.0
    for k in range(row.shape[0]):
        v = np.float64(row[k])
        d, err = _two_sum(v, -m)
        if d == -math.inf:
            eh[k] = 0.0
            el[k] = 0.0
            ke[k] = 0
            continue
        h, lo, kk = _exp_dd(d, err)
        eh[k] = h
        el[k] = lo
        ke[k] = kk
        th, tl = _dd_add(th, tl, math.ldexp(h, kk), math.ldexp(lo, kk))
    return th, tl
