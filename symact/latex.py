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
  mean different things are refused with both shown.  Text that the grammar alone would misread is
  decided by its context, with a note in :attr:`LatexReading.notes`, or refused with the readings:
  a run of letters is a known function (``tanh(x)``, ``ln(1+e^x)``, ``L-ReLU(y)``), a joining word
  in a cases row (``1 & if x > 0``), or refused (``wx``: ``w x`` or ``\mathit{wx}``), never a
  product of letters; ``\sigma`` or ``\tanh`` used as a value (``\sigma(1-\sigma)``, ``1 - \tanh^2``)
  is the one call of that function the claim makes, on either side (:func:`read_latex_claim`);
  ``f(x)``, ``\phi(x)`` (a function or a product?), ``\theta^T x`` (a transpose or a power?),
  ``\ln x^2`` and ``\log 2x`` (how far does the argument reach?), ``x^2^3``, ``1e-3`` and the
  derivative of an undefined ``L`` (``\frac{\delta L}{\delta w}``) are refused.
* **Paper notation.**  ``f'(x)``, ``f^{\prime}(x)`` and ``{f}'(x)`` of a known function; ``\frac{d^2}{dx^2}``,
  ``\frac{d\sigma(x)}{dx}``, ``\frac{\partial}{\partial w_j}``; ``\operatorname{sech}``, ``\Phi``; square
  brackets; ``\log p_{ij}``, ``\log\sum_k``; ``\sum_k`` without bounds (0 .. n - 1, noted); ``\prod``;
  ``X_{i,j}``; ``\hat{y}_i``; norms ``\|w\|_2^2`` as sums over the entries; ``\left\{\begin{array}`` as
  cases; ``<=``; a trailing ``x \in \mathbb{R}`` (left out, noted).
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
from dataclasses import dataclass
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

__all__ = ["MAX_LATEX_LENGTH", "LatexReading", "parse_latex", "read_latex_claim"]

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
    "leqslant geqslant quad qquad displaystyle limits nolimits sum prod mathit lt gt "
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
    "exp": "exp", "ln": "log", "log": "log", "sech": "sech", "Phi": "Phi", "sin": "sin", "cos": "cos", "tan": "tan",
}  # fmt: skip


def _sech(argument):
    return 1 / sympy.cosh(argument)


def _normal_cdf(argument):
    return (1 + sympy.erf(argument / sympy.sqrt(2))) / 2


#: functions that LaTeX readers expect beyond the namespace of SymPy syntax: sech(x) as 1/cosh(x), \Phi(x) as the
#: standard normal distribution function (GELU's x \Phi(x))
_LATEX_FUNCTIONS = {"sech": _sech, "Phi": _normal_cdf}
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho varrho tau "
    "upsilon phi varphi chi psi omega".split()
)
#: a bare argument after a function command: one letter, a number, a Greek letter, or a call f(...)
_BARE_TOKEN = re.compile(
    r"(?:[A-Za-z](?![A-Za-z0-9])|\\(?:" + "|".join(_GREEK) + r")(?![A-Za-z]))(?:_\{[^{}]*\}|_[A-Za-z0-9])?"
    r"|[0-9]+(?:\.[0-9]+)?(?![0-9.])"
)
_BARE_CALL = re.compile(
    r"\\(?:" + "|".join(_NAMED_COMMANDS) + r")(?![A-Za-z])|\\(?:operatorname|mathrm|text|textrm)\{[^{}]*\}"
)

_PARAMETER_WORD = re.compile(r"([A-Za-z]+)(?:_\{([A-Za-z]+)\})?(?![A-Za-z])")
_COMMAND = re.compile(r"\\([A-Za-z]+\*?|.)")

#: a function written as a Greek letter or a command that a derivation also uses as a value, without its argument
#: (\sigma(1 - \sigma), 1 - \tanh^2): the placeholder the value is read as until the claim says which call it is
_VALUE_PLACEHOLDERS = {"sigma": "SIGMAOFTHECLAIM", "tanh": "TANHOFTHECLAIM"}
#: one-letter names that papers give to functions: f(x) is no certain product
_FUNCTION_LETTERS = frozenset("f g h F G H phi varphi psi".split())
#: words that join a value to its condition in a cases row (``1 & if x > 0``)
_CASE_WORDS = frozenset("if for when whenever where and with while".split())
_OTHERWISE_WORDS = frozenset("otherwise else elsewhere".split())
#: names papers give the catalog's functions besides the catalog's own
_ALIASES = {"lrelu": "leaky_relu", "sgn": "sign", "swish": "swish", "logsigmoid": "log_sigmoid"}
_D = r"(?:d|\\partial|\\delta|\\mathrm\s*\{\s*d\s*\}|\\text\s*\{\s*d\s*\}|\\operatorname\s*\{\s*d\s*\}|\\mathrm\s+d)"
_ORDER = r"(?:\^\s*(?:\{\s*(?P<order>[0-9])\s*\}|(?P<order1>[0-9])))?"
_VARIABLE = r"(?:[A-Za-z]|\\(?:" + "|".join(_GREEK) + r")(?![A-Za-z]))(?:_\{[^{}]*\}|_[A-Za-z0-9])?"
_DERIVATIVE_TOP = re.compile(r"^\s*(?P<d>" + _D + r")(?![A-Za-z])?\s*" + _ORDER + r"(?P<body>.*)$", re.S)
_DERIVATIVE_TOP_LETTER = re.compile(r"^\s*(?P<d>d)" + _ORDER + r"(?P<body>[A-Za-z\\].*)$", re.S)
_DERIVATIVE_BOTTOM = re.compile(r"^\s*(?P<d>" + _D + r")\s*(?P<var>" + _VARIABLE + r")\s*" + _ORDER + r"\s*$", re.S)
_DOMAIN = re.compile(
    r"(?:\s*(?:,|;|\\quad|\\qquad|\\,|\\;|\\text\{\s*(?:for|for all|where)\s*\}))*\s*(?:\\forall\s*)?"
    r"(?P<what>(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?"
    r"(?:\s*,\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?)*)"
    r"\s*\\in\s*\\mathbb\s*\{?\s*R\s*\}?(?:\^\s*\{?[A-Za-z0-9]+\}?)?\s*[.,]?\s*$"
)


