"""Which means make fast kernels: math.* scalar loops, vecmath loops, numba.vectorize ufuncs, threads.

For sigmoid, tanh, silu, softplus, elu, mish and gelu (forward, and the vjp g * f'(x)) at one N, one
thread, float32 and float64, times side by side (interleaved rounds, medians):

- ``math njit``: an ``njit`` loop over a contiguous array into ``out``, the body written with ``math.*``;
- ``vecmath njit``: the same loop with symact.vecmath's branch-free functions (``error_model="numpy"``,
  ``fastmath={"contract"}``);
- ``math ufunc`` / ``vecmath ufunc``: the same bodies as ``numba.vectorize`` ufuncs (float32 and float64
  signatures, no fastmath: the generated modules' form), called with ``out=``;
- ``torch``: PyTorch's kernel into ``out=`` (``aten::<op>.out``; the backward ``.grad_input`` overloads, from
  the output where PyTorch saves it);
- ``copy``: ``np.copyto`` of the same bytes.

Then the threads: the vecmath loop with ``parallel=True`` / ``prange`` on 1 and 2 threads at N = 1e3 .. 1e7.

    PYTHONPATH=. python3 benchmarks/means.py [--n 10000000] [--rounds 7] [--json benchmarks/means.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symact import vecmath as vm  # noqa: E402
from symact.bench import _time  # noqa: E402

SQRT1_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
MATH = (math.exp, math.expm1, math.tanh, math.log1p, math.erfc)
VEC = (vm.vexp, vm.vexpm1, vm.vtanh, vm.vlog1p, vm.verfc)


def bodies(lib):
    """Scalar forward and derivative bodies of the seven activations, written once over a function set."""
    exp, expm1, tanh, log1p, erfc = lib

    @njit(inline="always")
    def sig(x):
        e = exp(-math.fabs(x))
        return (1.0 if x >= 0.0 else e) / (1.0 + e)

    @njit(inline="always")
    def dsig(x):  # sigma'(x) = e / (1 + e)**2 with e = exp(-|x|): no cancellation
        e = exp(-math.fabs(x))
        d = 1.0 + e
        return e / (d * d)

    @njit(inline="always")
    def softplus(x):
        return (x if x > 0.0 else 0.0) + log1p(exp(-math.fabs(x)))

    fns = {
        "sigmoid": (sig.py_func, dsig.py_func),
        "tanh": (lambda x: tanh(x), lambda x: (1.0 - tanh(x)) * (1.0 + tanh(x))),
        "silu": (lambda x: x * sig(x), lambda x: sig(x) + x * dsig(x)),
        "softplus": (softplus.py_func, sig.py_func),
        "elu": (lambda x: x if x > 0.0 else expm1(x), lambda x: 1.0 if x > 0.0 else exp(x)),
        "mish": (
            lambda x: x * tanh(softplus(x)),
            lambda x: tanh(softplus(x)) + x * (1.0 - tanh(softplus(x)) ** 2) * sig(x),
        ),
        "gelu": (
            lambda x: 0.5 * x * erfc(-x * SQRT1_2),
            lambda x: 0.5 * erfc(-x * SQRT1_2) + x * INV_SQRT_2PI * exp(-0.5 * x * x),
        ),
    }
    return fns


def loops(f, df, fastmath):
    fm = {"contract"} if fastmath else False
    fi, dfi = njit(inline="always")(f), njit(inline="always")(df)

    @njit(error_model="numpy", fastmath=fm)
    def forward(x, out):
        for i in range(x.size):
            out[i] = fi(x[i])

    @njit(error_model="numpy", fastmath=fm)
    def vjp(x, g, out):
        for i in range(x.size):
            out[i] = g[i] * dfi(x[i])

    @njit(error_model="numpy", fastmath=fm, parallel=True)
    def forward_par(x, out):
        for i in prange(x.size):
            out[i] = fi(x[i])

    sigs1 = ["float32(float32)", "float64(float64)"]
    sigs2 = ["float32(float32, float32)", "float64(float64, float64)"]
    uf = numba.vectorize(sigs1)(lambda x: fi(x))
    uv = numba.vectorize(sigs2)(lambda x, g: g * dfi(x))
    return forward, vjp, forward_par, uf, uv


def torch_ops(torch, name, x, g, o):
    a = torch.ops.aten
    xt, gt, ot = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(o)
    fwd = {
        "sigmoid": lambda: a.sigmoid.out(xt, out=ot),
        "tanh": lambda: a.tanh.out(xt, out=ot),
        "silu": lambda: a.silu.out(xt, out=ot),
        "softplus": lambda: a.softplus.out(xt, 1, 20, out=ot),
        "elu": lambda: a.elu.out(xt, 1.0, 1, 1, out=ot),
        "mish": lambda: a.mish.out(xt, out=ot),
        "gelu": lambda: a.gelu.out(xt, approximate="none", out=ot),
    }
    y = torch.empty_like(xt)
    {"sigmoid": lambda: a.sigmoid.out(xt, out=y), "tanh": lambda: a.tanh.out(xt, out=y)}.get(name, lambda: None)()
    bwd = {
        "sigmoid": lambda: a.sigmoid_backward.grad_input(gt, y, grad_input=ot),
        "tanh": lambda: a.tanh_backward.grad_input(gt, y, grad_input=ot),
        "silu": lambda: a.silu_backward.grad_input(gt, xt, grad_input=ot),
        "softplus": lambda: a.softplus_backward.grad_input(gt, xt, 1, 20, grad_input=ot),
        "elu": lambda: a.elu_backward.grad_input(gt, 1.0, 1, 1, False, xt, grad_input=ot),
        "mish": lambda: a.mish_backward(gt, xt),  # no out= overload
        "gelu": lambda: a.gelu_backward.grad_input(gt, xt, approximate="none", grad_input=ot),
    }
    return fwd[name], bwd[name]


def _threads_time(kernel, x, out, rounds: int) -> dict[str, float]:
    """Median seconds per call on 1 and on 2 threads, alternating blocks of calls round by round. Changing
    the thread count costs 5-8 ms once (the OpenMP team is rebuilt), so each block starts with an untimed
    call; timing single calls that alternate the count measures that rebuild, not the kernel."""
    import statistics
    import time

    samples = {"1": [], "2": []}
    kernel(x, out)
    t0 = time.perf_counter()
    kernel(x, out)
    calls = max(1, int(0.01 / max(time.perf_counter() - t0, 1e-7)))
    for _ in range(rounds):
        for label in ("1", "2"):
            numba.set_num_threads(int(label))
            kernel(x, out)
            t0 = time.perf_counter()
            for _ in range(calls):
                kernel(x, out)
            samples[label].append((time.perf_counter() - t0) / calls)
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--names", default="sigmoid,tanh,silu,softplus,elu,mish,gelu")
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads-sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--threads-only", action="store_true", help="only the thread comparison")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("PyTorch is not installed (pip install torch==2.13.0): its column is left out")
    numba.set_num_threads(1)
    n = int(args.n)
    rng = np.random.default_rng(0)
    report = {"n": n, "ops": [], "threads": []}
    mbodies, vbodies = bodies(MATH), bodies(VEC)
    print(f"N = {n:.0e}, one thread, ms (median of {args.rounds} interleaved rounds)")
    print(
        "| kernel | op | dtype | math njit | vecmath njit | math ufunc | vecmath ufunc | torch | copy | torch/vecmath |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.names.split(","):
        if args.threads_only:
            report.setdefault("compiled", {})[name] = loops(*vbodies[name], fastmath=True)[2]
            continue
        mf, mv, _, muf, muv = loops(*mbodies[name], fastmath=False)
        vf, vv, vpar, vuf, vuv = loops(*vbodies[name], fastmath=True)
        report.setdefault("compiled", {})[name] = vpar
        for dtype in (np.float32, np.float64):
            x = rng.uniform(-6, 6, n).astype(dtype)
            g = rng.uniform(-1, 1, n).astype(dtype)
            o = np.empty_like(x)
            tf, tv = torch_ops(torch, name, x, g, o) if torch else (None, None)
            for op in ("forward", "vjp"):
                dst = np.empty(n * (3 if op == "vjp" else 2) // 2, dtype)
                src = np.ones_like(dst)
                if op == "forward":
                    impls = {
                        "math njit": lambda mf=mf, x=x, o=o: mf(x, o),
                        "vecmath njit": lambda vf=vf, x=x, o=o: vf(x, o),
                        "math ufunc": lambda muf=muf, x=x, o=o: muf(x, out=o),
                        "vecmath ufunc": lambda vuf=vuf, x=x, o=o: vuf(x, out=o),
                    }
                    if tf:
                        impls["torch"] = tf
                else:
                    impls = {
                        "math njit": lambda mv=mv, x=x, g=g, o=o: mv(x, g, o),
                        "vecmath njit": lambda vv=vv, x=x, g=g, o=o: vv(x, g, o),
                        "math ufunc": lambda muv=muv, x=x, g=g, o=o: muv(x, g, out=o),
                        "vecmath ufunc": lambda vuv=vuv, x=x, g=g, o=o: vuv(x, g, out=o),
                    }
                    if tv:
                        impls["torch"] = tv
                impls["copy"] = lambda d=dst, s=src: np.copyto(d, s)
                with np.errstate(all="ignore"):
                    t = _time(impls, 0.01, args.rounds)
                ms = {k: 1e3 * v for k, v in t.items()}
                cols = ["math njit", "vecmath njit", "math ufunc", "vecmath ufunc", "torch", "copy"]
                cells = [f"{ms[c]:.2f}" if c in ms else "" for c in cols]
                ratio = f"{ms['torch'] / ms['vecmath njit']:.2f}x" if "torch" in ms else ""
                print(f"| {name} | {op} | {np.dtype(dtype).name} | " + " | ".join(cells) + f" | {ratio} |", flush=True)
                report["ops"].append({"kernel": name, "op": op, "dtype": np.dtype(dtype).name, "ms": ms})
    # threads: where does a prange loop pay off?
    print("\nvecmath prange loop (parallel=True), forward, ms: 1 thread vs 2 threads")
    print("| kernel | dtype | N | 1 thread | 2 threads | speed-up |")
    print("|---|---|---|---|---|---|")
    for name in ("sigmoid", "silu", "mish"):
        if name not in report.get("compiled", {}):
            continue
        vpar = report["compiled"][name]
        for dtype in (np.float32, np.float64):
            for size in [int(float(s)) for s in args.threads_sizes.split(",")]:
                x = rng.uniform(-6, 6, size).astype(dtype)
                o = np.empty_like(x)

                t = _threads_time(vpar, x, o, args.rounds)
                print(
                    f"| {name} | {np.dtype(dtype).name} | {size:.0e} | {1e3 * t['1']:.4f} | {1e3 * t['2']:.4f} "
                    f"| {t['1'] / t['2']:.2f}x |",
                    flush=True,
                )
                report["threads"].append({"kernel": name, "dtype": np.dtype(dtype).name, "n": size, "s": t})
    report.pop("compiled", None)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
