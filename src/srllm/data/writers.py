"""Write CMD records (JSONL, CSV or Parquet, by extension), atomically."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from srllm.data.schema import LABEL_NAMES, CMDRecord
from srllm.errors import InputError
from srllm.extras import import_optional
from srllm.text.readers import format_of
from srllm.text.writers import atomic_open, write_csv, write_jsonl

FLAT_COLUMNS = ("id", "text", *LABEL_NAMES, "target_groups", "biased_words", "safe_variation",
                "source", "aspect", "rationale", "annotator", "meta")


def flat_row(record: CMDRecord) -> dict[str, Any]:
    """One flat row: labels as columns, lists and meta as JSON strings (for CSV)."""
    row: dict[str, Any] = {"id": record.id, "text": record.text}
    row.update({name: getattr(record.labels, name) for name in LABEL_NAMES})
    row["target_groups"] = json.dumps(record.target_groups, ensure_ascii=False)
    row["biased_words"] = json.dumps(record.biased_words, ensure_ascii=False)
    for name in ("safe_variation", "source", "aspect", "rationale", "annotator"):
        row[name] = getattr(record, name)
    row["meta"] = json.dumps(record.meta, ensure_ascii=False, default=str) if record.meta else None
    return row


def _write_jsonl(records: Sequence[CMDRecord], path: Path) -> None:
    write_jsonl((r.model_dump(exclude_none=True, exclude_defaults=False) for r in records), path)


def _write_csv(records: Sequence[CMDRecord], path: Path) -> None:
    with atomic_open(path) as handle:
        write_csv(handle, (flat_row(record) for record in records), FLAT_COLUMNS)


def _write_parquet(records: Sequence[CMDRecord], path: Path) -> None:
    pa = import_optional("pyarrow", "data", "writing Parquet")
    pq = import_optional("pyarrow.parquet", "data", "writing Parquet")

    rows = []
    for record in records:
        row = flat_row(record)
        row["target_groups"], row["biased_words"] = record.target_groups, record.biased_words
        rows.append(row)
    schema = pa.schema([(name, pa.list_(pa.string()) if name in ("target_groups", "biased_words")
                         else pa.string()) for name in FLAT_COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)


_WRITERS: dict[str, Callable[[Sequence[CMDRecord], Path], None]] = {
    "jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet,
}


def write_records(records: Sequence[CMDRecord], path: str | Path) -> Path:
    """Write records in the format named by the extension (.jsonl, .csv, .parquet), atomically."""
    target = Path(path)
    writer = _WRITERS.get(format_of(target) or "")
    if writer is None:
        raise InputError(f"cannot write '{target.suffix}'; use .jsonl, .csv or .parquet", path=str(target))
    writer(records, target)
    return target
