"""The kernel oracle: every generated kernel against the mpmath reference, in ULPs.

:func:`check_entry` loads ``generated/<name>.py`` by file path, evaluates each of its kernels in
float32 and float64 over a grid of inputs, and compares with :mod:`symact.reference` (the plain
definition and SymPy's raw derivative at 50+ digits).  The grid covers ordinary values, both sides
of each kink, the neighbourhood of each zero of f', tiny and subnormal magnitudes, huge magnitudes
up to the largest finite number, +-0, +-inf and nan; ``size="small"`` is the same grid, thinner,
for the tests.  Each result records the largest error in ULPs of the dtype, the 99.9th
percentile, outputs that are not finite where the reference is, and special values (nan, +-inf,
overflow) handled wrongly; :func:`table` prints them.

The error of a value v against the exact r is |v - r| / ulp(r), where ulp(r) is the spacing of the
dtype's numbers at |r| (the smallest subnormal below the normal range).  A reference beyond the
largest finite number must give an infinity of the same sign.

Elementwise float32 kernels are also swept: every 61st float32 (every 40009th for ``size="small"``), about
70 million points over the whole range, against the same module's float64 kernel, itself held to its
bound by the grid (see :func:`_sweep_float32`).  The grid alone had missed float32 errors of 3 ulp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mpmath
import numpy as np
import sympy

from .catalog import Entry, Kind
from .catalog.symbols import i, j, n, x, y
from .reference import Scalar, instance, mp_value

__all__ = ["KernelResult", "check_entry", "check", "table", "load_module", "BOUNDS", "grid", "ulp_error"]

#: the accuracy bound of each kind of kernel, in ULPs: 2 for elementwise forwards, else 4
BOUNDS = {"forward": 2.0}
DEFAULT_BOUND = 4.0
DTYPES = (np.float32, np.float64)
PRECISION = {np.float32: 24, np.float64: 53}


@dataclass
class KernelResult:
    """The errors of one kernel in one dtype over the grid."""

    entry: str
    kernel: str
    dtype: str
    bound: float
    errors: list = field(default_factory=list)  #: (ulps, input class, input description)
    nonfinite: int = 0
    special_wrong: int = 0
    unresolved: int = 0  #: points where the reference could not be resolved (skipped)
    examples: list = field(default_factory=list)  #: descriptions of failures, a few

    @property
    def max_ulp(self) -> float:
        finite = [e for e, _, _ in self.errors if math.isfinite(e)]
        return max(finite, default=0.0)

    @property
    def p999(self) -> float:
        finite = [e for e, _, _ in self.errors if math.isfinite(e)]
        return float(np.percentile(finite, 99.9)) if finite else 0.0

    @property
    def worst(self) -> str:
        finite = [(e, c, s) for e, c, s in self.errors if math.isfinite(e)]
        if not finite:
            return ""
        e, c, s = max(finite, key=lambda r: r[0])
        return f"{c}: {s}"

    @property
    def passed(self) -> bool:
        return self.max_ulp <= self.bound and not self.nonfinite and not self.special_wrong

    def add(self, value, exact, cls: str, where: str, slack=0) -> None:
        """Record the error of ``value`` (a float of this dtype) against the mpmath ``exact``; with ``slack``, an
        absolute error allowed on top of the ulps (the error a kernel documents beyond its ulps)."""
        dtype = np.dtype(self.dtype).type
        value = float(value)
        if exact is None:
            self.unresolved += 1
            return
        if mpmath.isnan(exact):
            if not math.isnan(value):
                self._special(f"{where}: got {value!r}, expected nan")
            return
        biggest = float(np.finfo(dtype).max)
        if abs(exact) > biggest * (1 + 2.0 ** -PRECISION[dtype]):  # overflows in this dtype
            if not (math.isinf(value) and (value > 0) == (exact > 0)):
                self._special(f"{where}: got {value!r}, expected {'+' if exact > 0 else '-'}inf")
            return
        if not math.isfinite(value):
            self.nonfinite += 1
            self.errors.append((math.inf, cls, where))
            if len(self.examples) < 5:
                self.examples.append(f"{where}: got {value!r}, expected {mpmath.nstr(exact, 17)}")
            return
        error = ulp_error(value, exact, dtype, slack)
        self.errors.append((error, cls, where))
        if error > self.bound and len(self.examples) < 5:
            self.examples.append(f"{where}: {error:.1f} ulp (got {value!r}, exact {mpmath.nstr(exact, 17)})")

    def _special(self, text: str) -> None:
        self.special_wrong += 1
        if len(self.examples) < 5:
            self.examples.append(text)


def ulp_error(value: float, exact, dtype, slack=0) -> float:
    """|value - exact| (less ``slack``, down to 0) in units of the dtype's spacing at |exact|."""
    p = PRECISION[dtype]
    tiny = float(np.finfo(dtype).tiny)
    with mpmath.workdps(60):
        r = abs(mpmath.mpf(exact))
        if r < tiny:
            unit = mpmath.mpf(tiny) * mpmath.mpf(2) ** (1 - p)
        else:
            unit = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(r, 2)) - (p - 1))
            if unit * 2 ** (p - 1) > r:  # log2 rounded up at a power of two
                unit /= 2
        return float(max(abs(mpmath.mpf(float(value)) - exact) - slack, 0) / unit)


