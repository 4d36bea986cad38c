"""The machine a benchmark ran on, and whether its peers ran at their best there.

A time is a property of a kernel *and* of the machine: PyTorch's float32 tanh took 34 ms on one machine
and 3.5 ms on another.  PyTorch dispatches its vectorised kernels by the CPU capability it finds at
start-up (``DEFAULT``, ``AVX2``, ``AVX512``), and an environment variable or a build can hold it below
what the CPU allows; NumPy and Numba choose their instruction sets likewise.  :func:`record` reads the
CPU (model, SIMD flags, cores), the library versions, the capability each implementation runs at
(PyTorch's dispatch level, NumPy's enabled dispatch targets, Numba's LLVM target) and the environment
variables that lower them; :func:`shortfalls` says where one runs below its best on that CPU, which makes
a comparison on this machine not representative.

>>> best_torch_capability({"avx2", "fma"}, "x86_64")
'AVX2'
>>> best_torch_capability({"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"}, "x86_64")
'AVX512'
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["Machine", "record", "shortfalls", "verdict", "best_torch_capability", "markdown", "text"]

#: where Linux describes the CPU; a module constant so that tests can point it elsewhere
CPUINFO = Path("/proc/cpuinfo")

#: the SIMD flags worth recording: (the name in /proc/cpuinfo, the name LLVM gives the same feature)
FLAGS = (
    ("sse4_2", "sse4.2"),
    ("popcnt", "popcnt"),
    ("avx", "avx"),
    ("avx2", "avx2"),
    ("fma", "fma"),
    ("f16c", "f16c"),
    ("bmi2", "bmi2"),
    ("avx512f", "avx512f"),
    ("avx512cd", "avx512cd"),
    ("avx512bw", "avx512bw"),
    ("avx512dq", "avx512dq"),
    ("avx512vl", "avx512vl"),
    ("avx512ifma", "avx512ifma"),
    ("avx512vbmi", "avx512vbmi"),
    ("avx512_vbmi2", "avx512vbmi2"),
    ("avx512_vnni", "avx512vnni"),
    ("avx512_bitalg", "avx512bitalg"),
    ("avx512_vpopcntdq", "avx512vpopcntdq"),
    ("avx512_bf16", "avx512bf16"),
    ("avx512_fp16", "avx512fp16"),
    ("amx_tile", "amx-tile"),
    ("amx_bf16", "amx-bf16"),
    ("amx_fp16", "amx-fp16"),
    ("asimd", "neon"),
    ("sve", "sve"),
    ("sve2", "sve2"),
)
#: the flags that set the vector width a compiled loop can use: Numba's target is judged on these alone
#: (a newer feature that this LLVM does not know is no loss for an elementwise kernel)
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "asimd", "sve")

#: PyTorch's dispatch levels on x86, lowest first (aten/src/ATen/native/DispatchStub.cpp)
TORCH_LEVELS = ("DEFAULT", "AVX2", "AVX512")
#: NumPy's x86 dispatch targets (old and new names) -> the /proc/cpuinfo flags each needs
NUMPY_TARGETS = {
    "X86_V2": ("sse4_2", "popcnt"),
    "AVX2": ("avx2",),
    "FMA3": ("fma",),
    "X86_V3": ("avx", "avx2", "fma", "f16c", "bmi2"),
    "AVX512F": ("avx512f",),
    "AVX512_SKX": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
    "X86_V4": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
    "AVX512_ICL": (
        *("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma", "avx512vbmi"),
        *("avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq"),
    ),
    "AVX512_SPR": (
        *("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma", "avx512vbmi"),
        *("avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "avx512_fp16"),
    ),
}
#: XLA's --xla_cpu_max_isa values, by the vector width they allow (0: SSE4.2)
XLA_LEVELS = {"SSE4_2": 0, "AVX": 1, "AVX2": 2, "AVX_VNNI": 2, "AVX512": 3, "AVX512_VNNI": 3, "AVX512_BF16": 3}

#: environment variables that lower an implementation's instruction set or set its thread count
ENVIRONMENT = (
    "ATEN_CPU_CAPABILITY",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
    "NUMBA_NUM_THREADS",
    "XLA_FLAGS",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)
#: the libraries whose versions a table records, besides symact's own
LIBRARIES = ("numpy", "numba", "llvmlite", "sympy", "mpmath", "torch", "jax", "jaxlib")

X86 = {"x86_64", "amd64", "i386", "i686", "x86"}


@dataclasses.dataclass(frozen=True)
class Machine:
    """What a benchmark's figures depend on besides the kernels.  Tuples of names are in a fixed order;
    ``None`` is "not installed" (PyTorch) or "not known"."""

    cpu: str  #: the model name, or "unknown"
    architecture: str  #: platform.machine(): x86_64, arm64, ...
    flags: tuple[str, ...]  #: the SIMD flags of :data:`FLAGS` that the CPU reports
    logical_cores: int
    numba_threads: int  #: Numba's thread pool (NUMBA_NUM_THREADS)
    os: str
    python: str
    versions: dict[str, str]  #: library -> version, the libraries that are installed
    torch_capability: str | None  #: torch.backends.cpu.get_cpu_capability()
    numpy_baseline: tuple[str, ...]  #: the features NumPy was compiled to assume
    numpy_dispatch: tuple[str, ...]  #: the dispatch targets NumPy was compiled with
    numpy_enabled: tuple[str, ...]  #: those of them it uses on this CPU
    numba_cpu: str  #: the CPU Numba compiles for (NUMBA_CPU_NAME, else the host's)
    numba_host_cpu: str  #: LLVM's name for this CPU
    numba_features: tuple[str, ...]  #: the flags of :data:`FLAGS` that Numba compiles with
    environment: dict[str, str]  #: the variables of :data:`ENVIRONMENT` that are set

    def to_dict(self) -> dict:
        """The record, its warnings and whether the comparison is representative: JSON-ready."""
        found = shortfalls(self)
        return {**dataclasses.asdict(self), "representative": not found, "warnings": found}

    @classmethod
    def from_dict(cls, data: dict) -> Machine:
        """The record of :meth:`to_dict` (its warnings are recomputed, not read)."""
        values = {}
        for field in dataclasses.fields(cls):
            value = data[field.name]
            values[field.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


# --- reading the machine --------------------------------------------------------------------------------


def _cpuinfo(path: Path) -> dict[str, str]:
    """The fields of /proc/cpuinfo, the first value of each key ({} where the file is missing)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _sysctl(name: str) -> str:
    """A macOS sysctl value ("" elsewhere, or where it fails)."""
    if sys.platform != "darwin":
        return ""
    try:
        proc = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _llvm_enabled(features: str) -> set[str]:
    """``"+avx2,-avx512f,+fma"`` -> ``{"avx2", "fma"}``: an LLVM feature string's enabled features."""
    return {f.strip()[1:] for f in features.split(",") if f.strip().startswith("+")}


