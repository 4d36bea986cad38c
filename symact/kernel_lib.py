"""Numerical building blocks of the elementwise kernels, beyond symact.vecmath's elementary functions.

Real, tested Numba code: :func:`library_source` copies the source of the functions a generated module calls
(and of everything they use, here and in :mod:`symact.vecmath`) into that module, so that each module stays
self-contained.  The generator chooses them by the mathematics of an expression (:mod:`symact.compute_rules`),
never by an entry's name:

- ``_lit`` and ``_is32``: a constant in the type of an argument, and whether an argument is float32;
- ``_sigmoid`` (sigma(x), compensated: the rounding error of 1 + e^-|x| recovered and corrected for, about 1 ulp)
  and ``_softplus``; ``_mul_sigmoid`` (m sigma(w), float32 kept accurate where sigma(w) is subnormal) and
  ``_mul_sigmoid_at`` (the same at w + e, e the rounding error of a computed argument, which the printer tracks);
  ``_plus_finite`` (a first-order correction added where it is finite);
- ``_t_over_square`` (t / (1 + t)^2: sigma'(x) with t = e^-|x|, tanh'(x) / 4 with t = e^-2|x|) and
  ``_silu_prime`` ((x sigma(x))'), compensated in float32 and float64;
- ``_mish_dd`` and ``_mish_prime_dd``: x tanh(softplus(x)) and its derivative in head-tail (double-double)
  arithmetic for float64, ``_mish_plain`` and ``_mish_prime_plain`` the same algebra in plain float64 for
  float32 arguments.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import vecmath
from .rowlib import dd
from .rowlib.dd import _dd_add, _exp_tail_poly, _log_dd, _vdd_div, _vdd_mul, _vexp_dd  # noqa: F401 (_vdd_mul: printed code)
from .vecmath import (
    _EXACT,
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
    _F32_SHIFT_BITS,
    _HELPER,
    _INV_LN2,
    _LN2_HI,
    _LN2_LO,
    _SHIFT,
    _SHIFT_BITS,
    _bits_f32,
    _bits_f64,
    _erf_small_f64,
    _erfc_parts_f64,
    _exp_hilo_f64,
    _exp_poly_f64,
    _f32_bits,
    _f64_bits,
    _fast_two_sum,
    _pow2_f64,
    _two_sum,
    erfc_f64,
    exp_f64,
    fma,
    log1p_f64,
    select,
    vexp,
    vexp_shifted,
    vlog,
    vsoftplus,
)

__all__ = ["library_source"]

#: 2 / sqrt(pi), erf's slope at 0
_TWO_OVER_SQRT_PI = 1.1283791670955126


# --- types ---------------------------------------------------------------------------------------------------


def _lit(c, like):
    """The number c in the type of ``like`` (in Numba: float32 constants for float32 arithmetic)."""
    return c


@overload(_lit, inline="always")
def _lit_numba(c, like):
    if like == types.float32:
        return lambda c, like: np.float32(c)
    return lambda c, like: np.float64(c)


def _is32(x):
    """Whether x is a float32 (in Numba a compile-time constant: a select on it keeps one arm only)."""
    return isinstance(x, np.float32)


@overload(_is32, inline="always")
def _is32_numba(x):
    flag = x == types.float32
    return lambda x: flag


# --- sigma and softplus ----------------------------------------------------------------------------------------


@njit(**_HELPER)
def _sigmoid(x):
    """sigma(x) = 1 / (1 + e^-x) (x >= 0) or e^x / (1 + e^x) (x < 0), with the rounding error of 1 + e^-|x|
    recovered exactly (Fast2Sum) and corrected for: about 1 ulp instead of 1.5.  The correction q err / s needs
    1 / s only to a few digits, and 1 / s is q (x >= 0) or 1 - q (x < 0, where q = t / (1 + t)); float32: q
    corrected by its residual before it rounds."""
    one = _lit(1.0, x)
    t = vexp(-abs(x))
    s = one + t
    err = (one - s) + t  # 1 + t = s + err exactly
    up = x >= _lit(0.0, x)
    a = select(up, one, t)
    q = a / s
    q64 = q - q * (err * select(up, q, one - q))
    inv = one / s  # float32: q corrected by its residual before it rounds (q64's correction comes after)
    q32 = a * inv
    q32 = fma(fma(-q32, s, a) - q32 * err, inv, q32)
    return select(_is32(x), q32, q64)


@njit(**_HELPER)
def _softplus(x):
    """softplus(x) = max(x, 0) + log1p(e^-|x|): vecmath's softplus."""
    return vsoftplus(x)


@njit(**_HELPER)
def _softplus_parts_f32(v):
    """(s, e): s = float64's softplus(v) rounded to float32 (within half an ulp, where _softplus's float32
    arithmetic is within one), e what the rounding took off."""
    s64 = vsoftplus(np.float64(v))
    s = np.float32(s64)
    e = np.float32(s64 - np.float64(s))
    return s, select(abs(e) < np.float32(math.inf), e, np.float32(0.0))


@njit(**_HELPER)
def _softplus_parts_f64(v):
    """(s, e): s = max(v, 0) + log1p(e^-|v|) (_softplus's value) and e its rounding error (TwoSum), the whole
    error where softplus is large enough for it to matter (log1p's own is below ulp(1/2)); 0 at +-inf."""
    m = select(v > 0.0, v, 0.0)
    low = log1p_f64(exp_f64(-abs(v)))
    s, e = _two_sum(m, low)
    return s, select(abs(e) < math.inf, e, 0.0)


def _softplus_parts(v):
    """(softplus(v) as computed, its rounding error to first order): _softplus_parts_f32 or _f64 by the type of v.
    Called twice, for the value and for the error, the copies are one computation once inlined."""
    return v, v


