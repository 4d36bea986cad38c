"""Fit the polynomial coefficients of symact/vecmath.py's erf and erfc (run: python3 tools/fit_vecmath.py).

Near-minimax fits by Chebyshev interpolation in mpmath at 40 digits (``mpmath.chebyfit``) of:

- ``erf(x) / x`` as a polynomial in ``t = 8 x^2 - 1`` for ``|x| <= 0.5``;
- ``erfcx(a) = exp(a^2) erfc(a)`` as a polynomial in ``t = a - 1.5`` for ``0.5 <= a <= 2.5``;
- ``a * erfcx(a)`` as a polynomial in ``t = (v - c) / h`` with ``v = 1 / a^2`` over ``2.5 <= a <= 27.5``.

Every variable is mapped to [-1, 1] so that Horner's rule sums coefficients of moderate size. The printed
Horner steps and the constant term as a double word hi + lo are pasted into vecmath.py; the ULP tests
against mpmath check the result.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 40


def _erfcx(a):
    return mp.erfc(a) * mp.exp(a * a)


def _fit(f, a, b, degree):
    """Coefficients (highest degree first) of a polynomial in t in [-1, 1] approximating f((a+b)/2 + (b-a)/2 t)."""
    c, h = (a + b) / 2, (b - a) / 2
    poly, err = mp.chebyfit(lambda t: f(c + h * t), [-1, 1], degree + 1, error=True)
    coeffs = [float(p) for p in poly]
    coeffs.append(float(poly[-1] - mp.mpf(coeffs[-1])))  # the constant term's rounding error: c0 = hi + lo
    return coeffs, err


def _statements(coeffs, var: str) -> str:
    """The polynomial minus its constant term, as vecmath writes it: p = c_n; p = p * t + c_k ...; p * t."""
    lines = [f"p = {coeffs[0]!r}"] + [f"p = p * {var} + {c!r}" for c in coeffs[1:-2]]
    return "\n".join(lines) + f"\nreturn p * {var}\n# constant term: hi = {coeffs[-2]!r}, lo = {coeffs[-1]!r}"


def fits():
    """name -> (coefficients, max abs error of the fit, variable description)."""
    small = lambda s: mp.erf(mp.sqrt(s)) / mp.sqrt(s) if s > 0 else 2 / mp.sqrt(mp.pi)  # noqa: E731
    out = {}
    out["ERF_SMALL"] = (*_fit(small, mp.mpf(0), mp.mpf("0.25"), 9), "t = 8*x*x - 1")
    out["ERFCX_MID"] = (*_fit(_erfcx, mp.mpf("0.5"), mp.mpf("2.5"), 22), "t = a - 1.5")
    lo, hi = 1 / mp.mpf("27.5") ** 2, 1 / mp.mpf("2.5") ** 2
    tail = lambda v: _erfcx(1 / mp.sqrt(v)) / mp.sqrt(v)  # noqa: E731
    out["ERFCX_TAIL"] = (
        *_fit(tail, lo, hi, 22),
        f"t = (1/(a*a) - {float((lo + hi) / 2)!r}) / {float((hi - lo) / 2)!r}",
    )
    return out


if __name__ == "__main__":
    for name, (coeffs, err, var) in fits().items():
        print(f"# {name}: {var}; fit error {mp.nstr(err, 3)}; sum |c| = {sum(abs(c) for c in coeffs[:-1]):.3g}")
        print(_statements(coeffs, "t"))
