r"""Properties of an elementwise activation, derived from its definition (never typed in).

For f at the catalog's default parameters: the limits of f and f' at +-infinity (SymPy's
``limit``, each Piecewise replaced by the branch that holds out there), the range with whether
each end is attained, monotonicity with the location of any interior minimum, zero-centredness
(f odd, so that symmetric inputs give zero-mean outputs), saturation (f' -> 0 at an infinity:
the vanishing gradient), the largest |f'| and where it is reached, the smoothness class at the
kinks, and sparsity (f = 0 on a half-line).

Numbers that SymPy cannot give in closed form (mish's minimum) come from mpmath at 30 digits:
the sign changes of f' on a grid over [-20, 20], refined by root finding.  A location found
numerically is tried as a simple closed form and kept only when f'' (or f') vanishes there exactly.

>>> from symact import catalog
>>> props = properties(catalog.get("sigmoid"))
>>> props.max_slope.value, props.max_slope.where
(1/4, 'x = 0')
>>> props.range_latex()
'(0, 1)'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mpmath
import sympy
from sympy import Piecewise, oo

from .budget import BudgetExceeded, run_limited
from .catalog import Entry, Kind
from .display import latex
from .errors import InputError
from .prove import find_kinks

__all__ = ["Extremum", "Bound", "Properties", "properties", "NotApplicable", "DIGITS", "GRID"]

DIGITS = 30  #: mpmath working precision
GRID = tuple(sympy.Rational(n, 20) for n in range(-400, 401))  #: sample points over [-20, 20]
LIMIT_BUDGET = 5.0  #: seconds for each symbolic limit
FAR = sympy.Integer(10) ** 9  #: a point "at infinity" for choosing Piecewise branches
NEAR = sympy.Rational(1, 10**20)  #: a one-sided offset for choosing branches at a kink


class NotApplicable(InputError):
    """Properties are derived for elementwise functions of one real variable only."""


@dataclass(frozen=True)
class Extremum:
    """A value of f or |f'| and where it is reached (``where`` is ``x = c``, ``x > 0``, ``x -> +oo``)."""

    value: sympy.Expr
    where: str
    exact: bool


@dataclass(frozen=True)
class Bound:
    """One end of the range: the infimum or supremum, and whether some finite x attains it."""

    value: sympy.Expr
    attained: bool


@dataclass(frozen=True)
class Properties:
    """What symact derives about an elementwise function f (at the given parameter values)."""

    name: str
    params: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    limit_minus: sympy.Expr
    limit_plus: sympy.Expr
    slope_minus: sympy.Expr  #: lim f' at -oo
    slope_plus: sympy.Expr  #: lim f' at +oo
    infimum: Bound
    supremum: Bound
    monotonic: str  #: increasing, non-decreasing, decreasing, non-increasing, constant, not monotonic
    minimum: Extremum | None  #: the interior minimum of a non-monotonic f
    f_at_zero: sympy.Expr
    zero_centred: bool
    max_slope: Extremum  #: the largest |f'|
    smoothness: int | None  #: k for C^k (-1: discontinuous), None for C^oo
    sparse: str  #: e.g. "x <= 0" where f = 0 on a half-line, else ""
    values: tuple[sympy.Expr, ...] | None = None  #: every value f takes, where they are finitely many

    @property
    def bounded_below(self) -> bool:
        return self.infimum.value.is_finite is not False and self.infimum.value != -oo

    @property
    def bounded_above(self) -> bool:
        return self.supremum.value != oo

    @property
    def saturating(self) -> str:
        """Where f' -> 0: 'both sides', 'x -> -oo', 'x -> +oo' or ''."""
        left, right = self.slope_minus == 0, self.slope_plus == 0
        return "both sides" if left and right else ("x -> -oo" if left else ("x -> +oo" if right else ""))

    def range_latex(self) -> str:
        """The range: a finite set where f takes finitely many values (the step's {0, 1}), else an interval."""
        if self.values is not None:  # \lbrace, not \{: Markdown would eat the backslash before a brace
            return r"\lbrace " + ", ".join(_num(v) for v in self.values) + r" \rbrace"
        lo = "(" if not self.infimum.attained else "["
        hi = ")" if not self.supremum.attained else "]"
        return f"{lo}{_num(self.infimum.value)}, {_num(self.supremum.value)}{hi}"

    def smoothness_latex(self) -> str:
        if self.smoothness is None:
            return r"C^\infty"
        if self.smoothness < 0:
            return r"\text{discontinuous}"
        return f"C^{self.smoothness}"

    def rows(self) -> list[tuple[str, str]]:
        """(property, value) pairs; values are LaTeX to be set in math mode, or plain text."""
        minimum = ""
        if self.minimum is not None:
            minimum = f"; minimum ${_num(self.minimum.value)}$ at {_where(self.minimum.where)}"
        slope_where = _where(self.max_slope.where)
        return [
            ("limits", _tails("f", self.limit_minus, self.limit_plus)),
            ("range", f"${self.range_latex()}$"),
            ("bounded", _bounded(self)),
            ("monotonic", self.monotonic + minimum),
            ("zero-centred", ("yes" if self.zero_centred else "no") + rf" ($f(0) = {_num(self.f_at_zero)}$"
             + (", $f$ odd)" if self.zero_centred else ", $f$ not odd)")),
            ("saturating", _saturation(self)),
            (r"max $\lvert f' \rvert$", f"${_num(self.max_slope.value)}$ at {slope_where}"),
            ("smoothness", f"${self.smoothness_latex()}$"),
            ("sparse", f"yes: $f = 0$ for {_where(self.sparse)}" if self.sparse else "no"),
        ]  # fmt: skip