# --------------------------------------------------------------------------------------------
# loading


def load_module(name: str, directory: str | Path = "generated"):
    """Import ``directory/name.py`` (generated modules are not a package): :func:`symact.load`."""
    from .loader import load

    return load(name, directory)


# --------------------------------------------------------------------------------------------
# grids


def grid(
    dtype, size: str = "full", kinks: Sequence[float] = (), roots: Sequence[float] = (), band: Sequence[float] = ()
) -> list[tuple[str, list]]:
    """(input class, values) for an elementwise kernel, in the dtype, deterministic; ``band``: the points of
    :func:`underflow_band`, a class of their own."""
    small = size == "small"
    rng = np.random.default_rng(20261125)
    fi = np.finfo(dtype)
    count = 20 if small else 300
    logs = 7 if small else 80
    lo_exp = math.log10(float(fi.tiny))
    sub_exp = math.log10(float(np.nextafter(dtype(0), dtype(1))))
    hi_exp = math.log10(float(fi.max))

    def both(v):
        v = np.asarray(v, dtype=np.float64)
        return list(np.concatenate([v, -v]).astype(dtype))

    ordinary = list(np.linspace(-30, 30, count).astype(dtype)) + list(rng.uniform(-8, 8, count).astype(dtype))
    classes = [
        ("ordinary", ordinary),
        ("tiny", both(np.logspace(lo_exp, -1, logs))),
        ("subnormal", both(np.logspace(sub_exp, lo_exp - 0.01, logs))),
        ("huge", both(np.concatenate([np.logspace(1, hi_exp - 0.001, logs), [float(fi.max)]]))),
        ("special", [dtype(0.0), dtype(-0.0), dtype(np.inf), dtype(-np.inf), dtype(np.nan)]),
    ]
    kink_values = []
    for c in kinks:
        c = dtype(c)
        for offset in np.logspace(-300 if dtype is np.float64 else -40, 0, logs):
            kink_values += [dtype(c + dtype(offset)), dtype(c - dtype(offset))]
        nxt = c
        for _ in range(3):
            nxt = np.nextafter(nxt, dtype(np.inf))
            kink_values.append(nxt)
        nxt = c
        for _ in range(3):
            nxt = np.nextafter(nxt, dtype(-np.inf))
            kink_values.append(nxt)
    if kink_values:
        classes.append(("kink", kink_values))
    root_values = []
    for r0 in roots:
        c = dtype(r0)
        eps = float(fi.eps)
        for offset in np.logspace(math.log10(eps), 0, logs):
            root_values += [dtype(c * (1 + offset)), dtype(c * (1 - offset))]
        nxt_up = nxt_down = c
        root_values.append(c)
        for _ in range(4 if small else 40):
            nxt_up = np.nextafter(nxt_up, dtype(np.inf))
            nxt_down = np.nextafter(nxt_down, dtype(-np.inf))
            root_values += [nxt_up, nxt_down]
    if root_values:
        classes.append(("near f'=0", root_values))
    if len(band):
        classes.append(("underflow", list(band)))
    return [(name, [dtype(v) for v in values]) for name, values in classes]


#: magnitudes of x scanned for a tail where |f| falls below the normal range (both signs, 1 to the largest float)
_BAND_SCAN = 256
#: bisection steps that place each end of such a band (on a log scale of |x|: to 1e-4 relative, enough to place it)
_BAND_STEPS = 12


def _magnitude(ref, xv: float):
    value = _real_or_none(ref(xv))
    return None if value is None else abs(value)


def _real_or_none(value):
    if value is None or not isinstance(value, mpmath.mpf) or mpmath.isnan(value):
        return None
    return value


def _crossing(ref, inside: float, outside: float, level) -> float:
    """An x between ``inside`` (|ref| >= level) and ``outside`` (|ref| < level), of one sign, near where |ref|
    crosses ``level``: bisected on log |x|."""
    for _ in range(_BAND_STEPS):
        mid = math.copysign(math.sqrt(abs(inside) * abs(outside)), inside)
        if mid in (inside, outside):
            break
        value = _magnitude(ref, mid)
        if value is not None and value >= level:
            inside = mid
        else:
            outside = mid
    return inside


def underflow_band(refs: Sequence, dtype, count: int) -> list:
    """Points in each tail where a reference function of x (``refs``: mpmath functions such as f and f') falls
    from the smallest normal number of ``dtype`` to half its smallest subnormal: the results there are subnormal,
    where a kernel's roundings and its intermediate underflows show (x sigma(x) in float64 was 370 ulp off
    at x = -740 while every other class passed).  ``count`` points, evenly spaced, per band; none where |f|
    does not fall so low for |x| >= 1."""
    fi = np.finfo(dtype)
    tiny = mpmath.mpf(float(fi.tiny))
    floor = mpmath.mpf(float(np.nextafter(dtype(0), dtype(1)))) / 2
    magnitudes = np.logspace(0, math.log10(float(fi.max)) - 1e-3, _BAND_SCAN)
    points: list[float] = []
    for ref in refs:
        for sign in (1.0, -1.0):
            xs = [sign * float(m) for m in magnitudes]
            previous = _magnitude(ref, xs[0])
            for a, b in zip(xs, xs[1:]):
                current = _magnitude(ref, b)
                if previous is not None and current is not None and previous >= tiny > current:
                    start = _crossing(ref, a, b, tiny)
                    end = _crossing(ref, start, b, floor) if current < floor else b
                    points += np.linspace(start, end, count).tolist()
                    break
                previous = current
    return [dtype(v) for v in points]


