"""Long rows against short ones, per element (issue 15; not part of the tests, no torch needed).

    git show fd5cd2d:generated/softmax.py > /tmp/before/softmax.py   # (and the other three modules)
    PYTHONPATH=. python3 benchmarks/long_rows.py --before /tmp/before --markdown benchmarks/long_rows.md

The same number of elements, 10^7, as 100 rows of 10^5 ("long") and 10^4 rows of 1000 ("short"), float32 and
float64, one thread (``numba.set_num_threads(1)``).  Each round times every (implementation, shape) once, in
turn; the table gives the median over the rounds after a warm-up call, and long/short, the ratio of the times
per element (1.0: no cliff).  ``--before DIR`` adds the modules in DIR (the generated modules of an earlier
commit) as "before" columns, measured in the same rounds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symact.check import load_module  # noqa: E402

N = 10**7
SHAPES = {"long": (100, 100_000), "short": (10_000, 1_000)}
MODULES = ("softmax", "log_softmax", "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits")


def cases(mods, dtype, shape, rng):
    """{op: factory(module dict) -> callable} for one dtype and row shape."""
    rows, cols = shape
    a = rng.normal(0, 3, shape).astype(dtype)
    g = rng.normal(0, 1, shape).astype(dtype)
    o = np.empty_like(a)
    soft = rng.dirichlet(np.ones(cols), rows).astype(dtype)
    sparse = rng.integers(0, cols, rows)
    ops = {}
    for name in ("softmax", "log_softmax"):
        y = mods["softmax"].forward(a) if name == "softmax" else mods["log_softmax"].forward(a)
        ops[f"{name} forward"] = lambda m, name=name: lambda: m[name].forward(a, out=o)
        ops[f"{name} vjp"] = lambda m, name=name: lambda: m[name].vjp(a, g, out=o)
        if hasattr(mods[name], "vjp_from_output"):
            ops[f"{name} vjp_from_output"] = lambda m, name=name, y=y: lambda: m[name].vjp_from_output(y, g, out=o)
    ce, sce = "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits"
    ops["softmax_cross_entropy grad"] = lambda m: lambda: m[ce].grad(a, soft, out=o)
    ops["sparse_softmax_cross_entropy grad"] = lambda m: lambda: m[sce].grad(a, sparse, out=o)
    return ops


def run(rounds, before_dir):
    numba.set_num_threads(1)
    impls = {"after": {k: load_module(k, "generated") for k in MODULES}}
    if before_dir:
        impls["before"] = {k: load_module(k, before_dir) for k in MODULES}
    results = []
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        built = {s: cases(impls["after"], dtype, shape, rng) for s, shape in SHAPES.items()}
        for op in built["long"]:
            calls = {(impl, s): built[s][op](mods) for impl, mods in impls.items() for s in SHAPES}
            for fn in calls.values():  # warm-up (and compilation)
                fn()
            times = {k: [] for k in calls}
            for _ in range(rounds):
                for k, fn in calls.items():
                    t = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t)
            med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
            results.append((op, np.dtype(dtype).name, med))
            print(op, np.dtype(dtype).name, {f"{i} {s}": round(v, 2) for (i, s), v in med.items()}, flush=True)
    return results, list(impls)


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}"
    return f"{model}, {platform.machine()}, {versions}"


def markdown(results, impls, command, rounds):
    head = "| op | dtype |"
    rule = "|---|---|"
    for impl in impls:
        head += f" {impl} long ms | {impl} short ms | {impl} long/short |"
        rule += "---:|---:|---:|"
    lines = [
        "# Long rows (100 x 10^5) against short rows (10^4 x 1000), one thread, median ms per call",
        "",
        f"`{command}`",
        "",
        f"Machine: {machine()}; {rounds} rounds after a warm-up, every implementation and shape timed once per round.",
        "long/short: the ratio of the times per element (the same 10^7 elements in both shapes); 1.0 means no cliff.",
        "",
        head,
        rule,
    ]
    for op, dtype, med in results:
        line = f"| {op} | {dtype} |"
        for impl in impls:
            lg, sh = med[(impl, "long")], med[(impl, "short")]
            line += f" {lg:.1f} | {sh:.1f} | {lg / sh:.2f}x |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", help="a folder with the previous generated modules")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    results, impls = run(args.rounds, args.before)
    command = "PYTHONPATH=. python3 benchmarks/long_rows.py " + " ".join(argv or sys.argv[1:])
    text = markdown(results, impls, command, args.rounds)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
