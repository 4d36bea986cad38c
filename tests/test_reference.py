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