#: a piecewise definition written as a brace and an array (or aligned, or matrix): \left\{ \begin{array}{ll} ...
_PIECEWISE_OPEN = re.compile(
    r"(?:\\left\s*)?\\\{\s*\\begin\{(?P<env>array|aligned|matrix|smallmatrix)\}(?:\s*\{[lcr|\s]*\})?"
)
_PIECEWISE_CLOSE = {
    env: re.compile(r"\\end\{" + env + r"\}(?:\s*\\right\s*\.|\s*\\right\s*\\\}|\s*\\\})?")
    for env in ("array", "aligned", "matrix", "smallmatrix")
}


#: the norm of a vector, or of a sum or difference of vectors: \|w\|_2^2, \left\| x - y \right\|^2, \|w\|_1
_VECTOR = r"(?:\\mathbf\s*\{\s*[A-Za-z]\s*\}|\\boldsymbol\s*\{\s*[A-Za-z]\s*\}|[A-Za-z])"
_NORM = re.compile(
    r"(?:\\left\s*)?\\\|\s*(?P<inner>" + _VECTOR + r"(?:\s*[+-]\s*" + _VECTOR + r")*)\s*(?:\\right\s*)?\\\|"
    r"(?:\s*_\s*(?:\{\s*(?P<p>[12])\s*\}|(?P<p1>[12])))?(?:\s*\^\s*(?:\{\s*(?P<power>2)\s*\}|(?P<power1>2)))?"
)


def _norm_as_sum(norm: re.Match, text: str) -> str:
    r"""The sum over a vector's entries that a norm stands for, in LaTeX: \|x - y\|_2^2 as
    \sum_{k=0}^{n-1} (x_{k} - y_{k})^{2}, with an index letter the formula does not use."""
    index = next((c for c in "klmpqrs" if not re.search(rf"(?<![A-Za-z\\]){c}(?![A-Za-z])", text)), None)
    if index is None:
        raise ParseError("no free letter is left for the index of the norm: write the sum out")
    inner = re.sub(
        r"\\(?:mathbf|boldsymbol)\s*\{\s*([A-Za-z])\s*\}|([A-Za-z])",
        lambda m: f"{m.group(1) or m.group(2)}_{{{index}}}",
        norm.group("inner"),
    )
    total = f"\\sum_{{{index}=0}}^{{n - 1}}"
    squared = bool(norm.group("power") or norm.group("power1"))
    if "1" in (norm.group("p"), norm.group("p1")):
        body = f"{total} \\left|{inner}\\right|"
        return f"\\left({body}\\right)^{{2}}" if squared else body
    squares = f"{total} \\left({inner}\\right)^{{2}}"
    return squares if squared else f"\\sqrt{{{squares}}}"


#: ``\theta^T x``, ``w^{\top} x``: a transpose or a power
_TRANSPOSE = re.compile(
    r"(?P<a>\\[A-Za-z]+|[A-Za-z])\s*\^\s*(?:T|\{\s*T\s*\}|\\top|\{\s*\\top\s*\}|\\intercal)\s*"
    r"(?P<b>\\mathbf\s*\{\s*[A-Za-z]\s*\}|\\[A-Za-z]+|[A-Za-z])"
)
#: the i-th example in the notation of lecture notes: ``x^{(i)}``, ``x_j^{(i)}``, ``y^{(i)}``
_SAMPLE = re.compile(
    r"(?P<base>(?<![A-Za-z\\])[A-Za-z])(?:_\{?(?P<feature>[a-z])\}?)?\^\s*\{\s*\(\s*(?P<i>[a-z])\s*\)\s*\}"
)


def _sample_index(match: re.Match, state: _State) -> str:
    base, feature, sample = match.group("base"), match.group("feature"), match.group("i")
    indices = sample + (feature or "")
    state.note(f"{match.group(0)} is read as {base}_{{{indices}}}: the superscript ({sample}) numbers the example")
    return f"{base}_{{{indices}}}"


#: an indicator function: \mathbb{1}[x > 0], \mathbb{I}(x > 0), \mathbf{1}\{x > 0\} (the braces are read as parentheses)
_INDICATOR = re.compile(r"\\math(?:bb|bf)\s*\{\s*(?:1|I)\s*\}(?=\s*(?:\\left\s*)?[\[(]|\s*\\\{|\s*\\left\s*\\\{)")


class _State:
    """What reading one formula found out beyond its expression: notes on how ambiguous text was read, and
    which functions were used as values (\\sigma without an argument) in a product form (\\sigma(1 - \\sigma))."""

    def __init__(self):
        self.notes: list[str] = []
        self.product_forms: dict[str, str] = {}

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)


