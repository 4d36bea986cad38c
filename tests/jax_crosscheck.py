"""Cross-check against JAX and optax: each generated kernel with a JAX counterpart, and its gradient, beside
``jax.nn`` / ``optax.losses`` and ``jax.vjp``.

Optional: skipped when JAX is not installed (``pip install jax jaxlib optax``; the optax tests also when
optax is not).  Run in a process of its own by tests/test_jax_crosscheck.py (by hand: ``python -m pytest
tests/jax_crosscheck.py``): JAX starts threads when imported, and the rest of the suite forks (the time
budgets of verify and prove), which JAX's threads make unsafe.  As in tests/test_torch_crosscheck.py the
subject is conventions (parameters, defaults, kinks, the per-element losses optax returns), on [-8, 8] plus
the kinks, in float64 (``jax_enable_x64``) with symact's float32 kernels compared at a float32 tolerance.
Where JAX chooses another subgradient at a kink than the catalog (which follows PyTorch), the test pins
JAX's choice, so that a change on either side shows.
"""

from __future__ import annotations

import numpy as np
import pytest

import symact

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
nn = jax.nn

TOL = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=2e-6, atol=1e-7)}
DTYPES = [np.float64, np.float32]
KINKS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5]


def _points(dtype):
    rng = np.random.default_rng(20261206)
    grid = np.linspace(-8.0, 8.0, 161)
    return np.concatenate((grid, KINKS, rng.normal(0.0, 3.0, 64))).astype(dtype)


def _close(actual, expected, dtype, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} against JAX's {expected.shape}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


def _vjp(function, x, g):
    value, pullback = jax.vjp(function, jnp.asarray(x, dtype=jnp.float64))
    return np.array(value), np.array(pullback(jnp.asarray(g, dtype=jnp.float64))[0])


# name -> (JAX's function, keyword arguments for symact's kernels, {x: JAX's derivative} where JAX's
# subgradient at a kink is not the catalog's)
ELEMENTWISE = {
    "sigmoid": (nn.sigmoid, {}, {}),
    "tanh": (jnp.tanh, {}, {}),
    "relu": (nn.relu, {}, {}),
    # jnp.where(x >= 0, x, slope x): the right branch at 0 (PyTorch and the catalog: the slope)
    "leaky_relu": (nn.leaky_relu, {}, {0.0: 1.0}),
    "leaky_relu(0.2)": (lambda x: nn.leaky_relu(x, 0.2), {"slope": 0.2}, {0.0: 1.0}),
    # JAX's elu is where(x > 0, x, alpha expm1(x)): the left branch at 0, alpha exp(0) = alpha, as the catalog
    "elu": (nn.elu, {}, {}),
    "elu(0.5)": (lambda x: nn.elu(x, 0.5), {"alpha": 0.5}, {}),
    "celu": (nn.celu, {}, {}),
    "celu(2)": (lambda x: nn.celu(x, 2.0), {"alpha": 2.0}, {}),
    "selu": (nn.selu, {}, {}),
    "softplus": (nn.softplus, {}, {}),
    "mish": (nn.mish, {}, {}),
    "silu": (nn.silu, {}, {}),
    "swish": (nn.swish, {}, {}),
    "gelu": (lambda x: nn.gelu(x, approximate=False), {}, {}),  # JAX's default is the tanh form
    "gelu_tanh": (nn.gelu, {}, {}),
    "softsign": (nn.soft_sign, {}, {}),
    "log_sigmoid": (nn.log_sigmoid, {}, {}),
    "squareplus": (nn.squareplus, {}, {}),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_matches_jax(case, dtype):
    function, params, kinks = ELEMENTWISE[case]
    module = symact.load(case.split("(")[0])
    x = _points(dtype)
    g = np.random.default_rng(7).normal(size=x.shape).astype(dtype)
    value, vjp = _vjp(function, x, g)
    _, derivative = _vjp(function, x, np.ones_like(x))
    ours = module.derivative(x, **params)
    for at, theirs in kinks.items():  # JAX's other subgradient, pinned; then the catalog's value compared
        where = x == at
        assert np.all(derivative[where] == theirs), f"{case}: JAX's derivative at {at} is no longer {theirs}"
        derivative[where] = ours[where]
        vjp[where] = (g * ours)[where]
    _close(module.forward(x, **params), value, dtype, f"{case} forward")
    _close(ours, derivative, dtype, f"{case} derivative")
    _close(module.vjp(x, g, **params), vjp, dtype, f"{case} vjp")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_rows_match_jax(name, axis, dtype):
    function = {"softmax": nn.softmax, "log_softmax": nn.log_softmax}[name]
    module = symact.load(name)
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 4.0, size=(6, 9)).astype(dtype)
    g = rng.normal(size=a.shape).astype(dtype)
    value, vjp = _vjp(lambda v: function(v, axis=axis), a, g)
    _close(module.forward(a, axis=axis), value, dtype, f"{name} forward, axis {axis}")
    _close(module.vjp(a, g, axis=axis), vjp, dtype, f"{name} vjp, axis {axis}")


