"""Speed of today's generated/ against an earlier commit's, kernel for kernel, side by side in one run.

    python benchmarks/compare_generated.py [--base COMMIT] [--kernels a,b] [--n N] [--dtypes float32,float64]
                                           [--threads T] [--rounds R] [--markdown FILE]

Each kernel of each module is timed in both versions, interleaved round by round (``symact.bench._time``:
the median of ``--rounds`` rounds, each implementation in turn), on the same inputs, with ``out=`` where the
kernel takes it (losses: the mean-reduced forward and gradient, allocating).  The ratio is the base's time over
today's: above 1 today's is faster, below 0.95 it is more than 5% slower.  The base's modules are read with
``git show`` into a temporary folder, so nothing in the checkout changes.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symact import bench  # noqa: E402
from symact.loader import load  # noqa: E402

SLOWER = 0.95  #: a ratio below this is "more than 5% slower"


def _base_modules(base: str, folder: Path, kernels: list[str]) -> list[str]:
    """Write the base commit's generated/<kernel>.py into ``folder``; the kernels it has."""
    found = []
    for kernel in kernels:
        shown = subprocess.run(
            ["git", "show", f"{base}:generated/{kernel}.py"], cwd=ROOT, capture_output=True, text=True
        )
        if shown.returncode == 0:
            (folder / f"{kernel}.py").write_text(shown.stdout, encoding="utf-8")
            found.append(kernel)
    return found


def _impls(module, kind, kernel, op, x, g, extra, z=None, y=None):
    """One callable per op, as ``symact bench`` times it (``out=`` for elementwise and row kernels)."""
    if kind == "loss":
        if op == "forward":
            return {"forward": lambda: module.forward(z, y, reduction="mean")}
        return {"grad": lambda: module.grad(z, y, reduction="mean")}
    impls = bench._symact_impls(module, kind, kernel, op, "out", x, g, extra)
    names = {"symact": op, "symact from output": "vjp_from_output", "symact forward + derivative": None}
    out = {}
    for name, fn in impls.items():
        label = names.get(name)
        if label is not None:
            out[label] = fn
    if op == "forward" and hasattr(module, "derivative"):
        o = np.empty_like(x)
        out["derivative"] = lambda: module.derivative(x, *extra, out=o)
    return out


def compare(base, kernels, n, dtypes, threads, rounds, min_round, progress=print):
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        common = _base_modules(base, folder, kernels)
        for kernel in common:
            old = load(folder / f"{kernel}.py")
            new = load(ROOT / "generated" / f"{kernel}.py")
            kind = bench.kind_of(new)
            if kind == "loss" and not hasattr(new, "grad"):
                continue
            if kernel == "logistic_nll":  # forward(w, b, X, y): a matrix product, not a kernel pass
                continue
            for dtype in dtypes:
                rng = np.random.default_rng(0)
                x, g = bench._inputs(
                    "elementwise" if kind == "elementwise" else "rows", kernel, n, np.dtype(dtype), rng
                )
                extra = ((rng.random(x.shape) < 0.5).astype(x.dtype),) if kernel == "dropout" else ()
                z = y = None
                if kind == "loss":
                    z, y = bench._loss_inputs(kernel, n, np.dtype(dtype), rng)
                ops = ("forward", "vjp") if kind != "loss" else ("forward", "grad")
                for op in ops:
                    a = _impls(old, kind, kernel, op, x, g, extra, z, y)
                    b = _impls(new, kind, kernel, op, x, g, extra, z, y)
                    for label in a:
                        if label not in b:
                            continue
                        with np.errstate(all="ignore"):
                            times = bench._time({"base": a[label], "today": b[label]}, min_round, rounds)
                        ratio = times["base"] / times["today"]
                        rows.append((kernel, label, dtype, times["base"], times["today"], ratio))
                        progress(f"{kernel:45s} {label:16s} {dtype:8s} {ratio:6.3f}")
    return rows


def markdown(rows, base, n, threads, command) -> str:
    import numba

    ratios = [r[5] for r in rows]
    geo = float(np.exp(np.mean(np.log(ratios)))) if ratios else float("nan")
    slower = [r for r in rows if r[5] < SLOWER]
    lines = [
        f"# Today's generated/ against {base}'s, side by side",
        "",
        f"`{command}`",
        "",
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__}; n = {n}, {threads} thread(s)",
        "",
        "ratio = base time / today's time (above 1: today's is faster).",
        "",
        "| module | kernel | dtype | base (ms) | today (ms) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for kernel, label, dtype, t0, t1, ratio in rows:
        lines.append(f"| {kernel} | {label} | {dtype} | {t0 * 1e3:.3f} | {t1 * 1e3:.3f} | {ratio:.3f} |")
    lines += [
        "",
        f"{len(rows)} kernels; geometric mean of the ratios {geo:.3f}; "
        f"{len(slower)} more than 5% slower than the base"
        + (": " + ", ".join(f"{k} {lab} {d} ({r:.3f})" for k, lab, d, _, _, r in slower) if slower else "")
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="58afc4c", help="the commit whose generated/ is compared (default 58afc4c)")
    parser.add_argument("--kernels", default="", help="comma-separated module names (default: every module)")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--min-round", type=float, default=0.02)
    parser.add_argument("--markdown", default="", help="write the table to this file")
    args = parser.parse_args(argv)
    kernels = args.kernels.split(",") if args.kernels else sorted(p.stem for p in (ROOT / "generated").glob("*.py"))
    t0 = time.perf_counter()
    rows = compare(args.base, kernels, args.n, args.dtypes.split(","), args.threads, args.rounds, args.min_round)
    command = "python benchmarks/compare_generated.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, args.base, args.n, args.threads, command.strip())
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
