"""``symact list``: the catalog as a table."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from ..catalog import Kind, entries
    from ..derive import derive

    rows = []
    for entry in entries():
        if entry.kind is Kind.LOSS:
            output = "n/a"
        else:
            main = derive(entry, first_only=True).main
            output = "yes" if main.output is not None else "no"
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind.value,
                "parameters": ", ".join(f"{p.name}={p.default}" for p in entry.params) or "-",
                "aliases": ", ".join(a for a in entry.aliases if "." in a)[:60] or "-",
                "output form": output,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers).rstrip())
    print("  ".join("-" * widths[h] for h in headers))
    for r in rows:
        print("  ".join(r[h].ljust(widths[h]) for h in headers).rstrip())
    return 0
