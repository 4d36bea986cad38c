"""``symact list``: the catalog as a table; ``--framework`` keeps one framework's names and conventions."""

from __future__ import annotations

import argparse

#: the name prefixes of each framework's functions in the catalog's aliases (Keras lives under tf.keras)
FRAMEWORKS = {
    "torch": ("torch.",),
    "pytorch": ("torch.",),
    "tf": ("tf.",),
    "tensorflow": ("tf.",),
    "keras": ("tf.keras.", "keras."),
    "jax": ("jax.", "flax."),
    "optax": ("optax.",),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON (with each entry's notes)")
    parser.add_argument(
        "--framework",
        choices=sorted(FRAMEWORKS),
        help="only the entries that framework has, under its own names, with the conventions recorded for them",
    )


def framework_names(aliases: tuple[str, ...], framework: str) -> list[str]:
    """The aliases that name ``framework``'s functions, in the catalog's order."""
    return [a for a in aliases if a.startswith(FRAMEWORKS[framework])]


def run(args: argparse.Namespace) -> int:
    import json

    from ..catalog import Kind, entries
    from ..derive import derive

    rows = []
    for entry in entries():
        names = framework_names(entry.aliases, args.framework) if args.framework else []
        if args.framework and not names:
            continue
        if entry.kind is Kind.LOSS:
            output = "n/a"
        else:
            main = derive(entry, first_only=True).main
            output = "yes" if main.output is not None else "no"
        row = {
            "name": entry.name,
            "kind": entry.kind.value,
            "parameters": ", ".join(f"{p.name}={p.default}" for p in entry.params) or "-",
        }
        if args.framework:
            row[f"{args.framework} names"] = ", ".join(names)
        else:
            row["aliases"] = ", ".join(a for a in entry.aliases if "." in a)[:60] or "-"
            row["output form"] = output
        if args.json or args.framework:
            row["notes"] = " ".join(entry.notes.split())
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if args.framework:  # one block per entry: the notes are prose, too long for a column
        for r in rows:
            print(f"{r['name']} ({r['kind']}; {r['parameters']}): {r[f'{args.framework} names']}")
            if r["notes"]:
                print(f"    {r['notes']}")
        return 0
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers).rstrip())
    print("  ".join("-" * widths[h] for h in headers))
    for r in rows:
        print("  ".join(r[h].ljust(widths[h]) for h in headers).rstrip())
    return 0
