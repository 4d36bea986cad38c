"""``symact check``: every generated kernel against the mpmath reference, as a table of ULP errors."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: every one)")
    parser.add_argument("--dir", default="generated", metavar="DIR", help="where the modules are (default generated/)")
    parser.add_argument("--small", action="store_true", help="the thin grid the tests use, instead of the full one")
    parser.add_argument("--examples", action="store_true", help="print a few inputs where each failing kernel misses")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import catalog
    from ..check import check_entry, table
    from ..errors import InputError
    from ._common import check_input_dir

    entries = [catalog.get(name) for name in args.names] if args.names else catalog.entries()
    check_input_dir(args.dir)
    missing = [e.name for e in entries if not (Path(args.dir) / f"{e.name}.py").is_file()]
    if missing:
        raise InputError(f"no module for {', '.join(missing)} in {args.dir}/: run 'symact generate' first")
    results = []
    for entry in entries:
        results += check_entry(entry, args.dir, "small" if args.small else "full")
    print(table(results))
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} of {len(results)} kernel results miss their bound")
        if args.examples:
            for r in failed:
                print(f"{r.entry} {r.kernel} {r.dtype}:")
                for text in r.examples:
                    print(f"    {text[:240]}")
        return 1
    print(f"\nall {len(results)} kernel results within their bounds")
    return 0
