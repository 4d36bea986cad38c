"""Reading a user's formula safely: SymPy syntax through an AST allowlist, LaTeX through SymPy's parser.

Nothing here evaluates the user's text.  :func:`parse_sympy` parses it with :func:`ast.parse` in
``eval`` mode and builds the SymPy expression node by node from an allowlist: numbers (decimals
become exact rationals), names, ``+ - * / **``, unary minus, calls of allowlisted functions,
subscripts ``a[i]`` (an :class:`~sympy.Indexed`), comparisons and ``&``, ``|``, ``~`` inside
Piecewise conditions, and tuples as the arguments of ``Piecewise``, ``Sum`` and ``diff``.  Every
other node (attributes, lambdas, strings, comprehensions, keyword arguments, ...) is refused with a
:class:`~symact.errors.ParseError` that says what and at which column.  Limits on the length, the
number of nodes, the nesting depth, the size of numeric powers and factorials and the order of
derivatives keep a hostile input from exploding while it is being built.

Names that are not in the namespace become real symbols, except where their role says otherwise:
the base of a subscript is an :class:`~sympy.IndexedBase`, an index (inside a subscript, an argument
of ``KroneckerDelta``, the variable of a ``Sum``) is a non-negative integer, and a name in the
bounds of a ``Sum`` is a positive integer size.  The default namespace offers the usual functions,
the named functions, every catalog parameter as the catalog's own (positive) symbol, and every
elementwise catalog entry as a function of its variable and then its parameters in order:
``elu(x, alpha)``, ``leaky_relu(x, 0.2)``; parameters left out stay symbolic.  ``e`` and ``E`` are
Euler's number, as in ML writing (``e**x`` is ``exp(x)``).

>>> parse_sympy("diff(sigmoid(x), x)")
(1 - sigmoid(x))*sigmoid(x)
>>> parse_sympy("elu(x, 1/2)")
Piecewise((x, x > 0), (exp(x)/2 - 1/2, True))
>>> parse_sympy("a[i] * KroneckerDelta(i, j)")
KroneckerDelta(i, j)*a[i]
>>> parse_sympy("__import__('os')")
Traceback (most recent call last):
...
symact.errors.ParseError: names may not start with an underscore: '__import__' (at column 1)
"""

from __future__ import annotations

import ast
import functools
import math
import re
import warnings
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy
from sympy import (
    Abs,
    Derivative,
    Heaviside,
    Indexed,
    IndexedBase,
    KroneckerDelta,
    Max,
    Min,
    Piecewise,
    Sum,
    Symbol,
)

from .errors import ParseError

__all__ = [
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_DEPTH",
    "MAX_BITS",
    "parse_sympy",
    "default_namespace",
    "check_allowed",
]

MAX_LENGTH = 2000  #: characters of input
MAX_NODES = 1000  #: nodes of the Python syntax tree
MAX_DEPTH = 60  #: nesting depth of the syntax tree
MAX_BITS = 10_000  #: the largest exact number a literal, a power or a factorial may produce
MAX_FACTORIAL = 1000  #: the largest integer whose factorial is computed exactly
MAX_DIFF_ORDER = 10  #: the highest derivative order diff() accepts
MAX_DECIMAL_EXPONENT = 400  #: |e| in a literal like 1e-400


class _Refused(Exception):
    """Raised while building a node; the walker adds the column and re-raises as ParseError."""


# --------------------------------------------------------------------------------------------
# the default namespace


def _catalog_function(entry) -> Callable[..., sympy.Expr]:
    """A callable ``f(x, *params)`` that substitutes its arguments for the entry's variable and
    parameters, in order; parameters left out keep their symbols."""
    from .catalog import Kind

    slots = [entry.variable, *(p.symbol for p in entry.params)]
    names = ", ".join(str(s) for s in slots)

    if entry.kind is not Kind.ELEMENTWISE:

        def refuse(*args):
            raise _Refused(
                f"{entry.name} is a {entry.kind.value} function and cannot be called; write it out with indexed "
                "symbols, e.g. exp(a[i]) / Sum(exp(a[k]), (k, 0, n - 1))"
            )

        refuse.__name__ = entry.name
        return refuse

    def call(*args):
        if not 1 <= len(args) <= len(slots):
            raise _Refused(f"{entry.name} takes 1 to {len(slots)} arguments ({names}), got {len(args)}")
        return entry.definition.subs(dict(zip(slots, args, strict=False)), simultaneous=True)

    call.__name__ = entry.name
    return call