_GRAMMAR_EXTENSION = r"""
NAMED_FUNC: /\\operatorname\{[A-Za-z_]+'*\}/
DIFF_WRT: "\\diffwrt"
CASES_BEGIN: "\\begin{cases}"
CASES_END: "\\end{cases}"
OTHERWISE: "\\otherwise"

named_function: NAMED_FUNC L_PAREN list_of_expressions R_PAREN
named_function_power: NAMED_FUNC CARET _expression_core L_PAREN list_of_expressions R_PAREN
named_function_base: NAMED_FUNC UNDERSCORE group_curly_parentheses L_PAREN list_of_expressions R_PAREN
cases: CASES_BEGIN case_row (MATRIX_ROW_DELIM case_row)* MATRIX_ROW_DELIM? CASES_END
case_row: _expression MATRIX_COL_DELIM (_relation | OTHERWISE)
// the derivative operator written for \frac{d}{dx}, \frac{d^2 f}{dx^2}, \frac{\partial L}{\partial w}
derivative_op: DIFF_WRT L_BRACE _expression R_BRACE L_BRACE number R_BRACE _expression_mul
// a decorated or named variable with a subscript: \hat{y}_i (read as \mathit{yhat}_i)
MULTI_SUB: /_\{[A-Za-z0-9]+\}|_[A-Za-z0-9]/
multi_letter_indexed: multi_letter_symbol MULTI_SUB
// a function of a sum without parentheses: \log\sum_k e^{z_k}
named_function_sum: NAMED_FUNC summation

// a sum takes a product, not a sum: \sum_k a_k + 1 is (sum_k a_k) + 1, as ML papers mean it
%override summation: FUNC_SUM group_curly_parentheses_special _expression_mul
%override product: FUNC_PROD group_curly_parentheses_special _expression_mul

%extend _function: named_function | named_function_power | named_function_base
%extend _expression_mul: named_function_sum
%extend _expression_mul: derivative_op
%extend _expression_func: cases
%extend _atomic_expr: multi_letter_indexed
%extend adjacent_expressions: multi_letter_indexed _expression_mul
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

        def __init__(self, functions: Mapping[str, object], state: _State | None = None):
            super().__init__()
            self.functions = functions
            self.state = state if state is not None else _State()

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
            """s(x) for a one-letter s: implicit multiplication, as in x(1 - x) or \\alpha(e^x - 1); refused for the
            letters that name functions (f(x), g(x), \\phi(x): the normal density), where it is no certain product."""
            symbol, args = tokens[0], tokens[2]
            if len(args) != 1:
                raise _Refused(f"unknown function {symbol}")
            name = getattr(symbol, "name", "")
            if name in _FUNCTION_LETTERS or name.split("_")[0] in _FUNCTION_LETTERS:
                shown = re.sub(r"^(" + "|".join(_GREEK) + r")(?![A-Za-z])", r"\\\1", name)
                shown = re.sub(r"_\{?(" + "|".join(_GREEK) + r")\}?$", r"_\\\1", shown)
                raise _Refused(
                    f"{shown}({_shown(args[0])}) reads as a function {shown} applied to {_shown(args[0])} "
                    f"(which the formula does not define) or as {shown} times ({_shown(args[0])}): write out the "
                    f"function, or {shown} \\cdot ({_shown(args[0])}) for the product"
                )
            if symbol not in args[0].free_symbols and isinstance(symbol, sympy.Symbol) and len(name) == 1:
                self.state.note(f"{name}({_shown(args[0])}) is read as {name} times ({_shown(args[0])})")
            return symbol * args[0]

        def number(self, tokens):
            text = str(tokens[0])
            if tokens[0].type == "CMD_IMAGINARY_UNIT":
                raise _Refused("complex numbers are not allowed")
            return sympy.Rational(text) if "." in text else sympy.Integer(text)

        def _call(self, token, args):
            name = str(token)[len("\\operatorname{") : -1]
            primes = len(name) - len(name.rstrip("'"))
            function = self.functions[name.rstrip("'")]
            if not primes:
                return function(*args)
            if not args:
                raise _Refused(f"{name} needs an argument")
            t = sympy.Dummy("t", real=True)
            return sympy.diff(function(t, *args[1:]), t, primes).subs(t, args[0])

        def multi_letter_indexed(self, tokens):
            symbol, subscript = tokens
            return sympy.Symbol(f"{symbol.name}_{{{str(subscript)[1:].strip('{}')}}}")

        def derivative_op(self, tokens):
            variable, order, body = (t for t in tokens if not isinstance(t, Token))
            if not isinstance(variable, sympy.Symbol):
                raise _Refused(f"cannot differentiate with respect to {_shown(variable)}")
            if not isinstance(body, sympy.Expr):
                raise _Refused("the formula is incomplete (a derivative operator without its function?)")
            return sympy.Derivative(body, (variable, int(order)), evaluate=False)

        def named_function_sum(self, tokens):
            return self._call(tokens[0], [tokens[1]])

        def product(self, tokens):
            return sympy.Product(tokens[2], tokens[1])

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
    """The next character after spaces and \\left; a square bracket counts as a parenthesis (it is read as one)."""
    rest = text[at:].lstrip(" ")
    if rest.startswith("\\left"):
        rest = rest[len("\\left") :].lstrip(" ")
    return "(" if rest[:1] == "[" else rest[:1]


def _in_subscript(text: str, at: int) -> bool:
    """Whether ``at`` lies in a subscript: right after ``_``, or inside ``_{...}``."""
    if text[:at].rstrip(" ").endswith("_"):
        return True
    depth = 0
    for index in range(at - 1, -1, -1):
        if text[index] == "}":
            depth += 1
        elif text[index] == "{":
            if depth == 0:
                return text[:index].rstrip(" ").endswith("_")
            depth -= 1
    return False


def _in_case_condition(text: str, at: int) -> bool:
    """Whether ``at`` lies in the condition column of a cases environment (after a row's ``&``)."""
    begin = text.rfind("\\begin{cases}", 0, at)
    if begin < 0 or text.rfind("\\end{cases}", begin, at) >= 0:
        return False
    return text.rfind("&", begin, at) > text.rfind("\\\\", begin, at)


def _known_function(word: str, functions: Mapping[str, str]) -> str | None:
    key = word.lower().replace("-", "").replace("_", "")
    return functions.get(key) or functions.get(word.lower()) or functions.get(_ALIASES.get(key, ""))


def _word(text, at, functions, namespace, state, emit, emit_nested) -> int | None:
    """Read a run of two or more letters at ``at`` (not a command); return where to go on, or None to leave
    it to the grammar (a subscript).  A run of letters is never a product of one-letter symbols: it is a known
    function (``tanh(x)``, ``ln(1 + e^x)``, ``L-ReLU(y)``), a joining word in a cases row (``1 & if x > 0``),
    ``x e^{...}`` written ``xe^{...}``, or refused with the readings to choose from."""
    column = at + 1
    hyphenated = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)+").match(text, at)
    if hyphenated and _known_function(hyphenated.group(0), functions) and _next_char(text, hyphenated.end()) in "('":
        name = hyphenated.group(0)
        target = _known_function(name, functions)
        state.note(f"{name} is read as the function {target}")
        return _function_call(text, hyphenated.end(), target, name, column, namespace, emit, emit_nested)
    run = re.compile(r"[A-Za-z]+").match(text, at).group(0)
    stop = at + len(run)
    if len(run) < 2 or _in_subscript(text, at):
        return None
    if _in_case_condition(text, at) and run.lower() in _CASE_WORDS | _OTHERWISE_WORDS:
        state.note(f"the word '{run}' in the cases is read as text")
        emit("\\otherwise" if run.lower() in _OTHERWISE_WORDS else " ")
        return stop
    if run == "pi":
        emit("\\mathit{pi}")
        return stop
    target = _known_function(run, functions)
    after = stop + len(text[stop:]) - len(text[stop:].lstrip(" "))
    if target is not None and (_next_char(text, stop) in ("(", "'", "^", "{", "_") or _BARE_TOKEN.match(text, after)):
        state.note(f"the word '{run}' is read as the function {'log' if target == 'ln' else target}")
        return _function_call(text, stop, target, run, column, namespace, emit, emit_nested)
    if len(run) == 2 and run[1] == "e" and _next_char(text, stop) == "^":  # xe^{x}: x times e^{x}
        state.note(f"'{run}^' is read as {run[0]} e^: {run[0]} times the exponential")
        emit(f"{run[0]} e")
        return stop
    if target is not None:
        raise ParseError(f"write the function {run} with its argument in parentheses, as in {run}(x)", column)
    spaced = " ".join(run)
    if _next_char(text, stop) == "(":
        raise ParseError(
            f"unknown function {run}{_did_you_mean(run, functions)}: write \\operatorname{{NAME}}(x) with a known "
            f"name, or {spaced}(...) for a product",
            column,
        )
    greek = f"\\{run} for the Greek letter, " if run in _GREEK else ""
    raise ParseError(
        f"'{run}' is a run of letters: write {greek}{spaced} for a product, \\mathit{{{run}}} for one variable, "
        f"or \\operatorname{{{run}}}(x) for a function",
        column,
    )


