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
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage otherwise)
        raise _UsageExit(f"{self.prog}: {message}")


class _UsageExit(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symact", description="Activations and losses defined once in SymPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        _load(module).configure(command)
    return parser


def _load(module: str):
    return importlib.import_module(f"symact.commands.{module}")


def main(argv: list[str] | None = None) -> int:
    from .catalog import UnknownEntryError
    from .errors import SymactError

    try:
        args = build_parser().parse_args(argv)
        return int(_load(args._module).run(args) or 0)
    except _UsageExit as exc:
        print(str(exc), file=sys.stderr)
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