def _numeric_kinks(entry: Entry) -> list[float]:
    values = []
    for c in entry.kinks:
        c = (sympy.Integer(c) if isinstance(c, int) else c).subs(entry.defaults)  # catalog values, not user text
        if c.is_number:
            values.append(float(c))
    return values


def _zeros(expr, var) -> list[float]:
    """Zeros of ``expr`` in [-30, 30] with parameters at their defaults (sign changes, refined)."""
    if expr.free_symbols != {var} or expr.has(sympy.Piecewise):
        return []
    f = Scalar(expr, (var,))
    xs = np.arange(-30.0, 30.0, 0.05)
    vals = [f(v) for v in xs]
    from .roots import _bisect

    roots = []
    fn = sympy.lambdify(var, expr, "mpmath")
    for x0, x1, f0, f1 in zip(xs, xs[1:], vals, vals[1:]):
        if f0 is not None and f1 is not None and f0 != 0 and f0 * f1 < 0:
            with mpmath.workdps(50):
                roots.append(float(_bisect(fn, mpmath.mpf(x0), mpmath.mpf(x1), f0)))
    return roots


# --------------------------------------------------------------------------------------------
# elementwise entries

_G_VALUES = (1.0, -2.5, 0.3, 3.0e-5, 1.0e5)

#: points per underflow band (:func:`underflow_band`)
BAND_POINTS = {"full": 200, "small": 6}