@overload(_softplus_parts, inline="always")
def _softplus_parts_numba(v):
    f = _softplus_parts_f32 if v == types.float32 else _softplus_parts_f64
    return lambda v: f(v)


@njit(**_HELPER)
def _mul_sigmoid(m, w):
    """m sigma(w), kept accurate where sigma(w) is subnormal (e^-|w| scaled by 2**64 there, 2**-64 applied last)."""
    one = _lit(1.0, w)
    low = w < select(_is32(w), _lit(-64.0, w), _lit(-704.0, w))
    ts = vexp_shifted(-abs(w), low)  # e^-|w|, times 2**64 where e^w would be subnormal
    scale = select(low, _lit(5.421010862427522e-20, w), one)  # 2**-64
    t = ts * scale
    s = one + t
    err = (one - s) + t  # 1 + t = s + err exactly
    up = w >= _lit(0.0, w)
    a = select(up, one, ts)
    q = a / s
    q = q - q * (err * select(up, q, one - q * scale))  # 1 / s to a few digits: q (w >= 0) or 1 - q
    # float32: m a / (1 + t) with m a split exactly and the quotient corrected by its residual before it rounds
    # (rounding q first, then m q, lost up to 3.1 ulp)
    nh = m * a
    inv = one / s
    q32 = nh * inv
    c = (fma(-q32, s, nh) + fma(m, a, -nh)) - q32 * err
    # m = +-inf: c is nan; the corrected quotient keeps q32's sign (m = -0.0 gives -0.0, as m sigma(w) does)
    q32 = select(abs(q32) < _lit(math.inf, w), math.copysign(fma(c, inv, q32), q32), q32)
    return select(_is32(w), q32, m * q) * scale


@njit(**_HELPER)
def _mul_sigmoid_at(m, w, e):
    """m sigma(w + e), e the small rounding error of a computed argument w, kept accurate where sigma(w) is
    subnormal (-2x sigma(-x^2) at x = 26.8, 12.5 ulp in float64 before).  To first order sigma(w + e) =
    sigma(w) (1 + (1 - sigma(w)) e), and that factor goes into the
    compensated quotient before it rounds: the rounding of w = 1.702 x alone cost 35 ulp at x = -47 (sigma(w) ~ e^w
    has condition number |w|), and a correction applied after _mul_sigmoid's product left 2.2 ulp.  Float64 takes
    float32's compensated quotient here (1.3 ulp where _mul_sigmoid's q = a / s, then m q, reach 1.96: that path
    is kept there, 25% faster, for m sigma(w) with an exact w)."""
    one = _lit(1.0, w)
    e = select(abs(e) < _lit(math.inf, w), e, _lit(0.0, w))  # w = +-inf or overflowed: no correction (nan)
    low = w < select(_is32(w), _lit(-64.0, w), _lit(-704.0, w))
    ts = vexp_shifted(-abs(w), low)  # e^-|w|, times 2**64 where e^w would be subnormal
    scale = select(low, _lit(5.421010862427522e-20, w), one)  # 2**-64
    t = ts * scale
    s = one + t
    err = (one - s) + t  # 1 + t = s + err exactly
    up = w >= _lit(0.0, w)
    a = select(up, one, ts)
    # m a / (1 + t) with m a split exactly and the quotient corrected by its residual before it rounds (rounding
    # q = a / s first, then m q, lost up to 3.1 ulp in float32 and 2.1 in float64); the first-order factor of e
    # enters the residual too: m a / s (1 - sigma(w)) e, 1 - sigma(w) = t / s (w >= 0) or 1 / s
    nh = m * a
    inv = one / s
    q = nh * inv
    c = (fma(-q, s, nh) + fma(m, a, -nh)) - q * err + nh * (select(up, t, one) * inv * e)
    # m = +-inf: c is nan; the corrected quotient keeps q's sign (m = -0.0 gives -0.0, as m sigma(w) does)
    q = select(abs(q) < _lit(math.inf, w), math.copysign(fma(c, inv, q), q), q)
    return q * scale


@njit(**_HELPER)
def _horner_step(se, c, d):
    """One step of Horner's scheme with its rounding errors carried (Langlois' compensated Horner): (s, e) ->
    (s d + c rounded, e d + the product's error (an fma) + the sum's (TwoSum)).  Nested from the top coefficient
    down, ``(c_N, 0)`` first, and summed by :func:`_horner_sum`, it gives a polynomial as if computed in twice the
    precision: near a zero of multiplicity m, P(d) = f / d^m has terms of alternating sign (x - tanh(x):
    P(1.35) = 0.19 from terms of size 1.2), which plain Horner rounds to 2.2 ulp."""
    s, e = se
    p = s * d
    t = p + c
    return t, e * d + (fma(s, d, -p) + ((p - (t - (t - p))) + (c - (t - p))))


@njit(**_HELPER)
def _times_d(te, d):
    """(t, e) -> (t d rounded, e d + the product's rounding error (an fma)): nested m times on a compensated Horner
    pair P(d) (:func:`_horner_step`) and summed by :func:`_pair_sum`, it gives d^m P(d), the value near a zero of
    multiplicity m, with one rounding, where d*(d*(d*P)) adds one per factor (1.9 ulp for x - tanh(x) near 0).
    P goes first, so that a large P is scaled down before anything underflows."""
    t, e = te
    u = t * d
    return u, fma(t, d, -u) + e * d


@njit(**_HELPER)
def _pair_sum(te):
    """t + e of a value and its carried error (:func:`_horner_step`, :func:`_times_d`), e only where finite."""
    return _plus_finite(te[0], te[1])


@njit(**_HELPER)
def _plus_finite(value, correction):
    """value + correction where the correction is finite, else value (at w = +-inf a rounding error is nan)."""
    return select(abs(correction) < _lit(math.inf, value), value + correction, value)


