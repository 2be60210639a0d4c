"""The engine as the service shows it, and loading it from the server's settings.

The service talks only to a `RewriteEngine` (`srllm.engine.protocol`): the local Rewriter (guarded
unless --no-guard), or the llama.cpp or OpenAI-compatible engine. `ServedEngine` adds what is the
service's business: model and adapter names without local paths, and which optional extras (chat,
concurrent decoding, the dtype) the engine has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from srllm.engine.protocol import ChatEngine, ChatOutput, Completion, RewriteEngine, public_name
from srllm.serve.settings import ServeSettings


class ServedEngine:
    def __init__(self, engine: RewriteEngine) -> None:
        if not isinstance(engine, RewriteEngine):
            raise TypeError(f"{type(engine).__name__} is not a RewriteEngine: it needs backend, model, adapter, "
                            "method, prompt_version and rewrite(texts, batch_size=...)")
        self.engine = engine
        self.backend = engine.backend
        self.model = public_name(engine.model) or "unknown"
        self.adapter = public_name(engine.adapter)
        self.method = str(engine.method)
        self.prompt_version = str(engine.prompt_version)
        # Overlapping calls share decode steps (continuous batching) instead of queueing.
        self.concurrent = bool(getattr(engine, "concurrent", False))
        self.dtype: str | None = getattr(engine, "dtype", None)
        # None: this backend cannot serve /v1/chat/completions.
        self.chat: Callable[..., ChatOutput] | None = engine.chat if isinstance(engine, ChatEngine) else None
        # None: only `chat` (one choice, no stop/seed/top_p/n); otherwise every OpenAI parameter through
        # the decode loop (`engine.chat.complete`).
        complete = getattr(engine, "complete", None)
        self.complete: Callable[..., Completion] | None = complete if callable(complete) else None

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[Any]:
        return self.engine.rewrite(list(texts), batch_size=batch_size)

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()


def as_engine(engine: RewriteEngine | ServedEngine) -> ServedEngine:
    return engine if isinstance(engine, ServedEngine) else ServedEngine(engine)


def load_engine(settings: ServeSettings) -> ServedEngine:
    """The engine the settings name, guarded unless settings.guard is off (`rewrite.load_guarded`)."""
    from srllm.rewrite.loader import load_guarded

    return ServedEngine(load_guarded(settings.engine_args()))
