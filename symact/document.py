r"""Derivation documents: Markdown for GitHub, a standalone LaTeX article, and its PDF.

One document per entry (the definition, the step-by-step derivation of every gradient, the
gradients in textbook and output form, the derived properties, the figure of f and f') and a
catalog document (a table of contents, a comparison table of the properties, the family figures,
and every entry as a section).  Everything is rendered in memory first (:func:`render`), so that
writing (:func:`write`) and the freshness check of docs/ (:func:`stale`) use the same bytes.

The PDF is built with latexmk (or pdflatex) where TeX Live is installed; its bytes are made
reproducible (no dates, no trailer ID) and it carries the SHA-256 of the .tex it was built from,
so the freshness check can tell a PDF built from an older .tex.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sympy

from . import prose
from .cache import cached
from .catalog import Entry, Kind
from .display import latex as _display_latex
from .errors import SymactError
from .prose import tex_escape

__all__ = [
    "FORMATS",
    "PdfUnavailable",
    "Rendered",
    "render",
    "write",
    "stale",
    "build_pdf",
    "pdf_available",
    "entry_markdown",
    "entry_tex",
    "catalog_markdown",
    "catalog_tex",
    "REGENERATE",
]

FORMATS = ("md", "tex", "pdf")
REGENERATE = "PYTHONPATH=. python3 -m symact doc --out docs --format md,tex,pdf"
SOURCE_MARK = "symact-source-sha256:"


class PdfUnavailable(SymactError):
    """The PDF was asked for but neither latexmk nor pdflatex is installed."""


class PdfBuildError(SymactError):
    """pdflatex failed on a document (the first error line of its log is in the message)."""


@dataclass(frozen=True)
class Rendered:
    """A document set rendered in memory: relative path -> bytes (the PDF excluded)."""

    files: dict[str, bytes]
    tex_sources: tuple[str, ...]  #: the .tex files to compile when the PDF is asked for


# --------------------------------------------------------------------------------------------
# text helpers


def tex_text(text: str) -> str:
    """Prose as LaTeX (:func:`symact.prose.tex`): $maths$ typeset, `code` in typewriter, the rest escaped."""
    return prose.tex(text)


def md_text(text: str) -> str:
    """Prose for Markdown (:func:`symact.prose.markdown`): $maths$ and `code` kept, emphasis characters escaped."""
    return prose.markdown(text)


def latex(expr: sympy.Expr) -> str:
    """LaTeX of an expression in textbook order (:mod:`symact.display`)."""
    return _display_latex(expr)


def _lhs(entry: Entry) -> str:
    if entry.kind is Kind.ELEMENTWISE:
        return f"f({latex(entry.variable)})"
    if entry.kind is Kind.VECTOR:
        return latex(entry.output[entry.index_ranges[0][0]])
    return "L"


def _params_text(entry: Entry) -> list[str]:
    return [f"${latex(p.symbol)} = {latex(p.default)}$: {p.description}" for p in entry.params]


def _proof_summary(chain) -> str:
    methods = [s.proof.method for s in chain.steps[1:] if s.proof is not None]
    unproved = sum(1 for s in chain.steps[1:] if s.proof is None)
    counts = {m: methods.count(m) for m in ("symbolic", "numeric") if methods.count(m)}
    parts = [f"{n} {m}ally" for m, n in counts.items()]
    if len(chain.steps) == 1:
        return ""
    text = "Each step was checked equal to the one before: " + ", ".join(parts) + "."
    if "numeric" in counts:
        text = text.replace("numerically", "numerically (50-digit evaluation at sample points)")
    if unproved:
        text += f" {unproved} step(s) could not be proved within the time budget."
    return text


def _chain_lines(chain, lhs: str) -> list[str]:
    """One line per step: 'lhs &= expr & & \\text{rule}'."""
    lines = []
    for n, step in enumerate(chain.steps):
        head = lhs if n == 0 else ""
        lines.append((head, latex(step.expr), step.rule))
    return lines


# --------------------------------------------------------------------------------------------
# Markdown


def _md_math_block(rows: Sequence[tuple[str, str, str]]) -> str:
    body = " \\\\\n".join(rf"{head} &= {expr} && {_md_rule(rule)}" for head, expr, rule in rows)
    return "$$\n\\begin{aligned}\n" + body + "\n\\end{aligned}\n$$"


def _md_rule(rule: str) -> str:
    r"""A rule as math without nested dollars (safer on GitHub): text parts in \text{...}.

    >>> print(_md_rule("chain rule with $\\exp' = \\exp$"))
    \text{chain rule with } \exp' = \exp
    """
    parts = rule.split("$")
    out = [(p if n % 2 else rf"\text{{{p}}}") for n, p in enumerate(parts) if p]
    return " ".join(out)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |")
    return "\n".join(out)


def entry_markdown(entry: Entry, figure_dir: str = "figures", heading: str = "#") -> str:
    """The Markdown document of one entry."""
    from .derive import derive
    from .steps import derive_steps

    derivation = derive(entry)
    out = [f"{heading} {entry.name}", "", md_text(entry.summary), ""]
    out += [f"{heading}# Definition", "", f"$$\n{_lhs(entry)} = {latex(entry.definition)}\n$$", ""]
    if entry.params:
        out += ["Parameters (with their defaults):", ""] + [f"- {md_text(t)}" for t in _params_text(entry)] + [""]
    if entry.aux:
        out += ["Inputs that are not differentiated:", ""]
        out += [f"- ${latex(a.symbol)}$: {md_text(a.description)}" for a in entry.aux] + [""]
    if entry.aliases:
        out += ["Also known as: " + ", ".join(f"`{a}`" for a in entry.aliases) + ".", ""]
    out += [f"{heading}# Step by step", ""]
    for chain in derive_steps(entry).chains:
        out += [f"**{md_text(chain.title[0].upper() + chain.title[1:])}.**", ""]
        summary = _proof_summary(chain)
        out += [_md_math_block(_chain_lines(chain, chain.label)), ""] + ([summary, ""] if summary else [])
    out += [f"{heading}# Gradients", ""]
    rows = []
    for grad in derivation.gradients:
        output = f"${latex(grad.output.expr)}$" if grad.output is not None else "—"
        if grad.output_is_textbook:
            output = "same as the textbook form"
        rows.append((f"${grad.label}$", f"${latex(grad.textbook.expr)}$", output, grad.textbook.proof.method))
    out += [_md_table(("gradient", "textbook form", "output form", "proof"), rows), ""]
    if entry.kind is Kind.ELEMENTWISE:
        out += [
            "The output form writes the derivative with $y = f(x)$, as a backward pass that keeps only the output can.",
            "",
        ]
    props = _properties_or_none(entry)
    if props is not None:
        out += [f"{heading}# Properties", "", _params_note(props)]
        out += [_md_table(("property", "value"), [(md_text(k), md_text(v)) for k, v in props.rows()]), ""]
    elif _no_properties_reason(entry):
        out += [f"{heading}# Properties", "", md_text(_no_properties_reason(entry)), ""]
    if _has_figure(entry):
        out += [f"{heading}# Figure", "", f"![{entry.name} and its derivative]({figure_dir}/{entry.name}.svg)", ""]
    out += _md_tail(entry, heading)
    return "\n".join(out).rstrip() + "\n"


def _md_tail(entry: Entry, heading: str) -> list[str]:
    out = []
    if entry.notes:
        out += [f"{heading}# Notes", "", md_text(entry.notes), ""]
    if entry.references:
        out += [f"{heading}# References", ""] + [f"- {md_text(r)}" for r in entry.references] + [""]
    return out


def _params_note(props) -> str:
    if not props.params:
        return ""
    values = ", ".join(f"${latex(s)} = {latex(v)}$" for s, v in props.params)
    return f"At {values}.\n"


def _properties_or_none(entry: Entry):
    from .properties import NotApplicable, properties

    try:
        return properties(entry)
    except NotApplicable:
        return None


def _no_properties_reason(entry: Entry) -> str:
    """Why an elementwise entry has no properties table ('' when it has one, or is not elementwise)."""
    from .properties import NotApplicable, properties

    if entry.kind is not Kind.ELEMENTWISE:
        return ""
    try:
        properties(entry)
    except NotApplicable as exc:
        return f"Properties are not derived: {exc}."
    return ""


def _has_figure(entry: Entry) -> bool:
    from .plots import plottable

    return plottable(entry)


COMPARISON = ("range", "monotonic", "zero-centred", "saturating", r"max $\lvert f' \rvert$", "smoothness", "sparse")


def _comparison_rows(entries: Sequence[Entry]):
    rows = []
    for entry in entries:
        props = _properties_or_none(entry)
        if props is None:
            continue
        values = dict(props.rows())
        short = {
            "zero-centred": "yes" if props.zero_centred else "no",
            "saturating": {
                "both sides": "both sides",
                "x -> -oo": "$x \\to -\\infty$",
                "x -> +oo": "$x \\to +\\infty$",
            }.get(props.saturating, "no"),
            "sparse": "yes" if props.sparse else "no",
        }
        rows.append((entry.name, [short.get(k, values[k]) for k in COMPARISON]))
    return rows


def catalog_markdown(entries: Sequence[Entry], figure_dir: str = "figures") -> str:
    """The catalog document: contents, the comparison table, the family figures, links to each entry."""
    from .plots import FAMILIES

    out = [
        "# The symact catalog",
        "",
        "Every activation and loss in symact's catalog, derived step by step from its one definition. "
        "Each step of each derivation was checked equal to the one before; every property below was "
        "computed from the definition. The same content as one PDF: [catalog.pdf](catalog.pdf).",
        "",
        "## Contents",
        "",
    ]
    for kind, title in (
        (Kind.ELEMENTWISE, "Elementwise activations"),
        (Kind.VECTOR, "Vector activations"),
        (Kind.LOSS, "Losses"),
    ):
        members = [e for e in entries if e.kind is kind]
        if members:
            out += [f"- {title}: " + ", ".join(f"[{md_text(e.name)}]({e.name}.md)" for e in members)]
    out += ["", "## Comparison of the elementwise activations", ""]
    rows = _comparison_rows(entries)
    out += [
        _md_table(
            ("function", *(md_text(c) for c in COMPARISON)),
            [(md_text(n), *(md_text(v) for v in vals)) for n, vals in rows],
        )
    ]
    out += ["", "Properties at the default parameters; functions with a random input (dropout) are left out.", ""]
    out += ["## Families", ""]
    for key, (title, _names) in FAMILIES.items():
        out += [f"![{title}]({figure_dir}/family_{key}.svg)", ""]
    out += ["## How to reproduce", "", _reproduce_text(), ""]
    return "\n".join(out).rstrip() + "\n"


def _reproduce_text() -> str:
    return (
        f"Generated by symact from its catalog; regenerate with `{REGENERATE}` at the repository root "
        "(the PDF needs pdflatex or latexmk from TeX Live). `symact doc --check` reports files that are out of date."
    )


# --------------------------------------------------------------------------------------------
# LaTeX

_PREAMBLE = r"""\documentclass[10pt]{article}
\pdfinfoomitdate=1
\pdftrailerid{}
\pdfsuppressptexinfo=-1
\pdfobjcompresslevel=0
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{booktabs}
\usepackage[hidelinks,pdfencoding=auto]{hyperref}
\hypersetup{pdftitle={%(title)s},pdfcreator={symact},pdfproducer={symact},pdfkeywords={%(mark)s}}
\allowdisplaybreaks
\setlength{\emergencystretch}{2em}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5ex}
\title{%(title)s}
\author{symact}
\date{}
\begin{document}
\maketitle
"""


LINE_CHARS = 85  #: about how many characters (math_width) of displayed maths fit on a line of the PDF


#: commands that show as one glyph: Greek letters, operators, relations, delimiters
_GLYPHS = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho sigma tau "
    "upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega partial infty cdot times "
    "to le leq ge geq ne neq pm mp sim in lbrace rbrace lvert rvert langle rangle prime top".split()
)
#: commands that show nothing themselves: sizes, spaces, fonts and accents (their argument counts)
_INVISIBLE = re.compile(
    r"\\(left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|limits|operatorname|mathrm|mathit|mathbf|text|hat"
    r"|quad|qquad|sqrt)(?![A-Za-z])|\\[,;:! ]"
)


def math_width(tex: str) -> int:
    r"""A rough count of the characters a LaTeX formula shows: sizing, spacing and font commands
    count nothing, a \frac counts its wider part, a Greek letter or an operator one, \sum two,
    a function name (\tanh, \log) its letters.

    >>> math_width(r"\frac{1}{1 + e^{- x}}")
    5
    >>> math_width(r"\sigma\left(x\right) \tanh{\left(x \right)}")
    11
    """
    tex = _INVISIBLE.sub("", tex)
    previous = None
    while previous != tex:  # innermost first: plain groups, then fractions (as wide as their wider part)
        previous = tex
        tex = re.sub(r"(?<!\\frac)(?<!\})\{([^{}]*)\}(?!\{)", r"\1", tex)
        found = re.search(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", tex)
        if found:
            wider = max(found.group(1), found.group(2), key=math_width)
            tex = tex[: found.start()] + wider + tex[found.end() :]
    glyph = {"sum": "xx", "prod": "xx", "int": "x"}
    tex = re.sub(r"\\([a-zA-Z]+)", lambda m: "x" if m.group(1) in _GLYPHS else glyph.get(m.group(1), m.group(1)), tex)
    return len(re.sub(r"[{}^_\s\\]", "", tex))


_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def _break_points(tex: str) -> list[tuple[int, int]]:
    r"""Where a formula may be broken: (index of a binary ' + ' or ' - ' outside every brace group,
    how many \left delimiters are open there)."""
    points, depth, open_left, env, at = [], 0, 0, 0, 0
    while at < len(tex):
        char = tex[at]
        if char == "\\":
            command = _COMMAND.match(tex, at)
            name = command.group(1)
            if depth == 0 and name == "left":
                open_left += 1
            elif depth == 0 and name == "right":
                open_left -= 1
            elif name in ("begin", "end"):  # no break inside an environment: a cases row is one line
                env += 1 if name == "begin" else -1
            at = command.end()
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0 and env == 0 and tex.startswith((" + ", " - "), at) and at > 0 and tex[at - 1] not in "({[=&":
            points.append((at, open_left))
        at += 1
    return points


def break_formula(tex: str, width: int = LINE_CHARS, first: int | None = None) -> list[str]:
    r"""A long formula as lines of about ``width`` characters (:func:`math_width`; the first line
    ``first``), broken before a + or - outside every brace group.  A line that ends inside
    \left( ... \right) closes it with \right. and the next line opens it again with \left., so
    every line is balanced LaTeX; continuation lines start with {} + so the sign stays binary.
    A formula with no such place stays one line, at its normal size: nothing is scaled down.

    >>> for line in break_formula(r"a + \left(b - c\right) d", width=2):
    ...     print(line)
    a
    {} + \left(b \right.
    \left. {} - c\right) d
    """
    limit = width if first is None else first
    points = _break_points(tex)
    lines, start, open_at_start = [], 0, 0
    while math_width(tex[start:]) > limit:
        fitting = [(at, o) for at, o in points if at > start and math_width(tex[start:at]) <= limit]
        if not fitting:  # the first piece is wider than a line: break at the first place there is
            fitting = [(at, o) for at, o in points if at > start][:1]
            if not fitting:
                break
        # the fewest brackets left open (a break inside (1 - tanh^2) reads badly), then the fullest line
        at, still_open = min(fitting, key=lambda point: (point[1], -point[0]))
        lines.append((start, at, open_at_start, still_open))
        start, open_at_start, limit = at, still_open, width
    lines.append((start, len(tex), open_at_start, 0))
    out = []
    for n, (lo, hi, opened, still_open) in enumerate(lines):
        body = tex[lo:hi].strip()
        out.append(r"\left. " * opened + ("{} " if n else "") + body + r" \right." * still_open)
    return out


def _tex_equation(head: str, tex: str, note: str = "") -> list[str]:
    r"""Rows of an align* environment for ``head = tex``: 'head &= line', then '&\quad line' for
    each continuation; ``note`` (e.g. '&& \text{(output form)}') goes on the last line."""
    lines = break_formula(tex, first=LINE_CHARS - math_width(head))
    rows = [rf"{head} &= {lines[0]}"] + [rf"&\quad {line}" for line in lines[1:]]
    rows[-1] += note
    return rows


def _tex_chain(chain) -> str:
    rows = []
    for head, expr, rule in _chain_lines(chain, chain.label):
        rows += _tex_equation(head, expr) + [rf"& \qquad \text{{\small {tex_text(rule)}}}"]
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def _tex_table(header: Sequence[str], rows: Iterable[Sequence[str]], spec: str) -> str:
    out = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    out += [" & ".join(row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out)


def entry_tex_body(entry: Entry, figure_dir: str = "figures", level: str = "section") -> str:
    """The LaTeX of one entry, as a section (for the catalog) or the body of an article."""
    from .derive import derive
    from .steps import derive_steps

    sub = "sub" + level
    derivation = derive(entry)
    out = [rf"\{level}{{{tex_escape(entry.name)}}}", rf"\label{{entry:{entry.name}}}", tex_text(entry.summary), ""]
    definition = _tex_equation(_lhs(entry), latex(entry.definition))
    if len(definition) == 1:
        out += [rf"\{sub}*{{Definition}}", rf"\[ {_lhs(entry)} = {latex(entry.definition)} \]"]
    else:
        out += [rf"\{sub}*{{Definition}}", r"\begin{align*}", " \\\\\n".join(definition), r"\end{align*}"]
    if entry.params:
        out += [r"\begin{itemize}"] + [rf"\item {tex_text(t)}" for t in _params_text(entry)] + [r"\end{itemize}"]
    if entry.aux:
        out += [r"Inputs that are not differentiated:", r"\begin{itemize}"]
        out += [rf"\item ${latex(a.symbol)}$: {tex_text(a.description)}" for a in entry.aux] + [r"\end{itemize}"]
    if entry.aliases:
        names = (
            tex_escape(a).replace(".", r".\allowbreak{}").replace(r"\_", r"\_\allowbreak{}") for a in entry.aliases
        )
        out += [r"{\raggedright Also known as: " + ", ".join(r"\texttt{" + n + "}" for n in names) + r".\par}"]
    out += [rf"\{sub}*{{Step by step}}"]
    for chain in derive_steps(entry).chains:
        title = chain.title[0].upper() + chain.title[1:]
        out += [rf"\paragraph{{{tex_text(title)}.}}", _tex_chain(chain), tex_text(_proof_summary(chain)), ""]
    out += [rf"\{sub}*{{Gradients}}", r"\begin{align*}"]
    rows = []
    for grad in derivation.gradients:
        same = r" && \text{(also the output form)}" if grad.output_is_textbook else ""
        rows += _tex_equation(grad.label, latex(grad.textbook.expr), same)
        if grad.output is not None and not grad.output_is_textbook:
            rows += _tex_equation("", latex(grad.output.expr), r" && \text{(output form)}")
    out += [" \\\\\n".join(rows), r"\end{align*}"]
    props = _properties_or_none(entry)
    if props is None and _no_properties_reason(entry):
        out += [rf"\{sub}*{{Properties}}", tex_escape(_no_properties_reason(entry))]
    if props is not None:
        note = _params_note(props).strip()
        out += [rf"\{sub}*{{Properties}}", tex_text(note) if note else ""]
        table_rows = [(tex_text(k), tex_text(v)) for k, v in props.rows()]
        out += [
            r"\begin{center}",
            _tex_table(("property", "value"), table_rows, "lp{0.72\\linewidth}"),
            r"\end{center}",
        ]
    if _has_figure(entry):
        out += [
            r"\begin{center}",
            rf"\includegraphics[width=\linewidth]{{{figure_dir}/{entry.name}.png}}",
            r"\end{center}",
        ]
    if entry.notes:
        out += [rf"\{sub}*{{Notes}}", tex_text(entry.notes)]
    if entry.references:
        out += [rf"\{sub}*{{References}}", r"\begin{itemize}"]
        out += [rf"\item {{\raggedright {tex_text(r)}\par}}" for r in entry.references] + [r"\end{itemize}"]
    return "\n".join(out) + "\n"


def _article(title: str, body: str) -> str:
    head = _PREAMBLE % {"title": tex_escape(title), "mark": SOURCE_MARK + "%(sha)s"}
    closing = "\n\\section*{How to reproduce}\n" + tex_text(_reproduce_text()) + "\n\\end{document}\n"
    text = head + body + closing
    sha = hashlib.sha256(text.encode()).hexdigest()
    return text.replace(SOURCE_MARK + "%(sha)s", SOURCE_MARK + sha)


def entry_tex(entry: Entry, figure_dir: str = "figures") -> str:
    """A standalone article for one entry."""
    body = entry_tex_body(entry, figure_dir, level="section")
    return _article(f"{entry.name}: derivation and properties", body)


def catalog_tex(entries: Sequence[Entry], figure_dir: str = "figures") -> str:
    """The whole catalog as one article: contents, comparison table, families, a section per entry."""
    from .plots import FAMILIES

    parts = [r"\tableofcontents", r"\section{Comparison of the elementwise activations}"]
    rows = _comparison_rows(entries)
    header = ("function", *(tex_text(c) for c in COMPARISON))
    table_rows = [(tex_escape(n), *(tex_text(v) for v in vals)) for n, vals in rows]
    parts += [
        r"\begin{center}\small",
        r"\resizebox{\linewidth}{!}{%",
        _tex_table(header, table_rows, "l" * len(header)) + "}",
        r"\end{center}",
    ]
    parts += [tex_text("Properties at the default parameters; functions with a random input (dropout) are left out.")]
    parts += [r"\section{Families}"]
    for key in FAMILIES:
        parts += [
            r"\begin{center}",
            rf"\includegraphics[width=\linewidth]{{{figure_dir}/family_{key}.png}}",
            r"\end{center}",
        ]
    for entry in entries:
        parts += [r"\clearpage", entry_tex_body(entry, figure_dir)]
    return _article("The symact catalog: derivations, gradients and properties", "\n".join(parts) + "\n")


# --------------------------------------------------------------------------------------------
# files


def render(
    entries: Sequence[Entry], formats: Iterable[str], catalog: bool = True, separate_tex: bool = True
) -> Rendered:
    """Every file of the document set in memory (figures included); the PDF is built by :func:`write`.

    ``catalog`` adds the catalog document and the family figures; ``separate_tex`` a .tex per entry
    (the catalog's .tex already holds every entry).  The set is read from :mod:`symact.cache` where the same
    entries were rendered by the same symact before.
    """
    formats = sorted(set(formats))
    parts = (repr(list(entries)), ",".join(formats), str(catalog), str(separate_tex))

    def compute() -> str:
        done = _render(entries, formats, catalog, separate_tex)
        files = {name: base64.b64encode(data).decode("ascii") for name, data in done.files.items()}
        return json.dumps({"files": files, "tex_sources": list(done.tex_sources)}, sort_keys=True)

    stored = json.loads(cached("documents", parts, compute))
    files = {name: base64.b64decode(data) for name, data in stored["files"].items()}
    return Rendered(files, tuple(stored["tex_sources"]))


def _render(entries: Sequence[Entry], formats: Iterable[str], catalog: bool, separate_tex: bool) -> Rendered:
    from .plots import FAMILIES, family_figure, function_figure

    formats = set(formats)
    files: dict[str, bytes] = {}
    tex_sources = []
    for entry in entries:
        if "md" in formats:
            files[f"{entry.name}.md"] = entry_markdown(entry).encode()
        if separate_tex and ("tex" in formats or "pdf" in formats):
            files[f"{entry.name}.tex"] = entry_tex(entry).encode()
            tex_sources.append(f"{entry.name}.tex")
        if _has_figure(entry):
            fig = function_figure(entry)
            files[f"figures/{fig.stem}.svg"] = fig.svg
            files[f"figures/{fig.stem}.png"] = fig.png
    if catalog:
        from .catalog import get

        if "md" in formats:
            files["catalog.md"] = catalog_markdown(entries).encode()
        if "tex" in formats or "pdf" in formats:
            files["catalog.tex"] = catalog_tex(entries).encode()
            tex_sources.append("catalog.tex")
        names = {e.name for e in entries}
        for key, (_title, members) in FAMILIES.items():
            chosen = [get(n) for n in members if n in names]
            if chosen:
                fig = family_figure(key, chosen)
                files[f"figures/{fig.stem}.svg"] = fig.svg
                files[f"figures/{fig.stem}.png"] = fig.png
    return Rendered(files, tuple(tex_sources))


def pdf_available() -> str | None:
    """The LaTeX tool to use: 'latexmk', 'pdflatex', or None."""
    for tool in ("latexmk", "pdflatex"):
        if shutil.which(tool):
            return tool
    return None


def _pdf_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "TZ": "UTC"})
    return env


def build_pdf(tex_path: Path, timeout: float = 300.0) -> Path:
    """Compile ``tex_path`` to a PDF beside it; :class:`PdfUnavailable` where TeX Live is missing."""
    tool = pdf_available()
    if tool is None:
        raise PdfUnavailable("--format pdf needs pdflatex or latexmk (TeX Live); md and tex work without it")
    tex_path = Path(tex_path).resolve()
    with tempfile.TemporaryDirectory(prefix="symact-tex-") as build:
        if tool == "latexmk":
            commands = [
                ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={build}", tex_path.name]
            ]
        else:
            once = [
                "pdflatex",
                "-interaction=nonstopmode",
                "-halt-on-error",
                f"-output-directory={build}",
                tex_path.name,
            ]
            commands = [once, once]
        for command in commands:
            done = subprocess.run(
                command, cwd=tex_path.parent, env=_pdf_env(), capture_output=True, text=True, timeout=timeout
            )
            if done.returncode != 0:
                log = Path(build, tex_path.stem + ".log")
                text = log.read_text(errors="replace") if log.exists() else done.stdout
                first = next((line for line in text.splitlines() if line.startswith("!")), "see the log")
                raise PdfBuildError(f"pdflatex failed on {tex_path.name}: {first}")
        target = tex_path.with_suffix(".pdf")
        shutil.copyfile(Path(build, tex_path.stem + ".pdf"), target)
    return target


def write(rendered: Rendered, out: Path, formats: Iterable[str]) -> list[Path]:
    """Write the rendered files under ``out`` (and build the PDFs when 'pdf' is in formats)."""
    formats = set(formats)
    if "pdf" in formats and pdf_available() is None:
        raise PdfUnavailable("--format pdf needs pdflatex or latexmk (TeX Live); md and tex work without it")
    out = Path(out)
    written = []
    for rel, data in sorted(rendered.files.items()):
        if rel.endswith(".tex") and "tex" not in formats and "pdf" not in formats:
            continue
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    if "pdf" in formats:
        for rel in rendered.tex_sources:
            written.append(build_pdf(out / rel))
    return written


def pdf_source_hash(pdf: bytes) -> str | None:
    """The SHA-256 of the .tex a symact PDF was built from (from its keywords), or None."""
    found = re.search(rb"symact-source-sha256:([0-9a-f]{64})", pdf)
    return found.group(1).decode() if found else None


def tex_hash(tex: bytes) -> str | None:
    found = re.search(rb"symact-source-sha256:([0-9a-f]{64})", tex)
    return found.group(1).decode() if found else None


def stale(rendered: Rendered, out: Path, expected_pdfs: Iterable[str] = ()) -> list[str]:
    """Files under ``out`` that differ from ``rendered`` or are missing, and files that should not be
    there; a PDF counts as fresh when it was built from the .tex that would be written now."""
    out = Path(out)
    problems = []
    for rel, data in sorted(rendered.files.items()):
        path = out / rel
        if not path.exists():
            problems.append(f"missing: {rel}")
        elif path.read_bytes() != data:
            problems.append(f"out of date: {rel}")
    for rel in expected_pdfs:
        pdf = out / rel
        tex = rendered.files.get(str(Path(rel).with_suffix(".tex")))
        if not pdf.exists():
            problems.append(f"missing: {rel}")
        elif tex is None or pdf_source_hash(pdf.read_bytes()) != tex_hash(tex):
            problems.append(f"out of date: {rel} (built from another .tex)")
    known = set(rendered.files) | set(expected_pdfs)
    if out.exists():
        for path in sorted(out.rglob("*")):
            rel = path.relative_to(out).as_posix()
            if path.is_file() and rel not in known:
                problems.append(f"not generated: {rel}")
    return problems
