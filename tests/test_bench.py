"""symact.bench on a tiny case: the machinery runs, the table and the JSON carry what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symact import bench

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def test_interleaved_medians_rank_a_slow_call_behind_a_fast_one():
    import time

    times = bench._time({"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, min_round=0.001, rounds=3)
    assert times["fast"] < times["slow"] and times["slow"] >= 0.002


@pytest.mark.skipif(not (GENERATED / "relu.py").exists(), reason="generated/ is not there")
def test_a_tiny_run_writes_a_table_and_json():
    results, notes = bench.run_cases(
        ["relu"], [1000], ["float64"], [1], ["out"], ["forward", "vjp"], directory=GENERATED, rounds=2
    )
    assert [(r.case.op, r.case.mode) for r in results] == [("forward", "out"), ("vjp", "out")]
    for r in results:
        assert r.times["symact"] > 0 and r.limit > 0
    table = bench.markdown(results, notes)
    assert table.count("| relu |") == 2 and "copy ms" in table
    data = json.loads(bench.to_json(results, notes))
    assert data["results"][0]["kernel"] == "relu" and "symact" in data["results"][0]["seconds"]
