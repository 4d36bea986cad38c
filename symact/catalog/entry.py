"""The records the catalog is made of: one :class:`Entry` per activation or loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import sympy

__all__ = ["Kind", "Param", "Aux", "Named", "Variant", "Entry"]


class Kind(str, Enum):
    """What shape of function an entry is."""

    ELEMENTWISE = "elementwise"  #: f: R -> R applied to each element
    VECTOR = "vector"  #: p_i(a_1..a_n), a function of the whole vector (softmax)
    LOSS = "loss"  #: a scalar (or per-element) loss of logits and labels


@dataclass(frozen=True)
class Param:
    """A parameter of an entry: a positive symbol with a default value."""

    symbol: sympy.Symbol
    default: sympy.Expr
    description: str
    learnable: bool = False

    @property
    def name(self) -> str:
        return self.symbol.name


@dataclass(frozen=True)
class Aux:
    """An auxiliary input that is not differentiated: labels, a dropout mask, a sampled slope.

    ``domain`` says how to sample it in numeric proofs and kernel checks: ``real``, ``unit`` (0..1),
    ``nonnegative`` (y >= 0), ``binary`` ({0, 1}), ``sign`` ({-1, +1}), ``simplex`` (non-negative, summing to 1
    over its index) or ``index`` (an integer class index in [0, n)).  ``sizes`` are the size symbols of an
    indexed input, one per axis.
    """

    symbol: sympy.Symbol | sympy.IndexedBase
    description: str
    domain: str = "real"
    sizes: tuple[sympy.Symbol, ...] = ()


@dataclass(frozen=True)
class Named:
    """An intermediate that textbook forms are written with: ``base[index] = expr``.

    Softmax's p_i = exp(a_i) / sum_k exp(a_k) lets the Jacobian print as p_i (delta_ij - p_j).
    """

    base: sympy.IndexedBase
    index: sympy.Symbol
    expr: sympy.Expr
    description: str


@dataclass(frozen=True)
class Variant:
    """Another definition of the same entry (rrelu in training mode, with a sampled slope)."""

    name: str
    definition: sympy.Expr
    description: str


@dataclass(frozen=True)
class Entry:
    """One activation or loss, defined once as plain maths.

    ``definition`` is written with SymPy's built-in functions only (exp, log, tanh, Piecewise,
    Sum, ...); the named functions of :mod:`symact.functions` are recognised in it by the
    derivation.  ``wrt`` lists what gradients are taken with respect to (``x``; ``a[j]``;
    ``w[j]`` and ``b``).  ``subgradients`` records the value chosen for f' at each kink, which
    the Piecewise conditions of the definition must produce (relu'(0) = 0, as PyTorch and JAX).
    """

    name: str
    kind: Kind
    summary: str
    definition: sympy.Expr
    variable: sympy.Symbol | sympy.IndexedBase
    wrt: tuple[sympy.Expr, ...]
    params: tuple[Param, ...] = ()
    aux: tuple[Aux, ...] = ()
    output: sympy.Symbol | sympy.IndexedBase | None = None
    named: tuple[Named, ...] = ()
    index_ranges: tuple[tuple[sympy.Symbol, sympy.Symbol], ...] = ()
    kinks: tuple[sympy.Expr, ...] = ()
    subgradients: tuple[tuple[sympy.Expr, sympy.Expr], ...] = ()
    aliases: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    notes: str = ""
    #: where the differentiated input of an elementwise loss lives, in the words of :class:`Aux`'s domains:
    #: ``real`` (a logit, a prediction) or ``unit`` (a probability in [0, 1], checked by the kernels)
    input_domain: str = "real"
    builtin: bool = field(default=True, compare=False)

    @property
    def is_indexed(self) -> bool:
        """True for entries written with Indexed symbols and sums over an index."""
        return bool(self.index_ranges)

    @property
    def defaults(self) -> dict[sympy.Symbol, sympy.Expr]:
        """The parameters' default values, by symbol."""
        return {p.symbol: p.default for p in self.params}

    def param(self, name: str) -> Param:
        """The parameter called ``name``; KeyError names the known ones."""
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise KeyError(f"{self.name} has no parameter {name!r} (parameters: {known})")
