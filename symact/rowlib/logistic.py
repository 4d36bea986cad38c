"""The negative log-likelihood of logistic regression, theta = X w + b in double-double (Dot2).

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np

from ..kernel_lib import _sigmoid, _softplus
from ..vecmath import _EXACT, _fast_two_sum, _two_sum, select
from .checks import _floats
from .dd import _dd_add, _dd_div, _exp_dd, _vdd_div, _vexp_dd, _vtwo_prod
from .reduce import _fsum, _grad_out


@numba.njit(cache=True)
def _dot2(row, w, b):
    """row . w + b in twice the working precision (Ogita, Rump and Oishi's Dot2, each product's error by an
    fma): (hi, lo)."""
    s = np.float64(b)
    c = 0.0
    for k in range(row.shape[0]):
        p, q = _vtwo_prod(np.float64(row[k]), np.float64(w[k]))
        s, e = _two_sum(s, p)
        c += e + q
    hi = s + c
    return hi, c - (hi - s)


@numba.njit(cache=True)
def _theta(X, w, b, hi, lo):
    for i in range(X.shape[0]):
        hi[i], lo[i] = _dot2(X[i], w, b)


@numba.njit(cache=True)
def _losses(X, w, b, y, out):
    m = X.shape[0]
    hi = np.empty(m)
    lo = np.empty(m)
    _theta(X, w, b, hi, lo)
    for i in range(m):
        t = hi[i]
        label = np.float64(y[i])
        pos = _softplus(-t) - _sigmoid(-t) * lo[i]  # softplus(-theta), theta = t + lo
        neg = _softplus(t) + _sigmoid(t) * lo[i]  # softplus(theta)
        out[i] = (label * pos if label != 0.0 else 0.0) + ((1.0 - label) * neg if label != 1.0 else 0.0)
    return out


@numba.njit(**_EXACT)
def _residual(t, t_lo, label):
    """sigma(theta) - y as a double-double (hi, lo) for theta = t + t_lo with |t| <= 600: u = exp(-|theta|) in
    double-double (dd's branch-free ``_vexp_dd``), s = u / (1 + u) = sigma(-|theta|), then -y + s for theta < 0
    and (1 - y) - s otherwise, so that -1 + 1e-46 keeps its 1e-46 for the sums and sigma carries no rounding
    error of exp.  Branch-free (the callers select |t| <= 600 and redo the rest by ``_residual_far``)."""
    uh, ul = _vexp_dd(-abs(t), select(t >= 0.0, -t_lo, t_lo))
    dh, dl = _two_sum(1.0, uh)
    dh, dl = _fast_two_sum(dh, dl + ul)
    sh, sl = _vdd_div(uh, ul, dh, dl)  # sigma(-|theta|)
    oh, ol = _two_sum(select(t < 0.0, 0.0, 1.0), -label)
    return _dd_add(oh, ol, select(t < 0.0, sh, -sh), select(t < 0.0, sl, -sl))


@numba.njit(cache=True)
def _residual_far(t, t_lo, label):
    """``_residual`` for any t: beyond |t| = 600 (exp(-|theta|) below 1e-260) ``_exp_dd`` scaled by ldexp, and
    for an infinite or nan t sigma itself."""
    if not math.isfinite(t):
        return (-label + _sigmoid(t) if t < 0.0 else (1.0 - label) - _sigmoid(-t)), 0.0
    mh, ml, k = _exp_dd(-abs(t), -t_lo if t >= 0.0 else t_lo)
    uh = math.ldexp(mh, k)
    ul = math.ldexp(ml, k)
    dh, dl = _two_sum(1.0, uh)
    dh, dl = _fast_two_sum(dh, dl + ul)
    sh, sl = _dd_div(uh, ul, dh, dl)
    if t < 0.0:
        return _dd_add(-label, 0.0, sh, sl)
    oh, ol = _two_sum(1.0, -label)
    return _dd_add(oh, ol, -sh, -sl)


@numba.njit(cache=True)
def _residuals(X, w, b, y, hi_out, lo_out):
    """sigma(theta_i) - y_i as double-doubles hi + lo (theta_i = X_i . w + b from Dot2): ``_residual`` of every
    row in one SIMD loop, then ``_residual_far`` of the rows beyond its range."""
    m = X.shape[0]
    hi = np.empty(m)
    lo = np.empty(m)
    _theta(X, w, b, hi, lo)
    for i in range(m):
        t = hi[i]
        hi_out[i], lo_out[i] = _residual(select(abs(t) <= 600.0, t, 0.0), lo[i], np.float64(y[i]))
    for i in range(m):
        if not abs(hi[i]) <= 600.0:
            hi_out[i], lo_out[i] = _residual_far(hi[i], lo[i], np.float64(y[i]))
    return hi_out, lo_out


@numba.njit(cache=True)
def _weight_grad(X, rhi, rlo, out):
    """out[j] = sum_i (rhi[i] + rlo[i]) X[i, j], compensated (Dot2 on both parts, each product's error by an
    fma): row by row, one accumulator pair per column, so that X is read once, in order, and the loop over the
    columns is a SIMD loop; each column's sum runs over i in order, as a column-by-column loop would."""
    n = X.shape[1]
    s = np.zeros(n)
    c = np.zeros(n)
    for i in range(X.shape[0]):
        rh, rl = rhi[i], rlo[i]
        for j in range(n):
            xij = np.float64(X[i, j])
            p, q = _vtwo_prod(rh, xij)
            t, e = _two_sum(s[j], p)
            p2, q2 = _vtwo_prod(rl, xij)
            s[j], e2 = _two_sum(t, p2)
            c[j] += (e + q) + (e2 + q2)
    for j in range(n):
        out[j] = s[j] + c[j]
    return out


def _inputs(w, b, X, y):
    w = _floats(w, "w")
    X = _floats(X, "X")
    y = _floats(y, "y")
    b = np.asarray(b)
    if b.ndim != 0 or b.dtype.kind not in "fiub":
        raise TypeError("b must be a real scalar")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), not of shape {X.shape}")
    if w.shape != (X.shape[1],):
        raise ValueError(f"w must have shape ({X.shape[1]},) for X of shape {X.shape}, not {w.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) for X of shape {X.shape}, not {y.shape}")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("labels y must lie in [0, 1]")
    return w, np.float64(b), np.ascontiguousarray(X), y


def forward(w, b, X, y):
    """The negative log-likelihood summed over the samples (rows of X)."""
    w, b, X, y = _inputs(w, b, X, y)
    values = _losses(X, w, b, y, np.empty(X.shape[0]))
    return np.result_type(w, X).type(_fsum(values))


def grad(w, b, X, y, *, out=None):
    """(dw, db): the gradient with respect to the weights and the bias."""
    w, b, X, y = _inputs(w, b, X, y)
    rhi, rlo = _residuals(X, w, b, y, np.empty(X.shape[0]), np.empty(X.shape[0]))
    dw = _weight_grad(X, rhi, rlo, np.empty(X.shape[1]))
    dtype = np.result_type(w, X)
    db = dtype.type(_fsum(np.concatenate((rhi, rlo))))
    return _grad_out(dw, dtype, out), db
