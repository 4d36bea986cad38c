r"""Reading a formula written in LaTeX, the way ML papers write it.

SymPy's LaTeX parser (the lark backend: its grammar and its transformer) does the parsing, with
these additions:

* **Refusal before parsing.**  Every control sequence must be on an allowlist (Greek letters,
  ``\frac``, ``\cdot``, ``\left``/``\right``, the functions below, ...).  ``\input``, ``\def``,
  ``\newcommand``, ``\include``, ``\write`` and friends are refused by name, any other unknown
  command as unknown, each with its column.
* **ML meanings.**  ``e^{x}`` is the exponential; ``\sigma(x)`` is the sigmoid;
  ``\operatorname{ReLU}(x)``, ``\mathrm{softplus}(x)``, ``\text{ELU}(x, \alpha)`` call the catalog
  functions (any case, underscores optional); ``\tanh^2(x)`` is ``tanh(x)**2``; ``a_{i}`` is the
  indexed symbol ``a[i]``, ``a_{0}`` the scalar ``a0``; ``\delta_{ij}`` is ``KroneckerDelta(i, j)``;
  ``\begin{cases} ... \end{cases}`` is a Piecewise; decimals are exact rationals.  The grammar
  gains rules for these (a few lines appended to SymPy's, with ``%extend``).  Functions
  (``\ln``, ``\exp``, ``\log_{10}``, ``\tanh``, ``\sigma``, ``\operatorname{...}``) take an
  argument in parentheses or braces, or one bare token (``\ln x``, ``\ln\sigma(z)``), never
  "everything up to the next bracket" as SymPy's grammar would (``\ln(x) + 1`` is ln(x) + 1).
  A sum takes a product: ``\sum_k a_k + 1`` is (sum_k a_k) + 1.
* **No silent guess.**  The Earley parser keeps every reading of an ambiguous text; readings that
  mean different things are refused with both shown.
* **The same allowlist as SymPy syntax.**  The result goes through
  :func:`symact.parse.check_allowed`, and symbols get the same assumptions as in
  :func:`symact.parse.parse_sympy` (real variables, the catalog's positive parameters, integer
  indices and sizes).

>>> parse_latex(r"\sigma(x)\left(1 - \sigma(x)\right)")
(1 - sigmoid(x))*sigmoid(x)
>>> parse_latex(r"\frac{1 - e^{-x}}{1 + e^{-x}}")
(1 - exp(-x))/(1 + exp(-x))
>>> parse_latex(r"\input{/etc/passwd}")
Traceback (most recent call last):
...
symact.errors.ParseError: \input is refused: only mathematics is read, no TeX programming (at column 1)
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import sympy

from .errors import ParseError
from .parse import (
    _default_namespace,
    _factorial,
    _index_symbol,
    _power,
    _Refused,
    _size_symbol,
    check_allowed,
    check_text,
)

__all__ = ["MAX_LATEX_LENGTH", "parse_latex"]

MAX_LATEX_LENGTH = 1000  #: characters of LaTeX input (the Earley parser is slow on long input)
LATEX_SECONDS = 3.0  #: the longest the grammar may take to parse one formula

#: commands that would make TeX do something other than typeset mathematics
_DANGEROUS = frozenset(
    "input include includeonly def edef gdef xdef let newcommand renewcommand providecommand "
    "DeclareMathOperator DeclareRobustCommand newenvironment renewenvironment write immediate openout "
    "openin read readline closeout closein catcode csname endcsname expandafter usepackage "
    "documentclass special jobname loop repeat makeatletter makeatother shipout output everypar "
    "newread newwrite directlua luaexec ShellEscape write18 errmessage message typeout".split()
)

#: commands that the grammar reads as they are
_NATIVE = frozenset(
    "frac dfrac tfrac cdot times div left right max min sqrt infty le leq ge geq ne neq "
    "leqslant geqslant quad qquad displaystyle limits nolimits sum mathit lt gt "
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho varrho "
    "tau upsilon phi varphi chi psi omega".split()
)
#: spacing commands, dropped
_SPACES = frozenset(", : ; ! thinspace medspace thickspace negthinspace negmedspace negthickspace".split())
#: font commands that wrap a name: \operatorname{ReLU}, \mathrm{softplus}, \text{ELU}
_WRAPPERS = frozenset("operatorname mathrm text textrm textnormal mathsf mathbf rm".split())
#: functions read through the named-function rule: SymPy's grammar reads \tanh as \tan h too, and lets
#: \ln and \exp take everything up to the next bracket (\ln(x) + 1 as ln(x + 1))
_NAMED_COMMANDS = {
    "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "erf": "erf", "erfc": "erfc", "sigma": "sigmoid",
    "exp": "exp", "ln": "log", "log": "log",
}  # fmt: skip
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho varrho tau "
    "upsilon phi varphi chi psi omega".split()
)
#: a bare argument after a function command: one letter, a number, a Greek letter, or a call f(...)
_BARE_TOKEN = re.compile(
    r"[A-Za-z](?![A-Za-z0-9])|[0-9]+(?:\.[0-9]+)?(?![0-9.])|\\(?:" + "|".join(_GREEK) + r")(?![A-Za-z])"
)
_BARE_CALL = re.compile(
    r"\\(?:" + "|".join(_NAMED_COMMANDS) + r")(?![A-Za-z])|\\(?:operatorname|mathrm|text|textrm)\{[^{}]*\}"
)

_PARAMETER_WORD = re.compile(r"([A-Za-z]+)(?:_\{([A-Za-z]+)\})?(?![A-Za-z])")
_COMMAND = re.compile(r"\\([A-Za-z]+\*?|.)")

_GRAMMAR_EXTENSION = r"""
NAMED_FUNC: /\\operatorname\{[A-Za-z_]+\}/
CASES_BEGIN: "\\begin{cases}"
CASES_END: "\\end{cases}"
OTHERWISE: "\\otherwise"

