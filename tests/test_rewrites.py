"""Every stabilising rewrite is an identity; the compute forms equal what they came from."""

import pytest
import sympy
from sympy import Sum, exp, log, tanh
from sympy.codegen.rewriting import log1p_opt, optimize

from symact import catalog
from symact.catalog.symbols import a, k, n, x, y
from symact.emit import elementwise_forms
from symact.functions import sigmoid, softplus
from symact.prove import Space
from symact.rewrites import PRIMITIVES, RULES, prove_compute_form, prove_rule, stabilise, to_plain

from .conftest import ELEMENTWISE


@pytest.mark.parametrize("rule", RULES + tuple(PRIMITIVES.values()), ids=lambda r: r.name)
def test_every_rule_is_an_identity(rule):
    outcome = prove_rule(rule)
    assert outcome.equal, f"{rule.name}: {outcome}"


def test_rules_have_distinct_names_and_reasons():
    names = [r.name for r in RULES + tuple(PRIMITIVES.values())]
    assert len(names) == len(set(names))
    assert all(len(r.reason) > 20 for r in RULES)


def test_textbook_sigmoid_derivative_loses_its_cancellation():
    e = exp(-abs(x))
    assert stabilise(sigmoid(x) * (1 - sigmoid(x))) == e / (1 + e) ** 2


def test_tanh_derivative_becomes_one_exponential():
    e = exp(-abs(2 * x))
    assert stabilise(1 - tanh(x) ** 2) == 4 * e / (1 + e) ** 2


def test_softplus_is_recognised_and_kept_as_the_stable_primitive():
    assert stabilise(log(1 + exp(x))) == softplus(x)
    body = PRIMITIVES[softplus].replacement
    assert not body.has(log)  # max(w, 0) + log1p(exp(-|w|)): no log(1 + exp(w)) that overflows


def test_sympy_log1p_opt_is_not_enough():
    # the reason we do not reuse log1p_opt blindly: it turns a safe form into an overflowing one
    rewritten = optimize(log(1 + exp(-abs(x))), [log1p_opt])
    assert rewritten.has(exp(abs(x)))
    assert not stabilise(log(1 + exp(-abs(x)))).has(exp(abs(x)))


def test_log_of_a_sum_is_not_turned_into_log1p():
    s = Sum(exp(a[k]), (k, 0, n - 1))
    assert stabilise(log(s)) == log(s)


def test_one_minus_square_only_matches_a_literal_square():
    assert stabilise(1 - y**2) == (1 - y) * (1 + y)
    assert stabilise(1 - 4 * sigmoid(x) ** 2) == 1 - 4 * sigmoid(x) ** 2


def test_label_rule_splits_sigmoid_minus_label_only():
    z = sympy.Symbol("z", real=True)
    lab = sympy.Symbol("y", real=True)
    assert stabilise(sigmoid(z) - lab) == (1 - lab) * sigmoid(z) - lab * sigmoid(-z)
    assert stabilise(x * sigmoid(-x) + 1) == x * sigmoid(-x) + 1  # 1 is not a label


def test_to_plain_expands_named_and_codegen_functions():
    from sympy.codegen.cfunctions import expm1, log1p

    assert to_plain(log1p(x) + expm1(x) + sigmoid(x)) == log(x + 1) + exp(x) - 1 + 1 / (1 + exp(-x))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_compute_forms_equal_the_definition_and_the_raw_derivative(name):
    entry = catalog.get(name)
    forms = elementwise_forms(entry)
    space = Space(kinks={x: tuple(entry.kinks)}, params={p.symbol: (p.default,) for p in entry.params})
    for compute, truth in ((forms.forward, entry.definition), (forms.derivative, forms.raw_derivative)):
        outcome = prove_compute_form(compute, truth, space)
        assert outcome.equal, f"{name}: {compute} vs {truth}: {outcome}"


