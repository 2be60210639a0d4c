"""Sentence chunking for texts longer than the model's context (`--chunk`)."""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


def chunk_text(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Greedy packing of whole sentences into chunks of at most max_tokens tokens each."""
    chunks: list[str] = []
    current: list[str] = []
    for sentence in split_sentences(text):
        candidate = " ".join([*current, sentence])
        if current and count_tokens(candidate) > max_tokens:
            chunks.append(" ".join(current))
            current = [sentence]
        else:
            current.append(sentence)
    if current:
        chunks.append(" ".join(current))
    return chunks
