"""The `llama-cpp` engine: a GGUF model through llama-cpp-python, many sequences decoded together.

By default it runs what the transformers engine runs, the default model with the shipped adapter: llama.cpp
cannot apply a PEFT adapter at run time, so `models.merge.merged_gguf` folds it into the weights and converts
the result to GGUF once (cached). `--model FILE.gguf` runs a GGUF as it is (no adapter): self-training uses
that for a bigger *teacher* model. Generation goes through `engine.llama_batch` (every running sequence in
each llama_decode, the prompt head decoded once and shared); prompts are the Rewriter's, token for token where
the GGUF's vocabulary is the transformers tokenizer's, with each text tokenized as plain text.
"""

from __future__ import annotations

import os
import random
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, as_completed
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from srllm.engine.args import EngineArgs
from srllm.engine.clean import clean_response
from srllm.engine.prefix_cache import common_prefix_length
from srllm.engine.protocol import ChatOutput, Generation, RewriteResult
from srllm.engine.rewriter import GenerationSettings, ModelIdentity, shots_for
from srllm.errors import InputError, SrllmError
from srllm.lines import not_text
from srllm.progress import optional_progress
from srllm.prompts import Demonstration, build_messages, get_template
from srllm.prompts.render import Message, Piece, join, render_pieces

DEFAULT_SLOTS = 32
DEFAULT_CONTEXT = 8192
# `--dtype` for this backend names the merged GGUF's tensor type ("auto": f16, what `srllm merge --gguf` writes).
GGUF_TYPE_FOR_DTYPE = {"auto": "f16", "float32": "f32", "float16": "f16", "bfloat16": "bf16",
                       "f32": "f32", "f16": "f16", "bf16": "bf16", "q8_0": "q8_0"}


def gguf_type(dtype: str) -> str:
    try:
        return GGUF_TYPE_FOR_DTYPE[dtype]
    except KeyError:
        raise InputError(f"--dtype {dtype!r} is not a GGUF type for the llama-cpp backend; use one of "
                         f"{', '.join(GGUF_TYPE_FOR_DTYPE)}", field="dtype") from None


class LoadedGGUF:
    """A GGUF model with its decode loop: what manifests and results read (name, adapter, method)."""

    def __init__(self, llm: Any, path: Path, *, slots: int, adapter: str | None = None) -> None:
        from srllm.engine.llama_batch import BatchLoop

        self.llm, self.path = llm, path
        self.name = path.name
        self.adapter = adapter
        self.method = "lora" if adapter else "base"
        self.loop = BatchLoop(llm, slots=slots)
        self.template = ChatTemplate(llm)
        self.lock = threading.Lock()  # tokenization from several threads

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        with self.lock:
            return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def detokenize(self, tokens: list[int]) -> str:
        with self.lock:
            return self.llm.detokenize(tokens).decode("utf-8", errors="replace")


