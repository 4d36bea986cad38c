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
