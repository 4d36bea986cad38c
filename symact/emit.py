"""Emission: render every generated kernel module in memory, then write it or check it.

``render(entry)`` returns the text of ``generated/<name>.py`` for one entry; :func:`emit` renders the
requested entries, and either writes them (each through a temporary file and ``os.replace``, after
every file has rendered, so that a failing run leaves the old files intact) or, in check mode,
compares them with the disk and reports stale, missing and extra files.

Elementwise modules are written from the entry's compute forms: the definition and its derivative
after :func:`symact.rewrites.stabilise`, printed by :class:`symact.printer.KernelPrinter`, with
special values (nan, +-inf as the symbolic limits) handled before the formula.  Vector entries and
losses use the row kernels of :mod:`symact.kernel_templates`, whose per-element terms are printed
from the stabilised loss and gradient in the same way.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from . import kernel_templates as T
from .budget import BudgetExceeded, run_limited
from .catalog import Entry, Kind
from .catalog.symbols import x, y
from .functions import NamedFunction, recognise
from .printer import helper_name, kernel_code
from .rewrites import PRIMITIVES, W, combine_by_sign, stabilise
from .roots import RootPatch, root_patches

__all__ = ["Forms", "elementwise_forms", "render", "render_all", "emit", "EmitReport", "DEFAULT_DIR"]

DEFAULT_DIR = "generated"
LIMIT_BUDGET = 5.0  #: seconds for each symbolic limit at +-inf


@dataclass(frozen=True)
class Forms:
    """The compute forms of an elementwise entry (each proved equal to its source by the tests)."""

    forward: sympy.Expr
    derivative: sympy.Expr
    output: sympy.Expr | None  #: f' in terms of y, stabilised; None where no output form exists
    raw_derivative: sympy.Expr
    aux: tuple[sympy.Symbol, ...]  #: auxiliary inputs the definition uses (dropout's mask)
    params: tuple[tuple[str, float], ...]  #: (name, default)
    patches: tuple[RootPatch, ...] = field(default=())  #: root-centred forms of the derivative


@functools.lru_cache(maxsize=64)
def elementwise_forms(entry: Entry) -> Forms:
    """Stabilised forward, derivative and output forms of an elementwise entry."""
    from .derive import derive

    derivation = derive(entry)
    first = derivation.gradient("first")
    forward = stabilise(entry.definition)
    derivative = combine_by_sign(stabilise(sympy.diff(recognise(entry.definition), entry.variable)), entry.variable)
    output = stabilise(first.output.expr) if first.output is not None else None
    aux = tuple(a.symbol for a in entry.aux if a.symbol in entry.definition.free_symbols)
    params = tuple((T.keyword(p), float(p.default)) for p in entry.params)
    renames = {p.symbol: sympy.Symbol(T.keyword(p)) for p in entry.params if T.keyword(p) != p.name}
    if renames:
        forward, derivative = forward.xreplace(renames), derivative.xreplace(renames)
        output = output.xreplace(renames) if output is not None else None
    patches = root_patches(entry, first.raw)
    return Forms(forward, derivative, output, first.raw, aux, params, patches)


def _limit(expr: sympy.Expr, var: sympy.Symbol, direction) -> sympy.Expr | None:
    """lim expr as var -> direction (+-oo), or None when SymPy cannot find a finite or infinite value.

    A Piecewise is followed into the branch whose condition holds for |var| large."""
    if isinstance(expr, sympy.Piecewise):
        far = sympy.Integer(10**9) * (1 if direction is sympy.oo else -1)
        for value, condition in expr.args:
            holds = condition.subs(var, far)
            if holds is sympy.true:
                return _limit(value, var, direction)
            if holds is not sympy.false:
                return None
        return None
    try:
        value = run_limited(sympy.limit, LIMIT_BUDGET, expand_for_limit(expr), var, direction)
    except (BudgetExceeded, Exception):
        return None
    if value is None or value.has(sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.Limit):
        return None
    if value.free_symbols - {s for s in expr.free_symbols if s != var}:
        return None
    return value


def expand_for_limit(expr: sympy.Expr) -> sympy.Expr:
    """Named functions and codegen functions in plain exp/log, which ``sympy.limit`` understands."""
    from .rewrites import to_plain

    return to_plain(expr)


#: helpers that evaluate their PRIMITIVES rule with an error-free transformation: the rounding error
#: of 1 + exp(-|x|) is recovered exactly (Fast2Sum) and corrected for, which takes sigma from about
#: 1.5 ulp to about 1.  The maths is the proved rule (sigma by the sign of x); only the rounding differs.
_COMPENSATED = {
    "sigmoid": (
        "    t = math.exp(-abs(x))\n"
        "    s = 1.0 + t\n"
        "    err = (1.0 - s) + t  # 1 + t = s + err exactly\n"
        "    q = (1.0 if x >= 0.0 else t) / s\n"
        "    return q - q * (err / s)\n"
    ),
}


def _helpers_for(*exprs: sympy.Expr) -> str:
    """Source of the helper functions (sigma, softplus) the expressions call, in a fixed order."""
    used: set[type] = set()
    for e in exprs:
        if e is not None:
            used |= {type(f) for f in e.atoms(NamedFunction)}
    # softplus' helper calls nothing else; keep a fixed order for byte-stable output
    parts = []
    for function, rule in sorted(PRIMITIVES.items(), key=lambda kv: kv[0].__name__):
        if function not in used:
            continue
        body = _COMPENSATED.get(function.__name__) or f"    return {kernel_code(rule.replacement.xreplace({W: x}))}\n"
        parts.append(
            f'@numba.njit(cache=True)\ndef {helper_name(function)}(x):\n    """{rule.name}: {rule.reason}."""\n{body}'
        )
    return "\n\n".join(parts)


def _scalar_function(
    name: str, expr: sympy.Expr, args: Sequence[str], var: sympy.Symbol, guards: bool, patches=(), binary=()
):
    """An njit scalar function: nan and +-inf guards, then root patches, then the compute form.

    ``binary`` are 0/1 auxiliary inputs (dropout's mask): where the limit depends on one, it is taken
    for each value (m x / keep_prob at x = inf is inf where m = 1 and 0 where m = 0, not 0 * inf).
    """
    lines = ["@numba.njit(cache=True)", f"def {name}({', '.join(args)}):"]
    if var in expr.free_symbols or patches:
        lines += [f"    if {var} != {var}:", f"        return {var}"]
        if guards:
            for direction, test in ((sympy.oo, f"{var} == math.inf"), (-sympy.oo, f"{var} == -math.inf")):
                value = _limit(expr, var, direction)
                if binary and (value is None or value.free_symbols & set(binary)):
                    value = _limit_by_flag(expr, var, direction, binary[0])
                    code = value
                elif value is not None:
                    code = _value_code(value)
                if value is not None:
                    lines += [f"    if {test}:", f"        return {code}"]
    for patch in patches:
        lines += patch.code(var.name)
    lines.append(f"    return {kernel_code(expr)}")
    return "\n".join(lines) + "\n"


def _limit_by_flag(expr, var, direction, flag) -> str | None:
    """Code for the limit of ``expr`` taken separately for ``flag`` = 0 and 1, or None."""
    zero = _limit(expr.subs(flag, 0), var, direction)
    one = _limit(expr.subs(flag, 1), var, direction)
    if zero is None or one is None:
        return None
    return f"({_value_code(one)} if {flag} != 0.0 else {_value_code(zero)})"


def _value_code(value: sympy.Expr) -> str:
    if value is sympy.oo:
        return "math.inf"
    if value is -sympy.oo:
        return "-math.inf"
    return kernel_code(value)


def _render_elementwise(entry: Entry, command: str) -> str:
    forms = elementwise_forms(entry)
    pnames = [p for p, _ in forms.params]
    aux = [a.name for a in forms.aux]
    scalar_args = ["x", *aux, *pnames]
    out_args = ["y", *aux, *pnames]
    ftypes_in = 1 + len(aux)

    def sigs(n_arrays: int) -> str:
        return repr([f"{t}({', '.join([t] * n_arrays + ['float64'] * len(pnames))})" for t in ("float32", "float64")])

    code = [T.header(entry, command, _forms_doc(forms)), T.ELEMENTWISE_PRELUDE]
    code.append(f"PARAMS = {dict(forms.params)!r}\n")
    helpers = _helpers_for(forms.forward, forms.derivative, forms.output)
    if helpers:
        code.append(helpers)
    binary = [a.symbol for a in entry.aux if a.domain == "binary" and a.symbol in forms.aux]
    forward = _scalar_function("_forward_scalar", forms.forward, scalar_args, x, True, (), binary)
    derivative = _scalar_function("_derivative_scalar", forms.derivative, scalar_args, x, True, forms.patches, binary)
    if entry.name in T.DD_FORMS:  # the finite case in double-double; special values and root patches stay
        source, f_helper, d_helper = T.DD_FORMS[entry.name]
        code.append(source.strip("\n"))
        forward = _last_return(forward, f_helper)
        if d_helper is not None:
            derivative = _last_return(derivative, d_helper)
    code.append(forward)
    code.append(derivative)
    if forms.output is not None:
        code.append(_scalar_function("_from_output_scalar", forms.output, out_args, y, False))
    fl = lambda names: ", ".join(f"np.float64({n})" for n in names)  # noqa: E731
    pass_p = ", ".join(pnames)
    tail = f", {pass_p}" if pnames else ""
    code.append(
        f"@numba.vectorize({sigs(ftypes_in)}, cache=True)\n"
        f"def _forward_ufunc({', '.join(scalar_args)}):\n"
        f"    return _forward_scalar({fl(['x', *aux])}{tail})\n"
    )
    code.append(
        f"@numba.vectorize({sigs(ftypes_in)}, cache=True)\n"
        f"def _derivative_ufunc({', '.join(scalar_args)}):\n"
        f"    return _derivative_scalar({fl(['x', *aux])}{tail})\n"
    )
    code.append(
        f"@numba.vectorize({sigs(ftypes_in + 1)}, cache=True)\n"
        f"def _vjp_ufunc({', '.join(['x', 'g', *aux, *pnames])}):\n"
        f"    return np.float64(g) * _derivative_scalar({fl(['x', *aux])}{tail})\n"
    )
    if forms.output is not None:
        code.append(
            f"@numba.vectorize({sigs(ftypes_in + 1)}, cache=True)\n"
            f"def _vjp_from_output_ufunc({', '.join(['y', 'g', *aux, *pnames])}):\n"
            f"    return np.float64(g) * _from_output_scalar({fl(['y', *aux])}{tail})\n"
        )
    kw = "".join(f", {p}={d!r}" for p, d in forms.params)
    aux_sig = "".join(f", {a}" for a in aux)
    aux_chk = "".join(f" _floats({a}, {a!r})," for a in aux)
    pvals = f"({', '.join(f'_param({p}, {p!r})' for p in pnames)}{',' if len(pnames) == 1 else ''})"
    summary = entry.summary
    code.append(
        f"def forward(x{aux_sig}, *{kw}, out=None):\n"
        f'    """{summary} Elementwise, for any shape; float32 stays float32."""\n'
        f"    return _call(_forward_ufunc, (_floats(x, 'x'),{aux_chk}), {pvals}, out)\n"
    )
    code.append(
        f"def derivative(x{aux_sig}, *{kw}, out=None):\n"
        f'    """The derivative f\'(x), elementwise."""\n'
        f"    return _call(_derivative_ufunc, (_floats(x, 'x'),{aux_chk}), {pvals}, out)\n"
    )
    code.append(
        f"def vjp(x, g{aux_sig}, *{kw}, out=None):\n"
        f'    """The vector-Jacobian product g * f\'(x), elementwise with broadcasting."""\n'
        f"    return _call(_vjp_ufunc, (_floats(x, 'x'), _floats(g, 'g'),{aux_chk}), {pvals}, out)\n"
    )
    if forms.output is not None:
        code.append(
            f"def vjp_from_output(y, g{aux_sig}, *{kw}, out=None):\n"
            f'    """g * f\'(x) computed from the output y = f(x): {sympy.sstr(forms.output)}."""\n'
            f"    return _call(_vjp_from_output_ufunc, (_floats(y, 'y'), _floats(g, 'g'),{aux_chk}), {pvals}, out)\n"
        )
    return "\n\n".join(code)