def _check_elementwise(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    from .derive import derive

    derivation = derive(entry)
    first = derivation.gradient("first")
    defaults = {p.symbol: mp_value(float(p.default)) for p in entry.params}
    raw = first.raw.subs({s: sympy.Float(v, 60) for s, v in defaults.items()})
    definition = entry.definition.subs({s: sympy.Float(v, 60) for s, v in defaults.items()})
    aux = [a.symbol for a in entry.aux if a.symbol in entry.definition.free_symbols]
    f_ref = Scalar(definition, (x, *aux))
    d_ref = Scalar(raw, (x, *aux))
    o_ref = None
    if first.output is not None and hasattr(module, "vjp_from_output"):
        o_ref = Scalar(first.output.expr.subs({s: sympy.Float(v, 60) for s, v in defaults.items()}), (y, *aux))
    roots = _zeros(raw, x) if not aux else []
    name = np.dtype(dtype).name
    results = {
        kernel: KernelResult(entry.name, kernel, name, BOUNDS.get(kernel, DEFAULT_BOUND))
        for kernel in ("forward", "derivative", "vjp", *(["vjp_from_output"] if o_ref is not None else []))
    }
    band = underflow_band([f_ref, d_ref], dtype, BAND_POINTS[size]) if BAND_POINTS[size] and not aux else []
    for cls, values in grid(dtype, size, _numeric_kinks(entry), roots, band):
        xs = np.array(values, dtype=dtype)
        aux_values = [np.array([dtype(q % 2) for q in range(len(xs))]) for _ in aux]  # a mask of 0s and 1s
        gs = np.array([_G_VALUES[q % len(_G_VALUES)] for q in range(len(xs))], dtype=dtype)
        fwd = module.forward(xs, *aux_values)
        der = module.derivative(xs, *aux_values)
        vjp = module.vjp(xs, gs, *aux_values)
        out = np.empty_like(xs)
        module.forward(xs, *aux_values, out=out)
        if not np.array_equal(out, fwd, equal_nan=True):
            results["forward"]._special(f"{cls}: out= differs from the returned array")
        for q, xv in enumerate(xs):
            av = [v[q] for v in aux_values]
            where = f"x = {float(xv)!r}" + "".join(f", {s} = {float(v)!r}" for s, v in zip(aux, av))
            results["forward"].add(fwd[q], f_ref(xv, *av), cls, where)
            exact_d = d_ref(xv, *av)
            results["derivative"].add(der[q], exact_d, cls, where)
            with mpmath.workdps(60):
                exact_v = exact_d * mp_value(gs[q]) if exact_d is not None and not mpmath.isnan(exact_d) else exact_d
            results["vjp"].add(vjp[q], exact_v, cls, f"{where}, g = {float(gs[q])!r}")
        if o_ref is not None:
            ys = np.where(np.isfinite(fwd), fwd, dtype(0)).astype(dtype)
            vo = module.vjp_from_output(ys, gs, *aux_values)
            for q, yv_ in enumerate(ys):
                av = [v[q] for v in aux_values]
                with mpmath.workdps(60):
                    exact = o_ref(yv_, *av)
                    exact = exact * mp_value(gs[q]) if exact is not None and not mpmath.isnan(exact) else exact
                results["vjp_from_output"].add(vo[q], exact, cls, f"y = {float(yv_)!r}, g = {float(gs[q])!r}")
    if np.dtype(dtype) == np.float32 and not aux:
        _sweep_float32(module, results, size)
    return list(results.values())


#: the float32 sweep takes every STRIDE-th float32 (by its bits; odd, so that every low-bit pattern occurs)
SWEEP_STRIDE = {"full": 61, "small": 40009}
_SWEEP_CHUNK = 1 << 21


def sweep_points(size: str = "full") -> np.ndarray:
    """Every SWEEP_STRIDE[size]-th finite float32 by its bits, both signs (about 2**32 / stride of them), as int32
    bit patterns (materialise a slice with ``.view(np.float32)``)."""
    top = np.float32(np.finfo(np.float32).max).view(np.int32)
    positive = np.arange(1, int(top) + 1, SWEEP_STRIDE[size], dtype=np.int32)
    return np.concatenate([positive, positive | np.int32(-(2**31))])


def _sweep_float32(module, results: dict, size: str) -> None:
    """Every kernel's float32 result against the float64 kernel of the same module, on :func:`sweep_points`:
    the mpmath grid alone (about a thousand points) missed float32 errors of up to 3 ulp in forwards (bound 2)
    and 150 ulp in vjps.  The float64 kernels are held to 4 ulp of float64 by the grid, 2**-27 of a float32
    ulp, so the float64 value is the exact one as far as float32 can tell.  Each kernel's worst point joins its
    result as one more error, in the class "float32 sweep"."""
    bits = sweep_points(size)
    worst = {k: (0.0, "") for k in ("forward", "derivative", "vjp")}
    bad = dict.fromkeys(worst, 0)
    for start in range(0, bits.size, _SWEEP_CHUNK):
        x32 = bits[start : start + _SWEEP_CHUNK].view(np.float32)
        x64 = x32.astype(np.float64)
        g32 = np.array(_G_VALUES, dtype=np.float32)[np.arange(start, start + x32.size) % len(_G_VALUES)]
        d64 = module.derivative(x64)
        f64 = module.forward(x64)
        pairs = {
            "forward": (float32_by_parts(module.forward, f64, x32), f64),
            "derivative": (float32_by_parts(module.derivative, d64, x32), d64),
            "vjp": (float32_by_parts(module.vjp, d64, x32, g32), d64 * g32.astype(np.float64)),
        }
        for kernel, (got, ref) in pairs.items():
            errors, wrong = _f32_ulps(got, ref)
            bad[kernel] += wrong
            q = int(np.argmax(errors))
            if errors[q] > worst[kernel][0]:
                where = f"x = {float(x32[q])!r}" + (f", g = {float(g32[q])!r}" if kernel == "vjp" else "")
                worst[kernel] = (float(errors[q]), f"{where} (got {float(got[q])!r}, float64 {float(ref[q])!r})")
    for kernel, (error, where) in worst.items():
        result = results[kernel]
        result.errors.append((error, "float32 sweep", where))
        if error > result.bound and len(result.examples) < 5:
            result.examples.append(f"float32 sweep: {error:.2f} ulp at {where}")
        if bad[kernel]:
            result._special(f"float32 sweep: {bad[kernel]} points non-finite where the float64 kernel is not")


def float32_by_parts(kernel, reference: np.ndarray, *args: np.ndarray) -> np.ndarray:
    """``kernel(*args)`` on float32 arrays in two calls: the elements whose float64 ``reference`` (the forward, or
    f' for the derivative and vjp) is below 2**-119 or above 2**127 in magnitude, and the others.  A float32 loop
    redoes its whole call in float64 when one of its results comes out tiny or infinite, so measured in one call
    a sweep that holds a single such point measures the float64 redo everywhere (1/(1 + exp(-x))^2's float32
    forward: 0.5 ulp so, 4.4 ulp in its float32 loop)."""
    magnitude = np.abs(reference)
    apart = (magnitude < 2.0**-119) | (magnitude >= 2.0**127)
    out = np.empty(args[0].shape, dtype=np.float32)
    for part in (apart, ~apart):
        if part.any():
            out[part] = kernel(*(a[part] for a in args))
    return out


def _f32_ulps(got: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, int]:
    """The errors of float32 results against float64 ones, in float32 ulps (0 where both are the same nan or
    infinity, or where the reference overflows float32 and the result is the infinity of its sign), and how
    many results are non-finite where they should not be."""
    got = got.astype(np.float64)
    big = float(np.finfo(np.float32).max) * (1 + 2.0**-24)
    finite = np.isfinite(ref) & (np.abs(ref) <= big)
    overflow = ~finite & ~np.isnan(ref) & (got == np.copysign(np.inf, ref))
    same = (got == ref) | (np.isnan(got) & np.isnan(ref)) | overflow
    r = np.abs(ref[finite])
    _, e = np.frexp(r)
    unit = np.ldexp(1.0, np.where(r < 2.0**-126, -125, e) - 24)  # 2**-149 below the normal range
    errors = np.zeros(ref.shape)
    errors[finite] = np.abs(got[finite] - ref[finite]) / unit
    errors[~finite & ~same] = np.inf
    errors[same] = 0.0
    wrong = int(np.count_nonzero(np.isinf(errors)))
    errors[np.isinf(errors)] = 0.0
    return errors, wrong


# --------------------------------------------------------------------------------------------
# vector entries and losses


def _rows(dtype, size: str, rng) -> list[tuple[str, np.ndarray]]:
    """Rows of scores: ordinary, wide-ranging, confident, and special ones."""
    small = size == "small"
    rows = []
    per = 1 if small else 12
    for n_ in (1, 2, 3) if small else (1, 2, 3, 5, 8):
        for scale in (1.0, 30.0, 300.0):
            for _ in range(per):
                rows.append(("ordinary" if scale == 1.0 else "wide", rng.normal(0, scale, n_)))
    big = float(np.finfo(dtype).max)
    rows += [
        ("confident", np.array([60.0, 0.0, -1.0])),
        ("confident", np.array([-5.0, 45.0, 1.0, 2.0])),
        ("tiny", np.array([1e-40, -1e-40, 0.0])),
        ("special", np.array([np.nan, 0.0])),
    ]
    if not small:  # mpmath's exp of 1e308 (or of 1e1000 for an infinity) takes a second per value
        rows += [
            ("huge", np.array([big, -big, 0.0])),
            ("huge", np.array([big / 2, big / 2])),
            ("special", np.array([np.inf, 0.0, 1.0])),
            ("special", np.array([-np.inf, 0.0, 1.0])),
            ("special", np.array([-np.inf, -np.inf])),
        ]
    return [(c, r.astype(dtype)) for c, r in rows]


def _label_row(rng, n_, one_hot: bool):
    if one_hot:
        v = np.zeros(n_)
        v[rng.integers(n_)] = 1.0
        return v
    v = rng.dirichlet(np.ones(n_))
    return v


def _check_vector(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    from .derive import derive, g

    rng = np.random.default_rng(7)
    name = np.dtype(dtype).name
    a = entry.variable
    derivation = derive(entry)
    jac_raw = derivation.gradient("jacobian").raw
    vjp_raw = derivation.gradient("vjp").raw
    # a definition through the index of the largest element (not the elements themselves) is piecewise
    # constant: its value is the definition at argmax(a), its derivatives 0, and a nan anywhere gives nan
    arg = _argmax_index(entry)
    hard = arg is not None
    # vjp_from_output(y, g) is held to the derivation's output form at the y given (the forward's rounded
    # output), with random g and with g = 1, where g_j - sum_i p_i g_i cancels to sum_i p_i - 1; a module's
    # FROM_OUTPUT_SLACK[dtype] is an error it documents besides, times |exp(y_j) sum_i g_i| (an output in logs)
    from_output = derivation.gradient("vjp").output if hasattr(module, "vjp_from_output") else None
    kernels = ("forward", "vjp", "jacobian", *(["vjp_from_output"] if from_output is not None else []))
    res = {k_: KernelResult(entry.name, k_, name, DEFAULT_BOUND) for k_ in kernels}
    for cls, row in _rows(dtype, size, rng):
        n_ = len(row)
        gvec = rng.normal(0, 1, n_).astype(dtype)
        fwd = module.forward(row[None, :])[0]
        vj = module.vjp(row[None, :], gvec[None, :])[0]
        jac = module.jacobian(row)
        for i_ in range(n_):
            where = f"a = {row.tolist()}, i = {i_}"
            if hard:
                if np.isnan(row).any():
                    exact = mpmath.nan
                else:
                    at = entry.definition.xreplace({arg: sympy.Integer(int(np.argmax(row)))})
                    exact = instance(at, ((n, n_), (i, i_)), (a,))([row])
            else:
                exact = instance(entry.definition, ((n, n_), (i, i_)), (a,))([row])
            res["forward"].add(fwd[i_], exact, cls, where)
            ex_v = instance(vjp_raw, ((n, n_), (j, i_)), (a, g))([row, gvec]) if not hard else _zero_or_nan(row)
            res["vjp"].add(vj[i_], ex_v, cls, f"{where}, g = {gvec.tolist()}")
            for j_ in range(n_):
                ex_j = instance(jac_raw, ((n, n_), (i, i_), (j, j_)), (a,))([row]) if not hard else mpmath.mpf(0)
                res["jacobian"].add(jac[i_, j_], ex_j, cls, f"{where}, j = {j_}")
        if from_output is not None:
            ys = np.asarray(fwd, dtype=dtype)
            for gv in (gvec, np.ones(n_, dtype=dtype)):
                vo = module.vjp_from_output(ys[None, :], gv[None, :])[0]
                total = mpmath.fsum(mp_value(v) for v in gv)
                for i_ in range(n_):
                    ref = instance(from_output.expr, ((n, n_), (j, i_)), (entry.output, g))
                    where = f"y = {ys.tolist()}, g = {gv.tolist()}, i = {i_}"
                    slack = 0
                    if name in getattr(module, "FROM_OUTPUT_SLACK", {}) and np.isfinite(ys[i_]):
                        slack = abs(mpmath.exp(mp_value(ys[i_])) * total) * module.FROM_OUTPUT_SLACK[name]
                    res["vjp_from_output"].add(vo[i_], ref([ys, gv]), cls, where, slack)
    return list(res.values())


def _zero_or_nan(row):
    return mpmath.nan if np.isnan(row).any() else mpmath.mpf(0)


def _check_class_loss(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    """A loss of a row of logits normalised over the row (the class axis) against a row of soft labels or
    an integer class label: forward(z, labels, reduction="sum") and grad, row by row."""
    from .derive import derive

    # the labels: an integer class index (declared with the domain "index") or a row of soft labels
    t = _label(entry, "index")
    sparse = t is not None
    yv = None if sparse else _label(entry)
    zv = entry.variable
    rng = np.random.default_rng(11)
    name = np.dtype(dtype).name
    res = {k_: KernelResult(entry.name, k_, name, DEFAULT_BOUND) for k_ in ("forward", "grad")}
    grad_raw = derive(entry).gradient(f"wrt:{entry.wrt[0]}").raw
    for cls, row in _rows(dtype, size, rng):
        if np.isnan(row).any() or np.isinf(row).any():
            continue  # the limits of a loss at infinite logits depend on the labels; checked in the tests
        n_ = len(row)
        for one_hot in (True, False) if not sparse else (True,):
            labels = _label_row(rng, n_, one_hot).astype(dtype)
            if cls == "confident":
                labels = np.zeros(n_, dtype=dtype)
                labels[int(np.argmax(row))] = 1
            tval = int(np.argmax(labels))
            lab_arg = np.array([tval]) if sparse else labels[None, :]
            loss = module.forward(row[None, :], lab_arg, reduction="sum")
            grad = module.grad(row[None, :], lab_arg, reduction="sum")[0]
            where = f"z = {row.tolist()}, labels = {tval if sparse else labels.tolist()}"
            if sparse:
                ex = instance(entry.definition, ((n, n_), (t, tval)), (zv,))([row])
            else:
                ex = instance(entry.definition, ((n, n_),), (zv, yv))([row, labels])
            res["forward"].add(loss, ex, cls, where)
            for j_ in range(n_):
                if sparse:
                    eg = instance(grad_raw, ((n, n_), (t, tval), (j, j_)), (zv,))([row])
                else:
                    eg = instance(grad_raw, ((n, n_), (j, j_)), (zv, yv))([row, labels])
                res["grad"].add(grad[j_], eg, cls, f"{where}, j = {j_}")
    return list(res.values())


def _check_binary_loss(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    from .derive import derive
    from .kernel_templates import keyword

    name = np.dtype(dtype).name
    bounds = {k_: BOUNDS.get(k_, DEFAULT_BOUND) for k_ in ("forward", "grad", "forward mean")}  # forward: 2 ulp
    res = {k_: KernelResult(entry.name, k_, name, bound) for k_, bound in bounds.items()}
    defaults = {p.symbol: sympy.Float(float(p.default), 60) for p in entry.params}
    z, y_label = entry.variable, _label(entry)
    f_ref = Scalar(entry.definition.subs(defaults), (z, y_label))
    g_ref = Scalar(derive(entry).gradient(f"wrt:{z}").raw.subs(defaults), (z, y_label))
    kw = {keyword(p): float(p.default) for p in entry.params}
    domain = next(a_.domain for a_ in entry.aux if a_.symbol == y_label)
    labels = _LABEL_VALUES[domain][size == "small"]
    for lab in labels:
        kinks = _label_kinks(entry.definition.subs(defaults), z, y_label, lab)
        for cls, values in _input_grid(entry, dtype, size, kinks):
            zs = np.array(values, dtype=dtype)
            if size != "small" and cls != "kink":  # every third point: the plain loss at huge |z| needs many digits
                zs = zs[::3] if cls != "special" else zs
            if cls == "special":
                zs = zs[~np.isinf(zs)]  # limits at infinite logits depend on the label (0 * inf)
            ys = np.full(zs.shape, lab, dtype=dtype)
            loss = module.forward(zs, ys, reduction="none", **kw)
            grad = module.grad(zs, ys, reduction="sum", **kw)
            for q, zv_ in enumerate(zs):
                where = f"z = {float(zv_)!r}, y = {lab}"
                res["forward"].add(loss[q], f_ref(zv_, lab), cls, where)
                res["grad"].add(grad[q], g_ref(zv_, lab), cls, where)
    for cls, values in _input_grid(entry, dtype, size):
        if cls == "ordinary":  # the mean of a batch: a reduction, checked against the exact mean
            zs = np.array(values, dtype=dtype)[:16]
            spread = domain in ("unit", "real", "nonnegative")  # labels across [0, 1], else the domain's values
            ys = np.linspace(0, 1, len(zs)) if spread else np.resize(np.array(labels), len(zs))
            ys = ys.astype(dtype)
            with mpmath.workdps(60):
                parts = [f_ref(zz, yy) for zz, yy in zip(zs, ys)]
                exact = None if None in parts else mpmath.fsum(parts) / len(zs)
            res["forward mean"].add(module.forward(zs, ys, reduction="mean", **kw), exact, cls, "16 logits")
    return list(res.values())


def _input_grid(entry: Entry, dtype, size: str, kinks: Sequence[float] = ()) -> list[tuple[str, list]]:
    """The grid of an elementwise loss's input: :func:`grid` for a logit; for a probability (input domain
    ``unit``) the grid's points in [0, 1], the ordinary ones mapped inside it, and a class near 1 (1 - 2^-k and
    the floats just below 1), where log(1 - p) needs the digits of 1 - p."""
    classes = grid(dtype, size, kinks)
    if entry.input_domain != "unit":
        return classes
    out = []
    for cls, values in classes:
        if cls == "ordinary":
            values = [dtype((abs(v) + 0.5) / 31.0) for v in values]  # linspace(-30, 30), uniform(-8, 8) into (0, 1)
        out.append((cls, [v for v in values if 0 <= v <= 1 or v != v]))
    near = [dtype(1) - dtype(2.0**-k_) for k_ in range(1, PRECISION[dtype] + 1)]
    below = dtype(1)
    for _ in range(8):
        below = np.nextafter(below, dtype(0))
        near.append(below)
    out.append(("near 1", near + [dtype(1)]))
    return [(cls, values) for cls, values in out if values]


#: the labels an elementwise loss is checked at, by the domain of its label: (full, small)
_LABEL_VALUES = {
    "unit": ((0.0, 1.0, 0.25, 0.75), (0.0, 1.0, 0.75)),
    "binary": ((0.0, 1.0), (0.0, 1.0)),
    "sign": ((-1.0, 1.0), (-1.0, 1.0)),
    "real": ((0.0, 1.0, 0.25, 0.75, -2.5, 40.0), (0.0, 1.0, -2.5)),
    "nonnegative": ((0.0, 1.0, 0.25, 0.75, 1e-300, 40.0), (0.0, 1.0, 0.75, 40.0)),
}


def _label_kinks(definition, z, y_label, lab: float) -> list[float]:
    """The kinks in ``z`` of an elementwise loss at the label ``lab``, as floats: the roots of the arguments of
    Abs, sign and Max linear in z, and of each Piecewise condition (|z - y| <= c gives z = y - c and y + c)."""
    from .prove import find_kinks

    at = definition.subs(y_label, sympy.Float(lab, 60))
    places = list(find_kinks(at, z))
    for piecewise in at.atoms(sympy.Piecewise):  # also a condition not linear in z
        for _, cond in piecewise.args:
            for rel in cond.atoms(sympy.core.relational.Relational):
                if rel.has(z):
                    places += sympy.solve(sympy.Eq(rel.lhs, rel.rhs), z)
    return sorted({float(c) for c in places if c.is_number and c.is_real})


def _check_mean_loss(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    """A loss that is a mean over its elements of a term of the prediction and the target there (no
    normalisation across elements): forward and grad with reduction="mean", at several sizes and scales."""
    rng = np.random.default_rng(5)
    name = np.dtype(dtype).name
    res = {k_: KernelResult(entry.name, k_, name, DEFAULT_BOUND) for k_ in ("forward", "grad")}
    from .derive import derive

    yhat, yv = entry.variable, _label(entry)
    grad_raw = derive(entry).gradient(f"wrt:{entry.wrt[0]}").raw
    for count in (1, 2, 5, 9) if size == "small" else (1, 2, 3, 5, 9, 17):
        for scale in (1.0, 1e-3, 1e20):
            for _ in range(3 if size == "small" else 10):
                p_ = (rng.normal(0, scale, count)).astype(dtype)
                q_ = (
                    (p_ + rng.normal(0, scale * 1e-6, count)).astype(dtype)
                    if rng.random() < 0.5
                    else rng.normal(0, scale, count).astype(dtype)
                )
                where = f"yhat = {p_.tolist()}, y = {q_.tolist()}"
                ex = instance(entry.definition, ((n, count),), (yhat, yv))([p_, q_])
                res["forward"].add(module.forward(p_, q_, reduction="mean"), ex, "ordinary", where)
                gr = module.grad(p_, q_, reduction="mean")
                for j_ in range(count):
                    eg = instance(grad_raw, ((n, count), (j, j_)), (yhat, yv))([p_, q_])
                    res["grad"].add(gr[j_], eg, "ordinary", f"{where}, j = {j_}")
    return list(res.values())


def _check_model_loss(entry: Entry, module, dtype, size: str) -> list[KernelResult]:
    """A loss of a linear model's weights w and bias b over data X (m samples of d features) and labels y:
    forward(w, b, X, y) and grad -> (dw, db)."""
    from .derive import derive

    rng = np.random.default_rng(3)
    name = np.dtype(dtype).name
    res = {k_: KernelResult(entry.name, k_, name, DEFAULT_BOUND) for k_ in ("forward", "dw", "db")}
    w = entry.variable
    b = next(s for s in entry.wrt if not isinstance(s, sympy.Indexed))
    data = next(a_ for a_ in entry.aux if len(a_.sizes) == 2)
    X, (m, d) = data.symbol, data.sizes
    yv = next(a_.symbol for a_ in entry.aux if a_ is not data)
    derivation = derive(entry)
    raw_w = derivation.gradient(f"wrt:{entry.wrt[0]}").raw
    raw_b = derivation.gradient(f"wrt:{b}").raw
    for m_, d_ in ((1, 1), (3, 2), (6, 3)) if size == "small" else ((1, 1), (3, 2), (6, 3), (10, 4)):
        for scale in (0.5, 5.0, 50.0):
            for _ in range(2 if size == "small" else 8):
                X_ = rng.normal(0, 1, (m_, d_)).astype(dtype)
                w_ = rng.normal(0, scale, d_).astype(dtype)
                b_ = float(dtype(rng.normal()))
                y_ = rng.integers(0, 2, m_).astype(dtype)
                where = f"scale {scale}, m = {m_}, d = {d_}"
                sizes = ((m, m_), (d, d_))
                ex = instance(entry.definition, sizes, (w, X, yv), (b,))([w_, X_, y_], b_)
                res["forward"].add(module.forward(w_, b_, X_, y_), ex, "ordinary", where)
                dw, db = module.grad(w_, b_, X_, y_)
                for j_ in range(d_):
                    eg = instance(raw_w, (*sizes, (j, j_)), (w, X, yv), (b,))([w_, X_, y_], b_)
                    res["dw"].add(dw[j_], eg, "ordinary", f"{where}, j = {j_}")
                eb = instance(raw_b, sizes, (w, X, yv), (b,))([w_, X_, y_], b_)
                res["db"].add(db, eb, "ordinary", where)
    return list(res.values())


# --------------------------------------------------------------------------------------------
# what shape an entry has: decided from its mathematics (its symbols, labels and arguments), never its name


def _argmax_index(entry: Entry) -> sympy.Symbol | None:
    """The integer symbol standing for argmax of the input in a vector entry defined through it (a one-hot
    of the largest element): a free integer symbol of the definition that is neither one of the entry's
    indices nor a size, where the definition does not depend on the input's elements themselves."""
    if entry.kind is not Kind.VECTOR or entry.definition.has(entry.variable):
        return None
    bound = {s for pair in entry.index_ranges for s in pair}
    free = [s for s in entry.definition.free_symbols if s.is_integer and s not in bound]
    return free[0] if len(free) == 1 else None


def _label(entry: Entry, domain: str | None = None):
    """The symbol of the entry's label input (the first auxiliary input, or the first of that sampling
    ``domain``); None if there is none."""
    return next((a_.symbol for a_ in entry.aux if domain is None or a_.domain == domain), None)


def _loss_shape(entry: Entry) -> str:
    """How a loss takes its arguments, from its definition: ``"binary"`` for a loss of one logit and one
    label (elementwise); ``"model"`` for a loss differentiated with respect to several arguments (a linear
    model's weights and bias); ``"classes"`` for a loss of a row of logits normalised over the row (a sum
    of exponentials of the logits); else ``"mean"``, a mean of a term per element."""
    var = entry.variable
    if not isinstance(var, sympy.IndexedBase):
        return "binary"
    if len(entry.wrt) > 1:
        return "model"
    for s in entry.definition.atoms(sympy.Sum):
        if any(e.has(var) for e in s.function.atoms(sympy.exp)):
            return "classes"
    return "mean"


_LOSS_CHECKS = {
    "binary": _check_binary_loss,
    "model": _check_model_loss,
    "classes": _check_class_loss,
    "mean": _check_mean_loss,
}


# --------------------------------------------------------------------------------------------


def check_entry(
    entry: Entry, directory: str | Path = "generated", size: str = "full", dtypes: Iterable = DTYPES
) -> list[KernelResult]:
    """Check every kernel of ``entry``'s generated module, in each dtype."""
    module = load_module(entry.name, directory)
    results = []
    for dtype in dtypes:
        with np.errstate(all="ignore"):
            if entry.kind is Kind.ELEMENTWISE:
                results += _check_elementwise(entry, module, dtype, size)
            elif entry.kind is Kind.VECTOR:
                results += _check_vector(entry, module, dtype, size)
            else:
                results += _LOSS_CHECKS[_loss_shape(entry)](entry, module, dtype, size)
    return results


def check(entries: Iterable[Entry], directory: str | Path = "generated", size: str = "full") -> list[KernelResult]:
    """Check many entries; see :func:`check_entry`."""
    results = []
    for entry in entries:
        results += check_entry(entry, directory, size)
    return results


def table(results: Sequence[KernelResult]) -> str:
    """A Markdown table: one row per kernel and dtype."""
    lines = [
        "| entry | kernel | dtype | max ulp | p99.9 ulp | bound | non-finite | special wrong | unresolved | points "
        "| status | worst input |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        status = "ok" if r.passed else "FAIL"
        lines.append(
            f"| {r.entry} | {r.kernel} | {r.dtype} | {r.max_ulp:.2f} | {r.p999:.2f} | {r.bound:g} | {r.nonfinite} "
            f"| {r.special_wrong} | {r.unresolved} | {len(r.errors)} | {status} | {r.worst[:90]} |"
        )
    return "\n".join(lines)
