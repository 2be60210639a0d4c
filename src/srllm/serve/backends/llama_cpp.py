"""`--backend llama-cpp`: the GGUF model through llama-cpp-python (optional extra `srllm[llamacpp]`).

llama.cpp cannot apply our PEFT adapter, so this backend serves the base model (adapter None).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from srllm.errors import SrllmError
from srllm.prompts import build_messages, get_template
from srllm.rewrite import RewriteResult
from srllm.rewrite.clean import clean_response
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
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise SrllmError("--backend llama-cpp needs llama-cpp-python: pip install 'srllm[llamacpp]'") from exc
        self.llm = Llama(model_path=str(gguf), n_ctx=n_ctx, verbose=False)
        self.model = gguf.name
        self.template = get_template(template)
        self.prompt_version = self.template.version
        self.max_tokens = max_tokens

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        out = self.llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatOutput(content=choice["message"]["content"] or "", prompt_tokens=usage.get("prompt_tokens", 0),
                          completion_tokens=usage.get("completion_tokens", 0),
                          finish_reason=choice.get("finish_reason") or "stop")

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[RewriteResult]:
        results = []
        for text in texts:  # llama-cpp-python decodes one sequence at a time
            output = self.chat(build_messages(text, template=self.template), max_tokens=self.max_tokens,
                               temperature=0.0)
            results.append(RewriteResult(text=text, rewrite=clean_response(output.content), model=self.model,
                                         adapter=None, method=self.method, prompt_version=self.prompt_version,
                                         prompt_tokens=output.prompt_tokens,
                                         generated_tokens=output.completion_tokens))
        return results


def load(settings: ServeSettings) -> LlamaCppEngine:
    return LlamaCppEngine(find_gguf(settings.model), template=settings.template,
                          max_tokens=settings.max_new_tokens or 256)