def test_one_plus_erf_keeps_the_tail_through_sympys_evaluation():
    from sympy import Abs, Piecewise, erf, erfc, sqrt

    w = x / sqrt(2)
    # SymPy evaluates erfc(-w) to 2 - erfc(w): the rule writes erfc(|w|), which it leaves alone
    assert sympy.erfc(-w) == 2 - sympy.erfc(w)
    got = stabilise(1 + erf(w))
    assert got == Piecewise((2 - erfc(Abs(w)), w >= 0), (erfc(Abs(w)), True))
    # also inside a longer sum, with a coefficient (gelu' = x phi(x) + 1/2 + erf(w)/2)
    got = stabilise(x * exp(-(x**2) / 2) + erf(w) / 2 + sympy.Rational(1, 2))
    assert not got.has(erf) and got.has(erfc(Abs(w)))
    assert prove_compute_form(got, x * exp(-(x**2) / 2) + erf(w) / 2 + sympy.Rational(1, 2)).equal


def test_one_plus_tanh_is_a_sigmoid_also_inside_a_sum():
    assert stabilise(1 + tanh(x)) == 2 * sigmoid(2 * x)
    assert stabilise(sympy.Rational(1, 2) - tanh(x) / 2 + x) == sigmoid(-2 * x) + x


def test_x_sign_x_is_abs_and_softsigns_derivative_has_no_cancelling_terms():
    from sympy import Abs, sign

    assert stabilise(x * sign(x) / (1 + Abs(x))) == Abs(x) / (1 + Abs(x))
    forms = elementwise_forms(catalog.get("softsign"))
    assert forms.derivative == (1 + Abs(x)) ** -2


def test_w_plus_root_of_square_plus_c_does_not_cancel_for_negative_w():
    from sympy import Abs, Piecewise, sqrt

    s = sqrt(x**2 + 4)
    half = sympy.Add(Abs(x) / 2, s / 2, evaluate=False)  # (|x| + s)/2: no overflow at |x| = 1.8e308
    assert stabilise(x + s) == Piecewise((s + Abs(x), x >= 0), (2 / half, True))
    assert stabilise(x / 2 + s / 2) == Piecewise((s / 2 + Abs(x) / 2, x >= 0), (1 / half, True))  # squareplus
    assert stabilise(1 + x / s) == Piecewise((1 + x / s, x >= 0), (2 / (half * s), True))  # squareplus' (times 2)
    for form, source in ((stabilise(x + s), x + s), (stabilise(1 + x / s), 1 + x / s)):
        assert prove_compute_form(form, source).equal


def test_log_of_w_plus_root_is_asinh():
    s = sympy.sqrt(x**2 + 4)
    assert stabilise(log(x + sympy.sqrt(x**2 + 1))) == sympy.asinh(x)
    assert stabilise(log(x + s)) == sympy.asinh(x / 2) + log(2)
    assert prove_compute_form(sympy.asinh(x / 2) + log(2), log(x + s)).equal
    assert not stabilise(log(2 * x + s)).has(sympy.asinh)  # 2x + sqrt(x^2 + 4) is no asinh


def test_root_minus_its_value_does_not_cancel_near_zero():
    from sympy import Abs, Piecewise, sqrt

    s = sqrt(x**2 + 1)
    stable = stabilise(x + s / 2 - sympy.Rational(1, 2))  # the bent identity
    small = sympy.Rational(1, 2) * x**2 / (s + 1)
    assert stable == x + Piecewise((small, Abs(x) < 2**60), (s * (1 - 1 / s) / 2, True))
    assert prove_compute_form(stable, x + s / 2 - sympy.Rational(1, 2)).equal
    assert stabilise(s - 2) == s - 2  # no cancellation to remove: sqrt(x^2 + 1) never reaches 2 at x = 0
    quarter = stabilise(4 * sqrt(1 + (x / 2) ** 2) - 4)  # a factor of the square goes into w = x/2
    assert quarter.args[0] == (x**2 / (sqrt(x**2 / 4 + 1) + 1), Abs(x) < 2**61)
    assert prove_compute_form(quarter, 4 * sqrt(1 + (x / 2) ** 2) - 4).equal


