"""Figures: each function beside its derivative, and comparison figures of families.

Matplotlib's Agg canvas (without pyplot, so a user's backend is left alone), fixed fonts and
sizes, no dates or version strings in the files, and a fixed SVG hash salt, so that the same
catalog gives the same bytes (with the same matplotlib).
Figures are returned as bytes, so that the freshness check of docs/ can compare in memory.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import sympy

from .catalog import Entry, Kind
from .errors import InputError

__all__ = ["Figure", "FAMILIES", "function_figure", "family_figure", "XRANGE"]

XRANGE = (-6.0, 6.0)  #: the x-range of every figure
POINTS = 481

#: comparison figures: title, entry names
FAMILIES = {
    "classic": ("Classic activations", ("sigmoid", "tanh", "relu", "softplus", "elu")),
    "relu": ("The ReLU family", ("relu", "leaky_relu", "prelu", "rrelu", "elu")),
    "gated": ("Smooth gated activations", ("silu", "swish", "mish", "softplus")),
}

_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "svg.hashsalt": "symact",
    "svg.fonttype": "none",
    "path.simplify": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}


@dataclass(frozen=True)
class Figure:
    """A rendered figure: its file stem and the SVG and PNG bytes."""

    stem: str
    title: str
    svg: bytes
    png: bytes


def _plain(entry: Entry, params=None) -> sympy.Expr:
    if entry.kind is not Kind.ELEMENTWISE:
        raise InputError(f"{entry.name}: only elementwise functions are plotted")
    values = dict(entry.defaults)
    values.update(params or {})
    f = entry.definition.subs(values)
    free = f.free_symbols - {entry.variable}
    if free:
        names = ", ".join(sorted(s.name for s in free))
        raise InputError(f"{entry.name}: cannot plot, {names} has no value")
    return f


def plottable(entry: Entry) -> bool:
    """True for an elementwise entry whose definition has numbers for every symbol but x."""
    try:
        _plain(entry)
    except InputError:
        return False
    return True


def _curve(expr: sympy.Expr, x: sympy.Symbol, xs: np.ndarray) -> np.ndarray:
    """expr at each of xs, evaluated with mpmath (any SymPy function, Piecewise included)."""
    import mpmath

    fn = sympy.lambdify(x, expr, modules="mpmath")

    def value(v):
        try:
            return float(fn(mpmath.mpf(float(v))))
        except (ZeroDivisionError, TypeError, ValueError, OverflowError):
            return np.nan  # a pole or a complex value: a gap in the curve

    with mpmath.workdps(20):
        return np.array([value(v) for v in xs])


def _render(fig) -> tuple[bytes, bytes]:
    svg, png = io.BytesIO(), io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    fig.savefig(png, format="png", metadata={"Software": None})
    return svg.getvalue(), png.getvalue()


def _axes(title: str):
    # a Figure on an Agg canvas, without pyplot: no global state, no switch of the user's backend
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(8, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    fig.suptitle(title)
    for ax, label in ((left, "f(x)"), (right, "f'(x)")):
        ax.set_xlabel("x")
        ax.set_title(label)
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.set_xlim(*XRANGE)
    return fig, left, right


def function_figure(entry: Entry, params=None) -> Figure:
    """f and f' side by side, at the default parameters (or ``params``)."""
    if not params:
        return _default_figure(entry)
    return _function_figure(entry, params)


@functools.lru_cache(maxsize=64)
def _default_figure(entry: Entry) -> Figure:
    return _function_figure(entry, None)


def _function_figure(entry: Entry, params) -> Figure:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        f = _plain(entry, params)
        x = entry.variable
        xs = np.linspace(*XRANGE, POINTS)
        fig, left, right = _axes(f"{entry.name}")
        left.plot(xs, _curve(f, x, xs), color="C0", linewidth=1.6)
        right.plot(xs, _curve(sympy.diff(f, x), x, xs), color="C3", linewidth=1.6)
        svg, png = _render(fig)
    return Figure(entry.name, entry.name, svg, png)


def family_figure(key: str, entries: Iterable[Entry]) -> Figure:
    """The members of a family on the same axes: f on the left, f' on the right."""
    return _family_figure(key, tuple(entries))


@functools.lru_cache(maxsize=16)
def _family_figure(key: str, entries: tuple[Entry, ...]) -> Figure:
    import matplotlib

    title = FAMILIES[key][0] if key in FAMILIES else key
    with matplotlib.rc_context(_STYLE):
        xs = np.linspace(*XRANGE, POINTS)
        fig, left, right = _axes(title)
        for n, entry in enumerate(entries):
            f = _plain(entry)
            x = entry.variable
            style = {"color": f"C{n}", "linewidth": 1.4, "linestyle": ("-", "--", "-.", ":")[n % 4]}
            left.plot(xs, _curve(f, x, xs), label=entry.name, **style)
            right.plot(xs, _curve(sympy.diff(f, x), x, xs), **style)
        left.legend(loc="upper left", fontsize=8)
        svg, png = _render(fig)
    return Figure(f"family_{key}", title, svg, png)