@njit(**_HELPER)
def _exp_error_f32(v, e):
    """exp(v) - e for e = vexp(v) in float32: the float64 exp (within 2**-52) less e, rounded to float32; 0 where
    e is inf or nan."""
    d = np.float32(vexp(np.float64(v)) - np.float64(e))
    return select(abs(e) < np.float32(math.inf), d, np.float32(0.0))


_LN2_LO2 = -2.3407938865678234e-23  # ln 2 - _LN2_HI - _LN2_LO: ln 2 in three parts, to 2**-129 of itself
# 2**(j/8) for j = 0..7 as double-doubles (head, tail), the table of _exp_pair_f64
_EXP2_EIGHTHS_HI = (
    1.0,
    1.0905077326652577,
    1.189207115002721,
    1.2968395546510096,
    1.4142135623730951,
    1.5422108254079407,
    1.681792830507429,
    1.8340080864093424,
)
_EXP2_EIGHTHS_LO = (
    0.0,
    -3.046782079812471e-17,
    3.982015231465646e-17,
    2.5382502794888315e-17,
    -9.667293313452913e-17,
    7.949834809697621e-17,
    8.199010020581497e-17,
    3.283107224245627e-17,
)


@njit(**_HELPER)
def _exp_pair_f64(y):
    """exp(y) = (h + t) 2**k for |y| <= 745 (an int64 k, h + t in [0.95, 1.92)), within about 2**-66
    relative, branch-free.  y = K ln2/8 + r1 + r2 with K = 8k + j rounded by the 1.5 * 2**52 shift (|K| < 2**14)
    and ln 2 in three parts (K ln2_hi/8 exact, K ln2_lo/8 as an fma pair); exp(r1) = 1 + r1 + r1^2/2 + r1^3 q(r1)
    with |r1| < 0.0434, r1^2 exact by an fma and the sum in double-double, so that the only roundings left are
    2**-53 of r1^3 q(r1) < 2**-16; times 1 + r2 and 2**(j/8), a double-double picked by selects."""
    u = y * (8.0 * _INV_LN2) + _SHIFT
    kf = u - _SHIFT
    kk = _f64_bits(u) - _SHIFT_BITS
    rh = y - kf * (0.125 * _LN2_HI)  # exact: a 21-bit constant times |K| < 2**14, and Sterbenz
    p = kf * (0.125 * _LN2_LO)
    pl = fma(kf, 0.125 * _LN2_LO, -p)
    r1, e = _two_sum(rh, -p)
    r2 = (e - pl) - kf * (0.125 * _LN2_LO2)
    sh = r1 * r1
    sl = fma(r1, r1, -sh)
    s4 = sh * sh  # q(r1) = sum_j r1**j / (j + 3)! to j = 7 (truncation below 2**-75), by Estrin
    q = ((1.0 / 6.0) + r1 * (1.0 / 24.0)) + sh * ((1.0 / 120.0) + r1 * (1.0 / 720.0))
    q = q + s4 * (((1.0 / 5040.0) + r1 * (1.0 / 40320.0)) + sh * ((1.0 / 362880.0) + r1 * (1.0 / 3628800.0)))
    a, b = _fast_two_sum(1.0, r1)
    c, d = _fast_two_sum(a, 0.5 * sh)  # |a| > 0.95 > 0.5 r1^2: ordered
    h, t = _fast_two_sum(c, ((b + d) + (0.5 * sl + (r1 * sh) * q)) + r2 * (1.0 + r1))
    j = kk & 7  # 2**(j/8) by a tree of selects on j's bits
    b0, b1, b2 = (j & 1) == 1, (j & 2) == 2, (j & 4) == 4
    hi, lo = _EXP2_EIGHTHS_HI, _EXP2_EIGHTHS_LO
    h01 = select(b1, select(b0, hi[3], hi[2]), select(b0, hi[1], hi[0]))
    h23 = select(b1, select(b0, hi[7], hi[6]), select(b0, hi[5], hi[4]))
    l01 = select(b1, select(b0, lo[3], lo[2]), select(b0, lo[1], lo[0]))
    l23 = select(b1, select(b0, lo[7], lo[6]), select(b0, lo[5], lo[4]))
    th = select(b2, h23, h01)
    tl = select(b2, l23, l01)
    hh = th * h
    return hh, fma(th, h, -hh) + (th * t + tl * h), kk >> 3


@njit(**_HELPER)
def _exp_error_f64(v, e):
    """exp(v) - e for e = vexp(v) in float64, to about 2**-66 of exp(v): exp(v) = (h + t) 2**k in double-double
    (_exp_pair_f64), e scaled by 2**-k in two exact steps, the difference (exact: Sterbenz) and the tail scaled
    back in two steps; 0 where v <= -745 or e is inf or nan, where e is 0, inf or nan and no correction applies.
    That precision is what a large argument needs: exp(x - exp(x)) at x = 6.6 has condition number 735, and the
    argument's own correction (-(exp(x) - e)) must be good to 2**-63 of exp(x) to keep the result within an ulp."""
    c = select(v < -745.0, -745.0, select(v > 709.79, 709.79, v))
    h, t, k = _exp_pair_f64(c)
    k1 = k >> 1
    d = ((e * _pow2_f64(-k1)) * _pow2_f64(k1 - k) - h) * -1.0 + t  # exp(v) 2**-k - e 2**-k
    r = (d * _pow2_f64(k1)) * _pow2_f64(k - k1)
    return select((v > -745.0) & (e < math.inf), r, 0.0)


def _exp_error(v, e):
    """exp(v) - e, the rounding error of e = vexp(v): _exp_error_f32 or _exp_error_f64 by the type of v."""
    return v


@overload(_exp_error, inline="always")
def _exp_error_numba(v, e):
    f = _exp_error_f32 if v == types.float32 else _exp_error_f64
    return lambda v, e: f(v, e)