def _did_you_mean(word: str, functions: Mapping[str, str]) -> str:
    import difflib

    close = difflib.get_close_matches(word.lower().replace("-", ""), list(functions), n=2, cutoff=0.7)
    return f" (did you mean {' or '.join(functions[c] for c in close)}?)" if close else ""


def _value_use(text: str, end: int, name: str) -> str:
    """How a function command is used: "call" (an argument follows: (x), '(x), ^2(x), a bare x for \\tanh),
    "value" (no argument: \\sigma(1 - \\sigma)'s inner \\sigma, 1 - \\tanh^2), "product" (\\sigma(1 - \\sigma): the
    parenthesis holds the function as a value, so it is a product) or "bare" (\\sigma x)."""
    at = end
    while at < len(text) and text[at] == " ":
        at += 1
    if text[at : at + 1] == "'":
        return "call"
    if text[at : at + 1] == "_" and name == "sigma":  # \sigma_i, \sigma_{k}: a variable with an index
        return "subscript"
    if text[at : at + 1] == "^":
        group = _braced(text, at + 1)
        at = group[1] if group else at + 2
        while at < len(text) and text[at] == " ":
            at += 1
    if text[at : at + 1] == "{":
        return "call"
    if text[at:].startswith("\\left") or text[at : at + 1] in ("(", "["):
        stop = _after_call(text, at)
        inside = text[at:stop] if stop else ""
        if re.search(rf"\\{name}(?![A-Za-z])(?!\s*(?:\(|\\left|'|_|\^\s*\{{?[^{{}}]*\}}?\s*\())", inside):
            return "product"
        return "call"
    if name == "sigma" and _BARE_TOKEN.match(text, at) and not text[at:].startswith("\\"):
        return "bare"
    if name == "tanh" and (
        _BARE_TOKEN.match(text, at) or _BARE_CALL.match(text, at) or re.match(r"\\[dt]?frac(?![A-Za-z])", text[at:])
    ):
        return "call"
    return "value"


def _derivative_fraction(text: str, end: int):
    """For ``\\frac{d^k F}{dx^k}`` (d, \\partial, \\delta, \\mathrm{d}) starting after ``\\frac`` at ``end``: the
    span of x, the order k, the span of F (empty for the operator \\frac{d}{dx}), the differential and where the
    fraction ends; None when the fraction is not a derivative."""
    top = _braced(text, end)
    bottom = _braced(text, top[1]) if top else None
    if bottom is None:
        return None
    top_start = top[1] - 1 - len(top[0])
    bottom_start = bottom[1] - 1 - len(bottom[0])
    upper, lower = _DERIVATIVE_TOP.match(top[0]), _DERIVATIVE_BOTTOM.match(bottom[0])
    if upper is None or lower is None or upper.group("body").lstrip().startswith(("_", "^")):
        return None
    family = {"d": "d", "\\partial": "\\partial", "\\delta": "\\delta"}
    kind_top = family.get(upper.group("d"), "d")
    kind_bottom = family.get(lower.group("d"), "d")
    if kind_top != kind_bottom:
        return None
    order_top = int(upper.group("order") or upper.group("order1") or 1)
    order_bottom = int(lower.group("order") or lower.group("order1") or 1)
    if order_top != order_bottom:
        raise ParseError(f"the orders of the derivative differ: {order_top} on top, {order_bottom} below", end)
    body = (top_start + upper.start("body"), top_start + upper.end("body"))
    if not top[0][upper.start("body") :].strip():
        body = (body[0], body[0])
    variable = (bottom_start + lower.start("var"), bottom_start + lower.end("var"))
    return variable, order_top, body, kind_top, bottom[1]


