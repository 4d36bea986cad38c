"""Softmax cross-entropy with probability-vector or (``_SPARSE``) integer labels, and its gradient.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from ..vecmath import _bits_f64, _f64_bits, _fast_two_sum, _two_sum, select
from .checks import _floats
from .dd import _dd_add, _dd_div, _dd_exps, _dd_mul, _vdd_div, _vdd_mul, _vtwo_prod
from .fast import (
    _ABS_MASK,
    _FAST_MAX_N,
    _Q_HI,
    _Q_LO,
    _ROUND_HI,
    _by_blocks,
    _exps,
    _log_rest,
    _nonneg_sum,
    _row_max,
    _threaded,
)
from .reduce import _finish, _grad_out, _reduction, _same_shape
from .rows import _direct, _excluded, _neumaier, _row_special, _shifted
from .softmax import _exps_dd, _first, _probabilities, _scale2, _vsum2

#: integer class labels (True) or probability vectors (False): a module constant per generated module
_SPARSE = False


@numba.njit(cache=True, error_model="numpy")
def _loss_row_slow(zr, yr, sparse, t, e, lo, terms):
    """One row, scalar: nan, infinite logits."""
    n = zr.shape[0]
    bad, m = _row_special(zr)
    if bad or m == math.inf or m == -math.inf:
        return math.nan if bad else _loss_limit(zr, yr, m, sparse, t)
    kmax = _shifted(zr, m, e, lo)
    big = math.log1p(_neumaier(e, kmax))
    if sparse:  # -log p_t = log1p(rest) - (z_t - max)
        return big - ((np.float64(zr[t]) - m) + lo[t])
    for k in range(n):  # -sum_k y_k log p_k, every term >= 0
        w = np.float64(yr[k])
        terms[k] = w * (big - ((np.float64(zr[k]) - m) + lo[k])) if w != 0.0 else 0.0
    return _neumaier(terms, -1)


@numba.njit(cache=True, error_model="numpy")
def _loss_row(zr, yr, sparse, t, e, lo, terms):
    """(slow, loss) of one row: the max, log1p of the rest summed exactly, then -log p_t or sum_k y_k (-log p_k);
    slow: the row is left to _loss_row_slow (nan, infinite logits; the loss is then 0).  Which, the module's
    ``_SPARSE`` says (``sparse`` is the same value): a constant, so that a sparse module does not compile the
    soft labels' sum (_nonneg_sum)."""
    fast, m = _row_max(zr)
    if not fast:
        return True, 0.0
    big = math.log1p(_log_rest(zr, m, e))
    if _SPARSE:
        v = np.float64(zr[t])
        d = v - m
        bb = d - v
        err = (v - (d - bb)) + (-m - bb)
        return False, big - (d + (err if d != -math.inf else 0.0))
    for k in range(zr.shape[0]):
        v = np.float64(zr[k])
        d = v - m
        bb = d - v
        err = (v - (d - bb)) + (-m - bb)
        w = np.float64(yr[k])
        x = w * (big - (d + (err if d != -math.inf else 0.0)))
        terms[k] = x if w != 0.0 else 0.0
    return False, _nonneg_sum(terms, math.inf)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _loss_rows_kernel(z, y, out, sparse, labels, redo, w):
    """The loss of each row, with the workspace w (3 rows of float64); redo[r] set where row r is left to
    _loss_redo."""
    for r in range(z.shape[0]):
        yr = y[0] if sparse else y[r]
        redo[r], out[r] = _loss_row(z[r], yr, sparse, labels[r] if sparse else 0, w[0], w[1], w[2])
    return out


def _loss_rows(z, y, out, sparse, labels, redo):
    """The loss of each row (_loss_rows_kernel), its workspace made here: np.empty in Numba cost a first call
    0.1 s to compile."""
    return _loss_rows_kernel(z, y, out, sparse, labels, redo, np.empty((3, z.shape[1])))


