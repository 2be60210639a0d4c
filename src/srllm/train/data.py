"""Training examples: CMD records -> (prompt, completion) -> token ids with the prompt masked.

The loss is the paper's Eq. 1, -log p(y | x): only completion tokens carry labels; prompt
tokens get -100 so the model is never trained to reproduce the instruction or the unsafe text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.provenance import file_sha256
from srllm.train.config import DataSource

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    response: str
    where: str  # "file:line", for messages


@dataclass
class SourceStats:
    path: str
    split: str
    sha256: str
    rows: int
    used: int
    limit: int | None = None
    exclude_last: int = 0


@dataclass
class ExampleSet:
    examples: list[Example] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)


def split_part(records: list[Any], part: str, ratios: tuple[float, float, float], seed: int) -> list[Any]:
    """One part of the data layer's deterministic 70/10/20 split (label-stratified, and a text
    never lands in two parts), so dev/test records stay out of training across runs."""
    from srllm.data.split import split_records

    parts = split_records(records, dict(zip(("train", "dev", "test"), ratios, strict=True)), seed=seed)
    return parts[part]


def _read(path: str) -> tuple[list[Any], int]:
    from srllm.data.readers import load_records

    result = load_records(path)
    if result.problems:
        raise result.problems[0].to_error()
    return result.records, result.rows


def load_source(source: DataSource, ratios: tuple[float, float, float], seed: int,
                split_seed: int = 0) -> tuple[list[Example], SourceStats]:
    """Read one source and check every kept record has a safe variation, before any model loads."""
    if not Path(source.path).exists():
        raise InputError("does not exist; check the --data/--dev path", path=source.path)
    records, rows = _read(source.path)
    if source.exclude_last:
        records = _drop_last_rows(records, source.exclude_last)
    if source.split != "all":
        records = split_part(records, source.split, ratios, split_seed)
    if source.limit is not None and len(records) > source.limit:
        records = sorted(random.Random(seed).sample(records, source.limit), key=lambda r: r.origin or (r.id, 0))
    examples = []
    for record in records:
        if not (record.safe_variation or "").strip():
            path, line = record.origin or (source.path, None)
            raise InputError("is missing; every training record needs its safe rewrite (the target the "
                             "model learns). Add it or remove the record", path=path, line=line,
                             field="safe_variation")
        examples.append(Example(record.id, record.text, record.safe_variation, record.where()))
    stats = SourceStats(source.path, source.split, file_sha256(source.path), rows, len(examples),
                        source.limit, source.exclude_last)
    return examples, stats


def _drop_last_rows(records: list[Any], count: int) -> list[Any]:
    """Drop every record read from the file's last `count` rows (a reserved held-out slice)."""
    lines = sorted({r.origin[1] for r in records if r.origin})
    kept = set(lines[: max(0, len(lines) - count)])
    return [r for r in records if r.origin and r.origin[1] in kept]


def load_examples(sources: list[DataSource], ratios: tuple[float, float, float], seed: int,
                  *, role: str, split_seed: int = 0) -> ExampleSet:
    out = ExampleSet()
    for source in sources:
        examples, stats = load_source(source, ratios, seed, split_seed)
        out.examples.extend(examples)
        out.sources.append(stats)
    if sources and not out.examples:
        names = ", ".join(f"{s.path}#{s.split}" if s.split != "all" else s.path for s in sources)
        raise InputError(f"the {role} split is empty: {names} gave no records with a safe variation; "
                         "pass a file with records (or a different split)", path=sources[0].path)
    return out


def mark_examples(examples: list[Example], template: str, *, dropout: float, seed: int) -> list[Example]:
    """With a marked template (`PromptTemplate.marks`), each input with its harmful spans between marks, as
    the guard hands texts to the model (`rewrite.marking`); a seeded `dropout` share of the inputs that
    have spans stays unmarked. Other templates: the examples unchanged."""
    from srllm.prompts import get_template

    if not get_template(template).marks or not examples:
        return examples
    from srllm.prompts.marks import neutralise_marks
    from srllm.rewrite.marking import harmful_spans, mark_text
    from srllm.scorers.judge import shared_judge

    judged = shared_judge().judge([example.text for example in examples])
    rng = random.Random(seed)
    marked = []
    for example, verdict in zip(examples, judged, strict=True):
        spans = harmful_spans(example.text, verdict.spans)
        keep = bool(spans) and rng.random() >= dropout
        text = mark_text(example.text, spans) if keep else neutralise_marks(example.text)
        marked.append(replace(example, text=text))
    return marked


def encode_causal(tokenizer: Any, example: Example, template: str, max_length: int) -> dict[str, list[int]] | None:
    """Prompt and completion are tokenized separately so the mask boundary is exact; the text and the
    response are plain text, so a record cannot teach the model a chat marker (`prompts.tokens`)."""
    from srllm.prompts.render import prompt_and_completion_pieces
    from srllm.prompts.tokens import encode_pieces

    prompt, completion = prompt_and_completion_pieces(tokenizer, example.text, example.response, template=template)
    prompt_ids = encode_pieces(tokenizer, prompt)
    completion_ids = encode_pieces(tokenizer, completion)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in completion_ids[-2:]:
        completion_ids = completion_ids + [tokenizer.eos_token_id]
    if len(prompt_ids) + len(completion_ids) > max_length:
        return None
    input_ids = prompt_ids + completion_ids
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids),
            "labels": [IGNORE_INDEX] * len(prompt_ids) + completion_ids, "length": len(input_ids)}


def prompt_head_length(tokenizer: Any, template: str) -> int:
    """Tokens every encoded training example starts with (system prompt, instruction, chat markers)."""
    from srllm.engine.prefix_cache import common_prefix_length

    probes = [Example(id=f"probe-{i}", text=text, response="ok", where="probe")
              for i, text in enumerate(("Alpha 1.", "zulu; 9"))]
    rows = [encode_causal(tokenizer, probe, template, 10**6) for probe in probes]
    return common_prefix_length([row["input_ids"] for row in rows if row is not None])


def encode_seq2seq(tokenizer: Any, example: Example, template: str, max_length: int) -> dict[str, list[int]] | None:
    """Encoder-decoder baselines (T5/BART): the prompt is the encoder input, the rewrite the target."""
    from srllm.prompts import build_messages
    from srllm.prompts.render import render_pieces
    from srllm.prompts.tokens import encode_pieces, encode_text

    prompt = render_pieces(tokenizer, build_messages(example.text, template=template))
    input_ids = encode_pieces(tokenizer, prompt, add_special_tokens=True)
    labels = encode_text(tokenizer, example.response, add_special_tokens=True)
    if tokenizer.eos_token_id is not None and labels[-1:] != [tokenizer.eos_token_id]:
        labels = labels + [tokenizer.eos_token_id]
    if len(input_ids) > max_length or len(labels) > max_length:
        return None
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels,
            "length": len(input_ids)}


def tokenize(tokenizer: Any, examples: list[Example], *, template: str, max_length: int,
             seq2seq: bool) -> tuple[Any, int]:
    """A datasets.Dataset of encoded examples and the number dropped for exceeding max_length."""
    from datasets import Dataset

    encode = encode_seq2seq if seq2seq else encode_causal
    rows, dropped = [], 0
    for example in examples:
        row = encode(tokenizer, example, template, max_length)
        if row is None:
            dropped += 1
            continue
        rows.append(row)
    if not rows:
        raise InputError(f"every example is longer than max_length={max_length} tokens; raise --max-length",
                         field="max_length")
    return Dataset.from_list(rows), dropped
