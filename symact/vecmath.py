"""Vectorisable, branch-free elementary functions for Numba kernels.

LLVM compiles ``math.exp``, ``math.log1p``, ``math.tanh`` and ``math.erf`` to calls of the scalar C library,
so a Numba loop over them is not vectorised (and the llvmlite wheels carry no SVML).  The functions here
compute the same values with arithmetic, integer bit operations and selects only, so that LLVM turns a loop
over a contiguous array into SIMD code (zmm registers on AVX-512):

- ``exp``: Cody-Waite reduction ``x = k ln2 + r`` (k rounded with the ``1.5 * 2**52`` trick, ``ln2`` split so
  that ``k * LN2_HI`` is exact), a degree-13 Taylor polynomial on ``|r| <= ln2 / 2``, and ``2**k`` written into
  the exponent bits in two steps (so that results near overflow and subnormal results round once);
- ``expm1``: the same reduction, ``expm1(x) = 2 * (2**(k-1) expm1(r) + (2**(k-1) - 1/2))``;
- ``log`` and ``log1p``: ``1 + x = 2**k m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))`` from the bits,
  ``log(m) = f - f**2/2 + s (f**2/2 + R(s**2))`` with ``s = f / (2 + f)`` and ``R`` the atanh series, plus the
  rounding error of ``1 + x`` as a first-order correction (log1p);
- ``tanh``: ``q = expm1(2|x|)``, ``q / (q + 2)`` below ``|x| = 0.55`` and ``1 - 2 / (q + 2)`` above;
- ``erf`` and ``erfc``: ``x P(x**2)`` for ``|x| < 0.5``; above, ``erfc(a) = exp(-a**2) erfcx(a)`` with
  ``exp(-a**2)`` computed from an exact split of ``a**2`` and ``erfcx`` a polynomial in ``a`` (``a <= 2.5``) or in
  ``1 / a**2``; the coefficients come from ``tools/fit_vecmath.py``;
- ``sigmoid`` and ``softplus`` on top of ``exp`` and ``log1p``.

Special values follow C99: overflow to inf exactly where the rounded result overflows, subnormal results,
signed zeros, +-inf and nan.  The float32 exp, expm1, log1p, tanh and sigmoid compute in float32 (16 lanes,
within 2 ulp); the other float32 functions compute in float64 and round once at the end (within 1 ulp).

Every function is ``njit(**_HELPER)`` (inlined by LLVM) and has ``_f64`` and ``_f32`` versions; the generic ``vexp``,
``vlog1p``, ... dispatch on the argument's type inside Numba (and call ``math`` in plain Python).
:func:`vecmath_source` returns the source of chosen functions and everything they use, in dependency order,
for a self-contained generated module.

Compile the calling loop with ``error_model="numpy"``: under ``njit``'s default (``"python"``) every float
division gets a zero check that raises ZeroDivisionError, a branch that stops LLVM from vectorising the loop
(log, tanh, erf, sigmoid: 6-10x slower).  ``fastmath={"contract"}`` adds fused multiply-adds (faster, and
still IEEE for inf, nan and signed zeros); the functions are accurate without it too.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def first(x):
...     return vexp(x[0]), vlog1p(x[1]), verfc(x[2])
>>> e, l, c = first(np.array([1.0, 1e-20, 10.0]))
>>> abs(e / math.e - 1) < 3e-16, l, abs(c / 2.088487583762545e-45 - 1) < 5e-16
(True, 1e-20, True)
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["FUNCTIONS", "vecmath_source"]


# --- bit casts -------------------------------------------------------------------------------------------


@intrinsic
def _f64_bits(typingctx, x):
    """The bits of a float64 as an int64 (an LLVM bitcast: no memory round trip)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, i):
    """The float64 whose bits are the int64 i."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _f32_bits(typingctx, x):
    """The bits of a float32 as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return types.int32(types.float32), codegen


@intrinsic
def _bits_f32(typingctx, i):
    """The float32 whose bits are the int32 i."""
    if i != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(types.int32), codegen


#: the options of every function here: compiled once per argument type, with NumPy's error model (a division by
#: zero gives inf or nan, no check that stops vectorisation), and inlined into its caller by LLVM
#: (``alwaysinline``).  Numba's ``inline="always"`` inlined the IR instead and typed every copy: gelu's erfc in its
#: derivative cost a second on each first call.  A generated module sets its own (``fastmath={"contract"}`` where
#: its loops contract), so that a function computes what the loop around it would have computed.  Every option is
#: set: Numba compiles a function once per argument types, and one that leaves an option unset takes it from the
#: caller that happens to compile it first (a float32 loop that contracts), for every later caller too.
_HELPER = {"forceinline": True, "error_model": "numpy", "fastmath": False}

#: the options of an error-free transformation and of the double-double arithmetic built on it (rowlib.dd, the
#: pieces of rowlib.softmax's SIMD loops): compiled once, inlined by LLVM, and never contracted, whatever a
#: module's ``_HELPER`` (an fma fused into Veltkamp's split would break it).  Numba's ``inline="always"``, used
#: before, typed a copy of the function at each of its calls: the double-double code calls these many times.
_EXACT = {"forceinline": True, "error_model": "numpy", "fastmath": False}

#: ``_HELPER`` in a generated module whose loops contract (its text, as the module's ``_HELPER`` line)
CONTRACTED_HELPER = '{"forceinline": True, "error_model": "numpy", "fastmath": {"contract"}}'


# --- constants -----------------------------------------------------------------------------------------

