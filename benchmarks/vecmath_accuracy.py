"""ULP error of symact.vecmath against mpmath over the whole float range, both dtypes (a markdown table).

PYTHONPATH=. python3 benchmarks/vecmath_accuracy.py [--n 20000] [--fastmath]
"""

from __future__ import annotations

import argparse
import sys
import time

import mpmath
import numpy as np
from numba import njit

from symact import vecmath as vm
from symact.ulp import float_grid, reference, ulp_error

#: generic name -> (mpmath reference, points where the implementation switches form or the result is extreme)
CASES = {
    "vexp": (mpmath.exp, [709.782712893384, -708.39641853226, -745.1332191019411, 88.72283, -103.97208, 0.3465]),
    "vexpm1": (mpmath.expm1, [709.782712893384, 0.3465, -0.3465, 1e-8, -38.0, 88.72283]),
    "vlog": (lambda v: mpmath.log(v) if v > 0 else (-mpmath.inf if v == 0 else mpmath.nan), [1.0, 0.7071, 1.4142]),
    "vlog1p": (
        lambda v: mpmath.log1p(v) if v > -1 else (-mpmath.inf if v == -1 else mpmath.nan),
        [-0.2929, 0.4142, 1.0, 2.0, -1.0, 1e-8],
    ),
    "vtanh": (mpmath.tanh, [0.55, -0.55, 20.0, 1e-8]),
    "verf": (
        lambda v: mpmath.erf(v) if abs(v) < 40 else mpmath.sign(v) - mpmath.sign(v) * mpmath.erfc(40),
        [0.5, -0.5, 2.5, -2.5, 5.9],
    ),
    "verfc": (
        lambda v: mpmath.erfc(v) if abs(v) < 40 else (mpmath.erfc(40) if v > 0 else 2),
        [0.5, -0.5, 2.5, 26.5, 27.2, 27.5, 9.19, 10.05],
    ),
    "vsigmoid": (lambda v: 1 / (1 + mpmath.exp(-v)), [0.0, -745.0, -103.0, 36.0]),
    "vsoftplus": (lambda v: mpmath.log1p(mpmath.exp(v)), [0.0, -745.0, 37.0, 710.0]),
}


def _loop(fn, fastmath):
    flags = {"contract"} if fastmath else False

    @njit(fastmath=flags, error_model="numpy")
    def run(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    return run


def measure(name: str, dtype, n: int, fastmath: bool) -> dict:
    f32, f64 = vm.FUNCTIONS[name]
    fn = getattr(vm, f32 if np.dtype(dtype) == np.float32 else f64)
    ref_fn, extra = CASES[name]
    x = float_grid(dtype, n, extra=extra)
    out = np.empty_like(x)
    _loop(fn, fastmath)(x, out)
    err = ulp_error(out, reference(ref_fn, x), dtype)
    worst = int(np.argmax(err))
    return {"max": float(err.max()), "p999": float(np.quantile(err, 0.999)), "at": float(x[worst])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--fastmath", action="store_true", help="compile the loops with fastmath={'contract'}")
    parser.add_argument("names", nargs="*", default=list(CASES))
    args = parser.parse_args()
    print(f"{args.n} points per function and dtype")
    print("| function | float64 max ulp | p99.9 | worst x | float32 max ulp | p99.9 | worst x |")
    print("|---|---|---|---|---|---|---|")
    for name in args.names:
        t0 = time.perf_counter()
        row = [measure(name, dt, args.n, args.fastmath) for dt in (np.float64, np.float32)]
        cells = " | ".join(f"{r['max']:.3g} | {r['p999']:.3g} | {r['at']:.6g}" for r in row)
        print(f"| {name[1:]} | {cells} |", flush=True)
        print(f"  ({name}: {time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
