"""``symact verify``: is a hand-derived formula right?  A proof, or a counterexample.

Exit codes: 0 equal, 1 not equal, 2 unusable input (or no verdict within the time limit).
``--`` ends the options, so a formula may begin with a minus sign.

``--batch FILE`` grades a JSON Lines file of claims (:mod:`symact.batch`), one JSON record a claim on stdout
or in ``--out FILE``, on ``--jobs N`` worker processes or a Dask cluster (``--dask ADDRESS``).  Its exit code
is 0 once every line has its record, whatever the verdicts: a line that is unusable (not JSON, an unknown key,
a formula that does not parse) or undecided is a record with ``"exit": 2`` and the error, and the batch goes
on; 2 when the batch itself cannot run (no such file, ``--jobs 0``, LHS or RHS given with ``--batch``).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Exit codes: 0 equal, 1 not equal, 2 unusable input or no verdict in time. "
        'Use -- before a formula that begins with a minus sign: symact verify -- "-softplus(-x)" "log(sigmoid(x))". '
        "With --batch: 0 once every line has its record (each record has the exit code of its claim; a line that "
        "cannot be read is a record with its error, and the batch goes on), 2 when the batch cannot run."
    )
    parser.add_argument("lhs", metavar="LHS", nargs="?", help='the left side, e.g. "diff(sigmoid(x), x)"')
    parser.add_argument("rhs", metavar="RHS", nargs="?", help='the right side, e.g. "sigmoid(x)*(1 - sigmoid(x))"')
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument("--latex", action="store_true", help="read both sides as LaTeX")
    parser.add_argument("--var", help="the variable whose kinks are sampled on both sides (default: every real symbol)")
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="COND",
        help='an assumption: "alpha>0", "x>=0", "0<y<1", "alpha=1" or "Sum(y[k], (k, 0, n - 1)) = 1" (repeatable)',
    )
    batch = parser.add_argument_group(
        "many claims",
        'JSON Lines, one claim a line: {"id": "q1", "lhs": "...", "rhs": "...", "latex": true, "var": "x", '
        '"assume": ["x>0"]} (lhs and rhs required); --latex, --var and --assume are the defaults of every line. '
        'One record a line out, in order: {"id", "line", "exit", "verdict" (as --json prints it), "error", "seconds"}',
    )
    batch.add_argument("--batch", metavar="FILE", help="grade every claim of FILE (JSON Lines; - reads stdin)")
    batch.add_argument("--jobs", metavar="N", type=int, help="worker processes grading claims side by side (default 1)")
    batch.add_argument(
        "--out", metavar="FILE", help="write the records to FILE (whole or not at all) instead of stdout"
    )
    batch.add_argument(
        "--dask", metavar="ADDRESS", help="grade on the Dask cluster of this scheduler (needs symact[dask])"
    )


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import InputError
    from ..verify import verify_command

    if args.batch is not None:
        return _run_batch(args)
    for option, value in (("--jobs", args.jobs), ("--out", args.out), ("--dask", args.dask)):
        if value is not None:
            raise InputError(f"{option} needs --batch FILE")
    if args.lhs is None or args.rhs is None:
        raise InputError('verify needs LHS and RHS, e.g. symact verify "tanh(x)" "2*sigmoid(2*x) - 1", or --batch FILE')

    verdict = verify_command(args.lhs, args.rhs, latex=args.latex, var=args.var, assume=args.assume)
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(_text(verdict))
    return 0 if verdict.equal else 1


def _run_batch(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..batch import MAX_JOBS, verify_lines
    from ..errors import InputError
    from ._common import check_output_file, write_text

    if args.lhs is not None:
        raise InputError("--batch reads the claims from FILE: give no LHS or RHS with it")
    if args.jobs is not None and args.dask is not None:
        raise InputError("--jobs and --dask exclude each other: the cluster's workers grade the claims")
    jobs = 1 if args.jobs is None else args.jobs
    if not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"--jobs takes a number of worker processes from 1 to {MAX_JOBS}, not {jobs}")
    out = check_output_file(args.out, "--out") if args.out is not None else None
    defaults = {"latex": True} if args.latex else {}
    if args.var is not None:
        defaults["var"] = args.var
    if args.assume:
        defaults["assume"] = list(args.assume)
    handle = sys.stdin.buffer if args.batch == "-" else _open_batch(args.batch)
    client = records = None
    try:
        client = _dask_client(args.dask) if args.dask is not None else None
        records = verify_lines(handle, jobs=jobs, client=client, defaults=defaults)
        if out is None:
            for record in records:
                print(json.dumps(record), flush=True)
        else:
            write_text(out, "".join(json.dumps(record) + "\n" for record in records))
    finally:
        if records is not None:
            records.close()  # stops the workers now, also when the batch is cut short (Ctrl-C, a closed pipe)
        if client is not None:
            client.close()
        if handle is not sys.stdin.buffer:
            handle.close()
    return 0


def _open_batch(path: str):
    import os

    from ..errors import InputError

    if os.path.isdir(path):
        raise InputError(f"--batch {path}: {path} is a folder, not a file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"--batch {path}: no such file") from None
    except PermissionError:
        raise InputError(f"--batch {path}: no permission to read {path}") from None
    except OSError as exc:
        raise InputError(f"--batch {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None


def _dask_client(address: str):
    from ..batch import DASK_MISSING
    from ..errors import InputError

    try:
        from distributed import Client
    except ImportError:
        raise InputError(DASK_MISSING) from None
    try:
        return Client(address, timeout="10s")
    except Exception as exc:  # OSError, TimeoutError, a malformed address: one line, naming it
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"--dask {address}: cannot reach the Dask scheduler ({first})") from None


def _text(verdict) -> str:
    lines = [f"lhs: {verdict.lhs}", f"rhs: {verdict.rhs}"]
    lines += [f"  read {reading}" for reading in verdict.readings]
    if verdict.equal:
        lines.append(f"EQUAL ({verdict.method}, {verdict.seconds:.2f} s)")
    else:
        lines.append(f"NOT EQUAL ({verdict.seconds:.2f} s)")
        example = verdict.counterexample
        point = ", ".join(f"{k} = {v}" for k, v in example["point"].items())
        lines.append(f"  at   {point}")
        lines.append(f"  lhs  {example['lhs']}")
        lines.append(f"  rhs  {example['rhs']}")
        if example["parameters"]:
            params = ", ".join(f"{k} = {v}" for k, v in example["parameters"].items())
            lines.append(f"  the claim fails for the parameter values {params}")
        return "\n".join(lines)
    if verdict.note:
        lines.append(f"  {verdict.note}")
    return "\n".join(lines)