named_function: NAMED_FUNC L_PAREN list_of_expressions R_PAREN
named_function_power: NAMED_FUNC CARET _expression_core L_PAREN list_of_expressions R_PAREN
named_function_base: NAMED_FUNC UNDERSCORE group_curly_parentheses L_PAREN list_of_expressions R_PAREN
cases: CASES_BEGIN case_row (MATRIX_ROW_DELIM case_row)* MATRIX_ROW_DELIM? CASES_END
case_row: _expression MATRIX_COL_DELIM (_relation | OTHERWISE)

// a sum takes a product, not a sum: \sum_k a_k + 1 is (sum_k a_k) + 1, as ML papers mean it
%override summation: FUNC_SUM group_curly_parentheses_special _expression_mul

%extend _function: named_function | named_function_power | named_function_base
%extend _expression_func: cases
%extend adjacent_expressions: (named_function | named_function_power | named_function_base) _expression_mul
%extend adjacent_expressions: (square_root | abs | max | min) _expression_mul
%extend adjacent_expressions: (superscript | group_round_parentheses) _expression_mul
%extend adjacent_expressions: (cases | multi_letter_symbol) _expression_mul
// a \cdot b c (SymPy's own printer writes 2 \cdot 2^{x} x): the implicit product binds after the \cdot
%extend mul: _expression_mul MUL_SYMBOL adjacent_expressions
"""


# --------------------------------------------------------------------------------------------
# the parser: SymPy's grammar and transformer, extended


@functools.lru_cache(maxsize=1)
def _parser():
    import lark
    import sympy.parsing.latex.lark as sympy_lark

    grammar_dir = os.path.join(os.path.dirname(sympy_lark.__file__), "grammar")
    grammar = Path(grammar_dir, "latex.lark").read_text(encoding="utf-8") + _GRAMMAR_EXTENSION
    return lark.Lark(
        grammar,
        source_path=grammar_dir + os.sep,
        parser="earley",
        start="latex_string",
        lexer="auto",
        ambiguity="explicit",  # every reading is kept; the transformer refuses readings that differ
        propagate_positions=False,
        maybe_placeholders=False,
        keep_all_tokens=True,
    )


@functools.lru_cache(maxsize=1)
def _transformer_class():
    from lark import Token
    from sympy.parsing.latex.lark.transformer import TransformToSymPyExpr

    class Transformer(TransformToSymPyExpr):
        """SymPy's transformer, with exact decimals, the named functions and cases."""

        def __init__(self, functions: Mapping[str, object]):
            super().__init__()
            self.functions = functions

        def _ambig(self, readings):
            """Two parses of the same text: fine when they mean the same, refused when they do not."""
            first = readings[0]
            for other in readings[1:]:
                if not _same_reading(first, other):
                    raise _Refused(
                        f"the formula is ambiguous: it reads as {_shown(first)} or as {_shown(other)}; "
                        "add parentheses or \\cdot"
                    )
            return first

        def function_applied(self, tokens):
            """f(x) for an unknown one-letter f: implicit multiplication, as in x(1 - x)."""
            symbol, args = tokens[0], tokens[2]
            if len(args) != 1:
                raise _Refused(f"unknown function {symbol}")
            return symbol * args[0]

        def number(self, tokens):
            text = str(tokens[0])
            if tokens[0].type == "CMD_IMAGINARY_UNIT":
                raise _Refused("complex numbers are not allowed")
            return sympy.Rational(text) if "." in text else sympy.Integer(text)

        def _call(self, token, args):
            name = str(token)[len("\\operatorname{") : -1]
            function = self.functions[name]
            return function(*args)

        def named_function(self, tokens):
            return self._call(tokens[0], tokens[2])

        def named_function_base(self, tokens):
            name = str(tokens[0])[len("\\operatorname{") : -1]
            if name != "log":
                raise _Refused(f"\\{name} takes no subscript")
            return self._call(tokens[0], [*tokens[4], tokens[2]])

        def named_function_power(self, tokens):
            return self._call(tokens[0], tokens[4]) ** tokens[2]

        def superscript(self, tokens):
            base, sup = tokens[0], tokens[-1]
            if isinstance(base, sympy.Expr) and isinstance(sup, sympy.Expr):
                return _power(base, sup)
            return super().superscript(tokens)

        def factorial(self, tokens):
            return _factorial(tokens[0])

        def list_of_expressions(self, tokens):
            return [t for t in tokens if not isinstance(t, Token)]

        def case_row(self, tokens):
            value, cond = tokens[0], tokens[2]
            if isinstance(cond, Token):  # \otherwise
                cond = sympy.true
            return sympy.Tuple(value, cond)

        def cases(self, tokens):
            rows = [t for t in tokens if isinstance(t, sympy.Tuple)]
            return sympy.Piecewise(*((value, cond) for value, cond in rows))

    return Transformer


