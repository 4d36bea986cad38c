"""``symact derive``: gradients in textbook form, for catalog entries or a user's expression."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from ._common import add_param_option

    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default with --all: every one)")
    parser.add_argument("--all", action="store_true", help="derive every catalog entry")
    parser.add_argument("--expr", help='a user expression in SymPy syntax, e.g. "x*tanh(log(1+exp(x)))"')
    parser.add_argument("--name", help="the name of the user expression (with --expr)")
    parser.add_argument("--var", default="x", help="the variable of the user expression (default x)")
    add_param_option(parser, "a parameter, or a free symbol of --expr,")
    parser.add_argument("--format", choices=("text", "latex", "json"), default="text")


def _entries(args):
    from .. import catalog
    from ..errors import InputError

    if args.expr is not None:
        if args.names or args.all:
            raise InputError("give either catalog names or --expr, not both")
        from ..derive import user_entry
        from ._common import user_expression

        expr, var, _ = user_expression(args, args.var)  # every free symbol but var needs a --param
        return [user_entry(args.name, expr, var)]
    if args.name:
        raise InputError("--name goes with --expr")
    if args.all:
        if args.names:
            raise InputError("give either NAMEs or --all, not both")
        return catalog.entries()
    if not args.names:
        raise InputError("name an entry (symact list shows them), or use --all or --expr")
    return [catalog.get(name) for name in args.names]


USER_BUDGET = 60.0  #: seconds a user expression's whole derivation may take


def _derive_user(entry, params):
    from ..budget import BudgetExceeded, run_limited
    from ..derive import derive
    from ..errors import InputError
    from ..prove import ProofError

    try:
        return run_limited(derive, USER_BUDGET, entry, params)
    except BudgetExceeded:
        raise InputError(f"gave up deriving {entry.name} after {USER_BUDGET:g} s; try a simpler expression") from None
    except ProofError as exc:
        raise InputError(f"could not prove a form of {entry.name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from ..derive import derive
    from ..errors import InputError
    from ..serialize import derivation_json, derivation_latex, derivation_text, dumps
    from ._common import params as parse_params

    entries = _entries(args)
    params = parse_params(args.param)
    if params and len(entries) != 1:
        raise InputError("--param needs exactly one entry")
    derivations = [derive(entry, params) if entry.builtin else _derive_user(entry, params) for entry in entries]
    if args.format == "json":
        data = [derivation_json(d) for d in derivations]
        print(dumps(data[0] if len(data) == 1 else data))
    elif args.format == "latex":
        print("\n\n".join(derivation_latex(d) for d in derivations))
    else:
        print("\n\n".join(derivation_text(d) for d in derivations))
    return 0
