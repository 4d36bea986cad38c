"""symact.machine: the record of the machine a benchmark ran on, and the rules that say when a peer runs
below its best on that CPU (which makes a comparison not representative)."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import pytest

from symact import machine

GENERATED = Path(__file__).resolve().parent.parent / "generated"

AVX512 = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


@pytest.fixture
def fake_torch(monkeypatch):
    """Install a stand-in ``torch`` whose CPU capability the test sets."""

    def install(capability: str):
        cpu = types.SimpleNamespace(get_cpu_capability=lambda: capability)
        module = types.SimpleNamespace(__version__="9.9.9", backends=types.SimpleNamespace(cpu=cpu))
        monkeypatch.setitem(sys.modules, "torch", module)

    return install


def synthetic(flags=AVX512, **changes) -> machine.Machine:
    """A record of an x86 machine with these flags, every implementation at its best unless changed."""
    base = machine.Machine(
        cpu="Test CPU",
        architecture="x86_64",
        flags=tuple(flags),
        logical_cores=2,
        numba_threads=2,
        os="Linux",
        python="3.11.7",
        versions={"numpy": "2.4.6", "symact": "0.1.0"},
        torch_capability=None,
        numpy_baseline=("X86_V2",),
        numpy_dispatch=("X86_V3", "X86_V4"),
        numpy_enabled=("X86_V2", "X86_V3", "X86_V4"),
        numba_cpu="skylake-avx512",
        numba_host_cpu="skylake-avx512",
        numba_features=tuple(flags),
        environment={},
    )
    return dataclasses.replace(base, **changes)


def test_the_record_of_this_machine():
    import numba
    import numpy as np

    m = machine.record()
    assert m.cpu and m.architecture and m.logical_cores >= 1 and m.numba_threads == numba.config.NUMBA_NUM_THREADS
    assert m.versions["numpy"] == np.__version__ and m.versions["numba"] == numba.__version__
    assert {"llvmlite", "sympy", "symact"} <= set(m.versions)
    assert set(m.flags) <= {cpu for cpu, _ in machine.FLAGS}
    assert set(m.numpy_enabled) <= set(m.numpy_baseline) | set(m.numpy_dispatch)
    assert m.numba_host_cpu and m.numba_cpu
    if m.architecture == "x86_64":
        assert "sse4_2" in m.flags and m.numpy_baseline
    data = json.loads(json.dumps(m.to_dict()))
    assert data["representative"] is (not data["warnings"])
    assert machine.Machine.from_dict(data) == m


@pytest.mark.parametrize(
    "flags, best",
    [
        ((), "DEFAULT"),
        (("sse4_2", "avx"), "DEFAULT"),
        (("avx", "avx2"), "DEFAULT"),  # AVX2 without FMA: PyTorch stays at DEFAULT
        (("avx", "avx2", "fma"), "AVX2"),
        (("avx2", "fma", "avx512f"), "AVX2"),  # AVX-512 foundation alone is not PyTorch's AVX512
        (("avx2", "fma", "avx512f", "avx512bw", "avx512dq"), "AVX2"),
        (AVX512, "AVX512"),
    ],
)
def test_pytorchs_best_capability_from_the_flags(flags, best):
    assert machine.best_torch_capability(flags, "x86_64") == best
    assert machine.best_torch_capability(flags, "arm64") is None  # not judged off x86


def test_a_machine_at_its_best_is_representative():
    assert machine.shortfalls(synthetic()) == []
    assert machine.shortfalls(synthetic(torch_capability="AVX512")) == []
    assert machine.shortfalls(synthetic(("avx", "avx2", "fma"), torch_capability="AVX2")) == []


def test_pytorch_below_its_best_is_named_with_the_variable_that_holds_it():
    m = synthetic(torch_capability="AVX2", environment={"ATEN_CPU_CAPABILITY": "avx2"})
    (warning,) = machine.shortfalls(m)
    assert warning == "PyTorch runs at AVX2 on a CPU that allows AVX512 (ATEN_CPU_CAPABILITY=avx2 set)"
    (warning,) = machine.shortfalls(synthetic(torch_capability="DEFAULT"))  # a build without AVX kernels
    assert warning == "PyTorch runs at DEFAULT on a CPU that allows AVX512"
    assert machine.shortfalls(synthetic(torch_capability="SVE256")) == []  # a level it does not rank


def test_numpy_leaving_out_a_target_the_cpu_has():
    m = synthetic(numpy_enabled=("X86_V2", "X86_V3"), environment={"NPY_DISABLE_CPU_FEATURES": "X86_V4"})
    assert machine.shortfalls(m) == [
        "NumPy leaves out its X86_V4 code, which this CPU can run (NPY_DISABLE_CPU_FEATURES=X86_V4 set)"
    ]
    no_avx512 = synthetic(("sse4_2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi2"))
    assert machine.shortfalls(dataclasses.replace(no_avx512, numpy_enabled=("X86_V2", "X86_V3"))) == []


def test_numba_compiling_for_a_lesser_cpu():
    m = synthetic(numba_cpu="generic", numba_features=(), environment={"NUMBA_CPU_NAME": "generic"})
    (warning,) = machine.shortfalls(m)
    assert warning.startswith("Numba compiles symact's kernels for generic without avx, avx2, fma, avx512f")
    assert warning.endswith("(NUMBA_CPU_NAME=generic set)")


def test_jax_held_below_the_cpus_vectors():
    m = synthetic(versions={"jax": "0.6.0"}, environment={"XLA_FLAGS": "--xla_cpu_max_isa=avx2"})
    (warning,) = machine.shortfalls(m)
    assert warning == "JAX's XLA is held to AVX2 on a CPU with wider vectors (XLA_FLAGS=--xla_cpu_max_isa=avx2 set)"
    assert machine.shortfalls(dataclasses.replace(m, versions={})) == []  # JAX not installed: not a peer


def test_a_monkeypatched_torch_below_the_best_makes_the_record_not_representative(fake_torch):
    m = machine.record()
    best = machine.best_torch_capability(m.flags, m.architecture)
    if best in (None, "DEFAULT"):
        pytest.skip("this CPU allows PyTorch nothing above DEFAULT")
    fake_torch("DEFAULT")
    m = machine.record()
    assert m.torch_capability == "DEFAULT" and m.versions["torch"] == "9.9.9"
    assert f"PyTorch runs at DEFAULT on a CPU that allows {best}" in machine.shortfalls(m)
    data = m.to_dict()
    assert data["representative"] is False
    assert "representative          no: PyTorch runs at DEFAULT" in machine.text(m)
    fake_torch(best)
    assert not any(w.startswith("PyTorch") for w in machine.shortfalls(machine.record()))


def test_no_cpuinfo_is_no_crash(monkeypatch, tmp_path):
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "missing")
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    m = machine.record()
    assert m.cpu == "unknown" or sys.platform == "darwin"
    assert set(m.flags) <= {cpu for cpu, _ in machine.FLAGS}  # from LLVM's host features instead
    assert machine.text(m) and machine.markdown(m).startswith("### Machine")


def test_an_arm_cpuinfo(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm sve sve2\n\nModel\t: Board X\n")
    monkeypatch.setattr(machine, "CPUINFO", info)
    m = machine.record()
    assert m.cpu == "Board X" and m.flags == ("asimd", "sve", "sve2")


def test_the_markdown_section_lists_the_fields():
    m = synthetic(torch_capability="AVX2", versions={"numpy": "2.4.6", "torch": "2.13.0", "symact": "0.1.0"})
    section = machine.markdown(m)
    for text in ("| CPU | Test CPU (x86_64) |", "avx512vl", "torch 2.13.0", "AVX2 (best on this CPU: AVX512)"):
        assert text in section
    assert "| representative | no: PyTorch runs at AVX2" in section


def _cli(capsys, *args):
    from symact.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_symact_machine_prints_the_record(capsys):
    code, out, err = _cli(capsys, "machine")
    assert code == 0 and err == "" and out.startswith("CPU ") and "\nrepresentative " in out
    code, out, err = _cli(capsys, "machine", "--json")
    data = json.loads(out)
    assert code == 0 and {"cpu", "flags", "versions", "torch_capability", "warnings", "representative"} <= set(data)
    code, out, err = _cli(capsys, "machine", "--yaml")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not (GENERATED / "relu.py").exists(), reason="generated/ is not there")
def test_bench_says_on_stderr_when_pytorch_is_held_below_its_best(capsys, monkeypatch, tmp_path):
    m = machine.record()
    best = machine.best_torch_capability(m.flags, m.architecture)
    if best in (None, "DEFAULT"):
        pytest.skip("this CPU allows PyTorch nothing above DEFAULT")
    monkeypatch.setattr(machine, "_torch_capability", lambda: "DEFAULT")  # no torch needed to time
    md, js = tmp_path / "b.md", tmp_path / "b.json"
    args = ["relu", "--dir", str(GENERATED), "--sizes", "1000", "--dtypes", "float64", "--threads", "1"]
    args += ["--modes", "out", "--ops", "forward", "--rounds", "1", "--quiet", "--markdown", str(md), "--json", str(js)]
    args += ["--peers", "torch"]  # not JAX, whose threads must not be in the suite's forking processes
    code, out, err = _cli(capsys, "bench", *args)
    line = f"symact bench: Not representative of this CPU: PyTorch runs at DEFAULT on a CPU that allows {best}."
    assert code == 0 and out == "" and err.strip() == line
    assert md.read_text().startswith("### Machine") and "Not representative of this CPU" in md.read_text()
    assert json.loads(js.read_text())["machine"]["representative"] is False
