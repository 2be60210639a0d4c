"""One chat completion on a local model, through the model's shared decode loop (`engine.continuous`).

The OpenAI-compatible `/v1/chat/completions` runs here: its rows join the same decode steps as the
rewrites, and a caller that gives up (`cancel_on`) stops them at the next step like any other row.
"""

from __future__ import annotations

from srllm.engine.continuous import GREEDY, Request, Sampling, decode_loop
from srllm.engine.local import context_length, end_of_turn_ids, tokenizer_lock
from srllm.engine.protocol import ChatOutput
from srllm.errors import InputError
from srllm.models import LoadedModel
from srllm.prompts.render import Message
from srllm.prompts.tokens import encode_messages


def chat_generate(loaded: LoadedModel, messages: list[Message], *, max_tokens: int,
                  temperature: float) -> ChatOutput:
    """One chat completion (OpenAI semantics: temperature 0 = greedy)."""
    tokenizer = loaded.tokenizer
    with tokenizer_lock(tokenizer):  # the rewrite endpoints share this tokenizer
        ids = encode_messages(tokenizer, messages)  # a message cannot forge a turn with chat markup
    context = context_length(loaded)
    if len(ids) + max_tokens > context:
        raise InputError(f"the messages have {len(ids)} tokens; with max_tokens={max_tokens} they do not fit "
                         f"the model's context of {context} tokens. Send less text or a smaller max_tokens.",
                         field="messages")
    sampling = Sampling(True, temperature, 1.0) if temperature > 0 else GREEDY
    # The reply stops where generate() would: at the generation config's end of turn only. The content
    # ends at the tokenizer's end of turn or padding, whichever comes first.
    configured = loaded.model.generation_config.eos_token_id
    stop = {int(token) for token in (configured if isinstance(configured, list) else [configured])
            if token is not None}
    loop = decode_loop(loaded.model, pad_id=tokenizer.pad_token_id, eos_ids=end_of_turn_ids(loaded))
    [finished] = loop.generate([Request(ids, max_tokens, sampling=sampling, stop=frozenset(stop))])
    new = finished.tokens
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    end = next((i for i, token in enumerate(new) if token in ends), None)
    kept = new if end is None else new[:end]
    with tokenizer_lock(tokenizer):
        content = tokenizer.decode(kept, skip_special_tokens=True).strip()
    return ChatOutput(
        content=content,
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=len(kept) + (0 if end is None else 1),
        finish_reason="length" if end is None and len(new) >= max_tokens else "stop",
    )
