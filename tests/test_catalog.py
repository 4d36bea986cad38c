import re

import pytest
import sympy

from symact import catalog
from symact.catalog import Kind, Registry, UnknownEntryError

from .conftest import ALL

REQUIRED = (
    "step sigmoid tanh relu leaky_relu prelu rrelu elu softplus softmax log_softmax hardmax dropout mish swish silu "
    "gelu selu celu softsign log_sigmoid "
    "mse sigmoid_cross_entropy_with_logits weighted_cross_entropy_with_logits softmax_cross_entropy_with_logits "
    "sparse_softmax_cross_entropy_with_logits logistic_nll"
).split()


def test_every_required_entry_is_in_the_catalog():
    assert set(REQUIRED) <= set(catalog.names())


@pytest.mark.parametrize("name", ALL)
def test_entry_is_well_formed(name):
    entry = catalog.get(name)
    assert entry.summary and entry.references
    assert all(isinstance(p.symbol, sympy.Symbol) and p.symbol.is_positive for p in entry.params)
    # defined with SymPy's built-in functions only: the named functions are recognised later
    from symact.functions import NamedFunction

    assert not entry.definition.atoms(NamedFunction)
    for target in entry.wrt:
        assert sympy.diff(entry.definition, target) is not None


def test_parameter_defaults_match_the_references():
    assert catalog.get("leaky_relu").param("slope").default == sympy.Rational(1, 100)
    assert catalog.get("prelu").param("alpha").default == sympy.Rational(1, 4)
    assert catalog.get("rrelu").param("lower").default == sympy.Rational(1, 8)
    assert catalog.get("rrelu").param("upper").default == sympy.Rational(1, 3)
    assert catalog.get("elu").param("alpha").default == 1
    assert catalog.get("celu").param("alpha").default == 1


def test_selu_constants_are_the_papers_exact_decimals():
    f = catalog.get("selu").definition
    scale = sympy.Rational("1.0507009873554804934193349852946")
    alpha = sympy.Rational("1.6732632423543772848170429916717")
    x = catalog.get("selu").variable
    assert f.subs(x, 1) == scale
    assert sympy.limit(f.args[1][0], x, -sympy.oo) == -scale * alpha
    assert catalog.get("swish").param("beta").default == 1


def test_aliases_resolve_and_unknown_names_get_suggestions():
    assert catalog.get("torch.nn.functional.relu").name == "relu"
    assert catalog.get("jax.nn.softmax").name == "softmax"
    with pytest.raises(UnknownEntryError) as info:
        catalog.get("sigmod")
    assert "sigmoid" in str(info.value)


def test_registry_refuses_duplicate_names():
    entry = catalog.get("relu")
    with pytest.raises(ValueError, match="already names"):
        Registry([entry, entry])


def test_kinds():
    assert catalog.get("softmax").kind is Kind.VECTOR
    assert catalog.get("mse").kind is Kind.LOSS
    assert catalog.get("mish").kind is Kind.ELEMENTWISE


def _prose(entry):
    """Every piece of prose an entry has, with what it is."""
    yield "summary", entry.summary
    yield "notes", entry.notes
    yield from (("reference", r) for r in entry.references)
    yield from ((f"parameter {p.name}", p.description) for p in entry.params)
    yield from ((f"input {a.symbol}", a.description) for a in entry.aux)
    yield from ((f"named {n.base}", n.description) for n in entry.named)
    yield from ((f"variant {v.name}", v.description) for v in entry.variants)


#: maths written as ASCII in running text: y_k, x <= 0, x -> -inf, x^2, log(...), m * x, sum_k
ASCII_MATHS = re.compile(
    r"\b[A-Za-z]+_[A-Za-z0-9]+\b|[<>!]=|->|\^|\b(sum|exp|log|tanh|sigma|sigmoid|softplus|argmax|max)\s*[(_]|\w \* \w"
)


@pytest.mark.parametrize("name", ALL)
def test_prose_writes_its_maths_in_dollars_and_its_code_in_backticks(name):
    from symact.prose import plain

    for what, text in _prose(catalog.get(name)):
        running = re.sub(r"\$[^$]*\$|`[^`]*`", " ", text)
        assert not ASCII_MATHS.search(running), f"{what}: {text!r}"
        as_plain = plain(text)  # raises on an unknown command
        assert not re.search(r"[\\$`]", as_plain), f"{what}: {as_plain!r}"