def _preprocess(text: str, namespace: Mapping[str, object], state: _State | None = None) -> tuple[str, list[int]]:
    """Check every command against the allowlist and rewrite the ML notations into grammar rules."""
    state = state if state is not None else _State()
    functions = _function_names(namespace)
    out: list[str] = []
    origins: list[int] = []  # the column in ``text`` of each character of the output
    at = 0

    def emit(chunk: str) -> None:
        out.append(chunk)
        origins.extend([at + 1] * len(chunk))

    def emit_nested(start: int, stop: int) -> None:
        inner, inner_origins = _preprocess(text[start:stop], namespace, state)
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
            stop = _word(text, at, functions, namespace, state, emit, emit_nested)
            if stop is not None:
                at = stop
                continue
        if char == "[" and "".join(out[-3:]).rstrip().endswith("\\sqrt"):  # \sqrt[4]{x}: the root's degree
            close = text.find("]", at)
            if close < 0:
                raise ParseError("the degree of \\sqrt[...] is not closed", at + 1)
            emit("[")
            emit_nested(at + 1, close)
            emit("]")
            at = close + 1
            continue
        if char in "[]":  # square brackets group like parentheses
            emit("(" if char == "[" else ")")
            at += 1
            continue
        if char == "_":  # X_{i,j}: the indices of a matrix element, as X_{ij}
            pair = re.match(r"_\{\s*([A-Za-z])\s*,\s*([A-Za-z])\s*\}", text[at:])
            if pair:
                emit(f"_{{{pair.group(1)}{pair.group(2)}}}")
                at += pair.end()
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
        opening = _PIECEWISE_OPEN.match(text, at) if name in ("left", "{") else None
        if opening:  # \left\{ \begin{array}{ll} x & x > 0 \\ 0 & \text{otherwise} \end{array} \right.: cases
            state.note(f"\\begin{{{opening.group('env')}}} after a brace is read as cases (a piecewise definition)")
            emit("\\begin{cases}")
            closing = _PIECEWISE_CLOSE[opening.group("env")].search(text, opening.end())
            if closing is None:
                raise ParseError(f"\\begin{{{opening.group('env')}}} is not closed", column)
            emit_nested(opening.end(), closing.start())
            emit("\\end{cases}")
            end = closing.end()
        elif name in ("left", "right"):  # dropped here: the grammar could read \left as \le ft
            if text[end : end + 1] in (".", "(", ")", "[", "]", "|"):
                end += 1 if text[end] == "." else 0
            emit(" ")
        elif name in _SPACES or name == " ":
            emit(" ")
        elif name == "\\":
            emit("\\\\")
        elif name == "|" or (name in ("left", "right") and text.startswith("\\|", end)):
            norm = _NORM.match(text, at)
            if norm is None:
                raise ParseError("\\| is read only as a norm of a vector, as in \\|w\\|_2^2 or \\|x - y\\|^2", column)
            expanded = _norm_as_sum(norm, text)
            shown = re.sub(r"\\(?:left|right)\s*", "", norm.group(0)).strip()
            state.note(f"{shown} is read as {expanded} (a norm over the entries of a vector)")
            inner, _ = _preprocess(expanded, namespace, state)
            emit(inner)
            end = norm.end()
        elif name in "{}|":
            emit({"{": "(", "}": ")", "|": "|"}[name])
        elif name in ("begin", "end"):
            group = _braced(text, end)
            if group is None or group[0] != "cases":
                env = group[0] if group else "?"
                raise ParseError(f"the environment {env!r} is not supported (only cases)", column)
            emit(f"\\{name}{{cases}}")
            end = group[1]
        elif name.rstrip("*") in _WRAPPERS and not _INDICATOR.match(text, at):
            group = _braced(text, end)
            if group is None:
                raise ParseError(f"\\{name} needs a braced argument", column)
            word = group[0].strip()
            end = group[1]
            wrapped = _wrapped_word(word, name, functions, column)
            if wrapped.startswith("\\operatorname{") and (
                "-" in word or word.lower().replace("\\_", "").replace("_", "") in _ALIASES
            ):
                state.note(f"\\{name}{{{word}}} is read as the function {wrapped[14:-1]}")  # \\operatorname{...}
            if wrapped.startswith("\\operatorname{"):
                end = _function_call(
                    text, end, wrapped[len("\\operatorname{") : -1], word, column, namespace, emit, emit_nested
                )
            else:
                emit(wrapped)
        elif name in ("frac", "dfrac", "tfrac") and _derivative_fraction(text, end) is not None:
            (var_start, var_stop), order, (body_start, body_stop), kind, stop = _derivative_fraction(text, end)
            if kind == "\\delta":
                state.note(f"\\delta in {text[at:stop].strip()} is read as a differential: the derivative")
            emit("\\diffwrt{")
            emit_nested(var_start, var_stop)
            emit(f"}}{{{order}}}")
            if body_stop > body_start:
                emit("(")
                emit_nested(body_start, body_stop)
                emit(")")
            end = stop
        elif name in _NAMED_COMMANDS:
            target = functions[_NAMED_COMMANDS[name].lower()]
            if name == "Phi":
                state.note("\\Phi is read as the standard normal distribution function (1 + erf(x/\\sqrt{2}))/2")
            use = _value_use(text, end, name)
            if name in _VALUE_PLACEHOLDERS and use == "value":
                emit(f"\\mathit{{{_VALUE_PLACEHOLDERS[name]}}}")  # resolved from the claim's calls of the function
            elif name in _VALUE_PLACEHOLDERS and use == "product":
                argument = text[end : _after_call(text, end)].strip()
                state.product_forms[name] = f"\\{name}{argument}"
                state.note(
                    f"\\{name}{argument} is read as \\{name} \\cdot {argument}: the \\{name} inside has no argument, "
                    f"so \\{name} stands for a value there"
                )
                emit(f"\\mathit{{{_VALUE_PLACEHOLDERS[name]}}}")
            elif name == "sigma" and use == "subscript":
                emit("\\sigma")
            elif name == "sigma" and use == "bare":
                token = _BARE_TOKEN.match(text, end + len(text[end:]) - len(text[end:].lstrip(" ")))
                shown = token.group(0) if token else "x"
                raise ParseError(
                    f"\\sigma {shown} reads as \\sigma({shown}) (the sigmoid) or as \\sigma \\cdot {shown} "
                    f"(a value times {shown}): write one of them",
                    column,
                )
            else:
                end = _function_call(text, end, target, name, column, namespace, emit, emit_nested)
        elif name == "partial":  # \partial_x F: the derivative operator; \frac{\partial}{\partial x} is read above
            sub = re.match(r"\s*_\s*(\{\s*" + _VARIABLE + r"\s*\}|" + _VARIABLE + r")", text[end:])
            if sub is None:
                raise ParseError(
                    "\\partial is read in \\frac{\\partial F}{\\partial x} or as \\partial_x F: write one of them",
                    column,
                )
            variable = sub.group(1).strip().strip("{}").strip()
            emit("\\diffwrt{")
            emit_nested(
                end + sub.start(1) + sub.group(1).index(variable),
                end + sub.start(1) + sub.group(1).index(variable) + len(variable),
            )
            emit("}{1}")
            end += sub.end()
        elif name in ("mathbb", "mathbf") and _INDICATOR.match(text, at):  # \mathbb{1}[x > 0]: an indicator
            indicator = _INDICATOR.match(text, at)
            opening = re.compile(r"\s*(?:\\left\s*)?(\\\{|\(|\[)").match(text, indicator.end())
            closing = {"\\{": r"(?:\\right\s*)?\\\}", "(": r"(?:\\right\s*)?\)", "[": r"(?:\\right\s*)?\]"}
            close = re.compile(closing[opening.group(1)]).search(text, opening.end())
            if close is None:
                raise ParseError("the condition of the indicator is not closed", column)
            state.note(f"{indicator.group(0)}[...] is read as an indicator: 1 where the condition holds, else 0")
            emit("\\begin{cases} 1 & ")
            emit_nested(opening.end(), close.start())
            emit(" \\\\ 0 & \\otherwise \\end{cases}")
            end = close.end()
        elif name in ("hat", "bar", "tilde"):  # \hat{y}: a variable of its own, yhat
            group = _braced(text, end)
            inner = group[0].strip() if group else ""
            letter = re.fullmatch(r"\\?([A-Za-z]+)", inner)
            if group is None or letter is None or (inner.startswith("\\") and letter.group(1) not in _GREEK):
                raise ParseError(f"\\{name} takes one letter in braces, as in \\{name}{{y}}", column)
            emit(f"\\mathit{{{letter.group(1)}{name}}}")
            end = group[1]
        elif name in ("lvert", "rvert", "vert"):
            emit("|")
        elif name == "pi":
            emit("\\mathit{pi}")
        elif name == "cdotp":
            emit("\\cdot")
        elif name == "sum" and re.match(r"\s*_\s*(?:\{\s*[a-z]\s*\}|[a-z])(?!\s*\^)", text[end:]):
            index = re.match(r"\s*_\s*(?:\{\s*([a-z])\s*\}|([a-z]))", text[end:])
            letter = index.group(1) or index.group(2)
            state.note(f"\\sum_{letter} without bounds is read as the sum over {letter} = 0 .. n - 1")
            emit(f"\\sum_{{{letter}=0}}^{{n - 1}}")
            end += index.end()
        elif name in _NATIVE:
            if name == "mathit":  # \mathit{slope}: one variable, its name taken as it is
                group = _braced(text, end)
                if group is not None and group[0].strip() in _VALUE_PLACEHOLDERS.values():
                    raise ParseError(f"\\mathit{{{group[0].strip()}}} is a reserved name", column)
                if group is not None and re.fullmatch(r"\s*[A-Za-z]+\s*", group[0]):
                    emit(f"\\mathit{{{group[0].strip()}}}")
                    at = group[1]
                    continue
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
    primes = re.match(r"'+", text[at:])
    head = f"\\operatorname{{{target}}}"
    if primes:  # \sigma'(x), tanh''(x): the derivative of the function, at the argument
        at += primes.end()
        head = f"\\operatorname{{{target}{primes.group(0)}}}"
        while at < len(text) and text[at] == " ":
            at += 1
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
    if head and re.match(r"\\sum(?![A-Za-z])", text[at:]):  # \log\sum_k e^{z_k}: the function of the sum
        emit(head + " ")
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
        _check_bare_argument(text, at, bare.end(), shown, column)
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
            _check_bare_argument(text, at, stop, shown, column)
            emit(f"{head}(")
            emit_nested(at, stop)
            emit(")")
            return stop
    raise ParseError(f"write \\{shown} with its argument in parentheses, as in \\{shown}(x)", column)


