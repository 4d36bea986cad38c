"""Elementwise losses of a logit z and a label y: the input checks and reductions around each module's printed
per-element forms, and for the sigmoid cross-entropies (weight w of the positive class) SIMD kernels: the
forward with vecmath's exp and log1p, the gradient in double-double.

A generated module defines the per-element functions ``_loss_scalar``, ``_grad_scalar``, ``_loss_ufunc`` and
``_grad_ufunc`` (printed from its SymPy forms), ``_weight`` (w from its parameters), and ``forward`` and ``grad``
with its parameters as keywords, which call ``_forward`` and ``_grad``; the kernels here take the parameters
as one tuple ``params``.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from ..vecmath import (
    _EXACT,
    _INV_LN2,
    _LN2_HI,
    _LN2_LO,
    _SHIFT,
    _SHIFT_BITS,
    _bits_f64,
    _f64_bits,
    _fast_two_sum,
    _two_sum,
    exp_f64,
    fma,
    log1p_f64,
    log_dd_f64,
    select,
)
from .checks import _floats, _param
from .dd import (
    _dd_add,
    _dd_div,
    _dd_mul,
    _exp_dd,
    _exp_tail_poly,
    _log_dd,
    _two_prod,
    _vdd_div,
    _vdd_mul,
    _vexp_dd,
    _vtwo_prod,
)
from .fast import _FAST_MAX_N, _address, _call_loop, _call_loop_out, _chunk, _nonneg_sum, _num_threads, _on_threads
from .reduce import _finish, _fsum, _grad_out, _reduction, _same_shape
from .rows import _direct


@numba.njit(cache=True)
def _sigmoid_ce_grad(z, y, q, plain):
    """-q y sigmoid(-z) + (1 - y) sigmoid(z) with t = exp(-|z|) in double-double: for z >= 0 it is
    ((1 - y) - q y t) / (1 + t), for z < 0 ((1 - y) t - q y) / (1 + t), each formed in double-double
    and rounded once (no cancellation error near z = logit(y) beyond the last bit)."""
    if not (math.isfinite(z) and math.isfinite(y) and math.isfinite(q)) or not math.isfinite(plain):
        return plain
    mh, ml, k = _exp_dd(-abs(z), 0.0)
    th = math.ldexp(mh, k)
    tl = math.ldexp(ml, k)
    dh, dl = _two_sum(1.0, th)
    dh, dl = _fast_two_sum(dh, dl + tl)
    qyh, qyl = _two_prod(q, y)
    oyh, oyl = _two_sum(1.0, -y)
    if z >= 0.0:
        if oyh == 0.0:  # -q y t / (1 + t), scaled by 2**k last
            xh, xl = _dd_mul(qyh, qyl, mh, ml)
            xh, xl = _dd_div(xh, xl, dh, dl)
            return -math.ldexp(xh + xl, k)
        xh, xl = _dd_mul(qyh, qyl, th, tl)
        nh, nl = _dd_add(oyh, oyl, -xh, -xl)
    else:
        if qyh == 0.0:  # (1 - y) t / (1 + t), scaled by 2**k last
            xh, xl = _dd_mul(oyh, oyl, mh, ml)
            xh, xl = _dd_div(xh, xl, dh, dl)
            return math.ldexp(xh + xl, k)
        xh, xl = _dd_mul(oyh, oyl, th, tl)
        nh, nl = _dd_add(xh, xl, -qyh, -qyl)
    rh, rl = _dd_div(nh, nl, dh, dl)
    return rh + rl


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _loss_fast(zs, ys, params, out):
    """The per-element losses in float64, in SIMD, with one exponential and one log1p (vecmath's): the loss
    w y softplus(-z) + (1 - y) softplus(z) (w = _weight(*params)) is, with l = log1p(exp(-|z|)) and softplus(+-z) =
    max(+-z, 0) + l, (1 - y) z + (w y + 1 - y) l for z >= 0 and w y (-z) + (w y + 1 - y) l for z < 0: for labels
    in [0, 1] and w >= 0 (the only callers) a sum of two nonnegative terms, so nothing cancels."""
    w = _weight(*params)
    for k in range(zs.shape[0]):
        z = np.float64(zs[k])
        y = np.float64(ys[k])
        wy = w * y
        lin = select(z >= 0.0, select(z < math.inf, fma(-y, z, z), (1.0 - y) * z), -(wy * z))  # z = inf: 0 * inf
        out[k] = fma(fma(w, y, 1.0 - y), log1p_f64(exp_f64(-abs(z))), lin)
    return out


@numba.njit(cache=True, error_model="numpy")
def _loss_blocks(zs, ys, params, first, last, blocks, sums, buf):
    """sums[b] = the losses of block b of ``blocks`` (at most _FAST_MAX_N elements) summed to relative precision,
    for b in [first, last): each block's losses computed into ``buf`` (as long as a block: the caller makes it,
    as np.empty in Numba cost a first call 0.1 s to compile), which stays in cache, never the whole array, and
    summed exactly in fixed point by _nonneg_sum: _loss_fast's losses are nonnegative (or nan, or inf, which
    _nonneg_sum sums plainly)."""
    for b in range(first, last):
        start, stop = _chunk(b, blocks, zs.shape[0])
        sums[b] = _nonneg_sum(_loss_fast(zs[start:stop], ys[start:stop], params, buf[: stop - start]), math.inf)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _loss_blocks_twin(zs, ys, params, blocks, sums, chunks, address, bufs):
    """_loss_blocks over ``chunks`` runs of blocks on Numba's threads, each the serial kernel's compiled code at
    ``address`` (rowlib.fast._address; the twins below likewise), each with its row of ``bufs``: the twin
    compiles nothing but the prange."""
    for c in numba.prange(chunks):
        first, last = _chunk(c, chunks, blocks)
        _call_loop(address, (zs, ys, params, np.int64(first), np.int64(last), blocks, sums, bufs[c]))


def _loss_blocks_par(zs, ys, params, blocks, sums, chunks):
    bufs = np.empty((chunks, min(_FAST_MAX_N, zs.size)))
    address = _address(_loss_blocks, (zs, ys, params, 0, blocks, blocks, sums, bufs[0]))
    _loss_blocks_twin(zs, ys, params, blocks, sums, chunks, address, bufs)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _grad_fast(zs, ys, params, size, out):
    """The gradient for float32 logits, in float64 with the vectorisable sigmoid, in SIMD; the elements where
    cancellation could cost a float32 ulp (and non-finite ones) are redone by _grad_scalar (double-double)."""
    w = _weight(*params)
    bad = 0
    for k in range(zs.shape[0]):
        z = np.float64(zs[k])
        y = np.float64(ys[k])
        x, ok = _grad_f32_parts(z, y, w)
        out[k] = x / size
        bad += 0 if ok else 1
    if bad:
        for k in range(zs.shape[0]):
            z = np.float64(zs[k])
            y = np.float64(ys[k])
            if not _grad_f32_parts(z, y, w)[1]:
                out[k] = _grad_scalar(z, y, *params) / size
    return out


@numba.njit(forceinline=True, error_model="numpy", fastmath={"contract"})  # as _grad_fast, its caller
def _grad_f32_parts(z, y, w):
    """(x, ok): the gradient -w y sigma(-z) + (1 - y) sigma(z) in float64 from one exponential, e = exp(-|z|):
    ((1 - y) - w y e) / (1 + e) for z >= 0, ((1 - y) e - w y) / (1 + e) for z < 0; ok where the numerator keeps
    2**-26 of its terms (so cancellation cannot cost a float32 ulp) and z is finite."""
    e = exp_f64(-abs(z))
    pos = z >= 0.0
    sp = select(pos, 1.0, e)
    sn = select(pos, e, 1.0)
    wy = w * y
    num = (1.0 - y) * sp - wy * sn
    ok = (abs(num) >= (abs(wy) * sn + abs(1.0 - y) * sp) * 1.4901161193847656e-08) & (abs(z) < math.inf)
    return num / (1.0 + e), ok


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sigmoid_ce_grad_dd(z, y, w):
    """_sigmoid_ce_grad for finite z and y and |q| < 2**64, branch-free (SIMD): t = exp(-|z|) in double-double
    (_exp_dd vectorised: k by the shift trick, 2**k from the bits, the argument clamped at -1000 where t
    underflows anyway), A - B t over 1 + t with (A, B) = (1 - y, q y) for z >= 0 and (q y, 1 - y), negated,
    for z < 0; where A = 0 the mantissa of t is used and the quotient scaled by 2**k last, as there."""
    x = -abs(z)
    x = select(x > -1000.0, x, -1000.0)
    t = x * _INV_LN2 + _SHIFT
    kk = t - _SHIFT
    rh = x - kk * _LN2_HI  # exact: the constant has 21 bits and |k| < 2**11
    kl = kk * _LN2_LO
    r1 = rh - kl
    bb = r1 - rh
    r2 = (rh - (r1 - bb)) + (-kl - bb)
    qh, ql = _vtwo_prod(r1, r1)
    q = _exp_tail_poly(r1)
    tail = (r1 * qh) * q
    a = 1.0 + r1
    bb = a - 1.0
    b = (1.0 - (a - bb)) + (r1 - bb)
    c = a + 0.5 * qh
    bb = c - a
    b = b + ((a - (c - bb)) + (0.5 * qh - bb))
    lo = b + (0.5 * ql + tail)
    mh = c + lo
    ml = (lo - (mh - c)) + mh * r2  # exp(x) = (mh + ml) 2**k
    ki = _f64_bits(t) - _SHIFT_BITS
    k1 = ki >> 1
    s1 = _bits_f64((k1 + 1023) << 52)
    s2 = _bits_f64((ki - k1 + 1023) << 52)
    th = (mh * s1) * s2
    tl = (ml * s1) * s2
    dh = 1.0 + th  # 1 + t, th <= 1
    dl = (th - (dh - 1.0)) + tl
    d = dh + dl
    dl = dl - (d - dh)
    dh = d
    qyh, qyl = _vtwo_prod(w, y)
    oyh = 1.0 - y  # y <= 1
    oyl = (1.0 - oyh) - y
    pos = z >= 0.0
    ah = select(pos, oyh, qyh)
    al = select(pos, oyl, qyl)
    bh = select(pos, qyh, oyh)
    bl = select(pos, qyl, oyl)
    zero = ah == 0.0
    uh = select(zero, mh, th)
    ul = select(zero, ml, tl)
    ph, pl = _vtwo_prod(bh, uh)  # B t (or B times t's mantissa)
    pl = pl + (bh * ul + bl * uh)
    xh = ph + pl
    xl = pl - (xh - ph)
    sh = ah - xh  # A - B t, as _dd_add
    bb = sh - ah
    sl = ((ah - (sh - bb)) + (-xh - bb)) + (al - xl)
    nh = sh + sl
    nl = sl - (nh - sh)
    g = nh / dh  # (nh + nl) / (dh + dl), as _dd_div
    ph, pl = _vtwo_prod(g, dh)
    r = (((nh - ph) - pl) + nl) - g * dl
    v = g + r / dh
    v = select(pos, v, -v)
    kz = select(zero, ki, 0)
    k1 = kz >> 1
    return (v * _bits_f64((k1 + 1023) << 52)) * _bits_f64((kz - k1 + 1023) << 52)


@numba.njit(cache=True, error_model="numpy")
def _grad_double(zs, ys, params, size, out):
    """The gradient for float64 logits in double-double, rounded once, in SIMD (_sigmoid_ce_grad_dd); the
    elements with a non-finite logit or label are redone by _grad_scalar."""
    q = _weight(*params)
    bad = 0
    for k in range(zs.shape[0]):
        z = zs[k]
        y = np.float64(ys[k])
        ok = (abs(z) < math.inf) & (abs(y) < math.inf)
        out[k] = _sigmoid_ce_grad_dd(select(ok, z, 0.0), select(ok, y, 0.0), q) / size
        bad += select(ok, 0, 1)
    if bad:
        for k in range(zs.shape[0]):
            y = np.float64(ys[k])
            if not (abs(zs[k]) < math.inf and abs(y) < math.inf):
                out[k] = _grad_scalar(zs[k], y, *params) / size
    return out


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _grad_double_twin(zs, ys, params, size, out, chunks, address):
    for c in numba.prange(chunks):
        start, stop = _chunk(c, chunks, zs.shape[0])
        _call_loop_out(address, (zs[start:stop], ys[start:stop], params, size, out[start:stop]))


def _grad_double_par(zs, ys, params, size, out, chunks):
    _grad_double_twin(zs, ys, params, size, out, chunks, _address(_grad_double, (zs, ys, params, size, out)))
    return out


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _loss_fast_twin(zs, ys, params, out, chunks, address):
    for c in numba.prange(chunks):
        start, stop = _chunk(c, chunks, zs.shape[0])
        _call_loop_out(address, (zs[start:stop], ys[start:stop], params, out[start:stop]))


def _loss_fast_par(zs, ys, params, out, chunks):
    _loss_fast_twin(zs, ys, params, out, chunks, _address(_loss_fast, (zs, ys, params, out)))
    return out


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _grad_fast_twin(zs, ys, params, size, out, chunks, address):
    for c in numba.prange(chunks):
        start, stop = _chunk(c, chunks, zs.shape[0])
        _call_loop_out(address, (zs[start:stop], ys[start:stop], params, size, out[start:stop]))


def _grad_fast_par(zs, ys, params, size, out, chunks):
    _grad_fast_twin(zs, ys, params, size, out, chunks, _address(_grad_fast, (zs, ys, params, size, out)))
    return out


def _chunks(size):
    """The number of chunks for a prange twin or for _each_loop's threads, or 0 for the serial kernel."""
    threads = _num_threads()
    return 4 * threads if size >= 262144 and threads > 1 else 0