def _last_return(function: str, helper: str) -> str:
    """``function``'s text with its final return (the general case) calling ``helper(x)`` instead."""
    head, _, _ = function.rstrip("\n").rpartition("\n")
    return f"{head}\n    return {helper}(x)\n"


def _forms_doc(forms: Forms) -> list[tuple[str, str]]:
    rows = [("forward", sympy.sstr(forms.forward)), ("derivative", sympy.sstr(forms.derivative))]
    if forms.output is not None:
        rows.append(("from output y", sympy.sstr(forms.output)))
    for patch in forms.patches:
        rows.append(("near a zero of f'", patch.describe()))
    return rows


def render(entry: Entry, command: str | None = None) -> str:
    """The text of the generated module for ``entry``."""
    command = command or f"symact generate {entry.name}"
    if entry.kind is Kind.ELEMENTWISE:
        text = _render_elementwise(entry, command)
    else:
        text = T.render_template(entry, command)
    return text.rstrip("\n") + "\n"


def render_all(entries: Iterable[Entry], command: str | None = None) -> dict[str, str]:
    """File name -> text for each entry, all rendered before anything is written."""
    return {f"{e.name}.py": render(e, command) for e in entries}


@dataclass(frozen=True)
class EmitReport:
    """What :func:`emit` did or found: file names written, or stale / missing / extra in check mode."""

    written: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def emit(
    files: dict[str, str], directory: str | os.PathLike = DEFAULT_DIR, *, check: bool = False, complete: bool = True
) -> EmitReport:
    """Write ``files`` (name -> text) into ``directory``, or with ``check`` compare them with it.

    ``complete`` says that ``files`` is every module that belongs in the directory, so that any
    other ``*.py`` there is reported as extra.
    """
    directory = Path(directory)
    if check:
        stale, missing = [], []
        for name, text in sorted(files.items()):
            path = directory / name
            if not path.exists():
                missing.append(name)
            elif path.read_text(encoding="utf-8") != text:
                stale.append(name)
        extra = []
        if complete and directory.is_dir():
            extra = sorted(p.name for p in directory.glob("*.py") if p.name not in files)
        return EmitReport(stale=tuple(stale), missing=tuple(missing), extra=tuple(extra))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = directory / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        _write_atomic(path, text)
        written.append(name)
    return EmitReport(written=tuple(written))