def _bounded(props: Properties) -> str:
    below, above = props.bounded_below, props.bounded_above
    if below and above:
        return "above and below"
    return "below only" if below else ("above only" if above else "neither")


def _saturation(props: Properties) -> str:
    where = props.saturating
    slopes = _tails("f'", props.slope_minus, props.slope_plus)
    verdict = {"both sides": "both sides", "x -> -oo": "for $x \\to -\\infty$", "x -> +oo": "for $x \\to +\\infty$"}
    return (verdict[where] if where else "no") + f" ({slopes})"


def _tails(name: str, minus: sympy.Expr, plus: sympy.Expr) -> str:
    return rf"${name} \to {_num(minus)}$ as $x \to -\infty$, ${name} \to {_num(plus)}$ as $x \to +\infty$"


def _where(text: str) -> str:
    """Where, as text with inline math: 'every $x$', '$x > 0$'."""
    if text == "every x":
        return "every $x$"
    math = text.replace("-oo", r"-\infty").replace("+oo", r"+\infty").replace("->", r"\to")
    return "$" + math.replace("<=", r"\le").replace(">=", r"\ge") + "$"


def _num(value: sympy.Expr) -> str:
    """LaTeX of a property value: exact where it is, else 4 significant digits."""
    if value == oo:
        return r"\infty"
    if value == -oo:
        return r"-\infty"
    if isinstance(value, sympy.AccumBounds):
        return rf"\text{{none (oscillates in }} [{_num(value.min)}, {_num(value.max)}])"
    if isinstance(value, sympy.Float):
        return f"{float(value):#.4g}" if value else "0"
    return latex(value)


# --------------------------------------------------------------------------------------------


def _branch(expr: sympy.Expr, x: sympy.Symbol, point: sympy.Expr) -> sympy.Expr:
    """``expr`` with every Piecewise replaced by the branch that holds at ``point``."""

    def choose(pw):
        for value, cond in pw.args:
            truth = cond.subs(x, point)
            if truth is sympy.true or truth == True:  # noqa: E712 (SymPy booleans)
                return value
        raise InputError(f"no branch of {pw} holds at x = {point}")

    return expr.replace(lambda e: isinstance(e, Piecewise), choose)


def _limit(expr: sympy.Expr, x: sympy.Symbol, direction) -> sympy.Expr:
    piece = _branch(expr, x, FAR if direction is oo else -FAR)
    try:
        return run_limited(sympy.limit, LIMIT_BUDGET, piece, x, direction)
    except (BudgetExceeded, NotImplementedError, TypeError, ValueError):
        far = sympy.Integer(10) ** 6 * (1 if direction is oo else -1)
        return sympy.Float(piece.evalf(DIGITS, subs={x: far}), DIGITS)


def _dirac_delta(v, k=0):
    """DiracDelta(v) (and its derivatives) as a number: 0.  Away from v = 0 that is its value; at v = 0 (a kink
    of f', where f'' has no value) 0 is what sign(0) = 0 also gives: the mean of the one-sided values, a sample
    that bisection for a sign change of f'' can use (softsign'' = -2 sign(x)/(1 + |x|)^3 - 2 x DiracDelta(x)...)."""
    return mpmath.mpf(0)


def _heaviside(v, h0=None):
    if v == 0:
        if h0 is None:
            raise ValueError("Heaviside(0) is not defined here")
        return mpmath.mpf(h0)
    return mpmath.mpf(1 if v > 0 else 0)


