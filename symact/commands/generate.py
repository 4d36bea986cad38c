"""``symact generate``: write the kernel modules of generated/, or check that they are up to date.

A user's ``--expr`` needs its own ``--out`` folder and a ``--name`` that no catalog entry has, so
that it never replaces a catalog module nor lands in generated/ unasked.  Writing and ``--check``
report the same extra files (modules in the folder that no catalog entry produces); symact never
deletes them, and never calls a folder that holds them up to date.
"""

from __future__ import annotations

import argparse

DEFAULT_OUT = "generated"


def configure(parser: argparse.ArgumentParser) -> None:
    from ._common import add_param_option

    parser.epilog = (
        'A user expression needs its own folder: symact generate --expr "x*tanh(log(1+exp(x)))" '
        "--name my_mish --out mykernels.  Exit 1 when files are stale or missing (--check) or when the "
        "folder holds extra modules that no catalog entry produces (listed; symact deletes nothing)."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: every one)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"where the modules go (default {DEFAULT_OUT}/ for catalog entries; required with --expr)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list stale, missing and extra files and exit 1 if there are any",
    )
    parser.add_argument("--expr", help='a user expression in x, in SymPy syntax, e.g. "x*tanh(log(1+exp(x)))"')
    parser.add_argument("--name", help="the module name of the user expression (with --expr; not a catalog name)")
    add_param_option(parser, "a free symbol of --expr")


def _user_entry(args):
    from ..derive import user_entry
    from ..errors import InputError
    from ._common import check_user_name, substituted, user_expression

    if args.names:
        raise InputError("give either catalog names or --expr, not both")
    check_user_name(args.name)
    if args.out is None:
        raise InputError(
            f"--expr needs --out DIR, a folder of your own (not {DEFAULT_OUT}/, which holds the catalog's "
            f"modules), e.g. --out mykernels"
        )
    expr, var, values = user_expression(args, "x")  # every free symbol but x needs a --param
    return user_entry(args.name, substituted(expr, values), var)


def _command(args) -> str:
    """The command that regenerates a user module, as its header shows it."""
    import shlex

    words = ["symact", "generate", "--expr", args.expr, "--name", args.name]
    for pair in args.param:
        words += ["--param", pair]
    return shlex.join([*words, "--out", args.out])


def run(args: argparse.Namespace) -> int:
    import sys

    from .. import catalog
    from ..budget import BudgetExceeded, run_limited
    from ..emit import emit, render_all
    from ..errors import InputError
    from ._common import check_output_dir, writing

    if args.expr is not None:
        entries = [_user_entry(args)]
        command = _command(args)
        complete = False
    else:
        if args.name:
            raise InputError("--name goes with --expr")
        if args.param:
            raise InputError("--param goes with --expr (a catalog kernel takes its parameters as keywords)")
        entries = [catalog.get(name) for name in args.names] if args.names else catalog.entries()
        command = None
        complete = not args.names
    out = args.out if args.out is not None else DEFAULT_OUT
    check_output_dir(out, write=not args.check)  # before rendering: a bad --out is one line, at once
    try:
        files = run_limited(render_all, 300.0, entries, command)
    except BudgetExceeded:
        raise InputError("gave up rendering the kernels after 300 s") from None
    except (NotImplementedError, ValueError) as exc:  # the strict printer or a template refused
        if args.expr is None:
            raise
        raise InputError(f"cannot emit a kernel for {args.name}: {str(exc).splitlines()[0]}") from None
    written = ()
    with writing():
        if not args.check:
            written = emit(files, out, check=False, complete=complete).written
            for name in written:
                print(f"wrote {out}/{name}")
        report = emit(files, out, check=True, complete=complete)
    for label, names in (("stale", report.stale), ("missing", report.missing), ("extra", report.extra)):
        for name in names:
            print(f"{label}: {out}/{name}")
    if report.stale or report.missing:  # only in --check mode: writing has just made them fresh
        print(f"{out}/ is out of date: run '{_regenerate(args, out)}' to regenerate it", file=sys.stderr)
        return 1
    if report.extra:
        print(
            f"{out}/ holds {len(report.extra)} module(s) that no catalog entry produces (listed as extra): "
            "move or delete them; symact deletes nothing",
            file=sys.stderr,
        )
        return 1
    if args.check or not written:
        print(f"{out}/ is up to date ({len(files)} modules)")
    return 0


def _regenerate(args, out: str) -> str:
    import shlex

    if args.expr is not None:
        return _command(args)
    words = ["symact", "generate", *args.names]
    if out != DEFAULT_OUT:
        words += ["--out", out]
    return shlex.join(words)
