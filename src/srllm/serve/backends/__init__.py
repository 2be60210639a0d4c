"""Generation backends: one small loader each + one registration line.

An engine has `model`, `adapter`, `method`, `prompt_version`, `backend` and
`rewrite(texts, batch_size=...) -> list[result]` (a RewriteResult, a guard's result or a dict);
engines that can also `chat(messages, max_tokens, temperature) -> ChatOutput` serve the
OpenAI-compatible `/v1/chat/completions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from srllm.errors import SrllmError
from srllm.serve.backends.base import ChatOutput, Engine, as_engine
from srllm.serve.settings import ServeSettings

_LOADERS: dict[str, Callable[[ServeSettings], Any]] = {}


def register_backend(name: str) -> Callable[[Callable[[ServeSettings], Any]], Callable[[ServeSettings], Any]]:
    def decorate(loader: Callable[[ServeSettings], Any]) -> Callable[[ServeSettings], Any]:
        _LOADERS[name] = loader
        return loader

    return decorate


def list_backends() -> list[str]:
    return sorted(_LOADERS)


def load_engine(settings: ServeSettings) -> Engine:
    if settings.backend not in _LOADERS:
        raise SrllmError(f"unknown backend {settings.backend!r}; use one of: {', '.join(list_backends())}")
    return as_engine(_LOADERS[settings.backend](settings))


from srllm.serve.backends import llama_cpp, openai, transformers  # noqa: E402

register_backend("transformers")(transformers.load)
register_backend("openai")(openai.load)
register_backend("llama-cpp")(llama_cpp.load)

__all__ = ["ChatOutput", "Engine", "as_engine", "list_backends", "load_engine", "register_backend"]
