"""Chat and text completions on a local model, through the model's shared decode loop (`engine.continuous`).

The OpenAI-compatible endpoints run here: their rows join the same decode steps as the rewrites,
and a caller that gives up (`cancel_on`) stops them at the next step like any other row. Every
parameter of `CompletionParams` is honoured in the loop: `n` rows per prompt, temperature / top-p
sampling with a per-row seed, stop strings watched token by token (the row ends at the first one),
and the token budget. Streaming callers get each choice's new text as it is decoded (`on_text`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from srllm.engine.continuous import GREEDY, Finished, Request, Sampling, decode_loop
from srllm.engine.local import context_length, end_of_turn_ids, tokenizer_lock
from srllm.engine.protocol import ChatOutput, Choice, Completion, CompletionParams, OnText
from srllm.errors import InputError
from srllm.models import LoadedModel
from srllm.prompts.render import Message
from srllm.prompts.tokens import encode_messages

log = logging.getLogger("srllm.engine")


def chat_generate(loaded: LoadedModel, messages: list[Message], *, max_tokens: int,
                  temperature: float) -> ChatOutput:
    """One chat completion (OpenAI semantics: temperature 0 = greedy)."""
    out = complete(loaded, [messages], CompletionParams(max_tokens=max_tokens, temperature=temperature))
    [choice] = out.choices
    return ChatOutput(content=choice.text, prompt_tokens=out.prompt_tokens, completion_tokens=choice.tokens,
                      finish_reason=choice.finish_reason)


def complete(loaded: LoadedModel, prompts: Sequence[str] | Sequence[list[Message]], params: CompletionParams, *,
             on_text: OnText | None = None) -> Completion:
    """`params.n` choices per prompt: a chat (a list of messages, rendered with the chat template) or
    raw text (a str, tokenized as it is). Choice i * n + j is prompt i's j-th."""
    tokenizer = loaded.tokenizer
    with tokenizer_lock(tokenizer):  # the rewrite endpoints share this tokenizer
        # A message cannot forge a turn with chat markup (`encode_messages`).
        encoded = [list(tokenizer(prompt)["input_ids"]) if isinstance(prompt, str)
                   else encode_messages(tokenizer, prompt) for prompt in prompts]
    context = context_length(loaded)
    for index, ids in enumerate(encoded):
        if len(ids) + params.max_tokens > context:
            what = "the messages have" if not isinstance(prompts[index], str) else f"prompt {index} has"
            raise InputError(f"{what} {len(ids)} tokens; with max_tokens={params.max_tokens} they do not fit the "
                             f"model's context of {context} tokens. Send less text or a smaller max_tokens.",
                             field="messages" if not isinstance(prompts[index], str) else "prompt")
    sampling = Sampling(True, params.temperature, params.top_p) if params.temperature > 0 else GREEDY
    # The reply stops where generate() would: at the generation config's end of turn only. The text
    # ends at the tokenizer's end of turn or padding, whichever comes first.
    configured = loaded.model.generation_config.eos_token_id
    stop = frozenset(int(token) for token in (configured if isinstance(configured, list) else [configured])
                     if token is not None)
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    texts = [_ChoiceText(index, tokenizer, ends, params.stop, on_text)
             for index in range(len(encoded) * params.n)]
    requests = [
        Request(ids, params.max_tokens, sampling=sampling, stop=stop,
                seed=None if params.seed is None else params.seed + index,
                watch=texts[index].watch if texts[index].watched else None)
        for index, ids in enumerate(ids for ids in encoded for _ in range(params.n))
    ]
    loop = decode_loop(loaded.model, pad_id=tokenizer.pad_token_id, eos_ids=end_of_turn_ids(loaded))
    finished = loop.generate(requests)
    choices = [text.finish(item, params.max_tokens) for text, item in zip(texts, finished, strict=True)]
    return Completion(choices=choices, prompt_tokens=sum(len(ids) for ids in encoded))


class _ChoiceText:
    """One choice's text as its tokens arrive: cut at an end token or the first stop string, stripped
    of surrounding whitespace; what is safe to show (no half of a stop string, no half of a
    character, no trailing space that may turn out to end the text) goes to `on_text` as it grows,
    so the streamed pieces add up to exactly the final text."""

    def __init__(self, index: int, tokenizer: Any, ends: set[int | None], stops: tuple[str, ...],
                 on_text: OnText | None) -> None:
        self.index, self.tokenizer, self.ends, self.stops, self.on_text = index, tokenizer, ends, stops, on_text
        self.watched = bool(stops) or on_text is not None
        self.hold = max((len(stop) for stop in stops), default=1) - 1  # chars that may start a stop string
        self.text, self.stopped, self.sent = "", False, 0

    def _read(self, tokens: list[int]) -> None:
        end = next((i for i, token in enumerate(tokens) if token in self.ends), None)
        kept = tokens if end is None else tokens[:end]
        with tokenizer_lock(self.tokenizer):
            text = self.tokenizer.decode(kept, skip_special_tokens=True).lstrip()
        cuts = [position for position in (text.find(stop) for stop in self.stops) if position >= 0]
        self.stopped = bool(cuts)
        self.text = text[: min(cuts)] if cuts else text

    def watch(self, tokens: list[int]) -> bool:
        """On the decode thread after each token: True once a stop string appeared (the row ends)."""
        try:
            self._read(tokens)
            if self.on_text is not None:
                safe = self.text.rstrip().rstrip("\ufffd")
                self._send(safe[: len(safe) - self.hold] if self.hold and not self.stopped else safe)
        except Exception:  # an error here would fail every row of the loop: log it, let the row run on
            log.exception("watching choice %d failed", self.index)
            return False
        return self.stopped

    def _send(self, upto: str) -> None:
        if self.on_text is not None and len(upto) > self.sent:
            self.on_text(self.index, upto[self.sent:])
            self.sent = len(upto)

    def finish(self, item: Finished, max_tokens: int) -> Choice:
        self._read(item.tokens)
        self.text = self.text.rstrip()
        self._send(self.text)
        new = item.tokens
        end = next((i for i, token in enumerate(new) if token in self.ends), None)
        generated = len(new) if end is None else end + 1
        length = end is None and not self.stopped and len(new) >= max_tokens
        return Choice(text=self.text, finish_reason="length" if length else "stop", tokens=generated)
