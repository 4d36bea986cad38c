"""Cold and warm first calls of two folders of generated modules side by side, interleaved kernel by kernel
in one run (the machine is noisy: a baseline measured at another time is not comparable).

    python benchmarks/cold_start_vs.py BASE_DIR [--dir generated] [--names softmax,...] [--sizes 1000,1000000]

Each measurement is benchmarks/cold_start.py's (a new process, an empty Numba cache, then a warm one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cold_start  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the baseline's folder of generated modules (e.g. another checkout's generated/)")
    parser.add_argument("--dir", default=str(cold_start.ROOT / "generated"))
    parser.add_argument("--names", required=True, help="comma-separated module names")
    parser.add_argument("--sizes", default="1000,1000000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| module | kernel | dtype | n | base cold (s) | this cold (s) | base warm (ms) | this warm (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.names.split(","):
        here = Path(args.dir) / f"{name}.py"
        for kernel in cold_start.kernels_of(here):
            for dtype in ("float32", "float64"):
                for n in sizes:
                    base = cold_start.measure(Path(args.base) / f"{name}.py", kernel, dtype, n)
                    this = cold_start.measure(here, kernel, dtype, n)
                    print(
                        f"| {name} | {kernel} | {dtype} | {n} | {base[0]['first']:.2f} | {this[0]['first']:.2f} "
                        f"| {base[1]['first'] * 1e3:.1f} | {this[1]['first'] * 1e3:.1f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
