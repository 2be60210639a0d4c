"""Importers: one small function per data format users hold, mapping a raw row to CMD fields.

An importer takes one raw row (a dict of column -> value, after any user field mapping) and
returns the CMD record dicts it yields (usually one). Problems in a row raise `FieldError`,
which the reader turns into a message naming file, line and field.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from srllm.data.schema import LABEL_NAMES, CMDRecord
from srllm.registry import Registry

RawRow = dict[str, Any]
Importer = Callable[[RawRow], list[RawRow]]


class FieldError(ValueError):
    """A value in one field of one row that cannot be imported."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ImporterSpec:
    name: str
    convert: Importer
    # Decides from the column names alone whether a file is in this format (auto-detection).
    detect: Callable[[list[str]], bool]
    description: str


IMPORTERS: Registry[ImporterSpec] = Registry("importer", field="importer")


def register_importer(name: str, detect: Callable[[list[str]], bool], description: str
                      ) -> Callable[[Importer], Importer]:
    def add(convert: Importer) -> Importer:
        IMPORTERS.register(name, ImporterSpec(name, convert, detect, description))
        return convert
    return add


def detect_importer(columns: list[str]) -> ImporterSpec | None:
    """The first registered importer whose columns match (registration order is priority order)."""
    return next((spec for spec in IMPORTERS.values() if spec.detect(columns)), None)


# ---- value helpers -------------------------------------------------------------------------

def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def text_or_none(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def parse_list(value: Any, field: str) -> list[str]:
    """A list from a list, a JSON or Python list literal ("['a', 'b']"), or a comma-separated string."""
    if is_missing(value):
        return []
    if hasattr(value, "tolist"):  # numpy arrays from Parquet / datasets
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if not is_missing(item)]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            try:
                # literal_eval evaluates literals only (no names, no calls): safe on untrusted text.
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                message = f"'{text[:60]}' looks like a list but does not parse ({exc})"
                raise FieldError(field, message) from exc
        if not isinstance(parsed, (list, tuple)):
            raise FieldError(field, f"'{text[:60]}' is not a list")
        return [str(item).strip() for item in parsed if not is_missing(item)]
    if text.lower() in {"none", "n/a", "null"}:
        return []
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def require(row: RawRow, column: str) -> str:
    if column not in row:
        raise FieldError(column, f"column '{column}' is missing")
    value = text_or_none(row[column])
    if value is None:
        raise FieldError(column, "is empty")
    return value


def _has(*columns: str) -> Callable[[list[str]], bool]:
    return lambda present: set(columns) <= set(present)


def _leftover(row: RawRow, used: Iterable[str]) -> dict[str, Any]:
    skip = set(used)
    return {k: v for k, v in row.items() if k not in skip and not is_missing(v)}


# ---- the native CMD layout (JSONL with nested labels, or flat columns in CSV/Parquet) ------

_LIST_FIELDS = ("target_groups", "biased_words")
_CMD_FIELDS = set(CMDRecord.model_fields)


def _is_cmd(columns: list[str]) -> bool:
    flat = {c.removeprefix("labels.") for c in columns if not c.startswith("meta.")}
    return "text" in flat and flat <= _CMD_FIELDS | set(LABEL_NAMES)


@register_importer("cmd", _is_cmd, "srllm's own CMD schema (JSONL, CSV, Parquet as written by srllm)")
def import_cmd(row: RawRow) -> list[RawRow]:
    record: RawRow = {}
    labels: dict[str, Any] = {}
    if isinstance(row.get("labels"), dict):
        labels.update(row["labels"])
    elif not is_missing(row.get("labels")):
        try:
            labels.update(json.loads(str(row["labels"])))
        except (json.JSONDecodeError, TypeError) as exc:
            raise FieldError("labels", "must be an object such as {\"bias\": \"Yes\"}") from exc
    meta: dict[str, Any] = {}
    for key, value in row.items():
        name = key.removeprefix("labels.")
        if key == "labels":
            continue
        if name in LABEL_NAMES:
            labels[name] = None if is_missing(value) else value
        elif key.startswith("meta."):
            meta[key.removeprefix("meta.")] = value
        elif key == "meta":
            meta.update(_parse_meta(value))
        elif key in _LIST_FIELDS:
            record[key] = parse_list(value, key)
        elif key in _CMD_FIELDS:
            if not is_missing(value):
                record[key] = str(value)
        else:
            raise FieldError(key, "is not a CMD field; rename it with a field mapping (COLUMN=FIELD) "
                                  "or keep it with COLUMN=meta.NAME")
    record["labels"] = labels
    record["meta"] = meta
    return [record]