def _loss_rows_par(z, y, out, sparse, labels, redo, chunks):
    """_loss_rows over ``chunks`` blocks of rows on threads (the labels, or sparse class indices, cut too)."""
    _by_blocks(_loss_rows, chunks, (z, y, out, sparse, labels, redo), (0, 2, 4 if sparse else 1, 5))
    return out


@numba.njit(cache=True, error_model="numpy")
def _loss_redo(z, y, out, sparse, labels, redo):
    """The rows flagged in redo by the scalar _loss_row_slow: a kernel of its own, compiled by the first call
    that meets such a row, not by every first call."""
    n = z.shape[1]
    w = np.empty((3, n))
    for r in range(z.shape[0]):
        if redo[r]:
            yr = y[0] if sparse else y[r]
            out[r] = _loss_row_slow(z[r], yr, sparse, labels[r] if sparse else 0, w[0], w[1], w[2])
    return out


@numba.njit(cache=True)
def _loss_limit(row, yrow, m, sparse, t):
    """The limit of the loss when the largest logits are infinite."""
    n = row.shape[0]
    count = 0
    for k in range(n):
        if np.float64(row[k]) == m:
            count += 1
    total = 0.0
    for k in range(n):
        hit = np.float64(row[k]) == m
        w = (1.0 if k == t else 0.0) if sparse else np.float64(yrow[k])
        if w == 0.0:
            continue
        total += w * (math.log(count) if hit else math.inf)
    return total


@numba.njit(cache=True)
def _excluded_dd(vh, vl, oh, ol):
    """oh[k] + ol[k] = sum of (vh[i] + vl[i]) for i != k in double-double, from prefix and suffix sums
    (the values are >= 0: no cancellation)."""
    n = vh.shape[0]
    ah = 0.0
    al = 0.0
    for k in range(n):
        oh[k] = ah
        ol[k] = al
        ah, al = _dd_add(ah, al, vh[k], vl[k])
    ah = 0.0
    al = 0.0
    for k in range(n - 1, -1, -1):
        oh[k], ol[k] = _dd_add(oh[k], ol[k], ah, al)
        ah, al = _dd_add(ah, al, vh[k], vl[k])


