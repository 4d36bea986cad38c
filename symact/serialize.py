"""Derivations as text, LaTeX and JSON.

Each expression is given three ways: LaTeX; a string that SymPy's ``sympify`` reads back (with
the named functions as written, ``sigmoid(x)``; indexed symbols as ``Indexed('a', i)``); and the
same string in expanded form, with SymPy's built-in functions only (exp, log, tanh, Piecewise).
"""

from __future__ import annotations

import json
from typing import Any

import sympy

from .catalog import Kind
from .derive import Derivation, Form, Gradient, expand_intermediates
from .display import TextbookStrPrinter, latex, sstr
from .functions import expand_named
from .prose import plain

__all__ = ["sympy_string", "expr_json", "derivation_json", "derivation_text", "derivation_latex", "dumps"]


class _ReadablePrinter(TextbookStrPrinter):
    """str() in textbook order whose output ``sympify`` reads back: indexed symbols print as Indexed('a', i)."""

    printmethod = "_symact_readable"  # not Indexed's own _sympystr

    def _print_Indexed(self, expr):
        indices = ", ".join(self._print(ix) for ix in expr.indices)
        return f"Indexed({str(expr.base.label)!r}, {indices})"


def sympy_string(expr: sympy.Expr) -> str:
    """A string ``sympify`` reads back into an equal expression.

    >>> from sympy import IndexedBase, Symbol
    >>> sympy_string(IndexedBase("p")[Symbol("i")] * 2)
    "2*Indexed('p', i)"
    """
    return _ReadablePrinter({"order": None}).doprint(expr)


def expr_json(expr: sympy.Expr, entry=None) -> dict[str, str]:
    """LaTeX, a sympify-able string, and that string with the named functions (and the entry's
    named intermediates, p_i for the softmax) expanded into SymPy's built-in functions."""
    expanded = expand_named(expr)
    if entry is not None and entry.named:
        expanded = expand_intermediates(entry, expanded)
    return {
        "latex": latex(expr),
        "sympy": sympy_string(expr),
        "expanded": sympy_string(expanded),
    }


def _form_json(form: Form | None, extra: dict | None = None, entry=None) -> dict[str, Any] | None:
    if form is None:
        return None
    out = expr_json(form.expr, entry)
    out["proof"] = {"method": form.proof.method, "detail": form.proof.detail}
    if extra:
        out.update(extra)
    return out


def _gradient_json(gr: Gradient, entry) -> dict[str, Any]:
    return {
        "role": gr.role,
        "label": gr.label,
        "wrt": sympy_string(gr.wrt),
        "raw": expr_json(gr.raw),
        "textbook": _form_json(gr.textbook, entry=entry),
        "output_form": _form_json(gr.output),
        "assumptions": [{"lhs": expr_json(lhs), "rhs": expr_json(rhs)} for lhs, rhs in gr.assumptions],
    }


def derivation_json(d: Derivation) -> dict[str, Any]:
    """Everything in a derivation, with top-level keys for the main results of each kind."""
    entry = d.entry
    out: dict[str, Any] = {
        "name": entry.name,
        "kind": entry.kind.value,
        "summary": plain(entry.summary),
        "variable": sympy_string(entry.variable)
        if not isinstance(entry.variable, sympy.IndexedBase)
        else str(entry.variable),
        "params": {p.name: sympy_string(p.default) for p in entry.params},
        "fixed_params": {str(s): sympy_string(v) for s, v in d.params},
        "definition": expr_json(d.definition),
        "definition_named": expr_json(d.recognised),
        "aliases": list(entry.aliases),
        "references": list(entry.references),
        "subgradients": [{"at": sympy_string(at), "value": sympy_string(v)} for at, v in entry.subgradients],
        "gradients": [_gradient_json(gr, entry) for gr in d.gradients],
    }
    main = d.main
    if entry.kind is Kind.ELEMENTWISE:
        out["derivative"] = expr_json(main.raw)
        out["textbook_form"] = _form_json(main.textbook)
        out["output_form"] = _form_json(main.output, {"output_symbol": "y"})
        second = d.gradient("second")
        out["second_derivative"] = _form_json(second.textbook) if second else None
    elif entry.kind is Kind.VECTOR:
        out["jacobian"] = _form_json(main.textbook, {"raw": expr_json(main.raw)}, entry)
        out["jacobian_output_form"] = _form_json(main.output)
        vjp = d.gradient("vjp")
        out["vjp"] = _form_json(vjp.textbook, {"raw": expr_json(vjp.raw)}, entry) if vjp else None
    else:
        out["gradients_by_target"] = {
            sympy_string(gr.wrt): _form_json(
                gr.textbook,
                {
                    "raw": expr_json(gr.raw),
                    "assumptions": [f"{sympy_string(lhs)} = {sympy_string(rhs)}" for lhs, rhs in gr.assumptions],
                },
                entry,
            )
            for gr in d.gradients
            if gr.role.startswith("wrt:")
        }
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def _proof_text(form: Form) -> str:
    return f"[{form.proof.method}: {form.proof.detail}]"


def derivation_text(d: Derivation) -> str:
    """A plain-text summary a person reads in a terminal."""
    entry = d.entry
    lines = [f"{entry.name} ({entry.kind.value}): {plain(entry.summary)}"]
    if entry.params:
        fixed = dict(d.params)
        lines.append("  parameters: " + ", ".join(f"{p.name} = {fixed.get(p.symbol, p.default)}" for p in entry.params))
    lines.append(f"  definition: {sstr(d.recognised)}")
    for gr in d.gradients:
        lines.append(f"  {gr.role}: {sstr(gr.textbook.expr)}  {_proof_text(gr.textbook)}")
        if gr.output is not None:
            symbol = "y = f(x)" if entry.kind is Kind.ELEMENTWISE else f"{entry.output} = output"
            shown = "the textbook form itself" if gr.output_is_textbook else sstr(gr.output.expr)
            lines.append(f"    output form ({symbol}): {shown}")
        for lhs, rhs in gr.assumptions:
            lines.append(f"    assuming {sstr(lhs)} = {sstr(rhs)}")
    if entry.kind is Kind.ELEMENTWISE and d.main.output is None:
        lines.append("  output form: none (f' is not a function of f(x) alone)")
    for item in entry.named:
        lines.append(f"  where {item.base}[{item.index}] = {sstr(item.expr)} ({plain(item.description)})")
    return "\n".join(lines)


def derivation_latex(d: Derivation) -> str:
    """LaTeX equations (amsmath ``align*`` lines) for each result."""
    entry = d.entry
    top = (
        "f(x)"
        if entry.kind is Kind.ELEMENTWISE
        else ("L" if entry.kind is Kind.LOSS else latex(entry.output[sympy.Symbol("i")]))
    )
    lines = [rf"% {entry.name}: {plain(entry.summary)}", r"\begin{align*}", rf"{top} &= {latex(d.recognised)} \\"]
    for gr in d.gradients:
        same = r" \quad \text{(also the output form)}" if gr.output_is_textbook else ""
        lines.append(rf"{gr.label} &= {latex(gr.textbook.expr)}{same} \\")
        if gr.output is not None and not gr.output_is_textbook:
            lines.append(rf"  &= {latex(gr.output.expr)} \quad \text{{(output form)}} \\")
    for item in entry.named:
        lines.append(rf"\text{{where }} {latex(item.base[item.index])} &= {latex(item.expr)} \\")
    lines[-1] = lines[-1].rstrip(" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines)
