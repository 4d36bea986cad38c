"""Claims per second of ``symact verify --batch``: the corpus tests/verify_corpus.jsonl graded with 1 and with 2
worker processes in one run (not part of the tests).

Each corpus line becomes a batch claim (id, lhs, rhs, "latex": true; its topic and expected verdict are kept here,
not sent).  The wall time of a run includes starting the workers.  With ``--rounds`` above 1 the job counts take
turns round by round and the median is kept.  The records of every run must agree (seconds aside): the table says
so, and how many verdicts are the ones the corpus expects.

    PYTHONPATH=. python3 benchmarks/verify_batch.py --markdown benchmarks/verify_batch.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from symact.batch import verify_batch

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "verify_corpus.jsonl"


def claims(n: int | None) -> tuple[list[dict], list[str]]:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()][:n]
    return [{"id": r["id"], "lhs": r["lhs"], "rhs": r["rhs"], "latex": True} for r in rows], [r["expect"] for r in rows]


def grade(batch: list[dict], jobs: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    records = list(verify_batch(batch, jobs=jobs))
    return time.perf_counter() - start, records


def verdict(record: dict) -> str:
    if record["exit"] == 2:
        return "refused" if record["error"]["kind"] in ("ParseError", "InputError") else "undecided"
    return "equal" if record["exit"] == 0 else "not equal"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="the first N claims of the corpus (default: all)")
    parser.add_argument("--jobs", default="1,2", help="job counts to compare, comma-separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per job count, taking turns (default 1)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    batch, expected = claims(args.n)
    counts = [int(j) for j in args.jobs.split(",")]
    times: dict[int, list[float]] = {j: [] for j in counts}
    loads: dict[int, list[float]] = {j: [] for j in counts}  # 1-minute load average before each run: others' work
    runs: list[list[dict]] = []
    for _ in range(args.rounds):
        for jobs in counts:
            loads[jobs].append(os.getloadavg()[0])
            seconds, records = grade(batch, jobs)
            times[jobs].append(seconds)
            runs.append([{k: v for k, v in r.items() if k != "seconds"} for r in records])
            print(f"jobs {jobs}: {len(batch)} claims in {seconds:.1f} s", file=sys.stderr, flush=True)
    same = all(run == runs[0] for run in runs)
    differ = sorted({(a["id"], key) for run in runs[1:] for a, b in zip(runs[0], run) for key in a if a[key] != b[key]})
    for ident, key in differ:
        shown = [json.dumps(run[[r["id"] for r in run].index(ident)][key])[:300] for run in runs]
        print(f"claim {ident}: {key} differs between runs: " + " | ".join(shown), file=sys.stderr)
    got = [verdict(r) for r in runs[0]]
    kinds = {k: got.count(k) for k in ("equal", "not equal", "refused", "undecided")}
    agree = sum(g == e for g, e in zip(got, expected))
    base = statistics.median(times[counts[0]])
    command = "PYTHONPATH=. python3 benchmarks/verify_batch.py" + (f" {' '.join(argv or sys.argv[1:])}")
    lines = [
        "# Bulk grading: claims per second",
        "",
        f"`{command.strip()}`",
        "",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other work (see the load averages); "
        f"Python {platform.python_version()}",
        "",
        f"{len(batch)} claims of tests/verify_corpus.jsonl, read as LaTeX; median of {args.rounds} run(s) per job "
        "count, the job counts taking turns; wall time includes starting the workers.",
        "",
        "| jobs | seconds | claims per second | speed-up | load average before each run |",
        "|---|---|---|---|---|",
    ]
    for jobs in counts:
        seconds = statistics.median(times[jobs])
        load = ", ".join(f"{v:.1f}" for v in loads[jobs])
        lines.append(f"| {jobs} | {seconds:.1f} | {len(batch) / seconds:.2f} | {base / seconds:.2f} | {load} |")
    lines += [
        "",
        f"records identical across all runs (seconds aside): {'yes' if same else 'NO'}"
        + ("" if same else " (" + ", ".join(f"claim {i}: {k}" for i, k in differ) + ")"),
        "",
        "verdicts: "
        + ", ".join(f"{v} {k}" for k, v in kinds.items())
        + f"; {agree} of {len(batch)} as the corpus expects",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
