"""ULP error of symact's and PyTorch's silu and mish gradients near the zero of f' (not part of the tests).

symact's derivative kernels switch to a polynomial in the distance to the root there (symact.roots);
PyTorch's silu_backward and mish_backward evaluate the textbook formula, which cancels.

    PYTHONPATH=. python3 benchmarks/near_root.py > benchmarks/near_root.md
"""

from __future__ import annotations

import mpmath
import numpy as np
import torch

from symact.check import load_module
from symact.ulp import ulp_error

mpmath.mp.dps = 60
DEFINITIONS = {
    "silu": (lambda u: u / (1 + mpmath.exp(-u)), torch.ops.aten.silu_backward, -1.28),
    "mish": (lambda u: u * mpmath.tanh(mpmath.log1p(mpmath.exp(u))), torch.ops.aten.mish_backward, -1.19),
}
OFFSETS = (1e-9, -1e-7, 1e-5, -1e-4, 1e-3, 1e-2, 1e-1)


def main() -> None:
    print("| kernel | dtype | implementation | " + " | ".join(f"x0 {d:+.0e}" for d in OFFSETS) + " |")
    print("|---|---|---|" + "---|" * len(OFFSETS))
    for name, (f, backward, guess) in DEFINITIONS.items():
        module = load_module(name, "generated")
        root = mpmath.findroot(lambda t, f=f: mpmath.diff(f, t), guess)
        for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
            x = np.array([float(root) + d for d in OFFSETS]).astype(dtype)
            exact = [mpmath.diff(f, mpmath.mpf(float(v))) for v in x]
            ours = module.vjp(x, np.ones_like(x))
            theirs = backward(torch.ones(len(x), dtype=tdtype), torch.from_numpy(x)).numpy()
            for label, values in (("symact vjp", ours), ("torch backward", theirs)):
                errors = [float(np.max(ulp_error(np.array([v]), e, dtype))) for v, e in zip(values, exact)]
                print(f"| {name} | {dtype.__name__} | {label} | " + " | ".join(f"{e:.3g}" for e in errors) + " |")


if __name__ == "__main__":
    main()
