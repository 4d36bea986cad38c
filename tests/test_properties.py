"""Derived properties match the known facts about the classic activations."""

from __future__ import annotations

import pytest
import sympy
from sympy import Rational, oo

from symact import catalog
from symact.catalog.symbols import x
from symact.derive import user_entry
from symact.properties import NotApplicable, properties


def props(name):
    return properties(catalog.get(name))


def test_sigmoid():
    pr = props("sigmoid")
    assert (pr.limit_minus, pr.limit_plus) == (0, 1)
    assert pr.range_latex() == "(0, 1)"
    assert pr.bounded_above and pr.bounded_below
    assert pr.monotonic == "increasing"
    assert not pr.zero_centred and pr.f_at_zero == Rational(1, 2)
    assert pr.saturating == "both sides"
    assert (pr.max_slope.value, pr.max_slope.where) == (Rational(1, 4), "x = 0")
    assert pr.smoothness is None and not pr.sparse


def test_tanh():
    pr = props("tanh")
    assert (pr.limit_minus, pr.limit_plus) == (-1, 1)
    assert pr.range_latex() == "(-1, 1)"
    assert pr.zero_centred
    assert pr.saturating == "both sides"
    assert (pr.max_slope.value, pr.max_slope.where) == (1, "x = 0")
    assert pr.smoothness is None


def test_relu():
    pr = props("relu")
    assert pr.range_latex() == r"[0, \infty)"
    assert pr.bounded_below and not pr.bounded_above
    assert pr.monotonic == "non-decreasing"
    assert not pr.zero_centred
    assert pr.saturating == "x -> -oo"
    assert (pr.max_slope.value, pr.max_slope.where) == (1, "x > 0")
    assert pr.smoothness == 0
    assert pr.sparse == "x <= 0"


def test_elu():
    pr = props("elu")
    assert pr.limit_minus == -1 and pr.limit_plus == oo
    assert pr.range_latex() == r"(-1, \infty)"
    assert pr.monotonic == "increasing"
    assert pr.smoothness == 1  # alpha = 1: f' is continuous at 0, f'' is not
    assert not pr.sparse
    assert properties(catalog.get("elu"), {"alpha": Rational(1, 2)}).smoothness == 0


def test_softplus():
    pr = props("softplus")
    assert pr.range_latex() == r"(0, \infty)"
    assert pr.monotonic == "increasing"
    assert pr.saturating == "x -> -oo"
    assert (pr.max_slope.value, pr.max_slope.where) == (1, "x -> +oo")  # approached, never reached
    assert pr.smoothness is None and not pr.sparse
    assert pr.f_at_zero == sympy.log(2)


def test_mish():
    pr = props("mish")
    assert pr.monotonic == "not monotonic"
    assert float(pr.minimum.value) == pytest.approx(-0.30884, abs=1e-5)
    assert pr.minimum.where == "x = -1.192"
    assert pr.infimum.attained and float(pr.infimum.value) == pytest.approx(-0.30884, abs=1e-5)
    assert float(pr.max_slope.value) == pytest.approx(1.0885, abs=1e-4)
    assert pr.saturating == "x -> -oo"
    assert pr.smoothness is None


@pytest.mark.parametrize(
    ("expr", "range_", "monotonic"),
    [
        (x**3, r"(-\infty, \infty)", "increasing"),
        (sympy.exp(-(x**2)), "(0, 1]", "not monotonic"),
        (sympy.Abs(x), r"[0, \infty)", "not monotonic"),
    ],
)
def test_user_expressions(expr, range_, monotonic):
    pr = properties(user_entry("u", expr))
    assert pr.range_latex() == range_
    assert pr.monotonic == monotonic


def test_a_function_with_finitely_many_values_has_a_finite_set_as_its_range():
    pr = props("step")
    assert pr.values == (0, 1)
    assert pr.range_latex() == r"\lbrace 0, 1 \rbrace"  # the set {0, 1}, not the interval [0, 1]
    assert properties(user_entry("u", sympy.sign(x))).range_latex() == r"\lbrace -1, 0, 1 \rbrace"
    assert props("relu").values is None and props("sigmoid").values is None


def test_abs_has_its_minimum_at_the_kink():
    pr = properties(user_entry("u", sympy.Abs(x)))
    assert (pr.minimum.value, pr.minimum.where) == (0, "x = 0")
    assert pr.smoothness == 0


@pytest.mark.parametrize("name", ["softmax", "dropout", "mse"])
def test_not_applicable(name):
    with pytest.raises(NotApplicable):
        props(name)
