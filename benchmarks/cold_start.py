"""The first call of every generated kernel in a new process: cold (an empty Numba cache, so the call
compiles) and warm (the cache the cold call wrote), at a small size (the serial loop) and a large one
(the parallel twin), float32 and float64.

    python benchmarks/cold_start.py [--names sigmoid,softmax] [--markdown benchmarks/cold_start.md]

Each measurement is its own process over its own copy of the module.  "import" is the module's import
after NumPy and Numba; "first call" is the call alone.  Numba's own start (its first compilation of
anything, about 0.5 s) is paid before the timed call, by a trivial njit function, as every process pays it
once whatever it loads.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import inspect, json, sys, time
import numpy as np, numba
numba.njit(lambda v: v + 1)(1)  # Numba's one-off start, paid by every process before its first kernel
folder, name, kernel, dtype, n = sys.argv[1], sys.argv[2], sys.argv[3], np.dtype(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, folder)
t0 = time.perf_counter()
module = __import__(name)
t1 = time.perf_counter()
f = getattr(module, kernel)
rng = np.random.default_rng(0)
params = list(inspect.signature(module.forward).parameters)
if params[:4] == ["w", "b", "X", "y"]:  # the logistic NLL
    X = rng.standard_normal((n // 8, 8)).astype(dtype)
    args = (rng.standard_normal(8).astype(dtype), dtype.type(0.1), X, (rng.random(n // 8) > 0.5).astype(dtype))
elif "axis" in params:  # a row function
    a = rng.standard_normal((n // 1000, 1000)).astype(dtype)
    args = (a,) if kernel == "forward" else (a, rng.standard_normal(a.shape).astype(dtype))
elif len(params) >= 2 and params[1] in ("labels", "targets"):  # a loss
    # inputs in the loss's own domain where it has one (probabilities for BCE on probabilities)
    z = (rng.random if getattr(module, "_INPUT_RANGE", None) else rng.standard_normal)((n // 1000, 1000)).astype(dtype)
    if "sparse" in name:
        labels = rng.integers(0, 1000, n // 1000)
    elif "softmax" in name:
        labels = np.full(z.shape, 1e-3, dtype)
    else:
        labels = rng.random(z.shape).astype(dtype)
    args = (z, labels)
else:  # elementwise; an auxiliary input (dropout's mask) as ones
    x = rng.standard_normal(n).astype(dtype)
    aux = [np.ones_like(x) for p in params[1:] if p != "out" and inspect.signature(module.forward).parameters[p].kind
           is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    args = (x, *([x] if kernel.startswith("vjp") else []), *aux)
t2 = time.perf_counter()
f(*args)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2}))
"""

KERNELS = ("forward", "derivative", "vjp", "vjp_from_output", "value_and_grad", "grad")


def kernels_of(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return [k for k in KERNELS if k in defined]


def measure(path: Path, kernel: str, dtype: str, n: int) -> tuple[dict, dict]:
    """(cold, warm) timings of one kernel's first call, each in a new process."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(path, folder)
        runs = []
        for _ in ("cold", "warm"):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, folder, path.stem, kernel, dtype, str(n)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(ROOT / "generated"))
    parser.add_argument("--names", help="comma-separated module names (default: every one)")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--markdown", help="write the table here too")
    args = parser.parse_args(argv)
    paths = sorted(Path(args.dir).glob("*.py"))
    if args.names:
        wanted = set(args.names.split(","))
        paths = [p for p in paths if p.stem in wanted]
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    import numba
    import numpy

    lines = [
        f"machine: {platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} threads; "
        f"Python {platform.python_version()}, NumPy {numpy.__version__}, Numba {numba.__version__}",
        "",
        "| module | kernel | dtype | n | import (s) | cold first call (s) | warm first call (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for path in paths:
        for kernel in kernels_of(path):
            for dtype in ("float32", "float64"):
                for n in sizes:
                    cold, warm = measure(path, kernel, dtype, n)
                    rows.append((path.stem, kernel, dtype, n, cold, warm))
                    line = (
                        f"| {path.stem} | {kernel} | {dtype} | {n} | {cold['import']:.2f} | {cold['first']:.2f} "
                        f"| {warm['first'] * 1e3:.1f} |"
                    )
                    lines.append(line)
                    print(line, flush=True)
    worst = max(rows, key=lambda r: r[4]["first"])
    worst_warm = max(rows, key=lambda r: r[5]["first"])
    summary = [
        "",
        f"slowest cold first call: {worst[4]['first']:.2f} s ({worst[0]} {worst[1]} {worst[2]} n={worst[3]}); "
        f"slowest warm first call: {worst_warm[5]['first'] * 1e3:.1f} ms "
        f"({worst_warm[0]} {worst_warm[1]} {worst_warm[2]} n={worst_warm[3]})",
    ]
    lines += summary
    print("\n".join(summary))
    if args.markdown:
        Path(args.markdown).write_text(
            "# First calls, cold and warm\n\n`"
            + " ".join(["python", "benchmarks/cold_start.py", *(argv or sys.argv[1:])])
            + "`\n\n"
            + "\n".join(lines)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