@numba.njit(cache=True)
def _grad_row_dd(zr, yrow, outr, scale, w, ke):
    """One row of the gradient in double-double (float64 rows, and float32 rows the fast path cannot bound)."""
    n = zr.shape[0]
    p = w[0]
    e = w[1]
    lo = w[2]
    other_e = w[3]
    other_y = w[4]
    zeros = w[5]
    eh = w[6]
    el = w[7]
    sh = w[8]
    sl = w[9]
    oeh = w[10]
    oel = w[11]
    oyh = w[12]
    oyl = w[13]
    zeros[:] = 0.0
    bad, m = _row_special(zr)
    if bad or m == math.inf or m == -math.inf:
        total = _probabilities(zr, p, e, lo)
        _excluded(e, other_e)
        _excluded(yrow, other_y)
        for k in range(n):
            outr[k] = (e[k] * other_y[k] - yrow[k] * other_e[k]) / total * scale
        return
    # p_j sum(y) - y_j = (e_j sum_{k != j} y_k - y_j sum_{k != j} e_k) / total: no cancellation
    # between p_j and y_j when both are near 1; e_k = (eh[k] + el[k]) 2**ke[k] and the sums,
    # products and quotient in double-double, one rounding at the end
    th, tl = _dd_exps(zr, m, eh, el, ke)
    for k in range(n):
        sh[k] = math.ldexp(eh[k], ke[k])
        sl[k] = math.ldexp(el[k], ke[k])
    _excluded_dd(sh, sl, oeh, oel)
    _excluded_dd(yrow, zeros, oyh, oyl)
    for k in range(n):
        if yrow[k] == 0.0:  # e_j sum_{k != j} y_k / total, scaled by 2**ke[j] last
            xh, xl = _dd_mul(eh[k], el[k], oyh[k], oyl[k])
            xh, xl = _dd_div(xh, xl, th, tl)
            xh, xl = _dd_mul(xh, xl, scale, 0.0)
            outr[k] = math.ldexp(xh + xl, ke[k])
            continue
        ah, al = _dd_mul(sh[k], sl[k], oyh[k], oyl[k])
        bh, bl = _dd_mul(yrow[k], 0.0, oeh[k], oel[k])
        xh, xl = _dd_add(ah, al, -bh, -bl)
        xh, xl = _dd_div(xh, xl, th, tl)
        xh, xl = _dd_mul(xh, xl, scale, 0.0)
        outr[k] = xh + xl


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _grad_row_single(zr, yrow, outr, scale, w, ke, t):
    """One float32 row in float64: (p_j sum(y) - y_j) scale with p_j to a few float64 ulps; a row where
    the error bound could reach a float32 ulp of some output (p_j sum(y) close to y_j) is redone in
    double-double (returns True: the row is left to _grad_row_dd).  The sparse label t is unused (yrow holds
    it), as _grad_row_double's twin."""
    n = zr.shape[0]
    fast, m = _row_max(zr)
    if not fast:
        return True
    e = w[0]
    total = 1.0 + _exps(zr, m, e)  # p to float64 accuracy: the bound below needs it
    ysum = _nonneg_sum(yrow, math.inf)
    if not (ysum < math.inf):
        return True
    # (16 + n 2**-20) 2**-30 sum(y): the error bound times 2**23 (the sums' quantisation, n 2**-76 of each, and a
    # few roundings, as in _vjp_row_single)
    tol = (16.0 + n * 9.5367431640625e-07) * 9.313225746154785e-10 * ysum
    close = 0
    for k in range(n):
        p = e[k] / total
        x = p * ysum - yrow[k]
        outr[k] = x * scale
        close += 1 if abs(x) < p * tol else 0
    return close != 0


_Q_LO3 = 5316911983139663491615228241121378304.0  # 2**122: the third level of _sum_fixed
_ROUND_LO = 4.470348358154297e-08  # 1.5 * 2**-25: (x + it) - it rounds |x| <= 2**-26 to a multiple of 2**-77
_Y_MAX_BITS = 0x7830000000000000  # the bits of 2**900: labels below it keep the Veltkamp splits in range
_CANCEL = 1.1368683772161603e-13  # 2**-43: the sums' quantisation (2**-103 of each term) over 2**-60


@numba.njit(cache=True, error_model="numpy")
def _sum_fixed(vh, vl, lo, skip):
    """sum_{k != skip} (vh[k] + vl[k]) (vl left out without ``lo``) for values >= 0 with |vl[k]| <= ulp(vh[k]),
    as a double-double to about n 2**-122 of the largest term: the values scaled by the power of two that
    brings the largest vh[k] to [0.5, 1), then quantised to 2**-122 and summed exactly as integers at three
    levels (multiples of 2**-30, of 2**-77 and of 2**-122: any order, SIMD), in blocks of _FAST_MAX_N terms
    with the carries between the levels after each block (so any n; the quantisation is below n 2**-121)."""
    n = vh.shape[0]
    top = 0
    for k in range(n):
        b = _f64_bits(vh[k])
        c = select(k != skip, b, 0)
        top = c if c > top else top  # max, without Numba compiling its builtin's overload
    if top == 0:
        return 0.0, 0.0
    s = 1022 - (top >> 52)
    i1 = 0
    i2 = 0
    i3 = 0
    for start in range(0, n, _FAST_MAX_N):
        vhb = vh[start : start + _FAST_MAX_N]  # (views: a loop over range(start, stop) does not vectorise)
        vlb = vl[start : start + _FAST_MAX_N]
        for k in range(len(vhb)):
            keep = k != skip - start
            x = _scale2(select(keep, vhb[k], 0.0), s)
            xl = _scale2(select(keep & lo, vlb[k], 0.0), s)
            h = (x + _ROUND_HI) - _ROUND_HI
            r = x - h
            m2 = (r + _ROUND_LO) - _ROUND_LO
            l2 = (xl + _ROUND_LO) - _ROUND_LO
            i1 += np.int64(h * _Q_HI)
            i2 += np.int64((m2 + l2) * _Q_LO)
            i3 += np.int64(((r - m2) + (xl - l2)) * _Q_LO3)
        c = i3 >> 45  # carries: 2**45 units of 2**-122 make one of 2**-77, 2**47 of those one of 2**-30
        i3 -= c << 45
        i2 += c
        c = i2 >> 47
        i2 -= c << 47
        i1 += c
    a = np.float64(i1) / _Q_HI
    b = np.float64(i2) / _Q_LO
    hi = a + b
    lo2 = (b - (hi - a)) + np.float64(i3) / _Q_LO3
    a = hi + lo2
    return _scale2(a, -s), _scale2(lo2 - (a - hi), -s)


