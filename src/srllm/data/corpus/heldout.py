"""What never enters training: the evaluation sources' texts and the held-out slices of our own sources.

Evaluation sources are a registry of small readers (`EVAL_READERS`, one per kind: cmd, devcases,
stereoset, toxigen, crows-pairs, paradetox-eval); a source whose file is absent is skipped and
reported as such, never silently passed. Two sources of the mix hold part of themselves out: our
seed records keep their test split (`seed_test_split`), ParaDetox keeps a fixed evaluation slice
(`paradetox_eval_slice`), chosen by a hash of each row's own text.

This module is the bottom of `srllm.data.corpus`: `leakage` matches training texts against what is
held out here, and `targeted` and `mix` build on both; nothing here imports them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.data.readers import load_records, read_records
from srllm.data.schema import CMDRecord, normalize_text
from srllm.data.split import DEFAULT_RATIOS, split_records
from srllm.errors import InputError
from srllm.registry import Registry
from srllm.text.readers import read_json_lines

PARADETOX_EVAL_SALT = "srllm-paradetox-eval-v1"
PARADETOX_EVAL_N = 500


@dataclass(frozen=True)
class EvalText:
    source: str
    ref: str  # where it is in its source (id, item or line), for the report
    text: str
    # Held-out texts nobody may read (devcases): the report names them but never prints them.
    redact: bool = False


@dataclass
class EvalSourceStatus:
    name: str
    kind: str
    path: str
    status: str  # "checked" or "skipped"
    texts: int = 0
    reason: str | None = None


# ---- evaluation sources --------------------------------------------------------------------

EvalReader = Callable[[Path], list[EvalText]]
EVAL_READERS: Registry[EvalReader] = Registry("evaluation source kind")


def register_eval_reader(kind: str) -> Callable[[EvalReader], EvalReader]:
    """A decorator that adds what it decorates to `EVAL_READERS` as `kind`."""
    return EVAL_READERS.register(kind)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=str(path), line=exc.lineno) from exc


@register_eval_reader("cmd")
def read_cmd_texts(path: Path) -> list[EvalText]:
    """Texts and rewrites of CMD records (our own test split)."""
    out = []
    for record in read_records(path):
        out.append(EvalText("", record.id, record.text))
        if record.safe_variation:
            out.append(EvalText("", f"{record.id}:safe_variation", record.safe_variation))
    return out


@register_eval_reader("devcases")
def read_devcases_texts(path: Path) -> list[EvalText]:
    """Only the `text` field of each line, redacted in reports: the held-out quality set is never read otherwise."""
    out = []
    for number, row in read_json_lines(path):
        text = row.get("text")
        if isinstance(text, str) and text.strip():
            out.append(EvalText("", f"line {number}", text, redact=True))
    return out


@register_eval_reader("stereoset")
def read_stereoset_texts(path: Path) -> list[EvalText]:
    """Contexts and sentences of StereoSet's official layout (dev.json: {"data": {"intrasentence": [...], ...}})."""
    data = _load_json(path)
    out = []
    for task, items in (data.get("data", data) if isinstance(data, dict) else {}).items():
        for item in items if isinstance(items, list) else []:
            ref = f"{task}:{item.get('id', '?')}"
            context = item.get("context") or ""
            if context and "BLANK" not in context:
                out.append(EvalText("", f"{ref}:context", context))
            for sentence in item.get("sentences", []):
                out.append(EvalText("", f"{ref}:{sentence.get('id', '?')}", sentence.get("sentence", "")))
                if task == "intersentence" and context:
                    out.append(EvalText("", f"{ref}:{sentence.get('id', '?')}:joined",
                                        f"{context} {sentence.get('sentence', '')}"))
    return out


@register_eval_reader("toxigen")
def read_toxigen_texts(path: Path) -> list[EvalText]:
    """ToxiGen's annotated statements (a JSON list of {id, text, ...})."""
    data = _load_json(path)
    rows = data if isinstance(data, list) else data.get("data", [])
    return [EvalText("", f"id {row.get('id', i)}", row["text"]) for i, row in enumerate(rows)
            if isinstance(row, dict) and isinstance(row.get("text"), str)]


@register_eval_reader("crows-pairs")
def read_crows_pairs_texts(path: Path) -> list[EvalText]:
    """Both sentences of every CrowS-Pairs minimal pair (crows_pairs_anonymized.csv)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [EvalText("", f"row {i + 1}:{column}", row[column]) for i, row in enumerate(rows)
            for column in ("sent_more", "sent_less") if row.get(column)]


def load_eval_texts(name: str, kind: str, path: str | Path) -> tuple[list[EvalText], EvalSourceStatus]:
    reader = EVAL_READERS.get(kind, field=f"eval.{name}.kind")
    target = Path(path)
    if not target.exists():
        return [], EvalSourceStatus(name, kind, str(path), "skipped", 0, "file absent")
    texts = [EvalText(name, t.ref, t.text, t.redact) for t in reader(target)]
    return texts, EvalSourceStatus(name, kind, str(path), "checked", len(texts))


def text_sha256(text: str) -> str:
    """The id of a text for files that list evaluation items without their words."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


# ---- held-out slices of our own sources ---------------------------------------------------

def seed_test_split(records: Sequence[CMDRecord], seed: int = 0) -> dict[str, list[CMDRecord]]:
    """Our own records split 70/10/20 by the data layer (stratified, text-grouped); 'test' is held out."""
    return split_records(records, DEFAULT_RATIOS, seed=seed)


def _paradetox_key(text: str) -> str:
    return hashlib.sha256(f"{PARADETOX_EVAL_SALT}\x00{normalize_text(text)}".encode()).hexdigest()


def read_paradetox(path: str | Path) -> list[CMDRecord]:
    """Every ParaDetox row as a CMD record; the first unreadable row is an error naming its line."""
    result = load_records(path, importer="paradetox")
    if result.problems:
        raise result.problems[0].to_error()
    return result.records


def split_paradetox(records: list[CMDRecord], n: int) -> tuple[list[CMDRecord], list[CMDRecord]]:
    """(the evaluation slice, the rest), each in file order."""
    ranked = sorted(records, key=lambda r: _paradetox_key(r.text))
    chosen = {id(r) for r in ranked[:n]}
    return [r for r in records if id(r) in chosen], [r for r in records if id(r) not in chosen]


def paradetox_eval_slice(path: str | Path, n: int = PARADETOX_EVAL_N) -> list[CMDRecord]:
    """ParaDetox's held-out evaluation slice: the n rows whose normalized toxic text hashes lowest.

    The choice depends only on each row's own text (sha256 of "srllm-paradetox-eval-v1", NUL,
    normalize_text(toxic)), so reordering or appending rows never moves a row in or out.
    Records keep the raw text, the first paraphrase as `safe_variation` and the others in
    `meta.alternatives`, in file order.
    """
    return split_paradetox(read_paradetox(path), n)[0]


@register_eval_reader("paradetox-eval")
def read_paradetox_eval_texts(path: Path) -> list[EvalText]:
    """The ParaDetox evaluation slice (toxic text and every reference paraphrase)."""
    out = []
    for record in paradetox_eval_slice(path):
        out.append(EvalText("", record.id, record.text))
        for i, reference in enumerate([record.safe_variation, *record.meta.get("alternatives", [])]):
            if reference:
                out.append(EvalText("", f"{record.id}:ref{i + 1}", reference))
    return out