try:
    import optax
except ImportError:  # JAX without optax: the losses are skipped
    optax = None
needs_optax = pytest.mark.skipif(optax is None, reason="optax is not installed (pip install optax)")


def _optax(name, **kwargs):
    """optax.losses.<name> with keyword arguments, looked up when called (optax may be missing)."""
    return lambda *args: getattr(optax.losses, name)(*args, **kwargs)


def _unit(shape, rng):
    return rng.random(shape)


def _sign(shape, rng):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _real(shape, rng):
    return rng.normal(0.0, 3.0, shape)


def _hinge_kink(z, y):
    """optax's hinge, jnp.maximum(0, 1 - y z), splits the gradient at y z = 1: -y/2 there (the catalog: 0)."""
    return z * y == 1, -y / 2


# name -> (optax's per-element loss of (logits or predictions, labels or targets), labels, symact keywords,
# None or (z, y) -> (where optax's subgradient is not the catalog's, optax's value there))
LOSSES = {
    "sigmoid_cross_entropy_with_logits": (_optax("sigmoid_binary_cross_entropy"), _unit, {}, None),
    "huber": (_optax("huber_loss"), _real, {}, None),
    "huber(2.5)": (_optax("huber_loss", delta=2.5), _real, {"delta": 2.5}, None),
    "log_cosh": (_optax("log_cosh"), _real, {}, None),
    "hinge": (_optax("hinge_loss"), _sign, {}, _hinge_kink),
    "mse": (_optax("squared_error"), _real, {}, None),
}


@needs_optax
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", sorted(LOSSES))
def test_loss_matches_optax(case, dtype):
    function, labels, params, kink = LOSSES[case]
    module = symact.load(case.split("(")[0])
    z = _points(dtype)
    y = labels(z.shape, np.random.default_rng(11)).astype(dtype)
    ty = jnp.asarray(y, dtype=jnp.float64)
    value, grad = _vjp(lambda v: function(v, ty), z, np.ones_like(z))
    ours = module.grad(z, y, reduction="none", **params)
    if kink is not None:  # optax's other subgradient, pinned; then the catalog's value compared
        where, theirs = kink(z.astype(np.float64), y.astype(np.float64))
        assert where.any() and np.all(grad[where] == theirs[where]), f"{case}: optax's subgradient changed"
        grad[where] = ours[where]
    _close(module.forward(z, y, reduction="none", **params), value, dtype, f"{case} per element")
    _close(ours, grad, dtype, f"{case} gradient per element")


@needs_optax
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("labels", ["probabilities", "indices"])
def test_softmax_cross_entropy_matches_optax(labels, dtype):
    rng = np.random.default_rng(5)
    z = rng.normal(0.0, 4.0, size=(7, 5)).astype(dtype)
    if labels == "probabilities":
        module = symact.load("softmax_cross_entropy_with_logits")
        raw = rng.random(z.shape)
        y = (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)
        ty = jnp.asarray(y, dtype=jnp.float64)
        value, grad = _vjp(lambda v: optax.losses.softmax_cross_entropy(v, ty), z, np.ones(z.shape[0]))
    else:
        module = symact.load("sparse_softmax_cross_entropy_with_logits")
        y = rng.integers(0, z.shape[1], size=z.shape[0])
        ty = jnp.asarray(y)
        value, grad = _vjp(
            lambda v: optax.losses.softmax_cross_entropy_with_integer_labels(v, ty), z, np.ones(z.shape[0])
        )
    _close(module.forward(z, y, reduction="none"), value, dtype, f"{labels} per row")
    _close(module.grad(z, y, reduction="sum"), grad, dtype, f"{labels} gradient of the sum")


def test_bench_times_jax_beside_symact():
    from pathlib import Path

    from symact import bench

    generated = Path(__file__).resolve().parent.parent / "generated"
    results, _ = bench.run_cases(
        ["sigmoid"], [1000], ["float64"], [1], ["alloc"], ["forward"], directory=generated, rounds=1, peers=("jax",)
    )  # JAX allocates its results: it is timed against symact's allocating calls
    assert len(results) == 1 and {"jax", "symact"} <= set(results[0].times) and "torch" not in results[0].times