def _diff(expr, *args):
    """``diff(expr, x)``, ``diff(expr, x, 2)``, ``diff(expr, (x, 2))``, with the order bounded."""
    if not args:
        raise _Refused("diff needs a variable: diff(expr, x)")
    spec = []
    for arg in args:
        if isinstance(arg, sympy.Tuple):
            if len(arg) != 2:
                raise _Refused("write a repeated derivative as diff(expr, (x, n))")
            spec.extend(_diff_pair(*arg))
        elif isinstance(arg, sympy.Integer):
            if not spec or isinstance(spec[-1], sympy.Integer):
                raise _Refused("a derivative order must follow a variable: diff(expr, x, 2)")
            spec.extend(_diff_pair(spec.pop(), arg))
        elif isinstance(arg, (Symbol, Indexed)):
            spec.append(arg)
        else:
            raise _Refused(f"cannot differentiate with respect to {arg}")
    return sympy.diff(expr, *spec)


def _diff_pair(var, order):
    if not isinstance(var, (Symbol, Indexed)):
        raise _Refused(f"cannot differentiate with respect to {var}")
    if not (isinstance(order, sympy.Integer) and 0 <= order <= MAX_DIFF_ORDER):
        raise _Refused(f"a derivative order must be an integer from 0 to {MAX_DIFF_ORDER}, not {order}")
    return [var] * int(order)


def _factorial(arg):
    if arg.is_Integer and arg > MAX_FACTORIAL:
        raise _Refused(f"factorial({arg}) is too large (the limit is {MAX_FACTORIAL})")
    return sympy.factorial(arg)


def _piecewise(*pairs):
    checked = []
    for pair in pairs:
        if not (isinstance(pair, sympy.Tuple) and len(pair) == 2):
            raise _Refused("Piecewise takes (expression, condition) pairs: Piecewise((x, x > 0), (0, True))")
        value, cond = pair
        if not isinstance(value, sympy.Expr):
            raise _Refused(f"a Piecewise value must be an expression, not {value}")
        if not _is_condition(cond):
            raise _Refused(f"a Piecewise condition must be a comparison or True, not {cond}")
        checked.append((value, cond))
    return Piecewise(*checked)


def _sum(term, *limits):
    if not limits:
        raise _Refused("Sum needs limits: Sum(a[k], (k, 0, n - 1))")
    for lim in limits:
        if not (isinstance(lim, sympy.Tuple) and len(lim) == 3 and isinstance(lim[0], Symbol)):
            raise _Refused("Sum limits are (index, lower, upper): Sum(a[k], (k, 0, n - 1))")
    return Sum(term, *limits)


def _is_condition(value) -> bool:
    """A comparison, True/False, or And/Or/Not of conditions (a Symbol is a SymPy Boolean too: not here)."""
    if isinstance(value, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom)):
        return True
    if isinstance(value, (sympy.And, sympy.Or, sympy.Not)):
        return all(_is_condition(arg) for arg in value.args)
    return False


#: functions that accept tuples as arguments (Piecewise pairs, Sum limits, diff orders)
_TUPLE_FUNCTIONS = frozenset({_piecewise, _sum, _diff})
#: functions whose arguments are indices (so bare names there are integers)
_INDEX_FUNCTIONS = frozenset({"KroneckerDelta"})


@functools.lru_cache(maxsize=1)
def _default_namespace() -> dict[str, object]:
    from . import catalog
    from .functions import NAMED_FUNCTIONS

    ns: dict[str, object] = {}
    for entry in catalog.entries():
        for p in entry.params:
            ns.setdefault(p.name, p.symbol)
    for entry in catalog.entries():
        for name in (entry.name, *entry.aliases):
            if name.isidentifier() and name not in ns:
                ns[name] = _catalog_function(entry)
    ns.update(
        {
            "exp": sympy.exp,
            "log": sympy.log,
            "ln": sympy.log,
            "sqrt": sympy.sqrt,
            "tanh": sympy.tanh,
            "sinh": sympy.sinh,
            "cosh": sympy.cosh,
            "atanh": sympy.atanh,
            "asinh": sympy.asinh,
            "sin": sympy.sin,
            "cos": sympy.cos,
            "tan": sympy.tan,
            "atan": sympy.atan,
            "erf": sympy.erf,
            "erfc": sympy.erfc,
            "Abs": Abs,
            "abs": Abs,
            "sign": sympy.sign,
            "Max": Max,
            "max": Max,
            "Min": Min,
            "min": Min,
            "Heaviside": Heaviside,
            "Piecewise": _piecewise,
            "KroneckerDelta": KroneckerDelta,
            "Sum": _sum,
            "diff": _diff,
            "factorial": _factorial,
            "pi": sympy.pi,
            "E": sympy.E,
            "e": sympy.E,
        }
    )
    ns.update(NAMED_FUNCTIONS)
    return ns


