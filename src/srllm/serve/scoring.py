"""The local scorers behind /v1/score and `"score": true` rewrites, on their own worker thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any


class ScorerPool:
    """Scorers load once (lazily, or in the background at start-up) and run on one thread."""

    def __init__(self, names: Sequence[str]) -> None:
        from srllm.evaluate.scorers import scorer_class

        self.names = list(dict.fromkeys(names))
        self.classes = {name: scorer_class(name) for name in self.names}  # unknown names fail at start-up
        self._scorers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def is_pairwise(self, name: str) -> bool:
        return bool(self.classes[name].pairwise)

    def _get(self, name: str) -> Any:
        with self._lock:
            if name not in self._scorers:
                from srllm.evaluate.scorers import get_scorer

                self._scorers[name] = get_scorer(name, progress=False)
            return self._scorers[name]

    def preload(self) -> None:
        for name in self.names:
            scorer = self._get(name)
            scorer._ensure_loaded()

    def score(self, texts: list[str], names: Sequence[str],
              originals: list[str] | None = None) -> list[dict[str, dict[str, float]]]:
        """Per text: {scorer: {key: value}}."""
        out: list[dict[str, dict[str, float]]] = [{} for _ in texts]
        for name in names:
            scorer = self._get(name)
            if self.is_pairwise(name):
                rows = scorer.score_pairs(originals or [], texts)
            else:
                rows = scorer.score(texts)
            for slot, row in zip(out, rows, strict=True):
                slot[name] = {key: float(value) for key, value in row.items()}
        return out

    def judge(self, texts: list[str]) -> list[dict[str, Any]]:
        """The judge's full answer per text (scores, status, harmful spans), from the pool's judge scorer."""
        scorer = self._get("judge")
        scorer._ensure_loaded()
        return [result.to_dict() for result in scorer.judge.judge(texts)]

    def main_value(self, name: str, details: dict[str, float]) -> float | None:
        key = self.classes[name].main_key or name
        return details.get(key, details.get(name))
