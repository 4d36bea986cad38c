"""Cross-check against PyTorch: each generated kernel and its gradient beside PyTorch's own function and autograd.

Optional: skipped when PyTorch is not installed (its CPU wheel: ``pip install torch==2.13.0``).  The point is
the conventions a PyTorch user relies on, not accuracy (that is ``symact check``'s job, against mpmath):
parameter names and defaults, the value chosen at a kink, the reductions ``none``/``sum``/``mean`` and what
the mean divides by, the class axis, integer labels.  The reference is PyTorch in float64 at the same
inputs; symact's float32 kernels are compared with it too, at a float32 tolerance.  Points stay in
[-8, 8] plus the kinks, where PyTorch's own float64 formulas are accurate to far better than the tolerance
(outside it PyTorch's ``sigmoid`` backward ``y (1 - y)`` loses digits that symact keeps).

Entries with no PyTorch function are not here: squareplus, hardmax, dropout (random in PyTorch), log_cosh,
hinge and squared_hinge (Keras losses; PyTorch's ``hinge_embedding_loss`` is a different loss).
"""

from __future__ import annotations

import numpy as np
import pytest

import symact

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:.*divides the total loss:UserWarning")  # kl_div's mean
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=2e-6, atol=1e-7)}
DTYPES = [np.float64, np.float32]


def _points(dtype):
    """A grid over [-8, 8] with its kinks (0, +-1, +-delta), plus random points, in ``dtype``."""
    rng = np.random.default_rng(20261206)
    grid = np.linspace(-8.0, 8.0, 161)
    return np.concatenate((grid, [0.0, -0.0, 1.0, -1.0, 0.5, -0.5], rng.normal(0.0, 3.0, 64))).astype(dtype)


def _t(array):
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64, requires_grad=True)


def _close(actual, expected, dtype, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} against PyTorch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


# name -> (PyTorch's function of a float64 tensor, keyword arguments for symact's kernels)
ELEMENTWISE = {
    "sigmoid": (torch.sigmoid, {}),
    "tanh": (torch.tanh, {}),
    "relu": (F.relu, {}),
    "leaky_relu": (lambda x: F.leaky_relu(x, negative_slope=0.01), {}),
    "leaky_relu(0.2)": (lambda x: F.leaky_relu(x, negative_slope=0.2), {"slope": 0.2}),
    "prelu": (lambda x: F.prelu(x, torch.tensor([0.25], dtype=torch.float64)), {}),
    "rrelu": (lambda x: F.rrelu(x, lower=1 / 8, upper=1 / 3, training=False), {}),
    "elu": (F.elu, {}),
    "elu(0.5)": (lambda x: F.elu(x, alpha=0.5), {"alpha": 0.5}),
    "celu": (F.celu, {}),
    "celu(2)": (lambda x: F.celu(x, alpha=2.0), {"alpha": 2.0}),
    "selu": (F.selu, {}),
    "softplus": (F.softplus, {}),
    "mish": (F.mish, {}),
    "silu": (F.silu, {}),
    "swish": (F.silu, {}),
    "swish(1.5)": (lambda x: F.silu(1.5 * x) / 1.5, {"beta": 1.5}),
    "gelu": (F.gelu, {}),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), {}),
    "softsign": (F.softsign, {}),
    "log_sigmoid": (F.logsigmoid, {}),
}


def _entry(case):
    return case.split("(")[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_matches_torch(case, dtype):
    function, params = ELEMENTWISE[case]
    module = symact.load(_entry(case))
    x = _points(dtype)
    g = np.random.default_rng(7).normal(size=x.shape).astype(dtype)
    tx = _t(x)
    ty = function(tx)
    (tgrad,) = torch.autograd.grad(ty, tx, torch.tensor(g, dtype=torch.float64))
    (tderiv,) = torch.autograd.grad(function(tx), tx, torch.ones_like(tx))
    _close(module.forward(x, **params), ty.detach().numpy(), dtype, f"{case} forward")
    _close(module.derivative(x, **params), tderiv.numpy(), dtype, f"{case} derivative")
    _close(module.vjp(x, g, **params), tgrad.numpy(), dtype, f"{case} vjp")
    if hasattr(module, "vjp_from_output") and dtype is np.float64:
        # from the output only in float64: a float32 y carries its own rounding, which f'(x) written in y
        # (selu's y + lambda alpha near y = -lambda alpha) magnifies past a float32 tolerance by design
        y = module.forward(x, **params)
        _close(module.vjp_from_output(y, g, **params), tgrad.numpy(), dtype, f"{case} vjp_from_output")


def test_step_is_heaviside_with_one_at_zero():
    x = _points(np.float64)
    expected = torch.heaviside(torch.tensor(x), torch.tensor(1.0, dtype=torch.float64))
    _close(symact.load("step").forward(x), expected.numpy(), np.float64, "step forward")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_rows_match_torch(name, axis, dtype):
    function = {"softmax": F.softmax, "log_softmax": F.log_softmax, "softmin": F.softmin}[name]
    module = symact.load(name)
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 4.0, size=(6, 9)).astype(dtype)
    g = rng.normal(size=a.shape).astype(dtype)
    ta = _t(a)
    ty = function(ta, dim=axis)
    (tgrad,) = torch.autograd.grad(ty, ta, torch.tensor(g, dtype=torch.float64))
    y = module.forward(a, axis=axis)
    _close(y, ty.detach().numpy(), dtype, f"{name} forward, axis {axis}")
    _close(module.vjp(a, g, axis=axis), tgrad.numpy(), dtype, f"{name} vjp, axis {axis}")
    _close(module.vjp_from_output(y, g, axis=axis), tgrad.numpy(), dtype, f"{name} vjp_from_output, axis {axis}")