def _check_bare_argument(text: str, start: int, stop: int, shown: str, column: int) -> None:
    """A function's argument without parentheses (\\ln x, \\log\\sigma(z)) is certain only where an operator or
    the end follows it; a power (\\ln x^2: \\ln(x^2) or (\\ln x)^2?) or another factor (\\log 2x: \\log(2x) or
    \\log(2) x?) after it is refused with both readings."""
    rest = text[stop:].lstrip(" ")
    argument = text[start:stop].strip()
    if rest.startswith("^"):
        power = re.match(r"\^\s*(\{[^{}]*\}|[0-9A-Za-z])", rest)
        tail = power.group(0) if power else "^"
        raise ParseError(
            f"\\{shown} {argument}{tail} reads as \\{shown}({argument}{tail}) or as (\\{shown} {argument}){tail}: "
            "write the parentheses",
            column,
        )
    factor = re.match(r"[0-9A-Za-z]|\\(?:" + "|".join(_GREEK + list(_NAMED_COMMANDS)) + r")(?![A-Za-z])", rest)
    if factor or rest[:1] in ("(", "["):
        tail = factor.group(0) if factor else rest[:1]
        written = text[start : stop + len(text[stop:]) - len(rest) + len(tail)].strip()
        raise ParseError(
            f"\\{shown} {written} reads as \\{shown}({written}...) or as \\{shown}({argument}) times {tail}...: "
            "write the parentheses",
            column,
        )


