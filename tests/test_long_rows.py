"""Rows longer than 65,536 (issue 15): the fixed-point row sums run in blocks with exact carries, so long rows take
the vectorised path, and stay accurate.

The references are in np.longdouble (x87 extended, a 64-bit significand: exp and log to about 2**-63, sums of
terms of one sign to about 2**-60 of the total), in forms without cancellation, so they sit within about 2**-8 ulp
of the exact float64 value; the data keep the one cancellation left (g_j - s) well-conditioned for float64
(``_conditioned``), and the ulp error of each array's worst elements is taken by symact.ulp.ulp_error against
the longdouble values converted exactly to mpmath.  Bounds: the row kernels' bound of symact.check, 4 ulp.
"""

import math

import mpmath
import numpy as np
import pytest

from symact.check import DEFAULT_BOUND, load_module
from symact.ulp import ulp_error

LD = np.longdouble
SIZES = (65_537, 2**17 + 3, 300_007)
DTYPES = (np.float32, np.float64)
KINDS = ("ordinary", "confident", "-inf entries", "equal")

pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="needs an 80-bit long double for the references")


def mod(name):
    return load_module(name, "generated")


def _row(kind, n, dtype, rng):
    """A row of scores: ordinary, confident (one logit 40 above the rest: the rest is tiny), with -inf entries,
    or equal values (all 0.5, the maximum shared by every entry)."""
    if kind == "equal":
        return np.full(n, 0.5, dtype=dtype)
    a = rng.normal(0, 3 if kind != "confident" else 1, n)
    if kind == "confident":
        a[rng.integers(n)] = 40.0
    if kind == "-inf entries":
        a[rng.random(n) < 0.01] = -np.inf
    return a.astype(dtype)


def _probs(a):
    """(e, logS, rest, top): e_k = exp(a_k - m) in longdouble, log of their sum (log1p of the rest: no loss for a
    confident row), the rest (the sum without one maximum) and that maximum's index."""
    al = a.astype(LD)
    top = int(np.argmax(al))
    e = np.exp(al - al[top])
    rest = np.delete(e, top).sum()  # (not e.sum() - 1: no loss for a confident row)
    return e, np.log1p(rest), rest, top


def _check(got, ref, dtype, what, bound=DEFAULT_BOUND):
    """The worst elements of got (by a longdouble screen) within bound ulp of ref by symact.ulp.ulp_error, the
    longdouble values converted exactly (as the sum of two float64s)."""
    got = np.asarray(got)
    assert got.dtype == dtype, what
    with np.errstate(invalid="ignore", over="ignore"):
        screen = np.abs(got.astype(LD) - ref) / np.spacing(np.abs(ref).astype(dtype)).astype(LD)
    screen = np.where(got.astype(LD) == ref, 0.0, screen)
    screen = np.where(np.isnan(screen), np.inf, screen)
    worst = np.argsort(screen)[-8:]
    hi = ref[worst].astype(np.float64)
    lo = (ref[worst] - hi.astype(LD)).astype(np.float64)
    with mpmath.workdps(60):
        exact = [mpmath.mpf(float(h)) + (mpmath.mpf(float(w)) if np.isfinite(h) else 0) for h, w in zip(hi, lo)]
        errors = ulp_error(got[worst], exact, dtype)
    assert np.all(errors <= bound), (what, float(np.max(errors)), int(worst[int(np.argmax(errors))]))
    return float(np.max(errors))


def _fsum2(x):
    """sum(x) exactly enough: (hi, lo), hi = math.fsum(x) (correctly rounded) and lo the remainder, rounded: the
    sum to about 2**-106, for g_j - sum where they cancel (the top of a confident row)."""
    hi = math.fsum(x.tolist())
    return hi, math.fsum([*x.tolist(), -hi])


