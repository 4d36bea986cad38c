"""A corpus of claims from the classic derivations of this field, written in LaTeX as papers, lecture notes and
posts write them (tests/verify_corpus.jsonl: one claim a line, with the verdict a reader expects: "equal", "not
equal", or "refused" where the text can be read more than one way or says something undefined).

Every claim is read here (both sides, together); the verdict is checked for every refused claim and for every fourth
of the others, which keeps this file near 30 s.  ``SYMACT_FULL_CORPUS=1`` checks every verdict (about 80 s)."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest
import sympy

from symact.errors import InputError, ParseError
from symact.latex import read_latex_claim
from symact.verify import verify

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "verify_corpus.jsonl").read_text().splitlines()]
FULL = os.environ.get("SYMACT_FULL_CORPUS") == "1"


def test_the_corpus_is_large_and_well_formed():
    assert len(CORPUS) >= 150
    assert [c["id"] for c in CORPUS] == list(range(1, len(CORPUS) + 1))
    assert {c["expect"] for c in CORPUS} == {"equal", "not equal", "refused"}
    assert len({(c["lhs"], c["rhs"]) for c in CORPUS}) == len(CORPUS)


READ = [c for c in CORPUS if c["expect"] != "refused"]


@pytest.mark.parametrize("claim", READ, ids=[f"{c['id']}-{c['topic']}" for c in READ])
def test_every_claim_that_should_be_read_is_read(claim):
    left, right = read_latex_claim([claim["lhs"], claim["rhs"]])
    assert isinstance(left.expr, sympy.Expr) and isinstance(right.expr, sympy.Expr)


CHECKED = [c for c in CORPUS if FULL or c["expect"] == "refused" or c["id"] % 4 == 0]


@pytest.mark.parametrize("claim", CHECKED, ids=[f"{c['id']}-{c['topic']}" for c in CHECKED])
def test_the_verdict_is_the_one_a_reader_expects(claim):
    try:
        verdict = verify(claim["lhs"], claim["rhs"], latex=True)
    except (ParseError, InputError) as exc:
        assert claim["expect"] == "refused", f"refused: {exc}"
        assert len(str(exc).splitlines()) == 1
        return
    got = "equal" if verdict.equal else "not equal"
    assert got == claim["expect"], verdict
    if not verdict.equal:  # a counterexample of numbers only
        example = verdict.counterexample
        for value in [*example["point"].values(), example["lhs"], example["rhs"]]:
            Fraction(value)  # a number: no symbol, no unevaluated Sum
