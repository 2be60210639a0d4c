"""Batched rewriting on a causal LM: prompts -> left-padded batches -> greedy decoding -> cleaning."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srllm.engine.chunk import chunk_text
from srllm.engine.clean import clean_response
from srllm.engine.local import context_length, end_of_turn_ids, tokenizer_lock
from srllm.engine.prefix_cache import PrefixCache, cache_kwarg, common_prefix_length, layout
from srllm.engine.protocol import ChatOutput, Completion, CompletionParams, Generation, OnText, RewriteResult
from srllm.errors import InputError
from srllm.lines import not_text
from srllm.models import DEFAULT_MODEL, LoadedModel, load_causal_lm
from srllm.progress import collect_in_order
from srllm.prompts import (
    Demonstration,
    PromptTemplate,
    build_messages,
    get_template,
    load_demonstrations,
    render_prompt,
    select_shots,
)
from srllm.prompts.render import Message
from srllm.prompts.tokens import encode_messages, encode_text


@dataclass(frozen=True)
class GenerationSettings:
    """Greedy decoding by default (the paper's); the budget scales with the input's length."""

    max_new_tokens: int | None = None  # None: scaled to the input
    max_new_tokens_cap: int = 512
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.95
    num_return_sequences: int = 1
    # Sampling only: each text's samples draw from their own generators, seeded by this seed and the
    # text (`sample_seed`), so what a row gets does not depend on which rows share its batch or call.
    # None: one shared generator (torch's global one), as `torch.manual_seed` leaves it.
    sample_seed: int | None = None
    # Prefill the prompt head (system prompt, instruction, shots) once and share its KV cache.
    prefix_cache: bool = True
    # Continuous batching: rows leave the batch when done and waiting prompts take their slot;
    # concurrent callers (the service's requests) share decode steps. Off: one generate() per batch.
    continuous: bool = True

    def budget(self, input_tokens: int) -> int:
        if self.max_new_tokens:
            return self.max_new_tokens
        return min(self.max_new_tokens_cap, int(input_tokens * 1.5) + 32)

    def seed_for(self, text: str, sample: int) -> int | None:
        """The seed of `text`'s `sample`-th sample (None: unseeded, or greedy)."""
        if self.sample_seed is None or not self.do_sample:
            return None
        return sample_seed(self.sample_seed, text, sample)

    def answerable_tokens(self) -> int:
        """The longest input whose whole rewrite fits the answer budget (the scaled budget is 1.5x + 32):
        a longer one's answer is cut off at the cap."""
        cap = self.max_new_tokens or self.max_new_tokens_cap
        return max(16, int((cap - 32) / 1.5))


def sample_seed(seed: int, text: str, sample: int) -> int:
    """A 63-bit seed from the run's seed, the text and the sample's number (stable across processes,
    unlike `hash`)."""
    digest = hashlib.blake2b(f"{seed}\x00{sample}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def default_demonstrations() -> Path | None:
    """The shipped demonstrations file, if this install has it."""
    from srllm.paths import ASSETS_DIR

    path = ASSETS_DIR / "prompts" / "demonstrations.jsonl"
    return path if path.is_file() else None


def shots_for(k_shot: int, demonstrations: str | Path | None, seed: int) -> list[Demonstration]:
    """k seeded demonstrations from a file (default: the shipped ones); none for k = 0."""
    if not k_shot:
        return []
    source = demonstrations or default_demonstrations()
    if source is None:
        raise InputError("k-shot prompting needs a demonstrations file", field="demonstrations")
    return select_shots(load_demonstrations(source), k_shot, seed=seed)


def prompting_method(shots: Sequence[Demonstration]) -> str:
    """How a base model without an adapter is prompted, as results name it: "zero-shot" or "k-shot"."""
    return f"{len(shots)}-shot" if shots else "zero-shot"


class ModelIdentity:
    """What results and manifests name an engine by, read from its loaded model (`name`, `adapter`,
    `method`), its prompt template and its demonstrations; shared by the local engines."""

    loaded: Any
    template: Any
    shots: Sequence[Demonstration]

    @property
    def model(self) -> str:
        return self.loaded.name

    @property
    def adapter(self) -> str | None:
        return self.loaded.adapter

    @property
    def method(self) -> str:
        return self.loaded.method if self.loaded.adapter else prompting_method(self.shots)

    @property
    def prompt_version(self) -> str:
        return self.template.version


class Rewriter(ModelIdentity):
    """`Rewriter.load().rewrite(["..."])`: the one call behind the CLI and the service (a `RewriteEngine`)."""

    backend = "transformers"

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        template: PromptTemplate | str = "debias",
        shots: Sequence[Demonstration] = (),
        settings: GenerationSettings | None = None,
        chunk: bool = False,
    ) -> None:
        self.loaded = loaded
        self.template = get_template(template) if isinstance(template, str) else template
        self.shots = list(shots)
        self.settings = settings or GenerationSettings()
        self.chunk = chunk
        self.context_length = context_length(loaded)
        self._prefix = PrefixCache(loaded.model) if _can_share_prefix(loaded) else None
        self._head_length: int | None = None
        self._limit: int | None = None  # context left after the prompt around the text (fixed per rewriter)

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        *,
        adapter: str | Path | None = "auto",
        k_shot: int = 0,
        demonstrations: str | Path | None = None,
        template: PromptTemplate | str | None = None,
        settings: GenerationSettings | None = None,
        chunk: bool = False,
        seed: int = 0,
        dtype: str = "auto",
    ) -> Rewriter:
        """adapter: "auto" (the shipped default adapter when one exists), None, or a PEFT dir.
        dtype: "auto" runs bf16 where the hardware computes it natively, else fp32 (`models.dtype`).
        template: None takes the one the adapter was trained with (`adapter_template`)."""
        from srllm.models import adapter_template, default_adapter_for, resolve

        if adapter == "auto":
            adapter = default_adapter_for(resolve(model).name) if k_shot == 0 else None
        loaded = load_causal_lm(model, adapter=adapter, dtype=dtype)
        return cls(loaded, template=template or adapter_template(adapter),
                   shots=shots_for(k_shot, demonstrations, seed), settings=settings,
                   chunk=chunk)

    def sampling(self, n: int, *, temperature: float, top_p: float, chunk: bool | None = None,
                 seed: int | None = None) -> Rewriter:
        """The same model, template and shots, drawing `n` samples per text (the guard's retries,
        self-training's candidates); with `seed`, each text's samples are seeded by it and the text."""
        settings = replace(self.settings, do_sample=True, temperature=temperature, top_p=top_p,
                           num_return_sequences=n, sample_seed=seed)
        return Rewriter(self.loaded, template=self.template, shots=self.shots, settings=settings,
                        chunk=self.chunk if chunk is None else chunk)

    @property
    def dtype(self) -> str | None:
        return self.loaded.dtype

    def messages(self, text: str) -> list[Message]:
        return build_messages(text, template=self.template, shots=self.shots)

    def prompt(self, text: str) -> str:
        return render_prompt(self.loaded.tokenizer, self.messages(text))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model gets it: plain text, whatever special tokens it spells."""
        with tokenizer_lock(self.loaded.tokenizer):
            return len(encode_text(self.loaded.tokenizer, text))

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[RewriteResult]:
        """Rewrite each text; results keep the input order."""
        return collect_in_order(self.rewrite_stream(texts, batch_size=batch_size), len(texts), progress)

    def rewrite_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, RewriteResult]]:
        """(index, result) for each text as soon as it is done, in the order they finish: a file job saves
        and counts each row then. `rewrite` is this, collected: the same batches, so the same results.
        Every text is checked (empty, too long) before any is generated."""
        units = self._units(texts)
        owner = [index for index, parts in enumerate(units) for _ in parts]
        left = [len(parts) for parts in units]
        pieces: list[dict[int, Generation]] = [{} for _ in texts]
        for position, generation in self.generate_stream([unit for parts in units for unit in parts],
                                                         batch_size=batch_size):
            index = owner[position]
            pieces[index][position] = generation
            left[index] -= 1
            if not left[index]:
                yield index, self._result(texts[index], [pieces[index][p] for p in sorted(pieces[index])])

    def _result(self, text: str, pieces: Sequence[Generation]) -> RewriteResult:
        return RewriteResult(
            text=text,
            rewrite=" ".join(piece.candidates[0] for piece in pieces),
            model=self.model,
            adapter=self.adapter,
            method=self.method,
            prompt_version=self.prompt_version,
            prompt_tokens=sum(piece.prompt_tokens for piece in pieces),
            generated_tokens=sum(piece.generated_tokens for piece in pieces),
            chunks=len(pieces),
        )

    def _units(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text as one unit, or (with chunk) as sentence chunks when the context or the answer cap
        would not take it whole."""
        limit = self._input_limit()
        units: list[list[str]] = []
        for index, text in enumerate(texts):
            if problem := _text_problem(text):
                raise InputError(problem, line=index + 1, field="text")
            tokens = self.count_tokens(text)
            if self._whole(tokens, limit):
                units.append([text])
            elif self.chunk:
                units.append(chunk_text(text, self._chunk_tokens(limit), self.count_tokens))
            elif problem := self._context_problem(tokens, limit):
                raise InputError(problem, line=index + 1, field="text")
            else:  # fits the context, but the capped answer may be cut: the file job flags a short rewrite
                units.append([text])
        return units

    def fit_problem(self, text: str) -> str | None:
        """Why this rewriter cannot take `text` (too long for the context and no chunking), or None."""
        if self.chunk:
            return None
        return self._context_problem(self.count_tokens(text), self._input_limit())

    def input_problem(self, text: str) -> str | None:
        """Why `rewrite([text])` would refuse `text` (empty, not text, too long for the context), or None:
        the guard asks before scoring an input."""
        return _text_problem(text) or self.fit_problem(text)

    def _input_limit(self) -> int:
        if self._limit is None:
            self._limit = self.context_length - len(self._prompt_ids(""))
        return self._limit

    def _whole(self, tokens: int, limit: int) -> bool:
        """Fits the context with its answer, and (with a scaled budget) the answer is not capped."""
        if tokens + self.settings.budget(tokens) > limit:
            return False
        return bool(self.settings.max_new_tokens) or tokens <= self.settings.answerable_tokens()

    def _chunk_tokens(self, limit: int) -> int:
        """Chunks fit the context with their answer and are short enough to be answered in full."""
        return max(16, min(int((limit - 32) / 2.5), self.settings.answerable_tokens()))

    def _context_problem(self, tokens: int, limit: int) -> str | None:
        if tokens + self.settings.budget(tokens) <= limit:
            return None
        return (f"the text has {tokens} tokens; with the prompt and the answer it does not fit the "
                f"model's context of {self.context_length} tokens. Use --chunk to rewrite it "
                "sentence by sentence, or split it.")

    def generate(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[Generation]:
        """Per text its cleaned candidates and token counts, in input order."""
        return collect_in_order(self.generate_stream(texts, batch_size=batch_size), len(texts), progress)

    def generate_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, Generation]]:
        """(index, generation) per text as it finishes. Sorted by length to cut padding."""
        if self.continuous:
            yield from self._stream_continuous(texts, batch_size=batch_size)
            return
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start: start + batch_size]
            yield from zip(batch, self._generate_batch([texts[i] for i in batch]), strict=False)

    @property
    def continuous(self) -> bool:
        """Whether generation goes through the model's shared continuous-batching loop."""
        # Prompt-learning adapters (prefix tuning) own the cache: they take the generate() path.
        return self.settings.continuous and self._prefix is not None

    @property
    def concurrent(self) -> bool:
        """Overlapping `rewrite` calls share decode steps instead of queueing (the engine's optional extra)."""
        return self.continuous

    def _stream_continuous(self, texts: Sequence[str], *, batch_size: int) -> Iterator[tuple[int, Generation]]:
        """All texts through the model's shared decode loop (`engine.continuous`), `batch_size` rows
        at a time; each text as soon as all its samples are done. Greedy results equal the generate()
        path's, except that each row's budget follows its own length rather than its batch's longest."""
        from srllm.engine.continuous import Request, Sampling, decode_loop

        tokenizer = self.loaded.tokenizer
        n = max(1, self.settings.num_return_sequences)
        sampling = Sampling(self.settings.do_sample, self.settings.temperature, self.settings.top_p)
        head = self.head_length() if self.settings.prefix_cache else 0
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        requests = []
        for i in order:
            budget = self.settings.budget(self.count_tokens(texts[i]))  # each row its own budget
            requests += [Request(self._prompt_ids(texts[i]), budget, (i, j), sampling, head,
                                 seed=self.settings.seed_for(texts[i], j)) for j in range(n)]
        loop = decode_loop(self.loaded.model, pad_id=tokenizer.pad_token_id, eos_ids=end_of_turn_ids(self.loaded))
        samples: dict[int, dict[int, Any]] = {i: {} for i in order}
        for _, item in loop.stream(requests, slots=batch_size * n):
            index, sample = item.key
            samples[index][sample] = item
            if len(samples[index]) == n:
                done = samples.pop(index)
                yield index, self._generation([done[j] for j in range(n)])

    def _generation(self, samples: Sequence[Any]) -> Generation:
        """One text's finished samples (`continuous.Finished`, in sample order) as a Generation."""
        tokenizer = self.loaded.tokenizer
        with tokenizer_lock(tokenizer):
            decoded = tokenizer.batch_decode([item.tokens for item in samples], skip_special_tokens=True)
        return Generation([clean_response(text) for text in decoded], samples[-1].prompt_tokens,
                          sum(len(item.tokens) for item in samples))

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        """One chat completion on this rewriter's model (`engine.chat`): the prompt is the messages alone."""
        from srllm.engine.chat import chat_generate

        return chat_generate(self.loaded, messages, max_tokens=max_tokens, temperature=temperature)

    def complete(self, prompts: list[str] | list[list[Message]], params: CompletionParams, *,
                 on_text: OnText | None = None) -> Completion:
        """Chat or text completions on this rewriter's model with every parameter of `params` honoured
        in the decode loop (`engine.chat.complete`); the prompts are the messages or texts alone."""
        from srllm.engine.chat import complete

        return complete(self.loaded, prompts, params, on_text=on_text)

    def head_length(self) -> int:
        """Tokens every prompt of this rewriter starts with (system prompt, instruction, shots)."""
        if self._head_length is None:
            probes = [self._prompt_ids(probe) for probe in ("Alpha 1.", "zulu; 9")]
            self._head_length = common_prefix_length(probes)
        return self._head_length

    def _prompt_ids(self, text: str) -> list[int]:
        """Every generation path (continuous loop, generate(), the cached head) takes its ids from here:
        the text and the demonstrations are plain text, never chat markup (`prompts.tokens`)."""
        with tokenizer_lock(self.loaded.tokenizer):
            return encode_messages(self.loaded.tokenizer, self.messages(text))

    def _encode(self, texts: list[str], repeats: int) -> tuple[dict[str, Any], int]:
        """Model inputs for the batch (each row repeated `repeats` times) and the cached head length.

        With the prefix cache the rows are [head][padding][tail] and a ready cache rides along;
        without it they are plainly left-padded.
        """
        import torch

        tokenizer = self.loaded.tokenizer
        rows = [self._prompt_ids(text) for text in texts for _ in range(repeats)]
        head = 0
        if self._prefix is not None and self.settings.prefix_cache:
            # Keep at least one token per row to prefill: generate needs a new input to start from.
            head = max(0, min(self.head_length(), common_prefix_length(rows) - 1))
        ids, mask = layout(rows, head, tokenizer.pad_token_id)
        encoded: dict[str, Any] = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        if head:
            encoded[cache_kwarg()] = self._prefix.batch(rows[0][:head], len(rows))
        return encoded, head

    def _generate_batch(self, texts: list[str]) -> list[Generation]:
        import torch

        tokenizer, model = self.loaded.tokenizer, self.loaded.model
        n = self.settings.num_return_sequences
        # Rows are repeated here rather than by num_return_sequences, which would not expand a cache.
        encoded, _ = self._encode(texts, n)
        longest_input = max(self.count_tokens(text) for text in texts)
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.settings.budget(longest_input),
            "do_sample": self.settings.do_sample,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if self.settings.do_sample:
            kwargs.update(temperature=self.settings.temperature, top_p=self.settings.top_p)
        else:
            # Unset sampling knobs the model's generation_config may carry, to keep greedy quiet.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = model.generate(**encoded, **kwargs)
        prompt_len = encoded["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:]
        decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        eos = {tokenizer.eos_token_id, tokenizer.pad_token_id}
        results = []
        for row in range(len(texts)):
            candidates = [clean_response(decoded[row * n + j]) for j in range(n)]
            generated = sum(_generated_length(new_tokens[row * n + j].tolist(), eos) for j in range(n))
            prompt_tokens = int(encoded["attention_mask"][row * n].sum())
            results.append(Generation(candidates, prompt_tokens, generated))
        return results


def _text_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "the text is empty"
    return not_text(text)  # e.g. an undecodable byte of argv, kept as a lone surrogate


def _can_share_prefix(loaded: LoadedModel) -> bool:
    """Decoder-only models with a KV cache; not prompt-learning adapters, which own the cache."""
    model = loaded.model
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    peft_config = getattr(model, "peft_config", None)
    if peft_config and any(getattr(c, "is_prompt_learning", False) for c in peft_config.values()):
        return False
    return hasattr(model, "generate")


def _generated_length(tokens: list[int], stop: set[int | None]) -> int:
    for position, token in enumerate(tokens):
        if token in stop:
            return position + 1
    return len(tokens)
