"""Row kernels are chosen by the maths of a definition: symact.row_match, used by kernel_templates.render_template.

A user's entry with another name (and other symbols) but the same maths renders the same kernel body as the
catalog entry; a row definition no template has is refused with a ValueError that names it."""

from __future__ import annotations

import dataclasses

import pytest
import sympy
from sympy import IndexedBase, KroneckerDelta, Sum, Symbol, exp, log

from symact import catalog
from symact.catalog import Aux, Entry, Kind, Param
from symact.catalog.symbols import label, z
from symact.kernel_templates import render_template
from symact.row_match import (
    log_softmax_index,
    row_template,
    sigmoid_cross_entropy_weight,
    softmax_index,
)

ROWS = [e.name for e in catalog.entries() if e.kind is not Kind.ELEMENTWISE]

# other symbols than the catalog's: the matchers must not depend on them
v = IndexedBase("v", real=True)
lab = IndexedBase("lab", real=True)
D = IndexedBase("D", real=True)
theta = IndexedBase("theta", real=True)
N = Symbol("N", integer=True, positive=True)
M = Symbol("M", integer=True, positive=True)
F = Symbol("F", integer=True, positive=True)
r, s, q, u, c = (Symbol(name, integer=True, nonnegative=True) for name in "rsquc")
bias = Symbol("beta", real=True)
_S = Sum(exp(v[u]), (u, 0, N - 1))
_ROW = dict(variable=v, wrt=(v[s],), index_ranges=((r, N), (s, N), (q, N), (u, N)), builtin=False)


def _body(text: str) -> str:
    """The module text after its header docstring (which names the entry and prints its definition)."""
    return text[text.index('\n"""\n') :]


def _user_entries() -> dict[str, Entry]:
    """Catalog maths rebuilt as a user would, under other names and symbols: catalog name -> entry."""
    sig = 1 / (1 + exp(-z))
    weight = Symbol("omega", positive=True)
    th = Sum(theta[c] * D[r, c], (c, 0, F - 1)) + bias
    sig_th = 1 / (1 + exp(-th))
    return {
        "softmax": Entry("my_softmax", Kind.VECTOR, "mine", exp(v[r]) / _S, **_ROW),
        "log_softmax": Entry("my_log_softmax", Kind.VECTOR, "mine", log(exp(v[r]) / _S), **_ROW),
        # softmax of the negated scores, spelled with exp(v_r) in the denominator
        "softmin": Entry("my_softmin", Kind.VECTOR, "mine", 1 / (exp(v[r]) * Sum(exp(-v[u]), (u, 0, N - 1))), **_ROW),
        "hardmax": Entry(
            "my_onehot",
            Kind.VECTOR,
            "mine",
            KroneckerDelta(r, Symbol("argmax", integer=True, nonnegative=True)),
            **_ROW,
        ),
        "mse": Entry(
            "my_squares",
            Kind.LOSS,
            "mine",
            Sum((lab[q] - v[q]) ** 2, (q, 0, N - 1)) / N,
            aux=(Aux(lab, "targets", "real", (N,)),),
            **_ROW,
        ),
        "softmax_cross_entropy_with_logits": Entry(
            "my_soft_ce",
            Kind.LOSS,
            "mine",
            -Sum(lab[q] * log(exp(v[q]) / _S), (q, 0, N - 1)),
            aux=(Aux(lab, "soft labels", "simplex", (N,)),),
            **_ROW,
        ),
        "sparse_softmax_cross_entropy_with_logits": Entry(
            "my_sparse_ce",
            Kind.LOSS,
            "mine",
            -(v[c] - log(_S)),  # -log p_c written as log-softmax
            aux=(Aux(c, "the class", "index"),),
            **{**_ROW, "index_ranges": (*_ROW["index_ranges"], (c, N))},
        ),
        "weighted_cross_entropy_with_logits": Entry(
            "my_weighted_bce",
            Kind.LOSS,
            "mine",
            -weight * label * log(sig) - (1 - label) * log(1 - sig),
            variable=z,
            wrt=(z,),
            params=(Param(weight, 1, "`pos_weight`: the weight of the positives"),),
            aux=(Aux(label, "the label", "unit"),),
            builtin=False,
        ),
        "logistic_nll": Entry(
            "my_logistic",
            Kind.LOSS,
            "mine",
            -Sum(lab[r] * log(sig_th) + (1 - lab[r]) * log(1 - sig_th), (r, 0, M - 1)),
            variable=theta,
            wrt=(theta[s], bias),
            aux=(Aux(D, "data", "real", (M, F)), Aux(lab, "labels", "binary", (M,))),
            index_ranges=((r, M), (s, F), (c, F)),
            builtin=False,
        ),
    }


