"""``symact check``: every generated kernel against the mpmath reference, as a table of ULP errors.

Quick by default (the thin grid of :func:`symact.check.grid` with ``size="small"``, seconds per
entry); ``--full`` is the dense grid and the float32 sweep over every 61st float32, minutes per entry.

A user's kernel is checked the same way: ``symact check --expr EXPR --name NAME [--param k=v] --dir DIR``
with the expression, name and parameters it was generated from (``--out DIR`` is accepted too, so that
the generate command with ``generate`` replaced by ``check`` checks what it wrote).  The module's header
must show the definition that the expression gives; a missing module or another definition is one line
and exit 2, with the generate command that writes it.
"""

from __future__ import annotations

import argparse
import math
import re

DEFAULT_DIR = "generated"


def configure(parser: argparse.ArgumentParser) -> None:
    from ._common import add_param_option

    parser.epilog = (
        "By default the quick check: the thin grid the tests use and a float32 sweep of every 40009th "
        "float32 (seconds per entry). --full checks the dense grid and every 61st float32 (about 70 "
        "million points per kernel): minutes per entry. A user kernel: symact check --expr "
        '"x*tanh(log(1+exp(x)))" --name my_mish --dir mykernels, with the expression, name and --param '
        "values given to symact generate (whose --out DIR is --dir here; --out is accepted too). Exit 0 "
        "when every kernel is within its bound, 1 when one is not, 2 on bad input (a missing module, or "
        "one generated from another expression)."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: every one)")
    parser.add_argument(
        "--dir",
        "--out",
        dest="dir",
        default=None,
        metavar="DIR",
        help=f"where the modules are (default {DEFAULT_DIR}/ for catalog entries; required with --expr: "
        "the --out DIR given to symact generate)",
    )
    parser.add_argument("--expr", help="the user expression in x that symact generate --expr was given")
    parser.add_argument("--name", help="the module name given to symact generate --name (with --expr)")
    add_param_option(parser, "each free symbol of --expr (as when it was generated)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--full",
        dest="size",
        action="store_const",
        const="full",
        default="small",
        help="the dense grid and the float32 sweep over every 61st float32 (minutes per entry)",
    )
    size.add_argument("--small", dest="size", action="store_const", const="small", help="the quick check (the default)")
    parser.add_argument("--examples", action="store_true", help="print a few inputs where each failing kernel misses")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from .. import catalog
    from ..check import check_entry, table
    from ..errors import InputError
    from ._common import check_input_dir

    if args.expr is not None:
        entries = [_user_entry(args)]
    else:
        if args.name:
            raise InputError("--name goes with --expr")
        if args.param:
            raise InputError("--param goes with --expr (a catalog kernel is checked at its parameters' defaults)")
        entries = [catalog.get(name) for name in args.names] if args.names else catalog.entries()
        args.dir = DEFAULT_DIR if args.dir is None else args.dir
        check_input_dir(args.dir)
        missing = [e.name for e in entries if not (Path(args.dir) / f"{e.name}.py").is_file()]
        if missing:
            raise InputError(f"no module for {', '.join(missing)} in {args.dir}/: run 'symact generate' first")
    if args.size == "full":
        count = f"{len(entries)} entries" if len(entries) != 1 else "1 entry"
        print(
            f"symact: note: --full takes minutes per entry ({count} here); without it the check takes seconds",
            file=sys.stderr,
            flush=True,
        )
    results = []
    for entry in entries:
        results += check_entry(entry, args.dir, args.size)
    print(table(results))
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} of {len(results)} kernel results miss their bound")
        if args.examples:
            for r in failed:
                print(f"{r.entry} {r.kernel} {r.dtype}:")
                for text in r.examples:
                    print(f"    {text[:240]}")
        if args.expr is not None:  # a user's expression: name the sub-expression where accuracy is lost
            for line in diagnose(entries[0], failed):
                print(line)
        return 1
    print(f"\nall {len(results)} kernel results within their bounds")
    return 0


#: the input a failure's description starts with ("x = -3.25" or "x = -3.25, g = 0.3")
_POINT = re.compile(r"^x = ([-+0-9.eE]+|-?inf|nan)(?:,|$)")