def _labels_unit(shape, rng):
    return rng.random(shape)


def _labels_sign(shape, rng):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _labels_count(shape, rng):
    return rng.poisson(3.0, shape).astype(np.float64)


def _labels_real(shape, rng):
    return rng.normal(0.0, 3.0, shape)


def _labels_nonnegative(shape, rng):
    return np.where(rng.random(shape) < 0.1, 0.0, rng.random(shape) * 2.0)


def _probabilities(z):
    """Inputs in (0, 1) for a loss of probabilities: the grid's points through a sigmoid."""
    return 1.0 / (1.0 + np.exp(-z))


def _var(value):
    return torch.tensor(value, dtype=torch.float64)


# name -> (PyTorch's loss of (input, target, reduction), labels, keyword arguments for symact's kernels,
# optionally a map from the grid to the loss's inputs)
LOSSES = {
    "kl_divergence": (lambda z, y, r: F.kl_div(z, y, reduction=r), _labels_nonnegative, {}),
    "kl_divergence_log_target": (
        lambda z, y, r: F.kl_div(z, y, reduction=r, log_target=True),
        _labels_real,
        {},
    ),
    "binary_cross_entropy": (
        lambda p, y, r: F.binary_cross_entropy(p, y, reduction=r),
        _labels_unit,
        {},
        _probabilities,
    ),
    "gaussian_nll": (
        lambda z, y, r: F.gaussian_nll_loss(z, y, _var(np.ones(z.shape)), reduction=r),
        _labels_real,
        {},
    ),
    "gaussian_nll(2.5)": (
        lambda z, y, r: F.gaussian_nll_loss(z, y, _var(np.full(z.shape, 2.5)), reduction=r),
        _labels_real,
        {"var": 2.5},
    ),
    "mse": (lambda z, y, r: F.mse_loss(z, y, reduction=r), _labels_real, {}),
    "l1": (lambda z, y, r: F.l1_loss(z, y, reduction=r), _labels_real, {}),
    "huber": (lambda z, y, r: F.huber_loss(z, y, reduction=r), _labels_real, {}),
    "huber(2.5)": (lambda z, y, r: F.huber_loss(z, y, reduction=r, delta=2.5), _labels_real, {"delta": 2.5}),
    "smooth_l1": (lambda z, y, r: F.smooth_l1_loss(z, y, reduction=r), _labels_real, {}),
    "smooth_l1(0.5)": (lambda z, y, r: F.smooth_l1_loss(z, y, reduction=r, beta=0.5), _labels_real, {"beta": 0.5}),
    "soft_margin": (lambda z, y, r: F.soft_margin_loss(z, y, reduction=r), _labels_sign, {}),
    "poisson_nll": (lambda z, y, r: F.poisson_nll_loss(z, y, reduction=r), _labels_count, {}),
    "sigmoid_cross_entropy_with_logits": (
        lambda z, y, r: F.binary_cross_entropy_with_logits(z, y, reduction=r),
        _labels_unit,
        {},
    ),
    "weighted_cross_entropy_with_logits(3)": (
        lambda z, y, r: F.binary_cross_entropy_with_logits(
            z, y, reduction=r, pos_weight=torch.tensor(3.0, dtype=torch.float64)
        ),
        _labels_unit,
        {"pos_weight": 3.0},
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("case", sorted(LOSSES))
def test_loss_matches_torch(case, reduction, dtype):
    function, labels, params, *inputs = LOSSES[case]
    module = symact.load(_entry(case))
    rng = np.random.default_rng(11)
    z = _points(dtype).reshape(-1, 3)
    if inputs:
        z = inputs[0](z.astype(np.float64)).astype(dtype)
    y = labels(z.shape, rng).astype(dtype)
    tz = _t(z)
    loss = function(tz, torch.tensor(y, dtype=torch.float64), reduction)
    (tgrad,) = torch.autograd.grad(loss.sum(), tz)
    _close(module.forward(z, y, reduction=reduction, **params), loss.detach().numpy(), dtype, f"{case} {reduction}")
    _close(module.grad(z, y, reduction=reduction, **params), tgrad.numpy(), dtype, f"{case} grad, {reduction}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("labels", ["probabilities", "indices"])
def test_softmax_cross_entropy_matches_torch(labels, reduction, dtype):
    rng = np.random.default_rng(5)
    z = rng.normal(0.0, 4.0, size=(7, 5)).astype(dtype)
    if labels == "probabilities":
        module = symact.load("softmax_cross_entropy_with_logits")
        raw = rng.random(z.shape)
        y = (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)
        target = torch.tensor(y, dtype=torch.float64)
    else:
        module = symact.load("sparse_softmax_cross_entropy_with_logits")
        y = rng.integers(0, z.shape[1], size=z.shape[0])
        target = torch.tensor(y, dtype=torch.long)
    tz = _t(z)
    loss = F.cross_entropy(tz, target, reduction=reduction)
    (tgrad,) = torch.autograd.grad(loss.sum(), tz)
    _close(module.forward(z, y, reduction=reduction), loss.detach().numpy(), dtype, f"{labels} {reduction}")
    _close(module.grad(z, y, reduction=reduction), tgrad.numpy(), dtype, f"{labels} grad, {reduction}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_logistic_nll_matches_torch(dtype):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(20, 4)).astype(dtype)
    y = (rng.random(20) < 0.5).astype(dtype)
    w = rng.normal(size=4).astype(dtype)
    b = 0.3
    tw, tb = _t(w), _t(b)
    loss = F.binary_cross_entropy_with_logits(
        torch.tensor(X, dtype=torch.float64) @ tw + tb, torch.tensor(y, dtype=torch.float64), reduction="sum"
    )
    dw, db = torch.autograd.grad(loss, (tw, tb))
    module = symact.load("logistic_nll")
    _close(module.forward(w, b, X, y), loss.detach().numpy(), dtype, "logistic_nll forward")
    gw, gb = module.grad(w, b, X, y)
    _close(gw, dw.numpy(), dtype, "logistic_nll dw")
    _close(gb, db.numpy(), dtype, "logistic_nll db")


def _bench_kernels():
    from symact.bench import _torch_impls

    x = np.linspace(-3.0, 3.0, 16)
    return [k for k in catalog_elementwise_and_rows() if _torch_impls(torch, k, "forward", "alloc", x, x, {})]


def catalog_elementwise_and_rows():
    from symact import catalog
    from symact.catalog import Kind

    return [e.name for e in catalog.entries() if e.kind in (Kind.ELEMENTWISE, Kind.VECTOR)]


@pytest.mark.parametrize("mode", ["out", "alloc"])
@pytest.mark.parametrize("op", ["forward", "vjp"])
@pytest.mark.parametrize("kernel", _bench_kernels())
def test_bench_times_the_same_function_in_torch(kernel, op, mode):
    """What `symact bench` times as PyTorch's kernel computes what symact's does (the vjp of sigmoid, tanh,
    softmax and log_softmax from the saved output, as PyTorch's backward does)."""
    from symact.bench import _torch_impls

    rng = np.random.default_rng(2)
    x = rng.uniform(-3.0, 3.0, (4, 8))
    g = rng.uniform(-1.0, 1.0, x.shape)
    module = symact.load(kernel)
    impls = _torch_impls(torch, kernel, op, mode, x, g, {})
    if not impls:
        pytest.skip(f"PyTorch has no {mode} kernel for {kernel} {op}")
    expected = module.forward(x) if op == "forward" else module.vjp(x, g)
    for name, call in impls.items():
        result = call()
        result = result[0] if isinstance(result, tuple) else result
        _close(np.asarray(result), expected, np.float64, f"bench's {name} for {kernel} {op} {mode}")


def _bench_losses():
    from symact import catalog
    from symact.bench import _loss_impls, _loss_inputs
    from symact.catalog import Kind

    names = [e.name for e in catalog.entries() if e.kind is Kind.LOSS]
    rng = np.random.default_rng(0)
    return [
        k
        for k in names
        if k != "logistic_nll" and _loss_impls(torch, None, k, "forward", *_loss_inputs(k, 64, np.float64, rng), False)
    ]


@pytest.mark.parametrize("op", ["forward", "grad"])
@pytest.mark.parametrize("kernel", _bench_losses())
def test_bench_times_the_same_loss_in_torch(kernel, op):
    """What `symact bench` times as PyTorch's loss (its mean reduction, autograd for the gradient) is symact's."""
    from symact.bench import _loss_impls, _loss_inputs

    z, y = _loss_inputs(kernel, 64, np.float64, np.random.default_rng(4))
    module = symact.load(kernel)
    expected = module.forward(z, y) if op == "forward" else module.grad(z, y)
    for name, call in _loss_impls(torch, None, kernel, op, z, y, False).items():
        result = call()
        result = result[0] if isinstance(result, tuple) else result
        _close(np.asarray(result.detach()), expected, np.float64, f"bench's {name} for {kernel} {op}")
