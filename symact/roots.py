"""Root-centred forms: accurate derivatives near the zeros of f'.

Near a simple zero x0 of f' (silu' at x = -1.278, mish' at -1.192) every formula for f' cancels: its
terms are of size 1 while the result is c1 (x - x0), so a rounding error of 1e-16 in any term is a
huge relative error.  The cure is to compute in the distance d = x - x0 itself: the Taylor series
f'(x0 + d) = c1 d + c2 d^2 + ... has no cancellation, and d = (x - x0_hi) - x0_lo is exact to a
rounding (x - x0_hi is exact by Sterbenz's lemma).  :func:`root_patches` finds the zeros of f' from
its symbolic derivative with mpmath (50 digits), and the Taylor coefficients at 60 digits; the
degree is chosen so that the truncation error is below 2^-58 relative over the whole patch.

Only entries without parameters get patches: a zero that moves with a parameter (swish's beta) would
need the coefficients as functions of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy

from .catalog import Entry, Kind

__all__ = ["RootPatch", "root_patches", "SEARCH", "RADIUS"]

SEARCH = (-30.0, 30.0, 0.05)  #: where zeros of f' are looked for: from, to, step
RADIUS = 0.5  #: the half-width of a patch around a zero
MAX_DEGREE = 60
TOLERANCE = mpmath.mpf(2) ** -58


@dataclass(frozen=True)
class RootPatch:
    """f'(x) = sum_k coefficients[k-1] d^k for |d| < radius, d = x - root."""

    root: str  #: the zero, to 40 digits
    radius: float
    coefficients: tuple[float, ...]  #: c1, c2, ... (float64)

    @property
    def split(self) -> tuple[float, float]:
        """The root as a sum hi + lo of two doubles."""
        with mpmath.workdps(60):
            r = mpmath.mpf(self.root)
            hi = float(r)
            lo = float(r - hi)
        return hi, lo

    def describe(self) -> str:
        return (
            f"Taylor polynomial of degree {len(self.coefficients)} in d = x - x0, x0 = {self.root[:22]}, "
            f"for |d| < {self.radius}"
        )

    def code(self, var: str) -> list[str]:
        """Kernel lines: return the polynomial when ``var`` is inside the patch."""
        hi, lo = self.split
        horner = repr(self.coefficients[-1])
        for c in reversed(self.coefficients[:-1]):
            horner = f"{c!r} + d*({horner})"
        return [
            f"    d = ({var} - {hi!r}) - {lo!r}",
            f"    if abs(d) < {self.radius!r}:",
            f"        return d*({horner})",
        ]


def _function(expr: sympy.Expr, var: sympy.Symbol):
    from .rewrites import to_plain

    return sympy.lambdify(var, to_plain(expr), "mpmath")


def _coefficients(f, root, radius: float):
    """Taylor coefficients c1..cN of f at root, N chosen for the truncation tolerance, or None."""
    with mpmath.workdps(80):
        series = mpmath.taylor(f, root, MAX_DEGREE + 2)
    c1 = abs(series[1])
    if c1 == 0:
        return None
    r = mpmath.mpf(radius)
    for degree in range(2, MAX_DEGREE + 1):
        tail = sum(abs(series[k]) * r ** (k - 1) for k in (degree + 1, degree + 2))
        if tail / c1 < TOLERANCE:
            return tuple(float(series[k]) for k in range(1, degree + 1))
    return None


def root_patches(entry: Entry, raw_derivative: sympy.Expr) -> tuple[RootPatch, ...]:
    """Patches around every simple zero of f' in :data:`SEARCH`, for smooth entries without parameters."""
    var = entry.variable
    if entry.kind is not Kind.ELEMENTWISE or entry.params or entry.aux:
        return ()
    if raw_derivative.free_symbols != {var} or raw_derivative.has(sympy.Piecewise, sympy.Heaviside):
        return ()
    f = _function(raw_derivative, var)
    start, stop, step = SEARCH
    patches = []
    with mpmath.workdps(50):
        grid = [mpmath.mpf(start) + k * mpmath.mpf(step) for k in range(int((stop - start) / step) + 1)]
        values = [f(t) for t in grid]
        for left, right, fl, fr in zip(grid, grid[1:], values, values[1:]):
            if fl == 0 or fl * fr >= 0:
                continue
            root = mpmath.findroot(f, (left, right), solver="anderson")
            radius = RADIUS
            coefficients = None
            while coefficients is None and radius > 1e-3:
                coefficients = _coefficients(f, root, radius)
                if coefficients is None:
                    radius /= 2
            if coefficients is not None:
                patches.append(RootPatch(mpmath.nstr(root, 40, strip_zeros=False), radius, coefficients))
    return tuple(patches)
