"""``symact check``: every generated kernel against the mpmath reference, as a table of ULP errors.

Quick by default (the thin grid of :func:`symact.check.grid` with ``size="small"``, seconds per
entry); ``--full`` is the dense grid and the float32 sweep over every 61st float32, minutes per entry.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "By default the quick check: the thin grid the tests use and a float32 sweep of every 40009th "
        "float32 (seconds per entry). --full checks the dense grid and every 61st float32 (about 70 "
        "million points per kernel): minutes per entry."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (default: every one)")
    parser.add_argument("--dir", default="generated", metavar="DIR", help="where the modules are (default generated/)")
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

    entries = [catalog.get(name) for name in args.names] if args.names else catalog.entries()
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
        return 1
    print(f"\nall {len(results)} kernel results within their bounds")
    return 0