def _llvm_host() -> tuple[str, set[str]]:
    """LLVM's name for this CPU and the features it detects ("unknown" and none where it cannot tell)."""
    import llvmlite.binding as llvm

    try:
        name = llvm.get_host_cpu_name()
    except RuntimeError:
        name = "unknown"
    try:
        features = _llvm_enabled(llvm.get_host_cpu_features().flatten())
    except RuntimeError:
        features = set()
    return name, features


def _from_llvm(features: set[str]) -> tuple[str, ...]:
    """The flags of :data:`FLAGS` among LLVM features, in /proc/cpuinfo's spelling."""
    return tuple(cpu for cpu, llvm in FLAGS if llvm in features)


def _cpu_model(info: dict[str, str]) -> str:
    for key in ("model name", "Model", "Hardware", "cpu model"):  # x86; ARM boards; MIPS
        if info.get(key):
            return info[key]
    return _sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown"


def _cpu_flags(info: dict[str, str], llvm_features: set[str]) -> tuple[str, ...]:
    """The interesting flags the CPU reports: /proc/cpuinfo's ``flags`` (x86) or ``Features`` (ARM), else
    what LLVM detects (macOS, Windows)."""
    reported = set((info.get("flags") or info.get("Features") or "").split())
    if not reported:
        return _from_llvm(llvm_features)
    return tuple(cpu for cpu, _ in FLAGS if cpu in reported)