_SHIFT = 6755399441055744.0  # 1.5 * 2**52: x + _SHIFT rounds x to an integer held in the low bits
_SHIFT_BITS = 0x4338000000000000  # the bits of _SHIFT
_INV_LN2 = 1.4426950408889634
_TWO_THIRDS_HI = 0.6666666666666666  # 2/3 = _TWO_THIRDS_HI + _TWO_THIRDS_LO to about 2**-107
_TWO_THIRDS_LO = 3.700743415417188e-17
_LN2_HI = 0.6931467056274414  # ln 2 to 21 bits: k * _LN2_HI is exact for |k| < 2**32
_LN2_LO = 4.7493250390316726e-07  # ln 2 - _LN2_HI
_EXP_HI = 710.0  # exp(x) overflows for x > 709.78...
_EXP_LO = -746.0  # exp(x) rounds to 0 for x < -745.13...
_EXPM1_LO = -45.0  # expm1(x) rounds to -1 for x < -38.2
_TINY = 5.551115123125783e-17  # 2**-54: expm1(x) = log1p(x) = x to the last bit below it
_SQRT_HALF_BITS = 0x3FE6A09E00000000  # the bits of sqrt(1/2), truncated: log's mantissa is reduced around it
_MANT_MASK = 0x000FFFFFFFFFFFFF
_HIGH32_MASK = -4294967296  # 0xFFFFFFFF00000000 as int64: clears the low 32 bits
_MIN_NORMAL = 2.2250738585072014e-308
_TWO54 = 1.8014398509481984e16
_LOW27_CLEAR = -134217728  # ~(2**27 - 1) as int64
_ERF_C0 = 1.0830752376761712  # the constant terms of the erf / erfc fits
_ERFCX_MID_C0 = 0.3215854164543175
_ERFCX_TAIL_C0 = 0.5437500712042601
_ERF_C0_LO = 1.0408911050063143e-16  # and their rounding errors (the fits' constants are C0 + C0_LO)
_ERFCX_MID_C0_LO = 1.7007985607722196e-17
_ERFCX_TAIL_C0_LO = -3.8394990791664805e-18
_ERFCX_TAIL_V0 = 0.08066115702479339  # the tail fit's variable: t = (1 / a**2 - V0) / VH
_ERFCX_TAIL_VH = 0.07933884297520662

# float32 constants (a Python float would turn a float32 computation into float64)
_F32_SHIFT = np.float32(12582912.0)  # 1.5 * 2**23
_F32_SHIFT_BITS = 0x4B400000
_F32_INV_LN2 = np.float32(1.4426950216293335)
_F32_LN2_HI = np.float32(0.693359375)  # ln 2 to 9 bits: k * _F32_LN2_HI is exact
_F32_LN2_LO = np.float32(-0.00021219444170128554)
_F32_EXP_HI = np.float32(89.0)  # expf overflows above 88.72
_F32_EXP_LO = np.float32(-104.0)  # and rounds to 0 below -103.97
_F32_ZERO = np.float32(0.0)
_F32_ONE = np.float32(1.0)
_F32_HALF = np.float32(0.5)
_F32_C3 = np.float32(1.0 / 6.0)
_F32_C4 = np.float32(1.0 / 24.0)
_F32_C5 = np.float32(1.0 / 120.0)
_F32_C6 = np.float32(1.0 / 720.0)
_F32_C7 = np.float32(1.0 / 5040.0)
_F32_C8 = np.float32(1.0 / 40320.0)
_F32_EXPM1_LO = np.float32(-18.0)  # expm1(x) rounds to -1 below -17.33
_F32_ATANH_C3 = np.float32(2.0 / 3.0)  # softplus_f32: 2 atanh(s) = 2 s + s (C3 s^2 + C5 s^4 + ...)
_F32_ATANH_C5 = np.float32(2.0 / 5.0)
_F32_ATANH_C7 = np.float32(2.0 / 7.0)
_F32_ATANH_C9 = np.float32(2.0 / 9.0)
_F32_ATANH_C11 = np.float32(2.0 / 11.0)
_F32_TANH_SMALL = np.float32(0.75)  # tanh_f32: the polynomial below, 1 - 2 / (e^2a + 1) above
_F32_TANH_HI = np.float32(9.5)  # tanh(x) rounds to 1 above 9.01
_F32_TANH_P0 = np.float32(-0.33333316445350647)
_F32_TANH_P1 = np.float32(0.13332721590995789)
_F32_TANH_P2 = np.float32(-0.05389469861984253)
_F32_TANH_P3 = np.float32(0.02145843207836151)
_F32_TANH_P4 = np.float32(-0.007666872814297676)
_F32_TANH_P5 = np.float32(0.0017423946410417557)
_F32_TWO = np.float32(2.0)
_F32_SHIFTED_LO = np.float32(-148.0)  # exp(x) 2**64 is normal down to here
_F32_TINY = np.float32(5.960464477539063e-08)  # 2**-24: log1p(x) = x to the last bit below it
_F32_LOG_LN2_HI = np.float32(0.6931381225585938)  # ln 2 to 16 bits (musl's ln2_hi): k * it is exact
_F32_LOG_LN2_LO = np.float32(9.05800061445916e-06)
_F32_LG1 = np.float32(0.6666666269302368)  # musl's log1pf/logf coefficients of the atanh series
_F32_LG2 = np.float32(0.40000972151756287)
_F32_LG3 = np.float32(0.2849878668785095)
_F32_LG4 = np.float32(0.24279078841209412)


