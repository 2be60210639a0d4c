"""The default backend: the Rewriter on a transformers model (the same pipeline as `srllm rewrite`)."""

from __future__ import annotations

import threading
from typing import Any

from srllm.engine.continuous import Cancelled, current_cancel
from srllm.errors import InputError
from srllm.models import LoadedModel
from srllm.serve.backends.base import ChatOutput, Message, RewriterEngine
from srllm.serve.settings import ServeSettings


def load(settings: ServeSettings) -> RewriterEngine:
    """The Rewriter, wrapped in the guard (verify, retry, flag) unless settings.guard is off."""
    from srllm.rewrite import GenerationSettings
    from srllm.rewrite.guard import load_rewriter

    generation = GenerationSettings(max_new_tokens=settings.max_new_tokens)
    rewriter = load_rewriter(settings.model, guard=settings.guard, adapter=settings.adapter,
                             template=settings.template, settings=generation, dtype=settings.dtype)
    return RewriterEngine(rewriter)


def chat_generate(loaded: LoadedModel, messages: list[Message], *, max_tokens: int,
                  temperature: float) -> ChatOutput:
    """One chat completion (OpenAI semantics: temperature 0 = greedy)."""
    import torch

    from srllm.engine.rewriter import context_length, tokenizer_lock
    from srllm.prompts.tokens import encode_messages

    tokenizer, model = loaded.tokenizer, loaded.model
    with tokenizer_lock(tokenizer):  # the rewrite endpoints share this tokenizer
        ids = encode_messages(tokenizer, messages)  # a message cannot forge a turn with chat markup
    encoded = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    context = context_length(loaded)
    prompt_tokens = int(encoded["input_ids"].shape[1])
    if prompt_tokens + max_tokens > context:
        raise InputError(f"the messages have {prompt_tokens} tokens; with max_tokens={max_tokens} they do not fit "
                         f"the model's context of {context} tokens. Send less text or a smaller max_tokens.",
                         field="messages")
    kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": tokenizer.pad_token_id}
    cancel = current_cancel()
    if cancel is not None:  # the request timed out or its client left: stop at the next token
        kwargs["stopping_criteria"] = _stop_when_set(cancel)
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=None)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        output = model.generate(**encoded, **kwargs)
    if cancel is not None and cancel.is_set():
        raise Cancelled("the caller gave up; the completion was stopped unfinished")
    prompt_len = encoded["input_ids"].shape[1]
    new = output[0, prompt_len:].tolist()
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    end = next((i for i, token in enumerate(new) if token in stops), None)
    kept = new if end is None else new[:end]
    return ChatOutput(
        content=tokenizer.decode(kept, skip_special_tokens=True).strip(),
        prompt_tokens=int(prompt_len),
        completion_tokens=len(kept) + (0 if end is None else 1),
        finish_reason="length" if end is None and len(new) >= max_tokens else "stop",
    )


def _stop_when_set(event: threading.Event) -> Any:
    """Stopping criteria that end generate() for every row once `event` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopWhenSet(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopWhenSet()])
