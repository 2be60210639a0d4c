"""The judge's training set: every mix record as labelled sentences with their harmful spans.

`srllm data build-judge` reads a mix (data/judge_mix.json), leakage-checks it like the rewriter's
mix, and turns each CMD record into examples for the judge (srllm.scorers.judge):

- the unsafe text with `toxic` / `stereotype` from its labels and kind, and its harmful spans:
  the record's `biased_words` where they occur in the text, else the words the safe variation
  deleted or replaced (a ParaDetox pair shows exactly which words were the insult);
- the safe variation as a benign example with no spans (a matched pair is the strongest signal);
- a benign record once, with no spans.

Spans are character offsets; `spans: null` means unknown (the span loss skips that example).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import srllm.data.corpus.identity  # noqa: F401  (registers the identity source types)
from srllm.data.corpus.mix import build_mix, load_mix, manifest_path, write_json
from srllm.data.schema import CMDRecord, normalize_text
from srllm.errors import InputError
from srllm.provenance import file_sha256
from srllm.text.writers import write_jsonl

LABELS = ("toxic", "stereotype")
TOXIC_KINDS = {"toxicity", "insult", "identity-attack"}
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


@dataclass
class JudgeExample:
    id: str
    text: str
    toxic: int
    stereotype: int
    spans: list[tuple[int, int, str]] | None
    source: str
    kind: str


def harm_labels(record: CMDRecord) -> tuple[int, int]:
    """(toxic, stereotype) of a record's text from its labels and its kind."""
    kind = str(record.meta.get("kind") or "")
    toxicity, bias = record.labels.toxicity, record.labels.bias
    if kind in {"benign", "benign-identity"}:
        return 0, 0
    if record.source == "sr-llm":
        dimension = str(record.meta.get("dimension", "")).lower()
        return (int(bias == "Yes" and dimension == "toxicity"), int(bias == "Yes" and dimension != "toxicity"))
    toxic = int(toxicity in ("Mild", "High") or (kind in TOXIC_KINDS and toxicity is None))
    stereotype = int(bias == "Yes" and kind not in TOXIC_KINDS)
    return toxic, stereotype


def _phrase_spans(text: str, phrases: list[str]) -> list[tuple[int, int]]:
    out = []
    lower = text.lower()
    for phrase in phrases:
        phrase = phrase.strip().strip(".").lower()
        start = lower.find(phrase) if phrase else -1
        if start >= 0:
            out.append((start, start + len(phrase)))
    return out


def diff_spans(text: str, safe: str) -> list[tuple[int, int]]:
    """Character spans of the words of `text` that `safe` deleted or replaced (punctuation-only runs dropped)."""
    tokens = list(_TOKEN.finditer(text))
    theirs = [m.group(0).lower() for m in _TOKEN.finditer(safe)]
    matcher = difflib.SequenceMatcher(None, [m.group(0).lower() for m in tokens], theirs, autojunk=False)
    spans = []
    for op, i1, i2, _, _ in matcher.get_opcodes():
        words = [m for m in tokens[i1:i2] if m.group(0)[0].isalnum() or m.group(0)[0] == "_"]
        if op in ("delete", "replace") and words:
            spans.append((words[0].start(), words[-1].end()))
    return merge_spans(text, spans)


def merge_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or whitespace-separated spans joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and (start <= out[-1][1] or not text[out[-1][1]:start].strip()):
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def record_spans(record: CMDRecord, label: str) -> list[tuple[int, int, str]] | None:
    spans = _phrase_spans(record.text, record.biased_words)
    if not spans and record.safe_variation and normalize_text(record.safe_variation) != normalize_text(record.text):
        spans = diff_spans(record.text, record.safe_variation)
    if not spans:
        return None
    return [(s, e, label) for s, e in merge_spans(record.text, spans)]


def record_examples(record: CMDRecord) -> list[JudgeExample]:
    kind = str(record.meta.get("kind") or "")
    toxic, stereotype = harm_labels(record)
    harmful = bool(toxic or stereotype)
    label = "toxic" if toxic and (kind in TOXIC_KINDS or not stereotype) else "stereotype"
    spans = (record_spans(record, label) if harmful else [])
    out = [JudgeExample(record.id, record.text, toxic, stereotype, spans, record.source or "", kind)]
    safe = record.safe_variation
    if harmful and safe and normalize_text(safe) != normalize_text(record.text):
        out.append(JudgeExample(f"{record.id}:safe", safe, 0, 0, [], record.source or "", "safe-variation"))
    return out


def examples_from(records: list[CMDRecord]) -> list[JudgeExample]:
    seen: set[str] = set()
    out = []
    for record in records:
        for example in record_examples(record):
            key = normalize_text(example.text)
            if key not in seen:
                seen.add(key)
                out.append(example)
    return out


def _is_dev(example_id: str, fraction: float) -> bool:
    digest = hashlib.sha256(example_id.split(":")[0].encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def build_judge_set(mix_path: str | Path, out: str | Path, *, dev_fraction: float = 0.05) -> dict[str, Any]:
    """Write OUT (train JSONL), dev.jsonl beside it (split by record, so a pair stays together) and a manifest."""
    if not 0 < dev_fraction < 1:
        raise InputError(f"dev fraction {dev_fraction} must be in (0, 1)", field="dev_fraction")
    result = build_mix(load_mix(mix_path), on_leak="drop")
    examples = examples_from(result.train)
    train = [e for e in examples if not _is_dev(e.id, dev_fraction)]
    dev = [e for e in examples if _is_dev(e.id, dev_fraction)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dev_path = out.with_name("dev.jsonl")
    write_jsonl((asdict(e) for e in train), out)
    write_jsonl((asdict(e) for e in dev), dev_path)

    def counts(rows: list[JudgeExample]) -> dict[str, Any]:
        return {"total": len(rows), "toxic": sum(e.toxic for e in rows), "stereotype": sum(e.stereotype for e in rows),
                "benign": sum(not (e.toxic or e.stereotype) for e in rows),
                "with_spans": sum(bool(e.spans) for e in rows),
                "by_source": dict(Counter(e.source for e in rows)),
                "by_source_and_kind": dict(Counter(f"{e.source}/{e.kind}" for e in rows))}

    manifest = {**result.manifest(), "created_by": "srllm data build-judge",
                "examples": {"train": counts(train), "dev": counts(dev)},
                "outputs": {"train": {"path": str(out), "sha256": file_sha256(out)},
                            "dev": {"path": str(dev_path), "sha256": file_sha256(dev_path)}}}
    write_json(manifest, manifest_path(out))
    return manifest
