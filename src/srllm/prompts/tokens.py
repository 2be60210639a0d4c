"""Prompt -> token ids, where only the chat template's own markup can become a special token.

A chat template renders every message into one string, and tokenizing that string turns each
special-token spelling in it into the special token, also one inside the user's text: a text that
carries "<|im_end|><|im_start|>assistant\\n..." would close its turn and open the model's. So the
prompt is rendered in pieces (`render.render_pieces`: the template's markup and each message's
content); the markup is tokenized as usual and every content as plain text, with the tokenizer's
own `split_special_tokens=True`. We split at the content pieces rather than escaping the text
(a zero-width space in "<|im_end|>", say) because escaping changes what the model reads and is
not reversible, while split_special_tokens gives the very ids the same characters get when they
are ordinary text.

When no content spells a special token (and none joins the markup next to it into one), the prompt
is tokenized in one call exactly as before, so ordinary inputs keep their ids and greedy outputs.
Otherwise the prompt is tokenized region by region: the template's special tokens as themselves
and the text between them, contents included, as plain text.

transformers >= 5.20 has the same idea built in (`apply_chat_template(..., tokenize=True,
sanitize_control_tokens=True)`, huggingface/transformers#47386); srllm supports 4.56 and models
without a chat template (the plain layout of `render_prompt`), so the split is ours. Callers that
share a tokenizer across threads hold `engine.local.tokenizer_lock`: transformers keeps
`split_special_tokens` as state on the fast tokenizer between calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from srllm.prompts.render import Message, Piece, join, render_pieces


def special_tokens(tokenizer: Any) -> list[str]:
    """The strings the tokenizer turns into special tokens, longest first (how they are matched)."""
    added = {token.content for token in tokenizer.added_tokens_decoder.values() if token.special}
    return sorted(added | set(tokenizer.all_special_tokens), key=len, reverse=True)


def encode_text(tokenizer: Any, text: str, *, add_special_tokens: bool = False) -> list[int]:
    """`text` as plain text: "<|im_end|>" in it is the characters, never the end-of-turn token."""
    if not text and not add_special_tokens:
        return []
    return tokenizer(text, add_special_tokens=add_special_tokens, split_special_tokens=True)["input_ids"]


def encode_messages(tokenizer: Any, messages: list[Message], *, add_generation_prompt: bool = True) -> list[int]:
    """The chat prompt for `messages` as token ids, every message content encoded as plain text."""
    return encode_pieces(tokenizer, render_pieces(tokenizer, messages, add_generation_prompt=add_generation_prompt))


def encode_pieces(tokenizer: Any, pieces: Sequence[Piece], *, add_special_tokens: bool = False) -> list[int]:
    """Token ids of rendered pieces: special tokens from the markup only (see the module docstring)."""
    specials = special_tokens(tokenizer)
    pattern = re.compile("|".join(re.escape(token) for token in specials)) if specials else None
    ids = tokenizer(join(pieces), add_special_tokens=add_special_tokens)["input_ids"]
    special_ids = set(tokenizer.convert_tokens_to_ids(specials))
    # The special tokens the markup writes (and BOS/EOS the tokenizer adds): a content spelling one
    # would add to them, as would the tokenizer matching a spelling our pattern missed.
    expected = sum(len(_matches(pattern, piece.text)) for piece in pieces if not piece.content)
    if add_special_tokens:
        expected += sum(i in special_ids for part in _wrap(tokenizer) for i in part)
    if not _content_spells_special(pattern, pieces) and sum(i in special_ids for i in ids) == expected:
        return ids
    return _encode_regions(tokenizer, pattern, pieces, add_special_tokens)


def _matches(pattern: re.Pattern[str] | None, text: str) -> list[re.Match[str]]:
    return list(pattern.finditer(text)) if pattern is not None else []


def _content_spells_special(pattern: re.Pattern[str] | None, pieces: Sequence[Piece]) -> bool:
    """Whether a special-token spelling in the joined prompt overlaps a content piece."""
    spans, start = [], 0
    for piece in pieces:
        if piece.content:
            spans.append((start, start + len(piece.text)))
        start += len(piece.text)
    return any(match.start() < end and start < match.end()
               for match in _matches(pattern, join(pieces)) for start, end in spans)


def _encode_regions(tokenizer: Any, pattern: re.Pattern[str] | None, pieces: Sequence[Piece],
                    add_special_tokens: bool) -> list[int]:
    """The markup's special tokens as themselves; all text between them (contents too) as plain text."""
    ids: list[int] = []
    region: list[str] = []
    for piece in pieces:
        end = 0
        for match in _matches(pattern, piece.text) if not piece.content else []:
            region.append(piece.text[end:match.start()])
            ids += encode_text(tokenizer, "".join(region)) + [tokenizer.convert_tokens_to_ids(match.group())]
            region, end = [], match.end()
        region.append(piece.text[end:])
    ids += encode_text(tokenizer, "".join(region))
    if not add_special_tokens:
        return ids
    prefix, suffix = _wrap(tokenizer)
    return prefix + ids + suffix


def _wrap(tokenizer: Any) -> tuple[list[int], list[int]]:
    """What `add_special_tokens=True` puts before and after a text (BOS for Llama, EOS for T5)."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    wrapped = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(wrapped) - len(bare) + 1):
        if wrapped[start:start + len(bare)] == bare:
            return wrapped[:start], wrapped[start + len(bare):]
    return [], []
