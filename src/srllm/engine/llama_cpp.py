"""The `llama-cpp` engine: a GGUF model through llama-cpp-python, with the Rewriter's generate()/sampling().

Self-training uses it as the *teacher* (a bigger model than the student, e.g. Qwen2.5-Coder-1.5B,
whose candidates go through the same guard), and the service's `--backend llama-cpp` serves it.
llama.cpp cannot apply our PEFT adapter, so this engine runs the base model (adapter None).
llama-cpp-python decodes one sequence at a time; consecutive calls that share the prompt head
(system prompt + instruction) reuse its KV cache, so only each text's own tokens are prefilled.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from srllm.engine.args import EngineArgs
from srllm.engine.clean import clean_response
from srllm.engine.protocol import ChatOutput, Generation, RewriteResult
from srllm.engine.rewriter import GenerationSettings, prompting_method, shots_for
from srllm.errors import SrllmError
from srllm.progress import optional_progress
from srllm.prompts import Demonstration, build_messages, get_template
from srllm.prompts.render import Message


class LoadedGGUF:
    """What manifests and results read from a loaded model: its name and (no) adapter."""

    def __init__(self, llm: Any, path: Path) -> None:
        self.llm, self.path = llm, path
        self.name = path.name
        self.adapter: str | None = None
        self.method = "base"
        self.lock = threading.Lock()  # one Llama context: calls from threads take turns


def load_gguf(path: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0,
              extra_buffers: bool = False) -> LoadedGGUF:
    """extra_buffers: llama.cpp's repacked weight buffers (AMX, AVX-512 layouts). Off by default: with a
    native build on a CPU that reports AMX, the AMX buffer segfaulted in the first decode on this project's
    VMs (llama-cpp-python 0.3.36); the plain CPU buffers work everywhere."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise SrllmError("a GGUF engine needs llama-cpp-python: pip install 'srllm[llamacpp]'") from exc
    path = Path(path).expanduser()
    if not path.is_file():
        raise SrllmError(f"no GGUF file at {path}")
    with _model_params(llama_cpp.llama_cpp, extra_buffers):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
    return LoadedGGUF(llm, path)


@contextmanager
def _model_params(bindings: Any, extra_buffers: bool) -> Iterator[None]:
    """`Llama()` takes no use_extra_bufts argument; it reads the low-level bindings'
    llama_model_default_params(), so set it there for the load."""
    original = bindings.llama_model_default_params

    def params() -> Any:
        value = original()
        value.use_extra_bufts = extra_buffers
        return value

    bindings.llama_model_default_params = params
    try:
        yield
    finally:
        bindings.llama_model_default_params = original


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


class LlamaCppRewriter:
    """A `RewriteEngine`; `generate(texts)` -> a `Generation` per text, like `Rewriter`."""

    backend = "llama-cpp"
    adapter = None

    def __init__(self, loaded: LoadedGGUF, *, template: str = "debias", shots: Sequence[Demonstration] = (),
                 settings: GenerationSettings | None = None, seed: int = 0) -> None:
        self.loaded = loaded
        self.template = get_template(template)
        self.shots = list(shots)
        self.settings = settings or GenerationSettings()
        self.seed = seed

    @classmethod
    def load(cls, path: str | Path, *, template: str = "debias", k_shot: int = 0,
             demonstrations: str | Path | None = None, settings: GenerationSettings | None = None,
             seed: int = 0, n_ctx: int = 4096) -> LlamaCppRewriter:
        """k_shot: worked examples before each text (a bigger model follows them closely); the shared
        head stays the same across texts, so llama.cpp reuses its KV cache."""
        return cls(load_gguf(path, n_ctx=n_ctx, seed=seed), template=template,
                   shots=shots_for(k_shot, demonstrations, seed), settings=settings, seed=seed)

    @property
    def model(self) -> str:
        return self.loaded.name

    @property
    def prompt_version(self) -> str:
        return self.template.version

    @property
    def method(self) -> str:
        return prompting_method(self.shots)

    def sampling(self, n: int, *, temperature: float, top_p: float, chunk: bool | None = None) -> LlamaCppRewriter:
        from dataclasses import replace

        settings = replace(self.settings, do_sample=True, temperature=temperature, top_p=top_p,
                           num_return_sequences=n)
        return LlamaCppRewriter(self.loaded, template=self.template.name, shots=self.shots, settings=settings,
                                seed=self.seed)

    def generate(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[Generation]:
        del batch_size  # one sequence at a time; kept for the Rewriter's signature
        rng = random.Random(self.seed)
        results = []
        with optional_progress(len(texts), progress, "rewriting (llama.cpp)") as advance:
            for text in texts:
                results.append(self._one(text, rng))
                advance(1)
        return results

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[RewriteResult]:
        return [RewriteResult(text=text, rewrite=out.candidates[0] if out.candidates else "", model=self.model,
                              adapter=None, method=self.method, prompt_version=self.prompt_version,
                              prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens)
                for text, out in zip(texts, self.generate(texts, batch_size=batch_size, progress=progress),
                                     strict=True)]

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        out = self._complete(messages, max_tokens=max_tokens, temperature=temperature)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatOutput(content=choice["message"]["content"] or "", prompt_tokens=usage.get("prompt_tokens", 0),
                          completion_tokens=usage.get("completion_tokens", 0),
                          finish_reason=choice.get("finish_reason") or "stop")

    def _complete(self, messages: list[Message], *, max_tokens: int, temperature: float,
                  top_p: float = 1.0, seed: int | None = None) -> dict[str, Any]:
        with self.loaded.lock:
            return self.loaded.llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                          temperature=temperature, top_p=top_p, seed=seed)

    def _one(self, text: str, rng: random.Random) -> Generation:
        messages = build_messages(text, template=self.template, shots=self.shots)
        budget = self.settings.budget(len(self.loaded.llm.tokenize(text.encode("utf-8"), add_bos=False)))
        sample = self.settings.do_sample
        candidates, prompt_tokens, generated = [], 0, 0
        for _ in range(max(1, self.settings.num_return_sequences)):
            out = self._complete(messages, max_tokens=budget, temperature=self.settings.temperature if sample else 0.0,
                            top_p=self.settings.top_p if sample else 1.0,
                            seed=rng.randrange(2**31) if sample else None)
            candidates.append(clean_response(out["choices"][0]["message"]["content"] or ""))
            usage = out.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
            generated += usage.get("completion_tokens", 0)
        return Generation(candidates, prompt_tokens, generated)


def load(args: EngineArgs) -> LlamaCppRewriter:
    return LlamaCppRewriter.load(find_gguf(args.model), template=args.template,
                                 settings=GenerationSettings(max_new_tokens=args.max_new_tokens or 256))