@pytest.mark.parametrize("w", [x, 2 * x + 1, y - x])
def test_log_cosh_becomes_a_form_that_neither_overflows_nor_cancels(w):
    from sympy import Piecewise, cosh, sinh
    from sympy.codegen.cfunctions import log1p

    got = stabilise(log(cosh(w)))
    assert isinstance(got, Piecewise) and not got.has(cosh)
    assert got.args[0][0] == log1p(2 * sinh(w / 2) ** 2)  # near 0: no cancellation
    assert got.args[1][0].has(softplus(-2 * abs(w)))  # far out: no overflow
    assert prove_compute_form(got, log(cosh(w))).equal


@pytest.mark.parametrize("c, w", [(2, x), (sympy.Rational(1, 2), 2 * x + 1)])
def test_log_of_a_positive_multiple_of_cosh_splits_off_the_constant(c, w):
    from sympy import cosh

    got = stabilise(log(c * cosh(w)))  # log(exp(x) + exp(-x)) is read as log(2 cosh(x))
    assert not got.has(cosh) and got.has(softplus(-2 * abs(w)))
    assert prove_compute_form(got, log(c * cosh(w))).equal
    assert stabilise(log(-2 * cosh(w))).has(cosh)  # log of a negative number: left as it is


@pytest.mark.parametrize("c, w", [(1, x), (-1, y - x), (3, 2 * x)])
def test_sinh_over_cosh_becomes_tanh(c, w):
    from sympy import cosh, sinh

    assert stabilise(c * sinh(w) / cosh(w)) == c * tanh(w)
    assert stabilise(sinh(w) + 1 / cosh(w)) == sinh(w) + 1 / cosh(w)  # no ratio: unchanged


@pytest.mark.parametrize("w", [x, 2 * x + 1])
def test_one_minus_a_mixture_of_sigmoids_becomes_a_sum_of_small_terms(w):
    """1 - p_t of a focal loss, p_t = y sigma(w) + (1 - y)(1 - sigma(w)): no cancellation at y = 1, w = 40."""
    got = stabilise(1 - (y * sigmoid(w) + (1 - y) * (1 - sigmoid(w))))
    assert sympy.expand(got - (y * sigmoid(-w) + (1 - y) * sigmoid(w))) == 0
    assert not any(t.is_number for t in got.args)
    assert stabilise(x * sigmoid(-x) + 1) == x * sigmoid(-x) + 1  # no sigma(x) partner: unchanged
    assert stabilise(2 + sigmoid(x)) == 2 + sigmoid(x)


@pytest.mark.parametrize("c, w", [(1, x), (-1, x), (3, sympy.log(x))])
def test_square_minus_itself_becomes_a_product(c, w):
    """w^2 - w cancels near w = 1 (the p(1 - p) of a loss of probabilities); -w (1 - w) does not."""
    got = stabilise(c * w**2 - c * w)
    assert got == -c * w * (1 - w)
    assert stabilise(x**2 - 2 * x) == x**2 - 2 * x  # not the same multiple: unchanged
    assert stabilise(x**2 - y) == x**2 - y


def test_a_product_of_exponentials_is_one_exponential():
    """exp(x) exp(-exp(x)) (the complementary log-log's derivative) as exp(x - exp(x)): one rounding, and the
    rounding error of its argument corrected for by the printer; any number of exp factors, others kept."""
    from sympy import exp

    from symact.rewrites import stabilise

    assert stabilise(exp(x) * exp(-exp(x))) == exp(x - exp(x))
    assert stabilise(3 * x * exp(x) * exp(-(x**2)) * exp(2 * x)) == 3 * x * exp(3 * x - x**2)
    assert stabilise(x * exp(x)) == x * exp(x)


def test_sech_squared_with_any_coefficient():
    """(1 - tanh(x)^2)' = -(2 - 2 tanh(x)^2) tanh(x): c - c tanh(w)^2 cancels for |w| > 19 as 1 - tanh(w)^2 does
    (7.7e15 ulp), and is c sech^2(w) without cancellation."""
    stable = stabilise(-(2 - 2 * sympy.tanh(x) ** 2) * sympy.tanh(x))
    assert not stable.has(sympy.tanh(x) ** 2)
    assert prove_compute_form(stable, -(2 - 2 * sympy.tanh(x) ** 2) * sympy.tanh(x)).equal


