"""Verify a hand-derived formula: a proof that two expressions are equal, or a counterexample.

:func:`verify` reads both sides with the safe parsers (:func:`symact.parse.parse_sympy`, or
:func:`symact.latex.parse_latex`), then asks :func:`symact.prove.prove_equal` for a symbolic proof
and, failing one, for 50-digit evidence at points on both sides of every kink, at large |x| and at
several values of every parameter.  The semantics:

* sides that differ only on a set of measure zero (a derivative's value at a kink) are equal; the
  note names the points and both values there;
* a claim that holds only for some parameter values (only for alpha = 1) is not equal, and the
  counterexample names the parameter values;
* near misses are caught: two values count as equal only when they share 35 digits, and a
  difference that is a nonzero rational function (``x + 1e-60`` against ``x``) or a constant ratio
  (``exp(x)*(1 + 1e-50)`` against ``exp(x)``) is found symbolically, below those digits;
* numeric evidence needs at least :data:`MIN_POINTS` agreeing points;
* a difference found at 50 digits is evaluated again at 100 to 800 digits before it counts: where
  the sides agree there, the digits were lost to cancellation; where the values do not settle, the
  answer is :class:`Undecided` with the point and the reason; a counterexample holds numbers only;
* LaTeX sides are read together (:func:`symact.latex.read_latex_claim`): how text that could be
  read more than one way was read is in :attr:`Verdict.readings`;
* a claim about a general vector size n is tried at n = 2 first, then 1, 3, 4;
* ``assume`` restricts the claim: ``x>=0``, ``0<y<1``, ``alpha=1``, ``Sum(y[k], (k, 0, n - 1)) = 1``;
* everything (parsing included) runs in a forked process that is killed at the time limit, so a
  hostile formula gets a verdict or :class:`Undecided` (exit 2) within :data:`LIMIT` seconds;
* :func:`symact.batch.verify_batch` grades many claims (JSON Lines, ``symact verify --batch``), each in the same way.

>>> v = verify("diff(sigmoid(x), x)", "sigmoid(x)*(1 - sigmoid(x))")
>>> v.equal, v.method
(True, 'symbolic')
>>> v = verify("(1 - exp(-x))/(1 + exp(-x))", "tanh(x)")
>>> v.equal, v.counterexample["point"]
(False, {'x': '0.001'})
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sympy

from ._callable import make_callable
from .errors import InputError, ParseError, SymactError

__all__ = ["LIMIT", "Verdict", "Undecided", "verify", "verify_command", "parse_assumption"]

MIN_POINTS = 6  #: the fewest agreeing sample points that count as numeric evidence of equality
LIMIT = 8.0  #: seconds for the whole verification, parsing included (the issue allows 10, start-up included)


class Undecided(SymactError):
    """Neither a proof nor a counterexample was found within the time limit."""


@dataclass(frozen=True)
class Verdict:
    """The answer: equal (with the method and evidence) or not equal (with a counterexample).

    ``counterexample`` is ``{"point": {name: value}, "parameters": {name: value}, "lhs": value,
    "rhs": value}`` with values as decimal strings at high precision, or None when equal.
    """

    equal: bool
    method: str  #: "symbolic", "numeric" or "counterexample"
    lhs: str
    rhs: str
    note: str = ""
    counterexample: dict | None = None
    points: int = 0
    digits: int = 0
    seconds: float = field(default=0.0, compare=False)
    #: how text that could be read more than one way was read (LaTeX: \sigma used as a value, a word as a function)
    readings: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The dictionary ``symact verify --json`` prints."""
        return {
            "equal": self.equal,
            "method": self.method,
            "counterexample": self.counterexample,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "note": self.note,
            "readings": list(self.readings),
        }


# --------------------------------------------------------------------------------------------
# assumptions