@numba.njit(error_model="numpy", inline="always")  # inlined: no level of its own (see _forward_rows)
def _grad_row_double(zr, yrow, outr, scale, w, ke, t):
    """One float64 row as _grad_row_dd, vectorised: e_k in double-double by _exps_dd, the excluded sums
    sum_{k != j} e_k = (1 + rest) - e_j (>= 1 for j != top) and sum_{k != j} y_k = Y - y_j (>= max y for
    j != the largest label), with rest and Y from the two sums that cancel (the one without the top
    logit, the one without the largest label) to relative precision by _sum_fixed; the products,
    difference and quotient per element in SIMD loops, one rounding.  The sums are exact but for their
    quantisation, at most 2**-103 of Y and of the total: a row where that could reach 2**-60 of some output
    (e_j sum_{k != j} y_k and y_j sum_{k != j} e_k equal to 2**-43, soft labels at the prediction) is redone
    by _grad_row_dd (returns True: the row is left to it).  A sparse row (label t >= 0) is e_j scale / total
    but at t, -sum_{k != t} e_k scale / total: no cancellation, no label sums.  Which of the two a row is, the
    module's ``_SPARSE`` says (its labels' kind; t >= 0 exactly where it is True): a constant, so that a module
    compiles only its own branch (the dense one was a third of a sparse module's first call)."""
    n = zr.shape[0]
    fast, m = _row_max(zr)
    ratio = n / _FAST_MAX_N
    cancel = _CANCEL * (ratio if ratio > 1.0 else 1.0)  # the quantisation grows with n past 2**16 terms
    ybits = 0
    if not _SPARSE:  # the module's constant: Numba prunes the branch a module never takes, and compiles less
        for k in range(n):
            c = _f64_bits(yrow[k]) & _ABS_MASK
            ybits = c if c > ybits else ybits
    if not fast or ybits >= _Y_MAX_BITS:  # nan, infinities, huge or nan labels
        return True
    eh = w[0]
    el = w[1]
    sh = w[2]
    sl = w[3]
    _exps_dd(zr, m, eh, el, ke, sh, sl)
    top = _first(zr, m)
    rh, rl = _sum_fixed(sh, sl, np.bool_(True), top)  # e_top = 1; np.bool_: one _sum_fixed, not one per literal
    th, tl = _two_sum(1.0, rh)
    th, tl = _fast_two_sum(th, tl + rl)
    ch, cl = _vdd_div(scale, 0.0, th, tl)
    if _SPARSE:  # (t >= 0: the class index)
        for k in range(n):
            outr[k] = _scale2(_vdd_mul(eh[k], el[k], ch, cl)[0], ke[k])
        oh, ol = _dd_add(th, tl, -sh[t], -sl[t])
        if t == top:
            oh, ol = rh, rl
        oh, ol = _vdd_mul(oh, ol, ch, cl)
        outr[t] = 0.0 - (oh + ol)  # +0 for a single class, as 0 - 0 in _grad_row_dd
        return False
    jy = _first(yrow, _bits_f64(ybits))
    yh, yl = _sum_fixed(yrow, yrow, np.bool_(False), jy)
    ah, al = _two_sum(yrow[jy], yh)
    ah, al = _fast_two_sum(ah, al + yl)
    close = 0
    for k in range(n):
        yk = yrow[k]
        zero = yk == 0.0  # e_j sum_{k != j} y_k / total, scaled by 2**ke[j] last
        oh, ol = _vsum2(ah, -yk, al)
        hi = oh + ol
        ol = ol - (hi - oh)
        oh = select(k == jy, yh, hi)
        ol = select(k == jy, yl, ol)
        uh = select(zero, eh[k], sh[k])
        ul = select(zero, el[k], sl[k])
        xh, xl = _vdd_mul(uh, ul, oh, ol)
        oh, ol = _vsum2(th, -sh[k], tl - sl[k])
        hi = oh + ol
        ol = ol - (hi - oh)
        oh = select(k == top, rh, hi)
        ol = select(k == top, rl, ol)
        ph, pl = _vtwo_prod(yk, oh)
        pl = pl + yk * ol
        sh2, sl2 = _vsum2(xh, -ph, xl - pl)  # e_j sum_{k != j} y_k - y_j sum_{k != j} e_k
        nh = sh2 + sl2
        nl = sl2 - (nh - sh2)
        close += select(abs(nh) >= cancel * (xh + ph), 0, 1)
        outr[k] = _scale2(_vdd_mul(nh, nl, ch, cl)[0], select(zero, ke[k], 0))  # scale / total
    return close != 0


