"""The engine layer: what turns texts into rewrites on a model, below the guard and the service.

- `protocol`: the `RewriteEngine` interface every engine implements, `RewriteResult`, `Generation`.
- `rewriter`: the local `Rewriter` (prompts -> batched decoding -> cleaned answers) on a transformers
  model, running on `continuous` (the continuous-batching decode loop) and `prefix_cache` (the shared
  prompt head); `chat`: one chat completion through the same loop.
- `llama_cpp`, `openai`: the GGUF and OpenAI-compatible engines (imported only when chosen).
- `args`, `loader`: `EngineArgs` and `load_engine(args)`, the engine a backend name stands for.
"""

from srllm.engine.args import EngineArgs
from srllm.engine.loader import ENGINES, list_engines, load_engine
from srllm.engine.protocol import ChatOutput, Generation, RewriteEngine, RewriteResult
from srllm.engine.rewriter import GenerationSettings, Rewriter

__all__ = ["ENGINES", "ChatOutput", "EngineArgs", "Generation", "GenerationSettings", "RewriteEngine", "RewriteResult",
           "Rewriter", "list_engines", "load_engine"]
