"""Read a file of rows, with one meaning per extension for every command.

| extension            | format                                                                    |
|----------------------|---------------------------------------------------------------------------|
| `.jsonl`, `.ndjson`  | JSON Lines: one object per line                                           |
| `.json`              | a JSON array of objects when the first non-space character is `[`, else JSON Lines |
| `.csv` / `.tsv`      | a header row, then one row per record (quoted cells may span lines)       |
| `.txt`, `.text`      | one text per non-blank line                                               |
| `.parquet`, `.pq`    | Parquet: one record per row (nested columns stay nested)                  |

`srllm rewrite` used to read `.json` as JSON Lines and `srllm data` as a JSON array; both now read
either, told apart by the first character, so a file means the same thing to every command.

Problems are reported where they are: a bad row (malformed JSON, too many cells) is a `Problem` with
its file, line and field, so a caller can collect them all or stop at the first; a bad file (not
UTF-8, a CSV quote never closed, a broken JSON array) raises InputError naming the line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.lines import JsonTooDeepError, decode_utf8, loads_bounded, numbered_lines, raw_decode_bounded

# A format's names: the extension (without the dot) or what --format may say.
FORMAT_NAMES = {"jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "csv": "csv", "tsv": "tsv",
                "txt": "txt", "text": "txt", "parquet": "parquet", "pq": "parquet"}
FORMATS = tuple(dict.fromkeys(FORMAT_NAMES.values()))
TEXT_FORMATS = ("jsonl", "json", "csv", "tsv", "txt")  # text files
ROW_FORMATS = (*TEXT_FORMATS, "parquet")  # every format open_rows reads

# Real CSVs (the SR-LLM repository's among them) hold fields longer than csv's 128 KiB default.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def format_of(path: str | Path, fmt: str | None = None) -> str | None:
    """The format `fmt` names, else the one the extension names; None when neither names one."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    return FORMAT_NAMES.get(name)


@dataclass(frozen=True)
class Problem:
    """One bad row: where it is and what is wrong, as a sentence for the user."""

    path: str
    line: int | None
    field: str | None
    message: str
    unit: str = "line"  # "line" for text files, "row" for Parquet/datasets, "item" for JSON arrays

    def __str__(self) -> str:
        where = [self.path]
        if self.line is not None:
            where.append(f"{self.unit} {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"

    def to_error(self) -> InputError:
        if self.unit == "line":
            return InputError(self.message, path=self.path, line=self.line, field=self.field)
        where = f"{self.path} ({self.unit} {self.line})" if self.line is not None else self.path
        return InputError(self.message, path=where, field=self.field)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, self.unit: self.line, "field": self.field, "error": self.message}


@dataclass(frozen=True)
class Row:
    """One record of a file: the line it starts on and, in a JSON array, its place there (1-based)."""

    line: int
    record: dict[str, Any]
    item: int | None = None


@dataclass
class RowFile:
    """A file opened for reading: its format, its header (CSV/TSV, Parquet; None for an empty one or
    another format) and its rows and bad rows, in file order. `unit` is what a Row's `line` counts:
    "line" in text files, "row" in Parquet."""

    path: str
    format: str
    columns: list[str] | None
    entries: Iterator[Row | Problem]
    unit: str = "line"

    def __iter__(self) -> Iterator[Row | Problem]:
        return self.entries


def read_text(path: str | Path) -> str:
    """A file's text; an unreadable file or one that is not UTF-8 is an InputError naming it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(path)) from exc
    return decode_utf8(data, str(path))


def open_rows(path: str | Path, fmt: str, *, text_field: str = "text") -> RowFile:
    """The rows of a JSON Lines, JSON, CSV, TSV, text or Parquet file (`fmt`: one of ROW_FORMATS); a
    text file's lines become {text_field: line}."""
    where = str(path)
    if fmt == "parquet":
        return _parquet(path)
    content = read_text(path)
    if fmt in ("csv", "tsv"):
        return _table(content, where, "\t" if fmt == "tsv" else ",")
    if fmt == "json" and content.lstrip(" \t\r\n").startswith("["):
        return RowFile(where, fmt, None, _json_array(content, where))
    if fmt in ("jsonl", "json"):
        return RowFile(where, fmt, None, _json_lines(content, where))
    if fmt == "txt":
        return RowFile(where, fmt, None, (Row(number, {text_field: line}) for number, line in numbered_lines(content)
                                          if line.strip()))
    raise InputError(f"cannot read {fmt!r} here; use one of {', '.join(ROW_FORMATS)}", path=where, field="format")


