"""Time the generated kernels against NumPy, ``sympy.lambdify``, PyTorch and JAX, in one interleaved run.

For every case (kernel, op, dtype, N, threads, mode) the implementations are called in turn, round after
round, so that the machine's noise hits them alike; each one's time is the median of its rounds after a
warm-up.  ``mode`` is ``out`` (into an existing array: kernel for kernel) or ``alloc`` (a fresh result:
what a user who writes ``f(x)`` pays, page faults included).  ``copy`` is the machine's limit: ``np.copyto``
of the same bytes (``N`` elements for a forward, scaled by 1.5 for a vjp, which reads two arrays, and by
another half for each auxiliary input: dropout's mask).

The generated modules are loaded by file path from ``generated/``; frameworks that are not installed are
skipped with a note.  A table is headed by the record of the machine (:mod:`symact.machine`: CPU, flags,
versions, the capability each implementation dispatches at), and its summary says when the comparison is
not representative because a peer runs below its best on that CPU.  ``symact bench`` and
``benchmarks/bench.py`` run it through :mod:`symact.commands.bench`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .machine import Machine

__all__ = ["Case", "load_generated", "run_cases", "markdown", "summary", "startup"]

CLASSES = 1000  #: row length for softmax, log_softmax and the softmax losses
ELEMENTWISE_TEXTBOOK = {  # the NumPy a textbook writes: name -> (forward, vjp(x, g))
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x, g: g * (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x)))),
    "tanh": (np.tanh, lambda x, g: g * (1 - np.tanh(x) ** 2)),
    "relu": (lambda x: np.maximum(x, 0), lambda x, g: g * (x > 0)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x, g: g * np.where(x > 0, 1, 0.01)),
    "prelu": (lambda x: np.where(x > 0, x, 0.25 * x), lambda x, g: g * np.where(x > 0, 1, 0.25)),
    "rrelu": (lambda x: np.where(x > 0, x, 0.2291 * x), lambda x, g: g * np.where(x > 0, 1, 0.2291)),
    "elu": (lambda x: np.where(x > 0, x, np.exp(x) - 1), lambda x, g: g * np.where(x > 0, 1, np.exp(x))),
    "silu": (lambda x: x / (1 + np.exp(-x)), lambda x, g: g * (s := 1 / (1 + np.exp(-x))) * (1 + x * (1 - s))),
    "swish": (lambda x: x / (1 + np.exp(-x)), lambda x, g: g * (s := 1 / (1 + np.exp(-x))) * (1 + x * (1 - s))),
    "softplus": (lambda x: np.log(1 + np.exp(x)), lambda x, g: g / (1 + np.exp(-x))),
    "mish": (
        lambda x: x * np.tanh(np.log(1 + np.exp(x))),
        lambda x, g: g * ((t := np.tanh(np.log(1 + np.exp(x)))) + x * (1 - t * t) / (1 + np.exp(-x))),
    ),
    "step": (lambda x: (x >= 0).astype(x.dtype), lambda x, g: g * 0),
}
VECTOR_TEXTBOOK = {
    "softmax": (
        lambda a: (e := np.exp(a - a.max(-1, keepdims=True))) / e.sum(-1, keepdims=True),
        lambda a, g: (p := VECTOR_TEXTBOOK["softmax"][0](a)) * (g - (g * p).sum(-1, keepdims=True)),
    ),
    "log_softmax": (
        lambda a: a - a.max(-1, keepdims=True) - np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True)),
        lambda a, g: g - np.exp(VECTOR_TEXTBOOK["log_softmax"][0](a)) * g.sum(-1, keepdims=True),
    ),
}


@dataclasses.dataclass(frozen=True)
class Case:
    kernel: str
    op: str  # forward | vjp
    dtype: str  # float32 | float64
    n: int
    threads: int
    mode: str  # out | alloc


@dataclasses.dataclass
class Result:
    case: Case
    times: dict[str, float]  # implementation -> median seconds
    limit: float  # the copy limit for the same bytes, seconds


def load_generated(name: str, directory: str | Path = "generated"):
    """Import ``generated/<name>.py`` by file path (no package needed): :func:`symact.load`."""
    from .loader import load

    return load(name, directory)


def kind_of(module) -> str:
    if hasattr(module, "jacobian") or (hasattr(module, "vjp") and "axis" in module.forward.__code__.co_varnames):
        return "vector"
    if hasattr(module, "grad"):
        return "loss"
    return "elementwise"


#: the libraries a run compares with, where installed
PEERS = ("torch", "jax")


def _frameworks(notes: list[str], peers=PEERS) -> dict:
    """The peers of ``peers`` that are installed, imported (JAX with float64 enabled); a note for each missing."""
    found = {}
    if "torch" in peers:
        try:
            import torch

            found["torch"] = torch
        except ImportError:
            notes.append("PyTorch is not installed: `pip install torch==2.13.0` (the CPU wheel) to compare with it.")
    if "jax" in peers:
        try:
            import jax

            jax.config.update("jax_enable_x64", True)
            found["jax"] = jax
        except ImportError:
            notes.append("JAX is not installed: `pip install jax jaxlib` (CPU) to compare with it.")
    return found


#: SELU's constants as PyTorch's selu takes them (the catalog's exact decimals, rounded to float64)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _torch_impls(torch, kernel: str, op: str, mode: str, x, g, params) -> dict[str, Callable]:
    """PyTorch's kernel for the same work: aten ``.out`` / ``.grad_input`` overloads into ``out``,
    functional calls allocating; the vjp from what PyTorch's backward saves (the output for sigmoid and tanh)."""
    a = torch.ops.aten
    F = torch.nn.functional
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    o = torch.empty_like(xt)
    slope = {
        "leaky_relu": params.get("slope", 0.01),
        "rrelu": (params.get("lower", 0.125) + params.get("upper", 1 / 3)) / 2,
    }
    celu = params.get("alpha", 1.0)
    buffer = torch.empty_like(xt)  # log_sigmoid's saved exp(-|x|), as PyTorch's forward keeps it for backward
    fwd = {
        "sigmoid": (lambda: a.sigmoid.out(xt, out=o), lambda: torch.sigmoid(xt)),
        "tanh": (lambda: a.tanh.out(xt, out=o), lambda: torch.tanh(xt)),
        "relu": (lambda: torch.clamp_min(xt, 0, out=o), lambda: F.relu(xt)),  # aten::relu.out is a slow path
        "silu": (lambda: a.silu.out(xt, out=o), lambda: F.silu(xt)),
        "swish": (lambda: a.silu.out(xt, out=o), lambda: F.silu(xt)),
        "mish": (lambda: a.mish.out(xt, out=o), lambda: F.mish(xt)),
        "softplus": (lambda: a.softplus.out(xt, 1, 20, out=o), lambda: F.softplus(xt)),
        "elu": (lambda: a.elu.out(xt, params.get("alpha", 1.0), 1, 1, out=o), lambda: F.elu(xt)),
        "leaky_relu": (lambda: a.leaky_relu.out(xt, slope["leaky_relu"], out=o), lambda: F.leaky_relu(xt)),
        "rrelu": (lambda: a.leaky_relu.out(xt, slope["rrelu"], out=o), lambda: F.rrelu(xt, training=False)),
        "gelu": (lambda: a.gelu.out(xt, approximate="none", out=o), lambda: F.gelu(xt)),
        "gelu_tanh": (lambda: a.gelu.out(xt, approximate="tanh", out=o), lambda: F.gelu(xt, approximate="tanh")),
        "selu": (lambda: a.elu.out(xt, _SELU_ALPHA, _SELU_SCALE, 1, out=o), lambda: F.selu(xt)),
        "celu": (lambda: a.elu.out(xt, celu, 1, 1 / celu, out=o), lambda: F.celu(xt, celu)),
        "log_sigmoid": (
            lambda: a.log_sigmoid_forward.output(xt, output=o, buffer=buffer),
            lambda: F.logsigmoid(xt),
        ),
        "softsign": (None, lambda: F.softsign(xt)),  # a composite of three kernels in PyTorch: no out=
        "softmax": (lambda: a._softmax.out(xt, -1, False, out=o), lambda: torch.softmax(xt, -1)),
        "log_softmax": (lambda: a._log_softmax.out(xt, -1, False, out=o), lambda: torch.log_softmax(xt, -1)),
    }
    if kernel == "prelu":
        w = torch.tensor([params.get("alpha", 0.25)], dtype=xt.dtype)
        fwd["prelu"] = (None, lambda: F.prelu(xt, w))
    y = fwd[kernel][1]() if kernel in fwd and op == "vjp" else None
    if kernel == "log_sigmoid" and op == "vjp":
        a.log_sigmoid_forward.output(xt, output=torch.empty_like(xt), buffer=buffer)
    bwd = {
        "sigmoid": (lambda: a.sigmoid_backward.grad_input(gt, y, grad_input=o), lambda: a.sigmoid_backward(gt, y)),
        "tanh": (lambda: a.tanh_backward.grad_input(gt, y, grad_input=o), lambda: a.tanh_backward(gt, y)),
        "relu": (
            lambda: a.threshold_backward.grad_input(gt, xt, 0, grad_input=o),
            lambda: a.threshold_backward(gt, xt, 0),
        ),
        "silu": (lambda: a.silu_backward.grad_input(gt, xt, grad_input=o), lambda: a.silu_backward(gt, xt)),
        "swish": (lambda: a.silu_backward.grad_input(gt, xt, grad_input=o), lambda: a.silu_backward(gt, xt)),
        "mish": (None, lambda: a.mish_backward(gt, xt)),
        "softplus": (
            lambda: a.softplus_backward.grad_input(gt, xt, 1, 20, grad_input=o),
            lambda: a.softplus_backward(gt, xt, 1, 20),
        ),
        "elu": (
            lambda: a.elu_backward.grad_input(gt, params.get("alpha", 1.0), 1, 1, False, xt, grad_input=o),
            lambda: a.elu_backward(gt, params.get("alpha", 1.0), 1, 1, False, xt),
        ),
        "leaky_relu": (
            lambda: a.leaky_relu_backward.grad_input(gt, xt, slope["leaky_relu"], False, grad_input=o),
            lambda: a.leaky_relu_backward(gt, xt, slope["leaky_relu"], False),
        ),
        "rrelu": (
            lambda: a.leaky_relu_backward.grad_input(gt, xt, slope["rrelu"], False, grad_input=o),
            lambda: a.leaky_relu_backward(gt, xt, slope["rrelu"], False),
        ),
        "gelu": (
            lambda: a.gelu_backward.grad_input(gt, xt, approximate="none", grad_input=o),
            lambda: a.gelu_backward(gt, xt, approximate="none"),
        ),
        "gelu_tanh": (
            lambda: a.gelu_backward.grad_input(gt, xt, approximate="tanh", grad_input=o),
            lambda: a.gelu_backward(gt, xt, approximate="tanh"),
        ),
        "selu": (
            lambda: a.elu_backward.grad_input(gt, _SELU_ALPHA, _SELU_SCALE, 1, False, xt, grad_input=o),
            lambda: a.elu_backward(gt, _SELU_ALPHA, _SELU_SCALE, 1, False, xt),
        ),
        "celu": (
            lambda: a.elu_backward.grad_input(gt, celu, 1, 1 / celu, False, xt, grad_input=o),
            lambda: a.elu_backward(gt, celu, 1, 1 / celu, False, xt),
        ),
        "log_sigmoid": (
            lambda: a.log_sigmoid_backward.grad_input(gt, xt, buffer, grad_input=o),
            lambda: a.log_sigmoid_backward(gt, xt, buffer),
        ),
        "softmax": (
            lambda: a._softmax_backward_data.out(gt, y, -1, xt.dtype, grad_input=o),
            lambda: a._softmax_backward_data(gt, y, -1, xt.dtype),
        ),
        "log_softmax": (
            lambda: a._log_softmax_backward_data.out(gt, y, -1, xt.dtype, out=o),
            lambda: a._log_softmax_backward_data(gt, y, -1, xt.dtype),
        ),
    }
    table = fwd if op == "forward" else bwd
    if kernel not in table:
        return {}
    out_fn, alloc_fn = table[kernel]
    impls = {}
    if mode == "out" and out_fn is not None:
        impls["torch"] = out_fn
    if mode == "alloc":
        impls["torch"] = alloc_fn
        if op == "vjp" and kernel in fwd:
            xr = xt.clone().requires_grad_(True)
            call = (
                {
                    "softmax": lambda v: torch.softmax(v, -1),
                    "log_softmax": lambda v: torch.log_softmax(v, -1),
                    "prelu": lambda v: F.prelu(v, torch.tensor([params.get("alpha", 0.25)], dtype=v.dtype)),
                    "rrelu": lambda v: F.rrelu(v, training=False),
                    "swish": F.silu,
                    "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
                    "log_sigmoid": F.logsigmoid,
                    "celu": lambda v: F.celu(v, celu),
                }.get(kernel)
                or getattr(F, kernel, None)
                or getattr(torch, kernel)
            )
            impls["torch autograd (fwd+bwd)"] = lambda: torch.autograd.grad(call(xr), xr, gt)
    return impls


