"""float32 computed in float32 against float32 computed in float64, and PyTorch (N = 1e7, one thread, out=).

    PYTHONPATH=. python3 benchmarks/float32.py [--n 1e7] [--rounds 7]

vecmath's float32 sigmoid works in float32 (16 lanes per zmm register); the same function through the
float64 version works on 8 lanes and converts twice. The loops are what the emitter would generate:
njit, error_model="numpy", fastmath={"contract"}, over contiguous arrays into out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba
import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symact import vecmath as vm  # noqa: E402
from symact.bench import _time  # noqa: E402


@njit(error_model="numpy", fastmath={"contract"})
def sigmoid_f32_native(x, out):
    for i in range(x.size):
        out[i] = vm.vsigmoid(x[i])


@njit(error_model="numpy", fastmath={"contract"})
def sigmoid_f32_via_f64(x, out):
    for i in range(x.size):
        out[i] = vm.sigmoid_f64(np.float64(x[i]))


@njit(error_model="numpy", fastmath={"contract"})
def silu_f32_native(x, out):
    for i in range(x.size):
        out[i] = x[i] * vm.vsigmoid(x[i])


@njit(error_model="numpy", fastmath={"contract"})
def silu_f32_via_f64(x, out):
    for i in range(x.size):
        v = np.float64(x[i])
        out[i] = v * vm.sigmoid_f64(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    numba.set_num_threads(1)
    x = np.random.default_rng(0).uniform(-6, 6, int(args.n)).astype(np.float32)
    out = np.empty_like(x)
    dst, src = np.empty_like(x), np.ones_like(x)
    impls = {
        "vecmath sigmoid, float32 inside": lambda: sigmoid_f32_native(x, out),
        "vecmath sigmoid, float64 inside": lambda: sigmoid_f32_via_f64(x, out),
        "vecmath silu, float32 inside": lambda: silu_f32_native(x, out),
        "vecmath silu, float64 inside": lambda: silu_f32_via_f64(x, out),
        "copy (np.copyto)": lambda: np.copyto(dst, src),
    }
    try:
        import torch

        torch.set_num_threads(1)
        xt, ot = torch.from_numpy(x), torch.from_numpy(out)
        impls["torch sigmoid (aten::sigmoid.out)"] = lambda: torch.ops.aten.sigmoid.out(xt, out=ot)
        impls["torch silu (aten::silu.out)"] = lambda: torch.ops.aten.silu.out(xt, out=ot)
    except ImportError:
        print("PyTorch is not installed (pip install torch==2.13.0): its rows are left out")
    times = _time(impls, 0.01, args.rounds)
    print(f"N = {int(args.n):.0e}, float32, one thread, ms (median of {args.rounds} interleaved rounds)")
    print("| implementation | ms |\n|---|---|")
    for name, t in times.items():
        print(f"| {name} | {1e3 * t:.2f} |")


if __name__ == "__main__":
    main()