#: functions SymPy's mpmath printer leaves as names that mpmath does not define
_MPMATH_EXTRA = {"DiracDelta": _dirac_delta, "Heaviside": _heaviside}


def _numeric(expr: sympy.Expr, x: sympy.Symbol):
    fn = sympy.lambdify(x, expr, modules=[_MPMATH_EXTRA, "mpmath"])

    def call(v):
        with mpmath.workdps(DIGITS):
            try:
                return mpmath.mpf(fn(mpmath.mpf(v)))
            except (ZeroDivisionError, TypeError, ValueError, OverflowError):
                # a pole, a complex value (x**x for x < 0), a domain error (log of a negative number)
                raise NotApplicable(f"{expr} is not a finite real number at x = {v}") from None

    return call


def _one_sided(expr, x, c, side):
    """The limit of expr as x -> c from one side, where each piece is continuous up to c."""
    piece = _branch(expr, x, c + side * NEAR)
    try:
        return sympy.nsimplify(run_limited(sympy.limit, LIMIT_BUDGET, piece, x, c, "+" if side > 0 else "-"))
    except (BudgetExceeded, NotImplementedError, TypeError, ValueError):
        return piece.evalf(DIGITS, subs={x: c + side * NEAR})


def _smoothness(f, x, kinks, orders=6) -> int | None:
    if not kinks:
        return None
    k = None
    for order in range(orders):
        d = f.diff(x, order) if order else f
        for c in kinks:
            left, right = _one_sided(d, x, c, -1), _one_sided(d, x, c, 1)
            same = sympy.simplify(left - right) == 0
            if order == 0:
                value = f.subs(x, c)
                same = same and sympy.simplify(left - value) == 0
            if not same:
                return order - 1
        k = order
    return k


def _closed_form(x, approx: mpmath.mpf, vanishing: sympy.Expr):
    """A simple closed form c ~ approx with vanishing(c) = 0 exactly, else None."""
    guess = sympy.nsimplify(sympy.Float(approx, 15), tolerance=1e-12, rational=True)
    if guess.is_Rational and guess.q <= 12:
        value = vanishing.subs(x, guess)
        if sympy.simplify(value) == 0:
            return guess
    return None


def _describe_plateau(grid, values, best, x_kinks) -> str | None:
    """'x > c' when |f'| equals its maximum on a whole half-line of the grid."""
    hits = [n for n, v in enumerate(values) if abs(v - best) <= abs(best) * mpmath.mpf(10) ** (10 - DIGITS)]
    if len(hits) < 2:
        return None
    if len(hits) == len(grid):
        return "every x"
    if hits[-1] == len(grid) - 1 and all(b - a == 1 for a, b in zip(hits, hits[1:], strict=False)):
        edge = grid[hits[0] - 1] if hits[0] > 0 else None
        c = next((k for k in x_kinks if edge is not None and edge <= k <= grid[hits[0]]), None)
        return f"x >= {c}" if c is not None and grid[hits[0]] == c else (f"x > {c}" if c is not None else "x > -oo")
    if hits[0] == 0 and all(b - a == 1 for a, b in zip(hits, hits[1:], strict=False)):
        c = next((k for k in x_kinks if grid[hits[-1]] <= k <= grid[min(hits[-1] + 1, len(grid) - 1)]), None)
        return f"x <= {c}" if c is not None and grid[hits[-1]] == c else (f"x < {c}" if c is not None else "x < +oo")
    return None


def _max_slope(f1, f2, x, slope_minus, slope_plus, kinks) -> Extremum:
    num = _numeric(f1, x)
    values = [abs(num(v)) for v in GRID]
    n = max(range(len(values)), key=values.__getitem__)
    best = values[n]
    ends = [(s, w) for v, w in ((slope_minus, "x -> -oo"), (slope_plus, "x -> +oo")) for s in _ends(v)]
    tails = [(abs(sympy.Float(s, DIGITS)), s, w) for s, w in ends]
    for _mag, s, w in tails:
        if s.is_infinite:
            return Extremum(oo, w, True)
    tails = [(mag, s, w) for mag, s, w in tails if s.is_finite]
    plateau = _describe_plateau(GRID, values, best, kinks)
    if plateau is not None:
        return Extremum(sympy.nsimplify(sympy.Float(best, 20), rational=True), plateau, True)
    for mag, s, w in tails:
        if mag >= best * (1 - mpmath.mpf(10) ** -12):
            return Extremum(abs(s), w, True)
    # an interior maximum of |f'|: a root of f'' near the best grid point
    lo, hi = GRID[max(n - 1, 0)], GRID[min(n + 1, len(GRID) - 1)]
    second = _numeric(f2, x)
    if (second(lo) < 0) != (second(hi) < 0):
        root = _sign_change(second, lo, hi)
    else:
        root = mpmath.mpf(GRID[n])
    exact = _closed_form(x, root, f2)
    if exact is not None:
        return Extremum(sympy.simplify(abs(f1.subs(x, exact))), f"x = {exact}", True)
    value = sympy.Float(abs(num(root)), DIGITS)
    return Extremum(value, f"x = {sympy.Float(root, 4)}", False)