def _conditioned(parts, value, dtype):
    """The longdouble reference of ``value`` (sum of terms of magnitude ``parts``) is within 2**-8 ulp."""
    if dtype == np.float32:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(value == 0, np.where(parts == 0, 1.0, np.inf), parts / np.abs(value))
    assert np.max(kappa) < 16, "test data: the longdouble reference cancels too much"


def _cases():
    return [(n, dt, kind) for n in SIZES for dt in DTYPES for kind in KINDS]


def _ids(case):
    n, dt, kind = case
    return f"{n}-{np.dtype(dt).name}-{kind}"


@pytest.mark.parametrize("case", _cases(), ids=_ids)
def test_softmax_and_log_softmax_forward_and_vjps(case):
    n, dtype, kind = case
    rng = np.random.default_rng(n % 1000 + (kind == "confident"))
    sm, ls = mod("softmax"), mod("log_softmax")
    a = _row(kind, n, dtype, rng)[None, :]
    e, logs, rest, top = _probs(a[0])
    total = 1 + rest
    p = e / total
    al = a[0].astype(LD)
    logp = np.where(np.isinf(al), -np.inf, (al - al[top]) - logs)
    _check(sm.forward(a)[0], p, dtype, "softmax forward")
    _check(ls.forward(a)[0], logp, dtype, "log_softmax forward")

    # g: normal for float32 (a float32 ulp is far above the reference's error); 0 or 1 for float64, 0 at the top
    # logit, so that the references below do not cancel (checked by _conditioned)
    if dtype == np.float32:
        g = rng.normal(0, 1, n).astype(dtype)
    else:
        g = (rng.random(n) < 0.5).astype(dtype)
        g[top] = 0.0
    gl = g.astype(LD)
    # softmax: p_j ((g_j - g_top) + D), D = sum_{i != top} p_i (g_top - g_i) (no loss where p_top is near 1)
    terms = np.where(e != 0, e * (gl[top] - gl), 0.0)
    d = (terms.sum() - terms[top]) / total
    _conditioned(np.abs(gl - gl[top]) + abs(d), (gl - gl[top]) + d, dtype)
    want = p * ((gl - gl[top]) + d)
    _check(sm.vjp(a, g[None, :])[0], want, dtype, "softmax vjp")
    # log-softmax: g_j - p_j sum_i g_i
    gs = gl.sum()
    if dtype == np.float64:  # sum g of about n / 2 makes g_j - p_j sum g cancel at p_j near 2 / n: few ones
        g = np.zeros(n, dtype=dtype)
        g[rng.integers(0, n, 3)] = 1.0
        g[top] = 0.0
        gl = g.astype(LD)
        gs = gl.sum()
        _conditioned(np.abs(gl) + p * abs(gs), gl - p * gs, dtype)
    _check(ls.vjp(a, g[None, :])[0], gl - p * gs, dtype, "log_softmax vjp")

    # vjp_from_output, held to the output form at the y given (the forward's rounded output)
    y = sm.forward(a)
    yl = y[0].astype(LD)
    g = rng.normal(0, 1, n).astype(dtype) if dtype == np.float32 else g
    gl = g.astype(LD)
    hi, lo = _fsum2(y[0].astype(np.float64) * g)  # (products exact: float32 factors, or g in {0, 1})
    _check(sm.vjp_from_output(y, g[None, :])[0], yl * ((gl - hi) - lo), dtype, "softmax vjp_from_output")
    y = ls.forward(a)
    ey = np.exp(y[0].astype(LD))
    hi, lo = _fsum2(g.astype(np.float64))
    gs = LD(hi) + LD(lo)
    want = gl - ey * gs
    slack = ls.FROM_OUTPUT_SLACK.get(np.dtype(dtype).name, 0.0)
    got = ls.vjp_from_output(y, g[None, :])[0]
    if slack:  # the error the module documents besides, times |exp(y_j) sum g|, in ulps of the result
        unit = np.spacing(np.abs(want).astype(dtype)).astype(LD)
        extra = float(np.max(np.where(unit > 0, np.abs(ey * gs) * LD(slack) / unit, 0.0)))
        _check(got, want, dtype, "log_softmax vjp_from_output", DEFAULT_BOUND + extra)
    else:
        _check(got, want, dtype, "log_softmax vjp_from_output")