def _fast_forward(z, y, params, reduction, out):
    """forward on the SIMD path when every parameter is a number (None where one is an array)."""
    if any(not isinstance(p, float) for p in params):
        return None
    if any(not p >= 0.0 for p in params):  # a negative weight: the terms of _loss_fast can cancel
        return None
    chunks = _chunks(z.size)
    if reduction == "none":
        if chunks:
            values = _loss_fast_par(z.reshape(-1), y.reshape(-1), params, np.empty(z.size), chunks)
        else:
            values = _loss_fast(z.reshape(-1), y.reshape(-1), params, np.empty(z.size))
        return _finish(values.reshape(z.shape), reduction, z.dtype, out, z.size)
    if out is not None:
        raise ValueError("out= is only for reduction='none'; mean and sum return a scalar")
    blocks = max(1, -(-z.size // _FAST_MAX_N))
    sums = np.empty(blocks)
    if chunks:
        _loss_blocks_par(z.reshape(-1), y.reshape(-1), params, blocks, sums, min(chunks, blocks))
    else:
        _loss_blocks(z.reshape(-1), y.reshape(-1), params, 0, blocks, blocks, sums, np.empty(min(_FAST_MAX_N, z.size)))
    total = _fsum(sums)
    if reduction == "mean":
        total = total / z.size if z.size else math.nan
    return z.dtype.type(total)


@numba.njit(cache=True, error_model="numpy", fastmath=False)  # every option set: none from a caller
def _weight(*params):
    """The weight w of the positive class from the loss's parameters.  Each generated module defines its own
    (from its parameters, such as ``pos_weight``); this one, for tests of this module: w = 1."""
    return 1.0


@numba.njit(cache=True, error_model="numpy", fastmath=False)  # every option set: none from a caller
def _loss_scalar(z, y, *params):
    """The loss of one element.  Each generated module defines its own, printed from its SymPy form; this one,
    for tests of this module: the sigmoid cross-entropy's, max(z, 0) - z y + log1p(exp(-|z|))."""
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


@numba.njit(cache=True, error_model="numpy", fastmath=False)  # every option set: none from a caller
def _grad_scalar(z, y, *params):
    """The gradient of one element.  Each generated module defines its own, printed from its SymPy form; this
    one, for tests of this module: the sigmoid cross-entropy's, -y sigma(-z) + (1 - y) sigma(z)."""
    return 1.0 / (1.0 + math.exp(-z)) - y


@numba.njit(cache=True, error_model="numpy", fastmath=False)  # every option set: none from a caller
def _loss_first(z, y, *params):
    """The loss of one element where a branch-free first try has it, else nan (the caller then takes
    ``_loss_scalar``).  Each generated module defines its own (a compensated form's first try, or its
    ``_loss_scalar``); this one, for tests of this module: nan where z > 30, to exercise the redo."""
    return math.nan if z > 30.0 else _loss_scalar(z, y, *params)


@numba.njit(cache=True, error_model="numpy", fastmath=False)  # every option set: none from a caller
def _grad_first(z, y, *params):
    """The gradient of one element where a branch-free first try has it, else nan, as ``_loss_first``."""
    return math.nan if z > 30.0 else _grad_scalar(z, y, *params)


def _loss_ufunc(z, y, *params):
    """The loss of each element.  Each generated module defines its own (a ufunc of its printed form); this
    one, for tests of this module: the sigmoid cross-entropy."""
    return np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _grad_ufunc(z, y, *params):
    """The gradient of each element, as _loss_ufunc."""
    return 1.0 / (1.0 + np.exp(-z)) - y


@numba.njit(**_EXACT)
def _exp_plus_first(w, a, b):
    """``_exp_plus``'s value for w in [-600, 700] and a b finite, with exp(w) by dd's branch-free ``_vexp_dd``;
    nan elsewhere (the caller redoes that element by ``_exp_plus``).  Branch-free, so that a loop of it stays
    vectorised."""
    ok = (w >= -600.0) & (w <= 700.0) & math.isfinite(a * b)
    mh, ml = _vexp_dd(select(ok, w, 0.0), 0.0)
    ph, pl = _vtwo_prod(a, b)
    sh, sl = _two_sum(mh, ph)
    v = sh + (sl + (ml + pl))
    return select(ok & math.isfinite(v), v, math.nan)


@numba.njit(cache=True)
def _exp_plus(w, a, b, plain):
    """exp(w) + a b for exact a and b (labels, the logit, powers of two) with exp(w) in double-double, a b exact
    (TwoProduct) and the sum rounded once: no cancellation error where exp(w) is near -a b (exp(z) - y at
    z = log y, where plain float64 loses every digit: exp(1e-20) - 1 is 0; exp(z) - y z near its zeros).
    ``_exp_plus_first`` where w is in its range; beyond, ``_exp_dd`` scaled by ldexp; ``plain``, the same value
    computed plainly, where it or w, a b is not finite."""
    first = _exp_plus_first(w, a, b)
    if first == first:
        return first
    if not (math.isfinite(w) and math.isfinite(a * b) and math.isfinite(plain)):
        return plain
    mh, ml, k = _exp_dd(w, 0.0)
    ph, pl = _two_prod(a, b)
    sh, sl = _two_sum(math.ldexp(mh, k), ph)
    return sh + (sl + (math.ldexp(ml, k) + pl))


@numba.njit(**_EXACT)
def _log_plus_first(s, u, a, b):
    """``_log_plus``'s value where vecmath's log_dd_f64 (2**-62 relative) is enough, the sum keeping at least 2**-6
    of log(u) (its error then below 2**-56 of the result), and s, u and a b are finite and u is positive; nan
    elsewhere (the caller redoes that element by ``_log_plus``).
    Branch-free, so that a loop of it stays vectorised."""
    ok = math.isfinite(s) & math.isfinite(a * b) & (u > 0.0) & (u < math.inf)
    lh, ll = log_dd_f64(select(ok, u, 1.0))
    v, dh = _times_log_plus(s, lh, ll, a, b)
    return select(ok & (abs(lh) <= 64.0 * abs(dh)) & math.isfinite(v), v, math.nan)


@numba.njit(**_EXACT)
def _times_log_plus(s, lh, ll, a, b):
    """(s (l + a b), l + a b) for l = lh + ll in double-double: a b exact (an fma), the sum and the product with s
    in double-double, the result rounded once; the sum's head, for the callers' cancellation test."""
    ph, pl = _vtwo_prod(a, b)
    dh, dl = _two_sum(lh, ph)
    dh, dl = _fast_two_sum(dh, dl + (ll + pl))
    rh, rl = _vtwo_prod(s, dh)
    return rh + (rl + s * dl), dh


@numba.njit(cache=True)
def _log_plus(s, u, a, b, plain):
    """s (log(u) + a b) for exact s, u, a and b (labels, the logit, powers of two), rounded once: a b exact
    (TwoProduct), log(u) in double-double, their sum and its product with s in double-double, so that nothing is
    lost where log(u) is near -a b (y log y - y z at z = log y, where plain float64 keeps only the rounding of
    log y).  log(u) first by vecmath's log_dd_f64 (``_log_plus_first``); where the sum cancels deeper than that
    serves, again by ``_log_dd`` (2**-100).  ``plain``, the same value computed plainly, where it or s, u, a b is
    not finite or u is not positive."""
    first = _log_plus_first(s, u, a, b)
    if first == first:
        return first
    if not (math.isfinite(s) and math.isfinite(a * b) and math.isfinite(plain) and 0.0 < u < math.inf):
        return plain
    v = _times_log_plus(s, *_log_dd(u), a, b)[0]
    return v if math.isfinite(v) else plain


@numba.njit(**_EXACT)
def _entropy_pair_first(y, p):
    """-(y log p + (1 - y) log(1 - p)) in double-double, rounded once: 1 - y and 1 - p exact (TwoSum), the logs by
    vecmath's ``log_dd_f64`` (2**-62 relative; log(1 - p) as log(h) + l / h of 1 - p = h + l), the products
    (by an fma) and the sum in double-double.  The two terms have one sign, so nothing cancels: 0.52 ulp measured
    (plain float64 rounds 1 - y, both logs, both products and the sum: 2.1 ulp at y = 0.3).  nan where p is not
    in (0, 1), or y or the value is not finite (the caller takes ``_entropy_pair``'s plain value there).
    Branch-free, so that a loop of it stays vectorised."""
    ok = (p > 0.0) & (p < 1.0) & math.isfinite(y)
    p = select(ok, p, 0.5)
    ah, al = log_dd_f64(p)
    qh, ql = _two_sum(1.0, -p)
    bh, bl = log_dd_f64(qh)
    bl += ql / qh  # log(h + l) = log(h) + l / h - (l / h)^2 / 2 ..., |l / h| < 2**-53
    wh, wl = _two_sum(1.0, -y)
    sh, sl = _vtwo_prod(y, ah)
    sl += y * al
    th, tl = _vtwo_prod(wh, bh)
    tl += wh * bl + wl * bh
    sh, e = _two_sum(sh, th)
    v = -(sh + (e + (sl + tl)))
    return select(ok & math.isfinite(v), v, math.nan)


@numba.njit(cache=True)
def _entropy_pair(y, p, plain):
    """``_entropy_pair_first``'s value where it has one; ``plain``, the same value computed plainly, elsewhere
    (p = 0 or 1, where a label's term is 0 and a log is not finite, or an input that is not finite)."""
    first = _entropy_pair_first(y, p)
    return first if first == first else plain


@numba.njit(**_EXACT)
def _square_over(a, b, v):
    """(a - b)^2 / v = qh + ql in double-double for finite a, b with |a - b| <= 1e150 and a finite v > 0: a - b
    exact (TwoSum), the square and the quotient by dd's fma operations.  Branch-free."""
    dh, dl = _two_sum(a, -b)
    sh, sl = _vdd_mul(dh, dl, dh, dl)
    return _vdd_div(sh, sl, v, 0.0)


@numba.njit(**_EXACT)
def _log_plus_square_first(v, a, b, k):
    """``_log_plus_square``'s value where vecmath's log_dd_f64 is enough (the sum keeps at least 2**-6 of log(v)),
    v is positive and finite, a and b finite with |a - b| <= 1e150; nan elsewhere (the caller redoes that element
    by ``_log_plus_square``).  Branch-free, so that a loop of it stays vectorised."""
    ok = (v > 0.0) & (v < math.inf) & math.isfinite(a) & math.isfinite(b) & (abs(a - b) <= 1e150)
    v = select(ok, v, 1.0)
    qh, ql = _square_over(select(ok, a, 0.0), select(ok, b, 0.0), v)
    lh, ll = log_dd_f64(v)
    th, tl = _dd_add(lh, ll, qh, ql)
    r = k * (th + tl)
    return select(ok & (abs(lh) <= 64.0 * abs(th)) & math.isfinite(r), r, math.nan)


@numba.njit(cache=True)
def _log_plus_square(v, a, b, k, plain):
    """k (log(v) + (a - b)^2 / v) for exact v > 0, a, b and a power of two k, rounded once: a - b exact
    (TwoSum), its square, the quotient and log(v) in double-double (``_square_over``), so that nothing cancels
    where log(v) < 0 is near -(a - b)^2 / v (plain float64 keeps only the rounding of log v there) and the
    rounding of a - b is not doubled by the square.  log(v) as in ``_log_plus``: vecmath's log_dd_f64 where the
    sum keeps at least 2**-6 of it (``_log_plus_square_first``), else ``_log_dd``.  ``plain``, the same value
    computed plainly, where it or an input is not finite, v is not positive or |a - b| > 1e150 (where the square
    in double-double would overflow)."""
    first = _log_plus_square_first(v, a, b, k)
    if first == first:
        return first
    if not (0.0 < v < math.inf and math.isfinite(a) and math.isfinite(b) and math.isfinite(plain)):
        return plain
    if not abs(a - b) <= 1e150:
        return plain
    qh, ql = _square_over(a, b, v)
    lh, ll = _log_dd(v)
    th, tl = _dd_add(lh, ll, qh, ql)
    r = k * (th + tl)
    return r if math.isfinite(r) else plain


@numba.njit(**_EXACT)
def _exp_times_difference_first(w, a, b):
    """``_exp_times_difference``'s value for w in [-600, 700] and a, b finite with |a - b| < 1e300, with exp(w)
    by dd's branch-free ``_vexp_dd`` and the product by fmas; nan elsewhere (the caller redoes that element by
    ``_exp_times_difference``).  Branch-free, so that a loop of it stays vectorised."""
    dh, dl = _two_sum(a, -b)
    ok = (w >= -600.0) & (w <= 700.0) & (abs(dh) < 1e300) & math.isfinite(dl)
    ph, pl = _vdd_mul(*_vexp_dd(select(ok, w, 0.0), 0.0), dh, dl)
    v = ph + pl
    return select(ok & math.isfinite(v), v, math.nan)


@numba.njit(cache=True)
def _exp_times_difference(w, a, b, plain):
    """exp(w) (a - b) for exact w, a and b, rounded once: a - b exact (TwoSum), exp(w) in double-double, their
    product in double-double (plain float64 rounds a - b, exp and the product: 1.8 ulp at exp(y) (y - z),
    y = 40): ``_exp_times_difference_first`` where w is in its range; beyond, ``_exp_dd`` scaled by ldexp;
    ``plain``, the same value computed plainly, where it or an input is not finite."""
    first = _exp_times_difference_first(w, a, b)
    if first == first:
        return first
    if not (math.isfinite(w) and math.isfinite(a) and math.isfinite(b) and math.isfinite(plain)) or plain == 0.0:
        return plain
    dh, dl = _two_sum(a, -b)
    if not abs(dh) < 1e300:  # TwoSum's error term or the unscaled product would overflow: the plain value
        return plain
    eh, el, k = _exp_dd(w, 0.0)
    ph, pl = _dd_mul(eh, el, dh, dl)
    return math.ldexp(ph + pl, k)


@numba.njit(**_EXACT)
def _log_cosh_difference_first(a, b):
    """log cosh(a - b) within about 1.4 ulp (plain float64 forms: 3 to 4 ulp near 0, where log cosh(d) = d^2/2
    doubles the rounding of d = a - b and of sinh).  d = d_hi + d_lo exactly (TwoSum); for |d| < 2,
    u = cosh(d) - 1 = 2 sinh(d/2)^2 with sinh(t) = t + t^3 P(t^2) (its Taylor series to t^21) and the square in
    double-double, then log1p(u_hi) + u_lo / (1 + u_hi); beyond, |d| - log 2 + log1p(exp(-2|d|)) + d_lo, with
    log 2 as two doubles.  Both with vecmath's exp and log1p, selected: branch-free, so that a loop of it stays
    vectorised.  nan where a, b or d is not finite."""
    dh, dl = _two_sum(a, -b)
    ok = math.isfinite(a) & math.isfinite(b) & math.isfinite(dh)
    w = select(ok, abs(dh), 0.0)
    dl = select(dh < 0.0, -dl, dl)
    # |d| >= 2: log cosh(d) > 1.3, no cancellation; d's low part enters with slope tanh(d) = 1 to 2**-5
    big = w - 0.6931471805599453 + (log1p_f64(exp_f64(-2.0 * w)) + (dl - 2.3190468138462996e-17))
    t = 0.5 * select(w < 2.0, w, 0.0)
    t2 = t * t
    p = 1.0 / 51090942171709440000.0  # 1/21!
    p = p * t2 + 1.0 / 121645100408832000.0
    p = p * t2 + 1.0 / 355687428096000.0
    p = p * t2 + 1.0 / 1307674368000.0
    p = p * t2 + 1.0 / 6227020800.0
    p = p * t2 + 1.0 / 39916800.0
    p = p * t2 + 1.0 / 362880.0
    p = p * t2 + 1.0 / 5040.0
    p = p * t2 + 1.0 / 120.0
    p = p * t2 + 1.0 / 6.0
    sh, sl = _fast_two_sum(t, t * t2 * p)
    sl += 0.5 * dl * (1.0 + 0.5 * t2)  # d's low part, with slope cosh(t) / 2
    uh, ul = _vtwo_prod(sh, sh)
    ul += 2.0 * sh * sl
    small = log1p_f64(2.0 * uh) + 2.0 * ul / (1.0 + 2.0 * uh)
    return select(ok, select(w >= 2.0, big, small), math.nan)


@numba.njit(cache=True)
def _log_cosh_difference(a, b, plain):
    """``_log_cosh_difference_first``'s value; ``plain`` where a, b or a - b is not finite."""
    first = _log_cosh_difference_first(a, b)
    return first if first == first else plain


@numba.njit(cache=True)
def _nan_or(z, y, value):
    """nan where the logit or the label is nan, else ``value``: the per-element form of a loss whose conditions
    are false at nan (max(0, 1 - y z) is 0 there), so that nan goes in and nan comes out."""
    return z + y if z != z or y != y else value


@numba.njit(cache=True, error_model="numpy")
def _outside(ys, low, high):
    """Whether some label lies outside [low, high] (nan does not), in one vectorised pass."""
    outside = False
    for k in range(ys.shape[0]):
        outside |= (ys[k] < low) | (ys[k] > high)
    return outside


#: the interval the labels must lie in, from the entry's label domain: [0, 1] for "unit" and "binary", [0, inf]
#: for "nonnegative"; None (unchecked) for a real target or a label of -1 or +1.  A generated module sets it
_LABEL_RANGE = (0.0, 1.0)
#: the interval the input (logits, or probabilities) must lie in, from the entry's input domain: None (a logit or
#: a prediction, unchecked), [0, 1] for probabilities.  A generated module sets it
_INPUT_RANGE = None


def _check_range(values, bounds, what):
    """ValueError where some element of ``values`` lies outside ``bounds`` = (low, high) (nan does not); None:
    unchecked."""
    if bounds is None:
        return
    low, high = bounds
    flat = values.ndim and values.flags.c_contiguous
    if _outside(values.reshape(-1), low, high) if flat else np.any((values < low) | (values > high)):
        if high < math.inf:
            raise ValueError(f"{what} must lie in [{low:g}, {high:g}]")
        raise ValueError(f"{what} must be nonnegative" if low == 0 else f"{what} must be at least {low:g}")


def _inputs(logits, labels):
    z = _floats(logits, "logits")
    y = _floats(labels, "labels")
    _same_shape(z, y, ("logits", "labels"))
    _check_range(z, _INPUT_RANGE, "inputs")
    _check_range(y, _LABEL_RANGE, "labels")
    return z, y


#: the keywords of the parameters the loss is undefined at 0 or below for (the argument of a log in its
#: definition, such as a variance); a generated module sets it
_POSITIVE_PARAMS = ()


def _positive(value, name):
    """A parameter (:func:`_param`); ValueError where it is 0 or negative and one of :data:`_POSITIVE_PARAMS`
    (nan passes, and gives nan)."""
    param = _param(value, name)
    if name in _POSITIVE_PARAMS and np.any(np.asarray(param) <= 0.0):
        raise ValueError(f"parameter {name} must be positive")
    return param


#: elements per block of the generic loops below: a block's float64 losses stay in cache while they are summed
_BLOCK = 4096


#: whether the module's ``_loss_first`` (``_grad_first``) is a compensated form's first try, which leaves some
#: elements nan for ``_loss_scalar`` (``_grad_scalar``) to redo; where it is not (False), the generic loops take
#: ``_loss_scalar`` in one pass.  A generated module sets them (Numba prunes the branch on such a constant)
_LOSS_FIRST_TRY = True
_GRAD_FIRST_TRY = True


@numba.njit(error_model="numpy", forceinline=True)
def _block_losses(zs, ys, params, start, m, buf):
    """buf[:m] = the losses of elements start to start + m in float64: ``_loss_first`` of each in one loop (which
    LLVM vectorises where _loss_first is branch-free, a compensated form's first try), then ``_loss_scalar`` of
    each element it left nan (outside the first try's range, its deeper redo, and nan itself)."""
    for k in range(m):
        buf[k] = _loss_first(np.float64(zs[start + k]), np.float64(ys[start + k]), *params)
    if _LOSS_FIRST_TRY:
        for k in range(m):
            if buf[k] != buf[k]:
                buf[k] = _loss_scalar(np.float64(zs[start + k]), np.float64(ys[start + k]), *params)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _loss_sums(zs, ys, params, sums):
    """sums[b] = the compensated sum of the losses of block b (``_BLOCK`` elements, ``_block_losses``): no
    float64 copy of the inputs, no array of all the losses."""
    buf = np.empty(_BLOCK)
    n = zs.shape[0]
    for b in range(sums.shape[0]):
        start = b * _BLOCK
        m = n - start if n - start < _BLOCK else _BLOCK
        _block_losses(zs, ys, params, start, m, buf)
        sums[b] = _fsum(buf[:m])
    return sums


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _loss_each(zs, ys, params, out):
    """out[k] = the loss of element k in float64 (``_block_losses``, a block at a time), rounded once to out's
    dtype."""
    n = zs.shape[0]
    if not _LOSS_FIRST_TRY:
        for k in range(n):
            out[k] = _loss_scalar(np.float64(zs[k]), np.float64(ys[k]), *params)
        return out
    buf = np.empty(_BLOCK)
    for start in range(0, n, _BLOCK):
        m = n - start if n - start < _BLOCK else _BLOCK
        _block_losses(zs, ys, params, start, m, buf)
        for k in range(m):
            out[start + k] = buf[k]
    return out


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _grad_each(zs, ys, params, size, out):
    """out[k] = the gradient of element k in float64, divided by ``size`` (the mean's count, or 1), rounded
    once to out's dtype: ``_grad_first`` of a block of elements in one loop, then ``_grad_scalar`` of each it
    left nan (as ``_block_losses``)."""
    n = zs.shape[0]
    if not _GRAD_FIRST_TRY:
        for k in range(n):
            out[k] = _grad_scalar(np.float64(zs[k]), np.float64(ys[k]), *params) / size
        return out
    buf = np.empty(_BLOCK)
    for start in range(0, n, _BLOCK):
        m = n - start if n - start < _BLOCK else _BLOCK
        for k in range(m):
            buf[k] = _grad_first(np.float64(zs[start + k]), np.float64(ys[start + k]), *params)
        for k in range(m):
            v = buf[k]
            if v != v:
                v = _grad_scalar(np.float64(zs[start + k]), np.float64(ys[start + k]), *params)
            out[start + k] = v / size
    return out


def _each_loop(loop, zs, ys, params, out, *size, per=1):
    """``loop(zs, ys, params, *size, out)`` (_loss_each, _loss_sums, _grad_each: serial, ``nogil=True``), on up to
    ``numba.get_num_threads()`` threads for a large array (rowlib.fast._on_threads), each on a slice of the
    elements, ``per`` elements to an entry of ``out`` (_loss_sums: a block's sum): the serial loop's bits.  Python
    threads rather than a ``parallel=True`` twin: a twin's compilation added 0.3 to 0.6 s to a first call, and
    these loops are slow enough per element (compensated losses: 15 to 60 ns) that a thread's wake-up is lost in
    them."""
    chunks = min(_chunks(zs.size), out.size)
    if not chunks:
        return loop(zs, ys, params, *size, out)
    cuts = [c * out.size // chunks for c in range(chunks + 1)]
    _on_threads(
        loop, [(zs[a * per : b * per], ys[a * per : b * per], params, *size, out[a:b]) for a, b in zip(cuts, cuts[1:])]
    )
    return out


def _generic_forward(z, y, params, reduction, out):
    """forward by the generic loops, where every parameter is a number (None where one is an array, which the
    ufunc broadcasts)."""
    if any(type(p) is not float for p in params):
        return None
    zs, ys = z.reshape(-1), y.reshape(-1)
    if reduction == "none":
        direct = _direct(out, z, -1, y) if z.ndim else None
        target = direct.reshape(-1) if direct is not None else np.empty(z.size, dtype=z.dtype)
        _each_loop(_loss_each, zs, ys, params, target)
        return out if direct is not None else _finish(target.reshape(z.shape), reduction, z.dtype, out, z.size)
    if out is not None:
        raise ValueError("out= is only for reduction='none'; mean and sum return a scalar")
    total = _fsum(_each_loop(_loss_sums, zs, ys, params, np.empty(-(-z.size // _BLOCK)), per=_BLOCK))
    if reduction == "mean":
        total = total / z.size if z.size else math.nan
    return z.dtype.type(total)


def _wide(z, y, params):
    """The arguments of ``_loss_ufunc`` and ``_grad_ufunc`` (array parameters), all float64: the ufuncs compile
    on their first call (no signature, so that importing a module compiles nothing), for float64 only."""
    return (z.astype(np.float64), y.astype(np.float64), *[np.asarray(p, dtype=np.float64) for p in params])


def _forward(logits, labels, raw, reduction, out, fast):
    """``forward`` with the parameters as (value, name) pairs ``raw``; ``fast``: _fast_forward, or None where the
    module has no SIMD kernels."""
    reduction = _reduction(reduction)
    z, y = _inputs(logits, labels)
    z = np.asarray(z, order="C")  # not ascontiguousarray, which makes a 0-d array 1-d
    y = np.asarray(y, order="C")
    params = tuple(_positive(v, n) for v, n in raw)
    if fast is not None:
        result = fast(z, y, params, reduction, out)
        if result is not None:
            return result
    result = _generic_forward(z, y, params, reduction, out)
    if result is not None:
        return result
    values = _loss_ufunc(*_wide(z, y, params))
    return _finish(np.asarray(values), reduction, z.dtype, out, z.size)


def _fast_grad(z, y, params, reduction, out):
    """grad on the SIMD path when every parameter is a number (and, for float64, |q| < 2**64); else None."""
    if not (
        all(isinstance(p, float) for p in params)
        and (z.dtype == np.float32 or all(abs(p) < 18446744073709551616.0 for p in params))  # no overflow
    ):
        return None
    size = float(z.size) if reduction == "mean" and z.size else 1.0
    z = np.asarray(z, order="C")
    direct = _direct(out, z, -1, y) if z.ndim else None
    target = direct if direct is not None else np.empty(z.shape, dtype=z.dtype)
    flat = (z.reshape(-1), np.ascontiguousarray(y).reshape(-1))
    single = z.dtype == np.float32
    if chunks := _chunks(z.size):
        (_grad_fast_par if single else _grad_double_par)(*flat, params, size, target.reshape(-1), chunks)
    else:
        (_grad_fast if single else _grad_double)(*flat, params, size, target.reshape(-1))
    return out if direct is not None else _grad_out(target, z.dtype, out)


def _grad(logits, labels, raw, reduction, out, fast):
    """``grad`` with the parameters as (value, name) pairs ``raw``; ``fast``: _fast_grad, or None."""
    reduction = _reduction(reduction)
    z, y = _inputs(logits, labels)
    params = tuple(_positive(v, n) for v, n in raw)
    if fast is not None:
        result = fast(z, y, params, reduction, out)
        if result is not None:
            return result
    if all(type(p) is float for p in params):  # the generic loop, into out or an array of z's dtype
        size = float(z.size) if reduction == "mean" and z.size else 1.0
        z = np.asarray(z, order="C")
        direct = _direct(out, z, -1, y) if z.ndim else None
        target = direct if direct is not None else np.empty(z.shape, dtype=z.dtype)
        _each_loop(_grad_each, z.reshape(-1), np.ascontiguousarray(y).reshape(-1), params, target.reshape(-1), size)
        return out if direct is not None else _grad_out(target, z.dtype, out)
    values = np.asarray(_grad_ufunc(*_wide(z, y, params)))
    if reduction == "mean" and z.size:
        values = values / z.size
    return _grad_out(values, z.dtype, out)