def _jax_impls(jax, kernel: str, op: str, x, g) -> dict[str, Callable]:
    import jax.numpy as jnp

    fns = {
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "silu": jax.nn.silu,
        "swish": jax.nn.silu,
        "softplus": jax.nn.softplus,
        "elu": jax.nn.elu,
        "leaky_relu": jax.nn.leaky_relu,
        "softmax": lambda v: jax.nn.softmax(v, axis=-1),
        "log_softmax": lambda v: jax.nn.log_softmax(v, axis=-1),
    }
    if hasattr(jax.nn, "mish"):
        fns["mish"] = jax.nn.mish
    if kernel not in fns:
        return {}
    f = fns[kernel]
    xj, gj = jax.device_put(x), jax.device_put(g)
    if op == "forward":
        jf = jax.jit(f)
        return {"jax": lambda: jf(xj).block_until_ready()}
    jv = jax.jit(lambda v, w: jax.vjp(f, v)[1](w)[0])
    return {"jax vjp (fwd+bwd)": lambda: jv(xj, gj).block_until_ready()}


def _lambdify_impls(kernel: str, op: str, x, g) -> dict[str, Callable]:
    import sympy

    from .catalog import get
    from .derive import derive

    entry = get(kernel)
    d = derive(entry, first_only=True)
    values = entry.defaults
    var = entry.variable
    expr = (d.definition if op == "forward" else d.main.raw).subs(values)
    if expr.free_symbols - {var}:
        return {}
    f = sympy.lambdify(var, expr, "numpy")
    try:  # erf has no NumPy function: lambdify falls back to math.erf, which takes no array (without SciPy)
        f(x[:2])
    except TypeError:
        return {}
    if op == "forward":
        return {"sympy.lambdify": lambda: f(x)}
    return {"sympy.lambdify": lambda: g * f(x)}