@njit(**_HELPER)
def _mul_exp_f32(m, t, e):
    """m exp(t + e) in float32: m (exp(t) (1 + e)), the correction only where |t| < 1000 (exp(t) is 0 or inf
    beyond, and e may be nan there)."""
    one = np.float32(1.0)
    return m * (vexp(t) * select(abs(t) < np.float32(1000.0), one + e, one))


@njit(**_HELPER)
def _mul_exp_f64(m, t, e):
    """m exp(t + e) in float64 for a small e (the rounding error of a computed t), with m inside the scaling: the
    product m (1 + expm1(r)) is formed at exp's reduced argument r and scaled by 2**k last, in two exact steps and
    one rounding, so that a subnormal exp(t) loses nothing before m scales it back (-2 x exp(-x^2) at x = 26.8 is
    6.6e-312 where exp(-x^2) is 1.2e-313: 13.5 ulp as x (exp(-x^2)) (-2), 0.5 here).  |t| < 1000 and m finite;
    elsewhere its limit: m inf (m = +-inf, |t| < 1000), m 0 or a signed 0 (t <= -1000: inf * 0 would be nan), m inf
    (t >= 1000), nan (t nan).  A subnormal m with a large positive t loses its digits before the scaling."""
    ok = (abs(t) < 1000.0) & (abs(m) < math.inf)
    c = select(ok, t, 0.0)
    lo = select(ok, e, 0.0)
    u = c * _INV_LN2 + _SHIFT
    k = u - _SHIFT
    r = ((c - k * _LN2_HI) - k * _LN2_LO) + lo  # exact reduction for |c| < 2048 (_LN2_HI has 21 bits)
    p = m + m * (r + _exp_poly_f64(r))
    ki = _f64_bits(u) - _SHIFT_BITS  # |ki| <= 1443: two factors 2**k1 2**(ki - k1), each in range
    k1 = ki >> 1
    scaled = (p * _pow2_f64(k1)) * _pow2_f64(ki - k1)
    x = select(abs(t) < 1000.0, 1.0, select(t > 0.0, math.inf, 0.0))  # exp(t) where only its sign or limit counts
    plain = select((x == 0.0) & (m == m), math.copysign(0.0, m), m * x)
    return select(ok, scaled, select(t == t, plain, t))


def _mul_exp(m, t, e):
    """m exp(t + e), e the small rounding error of a computed t: _mul_exp_f32 or _mul_exp_f64 by the type of t."""
    return m


@overload(_mul_exp, inline="always")
def _mul_exp_numba(m, t, e):
    f = _mul_exp_f32 if t == types.float32 else _mul_exp_f64
    return lambda m, t, e: f(m, t, e)


@njit(**_HELPER)
def _mul_erfc_f32(m, w, d):
    """m erfc(w + d) in float32, d the small rounding error of a computed w: erfc in float64 (vecmath's erfc_f32 is
    that, rounded), corrected by the factor 1 - 2 w d (to d / w relative: 2**-24 of float32's ulp), and the product
    rounded once, so that a float32-subnormal erfc(w) (w > 9.2) keeps the digits m scales back."""
    v = np.float64(w)
    return np.float32(np.float64(m) * (erfc_f64(v) * (1.0 - 2.0 * v * np.float64(d))))


@njit(**_HELPER)
def _mul_erfc_f64(m, w, d):
    """m erfc(w + d) in float64, d the small rounding error of a computed w, rounded about once.

    For 0.5 <= |w| <= 27.5, erfc(|w|) = q exp(t + lo) (vecmath's _erfc_parts_f64, q = erfcx(|w|)); d moves |w| by
    +-d and log erfc by -2 d / (sqrt(pi) q), which joins lo, and m q exp(t + lo) is _exp_hilo_f64's, which scales by
    2**k last: a subnormal erfc(w) loses nothing before m scales it back (x erfc(x) at x = 26.8, 3e-313, was 12.5
    ulp as x times erfc(x)), and the correction costs no rounding of its own (gelu's forward as erfc(w) (1 - 2 w d)
    times x/2: 3.2 ulp at x = -7.3).  For w <= -0.5, 2m - m erfc(|w|) (2 - erfc >= 1: nothing cancels); for
    |w| < 0.5, m (1 - erf(w) - erf'(w) d).  One exp in all."""
    a = abs(w)
    da = select(w < 0.0, -d, d)
    t, lo, q = _erfc_parts_f64(a)
    p = _exp_hilo_f64(t, lo - _TWO_OVER_SQRT_PI * da / q, m * q)
    # 0 past 27.5, as erfc_f64 has it, with m's sign (an infinite m too: inf (2 - erfc(inf)) is inf, not nan)
    p = select(a > 27.5, select(m == m, math.copysign(0.0, m), m), p)
    big = select(w > 0.0, p, 2.0 * m - p)
    small = m * ((1.0 - _erf_small_f64(w)) - _TWO_OVER_SQRT_PI * (1.0 - w * w) * d)  # (e^-w^2 to w^4 / 2)
    return select(a < 0.5, small, big)


def _mul_erfc(m, w, d):
    """m erfc(w + d), d the small rounding error of a computed w (0 for an exact one): _mul_erfc_f32 or
    _mul_erfc_f64 by the type of w."""
    return m * math.erfc(w + d)


@overload(_mul_erfc, inline="always")
def _mul_erfc_numba(m, w, d):
    f = _mul_erfc_f32 if w == types.float32 else _mul_erfc_f64
    return lambda m, w, d: f(m, w, d)


# --- sigma' and tanh', silu' -------------------------------------------------------------------------


@njit(**_HELPER)
def _t_over_square_f32(t):
    """t / (1 + t)^2 for t in [0, 1], float32: 1 + t and its square split exactly (fma) and the quotient
    corrected by its residual before it rounds, so that t's own error and one rounding are all that is left
    (the plain quotient of roundings lost up to 4.8 ulp in sigma' and tanh')."""
    one = _F32_ONE
    s1 = one + t
    e1 = (one - s1) + t  # 1 + t = s1 + e1
    dh = s1 * s1
    dl = fma(s1, s1, -dh) + (s1 + s1) * e1
    inv = one / dh
    q = t * inv
    return fma(fma(-q, dh, t) - q * dl, inv, q)