def diagnose(entry, failed) -> list[str]:
    """One line per failing kernel of an elementwise ``entry``: at its worst input, the sub-expression of the
    compute form where accuracy is lost (:func:`symact.measure.where_accuracy_is_lost`): the smallest one that,
    computed in the kernel's float type, misses the bound while its operands meet it."""
    import numpy as np
    import sympy

    from ..emit import elementwise_forms
    from ..measure import where_accuracy_is_lost

    forms = elementwise_forms(entry)
    lines = []
    for r in failed:
        worst = [(e, where) for e, _, where in r.errors if not math.isnan(e) and _POINT.match(where)]
        worst = [(e, where) for e, where in worst if math.isfinite(float(_POINT.match(where).group(1)))]
        if not worst:
            continue
        error, where = max(worst, key=lambda pair: pair[0])
        if error <= r.bound:  # it fails at a special value (--examples shows it), not by accuracy
            continue
        point = float(_POINT.match(where).group(1))
        if r.kernel == "forward":
            form = None if forms.double_double else forms.forward
        elif r.kernel in ("derivative", "vjp"):
            form = None if (forms.double_double or forms.derivative_rule) else forms.derivative
        else:
            form = None
        miss = f"{error:.3g} ulp" if math.isfinite(error) else "not finite"
        head = f"{r.entry} {r.kernel} {r.dtype}, {miss} at x = {point!r}"
        if form is None:
            continue
        found = where_accuracy_is_lost(form, entry.variable, point, np.dtype(r.dtype).type, r.bound)
        if found is None:
            lines.append(
                f"{head}: its compute form meets the bound there in plain {r.dtype} arithmetic; the loss is "
                "in the generated code (please report it)"
            )
            continue
        node, ulps = found
        lines.append(
            f"{head}: symact cannot make {sympy.sstr(node)} accurate there "
            f"({ulps:.3g} ulp in {r.dtype} arithmetic, its operands within {r.bound:g})"
        )
    return lines


def _user_entry(args):
    """The entry of a user expression, as ``symact generate --expr`` builds it, after checking that
    ``args.dir`` holds the module generated from it: one line (exit 2) otherwise, naming the command
    that writes it."""
    from pathlib import Path

    from ..derive import user_entry
    from ..errors import InputError
    from . import generate
    from ._common import check_input_dir, check_user_name, substituted, user_expression

    if args.names:
        raise InputError("give either catalog names or --expr, not both")
    check_user_name(args.name)
    if args.dir is None:
        raise InputError(
            "--expr needs --dir DIR, the folder that symact generate --expr wrote the module to (its --out DIR)"
        )
    expr, var, values = user_expression(args, "x")
    entry = user_entry(args.name, substituted(expr, values), var)
    command = generate._command(argparse.Namespace(expr=args.expr, name=args.name, param=args.param, out=args.dir))
    path = Path(args.dir) / f"{args.name}.py"
    if not path.is_file():
        if Path(args.dir).exists():
            check_input_dir(args.dir)
        raise InputError(f"no module {path}; write it with: {command}")
    shown = module_definition(path)
    want = definition_line(entry)
    if shown is None:
        raise InputError(f"{path} has no symact header (no definition line); write it with: {command}")
    if shown != want:
        theirs, ours = shown.partition(": ")[2], want.partition(": ")[2]
        raise InputError(
            f"{path} was generated from another expression (its definition is {theirs}, --expr gives {ours}); "
            f"regenerate it with: {command}"
        )
    return entry


def definition_line(entry) -> str:
    """The line of a generated module's header that gives ``entry``'s definition, as the header writes it."""
    import sympy

    return f"definition: {sympy.sstr(entry.definition)}".replace("\\", "\\\\")


def module_definition(path) -> str | None:
    """The definition line of the module docstring at ``path``, or None when it has none."""
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if not text.startswith('"""'):
        return None
    docstring = text[3:].partition('"""')[0]
    return next((line for line in docstring.splitlines() if line.startswith("definition: ")), None)
