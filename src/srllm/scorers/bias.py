"""Bias / stereotype scorer: a logistic-regression head over all-MiniLM-L6-v2 embeddings.

Toxicity models miss polite stereotypes; this head is trained on srllm's own CMD seed data
(see train_bias.py, which also records the data hash and the held-out/external metrics in the
shipped head JSON). `biased_spans(text)` explains a score by occlusion: the words whose
removal lowers the bias probability most.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from srllm.errors import ModelNotAvailableError
from srllm.paths import ASSETS_DIR
from srllm.scorers.base import Result, Scorer, register_scorer

WORD_RE = re.compile(r"[\w'’\-]+")
# The shipped head; `python -m srllm.scorers.train_bias` writes it.
HEAD_PATH = ASSETS_DIR / "scorers" / "bias_head.json"


def default_head_path() -> Path:
    return HEAD_PATH


@register_scorer("bias", aliases=("stereotype",))
class BiasScorer(Scorer):
    """`bias` = P(text is biased/stereotyping), `bias_flag` = bias >= the head's threshold."""

    main_key = "bias"
    batch_size = 64

    def __init__(self, head: dict | None = None, head_path: str | Path | None = None,
                 embedder_path: str | None = None, threshold: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head, self.head_path = head, Path(head_path) if head_path else None
        self.embedder_path = embedder_path
        self._threshold = threshold

    def load(self) -> None:
        if self.head is None:
            path = self.head_path or default_head_path()
            if not path.is_file():
                raise ModelNotAvailableError(
                    f"bias head {path} is missing; train it with "
                    "`python -m srllm.scorers.train_bias` or pass head_path="
                )
            self.head = json.loads(path.read_text(encoding="utf-8"))
        self.coef = np.asarray(self.head["coef"], dtype=np.float32)
        self.intercept = float(self.head["intercept"])
        self.threshold = self._threshold if self._threshold is not None else float(self.head["threshold"])

    def probabilities(self, texts: list[str]) -> np.ndarray:
        from srllm.scorers.embeddings import embed

        self.ensure_loaded()
        if not texts:
            return np.zeros(0)
        logits = embed(list(texts), self.embedder_path) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def _score_batch(self, texts: list[str]) -> list[Result]:
        return [{"bias": float(p), "bias_flag": float(p >= self.threshold)} for p in self.probabilities(texts)]

    def biased_spans(self, text: str, top_k: int = 3, min_drop: float = 0.05) -> list[dict]:
        """Spans whose removal lowers the bias score by >= min_drop (adjacent words merged).

        Each span: {"start", "end", "text", "drop"}; one embedding call per word, so use it to
        explain single texts, not to score corpora.
        """
        words = list(WORD_RE.finditer(text))
        if not words:
            return []
        variants = [text[: m.start()] + text[m.end():] for m in words]
        probs = self.probabilities([text] + variants)
        drops = probs[0] - probs[1:]
        chosen = sorted(np.argsort(-drops)[:top_k])
        chosen = [i for i in chosen if drops[i] >= min_drop]
        spans: list[dict] = []
        for i in chosen:
            match = words[i]
            # Merge with the previous span when the words are adjacent (one gap of spaces/punct).
            if spans and spans[-1]["_last"] == i - 1:
                spans[-1].update(end=match.end(), _last=i, drop=max(spans[-1]["drop"], float(drops[i])))
            else:
                spans.append({"start": match.start(), "end": match.end(), "drop": float(drops[i]), "_last": i})
        for span in spans:
            del span["_last"]
            span["text"] = text[span["start"]: span["end"]]
        return spans