def default_namespace() -> dict[str, object]:
    """A fresh copy of the names every formula may use (see the module docstring)."""
    return dict(_default_namespace())


# --------------------------------------------------------------------------------------------
# symbols by role

_INDEX_SYMBOLS = {"i", "j", "k", "t"}  # the catalog's names for indices
_SIZE_SYMBOLS = {"n", "m", "d"}


def _index_symbol(name: str) -> Symbol:
    return Symbol(name, integer=True, nonnegative=True)


def _size_symbol(name: str) -> Symbol:
    return Symbol(name, integer=True, positive=True)


class _Roles(ast.NodeVisitor):
    """First pass: which bare names are subscript bases, indices, or sizes."""

    def __init__(self):
        self.bases: set[str] = set()
        self.indices: set[str] = set()
        self.sizes: set[str] = set()

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Name):
            self.bases.add(node.value.id)
        self.indices |= _names(node.slice)
        self.generic_visit(node)

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in _INDEX_FUNCTIONS:
            for arg in node.args:
                self.indices |= _names(arg)
        if name == "Sum":
            for lim in node.args[1:]:
                if isinstance(lim, ast.Tuple) and lim.elts:
                    self.indices |= _names(lim.elts[0])
                    for bound in lim.elts[1:]:
                        self.sizes |= _names(bound)
        self.generic_visit(node)


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# --------------------------------------------------------------------------------------------
# the builder


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_COMPARE = {
    ast.Lt: sympy.StrictLessThan,
    ast.LtE: sympy.LessThan,
    ast.Gt: sympy.StrictGreaterThan,
    ast.GtE: sympy.GreaterThan,
    ast.Eq: sympy.Eq,
    ast.NotEq: sympy.Ne,
}
_REFUSED_BINOPS = {
    ast.BitXor: "'^' is not a power here: write x**2",
    ast.FloorDiv: "'//' (floor division) is not allowed",
    ast.Mod: "'%' is not allowed",
    ast.MatMult: "'@' is not allowed",
    ast.LShift: "'<<' is not allowed",
    ast.RShift: "'>>' is not allowed",
}


def _bits(number: sympy.Rational) -> int:
    return max(int(number.p).bit_length(), int(number.q).bit_length())


