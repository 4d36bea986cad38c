"""The exceptions symact raises for bad input; the command line turns each into one line and exit 2."""

from __future__ import annotations

__all__ = ["SymactError", "ParseError", "InputError"]


class SymactError(Exception):
    """Base class of symact's errors about its input."""


class ParseError(SymactError, ValueError):
    """A user's expression could not be read: a syntax error, a name that is not allowed, or a
    size or depth limit passed.  ``position`` is the 1-based column where the problem starts."""

    def __init__(self, message: str, position: int | None = None):
        self.position = position
        where = f" (at column {position})" if position is not None else ""
        super().__init__(f"{message}{where}")


class InputError(SymactError, ValueError):
    """An argument that is well-formed but unusable: an unknown parameter, a bad value."""