@pytest.mark.parametrize("name", ROWS)
def test_a_renamed_entry_renders_the_same_kernel_body(name):
    entry = catalog.get(name)
    mine = dataclasses.replace(entry, name=f"user_{name}", aliases=(), builtin=False)
    assert _body(render_template(mine, "cmd")) == _body(render_template(entry, "cmd"))


@pytest.mark.parametrize("name", sorted(_user_entries()))
def test_the_same_maths_in_other_symbols_renders_the_same_kernel_body(name):
    mine = _user_entries()[name]
    assert _body(render_template(mine, "cmd")) == _body(render_template(catalog.get(name), "cmd"))


@pytest.mark.parametrize(
    ("kind", "definition", "extra"),
    [
        (Kind.VECTOR, exp(2 * v[r]) / Sum(exp(2 * v[u]), (u, 0, N - 1)), {}),  # softmax of 2a: no template
        (Kind.VECTOR, v[r] ** 2 / Sum(v[u] ** 2, (u, 0, N - 1)), {}),
        (Kind.LOSS, Sum(abs(v[q] - lab[q]), (q, 0, N - 1)) / N, {"aux": (Aux(lab, "targets", "real", (N,)),)}),
    ],
)
def test_an_unrecognised_row_definition_is_a_clear_value_error(kind, definition, extra):
    entry = Entry("mystery", kind, "unknown", definition, **_ROW, **extra)
    with pytest.raises(ValueError, match=r"no row kernel for mystery .*is none of softmax") as info:
        render_template(entry, "cmd")
    assert sympy.sstr(definition) in str(info.value)


def test_softmax_matchers_find_the_index_and_refuse_other_maths():
    assert softmax_index(exp(v[r]) / _S, v) == r
    assert softmax_index(exp(v[r]) / (1 + _S), v) is None
    assert log_softmax_index(v[r] - log(_S), v) == r
    assert log_softmax_index(log(exp(v[c]) / _S), v) == c
    assert log_softmax_index(2 * v[r] - log(_S), v) is None
    negated = Sum(exp(-v[u]), (u, 0, N - 1))
    assert softmax_index(exp(-v[r]) / negated, v, -1) == r
    assert softmax_index(exp(-v[r]) / negated, v) is None and softmax_index(exp(v[r]) / _S, v, -1) is None
    assert softmax_index(exp(v[r]) / negated, v, -1) is None  # numerator and sum of opposite signs
    assert log_softmax_index(-v[r] - log(negated), v, -1) == r
    assert log_softmax_index(v[r] - log(negated), v, -1) is None


def test_sigmoid_cross_entropy_weight_is_the_coefficient_of_the_positive_term():
    sig = 1 / (1 + exp(-z))
    assert sigmoid_cross_entropy_weight(-label * log(sig) - (1 - label) * log(1 - sig), z, label) == 1
    assert sigmoid_cross_entropy_weight(-3 * label * log(sig) - (1 - label) * log(1 - sig), z, label) == 3
    assert sigmoid_cross_entropy_weight((z - label) ** 2, z, label) is None
    assert sigmoid_cross_entropy_weight(-label * log(sig) - (1 - label) * log(sig), z, label) is None


def test_a_negative_weight_is_not_the_sigmoid_cross_entropy_template():
    """The SIMD forward needs w >= 0 (its two terms then cannot cancel): -2 y log sigma(z) - ... is a generic loss."""
    sig = 1 / (1 + exp(-z))
    entry = Entry(
        "neg", Kind.LOSS, "x", 2 * label * log(sig) - (1 - label) * log(1 - sig), variable=z, wrt=(z,), builtin=False
    )
    assert row_template(entry, label, z) is None
