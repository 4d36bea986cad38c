"""The reference: plain formulas at adaptive precision, never trusting lost digits."""

import math

import mpmath
import sympy
from sympy import exp, log, tanh

from symact.catalog.symbols import x
from symact.reference import Scalar, mp_value


def test_cancellation_is_resolved_by_raising_the_precision():
    value = Scalar(1 - tanh(x) ** 2, (x,))(300.0)
    assert math.isclose(float(value), 4 * math.exp(-600), rel_tol=1e-14)


def test_a_term_lost_at_two_precisions_is_still_found():
    # mish' at -350 is (x + 1) e^x to 1e-150: the tanh(log(1 + e^x)) term needs 152 digits
    mish_prime = sympy.diff(x * tanh(log(1 + exp(x))), x)
    value = Scalar(mish_prime, (x,))(-350.0)
    with mpmath.workdps(60):
        exact = (mpmath.mpf(-349)) * mpmath.exp(-350)
        assert abs(value - exact) < abs(exact) * mpmath.mpf(10) ** -25


def test_unresolvable_values_are_none_not_a_guess():
    # 1 - sigma(z) at z = 1e35 needs 10^35 digits: the plain loss cannot be evaluated
    loss = -log(1 - 1 / (1 + exp(-x)))
    assert Scalar(loss, (x,))(1e35) is None


def test_infinities_stand_for_limits_and_nan_propagates():
    sig = Scalar(1 / (1 + exp(-x)), (x,))
    assert sig(math.inf) == 1 and sig(-math.inf) < mpmath.mpf("1e-400")
    assert mpmath.isnan(sig(math.nan))
    assert mp_value(0.1) == mpmath.mpf(0.1)  # exact binary value, not 1/10


def test_an_infinite_input_gets_the_limit_where_10_to_the_1000_is_not_it():
    """log(x + sqrt(x^2 + 1)) is 2303 at 1e1000 and still growing; its derivative cancels there past every
    precision (x + sqrt(x^2 + 1) ~ 1e-1000 at x = -1e1000).  The limits are inf and 0."""
    s = sympy.sqrt(x**2 + 1)
    assert Scalar(log(x + s), (x,))(math.inf) == mpmath.inf
    assert Scalar((1 + x / s) / (x + s), (x,))(-math.inf) == 0
    assert Scalar(tanh(x), (x,))(math.inf) == 1  # settled at 1e1000: no limit taken


def test_exponentials_of_huge_arguments_end_quickly_with_the_float_answer():
    """exp(-exp(1e30)) and tanh(exp(88)): mpmath's own exp and tanh size their work by the argument's magnitude
    (hours, or a MemoryError); the reference answers what every float answer rounds to."""
    import time

    import pytest

    start = time.perf_counter()
    gumbel = Scalar(1 - sympy.exp(-sympy.exp(x)), (x,))
    assert float(gumbel(1e30)) == 1.0 and float(gumbel(3e38)) == 1.0 and float(gumbel(-1e30)) == 0.0
    assert float(gumbel(-80.0)) == pytest.approx(1.8048513878454153e-35, rel=1e-15)
    tanhexp = Scalar(x * sympy.tanh(sympy.exp(x)), (x,))
    assert float(tanhexp(88.0)) == 88.0 and float(tanhexp(1e30)) == 1e30
    assert float(tanhexp(1.0)) == pytest.approx(math.tanh(math.e), rel=1e-15)
    softplus = Scalar(sympy.log(1 + sympy.exp(x)), (x,))
    assert float(softplus(6.4e37)) == 6.4e37 and float(softplus(1e300)) == 1e300  # log(exp(x)) = x, every float
    assert time.perf_counter() - start < 30


def test_exponentials_below_the_cutoff_stay_exact_so_that_derivatives_cancel():
    """x e^w / (1 + e^w) at w = 1.7e52: its raw derivative cancels e^(2w) against (e^w)^2, which a power-of-two
    stand-in for e^w breaks (the reference said 1.4e52 where f' is 1); and at the 1e1000 that stands for +inf."""
    w = sympy.Rational(851, 500) * x
    derivative = sympy.diff(x * sympy.exp(w) / (1 + sympy.exp(w)), x)
    f = Scalar(derivative, (x,))
    assert float(f(1.6179034210380888e52)) == 1.0
    assert float(f(math.inf)) == 1.0
