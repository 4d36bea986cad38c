"""Root-centred forms: accurate derivatives near the zeros of f'.

Near a simple zero x0 of f' (silu' at x = -1.278, mish' at -1.192) every formula for f' cancels: its
terms are of size 1 while the result is c1 (x - x0), so a rounding error of 1e-16 in any term is a
huge relative error.  The cure is to compute in the distance d = x - x0 itself: the Taylor series
f'(x0 + d) = c1 d + c2 d^2 + ... has no cancellation, and d = (x - x0_hi) - x0_lo is exact to a
rounding (x - x0_hi is exact by Sterbenz's lemma).  :func:`root_patches` finds the zeros of f' from
its symbolic derivative with mpmath (50 digits), and fits f'(x0 + d) / d on the patch with a Chebyshev
polynomial (50 digits) of the lowest degree whose error is below 2^-58 relative over the whole patch
(silu: degree 22 where the Taylor series needs 35), and a second one to 2^-30 for float32 kernels.

A zero that moves with a parameter gets a patch only where f'(x) = h(p x) for one parameter p
(swish: f'(x; beta) = silu'(beta x)); the patch is then in u = p x, exact when p x is (beta = 1, or a
power of two).  Other parameterised entries get none.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy

from .budget import BudgetExceeded, run_limited
from .catalog import Entry, Kind
from .kernel_templates import keyword

__all__ = ["RootPatch", "root_patches", "SEARCH", "RADIUS"]

SEARCH = (-30.0, 30.0, 0.05)  #: where zeros of f' are looked for: from, to, step
RADIUS = 1.0  #: the half-width of a patch around a zero
MAX_DEGREE = 60
MAX_MULTIPLICITY = 6  #: the highest multiplicity of a zero of f that gets a patch (x - tanh(x): 3)
TOLERANCE = mpmath.mpf(2) ** -58


@dataclass(frozen=True)
class RootPatch:
    """f'(x) = sum_k coefficients[k-1] d^k for |d| < radius, d = x - root."""

    root: str  #: the zero, to 40 digits
    radius: float
    coefficients: tuple[float, ...]  #: c1, c2, ... (float64)
    scale: str = ""  #: a parameter p when f'(x) = h(p x): the patch is in u = p x
    coefficients32: tuple[float, ...] = ()  #: a shorter polynomial, good to float32's precision
    radius32: float = 0.0  #: the float32 patch's half-width where it differs (0: radius)

    @property
    def split(self) -> tuple[float, float]:
        """The root as a sum hi + lo of two doubles."""
        with mpmath.workdps(60):
            r = mpmath.mpf(self.root)
            hi = float(r)
            lo = float(r - hi)
        return hi, lo

    def describe(self, var: str = "x") -> str:
        u = f"{self.scale}*{var}" if self.scale else var
        with mpmath.workdps(30):  # the root's digits, whatever precision the caller left mpmath at
            root = mpmath.nstr(mpmath.mpf(self.root), 20)
        m = self.multiplicity
        power = "d" if m == 1 else f"d^{m}"
        return (
            f"{power} P(d), P a Chebyshev fit of degree {len(self.coefficients) - m} "
            f"({len(self.coefficients32) - m} for float32) in d = {u} - u0, "
            f"u0 = {root}, "
            f"for |d| < {self.radius}"
            + (f" (float32: {self.radius32})" if self.radius32 not in (0.0, self.radius) else "")
        )

    @property
    def multiplicity(self) -> int:
        """m where f(root + d) = d^m P(d): one more than the leading zero coefficients."""
        return next(k for k, c in enumerate(self.coefficients, 1) if c != 0.0)

    @staticmethod
    def _horner(coefficients, d: str = "d", like: str | None = None) -> str:
        """Horner's scheme in ``d``; with ``like``, the coefficients in the type of that variable.  Leading zero
        coefficients (a zero of multiplicity m) make the factor d^m, its products' errors carried
        (kernel_lib._times_d), and P is summed by compensated Horner in float64 (kernel_lib._horner_step)."""

        def c(v):
            return f"_lit({v!r}, {like})" if like else repr(v)

        zeros = next(k for k, v in enumerate(coefficients) if v != 0.0)
        if zeros:  # d^m P(d), the products' errors carried; P by compensated Horner in float64
            top = c(coefficients[-1])
            if like is None:
                pair = f"({top}, {top} - {top})"
                for v in reversed(coefficients[zeros:-1]):
                    pair = f"_horner_step({pair}, {c(v)}, {d})"
            else:  # float32 (a polynomial good to 2**-30): plain Horner
                for v in reversed(coefficients[zeros:-1]):
                    top = f"{c(v)} + {d}*({top})"
                pair = f"({top}, {c(0.0)})"
            for _ in range(zeros + 1):
                pair = f"_times_d({pair}, {d})"
            return f"_pair_sum({pair})"
        horner = c(coefficients[-1])
        for v in reversed(coefficients[:-1]):
            horner = f"{c(v)} + {d}*({horner})"
        return f"{d}*({horner})"

    def times_code(self, var: str, g: str, witness: str, result: str = "v") -> list[str]:
        """Kernel lines without a branch: ``result`` becomes g f'(x) as (g d) P(d) / d inside the patch, the
        product with g taken before the polynomial, so that a float64 f'(x) near its zero that would be subnormal
        (x erf(x)' ~ 2.26 x at x = 1e-313) keeps the digits g scales back; for float64 inputs only: ``witness``,
        the input as the loop read it, float32 keeps ``result`` (a float32 x cannot make a float64 f' subnormal,
        and a float32 f' is redone in float64 by the vjp's underflow redo)."""
        inner = self._horner(self.coefficients)[len("d*(") : -1]
        inside = f"select(abs(d) < {self.radius!r}, ({g}*d)*({inner}), {result})"
        return [self.code(var)[0], f"    {result} = select(_is32({witness}), {result}, {inside})"]

    @property
    def split32(self) -> tuple[float, float]:
        """The root as a sum hi + lo of two float32 numbers."""
        import numpy as np

        with mpmath.workdps(60):
            r = mpmath.mpf(self.root)
            hi = float(np.float32(float(r)))
            lo = float(np.float32(float(r - hi)))
        return hi, lo

    def code(self, var: str) -> list[str]:
        """Kernel lines: return the polynomial when ``var`` (times the scale) is inside the patch."""
        hi, lo = self.split
        var = f"{self.scale}*{var}" if self.scale else var
        return [
            f"    d = ({var} - {hi!r}) - {lo!r}",
            f"    if abs(d) < {self.radius!r}:",
            f"        return {self._horner(self.coefficients)}",
        ]

    def select_code(self, var: str, result: str = "r") -> list[str]:
        """Kernel lines without a branch: ``result`` becomes the polynomial inside the patch (the float32
        polynomial where ``var`` is a float32: ``_is32`` is a constant, so the other one is never computed)."""
        first = self.code(var)[0]
        poly = self._horner(self.coefficients)
        inside = f"abs(d) < {self.radius!r}"
        lines = [first]
        if self.coefficients32:  # float32: d and the polynomial in float32 arithmetic (16 lanes)
            hi, lo = self.split32
            u = f"{self.scale}*{var}" if self.scale else var
            lines.append(f"    d32 = ({u} - _lit({hi!r}, {var})) - _lit({lo!r}, {var})")
            poly = f"select(_is32({var}), {self._horner(self.coefficients32, 'd32', var)}, {poly})"
            inside = f"select(_is32({var}), abs(d32) < {self.radius32 or self.radius!r}, {inside})"
        return [*lines, f"    {result} = select({inside}, {poly}, {result})"]