def _sign_change(fn, lo, hi, steps: int = 100) -> mpmath.mpf:
    """Bisection to where ``fn`` changes sign in [lo, hi]: a root, or a jump of f' at a kink."""
    with mpmath.workdps(DIGITS):
        lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
        left = fn(lo) < 0
        for _ in range(steps):
            mid = (lo + hi) / 2
            if (fn(mid) < 0) == left:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2


def _critical(f1, x):
    """Sign changes of f' on the grid, refined: [(x*, kind)] with kind 'min' or 'max'."""
    num = _numeric(f1, x)
    values = [num(v) for v in GRID]
    found = []
    last = None  # the last grid index where f' is not zero
    for n, value in enumerate(values):
        if value == 0:
            continue
        if last is not None and (values[last] < 0) != (value < 0):
            kind = "min" if values[last] < 0 else "max"
            zeros = [GRID[m] for m in range(last + 1, n) if values[m] == 0]
            if zeros:  # f' = 0 exactly on grid points between: the middle one
                found.append((mpmath.mpf(zeros[len(zeros) // 2]), kind))
            else:
                found.append((_sign_change(num, GRID[last], GRID[n]), kind))
        last = n
    return found, values


def _monotonic(f1_values, jumps) -> str:
    pos = any(v > 0 for v in f1_values) or any(j > 0 for j in jumps)
    neg = any(v < 0 for v in f1_values) or any(j < 0 for j in jumps)
    if pos and neg:
        return "not monotonic"
    if not pos and not neg:
        return "constant"
    # f' = 0 on an interval (two neighbouring grid points), not at an isolated point as x^3 at 0
    zero = any(u == 0 and v == 0 for u, v in zip(f1_values, f1_values[1:], strict=False))
    if pos:
        return "non-decreasing" if zero else "increasing"
    return "non-increasing" if zero else "decreasing"


def _sparse(f, x, kinks) -> str:
    for side, sign_ in ((-1, "<"), (1, ">")):
        piece = _branch(f, x, side * FAR)
        if piece == 0 and kinks:
            c = kinks[0] if side < 0 else kinks[-1]
            # the half-line reaches the kink; include the kink when f vanishes there
            eq = "=" if f.subs(x, c) == 0 else ""
            return f"x {sign_}{eq} {c}"
    return ""


def properties(entry: Entry, params: dict | None = None) -> Properties:
    """Derive the properties of an elementwise ``entry`` at its default parameters (or ``params``)."""
    random_inputs = {aux.symbol for aux in entry.aux} & entry.definition.free_symbols
    if entry.kind is not Kind.ELEMENTWISE or random_inputs:
        why = "it depends on an auxiliary input" if random_inputs else f"it is a {entry.kind.value} function"
        raise NotApplicable(f"{entry.name}: properties are derived for deterministic elementwise functions; {why}")
    values = dict(entry.defaults)
    for name, value in (params or {}).items():
        values[entry.param(name).symbol] = sympy.nsimplify(value, rational=True)
    return _properties(entry, tuple(sorted(values.items(), key=lambda kv: kv[0].name)))


@functools.lru_cache(maxsize=128)
def _properties(entry: Entry, values: tuple) -> Properties:
    x = entry.variable
    f = entry.definition.subs(dict(values))
    if f.free_symbols - {x}:
        names = ", ".join(sorted(s.name for s in f.free_symbols - {x}))
        raise NotApplicable(f"{entry.name}: give numbers for {names} to derive properties")
    kinks = tuple(sorted(entry.kinks or find_kinks(f, x), key=float))
    f1 = f.diff(x)
    f2 = f1.diff(x)
    lim_minus, lim_plus = _limit(f, x, -oo), _limit(f, x, oo)
    slope_minus, slope_plus = _limit(f1, x, -oo), _limit(f1, x, oo)
    critical, f1_values = _critical(f1, x)
    jumps = [_one_sided(f, x, c, 1) - _one_sided(f, x, c, -1) for c in kinks]
    monotonic = _monotonic(f1_values, jumps)
    fnum = _numeric(f, x)
    samples = [fnum(v) for v in GRID]
    lows = [r for r, kind in critical if kind == "min"]
    highs = [r for r, kind in critical if kind == "max"]
    minimum = _extremum(min, f, f1, x, lows, kinks)
    maximum = _extremum(max, f, f1, x, highs, kinks)
    infimum = _bound(min, lim_minus, lim_plus, samples, minimum)
    supremum = _bound(max, lim_minus, lim_plus, samples, maximum)
    odd = _is_odd(f, x)
    return Properties(
        name=entry.name,
        params=values,
        limit_minus=lim_minus,
        limit_plus=lim_plus,
        slope_minus=slope_minus,
        slope_plus=slope_plus,
        infimum=infimum,
        supremum=supremum,
        monotonic=monotonic,
        minimum=minimum if monotonic == "not monotonic" else None,
        f_at_zero=sympy.nsimplify(f.subs(x, 0)),
        zero_centred=odd,
        max_slope=_max_slope(f1, f2, x, slope_minus, slope_plus, kinks),
        smoothness=_smoothness(f, x, kinks),
        sparse=_sparse(f, x, kinks),
        values=_finite_values(f, x, kinks),
    )


def _finite_values(f, x, kinks) -> tuple[sympy.Expr, ...] | None:
    """The values of a piecewise-constant f, in increasing order; None where f takes infinitely many.

    Each piece is constant and its region is bounded by kinks, so f at every kink, between each two
    neighbouring kinks and beyond the outermost ones takes every value f takes.
    """
    if not isinstance(f, Piecewise) or any(x in value.free_symbols for value, _ in f.args):
        return None
    ends = [-FAR, *kinks, FAR]
    points = [*kinks, *((lo + hi) / 2 for lo, hi in zip(ends, ends[1:], strict=False))]
    return tuple(sorted({f.subs(x, c) for c in points}, key=lambda v: sympy.Float(v, DIGITS)))


def _extremum(pick, f, f1, x, places, kinks) -> Extremum | None:
    """The lowest (pick=min) or highest (pick=max) of f's local extrema at ``places``, exact where
    the place is a kink or a simple closed form where f' vanishes exactly."""
    if not places:
        return None
    fnum = _numeric(f, x)
    where = pick(places, key=fnum)
    at_kink = [c for c in kinks if abs(where - mpmath.mpf(c)) < mpmath.mpf(10) ** (10 - DIGITS)]
    exact = at_kink[0] if at_kink else _closed_form(x, where, f1)
    if exact is not None:
        return Extremum(sympy.simplify(f.subs(x, exact)), f"x = {exact}", True)
    return Extremum(sympy.Float(fnum(where), DIGITS), f"x = {sympy.Float(where, 4)}", False)


def _ends(value: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """(lowest, highest) of a limit: an AccumBounds (no limit: f oscillates) gives its two ends."""
    if isinstance(value, sympy.AccumBounds):
        return value.min, value.max
    return value, value


def _bound(pick, lim_minus, lim_plus, samples, extremum: Extremum | None) -> Bound:
    """The infimum (pick=min) or supremum (pick=max) and whether a finite x attains it.

    The candidates are the limits at +-oo, the values on the grid and the refined extremum; the
    bound is attained when it is not a limit, or when f equals the limit exactly somewhere.
    """
    tails = [end for v in (lim_minus, lim_plus) for end in _ends(v)]
    infinite = -oo if pick is min else oo
    if any(v == infinite for v in tails):
        return Bound(infinite, False)
    tail = pick(tails, key=lambda v: sympy.Float(v, DIGITS))
    edge = sympy.Float(tail, DIGITS)
    values = [sympy.Float(v, DIGITS) for v in samples]
    if extremum is not None:
        values.append(sympy.Float(extremum.value, DIGITS))
    finite = pick(values)
    tol = mpmath.mpf(10) ** (5 - DIGITS)
    beyond = finite < edge - tol if pick is min else finite > edge + tol
    if beyond:
        if extremum is not None and abs(sympy.Float(extremum.value, DIGITS) - finite) <= tol:
            return Bound(extremum.value, True)
        return Bound(finite, True)
    return Bound(tail, any((v - edge).is_zero for v in values))


def _is_odd(f, x) -> bool:
    from .prove import Space, prove_equal

    outcome = prove_equal(f.subs(x, -x), -f, Space(), budget=5.0)
    return bool(outcome.equal)
