"""Compute forms chosen by measurement: a form evaluated in float32 arithmetic against the mpmath reference, at
generation time, decides whether a float32 kernel computes in float32 (twice the SIMD lanes) or in float64,
rounded once (the accuracy net for float32: float64's rounding errors vanish when the result rounds to float32).

The measurement evaluates the form with NumPy on float32 arrays (each operation rounds to float32, as the
kernel's do; sigma and softplus by their stable formulas in float32; functions NumPy lacks, erf and erfc, in
float64 and rounded, so they count as exact) at fixed points over the whole float32 range, and compares with
:class:`symact.reference.Scalar` of the expression the form stands for.  Deterministic: the same form gives the
same decision.  ``symact check`` measures the kernels themselves afterwards.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy

from .reference import Scalar
from .rewrites import to_plain
from .ulp import ulp_error

__all__ = ["error_at", "float32_error", "form_gives", "needs_float64", "where_accuracy_is_lost"]

#: how many float32 points (plus the fixed ones) each measurement takes
POINTS = 600


def _np_sigmoid(z):
    t = np.exp(-np.abs(z))
    return np.where(z >= 0, np.ones_like(z), t) / (1 + t)


def _np_softplus(z):
    return np.where(z > 0, z, np.zeros_like(z)) + np.log1p(np.exp(-np.abs(z)))


def form_gives(expr: sympy.Expr, var: sympy.Symbol, at, value: sympy.Expr) -> bool:
    """Whether the compute form, evaluated in IEEE float64 arithmetic (NumPy: the same inf, nan and zero
    rules as the kernels' selects and symact.vecmath), gives ``value`` at var = ``at`` (+-oo or nan) for
    several values of the other symbols, so that the select for that special input can be left out.
    ``symact check`` tests every special value of every kernel either way."""
    others = sorted(expr.free_symbols - {var}, key=str)
    try:
        fn = sympy.lambdify([var, *others], expr, modules=[{"sigmoid": _np_sigmoid, "softplus": _np_softplus}, "numpy"])
        want = sympy.lambdify(others, value, modules="numpy") if value is not sympy.nan else None
        special = {sympy.oo: np.inf, -sympy.oo: -np.inf, sympy.nan: np.nan}[at]
        with np.errstate(all="ignore"):
            for sample in (0.5, 1.0, 2.0):
                got = float(fn(special, *[sample] * len(others)))
                if want is None:
                    if got == got:
                        return False
                    continue
                expected = float(want(*[sample] * len(others)))
                if got != expected or math.copysign(1, got) != math.copysign(1, expected):
                    return False
    except Exception:  # a form NumPy cannot evaluate: keep the select
        return False
    return True


def _by_float64(fn):
    def apply(z):
        z = np.asarray(z)
        return np.vectorize(fn, otypes=[np.float64])(z.astype(np.float64)).astype(z.dtype)

    return apply


_MODULES = [
    {
        "sigmoid": _np_sigmoid,
        "softplus": _np_softplus,
        "erf": _by_float64(math.erf),
        "erfc": _by_float64(math.erfc),
        "_hypot": np.hypot,  # sqrt(w^2 + c) as the kernels compute it (symact.emit._with_hypot)
    },
    "numpy",
]


def _points() -> np.ndarray:
    rng = np.random.default_rng(20261205)
    wide = np.sign(rng.uniform(-1, 1, POINTS)) * np.exp(rng.uniform(-80, 88, POINTS))
    near = rng.uniform(-40, 40, POINTS)
    return np.concatenate([wide, near]).astype(np.float32)


@functools.lru_cache(maxsize=256)
def float32_error(form: sympy.Expr, truth: sympy.Expr, var: sympy.Symbol, fixed: tuple = ()) -> float:
    """The largest ulp error (float32) of ``form`` evaluated in float32 arithmetic against ``truth`` (both in
    ``var``; ``fixed``: (symbol, value) pairs for the other symbols), over points where the truth is finite."""
    values = dict(fixed)
    form, truth = form.xreplace(values), truth.xreplace(values)
    if form.free_symbols - {var} or truth.free_symbols - {var}:
        return math.inf
    xs = _points()
    try:
        fn = sympy.lambdify([var], form, modules=_MODULES)
        with np.errstate(all="ignore"):
            got = np.asarray(fn(xs), dtype=np.float64)
    except Exception:  # a form NumPy cannot evaluate: no measurement, keep float32
        return 0.0
    if got.shape != xs.shape:
        got = np.broadcast_to(got, xs.shape)
    reference = Scalar(to_plain(truth), (var,))
    exact = [reference(float(v)) for v in xs]
    keep = [i for i, e in enumerate(exact) if e is not None and abs(e) < 3.4e38 and abs(e) > 1.2e-38]
    if not keep:
        return 0.0
    errors = ulp_error(got[keep].astype(np.float32), [exact[i] for i in keep], np.float32)
    return float(np.max(errors))


def needs_float64(form: sympy.Expr, truth: sympy.Expr, var: sympy.Symbol, bound: float, fixed: tuple = ()) -> bool:
    """Whether the float32 kernel of ``form`` should compute in float64: float32 arithmetic misses ``bound``."""
    return float32_error(form, truth, var, fixed) > bound


def error_at(node: sympy.Expr, var: sympy.Symbol, point: float, dtype) -> float | None:
    """The ulp error (in ``dtype``) of ``node`` computed in ``dtype`` arithmetic (NumPy) at var = ``point``
    against its mpmath value; None where either is not a finite number."""
    return errors_at(node, var, [point], dtype)[0]


def errors_at(
    node: sympy.Expr, var: sympy.Symbol, points, dtype, proxy: sympy.Expr | None = None
) -> list[float | None]:
    """:func:`error_at` at each of ``points``, the form compiled once; ``proxy``: what NumPy computes in its place
    (the same function as the kernel writes it: hypot for sqrt(w^2 + c))."""
    try:
        fn = sympy.lambdify([var], node if proxy is None else proxy, modules=_MODULES)
        with np.errstate(all="ignore"):
            values = np.asarray(fn(np.array(points, dtype=dtype)), dtype=dtype).reshape(-1)
            got = np.broadcast_to(values, (len(points),))
    except Exception:  # a node NumPy cannot evaluate
        return [None] * len(points)
    reference = Scalar(to_plain(node), (var,))
    out: list[float | None] = []
    for value, point in zip(got.tolist(), points):
        try:
            exact = reference(float(point))
        except (TypeError, ValueError, ArithmeticError):  # outside its real domain (an output form past y's range)
            exact = None
        if exact is None or not mpmath.isfinite(exact):
            out.append(None)
        elif not math.isfinite(value):  # inf or nan where the truth is a number
            out.append(math.inf)
        else:
            out.append(float(ulp_error(np.array([value], dtype=dtype), [exact], dtype)[0]))
    return out


def where_accuracy_is_lost(
    form: sympy.Expr, var: sympy.Symbol, point: float, dtype, bound: float
) -> tuple[sympy.Expr, float] | None:
    """The sub-expression of ``form`` (a compute form in ``var`` alone) where accuracy is lost at var = ``point``:
    the smallest one whose value, computed in ``dtype`` arithmetic, misses ``bound`` ulps while its operands
    meet it (log(x + sqrt(x^2 + 1)) at x = -1e8: the sum x + sqrt(x^2 + 1), which cancels), with its error;
    None where the whole form meets the bound there (the kernel's own code is at fault, not the form).

    >>> from symact.catalog.symbols import x
    >>> node, ulps = where_accuracy_is_lost(sympy.log(x + sympy.sqrt(x**2 + 1)), x, -1e8, np.float64, 2.0)
    >>> node
    x + sqrt(x**2 + 1)
    """
    if form.free_symbols != {var}:
        return None
    error = error_at(form, var, point, dtype)
    if error is None or error <= bound:
        return None
    node = form
    while True:
        worse = []
        for child in node.args:
            if isinstance(child, sympy.Expr) and var in child.free_symbols and not child.is_Symbol:
                e = error_at(child, var, point, dtype)
                if e is not None and e > bound:
                    worse.append((e, child))
        if not worse:
            return node, error
        error, node = max(worse, key=lambda pair: pair[0])