def _parse_meta(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if is_missing(value):
        return {}
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise FieldError("meta", "must be a JSON object") from exc
    if not isinstance(parsed, dict):
        raise FieldError("meta", "must be a JSON object")
    return parsed


# ---- the paper's annotation JSON (arXiv 2404.01399, Section 2.1) ---------------------------

_PAPER_COLUMNS = ("Original_Sentence", "BIAS", "TOXICITY", "SENTIMENT", "HARM",
                  "DEMOGRAPHIC_TARGETING", "WORDS_OR_PHRASES", "Benign")


@register_importer("paper-json", _has("Original_Sentence"),
                   "the SR-LLM paper's JSON (Original_Sentence, BIAS, ..., Benign)")
def import_paper_json(row: RawRow) -> list[RawRow]:
    groups = [g for g in parse_list(row.get("DEMOGRAPHIC_TARGETING"), "DEMOGRAPHIC_TARGETING")
              if g.lower() not in {"none", "no"}]
    return [{
        "id": text_or_none(row.get("id")),
        "text": require(row, "Original_Sentence"),
        "labels": {"bias": row.get("BIAS"), "toxicity": row.get("TOXICITY"),
                   "sentiment": row.get("SENTIMENT"), "harm": row.get("HARM")},
        "target_groups": groups,
        "biased_words": parse_list(row.get("WORDS_OR_PHRASES"), "WORDS_OR_PHRASES"),
        "safe_variation": text_or_none(row.get("Benign")),
        "meta": _leftover(row, (*_PAPER_COLUMNS, "id")),
    }]


# ---- the SR-LLM repository CSV (datasets/train_500.csv, infer_50.csv) ----------------------

def _bias_from_degree(label: Any) -> str | None:
    # The repository grades bias ("Slightly Biased", "Highly Biased"); CMD's bias label is Yes/No.
    text = text_or_none(label)
    if text is None:
        return None
    lowered = text.lower()
    if lowered.startswith(("not ", "un", "no")) or lowered in {"neutral", "none"}:
        return "No"
    return "Yes" if "bias" in lowered else None


@register_importer("srllm-csv", _has("biased_text", "debiased_text"),
                   "the SR-LLM repository CSV (biased_text, dimension, biased_words, ..., debiased_text)")
def import_srllm_csv(row: RawRow) -> list[RawRow]:
    meta = _leftover(row, ("biased_text", "debiased_text", "biased_words", "aspect"))
    return [{
        "text": require(row, "biased_text"),
        "labels": {"bias": _bias_from_degree(row.get("label"))},
        "biased_words": parse_list(row.get("biased_words"), "biased_words"),
        "aspect": text_or_none(row.get("aspect")),
        "safe_variation": text_or_none(row.get("debiased_text")),
        "meta": meta,
    }]


# ---- ParaDetox (toxic, neutral1..3) and any two-column unsafe/safe file ---------------------

@register_importer("paradetox", _has("toxic", "neutral1"),
                   "ParaDetox TSV (toxic, neutral1, neutral2, neutral3): first paraphrase, others in meta")
def import_paradetox(row: RawRow) -> list[RawRow]:
    neutrals = [text_or_none(row.get(f"neutral{i}")) for i in (1, 2, 3)]
    found = [n for n in neutrals if n]
    return [{
        "text": require(row, "toxic"),
        "safe_variation": found[0] if found else None,
        "meta": {"alternatives": found[1:]} if len(found) > 1 else {},
    }]


@register_importer("paradetox-pairs", lambda columns: False,
                   "ParaDetox TSV, one record per (toxic, paraphrase) pair")
def import_paradetox_pairs(row: RawRow) -> list[RawRow]:
    text = require(row, "toxic")
    pairs = [text_or_none(row.get(f"neutral{i}")) for i in (1, 2, 3)]
    return [{"id_suffix": f"n{i}", "text": text, "safe_variation": safe}
            for i, safe in enumerate(pairs, start=1) if safe]


@register_importer("pairs", lambda columns: len(columns) == 2,
                   "any two-column file: unsafe text, then its safe rewrite")
def import_pairs(row: RawRow) -> list[RawRow]:
    if len(row) != 2:
        raise FieldError(",".join(row), f"expected two columns (unsafe, safe), found {len(row)}")
    (text_col, text), (safe_col, safe) = row.items()
    if is_missing(text):
        raise FieldError(text_col, "is empty")
    return [{"text": str(text), "safe_variation": text_or_none(safe)}]
