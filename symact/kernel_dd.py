"""Branch-free double-double forms of elementwise kernels, for the loops of :mod:`symact.emit`.

``VEC_DD_FORMS`` maps an entry name to ``(source, forward_helper, derivative_helper, vecmath_names)``:
``source`` defines ``@numba.njit(inline="always")`` functions (the finite case of the forward value and of
the derivative, formed in double-double and rounded once) that use only arithmetic, :func:`symact.vecmath.select`
and the :mod:`symact.vecmath` functions named in ``vecmath_names`` (pasted into the module before it), so
that the loops around them vectorise.  Special values and root patches stay in the generated scalar
functions.  An entry here takes precedence over :data:`symact.kernel_templates.DD_FORMS`.
"""

from __future__ import annotations

__all__ = ["VEC_DD_FORMS"]

_MISH = '''
@numba.njit(inline="always")
def _dd_two_sum(a, b):
    """s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@numba.njit(inline="always")
def _dd_fast_two_sum(a, b):
    """s + e = a + b exactly for |a| >= |b| (Dekker)."""
    s = a + b
    return s, b - (s - a)


@numba.njit(inline="always")
def _dd_two_prod(a, b):
    """p + e = a * b exactly (Dekker with Veltkamp's split, no FMA) for |a|, |b|, |a b| < 2**996 (the split
    overflows above: the callers clamp their inputs, |x| <= 800, so that every operand is far below it)."""
    p = a * b
    c = 134217729.0 * a
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(inline="always")
def _dd_add(ah, al, bh, bl):
    """(ah + al) + (bh + bl) in double-double (no cancellation here beyond a few bits)."""
    s, e = _dd_two_sum(ah, bh)
    return _dd_fast_two_sum(s, e + (al + bl))


@numba.njit(inline="always")
def _dd_add_d(ah, al, b):
    """(ah + al) + b in double-double."""
    s, e = _dd_two_sum(ah, b)
    return _dd_fast_two_sum(s, e + al)


@numba.njit(inline="always")
def _dd_mul(ah, al, bh, bl):
    """(ah + al) * (bh + bl) in double-double."""
    p, e = _dd_two_prod(ah, bh)
    return _dd_fast_two_sum(p, e + (ah * bl + al * bh))


@numba.njit(inline="always")
def _dd_mul_d(ah, al, b):
    """(ah + al) * b in double-double."""
    p, e = _dd_two_prod(ah, b)
    return _dd_fast_two_sum(p, e + al * b)


@numba.njit(inline="always")
def _dd_div(ah, al, bh, bl):
    """(ah + al) / (bh + bl) in double-double: q = ah / bh to about an ulp (one division, reused) and the
    exact residual ah - q bh divided in double."""
    inv = 1.0 / bh
    q = ah * inv
    p, e = _dd_two_prod(q, bh)
    r = (((ah - p) - e) + al) - q * bl
    return _dd_fast_two_sum(q, r * inv)


@numba.njit(inline="always")
def _dd_scale(v, k):
    """v * 2**k for an int64 k in [-2040, 0], by two exact power-of-two factors (one rounding at most)."""
    k1 = k >> 1
    s1 = _bits_f64((k1 + 1023) << 52)
    s2 = _bits_f64((k - k1 + 1023) << 52)
    return (v * s1) * s2


@numba.njit(inline="always")
def _dd_exp_neg(y):
    """exp(y) = (hi + lo) * 2**k for -1100 <= y <= 0, hi + lo in [0.7, 1.42] within about 2**-56 relative
    and k an int64: y = k ln2 + r1 + r2 (k by the 1.5 * 2**52 shift, k * ln2_hi exact), exp(r1) as
    1 + r1 (exact in double-double) + r1**2 q(r1) (in double), times 1 + r2."""
    t = y * 1.4426950408889634 + 6755399441055744.0
    kf = t - 6755399441055744.0
    k = _f64_bits(t) - 0x4338000000000000
    rh = y - kf * 0.6931467056274414  # exact: the constant has 21 bits and |k| < 2**11
    r1, r2 = _dd_two_sum(rh, -(kf * 4.7493250390316726e-07))
    q = 1.0 / 87178291200.0  # exp(r1) = 1 + r1 + r1**2 q(r1), Taylor to degree 14 (truncation < 2**-62)
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
    q = q * r1 + 0.5
    a, b = _dd_two_sum(1.0, r1)
    c, d = _dd_two_sum(a, (r1 * r1) * q)  # r1**2 q < 0.07 in double: 2**-56 relative to exp(r1)
    hi, lo = _dd_fast_two_sum(c, b + d)
    return hi, lo + hi * r2, k


@numba.njit(inline="always")
def _mish_parts(x, neg):
    """The pieces shared by mish and mish' for -800 <= x <= 40, in double-double, with u = exp(-|x|) =
    m 2**k and c = 2 (x <= 0) or 1 (x > 0): u, m, k, P = u (u + c), D = c + (3 - c) P (the denominator of
    tanh(softplus(x)): e (e + 2) + 2 with e = u for x <= 0, 1 + 2t + 2t^2 with t = u for x > 0) and the
    numerator N = m (u + 2) = e (e + 2) / 2**k for x <= 0, 1 + 2t for x > 0."""
    mh, ml, k = _dd_exp_neg(-abs(x))
    uh = _dd_scale(mh, k)
    ul = _dd_scale(ml, k)
    c = select(neg, 2.0, 1.0)
    ah, al = _dd_add_d(uh, ul, c)
    ph, pl = _dd_mul(uh, ul, ah, al)
    dh, dl = _dd_add_d((3.0 - c) * ph, (3.0 - c) * pl, c)
    nh, nl = _dd_mul(select(neg, mh, uh), select(neg, ml, ul), select(neg, ah, 2.0), select(neg, al, 0.0))
    nh, nl = _dd_add_d(nh, nl, select(neg, 0.0, 1.0))
    return uh, ul, mh, ml, k, ph, pl, dh, dl, nh, nl


@numba.njit(inline="always")
def _mish_dd(x):
    """x tanh(softplus(x)) for a finite x in double-double, rounded once, both signs in one branch-free
    evaluation: x N / D (times 2**k for x <= 0) with _mish_parts' N and D; mish(x) = x to the last bit
    for x > 20 (1 - tanh(softplus(x)) < 2 exp(-2x)), and -0.0 below -800 (x exp(x) underflows)."""
    neg = x <= 0.0
    xc = select(x > 20.0, 20.0, select(x < -800.0, -800.0, x))
    uh, ul, mh, ml, k, ph, pl, dh, dl, nh, nl = _mish_parts(xc, neg)
    rh, rl = _dd_div(nh, nl, dh, dl)
    p, e = _dd_two_prod(xc, rh)
    r = _dd_scale(p + (e + xc * rl), select(neg, k, 0))
    r = select(x > 20.0, x, r)
    return select(x < -800.0, -0.0, r)


@numba.njit(inline="always")
def _mish_prime_dd(x):
    """mish'(x) for a finite x in double-double, rounded once: (N D + 4 x w Q) / D^2 (times 2**k for x <= 0)
    with _mish_parts' N, D and w = m, Q = 1 + u for x <= 0 (= [n (n + 2) + 4 x e (1 + e)] / (n + 2)^2 with
    e = exp(x), n = e (e + 2)), w = t, Q = P = t (1 + t) for x > 0 (= [(1 + 2t) D + 4 x t^2 (1 + t)] / D^2
    with t = exp(-x)); 1 above 40 (1 - mish'(x) < 4 x exp(-2x)) and -0.0 below -800."""
    neg = x <= 0.0
    xc = select(x > 40.0, 40.0, select(x < -800.0, -800.0, x))
    uh, ul, mh, ml, k, ph, pl, dh, dl, nh, nl = _mish_parts(xc, neg)
    oh, ol = _dd_add_d(uh, ul, 1.0)
    th, tl = _dd_mul(select(neg, mh, uh), select(neg, ml, ul), select(neg, oh, ph), select(neg, ol, pl))
    th, tl = _dd_mul_d(th, tl, 4.0 * xc)
    vh, vl = _dd_mul(nh, nl, dh, dl)
    vh, vl = _dd_add(vh, vl, th, tl)
    sh, sl = _dd_mul(dh, dl, dh, dl)
    rh, rl = _dd_div(vh, vl, sh, sl)
    r = _dd_scale(rh + rl, select(neg, k, 0))
    r = select(x > 40.0, 1.0, r)
    return select(x < -800.0, -0.0, r)
'''

VEC_DD_FORMS: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "mish": (_MISH, "_mish_dd", "_mish_prime_dd", ("select", "_bits_f64", "_f64_bits")),
}