def _version(name: str) -> str | None:
    module = sys.modules.get(name)
    if getattr(module, "__version__", None):
        return str(module.__version__)
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _torch_capability() -> str | None:
    """PyTorch's dispatch level (``AVX512``, ``AVX2``, ``DEFAULT``, ...); None where it is not installed."""
    try:
        import torch
    except (ImportError, OSError):  # not installed, or its shared libraries do not load
        return None
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # a PyTorch older than 2.0
        return "unknown"


def _numpy_dispatch() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """NumPy's baseline, its compiled dispatch targets, and those of both it uses here."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath
    baseline = tuple(getattr(umath, "__cpu_baseline__", ()))
    dispatch = tuple(getattr(umath, "__cpu_dispatch__", ()))
    features = getattr(umath, "__cpu_features__", {})
    return baseline, dispatch, tuple(t for t in (*baseline, *dispatch) if features.get(t))


def record() -> Machine:
    """Read this machine: CPU, flags, cores, versions, capabilities, environment.  Never fails for want of
    a file or a library other than NumPy and Numba: a field it cannot read is "unknown" or empty."""
    import numba

    from . import __version__

    info = _cpuinfo(CPUINFO)
    host_cpu, host_features = _llvm_host()
    numba_features = host_features if numba.config.CPU_FEATURES is None else _llvm_enabled(numba.config.CPU_FEATURES)
    torch_capability = _torch_capability()  # imports torch, so that its version is the one imported
    versions = {name: v for name in LIBRARIES if (v := _version(name)) is not None}
    baseline, dispatch, enabled = _numpy_dispatch()
    return Machine(
        cpu=_cpu_model(info),
        architecture=platform.machine() or "unknown",
        flags=_cpu_flags(info, host_features),
        logical_cores=os.cpu_count() or 1,
        numba_threads=numba.config.NUMBA_NUM_THREADS,
        os=platform.platform(),
        python=platform.python_version(),
        versions={**versions, "symact": __version__},
        torch_capability=torch_capability,
        numpy_baseline=baseline,
        numpy_dispatch=dispatch,
        numpy_enabled=enabled,
        numba_cpu=numba.config.CPU_NAME or host_cpu,
        numba_host_cpu=host_cpu,
        numba_features=_from_llvm(numba_features),
        environment={name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
    )


# --- judging it -----------------------------------------------------------------------------------------


def best_torch_capability(flags, architecture: str) -> str | None:
    """The dispatch level PyTorch picks on a CPU with these flags when nothing holds it back, following
    ``compute_cpu_capability`` in aten/src/ATen/native/DispatchStub.cpp: ``AVX512`` needs avx512vl,
    avx512bw, avx512dq and fma; ``AVX2`` needs avx2 and fma; else ``DEFAULT``.  None off x86, where the
    levels (NEON, SVE256, VSX, ZVECTOR) are not judged."""
    if architecture.lower() not in X86:
        return None
    flags = set(flags)
    if {"avx512vl", "avx512bw", "avx512dq", "fma"} <= flags:
        return "AVX512"
    if {"avx2", "fma"} <= flags:
        return "AVX2"
    return "DEFAULT"


def _because(m: Machine, *names: str) -> str:
    """`` (NAME=value set)`` for the variables among ``names`` that are set, to say why."""
    given = [f"{n}={m.environment[n]}" for n in names if n in m.environment]
    return f" ({', '.join(given)} set)" if given else ""


def _torch_warning(m: Machine) -> str | None:
    best = best_torch_capability(m.flags, m.architecture)
    actual = (m.torch_capability or "").upper()
    if best is None or actual not in TORCH_LEVELS or TORCH_LEVELS.index(actual) >= TORCH_LEVELS.index(best):
        return None
    return f"PyTorch runs at {actual} on a CPU that allows {best}{_because(m, 'ATEN_CPU_CAPABILITY')}"


def _numpy_warning(m: Machine) -> str | None:
    flags = set(m.flags)
    left_out = [
        t
        for t in m.numpy_dispatch
        if t in NUMPY_TARGETS and set(NUMPY_TARGETS[t]) <= flags and t not in m.numpy_enabled
    ]
    if not left_out:
        return None
    because = _because(m, "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES")
    return f"NumPy leaves out its {', '.join(left_out)} code, which this CPU can run{because}"


def _numba_warning(m: Machine) -> str | None:
    missing = [f for f in VECTOR_FLAGS if f in m.flags and f not in m.numba_features]
    if not missing:
        return None
    because = _because(m, "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")
    without = ", ".join(missing)
    return f"Numba compiles symact's kernels for {m.numba_cpu} without {without}, which this CPU has{because}"


def _xla_cap(xla_flags: str) -> str | None:
    for flag in xla_flags.split():
        name, _, value = flag.partition("=")
        if name == "--xla_cpu_max_isa":
            return value.upper()
    return None


def _jax_warning(m: Machine) -> str | None:
    cap = _xla_cap(m.environment.get("XLA_FLAGS", ""))
    if "jax" not in m.versions or cap not in XLA_LEVELS:
        return None
    flags = set(m.flags)
    best = 3 if "avx512f" in flags else 2 if "avx2" in flags else 1 if "avx" in flags else 0
    if XLA_LEVELS[cap] >= best:
        return None
    return f"JAX's XLA is held to {cap} on a CPU with wider vectors{_because(m, 'XLA_FLAGS')}"


def shortfalls(m: Machine) -> list[str]:
    """Every implementation that runs below its best on this CPU: each makes the comparison not
    representative (of the kernels; it remains a fact about this configuration)."""
    checks = (_torch_warning, _numpy_warning, _numba_warning, _jax_warning)
    return [w for check in checks if (w := check(m)) is not None]


def verdict(m: Machine) -> str | None:
    """One line for a table's summary and for stderr when the comparison is not representative, else None."""
    found = shortfalls(m)
    return f"Not representative of this CPU: {'; '.join(found)}." if found else None


