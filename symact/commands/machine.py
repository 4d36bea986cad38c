"""``symact machine``: the record a benchmark table is headed by (:mod:`symact.machine`): CPU model and
SIMD flags, cores, versions, the CPU capability PyTorch, NumPy and Numba dispatch at, the environment
variables that lower them, and whether a comparison made here is representative of the CPU."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the record as JSON (as in bench's JSON file)")


def run(args: argparse.Namespace) -> int:
    import json

    from .. import machine

    record = machine.record()
    if args.json:
        print(json.dumps(record.to_dict(), indent=2))
    else:
        print(machine.text(record), end="")
    return 0