def _function(expr: sympy.Expr, var: sympy.Symbol):
    from .rewrites import to_plain

    return sympy.lambdify(var, to_plain(expr), "mpmath")


def _multiplicity(f, root) -> int:
    """m where f(root + d) ~ c d^m near the zero ``root`` (m up to MAX_MULTIPLICITY; 0 where none fits): the
    ratio f(root + h) / h^m is the same at h and h/10 (to 1e-3) only for the right m."""
    with mpmath.workdps(80):
        r = mpmath.mpf(root)
        for m in range(1, MAX_MULTIPLICITY + 1):
            h = mpmath.mpf(10) ** -12
            ratios = [f(r + t) / t**m for t in (h, h / 10, -h, -h / 10)]
            if all(q != 0 for q in ratios) and all(abs(q / ratios[0] - 1) < mpmath.mpf(10) ** -3 for q in ratios):
                return m
    return 0


def _coefficients(f, root, radius: float, bits: int = 58, multiplicity: int = 1):
    """c1..cN with f(root + d) = d (c1 + c2 d + ... + cN d^(N-1)) to 2^-bits relative across the patch: a
    Chebyshev fit (mpmath.chebyfit, 50 digits) of f(root + d) / d^m, of the lowest degree that meets the
    tolerance on a grid of the patch, after m - 1 zero coefficients (a zero of multiplicity m); None when no
    degree up to MAX_DEGREE does."""
    m = multiplicity
    with mpmath.workdps(50):
        r = mpmath.mpf(root)
        c1 = mpmath.diff(f, r, m) / mpmath.factorial(m)
        if c1 == 0:
            return None
        big = mpmath.mpf(radius)

        def g(d):
            return f(r + d) / d**m if d != 0 else c1

        grid = [big * mpmath.mpf(k) / 64 for k in range(-64, 65) if k != 0]
        exact = [_real(g, d) for d in grid]
        if any(v is None for v in exact):  # a pole or the edge of f's real domain inside the patch
            return None
        tolerance = mpmath.mpf(2) ** -bits
        for n in range(2, MAX_DEGREE + 1):
            poly = mpmath.chebyfit(g, [-big, big], n)
            if all(abs(mpmath.polyval(poly, d) - v) <= tolerance * abs(v) for d, v in zip(grid, exact)):
                coefficients = (0,) * (m - 1) + tuple(reversed(poly))
                if bits >= 56 and not _agrees(f, root, radius, coefficients):
                    return None
                return tuple(float(c) for c in coefficients)
    return None


