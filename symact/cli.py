"""The ``symact`` command line.

Each subcommand lives in ``symact/commands/<name>.py`` with ``HELP``, ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so that ``symact list``
starts fast.  Bad input is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand name -> (module under symact.commands, one-line help)
COMMANDS = {
    "list": ("list_", "list the catalog: name, kind, parameters, aliases, output form"),
    "derive": ("derive", "derive gradients in textbook form (and output form) for entries or an expression"),
    "doc": ("doc", "write derivation documents (Markdown, .tex, PDF) with steps, properties and plots"),
    "verify": ("verify", "verify a hand-derived formula: a proof, or a counterexample"),
    "generate": ("generate", "write the Numba kernel modules of generated/ (or --check that they are up to date)"),
    "check": ("check", "check every generated kernel against the mpmath reference: a table of ULP errors"),
    "bench": ("bench", "time the generated kernels side by side with NumPy, lambdify, PyTorch and JAX"),
    "machine": ("machine", "the machine as bench records it: CPU, SIMD flags, versions, each library's CPU capability"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage otherwise)
        raise _UsageExit(f"{self.prog}: {message}")


class _UsageExit(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="symact", description="Activations and losses defined once in SymPy.")
    parser.add_argument("--version", action="version", version=f"symact {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        _load(module).configure(command)
    return parser


def _load(module: str):
    return importlib.import_module(f"symact.commands.{module}")


def usage() -> str:
    """The short usage that a bare ``symact`` prints: every command with its one-line help."""
    width = max(map(len, COMMANDS))
    lines = ["usage: symact COMMAND [options]   (symact COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "symact --version prints the version."]
    return "\n".join(lines)


#: options whose value is a formula, so that a value beginning with '-' needs the --option=VALUE spelling
_FORMULA_OPTIONS = ("--expr", "--assume")


def _looks_like_formula(token: str) -> bool:
    """A token that begins with one '-' and is no option of symact's: a formula such as -softplus(-x)."""
    return len(token) > 1 and token.startswith("-") and not token.startswith("--") and token != "-h"


def _with_double_dash(command: str, rest: list[str]) -> str:
    """``symact COMMAND [options] -- [formulas]``: the user's own arguments, options first."""
    import shlex

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    takes_value = {o for a in sub._actions if a.nargs != 0 for o in a.option_strings}
    options, formulas, at = [], [], 0
    while at < len(rest):
        token = rest[at]
        if token.startswith("--") and token != "--":
            options.append(token)
            if token in takes_value and at + 1 < len(rest):
                options.append(rest[at + 1])
                at += 1
        elif token != "--":
            formulas.append(token)
        at += 1
    return shlex.join(["symact", command, *options, "--", *formulas])


def _param_slip(argv: list[str]) -> str | None:
    """``--param alpha 0.2`` (or ``--param alpha``): argparse would take 0.2 for a NAME or call it an
    unrecognized argument; say how --param is written instead."""
    for at, token in enumerate(argv):
        if token == "--":
            break
        if token == "--param" and (at + 1 == len(argv) or "=" not in argv[at + 1]):
            name = argv[at + 1] if at + 1 < len(argv) else ""
            value = argv[at + 2] if at + 2 < len(argv) and not argv[at + 2].startswith("-") else "0.2"
            example = f"--param {name}={value}" if name.isidentifier() else "--param alpha=0.2"
            return f"--param takes NAME=VALUE, e.g. {example}"
    return None


def _hint(argv: list[str]) -> str | None:
    """A better message than argparse's for a formula that begins with a minus sign (read as an
    option): where to put ``--``, or ``--expr=VALUE``."""
    for at, token in enumerate(argv):
        if token == "--":
            break
        if _looks_like_formula(token):
            before = argv[at - 1] if at else ""
            if before in _FORMULA_OPTIONS:
                return f"{token!r} begins with '-' and reads as an option: write {before}={token!r}"
            if argv[0] in COMMANDS and at > 0:
                example = _with_double_dash(argv[0], argv[1:])
                return f"{token!r} begins with '-' and reads as an option: put -- before the formulas: {example}"
    return None


def main(argv: list[str] | None = None) -> int:
    from .catalog import UnknownEntryError
    from .errors import SymactError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    slip = _param_slip(argv)
    if slip:
        print(f"symact: {slip}", file=sys.stderr)
        return 2
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version: argparse has printed them
            return exc.code if isinstance(exc.code, int) else 0
        return int(_load(args._module).run(args) or 0)
    except _UsageExit as exc:
        hint = _hint(argv)
        print(f"symact: {hint}" if hint else str(exc), file=sys.stderr)
        return 2
    except (SymactError, UnknownEntryError) as exc:
        print(f"symact: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symact: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path the commands did not foresee: still one line, naming it
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"symact: error: {where}{exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