@njit(**_HELPER)
def _t_over_square_f64(t):
    """t / (1 + t)^2, float64 (its roundings are far below float64's bound)."""
    return t / ((1.0 + t) * (1.0 + t))


def _t_over_square(t):
    """t / (1 + t)^2: _t_over_square_f32 or _t_over_square_f64 by the type of t."""
    return t / ((1 + t) * (1 + t))


@overload(_t_over_square, inline="always")
def _t_over_square_numba(t):
    f = _t_over_square_f32 if t == types.float32 else _t_over_square_f64
    return lambda t: f(t)


@njit(**_HELPER)
def _silu_prime_f32(u):
    """silu'(u) = (u + 1 + t) t / (1 + t)^2 (u < 0, t = e^u) or (1 + t + u t) / (1 + t)^2 (u >= 0, t = e^-u),
    in float32 arithmetic to about 2 ulp for |u - u0| > 1/16 (u0 = -1.278..., the zero; the root patch covers
    the rest) and |u| < 87; 1 above; below -87, where e^u is subnormal, e^u is taken as 2^max(k, -126) (1 + h)
    and the quotient scaled by the rest of 2^k last (as _silu_prime_f64 does), so that a subnormal result rounds
    once; -0 below -110, where it rounds to zero.
    Every rounding that the textbook form leaves is kept and corrected for: e^-|u| = s (1 + h) with s = 2^k
    exact, so that u + 1 + t = ((u + 1) + s) + s h keeps its digits where it cancels; t's rounding tl; 1 + t and
    (1 + t)^2 split exactly (fma); and the quotient corrected by its residual before it rounds.  The textbook
    form in float32 lost up to 5.7 ulp."""
    one = _F32_ONE
    w = -abs(u)
    c = select(w < np.float32(-110.0), np.float32(-110.0), w)
    tt = c * _F32_INV_LN2 + _F32_SHIFT
    k = tt - _F32_SHIFT
    r = (c - k * _F32_LN2_HI) - k * _F32_LN2_LO
    q = _F32_C7
    q = q * r + _F32_C6
    q = q * r + _F32_C5
    q = q * r + _F32_C4
    q = q * r + _F32_C3
    q = q * r + _F32_HALF
    h = r + (r * r) * q  # e^r - 1
    ki = np.int32(_f32_bits(tt) - np.int32(_F32_SHIFT_BITS))  # k in [-159, 0]
    kn = select(ki < np.int32(-126), np.int32(-126), ki)
    s = _bits_f32(np.int32((kn + np.int32(127)) << np.int32(23)))  # 2^k where u > -87, else 2^-126
    t = fma(s, h, s)
    tl = fma(s, h, -(t - s))  # t + tl = s (1 + h); t - s is exact
    s1 = one + t
    e1 = ((one - s1) + t) + tl  # 1 + t + tl = s1 + e1
    n = ((u + one) + s) + s * h  # u + 1 + e^u, u < 0
    ah = select(u < _lit(0.0, u), n * t, fma(u, t, s1))
    al = select(u < _lit(0.0, u), fma(n, t, -(n * t)) + n * tl, e1 + u * tl)
    dh = s1 * s1
    dl = fma(s1, s1, -dh) + (s1 + s1) * e1
    inv = one / dh
    q0 = ah * inv
    q0 = fma((fma(-q0, dh, ah) + al) - q0 * dl, inv, q0)
    q0 = q0 * _bits_f32(np.int32((np.int32(ki - kn) + np.int32(127)) << np.int32(23)))  # 2^(k - kn): 1 above -87
    q0 = select(u > _lit(87.0, u), one, q0)  # 1 + (u - 1) t rounds to 1 there
    return select(u < np.float32(-110.0), np.float32(-0.0), q0)


@njit(**_HELPER)
def _silu_prime_f64(u):
    """_silu_prime_f32's algorithm in float64 (within 1.9 ulp for |u - u0| > 1/16 on 10^4 random points against
    mpmath), with e^u's exponent split 2^k = s sl, s = 2^max(k, -1000), so that a result below the normal range
    rounds once, at the end; 1 above u = 709, -0 below -760."""
    w = -abs(u)
    c = select(w < -760.0, -760.0, w)  # u e^u rounds to -0 below -760
    tt = c * _INV_LN2 + _SHIFT
    k = tt - _SHIFT
    r = (c - k * _LN2_HI) - k * _LN2_LO
    h = r + _exp_poly_f64(r)  # e^r - 1
    ki = _f64_bits(tt) - _SHIFT_BITS
    kh = select(ki < -1000, -1000, ki)
    s = _pow2_f64(kh)
    t = fma(s, h, s)
    tl = fma(s, h, -(t - s))
    s1 = 1.0 + t
    e1 = ((1.0 - s1) + t) + tl
    n = ((u + 1.0) + s) + s * h
    ah = select(u < 0.0, n * t, fma(u, t, s1))
    al = select(u < 0.0, fma(n, t, -(n * t)) + n * tl, e1 + u * tl)
    dh = s1 * s1
    dl = fma(s1, s1, -dh) + (s1 + s1) * e1
    inv = 1.0 / dh
    q0 = ah * inv
    q0 = fma((fma(-q0, dh, ah) + al) - q0 * dl, inv, q0)
    q0 = q0 * select(u < 0.0, _pow2_f64(ki - kh), 1.0)  # 1 + t = 1 wherever ki < -1000
    q0 = select(u > 709.0, 1.0, q0)  # 1 + (u - 1) e^-u rounds to 1
    return select(u < -760.0, -0.0, q0)