@numba.njit(cache=True, error_model="numpy", inline="always")
def _label_row(y, sparse, labels, r, yrow):
    """Row r's labels in float64 into yrow (a one-hot row for a sparse label)."""
    if sparse:
        yrow[:] = 0.0
        yrow[labels[r]] = 1.0
    else:
        for k in range(yrow.shape[0]):
            yrow[k] = np.float64(y[r, k])


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _grad_rows_single(z, y, out, sparse, labels, scale, redo, w, ke):
    """_grad_rows for float32 logits, with the workspaces w (15 rows of float64) and ke."""
    for r in range(z.shape[0]):
        _label_row(y, sparse, labels, r, w[14])
        redo[r] = _grad_row_single(z[r], w[14], out[r], scale, w, ke, labels[r] if sparse else -1)
    return out


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _grad_rows_double(z, y, out, sparse, labels, scale, redo, w, ke):
    """_grad_rows for float64 logits, with the workspaces w (15 rows of float64) and ke."""
    for r in range(z.shape[0]):
        _label_row(y, sparse, labels, r, w[14])
        redo[r] = _grad_row_double(z[r], w[14], out[r], scale, w, ke, labels[r] if sparse else -1)
    return out


def _grad_rows(z, y, out, sparse, labels, scale, redo):
    """The gradient of the rows; redo[r] set where row r is left to _grad_redo (_grad_row_dd).  A kernel per
    dtype, chosen here: only the one a call needs compiles, and it calls the row function directly (a choice
    made in Numba, by an overload, is a level of its own that compiles the whole row function once more)."""
    w, ke = np.empty((15, z.shape[1])), np.empty(z.shape[1], dtype=np.int64)  # (in Numba: 0.1 s to compile)
    kernel = _grad_rows_single if z.dtype == np.float32 else _grad_rows_double
    return kernel(z, y, out, sparse, labels, scale, redo, w, ke)


def _grad_rows_par(z, y, out, sparse, labels, scale, redo, chunks):
    """_grad_rows over ``chunks`` blocks of rows on threads (the labels, or sparse class indices, cut too)."""
    _by_blocks(_grad_rows, chunks, (z, y, out, sparse, labels, scale, redo), (0, 2, 4 if sparse else 1, 6))
    return out


