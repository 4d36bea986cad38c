"""What a row kernel's first call compiles (issue 13: the cold first call), checked by the dispatchers' own records,
not by timing: an ordinary call compiles the kernel of its dtype only, none of the redo kernels, no parallel twin,
and caches only the entry points; a second process loads them from the cache and compiles nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys
import numba, numpy as np
from numba.core.registry import CPUDispatcher
sys.path.insert(0, sys.argv[1])
m = __import__(sys.argv[2])
rng = np.random.default_rng(0)
for rows in (3, 400):  # the serial kernel, and the blocks of rows on threads (400 x 1000 >= 2**18 elements)
    a = rng.normal(0, 2, (rows, 1000))
    g = rng.normal(size=a.shape)
    if hasattr(m, "vjp_from_output"):
        m.forward(a), m.vjp(a, g), m.vjp_from_output(m.forward(a), g)
    else:
        labels = rng.integers(0, 1000, rows) if "sparse" in sys.argv[2] else np.full(a.shape, 1e-3)
        m.forward(a, labels), m.grad(a, labels)
report = {}
for name, value in vars(m).items():
    if isinstance(value, CPUDispatcher):
        report[name] = {
            "compiled": len(value.signatures),
            "cached": type(value._cache).__name__ != "NullCache",
            "parallel": bool(value.targetoptions.get("parallel")),
            "hits": sum(value.stats.cache_hits.values()),
        }
print(json.dumps(report))
"""

_ROWS = ["softmax", "log_softmax", "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits"]


def _run(folder: Path, name: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), name], capture_output=True, text=True, timeout=900, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", _ROWS)
def test_an_ordinary_float64_call_compiles_its_own_kernels_only_and_a_second_process_none(tmp_path, name):
    shutil.copy(ROOT / "generated" / f"{name}.py", tmp_path)
    cold = _run(tmp_path, name)
    compiled = {k for k, v in cold.items() if v["compiled"]}
    assert not [k for k, v in cold.items() if v["parallel"]], "a parallel=True twin is back"
    assert not [k for k in compiled if k.endswith("_redo")], "a redo kernel compiled for ordinary rows"
    assert not [k for k in compiled if k.endswith("_single")], "float32 kernels compiled by a float64 call"
    assert not {"_plain_dot", "_softmax_from_output_single", "_log_from_output_single"} & compiled
    entry = {k for k, v in cold.items() if v["cached"]}  # the kernels the Python functions call
    helpers = {"_exps_dd", "_exps_dd_block", "_row_max", "_max_key", "_sum_fixed", "_dot2", "_exps_fwd"}
    assert helpers & compiled, "no helper compiled: the calls did not run the kernels"
    assert not helpers & entry, "a helper is cached besides the kernels that link it in"
    warm = _run(tmp_path, name)
    assert {k for k, v in warm.items() if v["compiled"]} <= entry, "a warm process compiled a helper"
    assert all(warm[k]["hits"] for k in compiled & entry), "a warm process missed the cache"
