"""The engine interface the service needs, and a wrapper that fits a Rewriter (or a guard) to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]


@dataclass
class ChatOutput:
    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


@runtime_checkable
class Engine(Protocol):
    backend: str
    model: str
    adapter: str | None
    method: str
    prompt_version: str

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[Any]: ...


class RewriterEngine:
    """Any object with `.rewrite(texts, batch_size=)` (a Rewriter, or a guard wrapping one)."""

    backend = "transformers"

    def __init__(self, rewriter: Any) -> None:
        self.rewriter = rewriter
        inner = _find_rewriter(rewriter)
        self.loaded = getattr(inner, "loaded", None)
        self.model = public_name(self.loaded.name) if self.loaded else str(getattr(inner, "model", "unknown"))
        self.adapter = public_name(self.loaded.adapter) if self.loaded else None
        self.method = str(getattr(rewriter, "method", None) or getattr(inner, "method", "unknown"))
        self.guarded = inner is not rewriter
        # Overlapping calls share decode steps (continuous batching) instead of queueing.
        self.concurrent = bool(getattr(inner, "continuous", False))
        self.dtype = getattr(self.loaded, "dtype", None)
        self.prompt_version = str(getattr(inner, "prompt_version", "unknown"))

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[Any]:
        return self.rewriter.rewrite(list(texts), batch_size=batch_size)

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        from srllm.serve.backends.transformers import chat_generate

        if self.loaded is None:
            raise NotImplementedError("this engine has no local model to chat with")
        return chat_generate(self.loaded, messages, max_tokens=max_tokens, temperature=temperature)


def _find_rewriter(obj: Any) -> Any:
    """A guard wraps the Rewriter; the prompt and model details live on the innermost one."""
    for _ in range(4):
        if hasattr(obj, "loaded") and hasattr(obj, "prompt_version"):
            return obj
        nxt = getattr(obj, "rewriter", None)
        if nxt is None:
            break
        obj = nxt
    return obj


def as_engine(obj: Any) -> Engine:
    if all(hasattr(obj, name) for name in ("backend", "model", "prompt_version")) and hasattr(obj, "rewrite"):
        return obj
    return RewriterEngine(obj)


def public_name(value: str | None) -> str | None:
    """A model or adapter as clients see it: a local path is cut to its last part (no internal paths)."""
    if value is None:
        return None
    text = str(value)
    if text.startswith(("/", "~", ".")) or Path(text).exists():
        return Path(text).name
    return text
