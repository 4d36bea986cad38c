r"""Prose with inline mathematics, as the catalog writes its summaries, notes and descriptions.

Mathematics goes between dollar signs, in LaTeX; names from code (``tf.nn.leaky_relu``) go between
backticks.  Each product reads the same text its own way:

* :func:`tex` for the .tex and PDF documents: the maths typeset, the code in typewriter, the rest
  escaped;
* :func:`markdown` for GitHub: the maths and the code spans kept, the rest escaped;
* :func:`plain` for a terminal, the JSON and the headers of generated modules: the maths read as
  ASCII (``$-\sum_k y_k \log p_k$`` is ``-sum_k y_k log p_k``), the backticks dropped.

:func:`plain` knows the LaTeX that prose uses (the commands in ``_WORDS``, ``_WRAPPERS``, ``\frac``,
sub- and superscripts, ``e^{x}`` as ``exp(x)``) and refuses any other command, so that a typo in
the catalog fails its tests rather than reaching a reader.

>>> plain(r"Cross-entropy: $-\sum_k y_k \log p_k$, with `optax.softmax_cross_entropy`.")
'Cross-entropy: -sum_k y_k log p_k, with optax.softmax_cross_entropy.'
>>> print(tex(r"slope for $x \le 0$ (`torch.nn.LeakyReLU`)"))
slope for $x \le 0$ (\texttt{torch.\allowbreak{}nn.\allowbreak{}LeakyReLU})
"""

from __future__ import annotations

import re

__all__ = ["plain", "tex", "markdown", "tex_escape", "ProseError"]


class ProseError(ValueError):
    """Prose that cannot be read: unbalanced $ or backticks, or a LaTeX command plain() does not know."""


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def tex_escape(text: str) -> str:
    r"""Plain text made safe for LaTeX.

    >>> print(tex_escape("leaky_relu: 50% of x^2"))
    leaky\_relu: 50\% of x\textasciicircum{}2
    """
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


def _parts(text: str) -> list[tuple[str, str]]:
    """(kind, text) pieces: 'math' between $, 'code' between backticks, 'text' elsewhere."""
    out: list[tuple[str, str]] = []
    pieces = text.split("$")
    if len(pieces) % 2 == 0:
        raise ProseError(f"unbalanced $ in {text!r}")
    for n, piece in enumerate(pieces):
        if n % 2:
            out.append(("math", piece))
            continue
        spans = piece.split("`")
        if len(spans) % 2 == 0:
            raise ProseError(f"unbalanced backtick in {text!r}")
        out += [("code" if m % 2 else "text", span) for m, span in enumerate(spans) if span]
    return out


def tex(text: str) -> str:
    """Prose as LaTeX: $maths$ kept, `code` in typewriter (breakable after dots and underscores)."""
    out = []
    for kind, piece in _parts(text):
        if kind == "math":
            out.append(f"${piece}$")
        elif kind == "code":
            code = tex_escape(piece).replace("-", "-{}").replace(".", r".\allowbreak{}")
            out.append(r"\texttt{" + code.replace(r"\_", r"\_\allowbreak{}") + "}")
        else:
            out.append(tex_escape(piece))
    return "".join(out)


def markdown(text: str) -> str:
    """Prose for Markdown: $maths$ and `code` kept, the characters that start emphasis or tables escaped."""
    out = []
    for kind, piece in _parts(text):
        if kind == "math":
            out.append(f"${piece}$")
        elif kind == "code":
            out.append(f"`{piece}`")
        else:
            out.append(re.sub(r"([*_|<>\[\]])", r"\\\1", piece))
    return "".join(out)


def plain(text: str) -> str:
    """Prose as plain text: the maths read as ASCII, the backticks dropped."""
    return "".join(_plain_math(piece) if kind == "math" else piece for kind, piece in _parts(text))


# --------------------------------------------------------------------------------------------
# LaTeX read as ASCII

#: commands that read as a word or a symbol
_WORDS = {
    **{name: name for name in "log exp ln tanh cosh max min sum prod sigma alpha beta gamma delta theta".split()},
    "lambda": "lambda", "mu": "mu", "sinh": "sinh",
    "infty": "inf", "to": "->", "le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "ne": "!=", "neq": "!=",
    "cdot": "*", "sim": "~", "top": "T", "in": "in", "lbrace": "{", "rbrace": "}", "lvert": "|", "rvert": "|",
    "ldots": "...", "pi": "pi", "Phi": "Phi", "approx": "~=", ",": " ", ";": " ", " ": " ", "!": "", "{": "{",
    "}": "}", "_": "_", "left": "", "right": "",
}  # fmt: skip
#: commands whose one braced argument is read as it is: \operatorname{softmax}, \mathit{slope}
_WRAPPERS = frozenset("operatorname mathrm mathit mathbf text textrm".split())
_TOKEN = re.compile(r"\\([A-Za-z]+|.)|(.)", re.S)


def _plain_math(math: str) -> str:
    text, end = _read(math, 0, math)
    if end != len(math):
        raise ProseError(f"unbalanced braces in ${math}$")
    return text.replace("{ ", "{").replace(" }", "}")  # \lbrace 0, 1 \rbrace reads {0, 1}


def _group(math: str, at: int, whole: str) -> tuple[str, int]:
    """The plain text of the braced group (or the single token) at ``at``, and where it ends."""
    while at < len(math) and math[at] == " ":
        at += 1
    if at >= len(math):
        raise ProseError(f"an argument is missing in ${whole}$")
    if math[at] == "{":
        text, end = _read(math, at + 1, whole)
        if end >= len(math) or math[end] != "}":
            raise ProseError(f"unbalanced braces in ${whole}$")
        return text, end + 1
    token = _TOKEN.match(math, at)
    if token.group(1) is not None:
        return _command(token.group(1), math, token.end(), whole)
    return token.group(2), token.end()


def _simple(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9.']+|[A-Za-z]+\(.*\)", text) is not None


def _command(name: str, math: str, at: int, whole: str) -> tuple[str, int]:
    if name in _WORDS:
        return _WORDS[name], at
    if name in _WRAPPERS:
        return _group(math, at, whole)
    if name == "hat":
        inner, at = _group(math, at, whole)
        return inner + "hat", at
    if name == "sqrt":
        inner, at = _group(math, at, whole)
        return f"sqrt({inner})", at
    if name == "frac":
        top, at = _group(math, at, whole)
        bottom, at = _group(math, at, whole)
        return "/".join(t if _simple(t) else f"({t})" for t in (top, bottom)), at
    raise ProseError(f"the LaTeX command \\{name} is not known to plain text (in ${whole}$)")


def _read(math: str, at: int, whole: str) -> tuple[str, int]:
    """Plain text from ``at`` up to an unmatched closing brace (or the end)."""
    out = ""
    while at < len(math):
        char = math[at]
        if char == "}":
            return out, at
        if char == "{":
            inner, at = _group(math, at, whole)
            out += inner
            continue
        if char in "^_":
            script, at = _group(math, at + 1, whole)
            if char == "^" and re.search(r"(?<![A-Za-z])e$", out):  # e^{x} reads exp(x)
                out = out[:-1] + f"exp({script})"
            elif char == "^":
                out += "^" + (script if _simple(script) else f"({script})")
            else:
                out += "_" + script
            continue
        token = _TOKEN.match(math, at)
        if token.group(1) is not None:
            text, at = _command(token.group(1), math, token.end(), whole)
            out += text
        else:
            out += token.group(2)
            at = token.end()
    return out, at