def _silu_prime(u):
    """silu'(u): _silu_prime_f32 or _silu_prime_f64 by the type of u."""
    return u


@overload(_silu_prime, inline="always")
def _silu_prime_numba(u):
    f = _silu_prime_f32 if u == types.float32 else _silu_prime_f64
    return lambda u: f(u)


# --- mish in head-tail arithmetic -------------------------------------------------------------------------


@njit(**_HELPER)
def _ht_head(v):
    """v with the low 27 bits of its significand cleared (Dekker's split by a mask): 26 significant bits,
    so that the product of two heads is exact (unless it underflows)."""
    return _bits_f64(_f64_bits(v) & -134217728)


@njit(**_HELPER)
def _ht(p1, p2):
    """p1 + p2 (|p2| <= |p1| / 2) as a head h (26 bits) and a tail t = (p1 - h) + p2, |t| < 2**-24 |h|:
    p1 - h is exact (a multiple of p1's last bit, below 2 |p1|), so the tail's only rounding is 2**-53 of it,
    about 2**-77 of the value."""
    h = _ht_head(p1 + p2)
    return h, (p1 - h) + p2


@njit(**_HELPER)
def _ht_mul(ah, at, bh, bt):
    """(ah + at)(bh + bt) for heads ah, bh as an unnormalised pair: the exact product of the heads and the rest."""
    return ah * bh, ah * bt + at * (bh + bt)


@njit(**_HELPER)
def _ht_div(ah, at, bh, bt):
    """(ah + at) / (bh + bt) for a head bh as a head-tail pair: the quotient to 26 bits, qh, and the residual
    (ah + at) - qh (bh + bt) (qh bh exact, the difference small) divided in double."""
    inv = 1.0 / (bh + bt)
    qh = _ht_head((ah + at) * inv)
    return qh, (((ah - qh * bh) + at) - qh * bt) * inv


@njit(**_HELPER)
def _dd_scale(v, k):
    """v * 2**k for an int64 k in [-2040, 0], by two exact power-of-two factors (one rounding at most)."""
    k1 = k >> 1
    s1 = _bits_f64((k1 + 1023) << 52)
    s2 = _bits_f64((k - k1 + 1023) << 52)
    return (v * s1) * s2


@njit(**_HELPER)
def _ht_exp_neg(y):
    """exp(y) = (h + t) 2**k for -1100 <= y <= 0: h a head, h + t in [0.7, 1.42] within about 2**-55 relative,
    k an int64.  y = k ln2 + r1 + r2 (k by the 1.5 * 2**52 shift, k * ln2_hi exact, r1 + r2 = r within 2**-60),
    exp(r1) = 1 + r1 (exact as a pair) + r1**2 q(r1) (in double, < 0.07), times 1 + r2."""
    t = y * 1.4426950408889634 + 6755399441055744.0
    kf = t - 6755399441055744.0
    k = _f64_bits(t) - 0x4338000000000000
    rh = y - kf * 0.6931467056274414  # exact: the constant has 21 bits and |k| < 2**11
    r1, r2 = _fast_two_sum(rh, -(kf * 4.7493250390316726e-07))  # inexact only where |rh| < 6e-4: r2 < 2**-60
    s2 = r1 * r1  # q(r1) = sum_j r1**j / (j + 2)! to j = 12 (truncation < 2**-62), by Estrin: a short chain
    s4 = s2 * s2
    q = (0.5 + r1 * (1.0 / 6.0)) + s2 * ((1.0 / 24.0) + r1 * (1.0 / 120.0))
    q = q + s4 * (((1.0 / 720.0) + r1 * (1.0 / 5040.0)) + s2 * ((1.0 / 40320.0) + r1 * (1.0 / 362880.0)))
    s = ((1.0 / 3628800.0) + r1 * (1.0 / 39916800.0)) + s2 * ((1.0 / 479001600.0) + r1 * (1.0 / 6227020800.0))
    q = q + (s4 * s4) * (s + s4 * (1.0 / 87178291200.0))
    a, b = _fast_two_sum(1.0, r1)
    h, t = _ht(a, s2 * q)
    return h, t + (b + h * r2), k


@njit(**_HELPER)
def _mish_parts(x, neg):
    """The pieces shared by mish and mish' for -800 <= x <= 40 as head-tail pairs (heads of 26 bits, tails
    good to about 2**-75 of the value), with u = exp(-|x|) = m 2**k (any tiny value below 2**-1000) and g = 2
    (x <= 0) or 1 (x > 0): u, m, k, u**2 and the denominator D = g + 2u + (3 - g) u**2 of tanh(softplus(x))
    (e (e + 2) + 2 with e = u for x <= 0, 1 + 2t + 2t^2 with t = u for x > 0), and its numerator N,
    unnormalised: 2m + m u = e (e + 2) / 2**k for x <= 0, 1 + 2t for x > 0.  Sums of a constant and a head
    below 4 are exact or ordered: fast two-sums."""
    mh, mt, k = _ht_exp_neg(-abs(x))
    s = _bits_f64((select(k < -1000, -1000, k) + 1023) << 52)  # 2**k, or 2**-1000 where u is negligible anyway
    uh = mh * s
    ut = mt * s
    u2h = uh * uh  # exact: a product of heads
    u2t = (uh + uh + ut) * ut
    g = select(neg, 2.0, 1.0)
    s, e = _fast_two_sum(g, uh + uh)
    s, f = _fast_two_sum(s, (3.0 - g) * u2h)  # 2 u**2 <= 2u < 1 + 2u (x > 0), u**2 <= 1 < 2 + 2u
    dh, dt = _ht(s, (e + f) + ((ut + ut) + (3.0 - g) * u2t))
    wh = select(neg, mh, uh)
    wt = select(neg, mt, ut)
    vh = select(neg, uh, 0.0)
    vt = select(neg, ut, 0.0)
    s, e = _fast_two_sum(2.0 - g, wh + wh)
    s, f = _fast_two_sum(s, wh * vh)  # m u <= 2m
    return uh, ut, mh, mt, k, u2h, u2t, dh, dt, s, (e + f) + ((wt + wt) + wh * vt + wt * (vh + vt))


