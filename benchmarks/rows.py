"""Time the row and loss kernels against PyTorch CPU and a copy of the same bytes (issue 6; not part of the tests).

    PYTHONPATH=. python3 benchmarks/rows.py --before /tmp/old_generated --markdown benchmarks/rows.md

N = 10**7 elements (rows of 1000 for the row kernels), float32 and float64, 1 thread then 2 threads
(``numba.set_num_threads`` and ``torch.set_num_threads`` set once per block, an untimed call after each
change).  Each round times every implementation once, in turn; the table gives the median over the rounds
after a warm-up.  ``--before DIR`` adds the modules in DIR (e.g. ``git show main:generated/softmax.py``
written there) as a "before" column.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symact.check import load_module  # noqa: E402

ROWS, COLS = 10_000, 1_000
N = ROWS * COLS
KERNELS = (
    "softmax",
    "log_softmax",
    "hardmax",
    "mse",
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
)


def cases(name, mod, dtype, rng):
    """(op, symact callable factory, torch callable or None, bytes moved for the copy) for one kernel."""
    aten = torch.ops.aten
    F = torch.nn.functional
    a = rng.normal(0, 3, (ROWS, COLS)).astype(dtype)
    g = rng.normal(0, 1, (ROWS, COLS)).astype(dtype)
    o = np.empty_like(a)
    at, gt, ot = torch.from_numpy(a), torch.from_numpy(g), torch.from_numpy(np.empty_like(a))
    tdt = at.dtype
    if name in ("softmax", "log_softmax"):
        log = name == "log_softmax"
        y = torch.log_softmax(at, -1) if log else torch.softmax(at, -1)
        fwd_t = (
            (lambda: aten._log_softmax.out(at, -1, False, out=ot))
            if log
            else (lambda: aten._softmax.out(at, -1, False, out=ot))
        )
        if log:
            bwd_t = lambda: aten._log_softmax_backward_data.out(gt, y, -1, tdt, out=ot)  # noqa: E731
        else:
            bwd_t = lambda: aten._softmax_backward_data.out(gt, y, -1, tdt, grad_input=ot)  # noqa: E731
        return [
            ("forward", lambda m: lambda: m.forward(a, out=o), fwd_t, (a,)),
            ("vjp", lambda m: lambda: m.vjp(a, g, out=o), bwd_t, (a, g)),
        ]
    if name == "hardmax":
        return [
            ("forward", lambda m: lambda: m.forward(a, out=o), None, (a,)),
            ("vjp", lambda m: lambda: m.vjp(a, g, out=o), None, (a, g)),
        ]
    flat, gflat = a.reshape(-1), g.reshape(-1)
    oflat = o.reshape(-1)
    if name == "mse":
        ft, yt = torch.from_numpy(flat), torch.from_numpy(gflat)
        return [
            ("forward", lambda m: lambda: m.forward(flat, gflat), lambda: F.mse_loss(ft, yt), (flat, gflat)),
            (
                "grad",
                lambda m: lambda: m.grad(flat, gflat, out=oflat),
                lambda: aten.mse_loss_backward.grad_input(torch.ones((), dtype=tdt), ft, yt, 1, grad_input=ot.view(-1)),
                (flat, gflat),
            ),
        ]
    if name in ("sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits"):
        labels = rng.random(N).astype(dtype)
        ft, yt = torch.from_numpy(flat), torch.from_numpy(labels)
        kw = {"pos_weight": torch.tensor(1.0, dtype=tdt)} if name.startswith("weighted") else {}

        def torch_grad():
            v = ft.detach().requires_grad_()
            return torch.autograd.grad(F.binary_cross_entropy_with_logits(v, yt, **kw), v)

        return [
            (
                "forward",
                lambda m: lambda: m.forward(flat, labels),
                lambda: F.binary_cross_entropy_with_logits(ft, yt, **kw),
                (flat, labels),
            ),
            ("grad", lambda m: lambda: m.grad(flat, labels, out=oflat), torch_grad, (flat, labels)),
        ]
    sparse = name.startswith("sparse")
    if sparse:
        labels = rng.integers(0, COLS, ROWS)
        yt = torch.from_numpy(labels)
    else:
        labels = rng.dirichlet(np.ones(COLS), ROWS).astype(dtype)
        yt = torch.from_numpy(labels)

    def torch_grad():
        v = at.detach().requires_grad_()
        return torch.autograd.grad(F.cross_entropy(v, yt), v)

    return [
        ("forward", lambda m: lambda: m.forward(a, labels), lambda: F.cross_entropy(at, yt), (a,)),
        ("grad", lambda m: lambda: m.grad(a, labels, out=o), torch_grad, (a,)),
    ]


def run(kernels, rounds, before_dir, threads_list):
    rng = np.random.default_rng(0)
    rows = []
    mods = {k: load_module(k, "generated") for k in kernels}
    olds = {k: load_module(k, before_dir) for k in kernels} if before_dir else {}
    for threads in threads_list:
        numba.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name in kernels:
            for dtype in (np.float32, np.float64):
                for op, make, torch_fn, inputs in cases(name, mods[name], dtype, rng):
                    src = np.concatenate([np.ravel(x) for x in inputs]) if len(inputs) > 1 else inputs[0]
                    dst = np.empty_like(src)
                    impls = {"symact": make(mods[name]), "copy": lambda src=src, dst=dst: np.copyto(dst, src)}
                    if torch_fn is not None:
                        impls["torch"] = torch_fn
                    if name in olds:
                        impls["before"] = make(olds[name])
                    for fn in impls.values():  # warm-up (and compilation)
                        fn()
                    times = {k: [] for k in impls}
                    for _ in range(rounds):
                        for k, fn in impls.items():
                            t = time.perf_counter()
                            fn()
                            times[k].append(time.perf_counter() - t)
                    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
                    rows.append((name, op, np.dtype(dtype).name, threads, med))
                    print(name, op, np.dtype(dtype).name, threads, {k: round(v, 2) for k, v in med.items()}, flush=True)
    return rows


def markdown(rows, command):
    lines = [
        "# Row and loss kernels, N = 10^7 (rows of 1000), median ms",
        "",
        f"`{command}`",
        "",
        "torch/symact above 1 means symact is faster; copy: np.copyto of the input bytes.",
        "",
        "| kernel | op | dtype | threads | before ms | symact ms | torch ms | torch/symact | copy ms | before/symact |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, op, dtype, threads, med in rows:
        s = med["symact"]
        t = med.get("torch")
        b = med.get("before")
        lines.append(
            f"| {name} | {op} | {dtype} | {threads} | {'' if b is None else f'{b:.1f}'} | {s:.1f} | "
            f"{'' if t is None else f'{t:.1f}'} | {'' if t is None else f'{t / s:.2f}x'} | {med['copy']:.1f} | "
            f"{'' if b is None else f'{b / s:.1f}x'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", default=list(KERNELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="a folder with the previous generated modules")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    rows = run(args.kernels, args.rounds, args.before, [int(t) for t in args.threads.split(",")])
    text = markdown(rows, "PYTHONPATH=. python3 benchmarks/rows.py " + " ".join(argv or sys.argv[1:]))
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