@intrinsic
def select(typingctx, c, a, b):
    """a where the boolean c holds, else b, as one LLVM select: both already computed, no branch (a Python
    conditional expression becomes a branch in Numba's IR, which LLVM must then if-convert)."""
    if not isinstance(c, types.Boolean):
        return None
    result = typingctx.unify_types(a, b)
    if not isinstance(result, (types.Float, types.Integer, types.Boolean)):
        return None

    def codegen(context, builder, signature, args):
        cond, then, other = args
        then = context.cast(builder, then, signature.args[1], signature.return_type)
        other = context.cast(builder, other, signature.args[2], signature.return_type)
        return builder.select(cond, then, other)

    return result(c, a, b), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's llvm.fma: one instruction on x86-64 with FMA, vectorised in a loop).
    ``fma(a, b, -(a * b))`` is the rounding error of the product, exactly (Dekker's split in 2 operations
    instead of 17), barring underflow.  Float arguments of one type only.

    >>> from numba import njit
    >>> njit(lambda a, b: fma(a, b, -(a * b)))(1.0 + 2.0**-30, 1.0 + 2.0**-30) == 2.0**-60
    True
    """
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


# --- float64 ---------------------------------------------------------------------------------------------


@njit(**_HELPER)
def _exp_poly_f64(r):
    """expm1(r) - r for |r| <= ln2 / 2 (Taylor to degree 13: truncation below 1e-17 relative)."""
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    return (r * r) * q


@njit(**_HELPER)
def _pow2_f64(k):
    """2.0**k for an int64 k in [-1022, 1023]."""
    return _bits_f64((k + 1023) << 52)


@njit(**_HELPER)
def _exp_hilo_f64(hi, lo, m):
    """m * exp(hi + lo) for |lo| small; hi must be clamped to [_EXP_LO, _EXP_HI] or nan."""
    t = hi * _INV_LN2 + _SHIFT
    k = t - _SHIFT
    r = ((hi - k * _LN2_HI) - k * _LN2_LO) + lo
    p = m + m * (r + _exp_poly_f64(r))
    ki = _f64_bits(t) - _SHIFT_BITS
    k1 = ki >> 1
    return (p * _pow2_f64(k1)) * _pow2_f64(ki - k1)


@njit(**_HELPER)
def exp_f64(x):
    """exp(x), float64, within 1 ulp."""
    c = select(x > _EXP_HI, _EXP_HI, x)
    c = select(c < _EXP_LO, _EXP_LO, c)
    return _exp_hilo_f64(c, 0.0, 1.0)


@njit(**_HELPER)
def expm1_f64(x):
    """exp(x) - 1, float64, accurate near 0."""
    c = select(x > _EXP_HI, _EXP_HI, x)
    c = select(c < _EXPM1_LO, _EXPM1_LO, c)
    t = c * _INV_LN2 + _SHIFT
    k = t - _SHIFT
    r = (c - k * _LN2_HI) - k * _LN2_LO
    p = r + _exp_poly_f64(r)
    s = _pow2_f64(_f64_bits(t) - _SHIFT_BITS - 1)  # 2**(k-1)
    y = 2.0 * (s * p + (s - 0.5))
    return select(math.fabs(x) < _TINY, x, y)


@njit(**_HELPER)
def _log_kernel_f64(u, c, kbias):
    """log(u) + c for u > 0 finite (normal), with kbias added to the exponent."""
    bits = _f64_bits(u) + (0x3FF0000000000000 - _SQRT_HALF_BITS)
    k = (bits >> 52) - 1023 + kbias
    f = _bits_f64((bits & _MANT_MASK) + _SQRT_HALF_BITS) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    R = 2.0 / 19.0
    R = R * z + 2.0 / 17.0
    R = R * z + 2.0 / 15.0
    R = R * z + 2.0 / 13.0
    R = R * z + 2.0 / 11.0
    R = R * z + 2.0 / 9.0
    R = R * z + 2.0 / 7.0
    R = R * z + 2.0 / 5.0
    R = R * z + 2.0 / 3.0
    R = R * z
    dk = np.float64(k)
    return s * (hfsq + R) + (dk * _LN2_LO + c) - hfsq + f + dk * _LN2_HI


@njit(**_HELPER)
def log_f64(x):
    """log(x), float64, within 1 ulp; log(0) = -inf, log(x < 0) = nan."""
    sub = x < _MIN_NORMAL
    u = select(sub, x * _TWO54, x)
    y = _log_kernel_f64(u, 0.0, select(sub, -54, 0))
    y = select(x == 0.0, -math.inf, y)
    y = select(x < 0.0, math.nan, y)
    return select((x == math.inf) | (x != x), x, y)


@njit(**_HELPER)
def log1p_f64(x):
    """log(1 + x), float64, within 1 ulp; log1p(-1) = -inf, log1p(x < -1) = nan."""
    u = 1.0 + x
    bits = _f64_bits(u) + (0x3FF0000000000000 - _SQRT_HALF_BITS)
    k = (bits >> 52) - 1023
    c = select(k >= 2, 1.0 - (u - x), x - (u - 1.0))  # the rounding error of 1 + x
    c = select(k < 54, c / u, 0.0)
    y = _log_kernel_f64(u, c, 0)
    y = select(x == -1.0, -math.inf, y)
    y = select(x < -1.0, math.nan, y)
    return select((math.fabs(x) < _TINY) | (x == math.inf) | (x != x), x, y)


@njit(**_HELPER)
def log_dd_f64(x):
    """log(x) = hi + lo for a finite x > 0, to within about 2**-62 of log(x) relative (tests/test_vecmath.py
    measures it against mpmath), branch-free, so that a SIMD loop stays vectorised; for other x the pair means
    nothing (the caller selects its own value there).

    log_f64's reduction x = 2**k (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1) exact, and log(1 + f) = 2 atanh(s) =
    2 s + 2/3 s^3 + s^5 R(s^2), s = f / (2 + f) as a double-double q + q_lo (the division's remainder by an fma),
    R the rest of the atanh series to s^24 (2/25 z^10; truncation below 2**-64 relative).  k ln2_hi + 2 q + 2/3 q^3
    is summed in double-double (q^3 and 2/3 q^3 formed in double-double by fmas), the rest, 2 q_lo + q^5 R +
    k ln2_lo, in double: at most s^4 / 5 < 2**-12.4 of the result, so its few roundings stay below 2**-62 of it.
    About a tenth of rowlib.dd._log_dd's cost (2**-100, its whole series in double-double): for sums that cannot
    cancel, and for sums that may, as a first try that serves where the sum keeps at least 2**-6 of the log
    (the caller redoes the rare element where the cancellation is deeper)."""
    sub = x < _MIN_NORMAL
    u = select(sub, x * _TWO54, x)
    bits = _f64_bits(u) + (0x3FF0000000000000 - _SQRT_HALF_BITS)
    k = np.float64((bits >> 52) - 1023 + select(sub, -54, 0))
    f = _bits_f64((bits & _MANT_MASK) + _SQRT_HALF_BITS) - 1.0
    d = 2.0 + f
    d_lo = (2.0 - d) + f  # 2 + f = d + d_lo exactly (|f| < 2)
    q = f / d
    q_lo = (fma(-q, d, f) - q * d_lo) / d  # f / (2 + f) = q + q_lo to about 2**-100
    z = q * q
    z_lo = fma(q, q, -z) + 2.0 * (q * q_lo)  # (q + q_lo)^2 = z + z_lo
    c = q * z
    c_lo = fma(q, z, -c) + (q * z_lo + q_lo * z)  # (q + q_lo)^3 = c + c_lo
    t = _TWO_THIRDS_HI * c
    t_lo = fma(_TWO_THIRDS_HI, c, -t) + (_TWO_THIRDS_HI * c_lo + _TWO_THIRDS_LO * c)  # 2/3 q^3 = t + t_lo
    r = 2.0 / 25.0
    r = r * z + 2.0 / 23.0
    r = r * z + 2.0 / 21.0
    r = r * z + 2.0 / 19.0
    r = r * z + 2.0 / 17.0
    r = r * z + 2.0 / 15.0
    r = r * z + 2.0 / 13.0
    r = r * z + 2.0 / 11.0
    r = r * z + 2.0 / 9.0
    r = r * z + 2.0 / 7.0
    r = r * z + 2.0 / 5.0
    h, e = _two_sum(k * _LN2_HI, 2.0 * q)  # k ln2_hi exact: the constant has 21 bits
    h, e2 = _two_sum(h, t)
    return _fast_two_sum(h, (e + e2) + (t_lo + (2.0 * q_lo + c * (r * z)) + k * _LN2_LO))


@njit(**_HELPER)
def tanh_f64(x):
    """tanh(x), float64."""
    a = math.fabs(x)
    a = select(a > 20.0, 20.0, a)
    q = expm1_f64(2.0 * a)
    y = select(a < 0.55, q / (q + 2.0), 1.0 - 2.0 / (q + 2.0))
    return math.copysign(y, x)


@njit(**_HELPER)
def _erf_small_poly_f64(t):
    """erf(x) / x - _ERF_C0 with t = 8 x**2 - 1, |x| <= 0.5 (degree 9)."""
    p = -1.0893429375776461e-15
    p = p * t + 8.777607481006789e-14
    p = p * t + -6.374417573691971e-12
    p = p * t + 4.127025151938976e-10
    p = p * t + -2.3472291635294847e-08
    p = p * t + 1.1516037795233198e-06
    p = p * t + -4.76233693446849e-05
    p = p * t + 0.0016130716680617073
    p = p * t + -0.04364205888669792
    return p * t


@njit(**_HELPER)
def _erfcx_mid_poly_f64(t):
    """erfcx(a) - _ERFCX_MID_C0 with t = a - 1.5, 0.5 <= a <= 2.5 (degree 22)."""
    p = 4.089897411779722e-12
    p = p * t + -1.734053928766956e-11
    p = p * t + 4.8778006804111125e-11
    p = p * t + -1.9648646045553093e-10
    p = p * t + 8.348299788481909e-10
    p = p * t + -3.251584211636436e-09
    p = p * t + 1.2320891414760783e-08
    p = p * t + -4.595084529057363e-08
    p = p * t + 1.675518801711717e-07
    p = p * t + -5.960923218763459e-07
    p = p * t + 2.066969922878226e-06
    p = p * t + -6.974987783040836e-06
    p = p * t + 2.2864312427826564e-05
    p = p * t + -7.265892314129167e-05
    p = p * t + 0.00022330994432059154
    p = p * t + -0.0006619300662692695
    p = p * t + 0.0018861348770324421
    p = p * t + -0.00514595754799691
    p = p * t + 0.013377340953066615
    p = p * t + -0.032930905299562184
    p = p * t + 0.0761510398554774
    p = p * t + -0.16362291773256007
    return p * t


@njit(**_HELPER)
def _erfcx_tail_poly_f64(t):
    """a erfcx(a) - _ERFCX_TAIL_C0, t = (1 / a**2 - _ERFCX_TAIL_V0) / _ERFCX_TAIL_VH, 2.5 <= a <= 27.5 (degree 22)."""
    p = 1.0855011333169192e-12
    p = p * t + -2.2447187709977e-12
    p = p * t + -1.5231853438142057e-12
    p = p * t + 2.812939636609869e-12
    p = p * t + 1.048095835022153e-11
    p = p * t + -2.3204710257382908e-11
    p = p * t + 3.0509507234819166e-11
    p = p * t + -7.743055381045506e-11
    p = p * t + 2.2135685721815347e-10
    p = p * t + -5.803609150176659e-10
    p = p * t + 1.5653759102551364e-09
    p = p * t + -4.435410371315874e-09
    p = p * t + 1.314395727998299e-08
    p = p * t + -4.096360393423999e-08
    p = p * t + 1.353997574006867e-07
    p = p * t + -4.795831289060577e-07
    p = p * t + 1.845384093832919e-06
    p = p * t + -7.86206674624392e-06
    p = p * t + 3.812842332756712e-05
    p = p * t + -0.00021983957988292544
    p = p * t + 0.001626411232201209
    p = p * t + -0.018172469152823653
    return p * t


@njit(**_HELPER)
def _two_sum(a, b):
    """s = fl(a + b) and its rounding error e (s + e = a + b exactly; Knuth's TwoSum, no products)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(**_HELPER)
def _fast_two_sum(a, b):
    """s + e = a + b exactly for |a| >= |b| (Dekker's Fast2Sum)."""
    s = a + b
    return s, b - (s - a)


@njit(**_HELPER)
def _split26(v):
    """v's leading 26 bits (the low 27 mantissa bits cleared): products of two such halves are exact."""
    return _bits_f64(_f64_bits(v) & _LOW27_CLEAR)


@njit(**_HELPER)
def _erfc_tail_f64(a):
    """erfc(a) for 0.5 <= a (a nan gives nan, a > 27.5 gives 0; a < 0.5 gives a finite unused value).

    ``exp(-a**2) erfcx(a)``: ``a**2 = z**2 + (z - a)(z + a)`` with ``z`` a to 21 bits (``z**2`` exact), and the
    rounding errors of the polynomial's last addition and of the division by ``a`` carried into the
    exponent as a relative correction, so that only exp's own rounding remains (:func:`_erfc_parts_f64`)."""
    t, lo, q = _erfc_parts_f64(a)
    return _exp_hilo_f64(t, lo, q)


@njit(**_HELPER)
def _erfc_parts_f64(a):
    """(t, lo, q) with erfc(a) = q exp(t + lo) for 0.5 <= a <= 27.5 (a clamped to that range): t = -z**2 exact, lo
    the rest of -a**2 and the relative rounding errors of q = erfcx(a), carried into the exponent."""
    a = select(a > 27.5, 27.5, a)
    a = select(a < 0.5, 0.5, a)
    z = _bits_f64(_f64_bits(a) & _HIGH32_MASK)
    mid = a < 2.5
    t_mid = a - 1.5
    t_tail = (1.0 / (a * a) - _ERFCX_TAIL_V0) / _ERFCX_TAIL_VH
    w = select(mid, _erfcx_mid_poly_f64(t_mid), _erfcx_tail_poly_f64(t_tail))
    s, e = _two_sum(select(mid, _ERFCX_MID_C0, _ERFCX_TAIL_C0), w)
    e = e + select(mid, _ERFCX_MID_C0_LO, _ERFCX_TAIL_C0_LO)
    d = select(mid, 1.0, a)
    q = s / d
    qh = _split26(q)
    dh = _split26(d)
    ql = q - qh
    dl = d - dh
    ph = q * d
    pl = ((qh * dh - ph) + qh * dl + ql * dh) + ql * dl  # q * d = ph + pl (Dekker)
    rel = (e + ((s - ph) - pl)) / s  # (true numerator - q d) / (q d)
    return -(z * z), (z - a) * (z + a) + rel, q


@njit(**_HELPER)
def _erf_small_f64(x):
    """erf(x) for |x| <= 0.5: x (c0 + w) with the rounding error of c0 + w kept."""
    t = 8.0 * (x * x) - 1.0
    s, e = _two_sum(_ERF_C0, _erf_small_poly_f64(t))
    return x * s + x * (e + _ERF_C0_LO)


@njit(**_HELPER)
def erf_f64(x):
    """erf(x), float64."""
    a = math.fabs(x)
    big = math.copysign(1.0 - _erfc_tail_f64(a), x)
    return select(a < 0.5, _erf_small_f64(x), big)


@njit(**_HELPER)
def erfc_f64(x):
    """erfc(x) = 1 - erf(x), float64, accurate for large x (no cancellation)."""
    a = math.fabs(x)
    e = _erfc_tail_f64(a)
    big = select(x > 0.0, e, 2.0 - e)
    return select(a < 0.5, 1.0 - _erf_small_f64(x), big)


@njit(**_HELPER)
def sigmoid_f64(x):
    """1 / (1 + exp(-x)), float64: exp(-|x|) / (1 + exp(-|x|)) for x < 0."""
    e = exp_f64(-math.fabs(x))
    return select(x >= 0.0, 1.0, e) / (1.0 + e)


@njit(**_HELPER)
def softplus_f64(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), float64."""
    return select(x > 0.0, x, 0.0) + log1p_f64(exp_f64(-math.fabs(x)))


# --- float32 ---------------------------------------------------------------------------------------------
# exp, expm1, log1p, tanh and sigmoid compute in float32 (16 lanes per zmm register); the others compute in
# float64 and round once, which costs half the lanes but keeps them within 1 ulp.


@njit(**_HELPER)
def _exp_scaled_f32(x, lo, n):
    """exp(x) * 2**n, float32, for x clamped to [lo, _F32_EXP_HI]: Cody-Waite, degree-7 Taylor, the exponent
    k + n applied in two steps (so that a result near overflow or a subnormal one rounds once)."""
    c = select(x > _F32_EXP_HI, _F32_EXP_HI, x)
    c = select(c < lo, lo, c)
    t = c * _F32_INV_LN2 + _F32_SHIFT
    k = t - _F32_SHIFT
    r = (c - k * _F32_LN2_HI) - k * _F32_LN2_LO
    q = _F32_C7
    q = q * r + _F32_C6
    q = q * r + _F32_C5
    q = q * r + _F32_C4
    q = q * r + _F32_C3
    q = q * r + _F32_HALF
    p = _F32_ONE + (r + (r * r) * q)
    ki = np.int32(_f32_bits(t) - np.int32(_F32_SHIFT_BITS) + n)
    k1 = ki >> np.int32(1)
    s1 = _bits_f32(np.int32((k1 + np.int32(127)) << np.int32(23)))
    s2 = _bits_f32(np.int32((ki - k1 + np.int32(127)) << np.int32(23)))
    return (p * s1) * s2


@njit(**_HELPER)
def exp_f32(x):
    """exp(x), float32, computed in float32 (within 1 ulp; subnormal results rounded once)."""
    return _exp_scaled_f32(x, _F32_EXP_LO, np.int32(0))


@njit(**_HELPER)
def exp_shifted_f32(x, shift):
    """exp(x) * 2**(64 shift), float32, shift a boolean; 0 for x < -148: float32's subnormal range of exp as
    normal numbers where shift holds, so that a product m e^x can be formed before it is scaled down by
    2**-64 and rounded once; one exponential for both cases."""
    n = select(shift, np.int32(64), np.int32(0))
    return select(x < _F32_SHIFTED_LO, _F32_ZERO, _exp_scaled_f32(x, _F32_SHIFTED_LO, n))


@njit(**_HELPER)
def exp_shifted_f64(x, shift):
    """exp(x) * 2**(64 shift), float64 (x <= 645 where shift holds): the factor 2**64 enters before exp's own
    scaling by 2**k, so that an exp(x) below the normal range (x < -708) keeps its digits, rounded once."""
    c = select(x > _EXP_HI, _EXP_HI, x)
    c = select(c < _EXP_LO - 45.0, _EXP_LO - 45.0, c)  # (2**64 = e^44.4: the scaled value rounds to 0 below)
    return _exp_hilo_f64(c, 0.0, select(shift, 18446744073709551616.0, 1.0))


@njit(**_HELPER)
def sigmoid_f32(x):
    """1 / (1 + exp(-x)), float32, computed in float32."""
    e = exp_f32(-abs(x))
    return select(x >= _F32_ZERO, _F32_ONE, e) / (_F32_ONE + e)


# more float32: expm1, log1p and tanh in float32; log, erf, erfc and softplus in float64, rounded once -------


@njit(**_HELPER)
def expm1_f32(x):
    """exp(x) - 1, float32, computed in float32 as expm1_f64 is: x = k ln 2 + r, h = e^r - 1 (degree-8 Taylor),
    2 (2^(k-1) h + (2^(k-1) - 1/2)) with one rounding (fma); x itself below 2**-24 in magnitude."""
    c = select(x > _F32_EXP_HI, _F32_EXP_HI, x)
    c = select(c < _F32_EXPM1_LO, _F32_EXPM1_LO, c)
    t = c * _F32_INV_LN2 + _F32_SHIFT
    k = t - _F32_SHIFT
    r = (c - k * _F32_LN2_HI) - k * _F32_LN2_LO
    q = _F32_C8
    q = q * r + _F32_C7
    q = q * r + _F32_C6
    q = q * r + _F32_C5
    q = q * r + _F32_C4
    q = q * r + _F32_C3
    q = q * r + _F32_HALF
    h = r + (r * r) * q
    ki = np.int32(_f32_bits(t) - np.int32(_F32_SHIFT_BITS))
    s = _bits_f32(np.int32((ki + np.int32(126)) << np.int32(23)))  # 2**(k-1), k in [-26, 128]
    y = fma(s, h, s - _F32_HALF)
    return select(abs(x) < _F32_TINY, x, y + y)


@njit(**_HELPER)
def log_f32(x):
    """log(x), float32."""
    return np.float32(log_f64(np.float64(x)))


@njit(**_HELPER)
def log1p_f32(x):
    """log(1 + x), float32, computed in float32 (musl's log1pf, branch-free): 1 + x = 2**k m with m in
    [sqrt(2)/2, sqrt(2)), the rounding error of 1 + x as a first-order correction, the atanh series in
    s = f / (2 + f) to degree 9."""
    u = _F32_ONE + x
    bits = _f32_bits(u) + np.int32(0x3F800000 - 0x3F3504F3)
    k = (bits >> 23) - 127
    c = select(k >= 2, _F32_ONE - (u - x), x - (u - _F32_ONE))  # the rounding error of 1 + x
    c = select(k < 25, c / u, _F32_ZERO)
    f = _bits_f32(np.int32((bits & 0x007FFFFF) + 0x3F3504F3)) - _F32_ONE
    s = f / (_F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (_F32_LG2 + w * _F32_LG4)
    t2 = z * (_F32_LG1 + w * _F32_LG3)
    hfsq = _F32_HALF * f * f
    dk = np.float32(k)
    y = s * (hfsq + (t2 + t1)) + (dk * _F32_LOG_LN2_LO + c) - hfsq + f + dk * _F32_LOG_LN2_HI
    y = select(x == -_F32_ONE, np.float32(-math.inf), y)
    y = select(x < -_F32_ONE, np.float32(math.nan), y)
    return select((abs(x) < _F32_TINY) | (x == np.float32(math.inf)) | (x != x), x, y)


@njit(**_HELPER)
def tanh_f32(x):
    """tanh(x), float32, computed in float32: x + x^3 P(x^2) below |x| = 0.75 (P of degree 5, fitted to
    tanh's relative error on Chebyshev nodes, coefficients rounded to float32 one by one with the rest refitted:
    2**-29), 1 - 2 / (e^(2|x|) + 1) with the sign of x above (|x| clamped at 9.5, where tanh rounds to 1)."""
    a = abs(x)
    z = x * x
    p = _F32_TANH_P5
    p = p * z + _F32_TANH_P4
    p = p * z + _F32_TANH_P3
    p = p * z + _F32_TANH_P2
    p = p * z + _F32_TANH_P1
    p = p * z + _F32_TANH_P0
    small = math.copysign(fma(x * z, p, x), x)  # x + x^3 P is +0.0 at x = -0.0 (P(0) < 0): tanh(-0.0) is -0.0
    e = exp_f32(_F32_TWO * select(a > _F32_TANH_HI, _F32_TANH_HI, a))
    big = _F32_ONE - _F32_TWO / (e + _F32_ONE)
    return select(a < _F32_TANH_SMALL, small, select(x < _F32_ZERO, -big, big))


@njit(**_HELPER)
def erf_f32(x):
    """erf(x), float32."""
    return np.float32(erf_f64(np.float64(x)))


@njit(**_HELPER)
def erfc_f32(x):
    """erfc(x), float32."""
    return np.float32(erfc_f64(np.float64(x)))


@njit(**_HELPER)
def softplus_f32(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1], computed in float32: 1 + e = 2^k (1 + f)
    with f = e exactly (e < 1/2, k = 0) or f = (e - 1) / 2 exactly (k = 1), so that there is no rounding error of
    1 + e to correct for (log1p_f32 divides by 1 + x for it), then the atanh series in s = f / (2 + f), |s| <= 1/5,
    to degree 11 (truncation below 2**-26)."""
    e = exp_f32(-abs(x))
    hi = e >= _F32_HALF
    f = select(hi, (e - _F32_ONE) * _F32_HALF, e)
    s = f / (_F32_TWO + f)
    z = s * s
    r = _F32_ATANH_C11
    r = r * z + _F32_ATANH_C9
    r = r * z + _F32_ATANH_C7
    r = r * z + _F32_ATANH_C5
    r = r * z + _F32_ATANH_C3
    r = r * z
    hfsq = _F32_HALF * f * f
    dk = select(hi, _F32_ONE, _F32_ZERO)
    tail = s * (hfsq + r) + dk * _F32_LOG_LN2_LO - hfsq + f + dk * _F32_LOG_LN2_HI
    return select(x > _F32_ZERO, x, _F32_ZERO) + tail


# --- type-generic entry points ---------------------------------------------------------------------------


def _pick(x, f32, f64):
    """The version for the argument type x (f32 for float32, f64 for float64), or None for another type."""
    if x == types.float32:
        return f32
    if x == types.float64:
        return f64
    return None


def vexp(x):
    """exp(x); in Numba the vectorisable exp_f32 / exp_f64."""
    return math.exp(x)


def vexpm1(x):
    """exp(x) - 1; in Numba the vectorisable expm1_f32 / expm1_f64."""
    return math.expm1(x)


def vlog(x):
    """log(x); in Numba the vectorisable log_f32 / log_f64."""
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def vlog1p(x):
    """log(1 + x); in Numba the vectorisable log1p_f32 / log1p_f64."""
    return math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan)


def vtanh(x):
    """tanh(x); in Numba the vectorisable tanh_f32 / tanh_f64."""
    return math.tanh(x)


def verf(x):
    """erf(x); in Numba the vectorisable erf_f32 / erf_f64."""
    return math.erf(x)


def verfc(x):
    """erfc(x); in Numba the vectorisable erfc_f32 / erfc_f64."""
    return math.erfc(x)


def vexp_shifted(x, shift):
    """exp(x) * 2**(64 shift) for a boolean shift (float32: 0 for x < -148); in Numba exp_shifted_f32 /
    exp_shifted_f64."""
    return math.exp(x) * (2.0**64 if shift else 1.0)


def vsigmoid(x):
    """1 / (1 + exp(-x)); in Numba the vectorisable sigmoid_f32 / sigmoid_f64."""
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


def vsoftplus(x):
    """log(1 + exp(x)); in Numba the vectorisable softplus_f32 / softplus_f64."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@overload(vexp, inline="always")
def _vexp_numba(x):
    f = _pick(x, exp_f32, exp_f64)
    return None if f is None else lambda x: f(x)


@overload(vexpm1, inline="always")
def _vexpm1_numba(x):
    f = _pick(x, expm1_f32, expm1_f64)
    return None if f is None else lambda x: f(x)


@overload(vlog, inline="always")
def _vlog_numba(x):
    f = _pick(x, log_f32, log_f64)
    return None if f is None else lambda x: f(x)


@overload(vlog1p, inline="always")
def _vlog1p_numba(x):
    f = _pick(x, log1p_f32, log1p_f64)
    return None if f is None else lambda x: f(x)


@overload(vtanh, inline="always")
def _vtanh_numba(x):
    f = _pick(x, tanh_f32, tanh_f64)
    return None if f is None else lambda x: f(x)


@overload(verf, inline="always")
def _verf_numba(x):
    f = _pick(x, erf_f32, erf_f64)
    return None if f is None else lambda x: f(x)


@overload(verfc, inline="always")
def _verfc_numba(x):
    f = _pick(x, erfc_f32, erfc_f64)
    return None if f is None else lambda x: f(x)


@overload(vexp_shifted, inline="always")
def _vexp_shifted_numba(x, shift):
    f = _pick(x, exp_shifted_f32, exp_shifted_f64)
    return None if f is None else lambda x, shift: f(x, shift)


@overload(vsigmoid, inline="always")
def _vsigmoid_numba(x):
    f = _pick(x, sigmoid_f32, sigmoid_f64)
    return None if f is None else lambda x: f(x)


@overload(vsoftplus, inline="always")
def _vsoftplus_numba(x):
    f = _pick(x, softplus_f32, softplus_f64)
    return None if f is None else lambda x: f(x)


# --- source emission -----------------------------------------------------------------------------------------

#: the public functions: generic name -> (float32 version, float64 version)
FUNCTIONS = {
    "vexp": ("exp_f32", "exp_f64"),
    "vexpm1": ("expm1_f32", "expm1_f64"),
    "vlog": ("log_f32", "log_f64"),
    "vlog1p": ("log1p_f32", "log1p_f64"),
    "vtanh": ("tanh_f32", "tanh_f64"),
    "verf": ("erf_f32", "erf_f64"),
    "verfc": ("erfc_f32", "erfc_f64"),
    "vexp_shifted": ("exp_shifted_f32", "exp_shifted_f64"),
    "vsigmoid": ("sigmoid_f32", "sigmoid_f64"),
    "vsoftplus": ("softplus_f32", "softplus_f64"),
}

_IMPORTS = (
    "import math\n\n"
    "import numpy as np\n"
    "from numba import njit, types\n"
    "from numba.extending import intrinsic, overload\n"
)


def _module_assignments(module=None) -> dict[str, str]:
    """Module-level constant name -> its source line(s), comments and a ``#:`` comment above included (of this
    module, or ``module``): ``_UPPER`` and ``UPPER`` constants and ``_lower = f(...)`` objects."""
    import ast

    text = inspect.getsource(module or inspect.getmodule(_module_assignments))
    lines = text.splitlines()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if (name.startswith("_") or name.isupper()) and not name.startswith("__"):  # constants, _x = f(...)
                first = node.lineno - 1
                while first and lines[first - 1].startswith("#:"):  # its doc comment
                    first -= 1
                out[name] = "\n".join(lines[first : node.end_lineno])
    return out


def _python_function(obj):
    """The Python function behind a global of this module (a dispatcher, an intrinsic, a plain function)."""
    if hasattr(obj, "py_func"):
        return obj.py_func
    if hasattr(obj, "_defn"):
        return obj._defn
    return obj


def _decorator_names(fn) -> set[str]:
    """The names a function's decorators read (``@numba.njit(**_CONTRACT)``: ``numba`` and ``_CONTRACT``)."""
    import ast

    try:
        tree = ast.parse(inspect.getsource(fn).lstrip())
    except (OSError, TypeError, SyntaxError):
        return set()
    defs = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return {n.id for d in defs for dec in d.decorator_list for n in ast.walk(dec) if isinstance(n, ast.Name)}


def vecmath_source(names, imports: bool = True) -> str:
    """The source of the named functions of this module and of everything they use, in dependency order.

    ``names`` may be generic (``vexp``: the Python fallback, its Numba overload and both dtype versions) or
    per-dtype (``exp_f64``).  The text imports only ``math``, ``numpy`` and ``numba``; with ``imports=False``
    the import lines are left out (the caller provides ``math``, ``np``, ``njit``, ``types``, ``intrinsic``
    and ``overload``).

    >>> src = vecmath_source(["exp_f64"])
    >>> "def _bits_f64" in src and "def exp_f64" in src and "def log1p_f64" not in src
    True
    """
    return library_source(names, [inspect.getmodule(vecmath_source)], imports)


def library_source(names, modules, imports: bool = True, settings=None, exclude=()) -> str:
    """The source of the named functions of ``modules`` (this one and modules built on it, such as
    :mod:`symact.kernel_lib`) and of everything they use there, in dependency order: each function's source,
    the module constants it reads (and what their values are computed from), and the Numba overload
    ``_<name>_numba`` of a generic Python function.  ``settings``: constant name -> the value a generated
    module gives it instead of the module's own (a per-module switch, such as log-softmax or softmax)."""
    import ast

    glb: dict[str, object] = {}
    constants: dict[str, str] = {}
    for module in modules:
        glb.update(vars(module))
        constants.update(_module_assignments(module))
    for name, value in (settings or {}).items():
        if name not in constants:
            raise KeyError(f"no module constant {name!r} to set")
        constants[name] = f"{name} = {value}"
    homes = {module.__name__ for module in modules}
    order: list[str] = []
    seen: set[str] = set(exclude)

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        if name in constants:
            for node in ast.walk(ast.parse(constants[name])):  # what the value is computed from
                if isinstance(node, ast.Name) and node.id != name and (node.id in constants or node.id in glb):
                    if node.id in constants or _is_local(glb[node.id]):
                        visit(node.id)
            order.append(name)
            return
        if name not in glb or not callable(glb[name]):
            raise KeyError(f"{modules[0].__name__.rsplit('.', 1)[-1]} has no function {name!r}")
        code = _python_function(glb[name]).__code__
        used = set(code.co_names) | _decorator_names(_python_function(glb[name]))
        for const in code.co_consts:  # nested functions (intrinsic codegen) and lambdas
            if inspect.iscode(const):
                used |= set(const.co_names)
        for dep in sorted(used):
            if dep in constants or (dep in glb and dep != name and _is_local(glb[dep])):
                visit(dep)
        order.append(name)
        overload_name = f"_{name.lstrip('_')}_numba"
        if overload_name in glb and _is_local(glb[overload_name]):
            visit(overload_name)

    def _is_local(obj) -> bool:
        fn = _python_function(obj)
        return getattr(fn, "__module__", None) in homes and inspect.isfunction(fn)

    for n in names:
        visit(n)
    parts = [_IMPORTS] if imports else []
    for name in order:
        if name in constants:
            parts.append(constants[name] + "\n")
        else:
            parts.append("\n" + inspect.getsource(_python_function(glb[name])))
    return "\n".join(parts)
