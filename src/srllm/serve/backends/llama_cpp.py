"""`--backend llama-cpp`: the GGUF model through llama-cpp-python (optional extra `srllm[llamacpp]`).

llama.cpp cannot apply our PEFT adapter, so this backend serves the base model (adapter None).
The generation itself is `srllm.engine.llama_cpp.LlamaCppRewriter`, which self-training's teacher uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from srllm.engine.llama_cpp import LlamaCppRewriter
from srllm.engine.rewriter import GenerationSettings
from srllm.errors import SrllmError
from srllm.rewrite import RewriteResult
from srllm.serve.backends.base import ChatOutput, Message
from srllm.serve.settings import ServeSettings


def find_gguf(model: str) -> Path:
    """A .gguf path as given, or the GGUF file pulled for a registry model."""
    from srllm.paths import cache_dir

    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    found = sorted((cache_dir() / "models" / model).glob("*.gguf"))
    if not found:
        raise SrllmError(f"no GGUF file for {model!r}; pass --model PATH.gguf or run `srllm models pull {model}`")
    return found[0]


class LlamaCppEngine:
    backend = "llama-cpp"
    adapter = None
    method = "base"

    def __init__(self, gguf: Path, *, template: str = "debias", max_tokens: int = 256, n_ctx: int = 4096) -> None:
        self.rewriter = LlamaCppRewriter.load(gguf, template=template, n_ctx=n_ctx,
                                              settings=GenerationSettings(max_new_tokens=max_tokens))
        self.model = gguf.name
        self.prompt_version = self.rewriter.prompt_version
        self.max_tokens = max_tokens

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        out = self.rewriter.chat(messages, max_tokens=max_tokens, temperature=temperature)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatOutput(content=choice["message"]["content"] or "", prompt_tokens=usage.get("prompt_tokens", 0),
                          completion_tokens=usage.get("completion_tokens", 0),
                          finish_reason=choice.get("finish_reason") or "stop")

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[RewriteResult]:
        return self.rewriter.rewrite(texts, batch_size=batch_size)


def load(settings: ServeSettings) -> LlamaCppEngine:
    return LlamaCppEngine(find_gguf(settings.model), template=settings.template,
                          max_tokens=settings.max_new_tokens or 256)
