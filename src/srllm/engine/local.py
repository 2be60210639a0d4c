"""What every generation path on a local transformers model shares (the Rewriter, chat completions):
the tokenizer's lock, the tokens that end a turn, and the usable context."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from srllm.models import LoadedModel

# One lock per tokenizer, kept here rather than on the tokenizer object: a fast tokenizer used from two
# threads at once can raise "Already borrowed" (the service rewrites from several threads).
_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def tokenizer_lock(tokenizer: Any) -> threading.Lock:
    """The lock every user of `tokenizer` holds around encoding and decoding."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(tokenizer)
        if lock is None:
            lock = _LOCKS[tokenizer] = threading.Lock()
        return lock


def end_of_turn_ids(loaded: LoadedModel) -> set[int]:
    """What ends a rewrite: the tokenizer's end of turn and the generation config's (may be a list)."""
    configured = loaded.model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(loaded.tokenizer.eos_token_id)
    return {int(token) for token in ids if token is not None}


def context_length(loaded: LoadedModel) -> int:
    """The model's usable context: the smaller of its position limit and the tokenizer's."""
    config = loaded.model.config
    length = getattr(config, "max_position_embeddings", None) or 2048
    return int(min(length, getattr(loaded.tokenizer, "model_max_length", length) or length))