def _same_reading(a, b) -> bool:
    if a == b:
        return True
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        try:
            return sympy.expand(a - b) == 0
        except Exception:
            return False
    return False


def _shown(reading) -> str:
    return sympy.sstr(reading) if isinstance(reading, sympy.Basic) else str(reading)


# --------------------------------------------------------------------------------------------
# preprocessing


def _function_names(namespace: Mapping[str, object]) -> dict[str, str]:
    """Lower-case names without underscores -> namespace names, for \\operatorname{LeakyReLU} and friends."""
    names = {}
    for name, value in namespace.items():
        if callable(value) and not isinstance(value, sympy.Basic) and name not in {"Piecewise", "Sum", "diff"}:
            names.setdefault(name.lower().replace("_", ""), name)
            names.setdefault(name.lower(), name)
    return names


def _after_command(text: str, at: int) -> bool:
    """True when the letter at ``at`` continues a command (an odd run of backslashes before it)."""
    run = len(text[:at]) - len(text[:at].rstrip("\\"))
    return run % 2 == 1


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the {...} group starting at ``start`` (after spaces) and the index after it."""
    at = start
    while at < len(text) and text[at] == " ":
        at += 1
    if at >= len(text) or text[at] != "{":
        return None
    depth = 0
    for end in range(at, len(text)):
        if text[end] == "{":
            depth += 1
        elif text[end] == "}":
            depth -= 1
            if depth == 0:
                return text[at + 1 : end], end + 1
    return None


def _next_char(text: str, at: int) -> str:
    rest = text[at:].lstrip(" ")
    if rest.startswith("\\left"):
        rest = rest[len("\\left") :].lstrip(" ")
    return rest[:1]


def _preprocess(text: str, namespace: Mapping[str, object]) -> tuple[str, list[int]]:
    """Check every command against the allowlist and rewrite the ML notations into grammar rules."""
    functions = _function_names(namespace)
    out: list[str] = []
    origins: list[int] = []  # the column in ``text`` of each character of the output
    at = 0

    def emit(chunk: str) -> None:
        out.append(chunk)
        origins.extend([at + 1] * len(chunk))

    def emit_nested(start: int, stop: int) -> None:
        inner, inner_origins = _preprocess(text[start:stop], namespace)
        out.append(inner)
        origins.extend(o + start for o in inner_origins)

    while at < len(text):
        char = text[at]
        if char == "%":
            raise ParseError("'%' starts a TeX comment: remove it", at + 1)
        if char in "#$~":
            if char == "~":
                emit(" ")
                at += 1
                continue
            raise ParseError(f"{char!r} is not allowed in a formula", at + 1)
        if char == "," and text[at + 1 :].lstrip(" ").startswith("&"):  # "x, & x > 0" in cases
            at += 1
            continue
        if char.isalpha() and (at == 0 or not text[at - 1].isalpha()) and not _after_command(text, at):
            word = _PARAMETER_WORD.match(text, at)
            name = word and (word.group(1) + (f"_{word.group(2)}" if word.group(2) else ""))
            if name and len(name) > 1 and isinstance(namespace.get(name), sympy.Symbol):
                emit(f"\\mathit{{{name.replace('_', '')}}}")  # slope, keep_{prob}: a parameter, not s*l*o*p*e
                at = word.end()
                continue
        if char != "\\":
            emit(char)
            at += 1
            continue
        match = _COMMAND.match(text, at)
        name = match.group(1)
        end = match.end()
        column = at + 1
        if name in _DANGEROUS or name.rstrip("*") in _DANGEROUS:
            raise ParseError(f"\\{name} is refused: only mathematics is read, no TeX programming", column)
        if name in ("left", "right"):  # dropped here: the grammar could read \left as \le ft
            if text[end : end + 1] in (".", "(", ")", "[", "]", "|"):
                end += 1 if text[end] == "." else 0
            emit(" ")
        elif name in _SPACES or name == " ":
            emit(" ")
        elif name == "\\":
            emit("\\\\")
        elif name in "{}|":
            emit({"{": "(", "}": ")", "|": "|"}[name])
        elif name in ("begin", "end"):
            group = _braced(text, end)
            if group is None or group[0] != "cases":
                env = group[0] if group else "?"
                raise ParseError(f"the environment {env!r} is not supported (only cases)", column)
            emit(f"\\{name}{{cases}}")
            end = group[1]
        elif name.rstrip("*") in _WRAPPERS:
            group = _braced(text, end)
            if group is None:
                raise ParseError(f"\\{name} needs a braced argument", column)
            word = group[0].strip()
            end = group[1]
            wrapped = _wrapped_word(word, name, functions, column)
            if wrapped.startswith("\\operatorname{"):
                end = _function_call(
                    text, end, wrapped[len("\\operatorname{") : -1], word, column, namespace, emit, emit_nested
                )
            else:
                emit(wrapped)
        elif name in _NAMED_COMMANDS:
            target = functions[_NAMED_COMMANDS[name]]
            if name == "sigma" and _next_char(text, end) not in ("(", "^"):
                emit("\\mathit{sigma}")  # a plain sigma (not the sigmoid)
            else:
                end = _function_call(text, end, target, name, column, namespace, emit, emit_nested)
        elif name == "partial":  # \frac{\partial}{\partial x}: the grammar's derivative reads d and dx
            emit("d")
        elif name in ("lvert", "rvert", "vert"):
            emit("|")
        elif name == "pi":
            emit("\\mathit{pi}")
        elif name == "cdotp":
            emit("\\cdot")
        elif name in _NATIVE:
            emit(match.group(0))
            if name == "delta":  # \delta_{i,j} -> \delta_{ij}
                rest = re.match(r"_\{\s*([A-Za-z])\s*,\s*([A-Za-z])\s*\}", text[end:])
                if rest:
                    emit(f"_{{{rest.group(1)}{rest.group(2)}}}")
                    end += rest.end()
        else:
            raise ParseError(f"unknown LaTeX command \\{name}", column)
        at = end
    return "".join(out), origins


def _function_call(text, end, target, shown, column, namespace, emit, emit_nested) -> int:
    """Emit a call of the named function ``target`` whose command ends at ``end``; return where to go on.

    SymPy's grammar lets \\ln and \\exp take everything up to the next closing bracket (``\\ln(x) + 1``
    reads as ln(x + 1)), so each function is read by the named-function rule instead: an argument in
    parentheses, a power ``^{2}(x)``, a log base ``_{10}(x)``, or one bare token (``\\ln x``,
    ``\\ln 2``, ``\\ln\\sigma(z)``), which is put in parentheses here.  Anything else is refused."""
    at = end
    while at < len(text) and text[at] == " ":
        at += 1
    head = f"\\operatorname{{{target}}}"
    if text[at : at + 1] == "_":
        base = re.match(r"_\s*(\{[^{}]*\}|[0-9]|[A-Za-z])", text[at:])
        if base is None:
            raise ParseError(f"cannot read the subscript of \\{shown}", column)
        inner = base.group(1).strip("{}")
        emit(f"{head}_{{")
        emit_nested(
            at + base.start(1) + (1 if base.group(1).startswith("{") else 0),
            at + base.start(1) + (1 if base.group(1).startswith("{") else 0) + len(inner),
        )
        emit("}")
        at += base.end()
        while at < len(text) and text[at] == " ":
            at += 1
        head = ""
    if text[at : at + 1] == "^" and head:  # \tanh^{2}(x), \tanh^2 x
        group = _braced(text, at + 1)
        single = re.match(r"\s*([0-9A-Za-z])", text[at + 1 :])
        if group is not None:
            inner, after = group[0], group[1]
            start = after - 1 - len(inner)
        elif single is not None:
            inner, start = single.group(1), at + 1 + single.start(1)
            after = start + 1
        else:
            raise ParseError(f"cannot read the power of \\{shown}", column)
        if inner.strip().startswith("-"):
            raise ParseError(f"\\{shown}^{{{inner}}} is ambiguous (inverse or reciprocal): write it out", column)
        emit(f"{head}^{{")
        emit_nested(start, start + len(inner))
        emit("}")
        at = after
        while at < len(text) and text[at] == " ":
            at += 1
        head = ""
    nxt = _next_char(text, at)
    if nxt == "(":
        emit(head)
        return at
    if text[at : at + 1] == "{":  # \log{\left(x \right)}, as SymPy prints it
        group = _braced(text, at)
        if group is not None:
            emit(f"{head}(")
            emit_nested(at + 1, group[1] - 1)
            emit(")")
            return group[1]
    bare = _BARE_TOKEN.match(text, at)
    call = _BARE_CALL.match(text, at)
    if bare is not None:
        emit(f"{head}(")
        emit_nested(at, bare.end())
        emit(")")
        return bare.end()
    fraction = re.match(r"\\[dt]?frac(?![A-Za-z])", text[at:])
    if fraction is not None:  # \ln \frac{a}{b}
        numerator = _braced(text, at + fraction.end())
        denominator = _braced(text, numerator[1]) if numerator else None
        if denominator is not None:
            emit(f"{head}(")
            emit_nested(at, denominator[1])
            emit(")")
            return denominator[1]
    if call is not None:
        stop = _after_call(text, call.end())
        if stop is not None:
            emit(f"{head}(")
            emit_nested(at, stop)
            emit(")")
            return stop
    raise ParseError(f"write \\{shown} with its argument in parentheses, as in \\{shown}(x)", column)


def _after_call(text: str, at: int) -> int | None:
    """The index after a parenthesised argument list starting at ``at`` (after \\left and spaces)."""
    while at < len(text) and text[at] == " ":
        at += 1
    if text.startswith("\\left", at):
        at += len("\\left")
        while at < len(text) and text[at] == " ":
            at += 1
    if text[at : at + 1] != "(":
        return None
    depth = 0
    for stop in range(at, len(text)):
        if text[stop] == "(":
            depth += 1
        elif text[stop] == ")":
            depth -= 1
            if depth == 0:
                return stop + 1
    return None


def _wrapped_word(word: str, command: str, functions: Mapping[str, str], column: int) -> str:
    key = word.replace("\\_", "_").replace(" ", "")
    if key in ("d",):
        return "d"
    if key.lower() in ("otherwise", "else", "elsewhere", "sonst"):
        return "\\otherwise"
    if key.lower() in ("if", "for", "when", "where", "and", ""):
        return " "
    if key == "e":
        return "e"
    found = functions.get(key.lower()) or functions.get(key.lower().replace("_", ""))
    if found is not None:
        return f"\\operatorname{{{found}}}"
    if command.rstrip("*") != "operatorname" and re.fullmatch(r"[A-Za-z]+", key):  # \mathbf{x}: a symbol
        return key if len(key) == 1 else f"\\mathit{{{key}}}"
    raise ParseError(f"unknown function \\{command}{{{word}}}", column)


_OUTER = re.compile(r"^\s*(\$\$|\$|\\\[|\\\()(?P<body>.*?)(\$\$|\$|\\\]|\\\))\s*$", re.S)


def _strip_math_delimiters(text: str) -> str:
    match = _OUTER.match(text)
    return match.group("body") if match else text


# --------------------------------------------------------------------------------------------
# postprocessing: symbols by role, ML meanings


_SUBSCRIPTED = re.compile(r"^(?P<base>[A-Za-z]+)_\{(?P<sub>[^{}]+)\}$")


def _roles(expr) -> tuple[set[str], set[str]]:
    indices, sizes = set(), set()
    for s in expr.atoms(sympy.Sum):
        for var, lo, hi in s.limits:
            indices.add(var.name)
            sizes |= {sym.name for sym in (lo.free_symbols | hi.free_symbols)}
    for sym in expr.free_symbols:
        m = _SUBSCRIPTED.match(sym.name)
        if m and m.group("sub").isalpha() and len(m.group("sub")) <= 3 and m.group("sub").islower():
            indices |= set(m.group("sub"))
    return indices, sizes - indices


def _symbol_map(expr, namespace: Mapping[str, object]) -> dict:
    indices, sizes = _roles(expr)
    squashed = {
        key.replace("_", ""): value
        for key, value in namespace.items()
        if "_" in key and isinstance(value, sympy.Symbol)
    }
    mapping: dict = {}
    bases: dict[str, sympy.IndexedBase] = {}
    for sym in expr.atoms(sympy.Symbol):
        name = sym.name
        m = _SUBSCRIPTED.match(name)
        if m:
            base, sub = m.group("base"), m.group("sub")
            if sub.isdigit():
                mapping[sym] = sympy.Symbol(f"{base}{sub}", real=True)
            elif sub.isalpha() and sub.islower() and len(sub) <= 3:
                if base == "delta" and len(sub) == 2:
                    mapping[sym] = sympy.KroneckerDelta(_index_symbol(sub[0]), _index_symbol(sub[1]))
                else:
                    indexed = bases.setdefault(base, sympy.IndexedBase(base, real=True))
                    mapping[sym] = indexed[tuple(_index_symbol(c) for c in sub)]
            else:
                mapping[sym] = sympy.Symbol(f"{base}_{sub}", real=True)
            continue
        if "'" in name:
            raise _Refused(f"primes ({name}) are not understood: write the derivative with \\frac{{d}}{{dx}}")
        if name == "e":
            mapping[sym] = sympy.E
        elif name == "pi":
            mapping[sym] = sympy.pi
        elif name in indices:
            mapping[sym] = _index_symbol(name)
        elif name in sizes:
            mapping[sym] = _size_symbol(name)
        elif isinstance(namespace.get(name), sympy.Basic):
            mapping[sym] = namespace[name]
        elif name in squashed:  # keep_prob, written keep_{prob} and read as \mathit{keepprob}
            mapping[sym] = squashed[name]
        else:
            mapping[sym] = sympy.Symbol(name, real=True)
    return mapping


def _postprocess(expr, namespace: Mapping[str, object]):
    if isinstance(expr, (tuple, list)):
        raise _Refused("the formula is incomplete (a derivative operator without its function?)")
    if not isinstance(expr, sympy.Basic):
        raise _Refused(f"the formula did not read as an expression ({type(expr).__name__})")
    for node in sympy.preorder_traversal(expr):
        parts = node.args[:1] if isinstance(node, sympy.Derivative) else node.args
        if not isinstance(node, (sympy.Sum, sympy.Tuple, sympy.Piecewise)) and any(
            isinstance(a, (sympy.Tuple, tuple)) for a in parts
        ):
            raise _Refused("the formula is incomplete (a derivative operator without its function?)")
    expr = expr.xreplace(_symbol_map(expr, namespace))
    if expr.has(sympy.Derivative):
        expr = (
            expr.doit(deep=True)
            if not expr.has(sympy.Sum)
            else expr.replace(lambda e: isinstance(e, sympy.Derivative), lambda e: e.doit())
        )
    return expr


# --------------------------------------------------------------------------------------------


def parse_latex(text: str, namespace: Mapping[str, object] | None = None, *, max_length: int = MAX_LATEX_LENGTH):
    r"""Parse a LaTeX formula into a SymPy expression (see the module docstring for what it reads).

    Raises :class:`~symact.errors.ParseError` for anything else, with a column where one is known.
    """
    from .budget import BudgetExceeded, run_limited

    check_text(text, max_length)
    ns = _default_namespace() if namespace is None else {**_default_namespace(), **namespace}
    body = re.sub(r"[\r\n\t\f\v]", " ", _strip_math_delimiters(text))
    if not body.strip():
        raise ParseError("the formula is empty")
    prepared, origins = _preprocess(body, ns)
    try:
        expr = run_limited(_parse_prepared, LATEX_SECONDS, prepared, origins, ns)
    except BudgetExceeded:
        raise ParseError(f"the LaTeX parser gave up after {LATEX_SECONDS:g} s") from None
    return check_allowed(expr)


def _parse_prepared(prepared: str, origins: list[int], ns: Mapping[str, object]):
    import lark
    from sympy.parsing.latex.errors import LaTeXParsingError

    try:
        tree = _parser().parse(prepared)
    except lark.exceptions.UnexpectedInput as exc:
        column = getattr(exc, "column", None)
        where = None
        if isinstance(column, int) and column > 0:
            where = origins[column - 1] if column <= len(origins) else (origins[-1] + 1 if origins else None)
        what = "the formula ended too early" if isinstance(exc, lark.exceptions.UnexpectedEOF) else "unexpected input"
        raise ParseError(f"could not read the LaTeX: {what}", where) from None
    except lark.exceptions.LarkError as exc:
        raise ParseError(f"could not read the LaTeX: {str(exc).splitlines()[0]}") from None
    try:
        with warnings.catch_warnings():  # SymPy's transformer warns on odd products: the checks below decide
            warnings.simplefilter("ignore")
            expr = _transformer_class()(ns).transform(tree)
            return _postprocess(expr, ns)
    except lark.exceptions.VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, (ParseError, _Refused)):
            raise ParseError(str(inner)) from None
        raise ParseError(f"could not read the LaTeX: {_first_line(inner)}") from None
    except _Refused as exc:
        raise ParseError(str(exc)) from None
    except (LaTeXParsingError, TypeError, ValueError, ArithmeticError, AttributeError, RecursionError) as exc:
        raise ParseError(f"could not read the LaTeX: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
