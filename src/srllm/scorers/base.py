"""Scorer interface and registry.

A scorer is one small class registered with one line::

    @register_scorer("toxicity", aliases=("jigsaw",))
    class JigsawToxicity(Scorer): ...

Single-text scorers implement `_score_batch(texts)`; pairwise scorers (original -> rewrite)
implement `_score_pair_batch(sources, targets)`. The public calls `score(texts)` and
`score_pairs(sources, targets)` batch the input, show a rich progress bar for long inputs and
return one `dict[str, float]` per text. Models load lazily on the first call, so building a
scorer (and listing them) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from srllm.errors import InputError, SrllmError
from srllm.registry import Registry

# Below this many texts a progress bar is noise (tests, single API calls).
PROGRESS_MIN_TEXTS = 256

Result = dict[str, float]


class Scorer:
    """Base class: per-text scores, batched, with lazy model loading."""

    name: ClassVar[str] = ""
    pairwise: ClassVar[bool] = False
    # The key most callers want (e.g. for a "higher is worse" summary table).
    main_key: ClassVar[str] = ""
    batch_size: int = 32

    def __init__(self, batch_size: int | None = None, progress: bool | None = None) -> None:
        if batch_size is not None:
            self.batch_size = batch_size
        # None = automatic (on for long inputs), True/False forces it.
        self.progress = progress

    # -- override these ---------------------------------------------------------------------
    def load(self) -> None:
        """Load models/resources; called once before the first batch. Override if needed."""

    def _score_batch(self, texts: list[str]) -> list[Result]:
        raise SrllmError(f"scorer '{self.name}' is pairwise; call score_pairs(sources, targets)")

    def _score_pair_batch(self, sources: list[str], targets: list[str]) -> list[Result]:
        raise SrllmError(f"scorer '{self.name}' scores single texts; call score(texts)")

    # -- public API -------------------------------------------------------------------------
    def score(self, texts: Sequence[str]) -> list[Result]:
        """One dict of float scores per text."""
        if self.pairwise:
            raise SrllmError(f"scorer '{self.name}' is pairwise; call score_pairs(sources, targets)")
        texts = _check_texts(texts, "texts")
        self.ensure_loaded()
        out: list[Result] = []
        for start, stop in self._batches(len(texts)):
            out.extend(self._score_batch(texts[start:stop]))
        return out

    def score_pairs(self, sources: Sequence[str], targets: Sequence[str]) -> list[Result]:
        """One dict of float scores per (source, target) pair, e.g. original -> rewrite."""
        if not self.pairwise:
            raise SrllmError(f"scorer '{self.name}' scores single texts; call score(texts)")
        sources = _check_texts(sources, "sources")
        targets = _check_texts(targets, "targets")
        if len(sources) != len(targets):
            raise InputError(
                f"got {len(sources)} sources but {len(targets)} targets; pass one rewrite per original",
                field="targets",
            )
        self.ensure_loaded()
        out: list[Result] = []
        for start, stop in self._batches(len(sources)):
            out.extend(self._score_pair_batch(sources[start:stop], targets[start:stop]))
        return out

    # -- helpers ----------------------------------------------------------------------------
    _loaded: bool = False

    def ensure_loaded(self) -> None:
        """Load the scorer now if it is not loaded yet (the first score call does it otherwise)."""
        if not self._loaded:
            self.load()
            self._loaded = True

    def _batches(self, n: int) -> Iterator[tuple[int, int]]:
        show = self.progress if self.progress is not None else n >= PROGRESS_MIN_TEXTS
        starts = range(0, n, max(1, self.batch_size))
        if not show:
            for start in starts:
                yield start, min(n, start + self.batch_size)
            return
        columns = (TextColumn(f"[bold]{self.name}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(self.name, total=n)
            for start in starts:
                stop = min(n, start + self.batch_size)
                yield start, stop
                bar.update(task, advance=stop - start)


def _check_texts(texts: Sequence[str], field: str) -> list[str]:
    if isinstance(texts, str):
        raise InputError("expected a list of texts, got a single string; wrap it in a list", field=field)
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"item {i} is {type(text).__name__}, not a string", field=field)
    return items


# -- registry -------------------------------------------------------------------------------
SCORERS: Registry[type[Scorer]] = Registry("scorer", field="scorer")

S = TypeVar("S", bound=type[Scorer])


def register_scorer(name: str, aliases: Sequence[str] = ()) -> Callable[[S], S]:
    """Class decorator: make a scorer available as `get_scorer(name)`."""

    def decorate(cls: S) -> S:
        SCORERS.register(name, cls, aliases=aliases)
        cls.name = name
        return cls

    return decorate


def list_scorers() -> list[str]:
    """Registered scorer names (aliases not included), sorted."""
    return sorted(SCORERS.names())


def scorer_class(name: str) -> type[Scorer]:
    return SCORERS.get(name)


def get_scorer(name: str, **kwargs: object) -> Scorer:
    """Build the scorer registered as `name` (or an alias); models load on first use."""
    return scorer_class(name)(**kwargs)  # type: ignore[arg-type]