def _after_call(text: str, at: int) -> int | None:
    """The index after a parenthesised argument list starting at ``at`` (after \\left and spaces)."""
    while at < len(text) and text[at] == " ":
        at += 1
    if text.startswith("\\left", at):
        at += len("\\left")
        while at < len(text) and text[at] == " ":
            at += 1
    if text[at : at + 1] not in ("(", "["):
        return None
    depth = 0
    for stop in range(at, len(text)):
        if text[stop] in "([":
            depth += 1
        elif text[stop] in ")]":
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
    found = functions.get(key.lower()) or functions.get(key.lower().replace("_", "")) or _known_function(key, functions)
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
    for s in expr.atoms(sympy.Sum, sympy.Product):
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
            raise _Refused(
                f"{name}: {name.rstrip(chr(39))} is not a known function, so its derivative is unknown: write the "
                "derivative of its formula with \\frac{d}{dx}, or use a known one (\\sigma'(x), \\tanh'(x))"
            )
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


def _map_symbols(expr, namespace: Mapping[str, object]):
    """Check the shape of what the grammar read and give each symbol its role (the placeholders stay)."""
    if isinstance(expr, (tuple, list)):
        raise _Refused("the formula is incomplete (a derivative operator without its function?)")
    if not isinstance(expr, sympy.Basic):
        raise _Refused(f"the formula did not read as an expression ({type(expr).__name__})")
    for node in sympy.preorder_traversal(expr):
        parts = node.args[:1] if isinstance(node, sympy.Derivative) else node.args
        if not isinstance(node, (sympy.Sum, sympy.Product, sympy.Tuple, sympy.Piecewise)) and any(
            isinstance(a, (sympy.Tuple, tuple)) for a in parts
        ):
            raise _Refused("the formula is incomplete (a derivative operator without its function?)")
    return expr.xreplace(_symbol_map(expr, namespace))


def _differentiate(expr):
    """Carry out the derivatives; the derivative of a bare symbol other than the variable is refused (the
    formula does not say what L is in \\frac{\\partial L}{\\partial w})."""
    for derivative in expr.atoms(sympy.Derivative):
        inner = derivative.expr
        if isinstance(inner, (sympy.Symbol, sympy.Indexed)) and inner not in derivative.variables:
            var = ", ".join(sympy.sstr(v) for v in derivative.variables)
            raise _Refused(
                f"the derivative of {sympy.sstr(inner)} with respect to {var}: the formula does not define "
                f"{sympy.sstr(inner)}, so write out the expression it stands for"
            )
    if expr.has(sympy.Derivative):
        expr = (
            expr.doit(deep=True)
            if not expr.has(sympy.Sum)
            else expr.replace(lambda e: isinstance(e, sympy.Derivative), lambda e: e.doit())
        )
    return expr


def _resolve_values(exprs: list, states: list[_State]) -> list:
    """Replace each placeholder of a function used as a value (\\sigma in \\sigma(1 - \\sigma), 1 - \\tanh^2) by the
    one call of that function the claim makes (\\sigma(y)); refuse, with the readings, where there is none or
    more than one.  A \\sigma with no call of the sigmoid anywhere is a variable sigma (a standard deviation)."""
    from .functions import sigmoid

    calls = {"sigma": sigmoid, "tanh": sympy.tanh}
    exprs = list(exprs)
    for key, placeholder in _VALUE_PLACEHOLDERS.items():
        users = [i for i, e in enumerate(exprs) if any(s.name == placeholder for s in e.free_symbols)]
        if not users:
            continue
        function = calls[key]
        arguments: list = []
        for e in exprs:
            for call in e.atoms(function):
                if not any(s.name == placeholder for s in call.free_symbols) and call.args[0] not in arguments:
                    arguments.append(call.args[0])
        forms = [states[i].product_forms[key] for i in users if key in states[i].product_forms]
        if len(arguments) == 1:
            value = function(arguments[0])
            message = (
                f"\\{key} without an argument is read as \\{key}({sympy.latex(arguments[0])}), the only call of "
                f"\\{key} in the claim"
            )
        elif not arguments and key == "sigma" and not forms:
            value = sympy.Symbol("sigma", real=True)
            message = "\\sigma has no argument anywhere in the claim: it is read as a variable sigma, not the sigmoid"
        elif not arguments and forms:
            form = forms[0]
            argument = form[len(key) + 1 :]
            raise _Refused(
                f"{form} reads as the sigmoid of {argument} or as \\{key} \\cdot {argument} with "
                f"\\{key} a value, and no \\{key}(x) in the claim says which: write \\{key}(x)(1 - \\{key}(x)) "
                f"or \\operatorname{{{function.__name__}}}{argument}"
            )
        elif not arguments:
            raise _Refused(f"\\{key} has no argument and no \\{key}(x) in the claim says which: write \\{key}(x)")
        else:
            shown = " or ".join(f"\\{key}({sympy.latex(a)})" for a in sorted(arguments, key=sympy.default_sort_key))
            raise _Refused(f"\\{key} without an argument could be {shown}: write its argument")
        for i in users:
            exprs[i] = exprs[i].xreplace({s: value for s in exprs[i].free_symbols if s.name == placeholder})
            states[i].note(message)
    return exprs


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatexReading:
    """A formula as read: the expression, and how the text that could be read more than one way was read."""

    expr: sympy.Expr
    notes: tuple[str, ...] = ()


