"""Registries that find their entries: the built-in ones, every module of a package that declares some, and
installed distributions' entry points. A new puzzle family (or dataset preset) is a new file; no list elsewhere
is edited (docs/EXTENDING.md).

    FAMILIES = Registry("trm.tasks", "FAMILY", key=lambda c: c.kind, group="trm.tasks", builtins=...)
    FAMILIES["nqueens"]          # discovers on first use: trm/tasks/*.py with FAMILY = ..., then entry points

A module declares its entries under the registry's attribute (one object, or a list/tuple of them); an entry
point of the registry's group names one object (``"mypkg.puzzles:MyTask"``) or a list of them. Two entries with
the same key are an error naming both, never a silent replacement. Standard library only (this module is part of
the task layer, which is copied into export folders).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from ..errors import TRMError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A read-only mapping key -> entry, filled on first use from ``builtins()`` (in their order), then the
    modules of ``package`` (sorted by name) that define ``attr``, then the entry points of ``group``."""

    def __init__(
        self,
        package: str,
        attr: str,
        key: Callable[[T], str],
        builtins: Callable[[], Iterable[T]] = tuple,
        group: str | None = None,
        what: str = "entry",
    ) -> None:
        self._package, self._attr, self._key, self._builtins = package, attr, key, builtins
        self._group, self._what = group, what
        self._entries: dict[str, T] | None = None
        self._origin: dict[str, str] = {}
        self._loading = False

    def _add(self, entries: dict[str, T], obj: Any, origin: str) -> None:
        for item in obj if isinstance(obj, (list, tuple)) else (obj,):
            name = self._key(item)
            if name in entries:
                raise TRMError(
                    f"two {self._what}s named {name!r}: one from {self._origin[name]}, one from {origin}"
                )
            entries[name], self._origin[name] = item, origin

    def _load(self) -> dict[str, T]:
        if self._entries is not None:
            return self._entries
        if self._loading:  # a module being discovered asked for the registry: it sees the built-ins only
            return {self._key(b): b for b in self._builtins()}
        self._loading = True
        try:
            entries: dict[str, T] = {}
            self._add(entries, list(self._builtins()), "the built-ins")
            known = {id(v) for v in entries.values()}
            package = importlib.import_module(self._package)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                module = importlib.import_module(f"{self._package}.{info.name}")
                found = getattr(module, self._attr, None)
                if found is not None:
                    items = found if isinstance(found, (list, tuple)) else (found,)
                    self._add(entries, [i for i in items if id(i) not in known], module.__name__)
            if self._group:
                self._add_entry_points(entries)
            self._entries = entries
        finally:
            self._loading = False
        return entries

    def _add_entry_points(self, entries: dict[str, T]) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=self._group):
            try:
                obj = ep.load()
            except Exception as e:  # a broken plug-in names itself instead of breaking every command
                raise TRMError(
                    f"the {self._group} entry point {ep.name!r} ({ep.value}) failed to load: {e}"
                ) from e
            self._add(entries, obj, f"the entry point {ep.name!r} ({ep.value})")

    def origin(self, name: str) -> str:
        """Where entry ``name`` was found (a module, an entry point or the built-ins)."""
        self._load()
        return self._origin[name]

    def __getitem__(self, name: str) -> T:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __repr__(self) -> str:
        return f"Registry({self._package}.*.{self._attr}: {', '.join(self._load())})"
