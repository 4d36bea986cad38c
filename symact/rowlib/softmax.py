"""Softmax and log-softmax over rows: forward, vjp from the scores and from the output, jacobian.

``_LOG`` chooses log-softmax; each generated module sets it (a constant, so that Numba compiles one path).

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from ..vecmath import (
    _EXACT,
    _EXP_LO,
    _F32_C3,
    _F32_C4,
    _F32_C5,
    _F32_C6,
    _F32_C7,
    _F32_HALF,
    _F32_INV_LN2,
    _F32_LN2_HI,
    _F32_LN2_LO,
    _F32_ONE,
    _F32_SHIFT,
    _F32_ZERO,
    _INV_LN2,
    _LN2_HI,
    _LN2_LO,
    _SHIFT,
    _SHIFT_BITS,
    _bits_f32,
    _bits_f64,
    _exp_poly_f64,
    _f32_bits,
    _f64_bits,
    _fast_two_sum,
    _two_sum,
    exp_f64,
    fma,
    select,
)
from .checks import _floats
from .dd import _dd_add, _dd_div, _dd_exps, _dd_mul, _exp_dd, _exp_tail_poly, _vdd_mul, _vtwo_prod
from .fast import (
    _ABS_MASK,
    _FAST_MAX_N,
    _Q_HI,
    _Q_LO,
    _ROUND_HI,
    _by_blocks,
    _carry,
    _exps,
    _nonneg_sum,
    _row_max,
    _threaded,
)
from .rows import _direct, _excluded, _neumaier, _result, _row_special, _rows, _shifted

#: log-softmax (True) or softmax (False): a module constant, so that Numba compiles the one path the module has
_LOG = False

#: of the scores (1) or of the negated scores (-1: softmin, softmax(-a)).  Negation is exact, so the kernels of
#: softmax(-a) are softmax's on -a, its vjp and Jacobian softmax's negated; a module constant like _LOG
_SIGN = 1


@numba.njit(cache=True, error_model="numpy")
def _forward_row_slow(row, out, e, lo):
    """One row, scalar: nan rows and infinite maxima."""
    n = row.shape[0]
    bad, m = _row_special(row)
    if bad:
        out[:] = math.nan
        return
    if m == math.inf or m == -math.inf:  # the limit: the entries at m share the mass
        count = 0
        for k in range(n):
            if np.float64(row[k]) == m:
                count += 1
        for k in range(n):
            hit = np.float64(row[k]) == m
            if _LOG:
                out[k] = -math.log(count) if hit else -math.inf
            else:
                out[k] = 1.0 / count if hit else 0.0
        return
    kmax = _shifted(row, m, e, lo)
    rest = _neumaier(e, kmax)
    if _LOG:
        big = math.log1p(rest)
        for k in range(n):
            d = np.float64(row[k]) - m
            out[k] = (d - big) + lo[k] if d != -math.inf else -math.inf
    else:
        total = 1.0 + rest
        for k in range(n):
            out[k] = e[k] / total


_CONTRACT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}  # fused multiply-adds only
_F32_ABS = np.int32(0x7FFFFFFF)
_F32_INF = np.int32(0x7F800000)  # the bits of float32 +inf
_F32_EXP_ROW_LO = np.float32(-131.0)  # exp(x) 2**64 is a normal float32 down to x = -131.7
_F32_SCALE_BIAS = np.int32(191 - 0x4B400000)  # bits(t) + it = k + 127 + 64: the exponent of 2**(k + 64)
_F32_TWO_M18 = np.float32(3.814697265625e-06)  # 2**-18
_TWO_M64 = 5.421010862427522e-20  # 2**-64


@numba.njit(cache=True, error_model="numpy")
def _max_key_single(row):
    """_max_key for a float32 row: the largest entry as an ordered int32 key (every nan above +inf), 16 lanes."""
    hi = np.int32(-0x7FFFFFFF)
    for k in range(row.shape[0]):
        b = _f32_bits(np.float32(row[k]))  # (a no-op: float64 rows never come here, but are typed)
        mag = np.int32(b & _F32_ABS)
        key = np.int32(b ^ ((b >> np.int32(31)) & _F32_ABS))
        key = select(mag > _F32_INF, mag, key)
        hi = select(key > hi, key, hi)
    return hi


@numba.njit(**_CONTRACT)
def _exps_f32(row, m, e):
    """e[k] = exp(row[k] - m) 2**64 for a float32 row and its finite maximum m, all in float32 (16 lanes):
    the difference exact as s + err (TwoSum), err folded into the Cody-Waite reduced argument, the degree-7
    polynomial of _exps_single, times 2**(k + 64), exactly (the scale keeps every term that can matter a
    normal number, with float32's relative precision: the rest of a confident row, or a subnormal result);
    0 below -131 (all such terms together are below 2**-173).  No sum here: an int64 fixed-point sum in
    this loop halves its lanes (measured: 8 float32 lanes, slower than a separate pass); _sum_single sums
    e afterwards, from L1."""
    for k in range(row.shape[0]):
        v = np.float32(row[k])
        s = v - m
        bb = s - v
        err = (v - (s - bb)) + (-m - bb)
        low = s < _F32_EXP_ROW_LO
        c = select(low, _F32_EXP_ROW_LO, s)
        t = c * _F32_INV_LN2 + _F32_SHIFT
        kk = t - _F32_SHIFT
        r = ((c - kk * _F32_LN2_HI) - kk * _F32_LN2_LO) + err
        q = _F32_C7
        q = q * r + _F32_C6
        q = q * r + _F32_C5
        q = q * r + _F32_C4
        q = q * r + _F32_C3
        q = q * r + _F32_HALF
        p = _F32_ONE + (r + (r * r) * q)
        scale = _bits_f32(np.int32(np.int32(_f32_bits(t) + _F32_SCALE_BIAS) << np.int32(23)))
        e[k] = select(low, _F32_ZERO, p * scale)


@numba.njit(cache=True, error_model="numpy")
def _sum_single(e):
    """sum_k e[k] for e from _exps_f32, in fixed point: units of 2**18 for n <= 2**16 (2**(18 - x) for
    n <= 2**(16 + x)), truncated, so the error, below n units, is below 2**-30 of the total, which is at least
    2**64; blocks of 2**(16 - x) terms (each below 2**(46 + x) units) fit an int64, their high bits carried
    into a second sum after each block.  An integer sum vectorises in any order and gives the same bits on
    every machine (a float one would need reassociation)."""
    n = e.shape[0]
    x = 0
    while x < 16 and (_FAST_MAX_N << x) < n:
        x += 1
    inv = _bits_f32(np.int32((127 - 18 + x) << 23))  # 2**(x - 18)
    block = _FAST_MAX_N >> x
    hi = 0
    acc = 0
    for start in range(0, n, block):
        eb = e[start : start + block]  # (views: a loop over range(start, stop) does not vectorise)
        for k in range(len(eb)):
            acc += np.int64(np.float32(eb[k]) * inv)
        hi, acc = _carry(hi, acc)
    return (np.float64(hi) * 140737488355328.0 + np.float64(acc)) * _bits_f64((1023 + 18 - x) << 52)


@numba.njit(**_CONTRACT)
def _scale_single(out, inv):
    """out[k] *= inv in float32 (16 lanes), inv split into two float32s ih + il (to about 2**-48) and the
    product e (ih + il) taken by a fused multiply-add: rounded once, bar a 2**-47 relative slip (and a
    quarter of an ulp where the result is subnormal), where a float64 product would take half the lanes
    and two conversions."""
    ih = np.float32(inv)
    il = np.float32(inv - np.float64(ih))
    for k in range(out.shape[0]):
        x = np.float32(out[k])  # (a no-op: float64 rows never come here, but are typed)
        out[k] = x * ih + x * il


@numba.njit(cache=True, error_model="numpy")
def _shift_single(row, out, m, big):
    """out[k] = row[k] - m - big, in float64 (a float32 difference is exact there) and rounded once."""
    for k in range(row.shape[0]):
        out[k] = (np.float64(row[k]) - m) - big


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _forward_row_single(row, out, e, lo):
    """softmax or log-softmax of a float32 row, in float32 where float32 suffices: exp(a_k - m) 2**64 in
    float32 (written to out), their sum in fixed point, then a scale (rounded once) or a shift by log1p of
    the rest (in float64, rounded once)."""
    n = row.shape[0]
    key = _max_key_single(row) if n > 0 else _F32_INF
    m = _bits_f32(np.int32(key ^ ((key >> np.int32(31)) & _F32_ABS)))
    if key >= _F32_INF or m == -math.inf:  # nan, an infinite maximum, an empty row
        return True
    _exps_f32(row, m, out)
    total = _sum_single(out)  # (scaled by 2**64, as out)
    if not _LOG:
        _scale_single(out, 1.0 / total)
        return False
    rest = total * _TWO_M64 - 1.0  # to 2**-30 of the total: relative precision where rest >= 0.5
    if rest < 0.5:  # a confident row (no other entry at 1): the rest to relative precision, from float64
        for k in range(n):
            e[k] = np.float64(out[k]) * _TWO_M64
        rest = _nonneg_sum(e, 1.0)
    _shift_single(row, out, np.float64(m), math.log1p(rest))
    return False


_SCALE_BIAS = 1023 + 64 - _SHIFT_BITS  # bits(t) + it = k + 1023 + 64: the exponent of 2**(k + 64)


@numba.njit(**_CONTRACT)
def _exps_fwd(row, m, e):
    """_exps for the forward (the vjp and the losses keep _exps): fused multiply-adds, and 2**k applied as
    2**(k + 64) (exact) then 2**-64 (one rounding where the result is subnormal) instead of
    _exp_hilo_f64's two halves of k (fewer integer operations)."""
    n = row.shape[0]
    sh = 0
    sl = 0
    for start in range(0, n, _FAST_MAX_N):
        rowb = row[start : start + _FAST_MAX_N]  # (views: a loop over range(start, stop) does not vectorise)
        eb = e[start : start + _FAST_MAX_N]
        for k in range(len(rowb)):
            v = np.float64(rowb[k])
            d = v - m
            bb = d - v
            keep = d > _EXP_LO
            lo = select(keep, (v - (d - bb)) + (-m - bb), 0.0)
            c = select(keep, d, _EXP_LO)
            t = c * _INV_LN2 + _SHIFT
            kk = t - _SHIFT
            r = ((c - kk * _LN2_HI) - kk * _LN2_LO) + lo
            p = 1.0 + (r + _exp_poly_f64(r))
            x = (p * _bits_f64((_f64_bits(t) + _SCALE_BIAS) << 52)) * _TWO_M64
            eb[k] = x
            h = (x + _ROUND_HI) - _ROUND_HI
            sh += np.int64(h * _Q_HI)
            sl += np.int64((x - h) * _Q_LO)
        sh, sl = _carry(sh, sl)
    return np.float64(sh - 1073741824) / _Q_HI + np.float64(sl) / _Q_LO


@numba.njit(**_CONTRACT)
def _divide(e, out, total):
    """out[k] = e[k] / total without a division per entry: e[k] (ih + il) with 1 / total = ih + il to
    about 2**-105 (the remainder 1 - total ih exact by a fused multiply-add), so each out[k] is e[k] / total
    rounded once, bar a 2**-104 relative slip."""
    ih = 1.0 / total
    il = (1.0 - total * ih) / total
    for k in range(e.shape[0]):
        out[k] = e[k] * ih + e[k] * il


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _forward_row_double(row, out, e, lo):
    """softmax or log-softmax of one float64 row: max, exp(a_k - m) summed exactly, in fixed point, then a scale
    or a shift.  Returns whether the row is left to _forward_row_slow (as _forward_row_single)."""
    fast, m = _row_max(row)
    if not fast:
        return True
    rest = _exps_fwd(row, m, e)
    if _LOG:
        big = math.log1p(rest if rest >= 0.0625 else _nonneg_sum(e, 1.0))
        for k in range(row.shape[0]):
            v = np.float64(row[k])
            d = v - m
            bb = d - v
            err = (v - (d - bb)) + (-m - bb)
            x = (d - big) + err
            out[k] = x if d != -math.inf else -math.inf
    else:
        _divide(e, out, 1.0 + rest)
    return False


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _forward_rows_single(a, out, redo, e, lo):
    """_forward_rows for float32 rows, with the workspaces e and lo (a row of float64 each)."""
    for r in range(a.shape[0]):
        redo[r] = _forward_row_single(a[r], out[r], e, lo)
    return out


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _forward_rows_double(a, out, redo, e, lo):
    """_forward_rows for float64 rows, with the workspaces e and lo (a row of float64 each)."""
    for r in range(a.shape[0]):
        redo[r] = _forward_row_double(a[r], out[r], e, lo)
    return out


def _forward_rows(a, out, redo):
    """The rows the vectorised path takes; redo[r] set where row r is left to _forward_redo.  A kernel per dtype,
    chosen here: only the one a call needs compiles, and the row function is called directly (a choice made in
    Numba, by an overload, is a level of its own that compiles the whole row function once more).  The workspaces
    are made here: np.empty in Numba cost a first call 0.1 s to compile, for each shape type."""
    kernel = _forward_rows_single if a.dtype == np.float32 else _forward_rows_double
    return kernel(a, out, redo, np.empty(a.shape[1]), np.empty(a.shape[1]))


def _forward_rows_par(a, out, redo, chunks):
    """_forward_rows over ``chunks`` blocks of rows on threads."""
    _by_blocks(_forward_rows, chunks, (a, out, redo), (0, 1, 2))
    return out


@numba.njit(cache=True, error_model="numpy")
def _forward_redo(a, out, redo):
    """The rows flagged in redo by the scalar path (nan, an infinite maximum): a kernel
    of its own, compiled by the first call that meets such a row, not by every first call."""
    n = a.shape[1]
    e = np.empty(n)
    lo = np.empty(n)
    for r in range(a.shape[0]):
        if redo[r]:
            _forward_row_slow(a[r], out[r], e, lo)
    return out


@numba.njit(cache=True)
def _probabilities(row, p, e, lo):
    """p = softmax(row) in float64; returns the total of e (e[k] = exp(row[k] - max))."""
    bad, m = _row_special(row)
    n = row.shape[0]
    if bad or m == math.inf or m == -math.inf:
        count = 0
        for k in range(n):
            if np.float64(row[k]) == m:
                count += 1
        for k in range(n):
            p[k] = math.nan if bad else (1.0 / count if np.float64(row[k]) == m else 0.0)
            e[k] = p[k]
        return 1.0
    kmax = _shifted(row, m, e, lo)
    total = 1.0 + _neumaier(e, kmax)
    for k in range(n):
        p[k] = e[k] / total
    return total


@numba.njit(cache=True)
def _vjp_row_dd(ar, gr, outr, w, ke):
    """One row of the vjp in double-double (float64 rows, and float32 rows the fast path cannot bound)."""
    n = ar.shape[0]
    p = w[0]
    e = w[1]
    lo = w[2]
    terms = w[3]
    eh = w[4]
    el = w[5]
    bad, m = _row_special(ar)
    if bad or m == math.inf or m == -math.inf:
        _probabilities(ar, p, e, lo)
        for k in range(n):
            terms[k] = np.float64(gr[k])
        s = _neumaier(terms, -1) if _LOG else 0.0
        if not _LOG:
            for k in range(n):
                s += p[k] * np.float64(gr[k]) if p[k] != 0.0 else 0.0
        for k in range(n):
            gk = np.float64(gr[k])
            outr[k] = gk - p[k] * s if _LOG else p[k] * (gk - s)
        return
    # p_k = (eh[k] + el[k]) 2**ke[k] / total in double-double, the sums and the difference in
    # double-double, one rounding at the end
    th, tl = _dd_exps(ar, m, eh, el, ke)
    for k in range(n):
        eh[k], el[k] = _dd_div(eh[k], el[k], th, tl)
    top = 0
    for k in range(n):
        if np.float64(ar[k]) == m:
            top = k
            break
    gt = np.float64(gr[top])
    sh = 0.0
    sl = 0.0
    for k in range(n):
        gk = np.float64(gr[k])
        if _LOG:  # sum_i g_i
            sh, sl = _dd_add(sh, sl, gk, 0.0)
        elif k != top:  # D = g_top - sum_i p_i g_i = sum_{i != top} p_i (g_top - g_i): no
            # cancellation when p_top is near 1
            dh, dl = _two_sum(gt, -gk)
            xh, xl = _dd_mul(math.ldexp(eh[k], ke[k]), math.ldexp(el[k], ke[k]), dh, dl)
            sh, sl = _dd_add(sh, sl, xh, xl)
    for k in range(n):
        gk = np.float64(gr[k])
        if _LOG:  # g_j - p_j sum_i g_i
            xh, xl = _dd_mul(math.ldexp(eh[k], ke[k]), math.ldexp(el[k], ke[k]), sh, sl)
            dh, dl = _dd_add(gk, 0.0, -xh, -xl)
            outr[k] = dh + dl
        else:  # p_j ((g_j - g_top) + D), scaled by 2**ke[j] last (one rounding for a subnormal)
            dh, dl = _two_sum(gk, -gt)
            dh, dl = _dd_add(dh, dl, sh, sl)
            xh, xl = _dd_mul(eh[k], el[k], dh, dl)
            outr[k] = math.ldexp(xh + xl, ke[k])


@numba.njit(cache=True, error_model="numpy")
def _weighted_sums(e, g, pos, neg):
    """(sum_k e_k g_k, sum_k e_k |g_k|), or (sum_k g_k, sum_k |g_k|) for log: the positive and the negative
    terms each summed to relative precision in fixed point (SIMD, no reassociation); a nan stays."""
    for k in range(e.shape[0]):
        gk = np.float64(g[k])
        x = gk if _LOG else e[k] * gk
        pos[k] = x if not x <= 0.0 else 0.0
        neg[k] = -x if x < 0.0 else 0.0
    sp = _nonneg_sum(pos, math.inf)
    sn = _nonneg_sum(neg, math.inf)
    return sp - sn, sp + sn


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _vjp_row_single(ar, gr, outr, w, ke):
    """One float32 row in float64: p_k = exp(a_k - m) / total to a few float64 ulps, the plain sums'
    error bounded; a row where that bound could reach a float32 ulp of some output (cancellation in
    g_j - s or g_j - p_j s) is left to the double-double _vjp_row_dd: returns whether it is."""
    n = ar.shape[0]
    fast, m = _row_max(ar)
    if not fast:
        return True
    e = w[0]
    total = 1.0 + _exps(ar, m, e)  # p to float64 accuracy: the bound below needs it
    s, b = _weighted_sums(e, gr, w[1], w[2])
    if not _LOG:
        s /= total
        b /= total
    if not (abs(b) < math.inf):
        return True
    # (16 + n 2**-20) 2**-30 b: the sums' error bound times 2**23.  The sums are exact but for the quantisation,
    # n 2**-76 of each (below n 2**-20 2**-53 b with room to spare), and a few roundings (16 2**-53 b)
    tol = (16.0 + n * 9.5367431640625e-07) * 9.313225746154785e-10 * b
    close = 0
    for k in range(n):
        gk = np.float64(gr[k])
        p = e[k] / total
        x = gk - p * s if _LOG else p * (gk - s)
        outr[k] = x
        c = abs(gk - p * s) < p * tol if _LOG else abs(gk - s) < tol
        close += 1 if c else 0
    return close != 0


@numba.njit(**_EXACT)
def _vsum2(a, b, c):
    """s + e = a + b exactly (Knuth), the error added to c."""
    s = a + b
    bb = s - a
    return s, c + ((a - (s - bb)) + (b - bb))


@numba.njit(**_EXACT)
def _scale2(x, k):
    """x * 2**k in two exact steps (one rounding at most, for a subnormal result), k >= -2044."""
    k1 = k >> 1
    return (x * _bits_f64((k1 + 1023) << 52)) * _bits_f64((k - k1 + 1023) << 52)


@numba.njit(cache=True, error_model="numpy")
def _exps_dd(row, m, eh, el, ke, sh, sl):
    """exp(row[k] - m) = (eh[k] + el[k]) 2**ke[k] in double-double (as _exp_dd, vectorised: the rounding of
    k ln 2 by the shift trick, 2**k from the bits), and scaled, sh[k] + sl[k]; returns the total as a
    double-double, summed in fixed point as in _exps (in blocks of _FAST_MAX_N, carried)."""
    n = row.shape[0]
    ih = np.int64(0)  # not the literal 0: typing the loop would compile _exps_dd_block for Literal[int](0) too
    il = np.int64(0)
    for start in range(0, n, _FAST_MAX_N):
        stop = start + _FAST_MAX_N  # (views: a loop over range(start, stop) does not vectorise)
        ih, il = _exps_dd_block(
            row[start:stop], m, eh[start:stop], el[start:stop], ke[start:stop], sh[start:stop], sl[start:stop], ih, il
        )
        ih, il = _carry(ih, il)
    a = np.float64(ih) / _Q_HI
    b = np.float64(il) / _Q_LO
    s = a + b
    return s, b - (s - a)


@numba.njit(cache=True, error_model="numpy")
def _exps_dd_block(row, m, eh, el, ke, sh, sl, ih, il):
    """_exps_dd's loop over a block of the row (views), the fixed-point sums (ih, il) carried on."""
    for k in range(row.shape[0]):
        v = np.float64(row[k])
        d = v - m
        bb = d - v
        err = (v - (d - bb)) + (-m - bb)
        keep = d > -1000.0
        x = d if keep else -1000.0
        xlo = err if keep else 0.0
        t = x * _INV_LN2 + _SHIFT
        kk = t - _SHIFT
        rh = x - kk * _LN2_HI  # exact: the constant has 21 bits and |k| < 2**11
        r1 = rh - kk * _LN2_LO
        bb = r1 - rh
        r2 = ((rh - (r1 - bb)) + (-(kk * _LN2_LO) - bb)) + xlo
        qh, ql = _vtwo_prod(r1, r1)
        q = _exp_tail_poly(r1)
        tail = (r1 * qh) * q
        a, b = _vsum2(1.0, r1, 0.0)
        c, b = _vsum2(a, 0.5 * qh, b)
        lo = b + (0.5 * ql + tail)
        hi = c + lo
        lo = lo - (hi - c)
        lo = lo + hi * r2
        ki = _f64_bits(t) - _SHIFT_BITS
        eh[k] = hi
        el[k] = lo
        ke[k] = ki
        xh = _scale2(hi, ki)
        xl = _scale2(lo, ki)
        sh[k] = xh
        sl[k] = xl
        h = (xh + _ROUND_HI) - _ROUND_HI
        ih += np.int64(h * _Q_HI)
        il += np.int64((xh - h) * _Q_LO + xl * _Q_LO)
    return ih, il


@numba.njit(cache=True, error_model="numpy")
def _g_ok(g):
    """Whether every |g_k| is below 2**960 (finite, and safe for the Veltkamp split)."""
    top = 0
    for k in range(g.shape[0]):
        b = _f64_bits(np.float64(g[k])) & _ABS_MASK
        top = b if b > top else top
    return top < 0x7BF0000000000000


@numba.njit(**_EXACT)
def _first(row, m):
    n = row.shape[0]
    first = n
    for k in range(n):
        c = k if np.float64(row[k]) == m else n
        first = c if c < first else first  # min, without Numba compiling its builtin's overload
    return first


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _vjp_row_double(ar, gr, outr, w, ke):
    """One float64 row with p in double-double as in _vjp_row_dd, vectorised: the exponentials, the products
    and the output in SIMD loops, only the double-double sums (Sum2) scalar."""
    n = ar.shape[0]
    fast, m = _row_max(ar)
    if not fast or not _g_ok(gr):
        return True
    eh = w[0]
    el = w[1]
    sh = w[2]
    sl = w[3]
    xh = w[4]
    xl = w[5]
    th, tl = _exps_dd(ar, m, eh, el, ke, sh, sl)
    ith, itl = _dd_div(1.0, 0.0, th, tl)
    if _LOG:  # S = sum_i g_i / total; out_j = g_j - e_j S
        s = 0.0
        c = 0.0
        for k in range(n):
            s, c = _vsum2(s, np.float64(gr[k]), c)
        s, c = _fast_two_sum(s, c)
        s, c = _dd_mul(s, c, ith, itl)
        for k in range(n):
            ph, pl = _vdd_mul(sh[k], sl[k], s, c)
            gk = np.float64(gr[k])
            y = gk - ph
            bb = y - gk
            outr[k] = y + (((gk - (y - bb)) + (-ph - bb)) - pl)
        return False
    # D = sum_{i != top} e_i (g_top - g_i) / total; out_j = p_j ((g_j - g_top) + D)
    gt = np.float64(gr[_first(ar, m)])
    for k in range(n):
        gk = np.float64(gr[k])
        dh = gt - gk
        bb = dh - gt
        dl = (gt - (dh - bb)) + (-gk - bb)
        xh[k], xl[k] = _vdd_mul(sh[k], sl[k], dh, dl)
    s = 0.0
    c = 0.0
    for k in range(n):
        s, c = _vsum2(s, xh[k], c + xl[k])
    s, c = _fast_two_sum(s, c)
    dh0, dl0 = _dd_mul(s, c, ith, itl)
    for k in range(n):
        gk = np.float64(gr[k])
        dh = gk - gt
        bb = dh - gk
        dl = (gk - (dh - bb)) + (-gt - bb)
        a = dh + dh0
        bb = a - dh
        b = ((dh - (a - bb)) + (dh0 - bb)) + (dl + dl0)
        dh = a + b
        dl = b - (dh - a)
        ph, pl = _vdd_mul(eh[k], el[k], ith, itl)
        y = ph * dh + (ph * dl + pl * dh)
        outr[k] = _scale2(y, ke[k])
    return False


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _vjp_rows_single(a, g, out, redo, w, ke):
    """_vjp_rows for float32 rows, with the workspaces w (6 rows of float64) and ke."""
    for r in range(a.shape[0]):
        redo[r] = _vjp_row_single(a[r], g[r], out[r], w, ke)
    return out


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _vjp_rows_double(a, g, out, redo, w, ke):
    """_vjp_rows for float64 rows, with the workspaces w (6 rows of float64) and ke."""
    for r in range(a.shape[0]):
        redo[r] = _vjp_row_double(a[r], g[r], out[r], w, ke)
    return out


def _vjp_rows(a, g, out, redo):
    """The vjp of the rows; redo[r] set where row r is left to _vjp_row_dd (nan, inf, cancellation beyond the
    bound).  A kernel per dtype, chosen here, its workspaces made here (as _forward_rows)."""
    kernel = _vjp_rows_single if a.dtype == np.float32 else _vjp_rows_double
    return kernel(a, g, out, redo, np.empty((6, a.shape[1])), np.empty(a.shape[1], dtype=np.int64))


def _vjp_rows_par(a, g, out, redo, chunks):
    """_vjp_rows over ``chunks`` blocks of rows on threads."""
    _by_blocks(_vjp_rows, chunks, (a, g, out, redo), (0, 1, 2, 3))
    return out


@numba.njit(cache=True, error_model="numpy")
def _vjp_redo(a, g, out, redo):
    """The rows flagged in redo, in double-double by _vjp_row_dd: compiled by the first call that has one."""
    n = a.shape[1]
    w = np.empty((6, n))
    ke = np.empty(n, dtype=np.int64)
    for r in range(a.shape[0]):
        if redo[r]:
            _vjp_row_dd(a[r], g[r], out[r], w, ke)
    return out


@numba.njit(cache=True)
def _jacobian_vector(a, out):
    n = a.shape[0]
    p = np.empty(n)
    e = np.empty(n)
    lo = np.empty(n)
    other = np.empty(n)
    total = _probabilities(a, p, e, lo)
    _excluded(e, other)
    for i in range(n):
        for j in range(n):
            if i == j:  # 1 - p_i as the other classes' share: no cancellation when p_i is near 1
                share = other[i] / total
                out[i, j] = share if _LOG else p[i] * share
            else:
                out[i, j] = -p[j] if _LOG else -p[i] * p[j]
    return out


_LANES = 32  # independent accumulators in _dot2 and _sum2: their inner loops over the lanes vectorise
_FROM_OUTPUT_MAX = 1e300  # sums below this: no overflow in the compensated arithmetic


@numba.njit(cache=True, error_model="numpy")
def _plain_dot(p, g, acc):
    """(s, b): sum_k p_k g_k (sum_k g_k for log) and sum_k |p_k g_k| in float64, in _LANES lanes (vectorised,
    and the same order, so the same bits, on every machine).  For float32 rows the products are exact and
    |s - sum| <= (n - 1) 2**-53 b."""
    n = g.shape[0]
    acc[:] = 0.0
    hi = acc[0]
    mag = acc[1]
    full = n - n % _LANES
    for base in range(0, full, _LANES):
        for j in range(_LANES):
            gk = np.float64(g[base + j])
            x = select(_LOG, gk, np.float64(p[base + j]) * gk)
            hi[j] += x
            mag[j] += abs(x)
    s = 0.0
    b = 0.0
    for k in range(full, n):
        gk = np.float64(g[k])
        x = gk if _LOG else np.float64(p[k]) * gk
        s += x
        b += abs(x)
    for j in range(_LANES):
        s += hi[j]
        b += mag[j]
    return s, b


@numba.njit(cache=True, error_model="numpy")
def _dot2(p, g, acc):
    """(s, c, b): sum_k p_k g_k as the double-double s + c, and sum_k |p_k g_k|: Dot2 (Ogita, Rump and
    Oishi) in _LANES independent lanes, each product split exactly by an fma and each sum by TwoSum, the lanes
    then added in order.  |s + c - sum| is below about n**2 2**-106 b."""
    n = p.shape[0]
    acc[:] = 0.0
    hi = acc[0]
    lo = acc[1]
    mag = acc[2]
    full = n - n % _LANES
    for base in range(0, full, _LANES):
        for j in range(_LANES):
            pk = np.float64(p[base + j])
            gk = np.float64(g[base + j])
            x = pk * gk
            h = hi[j]
            t = h + x
            bb = t - h
            lo[j] += ((h - (t - bb)) + (x - bb)) + fma(pk, gk, -x)
            hi[j] = t
            mag[j] += abs(x)
    s = 0.0
    c = 0.0
    b = 0.0
    for k in range(full, n):
        pk = np.float64(p[k])
        gk = np.float64(g[k])
        x = pk * gk
        s, c = _vsum2(s, x, c + fma(pk, gk, -x))
        b += abs(x)
    for j in range(_LANES):
        s, c = _vsum2(s, hi[j], c + lo[j])
        b += mag[j]
    s, c = _fast_two_sum(s, c)
    return s, c, b


@numba.njit(cache=True, error_model="numpy")
def _sum2(g, acc):
    """sum_k g_k as a double-double (s, c): Sum2 (TwoSum, the errors summed) in _LANES lanes as in _dot2,
    within about n**2 2**-106 sum_k |g_k|."""
    n = g.shape[0]
    acc[:] = 0.0
    hi = acc[0]
    lo = acc[1]
    full = n - n % _LANES
    for base in range(0, full, _LANES):
        for j in range(_LANES):
            x = np.float64(g[base + j])
            h = hi[j]
            t = h + x
            bb = t - h
            lo[j] += (h - (t - bb)) + (x - bb)
            hi[j] = t
    s = 0.0
    c = 0.0
    for k in range(full, n):
        s, c = _vsum2(s, np.float64(g[k]), c)
    for j in range(_LANES):
        s, c = _vsum2(s, hi[j], c + lo[j])
    return _fast_two_sum(s, c)


@numba.njit(cache=True, error_model="numpy")
def _add3(s, c, d, x):
    """(s, c, d) + x: TwoSum into s, its error TwoSum into c, that error into d (SumK with K = 3)."""
    t = s + x
    bb = t - s
    r = (s - (t - bb)) + (x - bb)
    u = c + r
    bb = u - c
    return t, u, d + ((c - (u - bb)) + (r - bb))


@numba.njit(cache=True, error_model="numpy")
def _from_output_plain(y, g, out):
    """The textbook formula in float64, for rows with nan, inf or overflowing sums (IEEE results)."""
    s = 0.0
    for k in range(y.shape[0]):
        gk = np.float64(g[k])
        s += gk if _LOG else np.float64(y[k]) * gk
    for k in range(y.shape[0]):
        gk = np.float64(g[k])
        out[k] = gk - math.exp(np.float64(y[k])) * s if _LOG else np.float64(y[k]) * (gk - s)


@numba.njit(cache=True, error_model="numpy")
def _softmax_from_output(pr, gr, outr, s, c, tol):
    """out_j = p_j ((g_j - s) - c), g_j - s exact (TwoSum); returns how many |g_j - s - c| fall below tol."""
    close = 0
    for k in range(pr.shape[0]):
        gk = np.float64(gr[k])
        dh = gk - s
        bb = dh - gk
        d = dh + (((gk - (dh - bb)) + (-s - bb)) - c)
        outr[k] = np.float64(pr[k]) * d
        close += select(abs(d) < tol, 1, 0)
    return close


@numba.njit(cache=True, error_model="numpy")
def _softmax_from_output_single(pr, gr, outr, s, tol):
    """out_j = p_j (g_j - s) for a float32 row, in float64 (error 2**-52 relative before the float32 rounding);
    returns how many |g_j - s| fall below tol.  (In float32 with s split in two, 16 lanes, it ran no faster
    and came within 1.3 ulp instead of 0.5.)"""
    close = 0
    for k in range(pr.shape[0]):
        d = np.float64(gr[k]) - s
        outr[k] = np.float64(pr[k]) * d
        close += select(abs(d) < tol, 1, 0)
    return close


@numba.njit(cache=True, error_model="numpy", inline="always")
def _exp_short(y):
    """exp(y) in float64 to 2**-41 relative, for y <= 700 (float32 log-softmax outputs: exact inputs): Cody-Waite
    as exp_f64, then Taylor to degree 10 (truncation 2**-41.5 for |r| <= ln 2 / 2) instead of 13, with 2**k set
    from the bits in one step (y is clamped at -700: e^-700 t is below every nonzero float32 g)."""
    y = select(y < -700.0, -700.0, select(y > 700.0, 700.0, y))
    t = y * _INV_LN2 + _SHIFT
    k = t - _SHIFT
    r = (y - k * _LN2_HI) - k * _LN2_LO
    q = 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = q * r + 1.0
    q = q * r + 1.0
    return q * _bits_f64((_f64_bits(t) - _SHIFT_BITS + 1023) << 52)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _log_from_output_single(yr, gr, outr, t, err):
    """out_j = g_j - exp(y_j) t for a float32 row, in float64 with _exp_short; returns how many outputs that
    exponential's error (2**-41 of |exp(y_j) t|, so 2**-28 of |d| unless d cancels below 2**-13 of it) or the
    sum's (err) could move by 2**-27 of |d|, and where y_j > 700 (not a log-softmax output: _exp_short clamps)."""
    close = 0
    for k in range(yr.shape[0]):
        gk = np.float64(gr[k])
        y = np.float64(yr[k])
        e = _exp_short(y)
        x = e * t
        d = gk - x
        outr[k] = d
        close += select((abs(d) < (abs(x) * 1.220703125e-04 + e * err * 134217728.0)) | (y > 700.0), 1, 0)
    return close


@numba.njit(error_model="numpy", inline="always")
def _from_output_row(yr, gr, outr, acc, w, ke, single):
    """One row: p_j (g_j - sum_i p_i g_i) for softmax, g_j - exp(y_j) sum_i g_i for log-softmax.

    The sum comes from the cheapest method whose error bound keeps every output within about an ulp: a plain
    float64 sum for float32 rows of up to 1024 (exact products), Sum2 / Dot2 for longer ones and for float64
    rows; where some g_j - sum cancels below that bound, the row is redone with _dot3_scalar (returns True: the row is
    left to _from_output_again).  For log-softmax,
    exp(y_j) is _exp_short (2**-41) for float32 rows and vecmath's exp_f64 for float64 ones; a float32 row where
    g_j and exp(y_j) sum come within that exp's error of each other is redone with a double-double exp (about
    2**-60, again by _from_output_again), and a float64 row keeps the exp's error (2**-52 of exp(y_j) sum).
    ``single``: whether the row is float32, the constant True or False at the call.  Inlined into the rows kernel
    of each dtype, where Numba prunes the other dtype's branches before typing them: a float64 call compiles
    none of the float32 sums (and the row function is no level of its own to compile)."""
    n = yr.shape[0]
    if single and n <= 1024:
        s, b = _plain_dot(yr, gr, acc)
        c = 0.0
        err = (n + 2) * 1.1102230246251565e-16 * b  # (n + 2) 2**-53 b
    elif single:  # a longer row: (n + 2) 2**-53 b would send most of them to the redo; the rounding of s + c added
        if _LOG:
            b = _plain_dot(yr, gr, acc)[1]  # sum_k |g_k|
            s, c = _sum2(gr, acc)
        else:
            s, c, b = _dot2(yr, gr, acc)
        err = (n + 2) * (n + 2) * 2.465190328815662e-32 * b + 1.1102230246251565e-16 * abs(s)
    elif _LOG:  # the sum's error, n**2 2**-106 sum |g|, is far below the exp's
        s, c = _sum2(gr, acc)
        b = abs(s)
        err = 0.0
    else:
        s, c, b = _dot2(yr, gr, acc)
        err = (n + 2) * (n + 2) * 2.465190328815662e-32 * b  # (n + 2)**2 2**-105 b
    if not (abs(s) < _FROM_OUTPUT_MAX and b < _FROM_OUTPUT_MAX):
        _from_output_plain(yr, gr, outr)
        return False
    if not _LOG:  # the sum's error err is below 2**-26 (float32) or 2**-53 (float64) of |g_j - s| above tol
        if single:
            close = _softmax_from_output_single(yr, gr, outr, s, err * 67108864.0)
        else:
            close = _softmax_from_output(yr, gr, outr, s, c, err * 9007199254740992.0)
        return close != 0
    if not single:  # exp_f64's error, within 2**-52 of exp(y_j), is left: within 2**-50 |exp(y_j) S|
        for k in range(n):
            e = exp_f64(np.float64(yr[k]))
            outr[k] = fma(-e, s, np.float64(gr[k])) - e * c
        return False
    # float32: the exponential's error and the sum's below 2**-27 of |d|, or the row again in double-double
    return _log_from_output_single(yr, gr, outr, s + c, err) != 0


@numba.njit(error_model="numpy")
def _dot3_scalar(p, g):
    """sum_k p_k g_k (sum_k g_k for log) as a double-double (s, c): each product split exactly by an fma, the parts
    summed in triple precision (SumK with K = 3).  The error is about n 2**-159 sum_k |p_k g_k| before the rounding
    to double-double: g_j - s - c, which the callers take, is accurate to its last bits even where it cancels to
    2**-100 of s (g = 1 and sum_k p_k = 1 + 2**-60).  One scalar loop: the redo of a rare row uses it, and a first
    call that meets such a row compiles it (a version in 32 lanes took three times as long to compile)."""
    s = 0.0
    c = 0.0
    d = 0.0
    for k in range(p.shape[0]):
        pk = np.float64(p[k])
        gk = np.float64(g[k])
        x = gk if _LOG else pk * gk
        s, c, d = _add3(s, c, d, x)
        if not _LOG:
            c, d = _vsum2(c, fma(pk, gk, -x), d)
    c, d = _vsum2(c, d, 0.0)
    s, c = _vsum2(s, c, 0.0)
    return s, c + d


@numba.njit(cache=True, error_model="numpy")
def _from_output_again(yr, gr, outr, acc, w, ke):
    """A row _from_output_row left: the sum in triple precision (about 2**-150), and for a float32 log-softmax
    row the exponentials in double-double (_exp_dd, about 2**-60).  Scalar loops: the redo is rare, and its
    kernel is what a first call compiles when it meets such a row."""
    n = yr.shape[0]
    s, c = _dot3_scalar(yr, gr)
    if not _LOG:
        _softmax_from_output(yr, gr, outr, s, c, 0.0)
        return
    for k in range(n):  # nan, inf or y_k >= 1 (not a log-softmax output): the plain formula, as _from_output_row
        if not np.float64(yr[k]) < 1.0:
            _from_output_plain(yr, gr, outr)
            return
    for k in range(n):
        y = np.float64(yr[k])
        h, lo, e = _exp_dd(y, 0.0)  # exp(y_k) = (h + lo) 2**e (its reduction holds for y < 1 as for y <= 0)
        a = math.ldexp(h, e)
        al = math.ldexp(lo, e)
        ph = a * s
        pl = fma(a, s, -ph) + (a * c + al * s)
        gk = np.float64(gr[k])
        d = gk - ph
        bb = d - gk
        outr[k] = d + (((gk - (d - bb)) + (-ph - bb)) - pl)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _from_output_rows_single(y, g, out, redo, acc, w, ke):
    """_from_output_rows for float32 rows, with the workspaces acc, w (4 rows of float64) and ke."""
    for r in range(y.shape[0]):
        redo[r] = _from_output_row(y[r], g[r], out[r], acc, w, ke, True)
    return out


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _from_output_rows_double(y, g, out, redo, acc, w, ke):
    """_from_output_rows for float64 rows, with the workspaces acc, w (4 rows of float64) and ke."""
    for r in range(y.shape[0]):
        redo[r] = _from_output_row(y[r], g[r], out[r], acc, w, ke, False)
    return out


def _from_output_rows(y, g, out, redo):
    """vjp_from_output of the rows; redo[r] set where row r is left to _from_output_again.  A kernel per dtype,
    chosen here (as _forward_rows), each passing _from_output_row its dtype as a literal; the workspaces made
    here."""
    kernel = _from_output_rows_single if y.dtype == np.float32 else _from_output_rows_double
    n = y.shape[1]
    return kernel(y, g, out, redo, np.empty((3, _LANES)), np.empty((4, n)), np.empty(n, dtype=np.int64))


def _from_output_rows_par(y, g, out, redo, chunks):
    """_from_output_rows over ``chunks`` blocks of rows on threads."""
    _by_blocks(_from_output_rows, chunks, (y, g, out, redo), (0, 1, 2, 3))
    return out


@numba.njit(cache=True, error_model="numpy")
def _from_output_redo(y, g, out, redo):
    """The rows flagged in redo, by _from_output_again: compiled by the first call that has one."""
    n = y.shape[1]
    acc = np.empty((3, _LANES))
    w = np.empty((4, n))
    ke = np.empty(n, dtype=np.int64)
    for r in range(y.shape[0]):
        if redo[r]:
            _from_output_again(y[r], g[r], out[r], acc, w, ke)
    return out


def forward(a, axis=-1, *, out=None):
    """Softmax (log-softmax where ``_LOG``) along ``axis``; any number of leading dimensions."""
    array, shape, rows = _rows(a, "a", axis)
    if _SIGN < 0:
        rows = np.negative(rows)
    chunks = _threaded(rows)
    target = np.empty_like(rows) if (direct := _direct(out, array, axis)) is None else direct
    if not rows.size:  # no rows, or rows of no element: an empty result, as NumPy, PyTorch and JAX give
        result = target
    else:
        redo = np.zeros(rows.shape[0], dtype=np.bool_)
        result = _forward_rows_par(rows, target, redo, chunks) if chunks else _forward_rows(rows, target, redo)
        if np.count_nonzero(redo):  # not redo.any(): 0.4 us against 1.5
            _forward_redo(rows, result, redo)
    return out if direct is not None else _result(result, shape, axis, out, array.dtype)


def _vjp_call(serial, parallel, again, a, g, axis, out, name):
    """A vjp by rows: ``serial(rows, grows, target, redo)`` or ``parallel(..., redo, chunks)``, then
    ``again(rows, grows, target, redo)`` for the rows they flag in ``redo`` (none, mostly)."""
    array, shape, rows = _rows(a, name, axis)
    garray = _floats(g, "g")
    if garray.shape != array.shape:
        raise ValueError(f"g must have the shape of {name}, {array.shape}, not {garray.shape}")
    _, _, grows = _rows(garray.astype(array.dtype, copy=False), "g", axis)
    if _SIGN < 0 and name == "a":  # the scores: softmax's kernel on -a (from the output y, y is softmax's own)
        rows = np.negative(rows)
    chunks = _threaded(rows)
    target = np.empty_like(rows) if (direct := _direct(out, array, axis, garray)) is None else direct
    if not rows.size:
        result = target
    else:
        redo = np.zeros(rows.shape[0], dtype=np.bool_)
        result = parallel(rows, grows, target, redo, chunks) if chunks else serial(rows, grows, target, redo)
        if np.count_nonzero(redo):  # not redo.any(): 0.4 us against 1.5
            again(rows, grows, result, redo)
        if _SIGN < 0:  # d/da f(-a) = -f'(-a)
            np.negative(result, out=result)
    return out if direct is not None else _result(result, shape, axis, out, array.dtype)


def vjp(a, g, axis=-1, *, out=None):
    """The vector-Jacobian product g^T J of ``forward`` along ``axis``, from the scores ``a``."""
    return _vjp_call(_vjp_rows, _vjp_rows_par, _vjp_redo, a, g, axis, out, "a")


def vjp_from_output(y, g, axis=-1, *, out=None):
    """The vector-Jacobian product g^T J of ``forward`` along ``axis`` from its output ``y`` = forward(a)."""
    return _vjp_call(_from_output_rows, _from_output_rows_par, _from_output_redo, y, g, axis, out, "y")


def jacobian(a, *, out=None):
    """The n x n Jacobian J[i, j] = d out_i / d a_j for a 1-D ``a``."""
    array = _floats(a, "a")
    if array.ndim != 1:
        raise ValueError(f"jacobian expects a 1-D vector a, not an array of shape {array.shape}")
    result = _jacobian_vector(
        -array if _SIGN < 0 else array, np.empty((array.shape[0], array.shape[0]), dtype=array.dtype)
    )
    if _SIGN < 0:
        np.negative(result, out=result)
    if out is None:
        return result
    if not isinstance(out, np.ndarray) or out.shape != result.shape:
        raise ValueError(f"out must be an array of shape {result.shape}")
    out[...] = result
    return out