def _power(base, exponent):
    if base.is_Rational and exponent.is_Rational:
        magnitude = _bits(base) * abs(int(exponent.p))
        if not exponent.is_Integer:
            magnitude = _bits(base) * (abs(int(exponent.p)) // int(exponent.q) + 1)
        if magnitude > MAX_BITS and abs(base) != 1 and base != 0:
            raise _Refused(f"the power {base}**{exponent} is too large to compute exactly")
    if base.is_Rational and exponent.is_Rational is False and exponent.is_number and _bits(base) > MAX_BITS // 4:
        raise _Refused("a power of a huge number is not allowed")
    return base**exponent


class _Builder:
    def __init__(self, text: str, namespace: Mapping[str, object], roles: _Roles, max_depth: int, shift: int = 0):
        self.text = text
        self.shift = shift
        self.encoded = text.encode("utf-8")
        self.ns = namespace
        self.roles = roles
        self.max_depth = max_depth
        self.symbols: dict[str, sympy.Basic] = {}

    # positions ----------------------------------------------------------------
    def column(self, node) -> int | None:
        offset = getattr(node, "col_offset", None)
        if offset is None:
            return None
        return len(self.encoded[:offset].decode("utf-8", errors="replace")) + 1 + self.shift

    def operator_column(self, node) -> int | None:
        """The column of a binary operator: the first non-space, non-')' after the left operand."""
        end = getattr(node.left, "end_col_offset", None)
        if end is None:
            return self.column(node)
        rest = self.encoded[end:].decode("utf-8", errors="replace")
        skipped = len(rest) - len(rest.lstrip(" )"))
        return len(self.encoded[:end].decode("utf-8", errors="replace")) + skipped + 1 + self.shift

    def fail(self, node, message: str):
        raise ParseError(message, self.column(node))

    # dispatch -----------------------------------------------------------------
    def build(self, node, depth: int = 0, *, tuple_ok: bool = False):
        if depth > self.max_depth:
            self.fail(node, f"the expression is nested too deeply (more than {self.max_depth} levels)")
        method = getattr(self, f"build_{type(node).__name__}", None)
        if method is None:
            self.fail(node, f"{_describe(node)} is not allowed in a formula")
        if isinstance(node, ast.Tuple) and not tuple_ok:
            self.fail(node, "a tuple is allowed only as an argument of Piecewise, Sum or diff")
        try:
            return method(node, depth + 1)
        except ParseError:
            raise
        except _Refused as exc:
            self.fail(node, str(exc))
        except RecursionError:
            self.fail(node, "the expression is nested too deeply")
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            AttributeError,
            IndexError,
            KeyError,
            NotImplementedError,
        ) as exc:
            self.fail(node, f"could not build {_describe(node)}: {_one_line(exc)}")

    def build_Expression(self, node, depth):
        return self.build(node.body, depth)

    def build_Constant(self, node, depth):
        value = node.value
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        if isinstance(value, int):
            if value.bit_length() > MAX_BITS:
                raise _Refused("the number is too large")
            return sympy.Integer(value)
        if isinstance(value, float):
            source = ast.get_source_segment(self.text, node) or repr(value)
            return _exact_decimal(source)
        if isinstance(value, str):
            raise _Refused("strings are not allowed in a formula")
        raise _Refused(f"the constant {value!r} is not allowed")

    def build_Name(self, node, depth):
        name = node.id
        if name.startswith("_"):
            raise _Refused(f"names may not start with an underscore: {name!r}")
        if name in self.ns:
            value = self.ns[name]
            if isinstance(value, sympy.Basic) and not isinstance(value, type):
                return value
            raise _Refused(f"{name} is a function: call it, as in {name}(x)")
        return self._symbol(name)

    def _symbol(self, name: str):
        if name not in self.symbols:
            if name in self.roles.bases:
                self.symbols[name] = IndexedBase(name, real=True)
            elif name in self.roles.indices:
                self.symbols[name] = _index_symbol(name)
            elif name in self.roles.sizes:
                self.symbols[name] = _size_symbol(name)
            else:
                self.symbols[name] = Symbol(name, real=True)
        return self.symbols[name]

    def build_UnaryOp(self, node, depth):
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -self._expr(operand, node.operand)
        if isinstance(node.op, ast.UAdd):
            return self._expr(operand, node.operand)
        if isinstance(node.op, ast.Invert):
            return sympy.Not(self._condition(operand, node.operand))
        raise _Refused("'not' is not allowed: use ~(condition)")

    def build_BinOp(self, node, depth):
        op = type(node.op)
        if op in _REFUSED_BINOPS:
            raise ParseError(_REFUSED_BINOPS[op], self.operator_column(node))
        left, right = self.build(node.left, depth), self.build(node.right, depth)
        if op in (ast.BitAnd, ast.BitOr):
            combine = sympy.And if op is ast.BitAnd else sympy.Or
            return combine(self._condition(left, node.left), self._condition(right, node.right))
        left, right = self._expr(left, node.left), self._expr(right, node.right)
        if op is ast.Pow:
            return _power(left, right)
        return _BINOPS[op](left, right)

    def build_BoolOp(self, node, depth):
        combine = sympy.And if isinstance(node.op, ast.And) else sympy.Or
        return combine(*(self._condition(self.build(v, depth), v) for v in node.values))

    def build_Compare(self, node, depth):
        terms = [self.build(node.left, depth), *(self.build(c, depth) for c in node.comparators)]
        sources = [node.left, *node.comparators]
        for term, source in zip(terms, sources, strict=True):
            self._expr(term, source)
        relations = []
        for op, a, b in zip(node.ops, terms, terms[1:], strict=False):
            if type(op) not in _COMPARE:
                raise _Refused(f"the comparison {_describe(op)} is not allowed")
            relations.append(_COMPARE[type(op)](a, b))
        return relations[0] if len(relations) == 1 else sympy.And(*relations)

    def build_Subscript(self, node, depth):
        if not isinstance(node.value, ast.Name):
            raise _Refused("only a name can be subscripted, as in a[i]")
        base = self.build(node.value, depth)
        if not isinstance(base, IndexedBase):
            raise _Refused(f"{node.value.id} cannot be subscripted")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        indices = []
        for part in parts:
            if isinstance(part, ast.Slice):
                raise _Refused("slices are not allowed: write a[i]")
            index = self._expr(self.build(part, depth), part)
            if not (index.is_integer or index.is_integer is None and not index.is_number):
                raise _Refused(f"an index must be an integer, not {index}")
            indices.append(index)
        return base[tuple(indices)]

    def build_Tuple(self, node, depth):
        return sympy.Tuple(*(self.build(e, depth) for e in node.elts))

    def build_Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise _Refused("only named functions can be called, as in exp(x)")
        name = node.func.id
        if name.startswith("_"):
            raise _Refused(f"names may not start with an underscore: {name!r}")
        if node.keywords:
            raise _Refused(f"keyword arguments are not allowed in a call of {name}")
        function = self.ns.get(name)
        if function is None or (isinstance(function, sympy.Basic) and not isinstance(function, type)):
            if function is None:
                raise _Refused(f"unknown function {name!r}{_suggest(name, self.ns)}")
            raise _Refused(f"{name} is not a function")
        if not callable(function):
            raise _Refused(f"{name} is not a function")
        tuple_ok = function in _TUPLE_FUNCTIONS
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _Refused("*arguments are not allowed")
            value = self.build(arg, depth, tuple_ok=tuple_ok)
            if function not in (_piecewise,) and not isinstance(value, (sympy.Expr, sympy.Tuple)):
                self._expr(value, arg)
            args.append(value)
        return function(*args)

    def build_Starred(self, node, depth):
        raise _Refused("*arguments are not allowed")

    # checks -------------------------------------------------------------------
    def _expr(self, value, node):
        if isinstance(value, IndexedBase):
            self.fail(node, f"{value} is a vector: index it, as in {value}[i]")
        if not isinstance(value, sympy.Expr):
            self.fail(node, f"expected an expression, got the condition {value}")
        return value

    def _condition(self, value, node):
        if not _is_condition(value):
            self.fail(node, f"expected a condition (a comparison), got {value}")
        return value