def _agrees(f, root, radius, coefficients) -> bool:
    """The polynomial equals f to 2^-56 (relative) at points across the patch."""
    with mpmath.workdps(50):
        for t in (-1, -0.77, -0.5, -0.23, -0.05, 0.05, 0.23, 0.5, 0.77, 1):
            d = mpmath.mpf(t) * radius
            poly = d * mpmath.polyval(list(reversed(coefficients)), d)
            exact = f(root + d)
            if abs(poly - exact) > abs(exact) * mpmath.mpf(2) ** -56:
                return False
            # and its terms, each coefficient rounded to float64, stay within 64 times its value: erf(x) - 2x/sqrt(pi)
            # by degree 59 over |d| < 4 had terms 3.5e5 times its value (94 ulp off at x = -3.05), a monomial basis
            # too wide; x - tanh(x)'s patch over |d| < 1.5 has 17 (0.95 ulp, its coefficients' errors of both signs)
            held = sum(abs(c) * abs(d) ** k for k, c in enumerate(coefficients, start=1))
            if held > abs(exact) * 64:
                return False
    return True


def _bisect(f, left, right, f_left):
    """A zero of f in [left, right] (where f changes sign) to the working precision, by bisection."""
    for _ in range(200):
        middle = (left + right) / 2
        fm = f(middle)
        if fm == 0 or middle in (left, right):
            return middle
        if (fm > 0) == (f_left > 0):
            left, f_left = middle, fm
        else:
            right = middle
    return (left + right) / 2


#: seconds for SymPy to decide whether f' vanishes exactly at a candidate zero
SNAP_BUDGET = 5.0


def _snap(raw_derivative: sympy.Expr, var: sympy.Symbol, root):
    """The zero of f' found by bisection, or the exact value it approximates where SymPy proves f'(c) = 0 for a
    simple candidate c: 0 for a zero within 1e-30 of it (bisection of x erf(x)' ends at 1.5e-62, and a patch
    centred there is wrong by 1e258 ulp at x = 1e-300), else a closed form that :func:`sympy.nsimplify` finds."""
    candidates = [sympy.Integer(0)] if abs(root) < mpmath.mpf(10) ** -30 else []
    try:
        guess = sympy.nsimplify(sympy.Float(mpmath.nstr(root, 45), 45), [sympy.pi, sympy.E], tolerance=1e-40)
        if guess.count_ops() < 12:
            candidates.append(guess)
    except (ValueError, TypeError, ArithmeticError):
        pass
    for candidate in candidates:
        try:
            value = run_limited(lambda c=candidate: sympy.simplify(raw_derivative.subs(var, c)), SNAP_BUDGET)
        except (BudgetExceeded, Exception):
            continue
        if value == 0:
            return mpmath.mpf(str(sympy.N(candidate, 60)))
    return root