def _parquet(path: str | Path) -> RowFile:
    """A Parquet file's rows, numbered from 1. Values JSON cannot hold (timestamps, decimals, bytes) become
    their text, so a row reads the same from the file as from a job's partial file on --resume."""
    from srllm.extras import import_optional

    pq = import_optional("pyarrow.parquet", "data", "reading Parquet")
    where = str(path)
    if not Path(path).is_file():
        raise InputError("does not exist; check the path", path=where)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"is not a readable Parquet file ({exc})", path=where) from exc
    return RowFile(where, "parquet", list(table.column_names),
                   (Row(number, _json_values(record)) for number, record in enumerate(table.to_pylist(), start=1)),
                   unit="row")


def _json_values(record: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(record, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.loads(json.dumps(record, ensure_ascii=False, default=str))
    return record


def _record(value: Any, path: str, line: int, what: str, item: int | None = None) -> Row | Problem:
    if isinstance(value, dict):
        return Row(line, value, item)
    return Problem(path, line, "json", f"each {what} must be a JSON object")


def read_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file, for readers that stop at the
    first bad line: an InputError names the file and line of a line that is malformed JSON, nested too
    deep, not an object (a list, a number) or starts with a stray byte-order mark, and of a file that is
    not UTF-8. A UTF-8 byte-order mark at the very start of the file is dropped."""
    where = str(path)
    for entry in _json_lines(read_text(path), where):
        if isinstance(entry, Problem):
            raise entry.to_error()
        yield entry.line, entry.record


def _json_line(raw: str) -> Any:
    """One line's JSON value; ValueError with a sentence for the user when it has none."""
    if raw.startswith("\ufeff"):
        # A byte-order mark inside a file: usually files concatenated with `cat` (json says only
        # "Unexpected UTF-8 BOM").
        raise ValueError("starts with a byte-order mark (U+FEFF), e.g. where two files were joined; remove it")
    try:
        return loads_bounded(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg} at column {exc.colno}); fix or remove the line") from None


def _json_lines(content: str, path: str) -> Iterator[Row | Problem]:
    for number, raw in numbered_lines(content):
        if not raw.strip():
            continue
        try:
            value = _json_line(raw)
        except ValueError as exc:  # JsonTooDeepError is one too
            yield Problem(path, number, "json", str(exc))
        else:
            yield _record(value, path, number, "line")


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_array(content: str, path: str) -> Iterator[Row | Problem]:
    """The items of a JSON array, each with the line it starts on (json.load would lose it)."""
    pos = _JSON_SPACE.match(content).end() + 1  # just past the "["
    line, counted, item = 1, 0, 0
    try:
        pos = _JSON_SPACE.match(content, pos).end()
        closed = content.startswith("]", pos)
        while not closed:
            line, counted = line + content.count("\n", counted, pos), pos
            value, end = raw_decode_bounded(content, pos)
            item += 1
            yield _record(value, path, line, "item", item)
            pos = _JSON_SPACE.match(content, end).end()
            if not content.startswith((",", "]"), pos):
                raise json.JSONDecodeError("Expecting ',' delimiter", content, pos)
            closed = content.startswith("]", pos)
            pos = _JSON_SPACE.match(content, pos + 1).end() if not closed else pos
        if (rest := _JSON_SPACE.match(content, pos + 1).end()) != len(content):
            raise json.JSONDecodeError("Extra data after the array", content, rest)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=exc.lineno) from exc
    except JsonTooDeepError as exc:
        raise InputError(str(exc), path=path, line=line) from None


def _table(content: str, path: str, delimiter: str) -> RowFile:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"is not valid CSV ({exc})", path=path, line=reader.line_num) from exc
    return RowFile(path, "tsv" if delimiter == "\t" else "csv", header, _table_rows(reader, header or [], path))


def _table_rows(reader: Any, header: Sequence[str], path: str) -> Iterator[Row | Problem]:
    previous_end = reader.line_num
    try:
        for cells in reader:
            # A quoted cell may span lines: the row starts right after the previous row ended.
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a row of empty cells is a blank line, as in every other format
            if len(cells) != len(header):
                yield Problem(path, start, "row", f"has {len(cells)} fields but the header has {len(header)}; "
                                                  "quote fields that contain the delimiter")
                continue
            yield Row(start, dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise InputError(f"is not valid CSV ({exc})", path=path, line=reader.line_num) from exc
