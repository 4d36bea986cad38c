"""``symact doc``: derivation documents (Markdown, .tex, PDF) for catalog entries or an expression.

With no NAMEs, the whole catalog: a Markdown document per entry, the catalog document (Markdown
and one .tex/PDF with every entry), and the figures.  With NAMEs (or ``--expr``), a document per
entry in each format.  ``--check`` compares what would be written with the files under --out.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_OUT = "docs"
USER_BUDGET = 120.0  #: seconds a user expression's whole document may take


def configure(parser: argparse.ArgumentParser) -> None:
    from ._common import add_param_option

    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: the whole catalog)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the output directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "--format",
        default=None,
        help="comma-separated formats among md, tex, pdf (default: md,tex and pdf where pdflatex is installed)",
    )
    parser.add_argument("--expr", help='a user expression in SymPy syntax, e.g. "x*tanh(log(1+exp(x)))"')
    parser.add_argument("--name", help="the name of the user expression (with --expr)")
    parser.add_argument("--var", default="x", help="the variable of the user expression (default x)")
    add_param_option(parser, "a free symbol of --expr")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files under --out differ from what would be written"
    )


def _formats(text: str | None, check: bool) -> tuple[str, ...]:
    from ..document import FORMATS, pdf_available
    from ..errors import InputError

    if text is None:
        if check:
            return FORMATS
        return ("md", "tex", "pdf") if pdf_available() else ("md", "tex")
    chosen = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise InputError(f"--format takes md, tex and pdf separated by commas, not {text!r}")
    return chosen


def _entries(args):
    from .. import catalog
    from ..errors import InputError

    if args.expr is not None:
        if args.names:
            raise InputError("give either catalog names or --expr, not both")
        from ..derive import user_entry
        from ._common import substituted, user_expression

        expr, var, values = user_expression(args, args.var)  # every free symbol but var needs a --param
        return [user_entry(args.name, substituted(expr, values), var)], False
    if args.name:
        raise InputError("--name goes with --expr")
    if args.param:
        raise InputError("--param goes with --expr (a catalog entry's document shows its parameters symbolically)")
    if not args.names:
        return catalog.entries(), True
    return [catalog.get(name) for name in args.names], False


def _render_user(entries, formats):
    from ..budget import BudgetExceeded, run_limited
    from ..document import render
    from ..errors import InputError
    from ..prove import ProofError
    from ..steps import StepError

    try:
        return run_limited(render, USER_BUDGET, entries, formats, False, True)
    except BudgetExceeded:
        raise InputError(f"gave up on {entries[0].name} after {USER_BUDGET:g} s; try a simpler expression") from None
    except (ProofError, StepError) as exc:
        raise InputError(f"could not derive {entries[0].name} step by step: {exc}") from None
    except InputError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        # SymPy and mpmath fail in many ways on an arbitrary expression: one line, not a traceback
        raise InputError(f"could not write the document of {entries[0].name}: {type(exc).__name__}: {exc}") from None


def regenerate_command(out: str, formats: tuple[str, ...]) -> str:
    """The command that rewrites the whole catalog's documents under ``out`` in ``formats``."""
    import shlex

    return shlex.join(["symact", "doc", "--out", out, "--format", ",".join(formats)])


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..document import render, stale, write
    from ..errors import InputError
    from ._common import check_output_dir, writing

    formats = _formats(args.format, args.check)
    entries, whole = _entries(args)
    if args.check:
        if not whole:
            raise InputError("--check compares the whole catalog's documents; give no NAMEs")
        check_output_dir(args.out, write=False)
        rendered = render(entries, formats, catalog=True, separate_tex=False)
        pdfs = ("catalog.pdf",) if "pdf" in formats else ()
        problems = stale(rendered, Path(args.out), pdfs)
        for line in problems:
            print(line)
        if problems:
            fix = f"run `{regenerate_command(args.out, formats)}`"
            if any(line.startswith("not generated:") for line in problems):
                fix += " and remove the files marked 'not generated' (symact deletes nothing)"
            print(f"{args.out} is stale: {fix}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(rendered.files) + len(pdfs)} files)")
        return 0
    out = check_output_dir(args.out)  # before the slow part: a bad --out is one line, at once
    if entries and not entries[0].builtin:
        rendered = _render_user(entries, formats)
    else:
        rendered = render(entries, formats, catalog=whole, separate_tex=not whole)
    with writing():
        written = write(rendered, out, formats)
    print(f"wrote {len(written)} files under {args.out}")
    return 0
