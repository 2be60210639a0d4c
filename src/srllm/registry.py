"""One registry for every named, pluggable part of srllm: scorers, experiments, training methods, models,
serve backends, data checks, importers, targeted generators, leakage and mix sources.

Modelled on lm-evaluation-harness `lm_eval/api/registry.py`: a name (and its aliases) maps to an object,
or to a lazy `"module:attr"` path imported on first `get`, so an optional backend (llama-cpp,
openai/httpx) is imported only when a user chooses it. Every unknown name raises one error type,
`UnknownNameError`, which suggests close names and lists the valid ones.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from srllm.errors import InputError, SrllmError

T = TypeVar("T")
U = TypeVar("U")


class UnknownNameError(InputError):
    """A name no registry entry answers to; the message suggests close names and lists the valid ones."""

    def __init__(self, kind: str, name: object, known: Sequence[str], aliases: Sequence[str] = (), *,
                 path: str | None = None, line: int | None = None, field: str | None = None) -> None:
        self.kind, self.name = kind, name
        candidates = [*known, *aliases]
        # Close spellings, and names a short form starts (`smollm2` -> `smollm2-135m-instruct`).
        close = difflib.get_close_matches(str(name), candidates, n=3)
        starts = [c for c in candidates if str(name) and c.startswith(str(name))]
        self.suggestions = list(dict.fromkeys(close + starts))[:3]
        hint = f" (did you mean {' or '.join(repr(s) for s in self.suggestions)}?)" if self.suggestions else ""
        also = f" (aliases: {', '.join(sorted(aliases))})" if aliases else ""
        listed = ", ".join(sorted(known)) or "(none registered)"
        super().__init__(f"unknown {kind} {name!r}{hint}; use one of: {listed}{also}",
                         path=path, line=line, field=field)


class DuplicateNameError(SrllmError, ValueError):
    """Two entries claim one name or alias (a programming error, also in a user's plugin)."""


@dataclass(frozen=True)
class _Lazy:
    """A `"module:attr"` path, imported on first use."""

    target: str

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Names (and aliases) -> objects of one kind; safe to register and look up from several threads.

    `kind` names the entries in messages ("scorer", "training method"). `builtins` is a module that
    registers the built-in entries when imported; it is imported on the first lookup or listing, so a
    registry can live in a base module its entries import without an import cycle. `field` is the
    config field a name usually comes from, named in the error (a call can name another).
    Iterating yields names in registration order, which some registries use as priority order.
    """

    def __init__(self, kind: str, *, builtins: str | None = None, field: str | None = None) -> None:
        self.kind, self.field = kind, field
        self._builtins = builtins
        self._builtins_loaded = builtins is None
        self._entries: dict[str, T | _Lazy] = {}
        self._aliases: dict[str, str] = {}
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------------------

    @overload
    def register(self, name: str, obj: None = None, *, aliases: Iterable[str] = (),
                 lazy: None = None) -> Callable[[U], U]: ...

    @overload
    def register(self, name: str, obj: U, *, aliases: Iterable[str] = (), lazy: None = None) -> U: ...

    @overload
    def register(self, name: str, obj: None = None, *, aliases: Iterable[str] = (), lazy: str) -> None: ...

    def register(self, name: str, obj: Any = None, *, aliases: Iterable[str] = (),
                 lazy: str | None = None) -> Any:
        """Add `obj` as `name`; without `obj` (and without `lazy`) a decorator that adds what it decorates.

        `lazy="module:attr"` adds an entry imported on its first `get`.
        """
        aliases = tuple(aliases)
        if lazy is not None:
            if obj is not None:
                raise TypeError("register takes an object or lazy='module:attr', not both")
            module, _, attr = lazy.partition(":")
            if not module or not attr:
                raise ValueError(f"lazy entry {lazy!r} for {self.kind} {name!r} is not 'module:attr'")
            self._add(name, _Lazy(lazy), aliases)
            return None
        if obj is not None:
            self._add(name, obj, aliases)
            return obj

        def decorate(target: U) -> U:
            self._add(name, target, aliases)
            return target

        return decorate

    def _add(self, name: str, entry: Any, aliases: tuple[str, ...]) -> None:
        with self._lock:
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise DuplicateNameError(f"{self.kind} name {key!r} is registered twice")
            if len(set(aliases) | {name}) != len(aliases) + 1:
                raise DuplicateNameError(f"{self.kind} {name!r} repeats a name among its aliases {aliases}")
            self._entries[name] = entry
            self._aliases.update(dict.fromkeys(aliases, name))

    def remove(self, name: str) -> None:
        """Forget `name` and its aliases (a plugin or a test undoing its registration)."""
        with self._lock:
            self._entries.pop(name, None)
            for alias in [a for a, target in self._aliases.items() if target == name]:
                del self._aliases[alias]

    # -- lookup -------------------------------------------------------------------------------

    def _load_builtins(self) -> None:
        # Outside the lock: the import registers entries (taking the lock) and is thread-safe itself.
        if not self._builtins_loaded and self._builtins:
            importlib.import_module(self._builtins)
            self._builtins_loaded = True

    def get(self, name: str, *, path: str | None = None, line: int | None = None,
            field: str | None = None) -> T:
        """The entry registered as `name` or an alias, importing a lazy entry once.

        Raises UnknownNameError (naming `path`, `line` and `field`, default the registry's field).
        """
        self._load_builtins()
        with self._lock:
            key = self._aliases.get(name, name) if isinstance(name, str) else None
            if key not in self._entries:
                raise UnknownNameError(self.kind, name, list(self._entries), list(self._aliases),
                                       path=path, line=line, field=field or self.field)
            entry = self._entries[key]
            if isinstance(entry, _Lazy):
                entry = self._entries[key] = entry.load()
            return entry

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._load_builtins()
        with self._lock:
            return name in self._entries or name in self._aliases

    def names(self) -> list[str]:
        """Registered names in registration order (aliases not included)."""
        self._load_builtins()
        with self._lock:
            return list(self._entries)

    def aliases(self) -> dict[str, str]:
        """Alias -> the name it stands for."""
        self._load_builtins()
        with self._lock:
            return dict(self._aliases)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order; imports every lazy entry."""
        return [(name, self.get(name)) for name in self.names()]

    def values(self) -> list[T]:
        return [entry for _, entry in self.items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
