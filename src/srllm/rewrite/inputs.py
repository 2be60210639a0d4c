"""Read the rows of a file to rewrite (JSONL, CSV, TXT), reporting bad rows by file, line and field."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.lines import JsonTooDeepError, decode_utf8, loads_bounded, not_text, numbered_lines

FORMATS = ("jsonl", "csv", "txt")


@dataclass
class InputRow:
    index: int  # 0-based position among the file's rows: the resume key
    line: int  # 1-based line in the file where the row starts
    id: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class RowError:
    path: str
    line: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "line": self.line, "field": self.field, "error": self.message}

    def as_input_error(self) -> InputError:
        return InputError(self.message, path=self.path, line=self.line, field=self.field)


def detect_format(path: Path, fmt: str | None = None) -> str:
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    fmt = {"json": "jsonl", "ndjson": "jsonl", "text": "txt", "tsv": "csv"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} (or --format)",
                         path=str(path))
    return fmt


def read_text_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(path)) from exc
    return decode_utf8(data, str(path))


def read_rows(
    path: str | Path,
    *,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
) -> tuple[list[InputRow], list[RowError]]:
    """All valid rows and every bad row's error; the caller decides whether errors are fatal."""
    path = Path(path)
    kind = detect_format(path, fmt)
    content = read_text_file(path)
    reader = {"jsonl": _jsonl_rows, "csv": _csv_rows, "txt": _txt_rows}[kind]
    rows: list[InputRow] = []
    errors: list[RowError] = []
    for index, line, record, problem in reader(content, path, text_field):
        if problem:
            errors.append(RowError(str(path), line, problem[0], problem[1]))
            continue
        bad = next(((name, why) for name, value in record.items()
                    if isinstance(value, str) and (why := not_text(value))), None)
        if bad is not None:
            errors.append(RowError(str(path), line, *bad))
            continue
        text = record.get(text_field)
        if text is None:
            errors.append(RowError(str(path), line, text_field,
                                   f"missing; the row has fields {sorted(record)} (use --text-field)"))
            continue
        if not isinstance(text, str) or not text.strip():
            errors.append(RowError(str(path), line, text_field, "empty text"))
            continue
        row_id = str(record.get(id_field)) if id_field and record.get(id_field) is not None else str(index + 1)
        if id_field and record.get(id_field) is None:
            errors.append(RowError(str(path), line, id_field, "missing id (use --id-field)"))
            continue
        rows.append(InputRow(index=index, line=line, id=row_id, text=text, fields=record))
    if not rows and not errors:  # the same answer the service gives the same upload
        raise InputError("has no rows to rewrite (it is empty, or holds only blank lines or a header)",
                         path=str(path))
    return rows, errors


def _jsonl_rows(content: str, path: Path, text_field: str):
    index = 0
    for number, raw in numbered_lines(content):
        if not raw.strip():
            continue
        try:
            record = loads_bounded(raw)
        except json.JSONDecodeError as exc:
            yield index, number, {}, ("json", f"malformed JSON ({exc.msg} at column {exc.colno})")
        except JsonTooDeepError as exc:
            yield index, number, {}, ("json", str(exc))
        else:
            if not isinstance(record, dict):
                yield index, number, {}, ("json", "each line must be a JSON object")
            else:
                yield index, number, record, None
        index += 1


def _csv_rows(content: str, path: Path, text_field: str):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise InputError("the CSV file is empty (no header row)", path=str(path), line=1)
    if text_field not in reader.fieldnames:
        raise InputError(f"no column named {text_field!r}; columns are {reader.fieldnames} (use --text-field)",
                         path=str(path), line=1, field=text_field)
    start = reader.line_num + 1
    for index, record in enumerate(reader):
        if None in record:  # more cells than header columns
            yield index, start, {}, ("row", f"{len(reader.fieldnames) + len(record[None])} cells but "
                                     f"{len(reader.fieldnames)} columns")
        else:
            yield index, start, dict(record), None
        start = reader.line_num + 1


def _txt_rows(content: str, path: Path, text_field: str):
    index = 0
    for number, raw in numbered_lines(content):
        if raw.strip():
            yield index, number, {text_field: raw}, None
            index += 1
