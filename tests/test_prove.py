import pytest
import sympy
from sympy import Piecewise, exp, log, tanh

from symact.budget import BudgetExceeded, run_limited
from symact.functions import sigmoid, softplus
from symact.prove import Space, find_kinks, prove_equal, sift

x = sympy.Symbol("x", real=True)
alpha = sympy.Symbol("alpha", positive=True)


def test_true_identities_are_proved():
    assert prove_equal(log(sigmoid(x)), -softplus(-x)).equal
    assert prove_equal(tanh(x), 2 * sigmoid(2 * x) - 1).equal


def test_a_piecewise_form_is_proved_branch_by_branch_on_its_side_of_zero():
    """Each branch is simplified where its condition holds: |x| is x where x >= 0 and -x after it, which the
    no-cancellation form of x + sqrt(x^2 + 4) needs (4/(sqrt(x^2 + 4) + |x|) equals it only where x < 0)."""
    s = sympy.sqrt(x**2 + 4)
    stable = Piecewise((abs(x) + s, x >= 0), (4 / (abs(x) + s), True))
    outcome = prove_equal(stable, x + s)
    assert outcome.equal and outcome.proof.method == "symbolic"
    swapped = Piecewise((4 / (abs(x) + s), x >= 0), (abs(x) + s, True))  # each branch on the wrong side
    assert prove_equal(swapped, x + s).equal is False


@pytest.mark.parametrize(
    "stable, plain",
    [
        (exp(-abs(x)) / (1 + exp(-abs(x))) ** 2, sigmoid(x) * (1 - sigmoid(x))),  # sigma' without overflow
        (sympy.sign(x**3 + x) * (1 - exp(-2 * abs(x**3 + x))) / (1 + exp(-2 * abs(x**3 + x))), tanh(x**3 + x)),
        (x * sympy.sign(x) * sympy.Heaviside(-x), -x * sympy.Heaviside(-x)),
    ],
)
def test_a_form_with_abs_of_the_variables_sign_is_proved_on_each_side(stable, plain):
    """|w|, sign(w), Heaviside(w) where the sign of w is the variable's: proved with x > 0 and x < 0 put in (the
    smooth steps alone fail on |w| after their whole budget: twenty seconds on gelu_tanh's derivative)."""
    outcome = prove_equal(stable, plain, symbolic_budget=2.0)
    assert outcome.equal and outcome.proof.method == "symbolic"
    assert "x > 0 and for x < 0" in outcome.proof.detail or "identical" in outcome.proof.detail
    assert prove_equal(stable, -plain).equal is False  # each side is checked, not assumed


def test_wrong_identity_gets_a_counterexample_with_both_values():
    out = prove_equal(tanh(x), (1 - exp(-x)) / (1 + exp(-x)))
    assert out.equal is False
    assert set(out.counterexample.point) == {"x"}
    assert out.counterexample.lhs != out.counterexample.rhs


def test_near_miss_is_not_equal():
    near = (1 + tanh(sympy.Rational(4999999, 10000000) * x)) / 2
    assert prove_equal(near, sigmoid(x), symbolic=False).equal is False


def test_numeric_evidence_covers_both_sides_of_a_kink():
    f = Piecewise((x, x > 0), (alpha * (exp(x) - 1), True))
    wrong = Piecewise((1, x > 0), (f + 2 * alpha, True))
    out = prove_equal(wrong, sympy.diff(f, x), Space(kinks={x: (0,)}), symbolic=False)
    assert out.equal is False


def test_cancellation_in_the_tails_does_not_fake_agreement():
    # 1 - tanh(x)^2 cancels to 0 in floats at large x; the prover evaluates it exactly enough
    out = prove_equal(1 - tanh(x) ** 2, 4 * exp(-2 * x) / (1 + exp(-2 * x)) ** 2 * 1.0000001, symbolic=False)
    assert out.equal is False