def parse_latex(text: str, namespace: Mapping[str, object] | None = None, *, max_length: int = MAX_LATEX_LENGTH):
    r"""Parse a LaTeX formula into a SymPy expression (see the module docstring for what it reads).

    Raises :class:`~symact.errors.ParseError` for anything else, with a column where one is known.
    """
    return read_latex_claim([text], namespace, max_length=max_length)[0].expr


def read_latex_claim(
    texts: list[str],
    namespace: Mapping[str, object] | None = None,
    *,
    max_length: int = MAX_LATEX_LENGTH,
    context: tuple = (),
) -> list[LatexReading]:
    r"""Read the formulas of one claim (its two sides) together: a function used as a value on one side
    (``\sigma(1-\sigma)``) takes its argument from its call on either side (``rac{d}{dy}\sigma(y)``).

    ``context`` holds expressions of the same claim given otherwise (a side passed from Python): their calls count
    too.  Returns one :class:`LatexReading` per text, with notes on every reading the context decided.
    """
    from .budget import BudgetExceeded, run_limited

    ns = {**_default_namespace(), **_LATEX_FUNCTIONS, **(namespace or {})}
    raw, states = [], []
    for text in texts:
        check_text(text, max_length)
        state = _State()
        body = _normalise(re.sub(r"[\r\n\t\f\v]", " ", _strip_math_delimiters(text)), state)
        if not body.strip():
            raise ParseError("the formula is empty")
        prepared, origins = _preprocess(body, ns, state)
        if re.search(r"\\diffwrt\{[^{}]*\}\{[0-9]+\}\s*$", prepared):
            raise ParseError("the formula is incomplete (a derivative operator without its function?)")
        try:
            expr, found = run_limited(_parse_prepared, LATEX_SECONDS, prepared, origins, ns)
        except BudgetExceeded:
            raise ParseError(f"the LaTeX parser gave up after {LATEX_SECONDS:g} s") from None
        state.notes.extend(n for n in found.notes if n not in state.notes)
        raw.append(expr)
        states.append(state)
    try:
        resolved = _resolve_values([*raw, *context], [*states, *(_State() for _ in context)])[: len(raw)]
        done = [run_limited(_differentiate, LATEX_SECONDS, e) for e in resolved]
    except _Refused as exc:
        raise ParseError(str(exc)) from None
    except BudgetExceeded:
        raise ParseError(f"the derivative took more than {LATEX_SECONDS:g} s") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError) as exc:
        raise ParseError(f"could not read the LaTeX: {_first_line(exc)}") from None
    return [LatexReading(check_allowed(e), tuple(state.notes)) for e, state in zip(done, states, strict=True)]


def _normalise(body: str, state: _State) -> str:
    """Spellings with one meaning, rewritten before the allowlist: <= >= !=, f^{\\prime}(x) and {f}'(x) as
    f'(x), and a trailing domain statement (x \\in \\mathbb{R}), which is left out with a note."""
    body = body.replace("<=", "\\le ").replace(">=", "\\ge ").replace("!=", "\\ne ")
    body = re.sub(r"\\[lr]?Vert(?![A-Za-z])", lambda m: "\\|", body)
    double = re.search(r"\^\s*(?:\{[^{}]*\}|[^\s{}\\])\s*\^", body)
    if double:
        raise ParseError(
            f"a double superscript ({double.group(0).strip()}...) is an error in TeX: write x^{{a^b}} or (x^a)^b",
            double.start() + 1,
        )
    scientific = re.search(r"(?<![A-Za-z0-9.])([0-9.]+)e([-+]?[0-9]+)(?![0-9])", body)
    if scientific:
        number, exponent = scientific.groups()
        literal = f"e {exponent[0]} {exponent[1:]}" if exponent[0] in "+-" else f"e \\cdot {exponent}"
        raise ParseError(
            f"{scientific.group(0)} reads as {number} \\cdot {literal} (Euler's number) or as "
            f"{number} \\cdot 10^{{{exponent}}}: write one of them",
            scientific.start() + 1,
        )
    transpose = _TRANSPOSE.search(body)
    if transpose:
        a, b = transpose.group("a"), transpose.group("b")
        raise ParseError(
            f"{transpose.group(0).strip()} reads as a transpose (the dot product \\sum_k {a}_k {b}_k) or as {a} to the "
            f"power T times {b}: write \\sum_{{k=0}}^{{n-1}} {a}_k {b}_k, or {a}^{{T}} \\cdot {b} for the power",
            transpose.start() + 1,
        )
    body = _SAMPLE.sub(lambda m: _sample_index(m, state), body)
    body = re.sub(r"\^\s*\{\s*((?:\\prime\s*)+)\}", lambda m: "'" * m.group(1).count("\\prime"), body)
    body = re.sub(r"\^\s*\\prime(?![A-Za-z])", "'", body)
    body = re.sub(r"(?<![A-Za-z])\{\s*(\\[A-Za-z]+|\\operatorname\{[^{}]*\}|[A-Za-z]+)\s*\}(?=\s*')", r"\1", body)
    domain = _DOMAIN.search(body)
    if domain and body[: domain.start()].strip():
        state.note(f"'{domain.group(0).strip(' ,;')}' is read as the domain of the formula and left out")
        body = body[: domain.start()]
    return body


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
    state = _State()
    try:
        with warnings.catch_warnings():  # SymPy's transformer warns on odd products: the checks below decide
            warnings.simplefilter("ignore")
            expr = _transformer_class()(ns, state).transform(tree)
            return _map_symbols(expr, ns), state
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
