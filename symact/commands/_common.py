"""What several subcommands share: ``--param`` values, a user expression's name and free symbols,
and the paths a command writes to.

Each check turns bad input into an :class:`~symact.errors.InputError` (one line, exit 2) before any
slow work starts, and :func:`writing` turns an operating-system error about a path into one too.
"""

from __future__ import annotations

import contextlib
import errno
import keyword
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

#: the example every NAME=VALUE message gives
PARAM_EXAMPLE = "--param alpha=0.2"
#: the longest --name accepted (a module or document file name)
MAX_NAME = 64


def add_param_option(parser, what: str = "a parameter") -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"give {what} a value, e.g. {PARAM_EXAMPLE} (repeatable)",
    )


def params(pairs: list[str]) -> dict:
    """``["alpha=0.2"]`` -> ``{"alpha": Rational(1, 5)}``; a pair without ``=`` is refused with the hint."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"--param takes NAME=VALUE, e.g. {PARAM_EXAMPLE}, not {pair!r}")
        out[name.strip()] = number(value.strip(), name.strip())
    return out


def number(text: str, name: str):
    from fractions import Fraction

    import sympy

    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"parameter {name} needs a number such as 0.2 or 1/4, not {text!r}") from None
    if abs(value.numerator) > 10**30 or value.denominator > 10**30:
        raise InputError(f"parameter {name} is too large: {text!r}")
    return sympy.Rational(value.numerator, value.denominator)


def check_user_name(name: str | None) -> str:
    """The ``--name`` of a user expression: a plain Python identifier (it names a module and document
    files, so it can neither escape the output folder nor shadow a keyword), and no catalog name."""
    from .. import catalog

    if not name:
        raise InputError("--expr needs --name, e.g. --name my_mish")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or keyword.iskeyword(name):
        raise InputError(
            f"--name must be a Python identifier (letters, digits and _, not a keyword or a path), not {name!r}"
        )
    if len(name) > MAX_NAME:
        raise InputError(f"--name is at most {MAX_NAME} characters long")
    if name in catalog.CATALOG:
        owner = catalog.get(name).name
        what = "a catalog entry" if owner == name else f"an alias of the catalog entry {owner}"
        raise InputError(f"--name {name} is {what}; give your expression another name, e.g. --name my_{name}")
    return name


def user_expression(args, var_name: str = "x"):
    """Parse ``args.expr`` with the safe parser and check its free symbols against ``args.param``.

    Returns ``(expr, var, values)``: every free symbol other than ``var`` must be given a value with
    ``--param NAME=VALUE`` (none defaults silently), and every ``--param`` must name one of them.
    """
    import sympy

    from ..parse import parse_sympy

    check_user_name(args.name)
    values = params(args.param)
    var = sympy.Symbol(var_name, real=True)
    expr = parse_sympy(args.expr, {var_name: var})
    if not isinstance(expr, sympy.Expr):
        raise InputError(f"--expr must be an expression in {var_name}")
    if var not in expr.free_symbols:
        raise InputError(f"the expression does not depend on {var_name}")
    others = sorted((s.name for s in expr.free_symbols if s != var), key=str)
    unknown = [n for n in values if n not in others]
    if unknown:
        has = f"its symbols other than {var_name}: {', '.join(others)}" if others else f"only {var_name}"
        raise InputError(f"--param {unknown[0]}: the expression has no symbol {unknown[0]} ({has})")
    missing = [n for n in others if n not in values]
    if missing:
        given = " ".join(f"--param {n}=VALUE" for n in missing)
        raise InputError(
            f"the expression has free symbols other than {var_name}: {', '.join(missing)}; give each a value: {given}"
        )
    return expr, var, values


def substituted(expr, values: dict):
    """``expr`` with every ``--param`` value put in for the free symbol of that name."""
    by_name = {s.name: s for s in expr.free_symbols}
    return expr.xreplace({by_name[n]: v for n, v in values.items()})


def _first_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_dir(path: str, option: str = "--out", *, write: bool = True) -> Path:
    """A folder a command will write into (created if need be): refuse, before any work, a path that is
    a file or lies under one, and (with ``write``) a folder that cannot be written.  ``write=False``
    is for --check, which only reads."""
    target = Path(path)
    if os.path.lexists(target) and not target.is_dir():
        raise InputError(f"{option} {path}: {path} is a file, not a folder")
    existing = _first_existing(target)
    if existing != target and os.path.lexists(existing) and not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a folder")
    if write and os.path.lexists(existing) and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: no permission to write in {existing}")
    return target


def check_output_file(path: str, option: str) -> Path:
    """A file a command will write: its folder must exist and be writable, and it must not be a folder."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{option} {path}: {path} is a folder, not a file")
    parent = target.parent
    if not parent.exists():
        existing = _first_existing(parent)
        if os.path.lexists(existing) and not existing.is_dir():
            raise InputError(f"{option} {path}: {existing} is a file, not a folder")
        raise InputError(f"{option} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"{option} {path}: no permission to write {path}")
    return target


def check_input_dir(path: str, option: str = "--dir") -> Path:
    """A folder a command reads modules from."""
    target = Path(path)
    if not target.exists():
        raise InputError(f"{option} {path}: no such folder")
    if not target.is_dir():
        raise InputError(f"{option} {path}: {path} is a file, not a folder")
    return target


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error about a path: what failed, and where."""
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.strerror:
        reason = exc.strerror
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    where = exc.filename if exc.filename is not None else "a file"
    return f"cannot write {where}: {reason}"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file beside it, then a rename), with
    the mode ``open()`` would give; an operating-system error is an :class:`InputError` naming the path."""
    from ..files import write_atomic

    with writing():
        write_atomic(path, text)


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Turn an operating-system error while writing user paths into an :class:`InputError` (one line)."""
    try:
        yield
    except OSError as exc:
        raise InputError(os_error_line(exc)) from None