def parse_assumption(text: str, namespace: Mapping[str, object] | None = None):
    """Read ``--assume``: ``alpha>0``, ``x>=0``, ``x<0``, ``0<y<1``, ``alpha=1``, or a sum identity
    ``Sum(y[k], (k, 0, n - 1)) = 1``.

    Returns ``(name, kind, value)`` with kind one of ``positive``, ``nonnegative``, ``negative``,
    ``nonpositive``, ``unit``, ``value`` (value is the number) or ``sum`` (value is the pair of
    expressions); value is None for the others.

    >>> parse_assumption("alpha > 0")
    ('alpha', 'positive', None)
    >>> parse_assumption("alpha = 1/2")
    ('alpha', 'value', 1/2)
    """
    import ast

    from .parse import parse_sympy

    body = text.strip()
    if "==" not in body and body.count("=") == 1 and not any(op in body for op in ("<=", ">=", "!=")):
        body = body.replace("=", "==")
    try:
        tree = ast.parse(body, mode="eval").body
    except SyntaxError:
        raise InputError(f"cannot read the assumption {text!r}: write alpha>0, x>=0, 0<y<1 or alpha=1") from None
    if not isinstance(tree, ast.Compare):
        raise InputError(f"the assumption {text!r} is not a comparison: write alpha>0, x>=0, 0<y<1 or alpha=1")
    if len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq) and isinstance(tree.left, ast.Call):
        # a sum identity: Sum(y[k], (k, 0, n - 1)) = 1 (soft labels)
        left = parse_sympy(ast.unparse(tree.left), namespace)
        right = parse_sympy(ast.unparse(tree.comparators[0]), namespace)
        if not isinstance(left, sympy.Sum):
            raise InputError("an identity assumption must have a Sum on its left, as in Sum(y[k], (k, 0, n - 1)) = 1")
        return sympy.sstr(left), "sum", (left, right)
    terms = [tree.left, *tree.comparators]
    ops = [type(op) for op in tree.ops]
    names = [t.id for t in terms if isinstance(t, ast.Name)]
    if len(names) != 1:
        raise InputError(f"the assumption {text!r} must name exactly one symbol")
    name = names[0]
    others = [ast.unparse(t) for t in terms if not (isinstance(t, ast.Name) and t.id == name)]
    values = [parse_sympy(o, namespace) for o in others]
    if not all(v.is_number and v.is_real for v in values):
        raise InputError(f"the assumption {text!r} must compare {name} with numbers")
    if len(terms) == 3:  # 0 < y < 1
        if terms[1] is not next(t for t in terms if isinstance(t, ast.Name)) or values != [0, 1]:
            raise InputError(f"a range assumption must read 0<{name}<1")
        if not all(op in (ast.Lt, ast.LtE) for op in ops):
            raise InputError(f"a range assumption must read 0<{name}<1")
        return name, "unit", None
    (op,), (value,) = ops, values
    flipped = not isinstance(terms[0], ast.Name)
    if op is ast.Eq:
        return name, "value", value
    if value != 0:
        raise InputError(f"inequality assumptions compare with 0 ({name}>0, {name}>=0, ...), not {value}")
    if flipped:
        op = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}.get(op, op)
    kinds = {ast.Gt: "positive", ast.GtE: "nonnegative", ast.Lt: "negative", ast.LtE: "nonpositive"}
    if op not in kinds:
        raise InputError(f"cannot use the assumption {text!r}")
    return name, kinds[op], None


_ASSUMPTION_SYMBOLS = {
    "positive": {"positive": True},
    "nonnegative": {"nonnegative": True, "real": True},
    "negative": {"negative": True},
    "nonpositive": {"nonpositive": True, "real": True},
    "unit": {"positive": True},
}


# --------------------------------------------------------------------------------------------
# the work (run in a forked process)