_DECIMAL = re.compile(r"^(?P<mantissa>[0-9_]*\.?[0-9_]*)(?:[eE](?P<exponent>[+-]?[0-9_]+))?[jJ]?$")


def _exact_decimal(source: str) -> sympy.Rational:
    """A decimal literal as the exact rational it spells: 0.4999999 is 4999999/10000000."""
    match = _DECIMAL.match(source.strip())
    if not match or source.strip().lower().endswith("j"):
        raise _Refused(f"the number {source!r} is not allowed")
    exponent = int(match.group("exponent") or 0)
    if abs(exponent) > MAX_DECIMAL_EXPONENT:
        raise _Refused(f"the exponent of {source} is too large (the limit is 1e{MAX_DECIMAL_EXPONENT})")
    value = Fraction(source.replace("_", ""))
    return sympy.Rational(value.numerator, value.denominator)


def _describe(node) -> str:
    names = {
        "Attribute": "attribute access",
        "Lambda": "a lambda",
        "IfExp": "an if-expression",
        "Dict": "a dict",
        "Set": "a set",
        "List": "a list",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator",
        "Await": "await",
        "Yield": "yield",
        "YieldFrom": "yield",
        "JoinedStr": "an f-string",
        "FormattedValue": "an f-string",
        "NamedExpr": "an assignment (:=)",
        "Slice": "a slice",
        "Is": "'is'",
        "IsNot": "'is not'",
        "In": "'in'",
        "NotIn": "'not in'",
    }
    kind = type(node).__name__
    return names.get(kind, kind)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _suggest(name: str, namespace: Mapping[str, object]) -> str:
    import difflib

    callables = [k for k, v in namespace.items() if callable(v) and not isinstance(v, sympy.Basic)]
    close = difflib.get_close_matches(name, callables, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


# --------------------------------------------------------------------------------------------
# the allowlist of SymPy nodes, for results built here and by the LaTeX parser


_ALLOWED_TYPES: tuple[type, ...] = (
    sympy.Symbol,
    sympy.Number,
    sympy.NumberSymbol,
    sympy.Add,
    sympy.Mul,
    sympy.Pow,
    sympy.exp,
    sympy.log,
    sympy.tanh,
    sympy.sinh,
    sympy.cosh,
    sympy.atanh,
    sympy.asinh,
    sympy.sin,
    sympy.cos,
    sympy.tan,
    sympy.atan,
    sympy.erf,
    sympy.erfc,
    Abs,
    sympy.sign,
    Max,
    Min,
    Heaviside,
    sympy.DiracDelta,
    Piecewise,
    sympy.functions.elementary.piecewise.ExprCondPair,
    KroneckerDelta,
    Sum,
    sympy.Product,
    Derivative,
    Indexed,
    IndexedBase,
    sympy.Tuple,
    sympy.factorial,
    sympy.core.relational.Relational,
    sympy.And,
    sympy.Or,
    sympy.Not,
    sympy.logic.boolalg.BooleanAtom,
)


def check_allowed(expr: sympy.Basic, *, max_size: int = 20 * MAX_NODES) -> sympy.Expr:
    """Return ``expr`` if every node is of an allowed type and it is of a bounded size; else ParseError.

    >>> from sympy import Symbol, exp, zoo
    >>> check_allowed(exp(Symbol("x")))
    exp(x)
    >>> check_allowed(Symbol("x") + zoo)
    Traceback (most recent call last):
    ...
    symact.errors.ParseError: the formula is undefined (it contains zoo)
    """
    from .functions import NamedFunction

    if not isinstance(expr, sympy.Expr):
        raise ParseError(f"expected an expression, got {type(expr).__name__} {expr}")
    count = 0
    stack = [(expr, None)]
    while stack:
        node, parent = stack.pop()
        count += 1
        if count > max_size:
            raise ParseError(f"the formula is too large (more than {max_size} nodes)")
        if node is sympy.nan or node is sympy.zoo:
            raise ParseError(f"the formula is undefined (it contains {node})")
        if not (isinstance(node, NamedFunction) or isinstance(node, _ALLOWED_TYPES)):
            raise ParseError(f"{type(node).__name__} is not allowed in a formula")
        if isinstance(node, sympy.Tuple) and not isinstance(parent, (Sum, sympy.Product, Derivative, Piecewise)):
            raise ParseError("a tuple is allowed only in the limits of a Sum")
        if isinstance(node, sympy.Float) and not math.isfinite(float(node)):
            raise ParseError("the formula contains a non-finite number")
        stack.extend((arg, node) for arg in node.args)
    return expr


# --------------------------------------------------------------------------------------------


def check_text(text: object, max_length: int) -> None:
    """Refuse what is not a formula's text before any parsing: a non-string, too long, a NUL."""
    if not isinstance(text, str):
        raise ParseError(f"expected a string, got {type(text).__name__}")
    if len(text) > max_length:
        raise ParseError(f"the formula is too long ({len(text)} characters; the limit is {max_length})", max_length)
    if "\x00" in text:
        raise ParseError("the formula contains a NUL character", text.index("\x00") + 1)


def parse_sympy(
    text: str,
    namespace: Mapping[str, object] | None = None,
    *,
    max_length: int = MAX_LENGTH,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> sympy.Expr:
    """Parse ``text``, written in SymPy/Python syntax, into a SymPy expression without evaluating it.

    ``namespace`` maps names to SymPy objects (symbols, constants) or to allowlisted callables; it
    is added to (and overrides) :func:`default_namespace`.  Raises :class:`~symact.errors.ParseError`
    with the column of the problem for anything that is not a formula.
    """
    check_text(text, max_length)
    flat = re.sub(r"[\r\n\t\f\v]", " ", text)
    body = flat.lstrip()
    if not body.strip():
        raise ParseError("the formula is empty")
    shift = len(flat) - len(body)  # columns in the tree count from the stripped text
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and friends: the error says enough
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        raise ParseError(f"invalid syntax: {exc.msg}", exc.offset + shift if exc.offset else None) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ParseError(f"could not read the formula: {_one_line(exc)}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > max_nodes:
        raise ParseError(f"the formula is too large ({count} syntax nodes; the limit is {max_nodes})")
    roles = _Roles()
    roles.visit(tree)
    ns = _default_namespace() if namespace is None else {**_default_namespace(), **namespace}
    builder = _Builder(body, ns, roles, max_depth, shift)
    result = builder.build(tree)
    if not isinstance(result, sympy.Expr):
        raise ParseError("expected an expression, got a condition (a comparison belongs inside Piecewise)", 1)
    return check_allowed(result)