# --- showing it -----------------------------------------------------------------------------------------


def _rows(m: Machine) -> list[tuple[str, str]]:
    best = best_torch_capability(m.flags, m.architecture)
    if m.torch_capability is None:
        torch = "not installed"
    else:
        torch = m.torch_capability + (f" (best on this CPU: {best})" if best else "")
    found = shortfalls(m)
    return [
        ("CPU", f"{m.cpu} ({m.architecture})"),
        ("SIMD flags", " ".join(m.flags) or "none reported"),
        ("cores", f"{m.logical_cores} logical; Numba's pool {m.numba_threads} threads"),
        ("OS", m.os),
        ("Python", m.python),
        ("versions", ", ".join(f"{k} {v}" for k, v in m.versions.items())),
        ("PyTorch CPU capability", torch),
        (
            "NumPy dispatch",
            f"uses {' '.join(m.numpy_enabled) or 'none'} (baseline {' '.join(m.numpy_baseline) or 'none'}; "
            f"compiled targets {' '.join(m.numpy_dispatch) or 'none'})",
        ),
        (
            "Numba target",
            f"{m.numba_cpu} (host {m.numba_host_cpu}); {' '.join(m.numba_features) or 'no SIMD features'}",
        ),
        ("environment", ", ".join(f"{k}={v}" for k, v in m.environment.items()) or "none of the variables set"),
        ("representative", "no: " + "; ".join(found) if found else "yes: nothing runs below its best on this CPU"),
    ]


def markdown(m: Machine) -> str:
    """The ``Machine`` section that heads a benchmark table."""
    lines = ["### Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _rows(m)]
    return "\n".join(lines) + "\n"


def text(m: Machine) -> str:
    """The record as aligned ``name  value`` lines (``symact machine``)."""
    rows = _rows(m)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows) + "\n"
