import json
import subprocess
import sys

import pytest
import sympy

from symact import catalog
from symact.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_entry(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in catalog.names():
        assert name in out
    sigmoid_row = next(line for line in out.splitlines() if line.startswith("sigmoid "))
    assert sigmoid_row.rstrip().endswith("yes")
    mish_row = next(line for line in out.splitlines() if line.startswith("mish "))
    assert mish_row.rstrip().endswith("no")


def test_list_for_one_framework_gives_its_names_and_the_conventions(capsys):
    code, out, _ = run(capsys, "list", "--framework", "torch")
    assert code == 0
    blocks = {line.split(" ")[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert "torch.nn.functional.huber_loss" in blocks["huber"] and "tf.keras" not in blocks["huber"]
    assert "log_cosh" not in blocks  # PyTorch has no log-cosh loss
    assert "reduction='mean'" in out  # huber's conventions, printed under it
    code, out, _ = run(capsys, "list", "--framework", "keras", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["log_cosh"]["keras names"].startswith("tf.keras.losses.LogCosh")
    assert "Keras" in rows["log_cosh"]["notes"] and "sigmoid" not in rows


def test_list_for_an_unknown_framework_is_one_line_and_exit_2(capsys):
    code, _, err = run(capsys, "list", "--framework", "caffe")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "torch" in err


def test_derive_sigmoid_json_gives_the_output_form(capsys):
    code, out, _ = run(capsys, "derive", "sigmoid", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["output_form"]["sympy"] == "y*(1 - y)"
    assert sympy.sympify(data["output_form"]["sympy"]) == sympy.sympify("y*(1 - y)")
    assert data["textbook_form"]["latex"] == r"\left(1 - \sigma\left(x\right)\right) \sigma\left(x\right)"
    x = sympy.Symbol("x")
    expanded = sympy.sympify(data["textbook_form"]["expanded"])
    raw = sympy.sympify(data["derivative"]["sympy"])
    assert sympy.simplify(expanded - raw) == 0
    assert not expanded.has(sympy.Function("sigmoid")) and expanded.has(sympy.exp(-x))


def test_derive_softmax_json_gives_the_kronecker_jacobian(capsys):
    code, out, _ = run(capsys, "derive", "softmax", "--format", "json")
    data = json.loads(out)
    jac = sympy.sympify(data["jacobian"]["sympy"])
    p = sympy.IndexedBase("p")
    i, j = sympy.symbols("i j")
    assert sympy.expand(jac - p[i] * (sympy.KroneckerDelta(i, j) - p[j])) == 0
    assert "delta" in data["jacobian"]["latex"]
    vjp = sympy.sympify(data["vjp"]["sympy"])
    assert vjp.has(sympy.Sum)


def test_derive_logistic_json_gives_the_sum_form(capsys):
    code, out, _ = run(capsys, "derive", "logistic_nll", "--format", "json")
    data = json.loads(out)
    dw = sympy.sympify(data["gradients_by_target"]["Indexed('w', j)"]["sympy"])
    assert isinstance(-dw, sympy.Sum)
    summand = (-dw).function
    X, y = sympy.IndexedBase("X"), sympy.IndexedBase("y")
    i, j = sympy.symbols("i j")
    assert summand.has(X[i, j]) and summand.has(y[i]) and summand.has(sympy.Function("sigmoid"))


@pytest.mark.parametrize("fmt", ["text", "latex"])
def test_other_formats(capsys, fmt):
    code, out, _ = run(capsys, "derive", "tanh", "elu", "--format", fmt)
    assert code == 0 and "tanh" in out and "elu" in out


def test_param_is_applied(capsys):
    code, out, _ = run(capsys, "derive", "elu", "--param", "alpha=0.2", "--format", "json")
    data = json.loads(out)
    assert data["fixed_params"] == {"alpha": "1/5"}
    form = sympy.sympify(data["textbook_form"]["sympy"])
    assert form.subs(sympy.Symbol("x"), -1) == sympy.exp(-1) / 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["derive", "sigmod"], "did you mean sigmoid"),
        (["derive", "elu", "--param", "beta=1"], "no parameter"),
        (["derive", "elu", "--param", "alpha=abc"], "needs a number"),
        (["derive", "elu", "--param", "alpha"], "NAME=VALUE"),
        (["derive"], "name an entry"),
        (["derive", "relu", "--format", "xml"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "symact", "derive", "nosuch"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown function" in result.stderr


def test_user_expression_is_derived(capsys):
    code, out, _ = run(capsys, "derive", "--expr", "x*tanh(log(1+exp(x)))", "--name", "my_mish", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["name"] == "my_mish"
    assert (
        data["textbook_form"]["sympy"]
        == json.loads(run(capsys, "derive", "mish", "--format", "json")[1])["textbook_form"]["sympy"]
    )
    assert data["output_form"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--expr", "x*tanh(log(1+exp(x))", "--name", "m"], "never closed"),
        (["--expr", "__import__('os').system('ls')", "--name", "m"], "column"),
        (["--expr", "x**2"], "--expr needs --name"),
        (["--expr", "y**2", "--name", "m"], "does not depend on x"),
        (["--expr", "x**2", "--name", "not an identifier"], "identifier"),
    ],
)
def test_bad_user_expressions(capsys, args, message):
    code, _, err = run(capsys, "derive", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_bare_symact_lists_the_commands(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    for name in ("list", "derive", "doc", "verify", "generate", "check", "bench"):
        assert f"\n  {name} " in err
    assert "symact COMMAND --help" in err


def test_version(capsys):
    import symact

    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"symact {symact.__version__}\n" and err == ""
    assert symact.__version__ == "0.1.0"


def test_a_formula_beginning_with_minus_gets_the_double_dash_hint(capsys):
    import shlex

    code, _, err = run(capsys, "verify", "--json", "-softplus(-x)", "log(sigmoid(x))")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "put -- before the formulas" in err and "RHS is required" not in err
    suggested = err.strip().split("formulas: ", 1)[1]
    assert suggested == "symact verify --json -- '-softplus(-x)' 'log(sigmoid(x))'"
    code, out, _ = run(capsys, *shlex.split(suggested)[1:])  # the suggestion works as given
    assert code == 0 and json.loads(out)["equal"] is True


def test_an_expression_beginning_with_minus_gets_the_equals_hint(capsys):
    code, _, err = run(capsys, "derive", "--expr", "-x**2", "--name", "k")
    assert code == 2 and "write --expr='-x**2'" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "derive", "--expr=-x**2", "--name", "k", "--format", "json")
    assert code == 0 and json.loads(out)["definition"]["sympy"] == "-x**2"


def test_sympy_syntax_with_latex_says_drop_latex(capsys):
    code, _, err = run(capsys, "verify", "--latex", "diff(sigmoid(x), x)", "sigmoid(x)*(1-sigmoid(x))")
    assert code == 2 and "this looks like SymPy syntax: drop --latex" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "verify", "--latex", r"\frac{x}{", "x")  # broken LaTeX, not SymPy syntax
    assert code == 2 and "could not read the LaTeX" in err and "drop --latex" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["derive", "elu", "--param", "alpha", "0.2"],
        ["derive", "elu", "--param", "alpha"],
        ["derive", "--expr", "x*alpha", "--name", "k", "--param", "alpha", "0.2"],
        ["doc", "--expr", "x*alpha", "--name", "k", "--param", "alpha", "0.2", "--out", "unused"],
        ["generate", "--expr", "x*alpha", "--name", "k", "--param", "alpha", "0.2", "--out", "unused"],
    ],
)
def test_param_without_equals_gets_the_name_value_hint(capsys, args):
    code, _, err = run(capsys, *args)
    assert code == 2 and "--param takes NAME=VALUE, e.g. --param alpha=0.2" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["derive", "doc", "generate"])
def test_free_symbols_of_an_expression_need_a_value(capsys, tmp_path, command):
    out = [] if command == "derive" else ["--out", str(tmp_path)]
    code, _, err = run(capsys, command, "--expr", "x**2 + y*z", "--name", "k", *out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "free symbols other than x: y, z" in err and "--param y=VALUE --param z=VALUE" in err
    assert list(tmp_path.iterdir()) == []


def test_derive_expression_with_its_free_symbol_given(capsys):
    code, out, _ = run(capsys, "derive", "--expr", "x**2 + y", "--name", "k", "--param", "y=3", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["fixed_params"] == {"y": "3"}
    code, _, err = run(capsys, "derive", "--expr", "x**2 + y", "--name", "k", "--param", "y=3", "--param", "w=1")
    assert code == 2 and "no symbol w" in err


def test_generate_and_doc_put_the_param_values_in(capsys, tmp_path):
    args = ["--expr", "x**2 + y", "--name", "k", "--param", "y=3", "--out", str(tmp_path)]
    assert run(capsys, "generate", *args)[0] == 0
    text = (tmp_path / "k.py").read_text()
    assert "definition: x**2 + 3" in text and "--param y=3 --out" in text
    assert run(capsys, "doc", *args, "--format", "md")[0] == 0
    assert "user expression `x**2 + 3`" in (tmp_path / "k.md").read_text()  # the value in, y gone


def test_check_is_quick_by_default_and_full_on_request(capsys, monkeypatch):
    import symact.check

    sizes = []
    monkeypatch.setattr(symact.check, "check_entry", lambda entry, directory, size: sizes.append(size) or [])
    monkeypatch.setattr(symact.check, "table", lambda results: "")
    assert run(capsys, "check", "sigmoid")[0] == 0
    assert run(capsys, "check", "sigmoid", "--small")[0] == 0
    code, _, err = run(capsys, "check", "sigmoid", "softmax", "--full")
    assert code == 0 and sizes == ["small", "small", "full", "full"]
    assert err.count("\n") == 1 and "takes minutes per entry" in err
    assert run(capsys, "check", "sigmoid", "--full", "--small")[0] == 2


def test_default_check_runs_a_real_entry(capsys):
    code, out, err = run(capsys, "check", "relu")
    assert code == 0 and "all " in out and "within their bounds" in out and err == ""
