"""Benchmark every generated kernel (the same as ``symact bench``; not part of the test suite).

PYTHONPATH=. python3 benchmarks/bench.py --startup --markdown benchmarks/bench.md --json benchmarks/bench.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symact.commands.bench import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
