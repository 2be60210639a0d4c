"""Rewrite only the harmful sentences of a longer text (GuardConfig.per_sentence).

A small model asked to rewrite a whole paragraph for one bad sentence drops what the other sentences said:
on the SR-LLM repository's inference rows most flags were `content dropped` on long comments. When the
judge's screen finds some sentences of an input harmful and others benign (alone, and holding none of the
spans it found in the whole text), the benign ones are kept word for word and only the harmful ones go to
the model, each checked by the guard on its own. The row's rewrite is the sentences put back in order with
the input's own spacing; it is `flagged` when any rewritten sentence is. An input whose sentences are all
harmful, or none on its own (the harm is in how they combine), is rewritten whole as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from srllm.rewrite.injection import sentences

# How the sentences' scores make the row's: the worst sentence speaks for the text.
_WORST_LOW = ("similarity",)
_SUM = ("facts_missing",)


@dataclass
class Split:
    """One input cut into sentences: their (start, end) offsets and which of them go to the model."""

    text: str
    bounds: list[tuple[int, int]]
    harmful: list[bool]
    results: dict[int, Any] = field(default_factory=dict)  # sentence position -> its GuardedResult

    @property
    def pending(self) -> list[int]:
        return [k for k, bad in enumerate(self.harmful) if bad]

    def sentence(self, k: int) -> str:
        start, end = self.bounds[k]
        return self.text[start:end].strip()

    @property
    def done(self) -> bool:
        return all(k in self.results for k in self.pending)


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """The sentences of `text` that hold a word, as (start, end) offsets."""
    return [(start, end) for start, end in sentences(text) if any(ch.isalnum() for ch in text[start:end])]


def overlaps(spans: Sequence[Any], bound: tuple[int, int]) -> bool:
    """Whether any of the whole text's harmful `spans` (start/end offsets) reaches into the sentence `bound`."""
    start, end = bound
    return any(span.start < end and span.end > start for span in spans)


def worth_splitting(harmful: Sequence[bool]) -> bool:
    """Split only a mix: some sentences harmful, some not."""
    return len(harmful) > 1 and any(harmful) and not all(harmful)


def assemble(split: Split) -> tuple[str, bool, list[str], dict[str, float | None], dict[str, int]]:
    """The row's rewrite, whether any sentence failed, the failed sentences' reasons (numbered from 1), the
    worst sentence's scores and the summed token counts."""
    parts, failed, reasons = [], False, []
    scores: dict[str, float | None] = {}
    counts = {"candidates": 0, "prompt_tokens": 0, "generated_tokens": 0}
    previous_end = split.bounds[0][0]
    for k, (start, end) in enumerate(split.bounds):
        gap = split.text[previous_end:start]
        original = split.text[start:end]
        body, trailing = original.rstrip(), original[len(original.rstrip()):]
        if k in split.results:
            result = split.results[k]
            body = original[:len(original) - len(original.lstrip())] + result.rewrite.strip()
            if result.status == "flagged":
                failed = True
                reasons += [f"sentence {k + 1}: {reason}" for reason in result.reasons]
            _merge_scores(scores, result.scores)
            for key in counts:
                counts[key] += getattr(result, key, 0)
        parts.append(gap + body + trailing)
        previous_end = end
    return "".join(parts).strip(), failed, reasons, scores, counts


def _merge_scores(into: dict[str, float | None], scores: dict[str, float | None]) -> None:
    for key, value in scores.items():
        if value is None or key.startswith("input_"):
            continue
        old = into.get(key)
        if old is None:
            into[key] = value
        elif key in _SUM:
            into[key] = old + value
        else:
            into[key] = min(old, value) if key in _WORST_LOW else max(old, value)
