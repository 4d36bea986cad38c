"""Printing for readers: textbook order in every format, and strings that read back unchanged."""

from __future__ import annotations

import json

import pytest
import sympy
from sympy.printing.str import StrPrinter

from symact import catalog, document, serialize
from symact.catalog.symbols import i, k, p, x, yv
from symact.display import latex, sstr
from symact.functions import sigmoid

from .conftest import ALL


def test_a_sum_starts_with_a_positive_term():
    assert sstr(-sigmoid(x) + yv[i]) == "y[i] - sigmoid(x)"
    assert latex(-sigmoid(x) + yv[i]) == r"{y}_{i} - \sigma\left(x\right)"
    assert sstr(-x - yv[i]) == "-x - y[i]"  # nothing positive to move
    assert sstr(1 - x) == "1 - x"


def test_an_indexed_symbol_comes_before_a_function_as_a_symbol_does():
    assert sstr(sympy.log(p[k]) * yv[k]) == "y[k]*log(p[k])"
    assert latex(sympy.log(p[k]) * yv[k]) == r"{y}_{k} \log{\left({p}_{k} \right)}"
    assert latex(-sympy.log(p[k]) * yv[k] / 2) == r"- \frac{{y}_{k} \log{\left({p}_{k} \right)}}{2}"
    assert sstr(sympy.log(x) * x) == "x*log(x)"


def test_logistic_nll_reads_in_textbook_order_in_every_format():
    from symact.derive import derive

    entry = catalog.get("logistic_nll")
    d = derive(entry)
    text = serialize.derivation_text(d)
    assert "y[i]*log(sigmoid(" in text and "(y[i] - sigmoid(" in text
    tex = serialize.derivation_latex(d)
    assert r"{y}_{i} \log{\left(\sigma" in tex and r"\left({y}_{i} - \sigma" in tex
    data = serialize.derivation_json(d)
    dw = data["gradients_by_target"]["Indexed('w', j)"]
    assert r"\left({y}_{i} - \sigma" in dw["latex"] and "(Indexed('y', i) - sigmoid(" in dw["sympy"]
    assert "Indexed('y', i)*log(sigmoid(" in data["definition_named"]["sympy"]
    for page in (document.entry_markdown(entry), document.entry_tex(entry)):
        assert r"\left({y}_{i} - \sigma" in page and r"{y}_{i} \log{\left(\sigma" in page
        assert r"\left(- \sigma" not in page and r"\right)}\right) {y}_{i}" not in page


def _sympy_order(expr) -> str:
    """The string SymPy's own printer (its order) gives, with indexed symbols as Indexed('a', i)."""

    class Plain(StrPrinter):
        printmethod = "_symact_plain"

        def _print_Indexed(self, e):
            return f"Indexed({str(e.base.label)!r}, {', '.join(self._print(ix) for ix in e.indices)})"

    return Plain({"order": None}).doprint(expr)


def _strings(data):
    """Every (sympy string, what) in a derivation's JSON."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("sympy", "expanded") and isinstance(value, str):
                yield value
            else:
                yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


@pytest.mark.parametrize("name", ALL)
def test_json_strings_read_back_to_the_expression_sympys_order_gives(derivations, name):
    d = derivations[name]
    data = json.loads(serialize.dumps(serialize.derivation_json(d)))
    expressions = [d.definition, d.recognised]
    for gr in d.gradients:
        expressions += [gr.raw, gr.textbook.expr] + ([gr.output.expr] if gr.output is not None else [])
    strings = set(_strings(data))
    for expr in expressions:
        ours = serialize.sympy_string(expr)
        assert ours in strings
        names = {s.name: sympy.Symbol(s.name) for s in expr.free_symbols}  # beta is a symbol, not B(x, y)
        assert sympy.sympify(ours, locals=names) == sympy.sympify(_sympy_order(expr), locals=names), ours