def _even_zeros(f, expr: sympy.Expr, var: sympy.Symbol):
    """The zeros of ``expr`` where it does not change sign (exp(x) - 1 - x at 0): zeros of its derivative where
    ``f`` (``expr`` as an mpmath function) vanishes too, |f| below 1e-40 at 50 digits."""
    slope = sympy.diff(expr, var)
    if slope.has(sympy.Derivative, sympy.Subs):
        return
    g = _function(slope, var)
    for root in _zeros(g, slope, var):
        value = _real(f, root)
        if value is not None and abs(value) <= mpmath.mpf(10) ** -40:
            yield root


def _zeros(f, expr: sympy.Expr, var: sympy.Symbol):
    """The zeros of ``expr`` (``f``: it as an mpmath function) in :data:`SEARCH` where it changes sign, snapped to
    exact values where SymPy proves them (at the caller's working precision)."""
    start, stop, step = SEARCH
    grid = [mpmath.mpf(start) + k * mpmath.mpf(step) for k in range(int((stop - start) / step) + 1)]
    values = [_real(f, t) for t in grid]
    for k, (left, right, fl, fr) in enumerate(zip(grid, grid[1:], values, values[1:])):
        if fl == 0 and k > 0 and values[k - 1] is not None and fr is not None and values[k - 1] * fr < 0:
            yield _snap(expr, var, left)  # a zero on the grid itself, crossed
        elif fl is not None and fr is not None and fl != 0 and fr != 0 and fl * fr < 0:
            yield _snap(expr, var, _bisect(f, left, right, fl))


def _real(f, t):
    """f(t) where it is a real number; None outside f's real domain (an output form in y past y's range: the
    log of a negative number) or where mpmath cannot evaluate it."""
    try:
        value = f(t)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if isinstance(value, mpmath.mpc):
        return None if value.imag != 0 else value.real
    return value if mpmath.isfinite(value) else None


def root_patches(
    entry: Entry,
    raw_derivative: sympy.Expr,
    radius: float | None = None,
    radius32: float = 0.0,
    keep=None,
    var: sympy.Symbol | None = None,
    even: bool = False,
) -> tuple[RootPatch, ...]:
    """Patches around every zero of f' in :data:`SEARCH` where it changes sign, for smooth entries without
    parameters (or whose zeros scale with their one parameter).  The same fit serves f itself near its zeros
    (``raw_derivative``: the definition; or the output form, in ``var`` = y), of any multiplicity up to
    :data:`MAX_MULTIPLICITY` (x - tanh(x) = x^3/3 + ...), and with ``even`` also where f touches 0 without
    changing sign (exp(x) - 1 - x).  ``keep(root)`` (a float) says which zeros get a patch (default: every one);
    where it returns a number, that is the patch's half-width to start from."""
    var = var or entry.variable
    if entry.kind is not Kind.ELEMENTWISE or entry.aux:
        return ()
    scale = ""
    if entry.params:
        if len(entry.params) != 1:
            return ()
        p = entry.params[0].symbol
        u = sympy.Symbol("u", real=True)
        scaled = raw_derivative.subs(var, u / p)
        if p in scaled.free_symbols:
            return ()
        raw_derivative, scale = scaled.subs(u, var), keyword(entry.params[0])
    if raw_derivative.free_symbols != {var} or raw_derivative.has(sympy.Piecewise, sympy.Heaviside):
        return ()
    f = _function(raw_derivative, var)
    base = radius or RADIUS
    patches = []
    with mpmath.workdps(50):
        roots = list(_zeros(f, raw_derivative, var))
        if even:
            roots += [r for r in _even_zeros(f, raw_derivative, var) if all(abs(r - q) > 1e-30 for q in roots)]
        for root in sorted(roots):
            wanted = True if keep is None else keep(float(root))
            multiplicity = _multiplicity(f, root)
            if not wanted or not multiplicity:
                continue
            radius = wanted if isinstance(wanted, float) and not isinstance(wanted, bool) else base
            others = [abs(float(root - q)) for q in roots if q is not root]
            radius = min([radius, *(d / 2 for d in others)])  # patches never overlap: each fit holds at its own zero
            coefficients = None
            while coefficients is None and radius > 1e-3:
                coefficients = _coefficients(f, root, radius, multiplicity=multiplicity)
                if coefficients is None:
                    radius /= 2
            if coefficients is not None:
                short = _coefficients(f, root, radius32 or radius, 30, multiplicity) or coefficients
                root_text = mpmath.nstr(root, 40, strip_zeros=False)
                patches.append(RootPatch(root_text, radius, coefficients, scale, short, radius32))
    return tuple(patches)