def _read(sides, latex: bool, namespace: Mapping[str, object]):
    """Both sides as expressions, and the notes on how their LaTeX was read (read together: a \\sigma used as a
    value on one side takes its argument from the \\sigma(y) on the other)."""
    if latex:
        from .latex import read_latex_claim

        texts = [t for t in sides if not isinstance(t, sympy.Expr)]
        given = tuple(t for t in sides if isinstance(t, sympy.Expr))
        readings = iter(read_latex_claim(texts, namespace, context=given)) if texts else iter(())
        exprs, notes = [], []
        for side, label in zip(sides, ("lhs", "rhs"), strict=True):
            if isinstance(side, sympy.Expr):  # from Python: already an expression
                exprs.append(side)
                continue
            reading = next(readings)
            exprs.append(reading.expr)
            notes.extend(f"{label}: {note}" for note in reading.notes)
        return exprs, tuple(notes)
    from .parse import parse_sympy

    return [t if isinstance(t, sympy.Expr) else parse_sympy(t, namespace) for t in sides], ()


def _unify(lhs, rhs):
    """One symbol per name across both sides: each side is read alone, so ``n`` bounding a Sum on the
    left (a positive integer) and ``n`` on the right (a plain real) must become the same symbol."""
    by_name: dict[str, set] = {}
    for e in (lhs, rhs):
        for s in e.free_symbols:
            if isinstance(s, sympy.Symbol):
                by_name.setdefault(s.name, set()).add(s)
    mapping = {}
    for name, symbols in by_name.items():
        if len(symbols) > 1:
            plain = sympy.Symbol(name, real=True)
            special = sorted((s for s in symbols if s != plain), key=sympy.default_sort_key)
            if len(special) == 1:  # a role (index, size) or an assumption on one side only: use it on both
                mapping[plain] = special[0]
    return (lhs.xreplace(mapping), rhs.xreplace(mapping)) if mapping else (lhs, rhs)


def _index_space(exprs):
    """Index ranges for indexed claims: each free or summed index gets the size symbol that bounds it."""
    from .parse import _size_symbol

    sums = [s for e in exprs for s in e.atoms(sympy.Sum)]
    bound: dict = {}
    for s in sums:
        for var, _lo, hi in s.limits:
            sizes = [f for f in hi.free_symbols if f.is_integer and f.is_positive]
            if sizes:
                bound[var] = sizes[0]
    # a free index takes the size of a summed index that sits at the same axis of the same vector
    axis_size: dict = {}
    for e in exprs:
        for ix in e.atoms(sympy.Indexed):
            for axis, index in enumerate(ix.indices):
                if index in bound:
                    axis_size.setdefault((ix.base, axis), bound[index])
    indices = {
        s
        for e in exprs
        for s in e.free_symbols
        if isinstance(s, sympy.Symbol) and s.is_integer and s.is_nonnegative and not s.is_positive
    }
    sizes = {s for e in exprs for s in e.free_symbols if isinstance(s, sympy.Symbol) and s.is_integer and s.is_positive}
    default = sorted(sizes, key=sympy.default_sort_key)[0] if sizes else _size_symbol("n")
    ranges = dict(bound)
    for e in exprs:
        for ix in e.atoms(sympy.Indexed):
            for axis, index in enumerate(ix.indices):
                if index in indices and index not in ranges:
                    ranges[index] = axis_size.get((ix.base, axis), default)
    for index in indices:
        ranges.setdefault(index, default)
    return ranges


def _kinks(exprs, variables):
    from .prove import find_kinks

    kinks = {}
    for v in variables:
        found = set()
        for e in exprs:
            try:
                found |= set(find_kinks(e, v))
            except Exception:  # a condition SymPy cannot solve linearly: no kink recorded
                continue
        if found:
            kinks[v] = tuple(sorted(found, key=sympy.default_sort_key))
    return kinks