@njit(**_HELPER)
def _mish_dd(x):
    """x tanh(softplus(x)) for a finite x, rounded once from head-tail pairs, both signs in one branch-free
    evaluation: x N / D (times 2**k for x <= 0) with _mish_parts' N and D; mish(x) = x to the last bit
    for x > 20 (1 - tanh(softplus(x)) < 2 exp(-2x)), and -0.0 below -800 (x exp(x) underflows)."""
    neg = x <= 0.0
    xc = select(x > 20.0, 20.0, select(x < -800.0, -800.0, x))
    uh, ut, mh, mt, k, u2h, u2t, dh, dt, nh, nt = _mish_parts(xc, neg)
    qh, qt = _ht_div(nh, nt, dh, dt)
    xh = _ht_head(xc)
    xt = xc - xh
    r = _dd_scale(xh * qh + (xh * qt + xt * (qh + qt)), select(neg, k, 0))
    r = select((x > 20.0) | (x == 0.0), x, r)  # and mish(-0.0) = -0.0
    return select(x < -800.0, -0.0, r)


@njit(**_HELPER)
def _mish_prime_dd(x):
    """mish'(x) for a finite x, rounded once from head-tail pairs: (N D + 4 x w Q) / D^2 (times 2**k for
    x <= 0) with _mish_parts' N, D and w = m, Q = 1 + u for x <= 0 (= [n (n + 2) + 4 x e (1 + e)] / (n + 2)^2
    with e = exp(x), n = e (e + 2)), w = t, Q = P = t (1 + t) for x > 0 (= [(1 + 2t) D + 4 x t^2 (1 + t)] / D^2
    with t = exp(-x)); 1 above 40 (1 - mish'(x) < 4 x exp(-2x)) and -0.0 below -800."""
    neg = x <= 0.0
    xc = select(x > 40.0, 40.0, select(x < -800.0, -800.0, x))
    uh, ut, mh, mt, k, u2h, u2t, dh, dt, nh, nt = _mish_parts(xc, neg)
    g = select(neg, 2.0, 1.0)
    s, e = _fast_two_sum(g - 1.0, uh)  # Q = 1 + u for x <= 0, u + u**2 for x > 0
    s, f = _fast_two_sum(s, (2.0 - g) * u2h)  # u**2 <= u
    oh, ot = _ht(s, (e + f) + (ut + (2.0 - g) * u2t))
    w1, w2 = _ht_mul(select(neg, mh, uh), select(neg, mt, ut), oh, ot)
    wh, wt = _ht(w1, w2)
    x4 = 4.0 * xc
    xh = _ht_head(x4)
    t1, t2 = _ht_mul(wh, wt, xh, x4 - xh)
    nh, nt = _ht(nh, nt)
    v1, v2 = _ht_mul(nh, nt, dh, dt)
    s, e = _two_sum(v1, t1)
    s1, s2 = _ht_mul(dh, dt, dh, dt)
    sh, st = _ht(s1, s2)
    qh, qt = _ht_div(s, e + (v2 + t2), sh, st)
    r = _dd_scale(qh + qt, select(neg, k, 0))
    r = select(x > 40.0, 1.0, r)
    return select(x < -800.0, -0.0, r)


@njit(**_HELPER)
def _mish_nd(x):
    """(N, D, W) with tanh(softplus(x)) = N / D and mish'(x) = (N D + 4 x W) / D^2, from u = exp(-|x|) alone:
    x <= 0: N = u (u + 2), D = N + 2, W = u (1 + u); x > 0: N = 1 + 2u, D = N + 2u^2, W = u^2 (1 + u)."""
    u = vexp(-abs(x))
    neg = x <= 0.0
    n = select(neg, u * (u + 2.0), 1.0 + 2.0 * u)
    d = n + select(neg, 2.0, 2.0 * u * u)
    w = select(neg, u, u * u) * (1.0 + u)
    return n, d, w


@njit(**_HELPER)
def _mish_plain(x):
    """mish(x) = x N / D: one exponential and one division (float32 results, computed in float64)."""
    n, d, w = _mish_nd(x)
    return x * n / d


@njit(**_HELPER)
def _mish_prime_plain(x):
    """mish'(x) = (N D + 4 x W) / D^2 (float32 results, computed in float64; the root patch covers the
    cancellation near the zero of mish')."""
    n, d, w = _mish_nd(x)
    return (n * d + 4.0 * x * w) / (d * d)


# --- double-double forms of an expression -----------------------------------------------------------------
# A pair (h, lo) stands for h + lo, |lo| <= ulp(h) / 2.  symact.dd_printer prints a compute form as a chain of these
# calls where its plain float64 kernel, measured, misses its bound (roundings compounding: sigma(x)^2, tanh(tanh(x)));
# rowlib.dd's _dd_add, _vdd_mul and _vdd_div are the arithmetic.  Each function is good to about 2**-60 relative
# inside its range; outside it (an intermediate that overflows) the pair is not finite and the kernel keeps its
# plain float64 value there.  Never contracted (_EXACT): an fma would break the error-free transformations.


@njit(**_EXACT)
def _ddx_exp(h, lo):
    """exp(h + lo): rowlib.dd's double-double exp for h in [-600, 700]; below and above, exp(h) (1 + lo) in double
    (a result that is subnormal, or that overflows, has no digits to gain)."""
    inside = (h >= -600.0) & (h <= 700.0)
    eh, el = _vexp_dd(select(inside, h, 0.0), lo)
    e = vexp(h)
    return select(inside, eh, e + e * lo), select(inside, el, 0.0)


