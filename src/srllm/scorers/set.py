"""A set of named scorers, each built once and shared: the guard's, the service's, an experiment's.

Building a scorer is cheap and its model loads on the first score call; `load()` loads them up
front, so a missing model fails before any text is scored (the guard at start, the server at boot).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from srllm.scorers.base import Result, Scorer, get_scorer, scorer_class

WARM_UP = ["warm-up"]


class ScorerSet:
    """`scorers["toxicity"].score(texts)`: the named scorers, built on first use (thread-safe).

    progress: the scorers' progress bars (None: automatic for long inputs). factories: how to build
    a scorer that needs arguments (the perplexity scorer's reference model), by name.
    """

    def __init__(self, names: Iterable[str], *, progress: bool | None = False,
                 factories: Mapping[str, Callable[[], Scorer]] | None = None) -> None:
        self.names = list(dict.fromkeys(names))
        self.classes = {name: scorer_class(name) for name in self.names}  # an unknown name fails now
        self.progress = progress
        self._factories = dict(factories or {})
        self._scorers: dict[str, Scorer] = {}
        self._lock = threading.RLock()

    def __getitem__(self, name: str) -> Scorer:
        with self._lock:
            if name not in self._scorers:
                if name not in self.classes:
                    raise KeyError(f"scorer '{name}' is not in this set ({', '.join(self.names)})")
                build = self._factories.get(name) or (lambda: get_scorer(name, progress=self.progress))
                self._scorers[name] = build()
            return self._scorers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def load(self, names: Sequence[str] | None = None, *, warm_up: bool = False) -> ScorerSet:
        """Build and load the named scorers (default: all) now, in order; warm_up also scores one short
        text with each. A scorer that cannot load raises its own error, so the caller can name it."""
        for name in self.names if names is None else names:
            scorer = self[name]
            scorer.ensure_loaded()
            if warm_up and scorer.pairwise:
                scorer.score_pairs(WARM_UP, WARM_UP)
            elif warm_up:
                scorer.score(WARM_UP)
        return self

    @property
    def built(self) -> bool:
        """Whether every scorer of the set has been built (`load()` has run)."""
        return all(name in self._scorers for name in self.names)

    def is_pairwise(self, name: str) -> bool:
        return bool(self.classes[name].pairwise)

    def main_value(self, name: str, details: Result) -> float | None:
        """The one number a summary shows for this scorer's details (its `main_key`)."""
        key = self.classes[name].main_key or name
        return details.get(key, details.get(name))

    def score(self, texts: list[str], names: Sequence[str],
              originals: list[str] | None = None) -> list[dict[str, Result]]:
        """Per text: {scorer: {key: value}}; pairwise scorers compare each text with its original."""
        out: list[dict[str, Result]] = [{} for _ in texts]
        for name in names:
            scorer = self[name]
            rows = scorer.score_pairs(originals or [], texts) if self.is_pairwise(name) else scorer.score(texts)
            for slot, row in zip(out, rows, strict=True):
                slot[name] = {key: float(value) for key, value in row.items()}
        return out

    @property
    def judge(self) -> Any:
        """The judge model behind the set's 'judge' scorer (labels, harmful spans, its threshold), loaded."""
        self.load(["judge"])
        return self["judge"].judge  # type: ignore[attr-defined]

    def judged(self, texts: Sequence[str]) -> list[Any]:
        """The judge's result (scores, labels, harmful spans) for each text."""
        return self.judge.judge(list(texts)) if texts else []
