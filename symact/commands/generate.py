"""``symact generate``: write the kernel modules of generated/, or check that they are up to date."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: every one)")
    parser.add_argument("--out", default="generated", metavar="DIR", help="where the modules go (default generated/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list stale, missing and extra files and exit 1 if there are any",
    )
    parser.add_argument("--expr", help='a user expression in x, in SymPy syntax, e.g. "x*tanh(log(1+exp(x)))"')
    parser.add_argument("--name", help="the module name of the user expression (with --expr)")


def _user_entry(args):
    import sympy

    from ..catalog.symbols import x
    from ..derive import user_entry
    from ..errors import InputError
    from ..parse import parse_sympy

    if args.names:
        raise InputError("give either catalog names or --expr, not both")
    if not args.name:
        raise InputError("--expr needs --name, e.g. --name my_mish")
    expr = parse_sympy(args.expr, {"x": x})
    if not isinstance(expr, sympy.Expr):
        raise InputError("--expr must be an expression in x")
    return user_entry(args.name, expr, x)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from .. import catalog
    from ..budget import BudgetExceeded, run_limited
    from ..emit import emit, render_all
    from ..errors import InputError

    if args.expr is not None:
        entries = [_user_entry(args)]
        command = f"symact generate --expr {shlex.quote(args.expr)} --name {args.name}"
        complete = False
    else:
        if args.name:
            raise InputError("--name goes with --expr")
        entries = [catalog.get(name) for name in args.names] if args.names else catalog.entries()
        command = None
        complete = not args.names
    try:
        files = run_limited(render_all, 300.0, entries, command)
    except BudgetExceeded:
        raise InputError("gave up rendering the kernels after 300 s") from None
    except (NotImplementedError, ValueError) as exc:  # the strict printer or a template refused
        if args.expr is None:
            raise
        raise InputError(f"cannot emit a kernel for {args.name}: {str(exc).splitlines()[0]}") from None
    report = emit(files, args.out, check=args.check, complete=complete)
    if args.check:
        for label, names in (("stale", report.stale), ("missing", report.missing), ("extra", report.extra)):
            for name in names:
                print(f"{label}: {args.out}/{name}")
        if not report.clean:
            print(f"{args.out}/ is out of date: run 'symact generate' to regenerate it", file=sys.stderr)
            return 1
        print(f"{args.out}/ is up to date ({len(files)} modules)")
        return 0
    if report.written:
        for name in report.written:
            print(f"wrote {args.out}/{name}")
    else:
        print(f"{args.out}/ is up to date ({len(files)} modules)")
    return 0