@numba.njit(cache=True, error_model="numpy")
def _grad_redo(z, y, out, sparse, labels, scale, redo):
    """The rows flagged in redo, in double-double by _grad_row_dd: compiled by the first call that has one."""
    n = z.shape[1]
    w = np.empty((15, n))
    ke = np.empty(n, dtype=np.int64)
    for r in range(z.shape[0]):
        if redo[r]:
            yrow = w[14]
            _label_row(y, sparse, labels, r, yrow)
            _grad_row_dd(z[r], yrow, out[r], scale, w, ke)
    return out


def _logits(logits):
    z = _floats(logits, "logits")
    if z.ndim == 0:
        raise ValueError("logits must have a class axis (the last)")
    return z, np.ascontiguousarray(z.reshape(-1, z.shape[-1]))


def _labels(labels, z):
    """(y, t): soft labels as rows and a dummy index, or (_SPARSE) a dummy row and the class indices."""
    if _SPARSE:
        t = np.asarray(labels)
        if t.dtype.kind not in "iu":
            raise TypeError(f"labels must be integer class indices, not dtype {t.dtype}")
        if t.shape != z.shape[:-1]:
            raise ValueError(
                f"labels must have the shape of logits without the class axis, {z.shape[:-1]}, not {t.shape}"
            )
        if t.size and (t.min() < 0 or t.max() >= z.shape[-1]):
            raise ValueError(f"labels must lie in [0, {z.shape[-1]}) for {z.shape[-1]} classes")
        return np.zeros((1, z.shape[-1])), np.ascontiguousarray(t.reshape(-1).astype(np.int64))
    y = _floats(labels, "labels")
    _same_shape(z, y, ("logits", "labels"))
    if np.any(y < 0):
        raise ValueError("labels must be non-negative (a probability vector per row)")
    return np.ascontiguousarray(y.reshape(-1, z.shape[-1])), np.zeros(1, dtype=np.int64)


def forward(logits, labels, reduction="mean", *, out=None):
    """The cross-entropy of softmax(logits) over the last axis, per row, reduced by ``reduction``."""
    reduction = _reduction(reduction)
    z, rows = _logits(logits)
    y, t = _labels(labels, z)
    chunks = _threaded(rows)
    redo = np.zeros(rows.shape[0], dtype=np.bool_)
    if chunks:
        values = _loss_rows_par(rows, y, np.empty(rows.shape[0]), _SPARSE, t, redo, chunks)
    else:
        values = _loss_rows(rows, y, np.empty(rows.shape[0]), _SPARSE, t, redo)
    if np.count_nonzero(redo):  # not redo.any(): 0.4 us against 1.5
        _loss_redo(rows, y, values, _SPARSE, t, redo)
    return _finish(values.reshape(z.shape[:-1]), reduction, z.dtype, out, rows.shape[0])


def grad(logits, labels, reduction="mean", *, out=None):
    """The gradient with respect to the logits (divided by the number of rows for the mean)."""
    reduction = _reduction(reduction)
    z, rows = _logits(logits)
    y, t = _labels(labels, z)
    scale = 1.0 / rows.shape[0] if reduction == "mean" and rows.shape[0] else 1.0
    chunks = _threaded(rows)
    direct = out is not None and _direct(out, z, -1, labels) is not None
    target = out.reshape(rows.shape) if direct else np.empty(rows.shape, dtype=z.dtype)
    redo = np.zeros(rows.shape[0], dtype=np.bool_)
    if chunks:
        values = _grad_rows_par(rows, y, target, _SPARSE, t, scale, redo, chunks)
    else:
        values = _grad_rows(rows, y, target, _SPARSE, t, scale, redo)
    if np.count_nonzero(redo):  # not redo.any(): 0.4 us against 1.5
        _grad_redo(rows, y, values, _SPARSE, t, scale, redo)
    return out if direct else _grad_out(values.reshape(z.shape), z.dtype, out)
