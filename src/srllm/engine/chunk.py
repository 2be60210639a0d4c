"""Sentence chunking for texts longer than the model's context (`--chunk`)."""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


def chunk_text(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Greedy packing of whole sentences into chunks of at most max_tokens tokens each; a sentence
    longer than that is split at words (else its chunk could not be answered in full)."""
    pieces = [piece for sentence in split_sentences(text)
              for piece in _fit_sentence(sentence, max_tokens, count_tokens)]
    return _pack(pieces, max_tokens, count_tokens)


def _fit_sentence(sentence: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    if count_tokens(sentence) <= max_tokens:
        return [sentence]
    return _pack(sentence.split(), max_tokens, count_tokens)


def _pack(pieces: list[str], max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        candidate = " ".join([*current, piece])
        if current and count_tokens(candidate) > max_tokens:
            chunks.append(" ".join(current))
            current = [piece]
        else:
            current.append(piece)
    if current:
        chunks.append(" ".join(current))
    return chunks
