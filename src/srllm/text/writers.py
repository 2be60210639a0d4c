"""Write files of rows atomically, with the meaning srllm.text.readers gives each extension: `.jsonl`
JSON Lines, `.json` one JSON array, `.csv` / `.tsv` a header and a row per record (formula-like cells
escaped for spreadsheets), `.parquet` one Parquet table (nested values stay nested: `scores` is a struct).

Every file is written under a temporary name and renamed into place, with the mode any other tool
would give it (0666 less the umask; mkstemp alone would leave 0600)."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.text.readers import format_of

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any, escape: bool = True) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading single quote (OWASP); numbers
    and other text pass as they are. escape=False: verbatim, for machine consumers."""
    if escape and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(handle: Any, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
              escape: bool = True, delimiter: str = ",") -> None:
    """Every CSV we write goes through here: a header and one row per mapping (missing cells empty),
    header and cells escaped with csv_cell. Columns default to every key, in first-seen order."""
    rows = list(rows)
    columns = list(columns) if columns is not None else list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.writer(handle, delimiter=delimiter)
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


ROW_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")  # what write_rows writes
NESTED_FORMATS = ("jsonl", "json", "parquet")  # hold nested values; CSV/TSV cells need them flattened


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The format rows are written to `path` in (`fmt`, else its extension's); check it before the work."""
    kind = format_of(path, fmt)
    if kind not in ROW_FORMATS:
        raise InputError(f"cannot write rows to a .{fmt or Path(path).suffix.lstrip('.')} file; use "
                         f"{', '.join('.' + name for name in ROW_FORMATS)}", path=str(path))
    return kind


def write_rows(path: str | Path, rows: Iterable[Mapping[str, Any]], fmt: str | None = None, *,
               csv_escape: bool = True) -> int:
    """Atomically write rows in `fmt` (default: the extension's format), one of ROW_FORMATS; the number
    of rows. A CSV cell holds what the mapping holds: flatten nested values first."""
    kind = output_format(path, fmt)
    rows = list(rows)
    if kind == "parquet":
        _write_parquet(path, rows)
        return len(rows)
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in rows] if kind in ("jsonl", "json") else []
    with atomic_open(path) as handle:
        if kind == "jsonl":
            handle.writelines(line + "\n" for line in lines)
        elif kind == "json":  # one object per line inside the array: readable, and diffs stay small
            handle.write("[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n")
        else:
            write_csv(handle, rows, escape=csv_escape, delimiter="\t" if kind == "tsv" else ",")
    return len(rows)


def _write_parquet(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """One table; Arrow infers each column's type from every row (a key missing from a row is null).
    A column whose rows disagree on a type (a number here, a text there) is an InputError naming it."""
    from srllm.extras import import_optional

    pa = import_optional("pyarrow", "data", "writing Parquet")
    pq = import_optional("pyarrow.parquet", "data", "writing Parquet")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    try:
        table = pa.Table.from_pylist([dict(row) for row in rows], schema=None) if rows else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        bad = next((name for name in columns if not _one_type([row.get(name) for row in rows])), None)
        raise InputError(f"cannot write the rows as Parquet ({exc}); the values of a column must share one "
                         "type", path=str(path), field=bad) from exc
    # Parquet has no struct without fields: a column that is {} on every row (no scores) is written as nulls.
    for index, column in enumerate(table.schema):
        if pa.types.is_struct(column.type) and column.type.num_fields == 0:
            table = table.set_column(index, column.name, pa.nulls(len(table)))
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)


def _one_type(values: Sequence[Any]) -> bool:
    import pyarrow as pa

    try:
        pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Atomically write plain dicts as JSON Lines (examples, reports, error files); the number written."""
    return write_rows(path, rows, "jsonl")
