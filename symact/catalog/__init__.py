"""The catalog: every activation and loss symact knows, each defined once.

Adding a function means adding one :class:`Entry` to ``activations.py`` or ``losses.py``; every
product (derivations, documents, kernels, the verifier) and every parametrised test picks it up.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .activations import ACTIVATIONS, VECTOR_ACTIVATIONS
from .entry import Aux, Entry, Kind, Named, Param, Variant
from .losses import LOSSES

__all__ = [
    "Aux",
    "Entry",
    "Kind",
    "Named",
    "Param",
    "Variant",
    "UnknownEntryError",
    "Registry",
    "CATALOG",
    "get",
    "names",
    "entries",
]


class UnknownEntryError(KeyError):
    """A name that is neither a catalog entry nor an alias of one."""

    def __init__(self, name: str, suggestions: Iterable[str]):
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown function {name!r}{hint} ('symact list' shows them all)")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class Registry:
    """Entries by name and alias; refuses duplicates so that a name always means one function."""

    def __init__(self, entries: Iterable[Entry] = ()):
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        for key in (entry.name, *entry.aliases):
            owner = self._entries.get(key) or self._aliases.get(key)
            if owner is not None:
                raise ValueError(f"{key!r} already names {getattr(owner, 'name', owner)}")
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name

    def get(self, name: str) -> Entry:
        """The entry called ``name`` (or aliased so); :class:`UnknownEntryError` suggests close names."""
        if name in self._entries:
            return self._entries[name]
        if name in self._aliases:
            return self._entries[self._aliases[name]]
        candidates = [*self._entries, *self._aliases]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        close = [self._aliases.get(c, c) for c in close]
        raise UnknownEntryError(name, dict.fromkeys(close))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self):
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)


CATALOG = Registry((*ACTIVATIONS, *VECTOR_ACTIVATIONS, *LOSSES))


def get(name: str) -> Entry:
    """The built-in entry called ``name`` or aliased so."""
    return CATALOG.get(name)


def names() -> list[str]:
    """Every built-in entry's name, in catalog order."""
    return CATALOG.names()


def entries() -> list[Entry]:
    """Every built-in entry, in catalog order."""
    return list(CATALOG)
