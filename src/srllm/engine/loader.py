"""Engines by backend name: one small loader each + one registration line.

`load_engine(args)` builds the bare engine `args.backend` names: the local `Rewriter` on a transformers
model, or (imported only when chosen, so a transformers server never imports httpx or
llama-cpp-python) the OpenAI-compatible or llama.cpp engine. The guard, which sits above the scorers,
wraps a local engine one layer up (`srllm.rewrite.load_guarded`).
"""

from __future__ import annotations

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


def load_engine(args: EngineArgs) -> RewriteEngine:
    args.check()
    return ENGINES.get(args.backend)(args)


@register_engine("transformers")
def load_transformers(args: EngineArgs) -> Rewriter:
    return Rewriter.load(args.model, adapter=args.adapter, template=args.template,
                         settings=GenerationSettings(max_new_tokens=args.max_new_tokens), dtype=args.dtype)


ENGINES.register("openai", lazy="srllm.engine.openai:load")
ENGINES.register("llama-cpp", lazy="srllm.engine.llama_cpp:load")

__all__ = ["ENGINES", "EngineLoader", "list_engines", "load_engine", "load_transformers", "register_engine"]
