"""Shared-prefix KV cache: every rewrite prompt starts with the same system prompt and instruction.

That head is ~80 % of a typical prompt's tokens, and on a CPU the prefill of a batch costs more
than its decoding. So the head's keys and values are computed once per rewriter, copied to every
row of a batch, and only each row's own tail (the text and the chat markers after it) is
prefilled. Rows are laid out as ``[head][left padding][tail]``; the padding is masked and the
position ids come from the mask, so each token sees exactly what it would see without the cache.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


def cache_kwarg() -> str:
    """The generate() keyword for a cache: `cache` in transformers >= 5.x, `past_key_values` before."""
    try:
        from transformers.generation.utils import ALL_CACHE_NAMES
    except ImportError:
        return "past_key_values"
    return "cache" if "cache" in ALL_CACHE_NAMES else "past_key_values"


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by all rows."""
    if not rows:
        return 0
    first, length = rows[0], min(len(row) for row in rows)
    for row in rows[1:]:
        position = 0
        while position < length and row[position] == first[position]:
            position += 1
        length = position
    return length


class PrefixCache:
    """Holds the KV of one token prefix (the prompt head) for one model and hands out batch copies."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._key: tuple[int, ...] | None = None
        self._cache: Any = None

    def batch(self, head: Sequence[int], batch_size: int) -> Any:
        """A fresh cache holding `head`'s keys/values for `batch_size` rows (generate mutates it)."""
        key = tuple(head)
        if key != self._key:
            self._cache, self._key = self._compute(key), key
        cache = copy.deepcopy(self._cache)
        if batch_size > 1:
            cache.batch_repeat_interleave(batch_size)
        return cache

    def _compute(self, head: tuple[int, ...]) -> Any:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache()
        ids = torch.tensor([head], dtype=torch.long, device=self.model.device)
        with torch.inference_mode():
            self.model(input_ids=ids, use_cache=True, **{cache_kwarg(): cache})
        return cache


def layout(rows: Sequence[Sequence[int]], head_length: int, pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Input ids and attention mask for ``[head][left padding][tail]`` rows."""
    tails = [list(row[head_length:]) for row in rows]
    width = max(len(tail) for tail in tails)
    head = list(rows[0][:head_length])
    ids, mask = [], []
    for tail in tails:
        pad = width - len(tail)
        ids.append(head + [pad_id] * pad + tail)
        mask.append([1] * head_length + [0] * pad + [1] * len(tail))
    return ids, mask
