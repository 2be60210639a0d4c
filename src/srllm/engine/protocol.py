"""What an engine is and what it returns: the one interface the guard, the service and Ray rely on.

Every engine (the local `Rewriter`, the guard wrapping it, the llama.cpp and OpenAI-compatible
engines) has a `backend`, a `model`, an `adapter`, a `method`, a `prompt_version` and
`rewrite(texts, *, batch_size, progress) -> list[RewriteResult]`. Optional extras, read where present:
`chat(messages, *, max_tokens, temperature) -> ChatOutput` (the OpenAI-compatible chat endpoint),
`complete(prompts, params, *, on_text) -> Completion` (every OpenAI parameter the decode loop honours,
streaming included; chat messages or raw text prompts),
`concurrent` (overlapping calls share decode steps), `dtype` (a local model's), `close()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class CompletionParams:
    """How to continue a prompt (the OpenAI parameters the decode loop honours). temperature 0 is
    greedy; `seed` makes sampling repeatable (choice i uses seed + i); generation stops at an
    end-of-turn token, at the first of the `stop` strings (cut from the text) or after `max_tokens`."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Choice:
    text: str
    finish_reason: str  # "stop" (end of turn or a stop string) or "length"
    tokens: int  # tokens generated for this choice


@dataclass
class Completion:
    """Every choice of every prompt (prompt i's choices at i * n ... i * n + n - 1) and the prompt
    tokens (each prompt counted once, whatever n)."""

    choices: list[Choice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(choice.tokens for choice in self.choices)


# (choice index, new text): called as a choice's text grows, for streaming.
OnText = Callable[[int, str], None]


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


@runtime_checkable
class CompletionEngine(Protocol):
    def complete(self, prompts: list[str] | list[list[Message]], params: CompletionParams, *,
                 on_text: OnText | None = None) -> Completion: ...


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

    @property
    def complete(self) -> Callable[..., Completion] | None:
        """The wrapped engine's `complete` (unchecked, like `chat`), or None when it has none."""
        return getattr(self.rewriter, "complete", None)


def public_name(value: str | None) -> str | None:
    """A model or adapter as clients see it: a local path is cut to its last part (no internal paths)."""
    if value is None:
        return None
    text = str(value)
    if text.startswith(("/", "~", ".")) or Path(text).exists():
        return Path(text).name
    return text
