"""Write CMD records (JSONL, CSV or Parquet, by extension), atomically."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from srllm.data.schema import LABEL_NAMES, CMDRecord
from srllm.errors import InputError

FLAT_COLUMNS = ("id", "text", *LABEL_NAMES, "target_groups", "biased_words", "safe_variation",
                "source", "aspect", "rationale", "annotator", "meta")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any, escape: bool = True) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading single quote (OWASP); numbers
    and other text pass as they are. escape=False: verbatim, for machine consumers."""
    if escape and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(handle: Any, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
              escape: bool = True) -> None:
    """Every CSV we write goes through here: a header and one row per mapping (missing cells empty),
    header and cells escaped with csv_cell. Columns default to every key, in first-seen order."""
    rows = list(rows)
    columns = list(columns) if columns is not None else list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.writer(handle)
    writer.writerow([csv_cell(name, escape) for name in columns])
    writer.writerows([csv_cell(row.get(name), escape) for name in columns] for row in rows)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Any:
    """Write to a temp file beside `path`, then os.replace: readers never see half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            # On disk before the rename, so a crash cannot leave an empty file under the final name.
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; an output file should get the mode any other tool's would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere os.umask must set it to read it, which
    for an instant applies 0o077 to files other threads create (stricter, never looser)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


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


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Atomically write plain dicts as JSON Lines (used for examples, reports, error files)."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
    return count


def _write_jsonl(records: Sequence[CMDRecord], path: Path) -> None:
    write_jsonl((r.model_dump(exclude_none=True, exclude_defaults=False) for r in records), path)


def _write_csv(records: Sequence[CMDRecord], path: Path) -> None:
    with atomic_open(path) as handle:
        write_csv(handle, (flat_row(record) for record in records), FLAT_COLUMNS)


def _write_parquet(records: Sequence[CMDRecord], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    ".jsonl": _write_jsonl, ".ndjson": _write_jsonl, ".csv": _write_csv,
    ".parquet": _write_parquet, ".pq": _write_parquet,
}


def write_records(records: Sequence[CMDRecord], path: str | Path) -> Path:
    """Write records in the format named by the extension (.jsonl, .csv, .parquet), atomically."""
    target = Path(path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise InputError(f"cannot write '{target.suffix}'; use .jsonl, .csv or .parquet", path=str(target))
    writer(records, target)
    return target
