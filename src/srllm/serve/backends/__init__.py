"""Generation backends: one small loader each + one registration line.

An engine has `model`, `adapter`, `method`, `prompt_version`, `backend` and
`rewrite(texts, batch_size=...) -> list[result]` (a RewriteResult, a guard's result or a dict);
engines that can also `chat(messages, max_tokens, temperature) -> ChatOutput` serve the
OpenAI-compatible `/v1/chat/completions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from srllm.registry import Registry
from srllm.serve.backends.base import ChatOutput, Engine, as_engine
from srllm.serve.settings import ServeSettings

Loader = Callable[[ServeSettings], Any]
BACKENDS: Registry[Loader] = Registry("backend", field="backend")


def register_backend(name: str) -> Callable[[Loader], Loader]:
    return BACKENDS.register(name)


def list_backends() -> list[str]:
    return sorted(BACKENDS.names())


def load_engine(settings: ServeSettings) -> Engine:
    return as_engine(BACKENDS.get(settings.backend)(settings))


from srllm.serve.backends import transformers  # noqa: E402

register_backend("transformers")(transformers.load)
# Imported only when chosen, so a transformers server never imports httpx or llama-cpp-python.
BACKENDS.register("openai", lazy="srllm.engine.openai:load")
BACKENDS.register("llama-cpp", lazy="srllm.serve.backends.llama_cpp:load")

__all__ = ["BACKENDS", "ChatOutput", "Engine", "as_engine", "list_backends", "load_engine", "register_backend"]