ROW_LOSSES = {"softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits"}


def _loss_inputs(kernel: str, n: int, dtype, rng):
    """Logits and labels for a loss: rows of CLASSES logits for the softmax losses (probability rows or class
    indices), one label in [0, 1] per logit for the sigmoid losses, a target per prediction for mse."""
    if kernel in ROW_LOSSES:
        shape = (max(1, n // CLASSES), min(n, CLASSES))
        z = rng.uniform(-6, 6, shape).astype(dtype)
        if kernel.startswith("sparse"):
            return z, rng.integers(0, shape[1], shape[0])
        p = rng.random(shape).astype(dtype)
        return z, p / p.sum(-1, keepdims=True)
    z = rng.uniform(-6, 6, n).astype(dtype)
    return z, rng.random(n).astype(dtype)


def _loss_impls(torch, jax, kernel: str, op: str, z, y, textbook: bool) -> dict[str, Callable]:
    """The reduced (mean) loss, or its gradient with respect to the logits: symact, PyTorch (functional
    forward; autograd, which includes the forward, for the gradient), the NumPy a textbook writes."""
    impls = {}
    if torch is not None:
        F = torch.nn.functional
        zt = torch.from_numpy(z)
        yt = torch.from_numpy(y)
        fn = {
            "softmax_cross_entropy_with_logits": lambda v: F.cross_entropy(v, yt),
            "sparse_softmax_cross_entropy_with_logits": lambda v: F.cross_entropy(v, yt),
            "sigmoid_cross_entropy_with_logits": lambda v: F.binary_cross_entropy_with_logits(v, yt),
            "weighted_cross_entropy_with_logits": lambda v: F.binary_cross_entropy_with_logits(
                v, yt, pos_weight=torch.tensor(1.0, dtype=v.dtype)
            ),
            "mse": lambda v: F.mse_loss(v, yt),
            "l1": lambda v: F.l1_loss(v, yt),
            "huber": lambda v: F.huber_loss(v, yt),
            "smooth_l1": lambda v: F.smooth_l1_loss(v, yt),
            "soft_margin": lambda v: F.soft_margin_loss(v, yt),
            "poisson_nll": lambda v: F.poisson_nll_loss(v, yt),
        }.get(kernel)
        if fn is not None:
            if op == "forward":
                impls["torch"] = lambda: fn(zt)
            else:
                zr = zt.clone().requires_grad_(True)
                impls["torch autograd (fwd+bwd)"] = lambda: torch.autograd.grad(fn(zr), zr)
    if textbook:

        def log_softmax(v):
            m = v.max(-1, keepdims=True)
            return v - m - np.log(np.exp(v - m).sum(-1, keepdims=True))

        def sig(v):
            return 1 / (1 + np.exp(-v))

        rows = z.shape[0] if z.ndim == 2 else z.size
        text = {
            "softmax_cross_entropy_with_logits": (
                lambda: -(y * log_softmax(z)).sum(-1).mean(),
                lambda: (np.exp(log_softmax(z)) - y) / rows,
            ),
            "sparse_softmax_cross_entropy_with_logits": (
                lambda: -log_softmax(z)[np.arange(rows), y].mean(),
                lambda: (np.exp(log_softmax(z)) - np.eye(z.shape[-1], dtype=z.dtype)[y]) / rows,
            ),
            "sigmoid_cross_entropy_with_logits": (
                lambda: -(y * np.log(sig(z)) + (1 - y) * np.log(1 - sig(z))).mean(),
                lambda: (sig(z) - y) / z.size,
            ),
            "mse": (lambda: ((z - y) ** 2).mean(), lambda: 2 * (z - y) / z.size),
        }.get(kernel)
        if text is not None:
            impls["numpy textbook"] = text[0] if op == "forward" else text[1]
    return impls


def _inputs(kind: str, kernel: str, n: int, dtype, rng):
    shape = (n,) if kind == "elementwise" else (max(1, n // CLASSES), min(n, CLASSES))
    x = rng.uniform(-6, 6, shape).astype(dtype)
    g = rng.uniform(-1, 1, shape).astype(dtype)
    return x, g


def _textbook_call(text, op, x, g) -> Callable:
    if op == "forward":
        return lambda: text[0](x)
    return lambda: text[1](x, g)


def _symact_impls(module, kind, kernel, op, mode, x, g, extra) -> dict[str, Callable]:
    o = np.empty_like(x)
    if op == "value_and_grad":  # f and f' from one pass, against two passes
        if not hasattr(module, "value_and_grad"):
            return {}
        o2 = np.empty_like(x)
        if mode == "out":
            return {
                "symact": lambda: module.value_and_grad(x, *extra, out=(o, o2)),
                "symact forward + derivative": lambda: (
                    module.forward(x, *extra, out=o),
                    module.derivative(x, *extra, out=o2),
                ),
            }
        return {
            "symact": lambda: module.value_and_grad(x, *extra),
            "symact forward + derivative": lambda: (module.forward(x, *extra), module.derivative(x, *extra)),
        }
    if op == "forward":
        if mode == "out":
            return {"symact": lambda: module.forward(x, *extra, out=o)}
        return {"symact": lambda: module.forward(x, *extra)}
    if mode == "out":
        impls = {"symact": lambda: module.vjp(x, g, *extra, out=o)}
        if hasattr(module, "vjp_from_output"):
            y = module.forward(x, *extra)
            impls["symact from output"] = lambda: module.vjp_from_output(y, g, *extra, out=o)
        return impls
    return {"symact": lambda: module.vjp(x, g, *extra)}


def _time(impls: dict[str, Callable], min_round: float, rounds: int) -> dict[str, float]:
    """Median seconds per call, interleaved: every round calls each implementation in turn (rotating the
    order), a round of one implementation being enough calls to last ``min_round`` seconds."""
    names = list(impls)
    calls = {}
    for name in names:  # warm-up (compiles, page-faults the output), then size the batches
        impls[name]()
        t0 = time.perf_counter()
        impls[name]()
        dt = max(time.perf_counter() - t0, 1e-7)
        calls[name] = max(1, int(min_round / dt))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, k = impls[name], calls[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t0) / k)
    return {n: statistics.median(s) for n, s in samples.items()}


def run_cases(
    kernels: list[str],
    sizes: list[int],
    dtypes: list[str],
    threads: list[int],
    modes: list[str],
    ops: list[str],
    directory: str | Path = "generated",
    rounds: int = 7,
    min_round: float = 0.002,
    progress: Callable[[str], None] | None = None,
    peers: tuple[str, ...] = PEERS,
) -> tuple[list[Result], list[str]]:
    """Time each case of the product of the arguments, with each of ``peers`` (of :data:`PEERS`) that is
    installed beside symact.  JAX starts threads when imported: a process that forks afterwards (symact's own
    time budgets do) should leave it out."""
    import numba

    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise ValueError(f"unknown peer {unknown[0]!r}: one of {', '.join(PEERS)}")
    notes: list[str] = []
    fw = _frameworks(notes, peers)
    rng = np.random.default_rng(0)
    results = []
    for kernel in kernels:
        module = load_generated(kernel, directory)
        kind = kind_of(module)
        if kind == "loss" and kernel == "logistic_nll":
            notes.append("logistic_nll: not timed (forward(w, b, X, y) is a matrix product, not a kernel pass).")
            continue
        for dtype in dtypes:
            for n in sizes:
                x, g = _inputs(kind, kernel, n, np.dtype(dtype), rng)
                extra = ()
                if kernel == "dropout":
                    extra = ((rng.random(x.shape) < 0.5).astype(x.dtype),)
                for t in threads:
                    numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
                    if "torch" in fw:
                        fw["torch"].set_num_threads(t)
                    if kind == "loss":
                        results += _time_loss(module, kernel, dtype, n, t, ops, fw, rng, rounds, min_round)
                        if progress:
                            for r in results[-len(ops) :]:
                                progress(_line(r))
                        continue
                    for op in ops:
                        for mode in modes:
                            case = Case(kernel, op, dtype, n, t, mode)
                            impls = _symact_impls(module, kind, kernel, op, mode, x, g, extra)
                            if not impls:
                                continue
                            reads = (1 if op == "forward" else 2) + len(extra)  # dropout's mask: one more
                            dst = np.empty(x.size * (reads + 1) // 2, x.dtype)
                            src = np.ones_like(dst)
                            impls["copy"] = (
                                (lambda d=dst, s=src: np.copyto(d, s)) if mode == "out" else (lambda s=src: s.copy())
                            )
                            if "torch" in fw and op != "value_and_grad":
                                params = dict(getattr(module, "PARAMS", {}))
                                impls.update(_torch_impls(fw["torch"], kernel, op, mode, x, g, params))
                            if mode == "alloc" and t == max(threads) and op != "value_and_grad":
                                if "jax" in fw:
                                    impls.update(_jax_impls(fw["jax"], kernel, op, x, g))
                                text = (ELEMENTWISE_TEXTBOOK | VECTOR_TEXTBOOK).get(kernel)
                                if text is not None:
                                    impls["numpy textbook"] = _textbook_call(text, op, x, g)
                                if kind == "elementwise":
                                    try:
                                        impls.update(_lambdify_impls(kernel, op, x, g))
                                    except Exception as exc:  # a definition lambdify cannot print
                                        notes.append(f"{kernel}: sympy.lambdify failed: {exc}")
                            with np.errstate(all="ignore"):
                                times = _time(impls, min_round, rounds)
                            limit = times.pop("copy")
                            results.append(Result(case, times, limit))
                            if progress:
                                progress(_line(results[-1]))
    return results, notes


def _time_loss(module, kernel, dtype, n, t, ops, fw, rng, rounds, min_round) -> list[Result]:
    """A loss's mean-reduced forward and gradient (``grad``), allocating, against PyTorch and NumPy."""
    z, y = _loss_inputs(kernel, n, np.dtype(dtype), rng)
    out = []
    for op in ops:
        if op == "forward":
            impls = {"symact": lambda: module.forward(z, y, reduction="mean")}
        else:
            impls = {"symact": lambda: module.grad(z, y, reduction="mean")}
        src = np.ones(z.size, z.dtype)
        impls["copy"] = lambda s=src: s.copy()
        impls.update(_loss_impls(fw.get("torch"), fw.get("jax"), kernel, op, z, y, textbook=t == 1))
        with np.errstate(all="ignore"):
            times = _time(impls, min_round, rounds)
        limit = times.pop("copy")
        out.append(Result(Case(kernel, op if op == "forward" else "grad", dtype, n, t, "alloc"), times, limit))
    return out


def _line(r: Result) -> str:
    c = r.case
    s = r.times.get("symact", math.nan)
    parts = [f"{k} {1e3 * v:.3f}" for k, v in r.times.items()]
    return (
        f"{c.kernel} {c.op} {c.dtype} N={c.n:.0e} t={c.threads} {c.mode}: "
        + ", ".join(parts)
        + (f"; copy {1e3 * r.limit:.3f} ms; symact at {r.limit / s:.0%} of copy")
    )


#: kernels whose PyTorch backward reads the saved output: their vjp is compared with symact's vjp_from_output
FROM_OUTPUT = ("sigmoid", "tanh", "softmax", "log_softmax")
#: memory-bound kernels, held to a share of the copy bandwidth
CHEAP = ("relu", "leaky_relu", "prelu", "rrelu", "step", "dropout")
CHEAP_TARGET = 0.85


def _symact_time(r: Result) -> float:
    if r.case.op == "vjp" and r.case.kernel in FROM_OUTPUT and "symact from output" in r.times:
        return r.times["symact from output"]
    return r.times.get("symact", math.nan)


def _torch_time(r: Result) -> float | None:
    """PyTorch's time for the same work: its kernel, or for a loss gradient (no standalone kernel) autograd's
    forward and backward."""
    if "torch" in r.times:
        return r.times["torch"]
    return r.times.get("torch autograd (fwd+bwd)") if r.case.op == "grad" else None


def from_json(text: str) -> tuple[list[Result], list[str]]:
    """The results and notes of a JSON file written by :func:`to_json` (to re-render its tables)."""
    data = json.loads(text)
    results = [
        Result(Case(*[row[f.name] for f in dataclasses.fields(Case)]), row["seconds"], row["copy_seconds"])
        for row in data["results"]
    ]
    return results, data.get("notes", [])


def _verdict_line(machine: Machine | None) -> str | None:
    """The verdict of :func:`symact.machine.verdict`, in bold, when the comparison is not representative."""
    from .machine import verdict

    line = verdict(machine) if machine is not None else None
    return f"**{line}**" if line else None


def summary(results: list[Result], machine: Machine | None = None) -> str:
    """The issue's targets, from the ``out=`` cases (and the losses, which allocate): symact's speed relative to
    PyTorch at the same thread count (geometric means, and every case below 1x), and the memory-bound
    kernels' share of the copy bandwidth; first, given the :class:`~symact.machine.Machine`, whether the
    comparison is representative of its CPU."""
    lines = ["### Against the targets (`out=`, kernel for kernel; losses allocating, as their API has no `out=`)", ""]
    warning = _verdict_line(machine)
    if warning:
        lines += [warning, ""]
    by_threads: dict[tuple[int, int], list[float]] = {}
    slow = []
    with_out = {r.case.kernel for r in results if r.case.mode == "out"}
    for r in results:
        torch_t = _torch_time(r)
        if not torch_t or (r.case.mode != "out" and r.case.kernel in with_out):
            continue
        ratio = torch_t / _symact_time(r)
        by_threads.setdefault((r.case.n, r.case.threads), []).append(ratio)
        if ratio < 1:
            slow.append((r, ratio))
    if by_threads:
        lines += ["| N | threads | cases | geometric mean vs PyTorch | slowest |", "|---|---|---|---|---|"]
        for (n, t), ratios in sorted(by_threads.items()):
            geo = math.exp(sum(math.log(v) for v in ratios) / len(ratios))
            lines.append(f"| 1e{round(math.log10(n))} | {t} | {len(ratios)} | {geo:.2f}x | {min(ratios):.2f}x |")
        lines.append("")
    if slow:
        lines.append("Cases below PyTorch's speed:")
        lines += [
            f"- {r.case.kernel} {r.case.op} {r.case.dtype} N=1e{round(math.log10(r.case.n))} "
            f"{r.case.threads} thread(s): {ratio:.2f}x"
            for r, ratio in slow
        ]
        lines.append("")
    cheap = [r for r in results if r.case.mode == "out" and r.case.kernel in CHEAP]
    if cheap:
        shares = [(r, r.limit / _symact_time(r)) for r in cheap]
        below = [
            f"{r.case.kernel} {r.case.op} {r.case.dtype} t={r.case.threads}: {v:.0%}"
            for r, v in shares
            if v < CHEAP_TARGET
        ]
        lines.append(
            f"Memory-bound kernels ({', '.join(CHEAP)}): {min(v for _, v in shares):.0%} to "
            f"{max(v for _, v in shares):.0%} of the copy bandwidth"
            + (f"; below {CHEAP_TARGET:.0%}: {'; '.join(below)}." if below else f", all at {CHEAP_TARGET:.0%} or more.")
        )
        lines.append("")
    return "\n".join(lines) + "\n"


def markdown(results: list[Result], notes: list[str], machine: Machine | None = None) -> str:
    """One table row per case: milliseconds of each implementation, symact's speed relative to PyTorch
    (t_torch / t_symact: above 1 is faster) and to the copy limit (t_copy / t_symact); headed, given the
    :class:`~symact.machine.Machine`, by its section."""
    impl_names = []
    for r in results:
        for k in r.times:
            if k not in impl_names:
                impl_names.append(k)
    head = ["kernel", "op", "dtype", "N", "threads", "mode", *[f"{k} ms" for k in impl_names], "copy ms"]
    head += ["vs torch", "of copy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if machine is not None:
        from . import machine as machines

        lines = [machines.markdown(machine), "### Times", "", *lines]
    ratios = []
    for r in results:
        c = r.case
        s = r.times.get("symact", math.nan)
        cells = [c.kernel, c.op, c.dtype, f"1e{round(math.log10(c.n))}", str(c.threads), c.mode]
        cells += [f"{1e3 * r.times[k]:.3f}" if k in r.times else "" for k in impl_names]
        torch_t = _torch_time(r)
        vs = torch_t / _symact_time(r) if torch_t else math.nan
        if torch_t and c.mode == "out":
            ratios.append(vs)
        cells += [f"{1e3 * r.limit:.3f}", f"{vs:.2f}x" if torch_t else "", f"{r.limit / s:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    if ratios:
        lines.append("")
        lines.append(
            "`vs torch` is PyTorch's time over symact's: above 1x symact is faster; for the vjp of "
            f"{', '.join(FROM_OUTPUT)} both compute from the saved output (symact's `vjp_from_output`); "
            "for a loss gradient PyTorch's is autograd's forward and backward (it has no gradient kernel)."
        )
        lines += ["", summary(results, machine).rstrip("\n")]
    elif warning := _verdict_line(machine):  # no PyTorch: no summary
        lines += ["", warning]
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines) + "\n"


def to_json(results: list[Result], notes: list[str], extra: dict | None = None, machine: Machine | None = None) -> str:
    """The results, notes and ``extra`` tables, with the record of the machine under ``"machine"`` (read
    now when not given): CPU, flags, versions, capabilities, ``"representative"`` and its ``"warnings"``."""
    from .machine import record

    rows = [{**dataclasses.asdict(r.case), "seconds": r.times, "copy_seconds": r.limit} for r in results]
    payload = {"machine": (machine or record()).to_dict(), "results": rows, "notes": notes, **(extra or {})}
    return json.dumps(payload, indent=1)


_STARTUP = """
import sys, time, importlib.util
t0 = time.perf_counter()
import numpy as np, numba
t1 = time.perf_counter()
numba.njit(lambda v: v + 1)(1)  # Numba's one-off initialisation, paid by the first kernel of any process
t2 = time.perf_counter()
name = "symact_generated_" + sys.argv[1].rsplit("/", 1)[-1][:-3]
spec = importlib.util.spec_from_file_location(name, sys.argv[1])
m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m)
t3 = time.perf_counter()
x64 = np.linspace(-3, 3, 64); x32 = x64.astype(np.float32)
if not hasattr(m, "grad"):
    try:
        m.forward(x64); m.forward(x32)
    except TypeError:  # an auxiliary input (dropout's mask)
        m.forward(x64, np.ones_like(x64)); m.forward(x32, np.ones_like(x32))
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def startup(kernels: list[str], directory: str | Path = "generated") -> dict[str, dict[str, float]]:
    """Per module, in fresh interpreters sharing a Numba cache directory that starts empty: cold (import and
    first float64 and float32 forward: compiles) and warm (the same again, from the cache) seconds, after
    importing NumPy and Numba and after Numba's one-off initialisation (both timed apart)."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**__import__("os").environ, "NUMBA_CACHE_DIR": cache}
        for kernel in kernels:
            path = str(Path(directory) / f"{kernel}.py")
            row = {}
            for label in ("cold", "warm"):
                proc = subprocess.run(
                    [sys.executable, "-c", _STARTUP, path], capture_output=True, text=True, env=env, check=False
                )
                if proc.returncode != 0:
                    row[label] = math.nan
                    continue
                libs, init, imp, first = map(float, proc.stdout.split())
                row["numpy+numba import s"], row["numba init s"] = libs, init
                row[f"{label} import s"], row[f"{label} first call s"] = imp, first
            out[kernel] = row
    return out


_FORMS = """
import sys, time
import numpy as np, numba, math
numba.njit(lambda v: v + 1)(1)  # Numba's one-off initialisation, timed apart in startup()
t0 = time.perf_counter()
{define}
t1 = time.perf_counter()
x = np.linspace(-3, 3, 64); y = x.astype(np.float32)
f(x); f(y)
print(t1 - t0, time.perf_counter() - t1)
"""
_VECTORIZE = """
@numba.vectorize(['float32(float32)', 'float64(float64)'], cache=True)
def _u(x):
    return 1.0 / (1.0 + math.exp(-x))
def f(x):
    return _u(x)
"""
_NJIT = """
@numba.njit(cache=True, error_model='numpy')
def _loop(x, out):
    for i in range(x.size):
        out[i] = 1.0 / (1.0 + math.exp(-x[i]))
def f(x):
    out = np.empty_like(x)
    _loop(x.ravel(), out.ravel())
    return out
"""


def startup_forms() -> dict[str, dict[str, float]]:
    """A one-line kernel as a ``vectorize`` ufunc and as an ``njit`` loop (both ``cache=True``, float32 and
    float64): seconds to define (import) and to make the first two calls, cold and warm cache."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(Path(d) / "cache")}
        for label, define in (("vectorize", _VECTORIZE), ("njit loop", _NJIT)):
            path = Path(d) / f"form_{label.split()[0]}.py"
            path.write_text(_FORMS.format(define=define))
            row = {}
            for state in ("cold", "warm"):
                proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, check=True)
                imp, first = map(float, proc.stdout.split())
                row[f"{state} define s"], row[f"{state} first calls s"] = imp, first
            out[label] = row
    return out


def derivation_times(kernels: list[str]) -> dict[str, float]:
    """Seconds to derive each entry (cold: the derivation cache is cleared first)."""
    from .catalog import get
    from .derive import _derive, derive

    out = {}
    for k in kernels:
        _derive.cache_clear()
        t0 = time.perf_counter()
        derive(get(k))
        out[k] = time.perf_counter() - t0
    return out


def startup_markdown(extra: dict) -> str:
    """The start-up tables: per module (cold compile, warm load), the two kernel forms, derivation times."""
    lines = ["### Start-up (fresh interpreter; cold = empty Numba cache, warm = the cache the cold run wrote)", ""]
    cols = ["numpy+numba import s", "numba init s", "cold import s", "cold first call s", "warm import s"]
    cols.append("warm first call s")
    lines += ["| module | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for k, row in extra.get("startup", {}).items():
        lines.append(f"| {k} | " + " | ".join(f"{row.get(c, math.nan):.3f}" for c in cols) + " |")
    fcols = ["cold define s", "cold first calls s", "warm define s", "warm first calls s"]
    lines += ["", "| form (one kernel, 2 dtypes, cache=True) | " + " | ".join(fcols) + " |", "|---" * 5 + "|"]
    for k, row in extra.get("startup_forms", {}).items():
        lines.append(f"| {k} | " + " | ".join(f"{row[c]:.3f}" for c in fcols) + " |")
    if extra.get("derivation_seconds"):
        lines += ["", "| entry | derivation s |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in extra["derivation_seconds"].items()]
    return "\n".join(lines) + "\n"