def _at_kinks(lhs, rhs, kinks, params) -> list[str]:
    """Where the sides differ exactly at a kink (a set of measure zero): 'x = 0 (lhs 0, rhs 1/2)'.

    Each kink is tried with the parameters at their defaults and then with the other symbols at a few values
    (ELU' against {1 for x >= 0; f + alpha}: equal at x = 0 only for alpha = 1, the default)."""
    from .budget import run_limited
    from .functions import expand_named
    from .prove import _agree, _is_number, _show, evaluate

    found = []
    defaults = {p: (vals[0] if vals else sympy.Rational(37, 100)) for p, vals in params.items()}
    plain = (expand_named(lhs), expand_named(rhs))
    for var, points in kinks.items():
        others = sorted(
            {
                s
                for e in plain
                for s in e.free_symbols
                if isinstance(s, sympy.Symbol) and s != var and not s.is_integer and s not in defaults
            },
            key=sympy.default_sort_key,
        )
        trials = [dict(defaults)]
        for value in (sympy.Rational(19, 10), sympy.Rational(37, 100)):
            trials.append({**{p: value for p in defaults}, **{s: value for s in others}})
        for point in points:
            for trial in trials:
                subs = {**{p: v for p, v in trial.items() if p != var}, var: point.subs(trial)}
                try:
                    left = run_limited(evaluate, 1.0, plain[0].subs(subs), {})
                    right = run_limited(evaluate, 1.0, plain[1].subs(subs), {})
                except Exception:  # too slow, or undefined there: nothing to say about this point
                    continue
                if not (_is_number(left) and _is_number(right)):
                    continue  # other variables left: the kink is a line, not a point, and was sampled around
                if _agree(left, right):
                    continue
                if trial is trials[0]:  # the defaults: named only where the kink moves with them (x = alpha)
                    fixed = sorted(getattr(point, "free_symbols", set()) & set(trial), key=str)
                else:
                    fixed = sorted(set(trial) - {var}, key=str)
                where = f"{var} = {point if fixed else _show(subs[var])}"
                if fixed:
                    where += " (" + ", ".join(f"{p} = {_show(trial[p])}" for p in fixed) + ")"
                found.append(f"{where} (lhs {_show(left)}, rhs {_show(right)})")
                break
    return found


def _scalar_and_vector(lhs, rhs) -> str:
    """A message when one name is both a scalar (x) and the base of a vector (x_i): its samples could not be
    numbers (the scalar would stay a symbol in a counterexample); empty otherwise."""
    for e in (lhs, rhs, lhs + rhs):
        labels = {ix.base.label for ix in e.atoms(sympy.Indexed)}
        if not labels:
            continue
        bare = e.xreplace({ix: sympy.Dummy() for ix in e.atoms(sympy.Indexed)}).free_symbols
        both = sorted(s.name for s in labels if any(b.name == s.name for b in bare))
        if both:
            name = both[0]
            return (
                f"{name} is both a scalar ({name}) and a vector ({name}_i or {name}[i]) in this claim: "
                "rename one of them"
            )
    return ""


#: vector sizes tried for a claim about a general n: 2 first, so that a claim wrong for every n is refuted at a
#: realistic size rather than at the degenerate n = 1, which comes next
SIZES = (2, 1, 3, 4)

MEMORY = 3 << 30  #: bytes the worker may allocate beyond what it holds when it starts


