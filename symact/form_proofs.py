"""What a generated module's header may say about its compute forms: proved, checked numerically, or not.

Every elementwise module lists its compute forms (the stabilised forward, derivative and output form)
in its header.  :func:`form_claims` proves each one equal to what it stands for, under a time budget, with
:func:`symact.prove.prove_equal`: the forward form against the definition, the derivative form against
SymPy's derivative of the definition, and the output form, with y = f(x) put in, against the same
derivative.  The header then says, for each, what was established:

* ``proved equal`` when SymPy took the difference to 0 (symbolically);
* ``checked numerically at N points`` when only the 50-digit sampling of :func:`~symact.prove.prove_equal`
  agreed (no counterexample, but no proof either);
* ``not proved equal`` when neither finished within the budget.

A counterexample (a compute form that differs from its source) is a bug in a rewrite: :func:`form_claims`
raises ``ValueError`` rather than let a module claim anything about it.  The root-centred forms near the
zeros of f' (:mod:`symact.roots`) are polynomial fits, not identities; the header says so, and
``symact check`` measures their error like every other kernel's.

The same function serves catalog entries and a user's ``--expr``, so that a header means the same in both.
"""

from __future__ import annotations

import functools

import sympy

from . import prove
from .catalog import Entry
from .catalog.symbols import y
from .kernel_templates import keyword
from .rewrites import to_plain

__all__ = ["PROVED", "NOT_PROVED", "FIT", "numeric", "form_claims", "FORM_BUDGET", "SYMBOLIC_BUDGET"]

#: seconds for each form, all methods together; and for the symbolic attempt within them (generous: a claim
#: that flips from "proved" to "checked numerically" on a loaded machine would make generated/ unstable)
FORM_BUDGET = 40.0
SYMBOLIC_BUDGET = 20.0

#: what the header says of a group of forms, after "compute forms (" and before "):"
PROVED = "stabilising rewrites of the definition and its derivative, each proved equal"
NOT_PROVED = "stabilising rewrites, not proved equal: no proof and no counterexample within the time budget"
FIT = "fits to f' near its zeros, not identities: symact check measures their error"


def numeric(points: int) -> str:
    """The claim for forms that agree with their source at ``points`` sample points but have no proof."""
    return f"stabilising rewrites, not proved equal: each checked numerically at {points} points (50 digits)"


def _claim(outcome) -> str:
    if outcome.equal and outcome.proof is not None and outcome.proof.method == "symbolic":
        return PROVED
    if outcome.equal and outcome.proof is not None:
        return numeric(outcome.proof.points)
    return NOT_PROVED


@functools.lru_cache(maxsize=64)
def form_claims(entry: Entry, forms) -> tuple[tuple[str, str, str], ...]:
    """(label, form as text, claim) for each compute form (``forms``: :class:`symact.emit.Forms`) of the
    elementwise ``entry``, in header order."""
    back = {sympy.Symbol(keyword(p)): p.symbol for p in entry.params if keyword(p) != p.name}
    space = prove.Space(
        kinks={entry.variable: tuple(entry.kinks)},
        params={p.symbol: (p.default,) for p in entry.params},
        domains={a.symbol: a.domain for a in entry.aux},
    )
    pairs = [("forward", forms.forward, entry.definition), ("derivative", forms.derivative, forms.raw_derivative)]
    if forms.output is not None:  # f' from y: with y = f(x) put in, the derivative
        pairs.append(("from output y", forms.output, forms.raw_derivative))
    rows = []
    for label, shown, truth in pairs:
        compute = to_plain(shown.xreplace(back)).xreplace({y: entry.definition})  # no y but in the output form
        outcome = prove.prove_equal(
            compute, truth, space, budget=FORM_BUDGET, symbolic_budget=SYMBOLIC_BUDGET, wall=False
        )
        if outcome.equal is False:
            where = ", ".join(f"{k} = {v}" for k, v in outcome.counterexample.point.items())
            raise ValueError(f"{entry.name}: the compute form of the {label} differs from its source at {where}")
        rows.append((label, sympy.sstr(shown), _claim(outcome)))
    for patch in forms.forward_patches:
        rows.append(("near a zero of f", patch.describe(), FIT))
    for patch in forms.patches:
        rows.append(("near a zero of f'", patch.describe(), FIT))
    for patch in forms.output_patches:
        rows.append(("near a zero of f' from y", patch.describe("y"), FIT))
    return tuple(rows)
