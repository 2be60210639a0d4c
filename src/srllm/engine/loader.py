"""Engines by backend name: one small loader each + one registration line.

`load_engine(args)` builds the bare engine `args.backend` names: the local `Rewriter` on a transformers
model, or (imported only when chosen, so a transformers server never imports httpx or
llama-cpp-python) the OpenAI-compatible or llama.cpp engine. The guard, which sits above the scorers,
wraps a local engine one layer up (`srllm.rewrite.load_guarded`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from srllm.engine.args import EngineArgs
from srllm.engine.protocol import RewriteEngine
from srllm.engine.rewriter import GenerationSettings, Rewriter
from srllm.registry import Registry

EngineLoader = Callable[[EngineArgs], RewriteEngine]
ENGINES: Registry[EngineLoader] = Registry("backend", field="backend")


def register_engine(name: str) -> Callable[[EngineLoader], EngineLoader]:
    return ENGINES.register(name)


def list_engines() -> list[str]:
    return sorted(ENGINES.names())


AUTO = "auto"


def resolve_backend(backend: str, model: str, *, chunk: bool = False) -> str:
    """The engine `backend` names; "auto" (the default) is the fastest one that keeps quality here
    (benchmarks/results/engines.md: llama.cpp generates 1.2x the transformers engine's tokens/s at batch 32,
    2x at batch 1, with the dev-case pass rate within 2 points): llama-cpp on a CPU where llama-cpp-python is
    installed (`srllm[llamacpp]`) and can run `model` without a download, else transformers."""
    if backend != AUTO:
        return backend
    return "llama-cpp" if not chunk and _llama_cpp_runs(model) else "transformers"


def _llama_cpp_runs(model: str) -> bool:
    """A .gguf file, or a registry model whose merge needs no download (llama.cpp's converter is cached)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    from srllm.models import get_spec

    if not (model.endswith(".gguf") or get_spec(model) is not None):
        return False  # a model folder or hub id: the engine it was given is the one it was tested on
    import torch

    if torch.cuda.is_available():  # on a GPU the transformers engine is the fast one
        return False
    from srllm.models.merge import find_converter

    return model.endswith(".gguf") or find_converter() is not None


def load_engine(args: EngineArgs) -> RewriteEngine:
    args.check()
    return ENGINES.get(resolve_backend(args.backend, args.model))(args)


@register_engine("transformers")
def load_transformers(args: EngineArgs) -> Rewriter:
    return Rewriter.load(args.model, adapter=args.adapter, template=args.template,
                         settings=GenerationSettings(max_new_tokens=args.max_new_tokens), dtype=args.dtype)


ENGINES.register("openai", lazy="srllm.engine.openai:load")
ENGINES.register("llama-cpp", lazy="srllm.engine.llama_cpp:load")

__all__ = ["AUTO", "ENGINES", "EngineLoader", "list_engines", "load_engine", "load_transformers", "register_engine",
           "resolve_backend"]