def _cap_memory() -> None:
    """Limit the forked worker's address space, so that a formula that explodes in size
    ((x + 2)**10**5 expanded) fails with MemoryError instead of taking the machine's memory."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = size + MEMORY
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft == resource.RLIM_INFINITY or soft > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):  # not Linux: the time limit still holds
        pass


def _catalog_params() -> dict:
    from .catalog import entries

    return {p.symbol: (p.default,) for e in entries() for p in e.params}


def _work(lhs_text, rhs_text, latex, var, assume, budget):
    """Parse and prove; return a Verdict or ('error', kind, message, position) (errors pickle badly)."""
    from .parse import _default_namespace
    from .prove import Space, prove_equal

    start = time.monotonic()
    _cap_memory()
    try:
        namespace = dict(_default_namespace())
        rules = [parse_assumption(a, namespace) for a in assume]
        values = {}
        for name, kind, value in rules:
            if kind == "value":
                values[name] = value
            elif kind != "sum":
                namespace[name] = sympy.Symbol(name, **_ASSUMPTION_SYMBOLS[kind])
        (lhs, rhs), readings = _read((lhs_text, rhs_text), latex, namespace)
        lhs, rhs = _unify(lhs, rhs)
        if values:
            subs = {s: values[s.name] for e in (lhs, rhs) for s in e.free_symbols if s.name in values}
            lhs, rhs = lhs.subs(subs), rhs.subs(subs)
    except (ParseError, InputError) as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "position", None))

    clash = _scalar_and_vector(lhs, rhs)
    if clash:
        return ("error", "InputError", clash, None)
    symbols = {s for e in (lhs, rhs) for s in e.free_symbols if isinstance(s, sympy.Symbol)}
    if var is not None and not any(s.name == var for s in symbols):
        return ("error", "InputError", f"--var {var}: neither side mentions {var}", None)
    # assumed ranges: positive variables (not catalog parameters) and 0<y<1 are sampled from their domain
    domains = {
        s: "unit" if kind == "unit" else "positive"
        for name, kind, _ in rules
        for s in symbols
        if s.name == name and kind in ("unit", "positive") and not any(p.name == name for p in _catalog_params())
    }
    identities = tuple(value for _, kind, value in rules if kind == "sum")
    for total, value in identities:  # sum_k y_k = 1 over a vector: sample y on the simplex
        if value == 1 and isinstance(total.function, sympy.Indexed):
            domains[total.function.base] = "simplex"
    catalog_params = _catalog_params()
    params = {s: catalog_params.get(s, ()) for s in symbols if s.is_positive and not s.is_integer and s not in domains}
    reals = sorted((s for s in symbols if not s.is_positive and not s.is_integer), key=sympy.default_sort_key)
    if var is not None:
        reals = [s for s in reals if s.name == var] or reals
    kinks = _kinks((lhs, rhs), reals)
    indexed = any(e.has(sympy.Indexed) or e.has(sympy.Sum) or e.has(sympy.KroneckerDelta) for e in (lhs, rhs))
    space = Space(
        kinks=kinks,
        params=params,
        domains=domains,
        index_ranges=_index_space((lhs, rhs)) if indexed else {},
        assumptions=identities,
        sizes=SIZES,
    )
    left = budget - (time.monotonic() - start)
    left = round(max(left, 0.5), 1)
    outcome = prove_equal(lhs, rhs, space, budget=left, symbolic_budget=min(3.0, left / 2))
    shown = (sympy.sstr(lhs), sympy.sstr(rhs))
    seconds = time.monotonic() - start
    if outcome.equal is None:
        return ("error", "Undecided", outcome.note or "neither a proof nor a counterexample was found", None)
    if outcome.equal and outcome.proof.method == "numeric" and outcome.proof.points < MIN_POINTS:
        return ("error", "Undecided", f"only {outcome.proof.points} sample points could be evaluated: too few", None)
    if outcome.equal:
        proof = outcome.proof
        notes = [proof.detail]
        differ = _at_kinks(lhs, rhs, kinks, params)
        if differ:
            notes.append(
                "the sides differ only on a set of measure zero, at " + "; ".join(differ) + ": equal almost everywhere"
            )
        if outcome.note:
            notes.append(outcome.note)
        return Verdict(
            True, proof.method, *shown, "; ".join(notes), None, proof.points, proof.digits, seconds, readings
        )
    counter = outcome.counterexample
    param_names = {str(p) for p in params}
    example = {
        "point": dict(counter.point),
        "parameters": {k: v for k, v in counter.point.items() if k in param_names},
        "lhs": counter.lhs,
        "rhs": counter.rhs,
    }
    where = ", ".join(f"{k} = {v}" for k, v in counter.point.items())
    note = f"the sides differ{' at ' + where if where else ''}: lhs = {counter.lhs}, rhs = {counter.rhs}"
    if example["parameters"]:
        note += " (the claim fails for these parameter values)"
    if outcome.note:
        note += f"; {outcome.note}"
    return Verdict(False, "counterexample", *shown, note, example, 0, 0, seconds, readings)


# --------------------------------------------------------------------------------------------


def verify(
    lhs: str | sympy.Expr,
    rhs: str | sympy.Expr,
    *,
    latex: bool = False,
    var: str | None = None,
    assume: Iterable[str] = (),
    limit: float = LIMIT,
) -> Verdict:
    """Decide whether the formulas ``lhs`` and ``rhs`` are equal.

    Each side is a string (SymPy syntax, or LaTeX with ``latex=True``) or a SymPy expression.
    ``var`` names the variable whose kinks are sampled (default: every real symbol); ``assume``
    holds assumptions such as ``"alpha>0"``, ``"x>=0"``, ``"0<y<1"`` or ``"alpha=1"``.

    Returns a :class:`Verdict`.  Raises :class:`~symact.errors.ParseError` or
    :class:`~symact.errors.InputError` for unusable input and :class:`Undecided` when the limit
    passes without an answer; nothing else, and never later than ``limit`` seconds (plus the
    time to start a process).
    """
    from .budget import BudgetExceeded, run_limited

    for side in (lhs, rhs):
        if not isinstance(side, (str, sympy.Expr)):
            raise InputError(f"a formula must be a string or a SymPy expression, not {type(side).__name__}")
    assume = tuple(assume)
    start = time.monotonic()
    if latex:  # build the grammar here, once, so that each forked worker inherits it
        from .latex import _parser

        _parser()
    try:
        result = run_limited(_work, limit, lhs, rhs, latex, var, assume, limit - 1.0, isolate=True)
    except BudgetExceeded:
        raise Undecided(f"no verdict within {limit:g} s (the formula is too expensive to evaluate)") from None
    except RecursionError:
        raise ParseError("the formula is nested too deeply") from None
    except SymactError:
        raise
    except MemoryError:
        raise Undecided(f"the formula needs more than {MEMORY >> 30} GiB of memory to verify") from None
    except Exception as exc:  # a failure inside SymPy on a strange input: say so, in one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise Undecided(
            f"the verifier could not handle this input ({type(exc).__name__}: {first}); "
            "simplify the formula or write it in SymPy syntax"
        ) from None
    if isinstance(result, tuple):
        _, kind, message, position = result
        if kind == "ParseError":
            error = ParseError("", position)
            error.args = (message,)
            raise error
        if kind == "InputError":
            raise InputError(message)
        raise Undecided(message)
    return _replace_seconds(result, time.monotonic() - start)


def verify_command(
    lhs: str,
    rhs: str,
    *,
    latex: bool = False,
    var: str | None = None,
    assume: Iterable[str] = (),
    limit: float = LIMIT,
    fix: str = "drop --latex",
) -> Verdict:
    """:func:`verify`, with the hint ``symact verify`` adds to a LaTeX parse error of SymPy syntax (``fix``: how
    to read the sides as SymPy); ``symact verify --batch`` grades each of its claims through this too."""
    try:
        return verify(lhs, rhs, latex=latex, var=var, assume=assume, limit=limit)
    except ParseError as exc:
        if latex and _sympy_not_latex(lhs, rhs):
            raise InputError(f"{exc}; this looks like SymPy syntax: {fix}") from None
        raise


SYNTAX_SECONDS = 8.0  #: how long telling SymPy syntax from LaTeX may take (an error path only)


def _sympy_not_latex(*sides: str) -> bool:
    """Whether a side that LaTeX does not read is SymPy syntax, read with the safe parsers (no eval) in
    a worker process under a time limit."""
    from .budget import BudgetExceeded, run_limited

    try:
        return bool(run_limited(_any_sympy_not_latex, SYNTAX_SECONDS, sides, isolate=True))
    except BudgetExceeded:
        return False
    except Exception:  # only a hint: an unexpected failure leaves the parse error as it was
        return False


def _any_sympy_not_latex(sides) -> bool:
    from .latex import parse_latex
    from .parse import parse_sympy

    for side in sides:
        try:
            parse_latex(side)
            continue
        except ParseError:
            pass
        try:
            parse_sympy(side)
            return True
        except ParseError:
            pass
    return False


def _replace_seconds(verdict: Verdict, seconds: float) -> Verdict:
    from dataclasses import replace

    return replace(verdict, seconds=seconds)


make_callable(__name__, verify)