def test_differences_of_softplus_and_of_sigma_with_a_constant_shift_are_not_differences():
    """softplus(w) - softplus(w - c) and sigma(w) - sigma(w - c) cancel for w >> 0 (soft clipping
    log((1 + e^x)/(1 + e^(x-1))) gave 0, not 1, at x = 1e20: 6.9e12 ulp): log1p((e^c - 1) sigma(w - c)) and
    (1 - e^-c) sigma(w) sigma(c - w) take no difference.  A log of positive factors splits first."""
    from sympy.codegen.cfunctions import expm1, log1p

    got = stabilise(softplus(x) - softplus(x - 2))
    assert got == log1p(expm1(2) * sigmoid(x - 2))
    assert prove_compute_form(got, softplus(x) - softplus(x - 2)).equal
    shifted = stabilise(sigmoid(x) - sigmoid(x - 1))
    assert shifted.is_Mul and prove_compute_form(shifted, sigmoid(x) - sigmoid(x - 1)).equal
    clipping = stabilise(log((1 + exp(x)) * sigmoid(1 - x)))
    assert not clipping.has(softplus) and prove_compute_form(clipping, log((1 + exp(x)) * sigmoid(1 - x))).equal


@pytest.mark.parametrize(
    "text, want",
    [
        ("x - log(1+exp(x))", -softplus(-x)),  # log sigma(x) spelled out: 0 at x = 40 before, not -4e-18
        ("log(1+exp(x)) - x", softplus(-x)),
        ("2*x - 2*log(1+exp(x))", -2 * softplus(-x)),
        ("log(1+exp(x)) - Max(x, 0)", softplus(-sympy.Abs(x))),
        ("log(1+exp(x)) - log(1+exp(-x))", x),
        ("log((1/(1+exp(-x)))/(1-1/(1+exp(-x))))", x),  # the logit of sigma(x)
        ("x/(1+exp(-x)) - x", -x * sigmoid(-x)),  # x sigma(x) - x: the common factor x taken out
        ("1/(1+exp(-x)) + x**2 - 1", x**2 - sigmoid(-x)),  # k sigma(w) - k inside a longer sum
    ],
)
def test_sums_that_cancel_far_out_become_forms_that_do_not(text, want):
    """softplus(w) - w, softplus(w) - softplus(-w), softplus(w) - max(0, w), log(1/sigma(w)), and a sum whose terms
    share a factor that a rule rewrites once taken out: each is one stable form, whatever the spelling."""
    from symact.compute_rules import canonical

    got = stabilise(canonical(sympy.sympify(text, locals={"x": x})))
    assert got == want, got
    spelled = to_plain(sympy.sympify(text, locals={"x": x}))
    # equal (Max is beyond the prover: checked at points)
    for point in (-50, -3, sympy.Rational(-1, 2), sympy.Rational(1, 4), 2, 40):
        assert abs(sympy.N((to_plain(got) - spelled).subs(x, point), 40)) < 1e-30


@pytest.mark.parametrize(
    "form",
    [
        2 * exp(-x) / (1 + exp(-x)) ** 3,  # sigma(x)^2', as SymPy writes it for 1/(1 + exp(-x))^2
        exp(2 * x) / (1 + exp(x)) ** 4,
        3 * x * exp(-x) / (1 + exp(-x)) ** 2,
    ],
)
def test_an_exponential_over_a_power_of_one_plus_it_does_not_overflow(form):
    """e^(k a) / (1 + e^a)^n overflows in (1 + e^a)^n for a > 709/n while the quotient is finite (sigma(x)^2'
    gave 0 for x < -236); the rule writes it in t = e^(-|a|), equal and finite at every float64 x."""
    import mpmath
    import numpy as np

    stable = stabilise(form)
    assert stable.has(sympy.Abs) and prove_compute_form(stable, form).equal
    fn = sympy.lambdify(x, to_plain(stable), "numpy")
    with np.errstate(all="ignore"):
        for v in (-745.0, -400.0, -300.0, -30.0, 0.5, 30.0, 300.0, 745.0):
            exact = sympy.lambdify(x, form, "mpmath")(mpmath.mpf(v))
            got = float(fn(np.float64(v)))
            assert got == pytest.approx(float(exact), rel=1e-12, abs=1e-320), v
