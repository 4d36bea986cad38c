"""``symact bench``: time every generated kernel against NumPy, sympy.lambdify, PyTorch and JAX.

The work is in :mod:`symact.bench`; this module parses the options, prints progress, and writes the
markdown table and the JSON file, both with the record of the machine (:mod:`symact.machine`).  When an
implementation runs below its best on this CPU the table's summary says the comparison is not
representative, and so does one line on stderr.
"""

from __future__ import annotations

import argparse

HELP = "time the generated kernels against NumPy, lambdify, PyTorch and JAX (interleaved medians)"


def _ints(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kernels", nargs="*", help="generated modules to time (default: every one in --dir)")
    parser.add_argument("--dir", default="generated", help="the folder of generated modules (default: generated)")
    parser.add_argument("--sizes", type=_ints, default=[10**4, 10**5, 10**6, 10**7], help="N, comma-separated")
    parser.add_argument("--dtypes", default="float32,float64", help="comma-separated")
    parser.add_argument("--threads", type=_ints, default=None, help="thread counts (default: 1 and all cores)")
    parser.add_argument("--modes", default="out,alloc", help="out (into an existing array) and/or alloc")
    parser.add_argument("--ops", default="forward,vjp", help="forward, vjp, value_and_grad (f, f' in one pass)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per case (the median is kept)")
    parser.add_argument("--markdown", default="bench.md", help="where to write the table (default: bench.md)")
    parser.add_argument("--json", default="bench.json", help="where to write the JSON (default: bench.json)")
    parser.add_argument("--startup", action="store_true", help="also time import, first call and cold compile")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up tables (no kernel timings)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--peers",
        default="torch,jax",
        help="the libraries to compare with, comma-separated, or none (default: torch,jax)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from .. import bench, machine
    from ..errors import InputError
    from ._common import check_input_dir, check_output_file, write_text

    # every path first: a bad one is one line now, not a traceback after minutes of timing
    check_input_dir(args.dir)
    markdown, json_path = check_output_file(args.markdown, "--markdown"), check_output_file(args.json, "--json")
    kernels = args.kernels or sorted(p.stem for p in Path(args.dir).glob("*.py") if not p.stem.startswith("_"))
    missing = [k for k in kernels if not (Path(args.dir) / f"{k}.py").is_file()]
    if missing:
        raise InputError(f"no module for {', '.join(missing)} in {args.dir}/ (symact generate writes them)")
    if not kernels:
        raise InputError(f"no generated modules in {args.dir}/ (symact generate writes them)")
    peers = () if args.peers.strip() == "none" else tuple(p.strip() for p in args.peers.split(",") if p.strip())
    unknown = sorted(set(peers) - set(bench.PEERS))
    if unknown:
        raise InputError(f"--peers: unknown peer {unknown[0]!r}; give some of {','.join(bench.PEERS)}, or none")
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    progress = None if args.quiet else (lambda line: print(line, flush=True))
    record = machine.record()
    results, notes = [], []
    if args.startup_only:
        args.startup = True
    else:
        results, notes = bench.run_cases(
            kernels,
            args.sizes,
            args.dtypes.split(","),
            threads,
            args.modes.split(","),
            args.ops.split(","),
            directory=args.dir,
            rounds=args.rounds,
            progress=progress,
            peers=peers,
        )
    extra = {}
    text = bench.markdown(results, notes, record) if results else machine.markdown(record)
    if args.startup:
        extra["startup"] = bench.startup(kernels, args.dir)
        extra["startup_forms"] = bench.startup_forms()
        extra["derivation_seconds"] = bench.derivation_times([k for k in kernels if not k.startswith("_")])
        text += "\n" + bench.startup_markdown(extra)
    write_text(markdown, text)
    write_text(json_path, bench.to_json(results, notes, extra, record))
    if not args.quiet:
        print(text)
        print(f"wrote {args.markdown} and {args.json}")
    warning = machine.verdict(record)
    if warning:
        print(f"symact bench: {warning}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``symact bench`` as a program of its own (``benchmarks/bench.py``)."""
    parser = argparse.ArgumentParser(prog="bench", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))
