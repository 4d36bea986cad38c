"""The text and LaTeX of ``symact derive``: what they show of each gradient."""

from __future__ import annotations

from symact import catalog, serialize
from symact.derive import derive


def test_an_output_form_equal_to_the_textbook_form_is_not_repeated():
    d = derive(catalog.get("softmax"))
    text = serialize.derivation_text(d)
    assert text.count("p[i]*(KroneckerDelta(i, j) - p[j])") == 1
    assert "output form (p = output): the textbook form itself" in text
    tex = serialize.derivation_latex(d)
    assert tex.count(r"{p}_{i} \left(\delta_{i j} - {p}_{j}\right)") == 1
    assert r"\text{(also the output form)}" in tex and r"\text{(output form)}" not in tex


def test_a_different_output_form_is_shown():
    d = derive(catalog.get("log_softmax"))
    assert "output form (o = output): KroneckerDelta(i, j) - exp(o[j])" in serialize.derivation_text(d)
    assert r"e^{{o}_{j}} \quad \text{(output form)}" in serialize.derivation_latex(d)
