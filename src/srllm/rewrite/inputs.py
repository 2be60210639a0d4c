"""Read the rows of a file to rewrite, reporting bad rows by file, line and field.

The formats and what each extension means are srllm.text.readers'; this layer checks that a row has
a text to rewrite (and an id when one is asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.lines import not_text
from srllm.text.readers import ROW_FORMATS, Problem, Row, format_of, open_rows

FORMATS = ROW_FORMATS


@dataclass
class InputRow:
    index: int  # 0-based position among the file's rows: the resume key
    line: int  # 1-based line in the file where the row starts (the row number in Parquet)
    id: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    unit: str = "line"  # what `line` counts: "line", or "row" (Parquet)

    def problem(self, path: str | Path, field_name: str, message: str) -> Problem:
        """A Problem at this row, counted the way its file counts rows."""
        return Problem(str(path), self.line, field_name, message, self.unit)


def detect_format(path: Path, fmt: str | None = None) -> str:
    kind = format_of(path, fmt)
    if kind not in FORMATS:
        raise InputError(f"unknown format {(fmt or path.suffix.lstrip('.')).lower()!r}; use one of "
                         f"{', '.join(FORMATS)} (or --format)", path=str(path))
    return kind


def read_rows(
    path: str | Path,
    *,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
) -> tuple[list[InputRow], list[Problem]]:
    """All valid rows and every bad row's problem; the caller decides whether problems are fatal."""
    path = Path(path)
    source = open_rows(path, detect_format(path, fmt), text_field=text_field)
    if source.format in ("csv", "tsv", "parquet"):
        if source.columns is None:
            raise InputError("the CSV file is empty (no header row)", path=str(path), line=1)
        if text_field not in source.columns:
            raise InputError(f"no column named {text_field!r}; columns are {source.columns} (use --text-field)",
                             path=str(path), line=1 if source.format != "parquet" else None, field=text_field)
    rows: list[InputRow] = []
    errors: list[Problem] = []
    for index, entry in enumerate(source):
        problem = entry if isinstance(entry, Problem) else _row_problem(entry, str(path), text_field, id_field,
                                                                        source.unit)
        if problem is not None:
            errors.append(problem)
            continue
        record = entry.record
        row_id = str(record[id_field]) if id_field else str(index + 1)
        rows.append(InputRow(index=index, line=entry.line, id=row_id, text=record[text_field], fields=record,
                             unit=source.unit))
    if not rows and not errors:  # the same answer the service gives the same upload
        raise InputError("has no rows to rewrite (it is empty, or holds only blank lines or a header)",
                         path=str(path))
    return rows, errors


def _row_problem(row: Row, path: str, text_field: str, id_field: str | None, unit: str = "line") -> Problem | None:
    """Why a row cannot be rewritten, or None."""
    record = row.record
    bad = next(((name, why) for name, value in record.items() if isinstance(value, str) and (why := not_text(value))),
               None)
    if bad is not None:
        return Problem(path, row.line, *bad, unit)
    text = record.get(text_field)
    if text is None:
        return Problem(path, row.line, text_field, f"missing; the row has fields {sorted(record)} (use --text-field)",
                       unit)
    if not isinstance(text, str) or not text.strip():
        return Problem(path, row.line, text_field, "empty text", unit)
    if id_field and record.get(id_field) is None:
        return Problem(path, row.line, id_field, "missing id (use --id-field)", unit)
    return None