def test_sift_and_kinks():
    a, k, j, n = (
        sympy.IndexedBase("a"),
        sympy.Symbol("k", integer=True),
        sympy.Symbol("j", integer=True),
        sympy.Symbol("n"),
    )
    assert sift(sympy.Sum(exp(a[k]) * sympy.KroneckerDelta(j, k), (k, 0, n - 1))) == exp(a[j])
    assert find_kinks(sympy.Max(0, x - 2) + abs(x + 1), x) == (-1, 2)


def test_budget_stops_a_long_computation():
    def spin():
        while True:
            pass

    with pytest.raises(BudgetExceeded):
        run_limited(spin, 0.2)
    with pytest.raises(BudgetExceeded):
        run_limited(spin, 0.5, isolate=True)
    assert run_limited(sum, 1, [1, 2], isolate=True) == 3


def test_budget_stops_a_computation_that_swallows_the_first_alarm():
    """SymPy catches exceptions in places (factor's fallbacks under simplify): the alarm fires again until the
    call has ended, so a budget holds even where its first BudgetExceeded was caught and dropped."""
    import time

    def stubborn():
        try:
            while True:
                pass
        except Exception:  # noqa: BLE001 - what a library's fallback does
            pass
        while True:
            pass

    start = time.monotonic()
    with pytest.raises(BudgetExceeded):
        run_limited(stubborn, 0.2)
    assert time.monotonic() - start < 2.0
    assert run_limited(sum, 0.2, [1, 2]) == 3
    time.sleep(0.6)  # no alarm left over after a call that ended in time


def test_budget_counts_processor_time_with_a_wall_clock_limit_behind_it():
    """A budget is on the processor time the call spends, so that a busy machine does not change what is proved,
    parsed or generated; a call that waits instead of computing is stopped at WALL_FACTOR times the budget."""
    import time

    from symact.budget import WALL_FACTOR

    assert run_limited(time.sleep, 0.1, 0.3) is None  # 0.3 s asleep spends no processor time
    start = time.monotonic()
    with pytest.raises(BudgetExceeded):
        run_limited(time.sleep, 0.05, 60.0)
    assert 0.05 * WALL_FACTOR * 0.9 <= time.monotonic() - start < 0.05 * WALL_FACTOR + 1.0


def test_nested_budgets_end_at_the_first_limit_and_restore_the_outer_one():
    import signal
    import time

    def spin():
        while True:
            pass

    start = time.process_time()
    with pytest.raises(BudgetExceeded, match="0.2 s"):
        run_limited(lambda: run_limited(spin, 5.0), 0.2)
    assert time.process_time() - start < 1.0

    def inner_then_spin():
        assert run_limited(sum, 5.0, [1, 2]) == 3  # ends in time: the outer budget goes on
        spin()

    with pytest.raises(BudgetExceeded, match="0.3 s"):
        run_limited(inner_then_spin, 0.3)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0) and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_sampling_without_a_wall_clock_deadline_checks_as_many_points_on_a_busy_machine(monkeypatch):
    """A generated module's header says at how many points a form was checked; with the wall-clock deadline a busy
    machine checked fewer (gelu_tanh: 19 instead of 28) and ``generate --check`` failed.  With wall=False the count
    is the same however slowly the clock of a busy machine seems to run."""
    import itertools

    from symact import prove as prove_module

    lhs, rhs = sympy.tanh(x) * sympy.sinh(x), sympy.cosh(x) - 1 / sympy.cosh(x)
    calm = prove_module.prove_equal(lhs, rhs, symbolic=False, wall=False, budget=30.0)
    ticks = itertools.count()
    monkeypatch.setattr(prove_module.time, "monotonic", lambda: 7.0 * next(ticks))  # 7 s pass between looks
    busy = prove_module.prove_equal(lhs, rhs, symbolic=False, wall=False, budget=30.0)
    hurried = prove_module.prove_equal(lhs, rhs, symbolic=False, wall=True, budget=30.0)
    assert calm.equal and busy.equal and calm.proof.points == busy.proof.points > 10
    assert hurried.equal is None or hurried.proof.points < calm.proof.points