@njit(**_EXACT)
def _ddx_expm1(h, lo):
    """exp(h + lo) - 1: r + r^2/2 + r^3 q(r) for |r| < ln 2 / 2 (q: rowlib.dd's Taylor tail, the r^3 term below
    1/50 of the value, so its rounding is 2**-58 of it), exp(r) - 1 beyond (no more than 2 bits cancel)."""
    small = abs(h) < 0.34657359027997264
    s = h * h
    sl = fma(h, h, -s) + 2.0 * h * lo
    ah, al = _dd_add(h, lo, 0.5 * s, 0.5 * sl)
    ah, al = _dd_add(ah, al, (h * s) * _exp_tail_poly(h), 0.0)
    eh, el = _ddx_exp(h, lo)
    bh, bl = _dd_add(eh, el, -1.0, 0.0)
    return select(small, ah, bh), select(small, al, bl)


@njit(**_EXACT)
def _ddx_log(h, lo):
    """log(h + lo) = log(h) + r - r^2 / 2, r = lo / h, for a finite h > 0 (rowlib.dd's log to 2**-100; the r^2 term
    counts where log(h) is 0 and r the whole value: log1p of a tiny argument); log(h) in double elsewhere (nan,
    -inf, inf)."""
    ok = (h > 0.0) & (h < math.inf)
    lh, ll = _log_dd(select(ok, h, 1.0))
    r = lo / select(ok, h, 1.0)
    rh, rl = _dd_add(lh, ll, r, -0.5 * r * r)
    return select(ok, rh, vlog(h)), select(ok, rl, 0.0)


@njit(**_EXACT)
def _ddx_log1p(h, lo):
    """log(1 + h + lo): 1 + h as an exact pair (TwoSum), then its log; for |h| < 2**-20, where 1 + h would round
    lo away, the series h + lo - h^2/2 + h^3/3 (the next term is 2**-60 of the value)."""
    s, e = _two_sum(1.0, h)
    s, e = _fast_two_sum(s, e + lo)
    rh, rl = _ddx_log(s, e)
    small = abs(h) < 9.5367431640625e-07
    th, tl = _dd_add(h, lo, h * h * (h * (1.0 / 3.0) - 0.5), 0.0)
    return select(small, th, rh), select(small, tl, rl)


@njit(**_EXACT)
def _ddx_tanh(h, lo):
    """tanh(h + lo) = -sign(x) e / (2 + e), e = expm1(-2|x|) in (-1, 0]: nothing cancels at any x; |x| past 40
    (where tanh is 1 to 2**-115) is taken as 40."""
    neg = h < 0.0
    ah = select(neg, -h, h)
    al = select(neg, -lo, lo)
    far = ah > 40.0
    eh, el = _ddx_expm1(-2.0 * select(far, 40.0, ah), -2.0 * select(far, 0.0, al))
    dh, dl = _dd_add(2.0, 0.0, eh, el)
    qh, ql = _vdd_div(eh, el, dh, dl)
    return select(neg, qh, -qh), select(neg, ql, -ql)


@njit(**_EXACT)
def _ddx_sigmoid(h, lo):
    """sigma(h + lo) = N / (1 + t), t = exp(-|x|), N = 1 (x >= 0) or t (x < 0)."""
    neg = h < 0.0
    th, tl = _ddx_exp(select(neg, h, -h), select(neg, lo, -lo))
    dh, dl = _dd_add(1.0, 0.0, th, tl)
    return _vdd_div(select(neg, th, 1.0), select(neg, tl, 0.0), dh, dl)


@njit(**_EXACT)
def _ddx_softplus(h, lo):
    """softplus(h + lo) = max(x, 0) + log1p(exp(-|x|))."""
    neg = h < 0.0
    th, tl = _ddx_exp(select(neg, h, -h), select(neg, lo, -lo))
    ph, pl = _ddx_log1p(th, tl)
    return _dd_add(select(neg, 0.0, h), select(neg, 0.0, lo), ph, pl)


@njit(**_EXACT)
def _ddx_sqrt(h, lo):
    """sqrt(h + lo) = s + (h - s^2 + lo) / (2 s), s = sqrt(h), h - s^2 exact by an fma; 0 at 0."""
    s = math.sqrt(h)
    r = (fma(-s, s, h) + lo) / (s + s)
    return s, select(h > 0.0, r, 0.0)


@njit(**_EXACT)
def _ddx_abs(h, lo):
    """|h + lo|."""
    neg = h < 0.0
    return select(neg, -h, h), select(neg, -lo, lo)


@njit(**_EXACT)
def _ddx_max(ah, al, bh, bl):
    """max(a, b) of two pairs (a nan in either gives a nan)."""
    first = (ah > bh) | ((ah == bh) & (al >= bl))
    nan = (ah != ah) | (bh != bh)
    return select(nan, ah + bh, select(first, ah, bh)), select(first, al, bl)


@njit(**_EXACT)
def _ddx_min(ah, al, bh, bl):
    """min(a, b) of two pairs (a nan in either gives a nan)."""
    first = (ah < bh) | ((ah == bh) & (al <= bl))
    nan = (ah != ah) | (bh != bh)
    return select(nan, ah + bh, select(first, ah, bh)), select(first, al, bl)


@njit(**_EXACT)
def _ddx_value(h, lo, plain):
    """h + lo where it is finite, else ``plain`` (the form in plain float64: an intermediate overflowed)."""
    v = h + lo
    return select(abs(v) < math.inf, v, plain)


def library_source(names, imports: bool = True, settings=None) -> str:
    """The source of the named functions of this module and :mod:`symact.vecmath`, and of everything they use,
    in dependency order (:func:`symact.vecmath.library_source`; ``settings`` as there)."""
    import sys

    return vecmath.library_source(names, [vecmath, dd, sys.modules[__name__]], imports, settings)
