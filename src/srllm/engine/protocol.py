"""What an engine is and what it returns: the one interface the guard, the service and Ray rely on.

Every engine (the local `Rewriter`, the guard wrapping it, the llama.cpp and OpenAI-compatible
engines) has a `backend`, a `model`, an `adapter`, a `method`, a `prompt_version` and
`rewrite(texts, *, batch_size, progress) -> list[RewriteResult]`. Optional extras, read where present:
`chat(messages, *, max_tokens, temperature) -> ChatOutput` (the OpenAI-compatible chat endpoint),
`concurrent` (overlapping calls share decode steps), `dtype` (a local model's), `close()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from srllm.prompts.render import Message


@dataclass
class RewriteResult:
    text: str
    rewrite: str
    model: str
    adapter: str | None
    method: str
    prompt_version: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    chunks: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """What one prompt produced: its cleaned candidates (one per sample), the prompt's tokens and
    the tokens generated for all candidates together."""

    candidates: list[str]
    prompt_tokens: int
    generated_tokens: int


@dataclass
class ChatOutput:
    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


@runtime_checkable
class RewriteEngine(Protocol):
    backend: str
    model: str
    adapter: str | None
    method: str
    prompt_version: str

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8,
                progress: bool = False) -> list[RewriteResult]: ...


@runtime_checkable
class ChatEngine(Protocol):
    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput: ...


class WrappedEngine:
    """For an engine that wraps another (the guard): its identity and local details are the wrapped
    engine's, `self.rewriter`."""

    rewriter: Any

    @property
    def backend(self) -> str:
        return self.rewriter.backend

    @property
    def model(self) -> str:
        return self.rewriter.model

    @property
    def adapter(self) -> str | None:
        return self.rewriter.adapter

    @property
    def method(self) -> str:
        return self.rewriter.method

    @property
    def prompt_version(self) -> str:
        return self.rewriter.prompt_version

    @property
    def concurrent(self) -> bool:
        return bool(getattr(self.rewriter, "concurrent", False))

    @property
    def dtype(self) -> str | None:
        return getattr(self.rewriter, "dtype", None)

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        """Chat completions are not rewrites: they go to the wrapped engine unchecked."""
        return self.rewriter.chat(messages, max_tokens=max_tokens, temperature=temperature)


def public_name(value: str | None) -> str | None:
    """A model or adapter as clients see it: a local path is cut to its last part (no internal paths)."""
    if value is None:
        return None
    text = str(value)
    if text.startswith(("/", "~", ".")) or Path(text).exists():
        return Path(text).name
    return text
