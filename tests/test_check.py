"""The kernel oracle decides how to check an entry from its mathematics, never from its name; and
``symact check --expr`` checks a user's kernel as it checks a catalog kernel."""

import dataclasses
import re
from pathlib import Path

import pytest

import symact.check as check
from symact import catalog
from symact.catalog import Kind

SOURCE = Path(check.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", catalog.names())
def test_the_oracle_names_no_catalog_entry(name):
    assert not re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", SOURCE), name


def test_the_oracle_never_looks_at_a_name():
    assert not re.search(r"\.name\s*(==|!=|\bin\b)|\.name\.(startswith|endswith)", SOURCE)


SHAPES = {
    "mse": "mean",
    "sigmoid_cross_entropy_with_logits": "binary",
    "weighted_cross_entropy_with_logits": "binary",
    "softmax_cross_entropy_with_logits": "classes",
    "sparse_softmax_cross_entropy_with_logits": "classes",
    "logistic_nll": "model",
    "huber": "binary",
    "smooth_l1": "binary",
    "l1": "binary",
    "log_cosh": "binary",
    "soft_margin": "binary",
    "hinge": "binary",
    "squared_hinge": "binary",
    "poisson_nll": "binary",
    "kl_divergence": "binary",
    "kl_divergence_log_target": "binary",
    "binary_cross_entropy": "binary",
    "gaussian_nll": "binary",
}


@pytest.mark.parametrize("name", [e.name for e in catalog.entries() if e.kind is not Kind.ELEMENTWISE])
def test_a_renamed_entry_is_checked_the_same_way(name):
    entry = catalog.get(name)
    renamed = dataclasses.replace(entry, name="renamed")
    if entry.kind is Kind.LOSS:
        assert check._loss_shape(entry) == check._loss_shape(renamed) == SHAPES[name]
    else:
        hard = check._argmax_index(renamed) is not None
        assert hard == (name == "hardmax")
    sparse = check._label(renamed, "index") is not None
    assert sparse == (name == "sparse_softmax_cross_entropy_with_logits")


# --------------------------------------------------------------------------------------------
# a header claims of each compute form only what was shown: proved, checked numerically, or not proved


def _header(text: str) -> str:
    return text[3:].partition('"""')[0]


def _user(expr: str, name: str):

    from symact.catalog.symbols import x
    from symact.derive import user_entry
    from symact.parse import parse_sympy

    return user_entry(name, parse_sympy(expr, {"x": x}), x)


@pytest.mark.parametrize("by_sides", [False, True])
def test_a_user_header_says_proved_only_for_what_sympy_proved(monkeypatch, by_sides):
    """sigmoid's derivative form in exp(-|x|): SymPy's smooth steps alone cannot take |x| away (sampled only);
    with x > 0 and x < 0 put in (symact.prove._zero_on_each_side) it is proved."""
    import symact.prove
    from symact.emit import render
    from symact.form_proofs import PROVED, form_claims, numeric

    monkeypatch.setenv("SYMACT_CACHE", "0")  # neither read nor leave a module rendered under this monkeypatch
    if not by_sides:
        monkeypatch.setattr(symact.prove, "_zero_on_each_side", lambda diff: None)
    form_claims.cache_clear()
    try:
        header = _header(render(_user("1/(1 + exp(-x))", "honest_sigmoid"), "symact generate ..."))
    finally:
        form_claims.cache_clear()
    proved, _, rest = header.partition(f"compute forms ({PROVED}):")
    assert "forward: sigmoid(x)" in rest.split("compute forms")[0]  # the forward: proved symbolically
    if by_sides:
        assert "derivative: exp(-Abs(x))" in rest.split("compute forms")[0] and "checked numerically" not in header
        return
    checked = rest.partition("compute forms (")[2]
    assert checked.startswith(numeric(30)[: numeric(30).index(" at ")])  # the derivative in exp(-|x|): sampled
    assert "derivative: exp(-Abs(x))" in checked and "derivative" not in rest.split("compute forms")[0]


def test_a_form_neither_proved_nor_refuted_is_said_to_be_not_proved(monkeypatch):
    import symact.prove
    from symact.emit import render
    from symact.form_proofs import NOT_PROVED, PROVED

    monkeypatch.setattr(symact.prove, "prove_equal", lambda *a, **k: symact.prove.Outcome(None, note="budget"))
    header = _header(render(_user("x/2 + 3", "unproved_line"), "symact generate ..."))
    assert f"compute forms ({NOT_PROVED}):" in header and PROVED not in header
    assert "proved equal" not in header.replace(NOT_PROVED, "")


def test_a_refuted_form_is_no_module_but_one_line(capsys, tmp_path, monkeypatch):
    import symact.prove

    wrong = symact.prove.Outcome(False, counterexample=symact.prove.Counterexample({"x": "1"}, "1", "2"))
    monkeypatch.setattr(symact.prove, "prove_equal", lambda *a, **k: wrong)
    code, _, err = run(capsys, "generate", "--expr", "x/2 + 5", "--name", "refuted_line", "--out", tmp_path)
    assert code == 2 and one_line(err) and "differs from its source at x = 1" in err
    assert list(tmp_path.iterdir()) == []


def test_catalog_headers_with_a_fit_do_not_call_it_proved():
    from symact.form_proofs import FIT, PROVED

    text = _header((Path(check.__file__).parent.parent / "generated" / "silu.py").read_text(encoding="utf-8"))
    proved = text.partition(f"compute forms ({PROVED}):")[2].partition("compute forms (")[0]
    assert "Chebyshev" not in proved and f"compute forms ({FIT}):\n    near a zero of f'" in text


# --------------------------------------------------------------------------------------------
# symact check --expr: a user kernel against the mpmath reference, as a catalog kernel


def run(capsys, *args):
    from symact.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


EXPR = "x/2 + 1"  # all 8 kernels within their bounds, and quick to compile


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    from symact.cli import main

    folder = tmp_path_factory.mktemp("user_kernels")
    assert main(["generate", "--expr", EXPR, "--name", "half_line", "--out", str(folder)]) == 0
    return folder


def test_check_expr_passes_and_fails_as_a_catalog_kernel_does(capsys, user_dir, monkeypatch):
    code, out, err = run(capsys, "check", "--expr", EXPR, "--name", "half_line", "--dir", user_dir)
    assert code == 0 and not err, err
    assert "| half_line | forward | float32 |" in out and "| half_line | vjp_from_output | float64 |" in out
    assert "all 8 kernel results within their bounds" in out
    monkeypatch.setattr(check, "BOUNDS", {})
    monkeypatch.setattr(check, "DEFAULT_BOUND", -1.0)  # every kernel out of bounds: exit 1, not 2
    code, out, _ = run(capsys, "check", "--expr", EXPR, "--name", "half_line", "--out", user_dir)  # --out too
    assert code == 1 and "8 of 8 kernel results miss their bound" in out


def test_check_expr_without_a_module_is_one_line_naming_the_generate_command(capsys, tmp_path):
    code, out, err = run(capsys, "check", "--expr", EXPR, "--name", "absent", "--dir", tmp_path)
    assert code == 2 and one_line(err) and not out
    assert (
        f"no module {tmp_path}/absent.py" in err
        and f"symact generate --expr 'x/2 + 1' --name absent --out {tmp_path}" in err
    )
    code, _, err = run(capsys, "check", "--expr", EXPR, "--name", "absent", "--dir", tmp_path / "nowhere")
    assert code == 2 and one_line(err) and "symact generate --expr" in err


def test_check_expr_of_another_expression_is_one_line(capsys, user_dir):
    args = ("check", "--expr", "x/2 + c", "--param", "c=2", "--name", "half_line", "--dir", user_dir)
    code, out, err = run(capsys, *args)
    assert code == 2 and one_line(err) and not out
    assert "generated from another expression" in err and "x/2 + 1" in err and "x/2 + 2" in err
    assert f"symact generate --expr 'x/2 + c' --name half_line --param c=2 --out {user_dir}" in err


def test_check_expr_of_a_file_without_a_header_is_one_line(capsys, tmp_path):
    (tmp_path / "plain.py").write_text("x = 1\n")
    code, _, err = run(capsys, "check", "--expr", EXPR, "--name", "plain", "--dir", tmp_path)
    assert code == 2 and one_line(err) and "no symact header" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--expr", EXPR, "--name", "mine"), "--expr needs --dir DIR"),
        (("--expr", EXPR, "--dir", "."), "--expr needs --name"),
        (("--expr", EXPR, "--name", "sigmoid", "--dir", "."), "catalog entry"),
        (("relu", "--expr", EXPR, "--name", "mine", "--dir", "."), "not both"),
        (("relu", "--name", "mine"), "--name goes with --expr"),
        (("relu", "--param", "a=1"), "--param goes with --expr"),
        (("--expr", "x*a", "--name", "mine", "--dir", "."), "--param a=VALUE"),
    ],
)
def test_check_expr_bad_input_is_one_line(capsys, args, message):
    code, out, err = run(capsys, "check", *args)
    assert code == 2 and one_line(err) and message in err and not out