class ChatTemplate:
    """The GGUF's chat template behind the tokenizer interface `prompts.render_pieces` reads."""

    def __init__(self, llm: Any) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.chat_template = llm.metadata.get("tokenizer.chat_template")
        self.eos_token = _token_text(llm, llm.token_eos())
        self.bos_token = _token_text(llm, llm.token_bos())
        # Compiled once per flag: every prompt renders through it.
        self._formatters = {flag: Jinja2ChatFormatter(self.chat_template, self.eos_token, self.bos_token,
                                                      add_generation_prompt=flag)
                            for flag in (True, False)} if self.chat_template else {}

    def apply_chat_template(self, messages: list[Message], *, tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        assert self._formatters and not tokenize
        return self._formatters[add_generation_prompt](messages=messages).prompt


def _token_text(llm: Any, token: int) -> str:
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token >= 0 else ""


def load_gguf(path: str | Path, *, n_ctx: int = DEFAULT_CONTEXT, slots: int = DEFAULT_SLOTS,
              n_threads: int | None = None, adapter: str | None = None, extra_buffers: bool = False) -> LoadedGGUF:
    """extra_buffers: llama.cpp's repacked weight buffers (AMX, AVX-512 layouts). Off by default: with a
    native build on a CPU that reports AMX, the AMX buffer segfaulted in the first decode on this project's
    VMs (llama-cpp-python 0.3.36); the plain CPU buffers work everywhere.
    n_threads: default `default_threads()`."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise SrllmError("the llama-cpp backend needs llama-cpp-python: pip install 'srllm[llamacpp]'") from exc
    path = Path(path).expanduser()
    if not path.is_file():
        raise SrllmError(f"no GGUF file at {path}")
    threads = n_threads or default_threads()
    with _default_params(llama_cpp.llama_cpp, extra_buffers, slots + 1):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=512, n_threads=threads,
                              n_threads_batch=threads, verbose=False)
    return LoadedGGUF(llm, path, slots=slots, adapter=adapter)


def default_threads() -> int:
    """torch's thread count where torch is loaded (`srllm serve --threads N` sets it before the engine loads),
    else every CPU this process may use (llama-cpp-python's own default is half of them). llama.cpp's threads
    spin at each barrier, so on a CPU shared with other busy processes fewer threads are faster: measured
    here under a load of ~9 on 2 cores, one rewrite took 4.6 s with 2 threads and 0.24 s with 1."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    return len(os.sched_getaffinity(0))


@contextmanager
def _default_params(bindings: Any, extra_buffers: bool, n_seq_max: int) -> Iterator[None]:
    """`Llama()` takes neither use_extra_bufts nor n_seq_max/kv_unified; it starts from the bindings'
    default model and context params, so set them there for the load. A unified KV cache lets every
    sequence share the head's cells (`llama_memory_seq_cp` adds a sequence id instead of copying)."""
    model_defaults, context_defaults = bindings.llama_model_default_params, bindings.llama_context_default_params

    def model_params() -> Any:
        value = model_defaults()
        value.use_extra_bufts = extra_buffers
        return value

    def context_params() -> Any:
        value = context_defaults()
        value.n_seq_max = n_seq_max
        value.kv_unified = True
        return value

    bindings.llama_model_default_params = model_params
    bindings.llama_context_default_params = context_params
    try:
        yield
    finally:
        bindings.llama_model_default_params = model_defaults
        bindings.llama_context_default_params = context_defaults


def find_gguf(model: str) -> Path:
    """A .gguf path as given, or the GGUF file pulled for a registry model (the base, no adapter)."""
    from srllm.paths import cache_dir

    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    found = sorted((cache_dir() / "models" / model).glob("*.gguf"))
    if not found:
        raise SrllmError(f"no GGUF file for {model!r}; pass --model PATH.gguf or run `srllm models pull {model}`")
    return found[0]


def gguf_for(model: str, adapter: str | Path | None = "auto", *, outtype: str = "f16") -> tuple[Path, str | None]:
    """The GGUF to run and the adapter merged into it: a .gguf file as it is; a registry model without an
    adapter as the GGUF it ships as (a Q4_K_M file runs quantized, not re-exported at `outtype`); otherwise
    the model with its adapter ("auto": the shipped one) merged and exported by `models.merge.merged_gguf`
    (cached)."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if adapter not in (None, "auto"):
            raise InputError("llama.cpp cannot apply a PEFT adapter to a GGUF file; merge it first with "
                             f"`srllm merge {adapter} --gguf OUT.gguf` and pass --model OUT.gguf", field="adapter")
        return find_gguf(model), None
    from srllm.models import default_adapter_for, get_spec, resolve
    from srllm.models.merge import merged_gguf
    from srllm.models.pull import gguf_path

    resolved = resolve(model)  # pulls a registry model on first use, which also caches its GGUF
    if adapter == "auto":
        adapter = default_adapter_for(resolved.name)
    if not adapter and (spec := get_spec(model)) is not None and (shipped := gguf_path(spec)) is not None:
        return shipped, None
    return merged_gguf(model, adapter, outtype=outtype), str(adapter) if adapter else None


class LlamaCppRewriter(ModelIdentity):
    """A `RewriteEngine`; `generate(texts)` -> a `Generation` per text, like `Rewriter`."""

    backend = "llama-cpp"
    concurrent = True  # overlapping calls share decode steps (engine.llama_batch)

    def __init__(self, loaded: LoadedGGUF, *, template: str = "debias", shots: Sequence[Demonstration] = (),
                 settings: GenerationSettings | None = None, seed: int = 0) -> None:
        self.loaded = loaded
        self.template = get_template(template)
        self.shots = list(shots)
        self.settings = settings or GenerationSettings()
        self.seed = seed
        self._head: int | None = None
        self._overhead: int | None = None  # prompt tokens around the text
        # The smaller of the context llama.cpp was given and the one the model was trained for.
        llm = loaded.llm
        self.context_length = min(llm.n_ctx(), llm._model.n_ctx_train() or llm.n_ctx())

    @classmethod
    def load(cls, path: str | Path, *, template: str = "debias", k_shot: int = 0,
             demonstrations: str | Path | None = None, settings: GenerationSettings | None = None,
             seed: int = 0, n_ctx: int = DEFAULT_CONTEXT, slots: int = DEFAULT_SLOTS,
             adapter: str | None = None) -> LlamaCppRewriter:
        """k_shot: worked examples before each text (a bigger model follows them closely); they are part of
        the shared head, decoded once."""
        return cls(load_gguf(path, n_ctx=n_ctx, slots=slots, adapter=adapter), template=template,
                   shots=shots_for(k_shot, demonstrations, seed), settings=settings, seed=seed)

    @classmethod
    def from_model(cls, model: str, *, adapter: str | Path | None = "auto", k_shot: int = 0,
                   outtype: str = "f16", **options: Any) -> LlamaCppRewriter:
        """The registry model / model dir with its adapter merged into a cached GGUF, or a .gguf as it is.
        A k-shot prompt runs the base model, as the Rewriter does."""
        from srllm.models import adapter_template

        path, merged = gguf_for(model, None if k_shot else adapter, outtype=outtype)
        if not options.get("template"):  # the template the merged adapter was trained with
            options["template"] = adapter_template(merged)
        return cls.load(path, k_shot=k_shot, adapter=merged, **options)

    def sampling(self, n: int, *, temperature: float, top_p: float, chunk: bool | None = None,
                 seed: int | None = None) -> LlamaCppRewriter:
        settings = replace(self.settings, do_sample=True, temperature=temperature, top_p=top_p,
                           num_return_sequences=n, sample_seed=seed)
        return LlamaCppRewriter(self.loaded, template=self.template.name, shots=self.shots, settings=settings,
                                seed=self.seed)

    def count_tokens(self, text: str) -> int:
        return len(self.loaded.tokenize(text, special=False))

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """The chat prompt's ids with every message content as plain text (as `prompts.tokens` does for
        the transformers tokenizer): a text spelling "<|im_end|>" cannot close its turn."""
        if not self.loaded.template.chat_template:
            raise SrllmError(f"{self.loaded.path} has no chat template (tokenizer.chat_template)")
        pieces = render_pieces(self.loaded.template, messages)
        if not any(_spells_special(self.loaded, piece) for piece in pieces if piece.content):
            return self.loaded.tokenize(join(pieces), special=True)
        ids: list[int] = []
        for piece in pieces:
            ids += self.loaded.tokenize(piece.text, special=not piece.content)
        return ids

    def head_length(self) -> int:
        """Tokens every prompt of this rewriter starts with (system prompt, instruction, shots)."""
        if self._head is None:
            probes = [self._prompt(probe) for probe in ("Alpha 1.", "zulu; 9")]
            self._head = common_prefix_length(probes)
        return self._head

    def _prompt(self, text: str) -> list[int]:
        return self.prompt_ids(build_messages(text, template=self.template, shots=self.shots))

    def fit_problem(self, text: str) -> str | None:
        """Why the text does not fit the context with its answer, or None (llama.cpp has no --chunk)."""
        tokens = self.count_tokens(text)
        limit = self.context_length
        if self._overhead is None:
            self._overhead = len(self._prompt(""))
        if tokens + self._overhead + self.settings.budget(tokens) <= limit:
            return None
        return (f"the text has {tokens} tokens; with the prompt and the answer it does not fit the llama.cpp "
                f"context of {limit} tokens. Split it, or use the transformers backend with --chunk.")

    def input_problem(self, text: str) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return "the text is empty"
        return not_text(text) or self.fit_problem(text)

    def generate(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[Generation]:
        """Per text its cleaned candidates and token counts; `batch_size` sequences of this call run at once."""
        from srllm.engine.continuous import current_cancel
        from srllm.engine.llama_batch import Group, Job, Sampling

        n = max(1, self.settings.num_return_sequences)
        cancel = current_cancel()
        sample = self.settings.do_sample
        rng = random.Random(self.seed)
        group = Group(batch_size * n)
        head = self.head_length() if self.settings.prefix_cache else 0
        jobs, owners = [], []
        for index, text in enumerate(texts):
            if problem := self.input_problem(text):
                raise InputError(problem, line=index + 1, field="text")
            prompt = self._prompt(text)
            budget = self.settings.budget(self.count_tokens(text))
            for j in range(n):
                seed = self.settings.seed_for(text, j)
                if seed is None:
                    seed = rng.randrange(2**31) if sample else 0
                sampling = Sampling(sample, self.settings.temperature, self.settings.top_p, seed)
                jobs.append(Job(prompt, budget, sampling, min(head, len(prompt) - 1), group, cancel))
                owners.append(index)
        futures = self.loaded.loop.submit(jobs)
        outputs = _wait(futures, owners, n, len(texts), progress)
        candidates: list[list[str]] = [[] for _ in texts]
        generated = [0] * len(texts)
        for owner, tokens in zip(owners, outputs, strict=True):
            candidates[owner].append(clean_response(self._text(tokens)))
            generated[owner] += len(tokens)
        prompts = {owner: len(job.prompt) for job, owner in zip(jobs, owners, strict=True)}
        return [Generation(candidates[i], prompts.get(i, 0), generated[i]) for i in range(len(texts))]

    def _text(self, tokens: list[int]) -> str:
        return self.loaded.detokenize([t for t in tokens if not self.loaded.loop.is_eog(t)])

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[RewriteResult]:
        return [RewriteResult(text=text, rewrite=out.candidates[0] if out.candidates else "", model=self.model,
                              adapter=self.adapter, method=self.method, prompt_version=self.prompt_version,
                              prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens)
                for text, out in zip(texts, self.generate(texts, batch_size=batch_size, progress=progress),
                                     strict=True)]

    def generate_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, Generation]]:
        """(index, generation) per text, like `Rewriter.generate_stream`; llama.cpp's loop hands a call's texts
        back together, so they come when the call ends."""
        yield from enumerate(self.generate(texts, batch_size=batch_size))

    def rewrite_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, RewriteResult]]:
        """(index, result) per text, so file jobs (`rewrite.jobs.streamed`) run on this engine too."""
        yield from enumerate(self.rewrite(texts, batch_size=batch_size))

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        """One chat completion through the same loop (the prompt is the messages alone)."""
        from srllm.engine.continuous import current_cancel
        from srllm.engine.llama_batch import Group, Job, Sampling

        prompt = self.prompt_ids(messages)
        sampling = Sampling(temperature > 0, temperature, 1.0, random.Random(self.seed).randrange(2**31))
        [future] = self.loaded.loop.submit([Job(prompt, max_tokens, sampling, 0, Group(1), current_cancel())])
        tokens = future.result()
        ended = bool(tokens) and self.loaded.loop.is_eog(tokens[-1])
        return ChatOutput(content=self._text(tokens), prompt_tokens=len(prompt), completion_tokens=len(tokens),
                          finish_reason="stop" if ended else "length")

    def close(self) -> None:
        self.loaded.loop.close()


def _spells_special(loaded: LoadedGGUF, piece: Piece) -> bool:
    return loaded.tokenize(piece.text, special=True) != loaded.tokenize(piece.text, special=False)


def _wait(futures: list[Future], owners: list[int], n: int, total: int, progress: bool) -> list[list[int]]:
    """The futures' results in order; the progress bar advances as each text's last candidate finishes."""
    left = [n] * total
    position = {id(future): owner for future, owner in zip(futures, owners, strict=True)}
    with optional_progress(total, progress, "rewriting (llama.cpp)") as advance:
        for future in as_completed(futures):
            owner = position[id(future)]
            left[owner] -= 1
            if not left[owner]:
                advance(1)
    return [future.result() for future in futures]


def load(args: EngineArgs) -> LlamaCppRewriter:
    return LlamaCppRewriter.from_model(args.model, adapter=args.adapter, template=args.template,
                                       outtype=gguf_type(args.dtype),
                                       settings=GenerationSettings(max_new_tokens=args.max_new_tokens))
