"""The engine layer: what turns texts into rewrites on a model, below the guard and the service.

- `protocol`: the `RewriteEngine` interface every engine implements, `RewriteResult`, `Generation`.
- `rewriter`: the local `Rewriter` (prompts -> batched decoding -> cleaned answers) on a transformers
  model, running on `continuous` (the continuous-batching decode loop) and `prefix_cache` (the shared
  prompt head); `chat`: one chat completion through the same loop.
- `llama_cpp`, `openai`: the GGUF and OpenAI-compatible engines (imported only when chosen).
- `args`, `loader`: `EngineArgs` and `load_engine(args)`, the engine a backend name stands for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srllm.engine.args import EngineArgs
    from srllm.engine.loader import ENGINES, list_engines, load_engine
    from srllm.engine.protocol import ChatOutput, Generation, RewriteEngine, RewriteResult
    from srllm.engine.rewriter import GenerationSettings, Rewriter

# Loaded on first use: `srllm --help` reads EngineArgs (srllm.engine.args) to make options and must not
# pay for the decode loop, the loader and the Rewriter.
_EXPORTS = {"EngineArgs": "args", "ENGINES": "loader", "list_engines": "loader", "load_engine": "loader",
            "ChatOutput": "protocol", "Generation": "protocol", "RewriteEngine": "protocol",
            "RewriteResult": "protocol", "GenerationSettings": "rewriter", "Rewriter": "rewriter"}
__all__ = ["ChatOutput", "ENGINES", "EngineArgs", "Generation", "GenerationSettings", "RewriteEngine",
           "RewriteResult", "Rewriter", "list_engines", "load_engine"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'srllm.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"srllm.engine.{_EXPORTS[name]}"), name)
