"""symact.bench on a tiny case: the machinery runs, the table and the JSON carry what they claim."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from symact import bench

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def test_interleaved_medians_rank_a_slow_call_behind_a_fast_one():
    import time

    times = bench._time({"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, min_round=0.001, rounds=3)
    assert times["fast"] < times["slow"] and times["slow"] >= 0.002


@pytest.mark.skipif(not (GENERATED / "relu.py").exists(), reason="generated/ is not there")
def test_a_tiny_run_writes_a_table_and_json(monkeypatch):
    # JAX is left out: its threads must not be in a process that forks (the suite's time budgets do);
    # tests/jax_crosscheck.py times it in a process of its own.  An import of JAX here would fail, and be noted.
    monkeypatch.setitem(sys.modules, "jax", None)
    results, notes = bench.run_cases(
        ["relu"], [1000], ["float64"], [1], ["out"], ["forward", "vjp"], directory=GENERATED, rounds=2, peers=("torch",)
    )
    assert not any("JAX" in note for note in notes)
    assert [(r.case.op, r.case.mode) for r in results] == [("forward", "out"), ("vjp", "out")]
    for r in results:
        assert r.times["symact"] > 0 and r.limit > 0
    table = bench.markdown(results, notes)
    assert table.count("| relu |") == 2 and "copy ms" in table
    data = json.loads(bench.to_json(results, notes))
    assert data["results"][0]["kernel"] == "relu" and "symact" in data["results"][0]["seconds"]


def test_summary_holds_each_case_to_pytorch_at_its_thread_count():
    def result(kernel, op, threads, symact, torch, copy=1e-3, mode="out", extra=None):
        times = {"symact": symact, "torch": torch, **(extra or {})}
        return bench.Result(bench.Case(kernel, op, "float32", 10**7, threads, mode), times, copy)

    results = [
        result("silu", "forward", 1, 2e-3, 4e-3),  # 2x
        result("silu", "forward", 2, 2e-3, 1e-3),  # 0.5x: listed as slow
        result("sigmoid", "vjp", 1, 9e-3, 3e-3, extra={"symact from output": 3e-3}),  # compared from the output
        result("relu", "forward", 1, 1.25e-3, 1.5e-3, copy=1e-3),  # 80% of copy: below the 85% target
        result("mse", "grad", 1, 1e-2, 3e-2, mode="alloc"),  # a loss: allocating counts
    ]
    text = bench.summary(results)
    assert "| 1e7 | 1 | 4 |" in text and "| 1e7 | 2 | 1 | 0.50x | 0.50x |" in text
    assert "silu forward float32 N=1e7 2 thread(s): 0.50x" in text
    assert "sigmoid vjp" not in text.split("below PyTorch")[1].split("Memory-bound")[0]
    assert "relu forward float32 t=1: 80%" in text


def _machine(torch_capability):
    """This machine's record, made an AVX-512 x86 CPU with PyTorch at ``torch_capability``."""
    from symact import machine

    flags = ("avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
    return dataclasses.replace(
        machine.record(),
        architecture="x86_64",
        flags=flags,
        numba_features=flags,
        numpy_dispatch=(),
        torch_capability=torch_capability,
    )


def test_the_table_and_json_carry_the_machine_and_say_when_it_is_not_representative():
    case = bench.Case("silu", "forward", "float32", 10**7, 1, "out")
    results = [bench.Result(case, {"symact": 1.0, "torch": 2.0}, 1)]
    fair = bench.markdown(results, [], _machine("AVX512"))
    assert fair.startswith("### Machine") and "| PyTorch CPU capability | AVX512 (best on this CPU: AVX512) |" in fair
    assert "Not representative" not in fair
    held = bench.markdown(results, [], _machine("AVX2"))
    summary = held.split("### Against the targets")[1]
    assert "**Not representative of this CPU: PyTorch runs at AVX2 on a CPU that allows AVX512.**" in summary
    data = json.loads(bench.to_json(results, [], machine=_machine("AVX2")))
    assert data["machine"]["torch_capability"] == "AVX2" and data["machine"]["representative"] is False
    assert data["machine"]["warnings"] == ["PyTorch runs at AVX2 on a CPU that allows AVX512"]
    assert "flags" in json.loads(bench.to_json(results, []))["machine"]  # read when not given
    alone = [bench.Result(case, {"symact": 1.0}, 1)]  # no PyTorch, so no summary: the verdict still shows
    numpy_held = dataclasses.replace(_machine(None), numpy_dispatch=("X86_V4",), numpy_enabled=())
    assert "**Not representative of this CPU: NumPy leaves out its X86_V4 code" in bench.markdown(alone, [], numpy_held)


def test_an_unknown_peer_is_a_clear_error(capsys):
    from symact.cli import main

    with pytest.raises(ValueError, match="unknown peer 'tf'"):
        bench.run_cases(["relu"], [1000], ["float64"], [1], ["out"], ["forward"], directory=GENERATED, peers=("tf",))
    assert main(["bench", "relu", "--dir", str(GENERATED), "--peers", "torch,tf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--peers: unknown peer 'tf'" in err