def test_a_users_failing_kernel_names_the_sub_expression_that_loses_accuracy():
    """The sub-expression where accuracy is lost, found at the worst input. On the raw log(x + sqrt(x^2 + 1)) the
    sum cancels to 0 at x = -1e8 (float64); symact's compute form of it is accurate (the asinh rule), so the line
    of symact check --expr is shown on exp(x) - 1 - x, whose compute form expm1(x) - x still cancels near 0."""
    import numpy as np
    import sympy

    from symact.check import KernelResult
    from symact.commands.check import diagnose
    from symact.derive import user_entry
    from symact.measure import where_accuracy_is_lost

    v = sympy.Symbol("x", real=True)
    inner = v + sympy.sqrt(v**2 + 1)
    node, ulps = where_accuracy_is_lost(sympy.log(inner), v, -1e8, np.float64, 2.0)
    assert node == inner and ulps > 1e15
    assert where_accuracy_is_lost(sympy.log(inner), v, 3.0, np.float64, 2.0) is None  # accurate there
    entry = user_entry("expm1_less_x", sympy.exp(v) - 1 - v, v)
    failing = KernelResult("expm1_less_x", "forward", "float32", 2.0, errors=[(6.4e3, "tiny", "x = 1e-05")])
    special = KernelResult("expm1_less_x", "derivative", "float32", 4.0, errors=[(0.5, "special", "x = 1.0")])
    (line,) = diagnose(entry, [failing, special])  # a failure at a special value alone gets no line
    assert line.startswith("expm1_less_x forward float32, 6.4e+03 ulp at x = 1e-05: symact cannot make -x + expm1(x) ")