@pytest.mark.parametrize("case", [c for c in _cases() if c[2] != "-inf entries"], ids=_ids)
def test_softmax_cross_entropy_forward_and_grad(case):
    """Soft labels (Dirichlet, or for float64 a few classes with weights of 1/4, apart from the prediction) and
    a sparse label (the top logit for the confident row, else random); reduction "sum": the gradient unscaled."""
    n, dtype, kind = case
    rng = np.random.default_rng(n % 997 + 5)
    soft, sparse = mod("softmax_cross_entropy_with_logits"), mod("sparse_softmax_cross_entropy_with_logits")
    a = _row(kind, n, dtype, rng)[None, :]
    e, logs, rest, top = _probs(a[0])
    total = 1 + rest
    p = e / total
    al = a[0].astype(LD)
    nlogp = logs - (al - al[top])  # -log p_k >= 0

    t = top if kind == "confident" else int(rng.integers(n))
    loss = sparse.forward(a, np.array([t]), reduction="none")
    _check(loss, np.array([nlogp[t]]), dtype, "sparse forward")
    want = p.copy()
    want[t] = -(np.delete(e, t).sum() / total)  # p_t - 1 = -sum_{k != t} p_k
    _check(sparse.grad(a, np.array([t]), reduction="sum")[0], want, dtype, "sparse grad")

    if dtype == np.float32:
        y = rng.dirichlet(np.ones(n)).astype(dtype)
    else:
        y = np.zeros(n, dtype=dtype)
        y[rng.choice(n, 4, replace=False)] = 0.25
    yl = y.astype(LD)
    loss = soft.forward(a, y[None, :], reduction="none")
    _check(loss, np.array([(yl * nlogp).sum()]), dtype, "soft forward")
    ys = yl.sum()
    # p_j Y - y_j = (e_j (Y - y_j) - y_j (S - e_j)) / S, the form without the p_top-near-1 cancellation
    others = total - e  # sum_{k != j} e_k: 1 + rest - e_j, or rest itself at the top (no loss when rest is tiny)
    others[top] = rest
    want = (e * (ys - yl) - yl * others) / total
    _conditioned(e * (ys - yl) / total + yl * others / total, want, dtype)
    _check(soft.grad(a, y[None, :], reduction="sum")[0], want, dtype, "soft grad")


def test_long_rows_take_the_vectorised_path():
    """No row of 100,000 finite logits is flagged for the scalar redo (the n > 65,536 cliff of issue 15)."""
    sm = mod("softmax")
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        a = rng.normal(0, 3, (4, 100_000)).astype(dtype)
        redo = np.zeros(4, dtype=np.bool_)
        sm._forward_rows(a, np.empty_like(a), redo)
        assert not redo.any()
        g = rng.normal(0, 1, a.shape).astype(dtype)
        sm._vjp_rows(a, g, np.empty_like(a), redo)
        assert not redo.any()


def test_a_sum_past_int64_without_the_carry():
    """A row whose fixed-point low sums overflow int64 in a single block (2**18 entries just below the maximum,
    each remainder near 2**46 units): the blocks' carries keep the total exact."""
    sm = mod("softmax")
    n = 2**18 + 1
    a = np.full(n, -0.999 * 2.0**-31)  # exp(a_k) = 1 - 0.999 2**-31: remainders of -0.999 2**46 units of 2**-77
    a[0] = 0.0
    e, logs, rest, top = _probs(a)
    _check(sm.forward(a[None, :])[0], e / (1 + rest), np.float64, "softmax forward")
    assert math.isclose(float(sm.forward(a[None, :])[0].sum()), 1.0, rel_tol=1e-12)
