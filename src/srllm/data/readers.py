"""One entry point to read CMD records from JSONL, JSON, CSV/TSV, Parquet, a saved HF dataset or the hub."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from srllm.data.importers import IMPORTERS, FieldError, ImporterSpec, RawRow, detect_importer
from srllm.data.schema import LABEL_NAMES, CMDRecord
from srllm.errors import InputError
from srllm.lines import JsonTooDeepError, decode_utf8, loads_bounded, numbered_lines

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf", "hub")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
               ".parquet": "parquet", ".pq": "parquet"}

# Real CSVs (the SR-LLM repository's among them) hold fields longer than csv's 128 KiB default.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Problem:
    """One bad record: where it is and what is wrong, as a sentence for the user."""

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


@dataclass
class ReadResult:
    records: list[CMDRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    importer: str = ""
    rows: int = 0


# ---- raw rows ------------------------------------------------------------------------------

def detect_format(path: str | Path) -> str:
    p = Path(path)
    if p.is_dir():
        if any((p / name).exists() for name in ("dataset_info.json", "dataset_dict.json", "state.json")):
            return "hf"
        raise InputError("is a folder but not a dataset saved with datasets' save_to_disk", path=str(p))
    suffix = p.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if not p.exists() and "/" in str(path) and not suffix:
        return "hub"
    raise InputError(f"cannot tell the format from the name; pass one of {', '.join(FORMATS)}", path=str(p))


def iter_rows(path: str | Path, fmt: str, *, split: str | None = None) -> Iterator[tuple[int, RawRow]]:
    """(line or row number as a person counts it, raw row) pairs."""
    readers = {"jsonl": _jsonl_rows, "json": _json_rows, "csv": _csv_rows, "tsv": _csv_rows,
               "parquet": _parquet_rows, "hf": _hf_rows, "hub": _hub_rows}
    if fmt not in readers:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}", field="format")
    if fmt not in ("hub",) and not Path(path).exists():
        raise InputError("does not exist; check the path", path=str(path))
    if fmt in ("hf", "hub"):
        return readers[fmt](path, split)
    if fmt == "tsv":
        return _csv_rows(path, delimiter="\t")
    return readers[fmt](path)


def _read_text(path: str | Path) -> str:
    return decode_utf8(Path(path).read_bytes(), str(path))


def _jsonl_rows(path: str | Path) -> Iterator[tuple[int, RawRow]]:
    for number, line in numbered_lines(_read_text(path)):
        if not line.strip():
            continue
        try:
            row = loads_bounded(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno}); fix or remove the line",
                             path=str(path), line=number) from exc
        except JsonTooDeepError as exc:
            raise InputError(str(exc), path=str(path), line=number) from None
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", path=str(path), line=number)
        yield number, row


def _json_rows(path: str | Path) -> Iterator[tuple[int, RawRow]]:
    text = _read_text(path)
    try:
        data = loads_bounded(text)
    except JsonTooDeepError as exc:
        raise InputError(str(exc), path=str(path)) from None
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # a .json file that is really JSON Lines
            yield from _jsonl_rows(path)
            return
        raise InputError(f"malformed JSON ({exc.msg})", path=str(path), line=exc.lineno) from exc
    if isinstance(data, dict):
        data = data.get("data", data.get("records", [data]))
    if not isinstance(data, list):
        raise InputError("must hold a list of objects (or {\"data\": [...]})", path=str(path))
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise InputError(f"item {number} is not an object", path=str(path))
        yield number, row


def _csv_rows(path: str | Path, delimiter: str = ",") -> Iterator[tuple[int, RawRow]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise InputError("is not UTF-8 text; re-save it as UTF-8", path=str(path), line=1) from exc
        previous_end = reader.line_num
        try:
            for row in reader:
                # A quoted field may span lines: the row starts right after the previous row ended.
                start, previous_end = previous_end + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise InputError(f"has {len(row)} fields but the header has {len(header)}; "
                                     "quote fields that contain the delimiter",
                                     path=str(path), line=start)
                yield start, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise InputError(f"is not valid CSV ({exc})", path=str(path), line=reader.line_num) from exc
        except UnicodeDecodeError as exc:
            raise InputError("is not UTF-8 text; re-save it as UTF-8", path=str(path),
                             line=reader.line_num) from exc


def _parquet_rows(path: str | Path) -> Iterator[tuple[int, RawRow]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"is not a readable Parquet file ({exc})", path=str(path)) from exc
    yield from enumerate(table.to_pylist(), start=1)


def _hf_rows(path: str | Path, split: str | None) -> Iterator[tuple[int, RawRow]]:
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        data = _pick_split(data, split, str(path))
    yield from enumerate(data, start=1)


def _hub_rows(name: str | Path, split: str | None) -> Iterator[tuple[int, RawRow]]:
    from datasets import load_dataset

    try:
        data = load_dataset(str(name))
    except Exception as exc:  # offline, unknown name, gated: all are user-fixable
        raise InputError(f"cannot load the hub dataset '{name}' ({type(exc).__name__}: {exc}); "
                         "check the name and that you are online, or pass a local file",
                         path=str(name)) from exc
    yield from enumerate(_pick_split(data, split, str(name)), start=1)


def _pick_split(data: Any, split: str | None, where: str) -> Any:
    names = list(data.keys())
    chosen = split or ("train" if "train" in names else names[0])
    if chosen not in names:
        raise InputError(f"has no split '{chosen}'; splits are {names}", path=where, field="split")
    return data[chosen]


# ---- rows -> records -----------------------------------------------------------------------

def apply_mapping(row: RawRow, mapping: Mapping[str, str] | None) -> RawRow:
    """Rename source columns (source -> target field); other columns keep their names."""
    if not mapping:
        return row
    return {mapping.get(key, key): value for key, value in row.items()}


_CMD_NAMES = set(CMDRecord.model_fields) | set(LABEL_NAMES)


def keep_unknown_in_meta(row: RawRow) -> RawRow:
    """Columns that are no CMD field move under meta (when the user mapped the ones that matter)."""
    return {key if key in _CMD_NAMES or key.startswith(("labels.", "meta.")) else f"meta.{key}": value
            for key, value in row.items()}


def _importer_for(importer: str | None, columns: list[str], path: str) -> ImporterSpec:
    if importer:
        return IMPORTERS.get(importer)
    spec = detect_importer(columns)
    if spec is None:
        raise InputError(
            f"cannot tell the format from its columns {columns}; pass an importer "
            f"({', '.join(IMPORTERS)}) or a field mapping such as comment=text,rewrite=safe_variation",
            path=path, line=None)
    return spec


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _build(raw: RawRow, base_id: str) -> tuple[CMDRecord | None, list[tuple[str, str]]]:
    """Validate one importer output; bad label values are dropped (and reported), other errors skip it."""
    raw = dict(raw)
    suffix = raw.pop("id_suffix", None)
    if not raw.get("id"):
        raw["id"] = f"{base_id}-{suffix}" if suffix else base_id
    try:
        return CMDRecord.model_validate(raw), []
    except ValidationError as exc:
        errors = [(_field_name(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    if all(name.startswith("labels.") and name.split(".")[1] in LABEL_NAMES for name, _ in errors):
        labels = dict(raw.get("labels") or {})
        for name, _ in errors:
            labels.pop(name.split(".")[1], None)
        return CMDRecord.model_validate({**raw, "labels": labels}), errors
    return None, errors


def load_records(path: str | Path, fmt: str | None = None, mapping: Mapping[str, str] | None = None,
                 importer: str | None = None, *, split: str | None = None) -> ReadResult:
    """Read every record and collect every problem (file, line, field) instead of stopping at the first."""
    fmt = fmt or detect_format(path)
    where = str(path)
    unit = {"parquet": "row", "hf": "row", "hub": "row", "json": "item"}.get(fmt, "line")
    stem = Path(where).stem if fmt != "hub" else where.replace("/", "_")
    result = ReadResult()
    spec: ImporterSpec | None = None
    for number, raw_row in iter_rows(path, fmt, split=split):
        row = apply_mapping(raw_row, mapping)
        if spec is None:
            # A mapping names CMD fields, so with no importer named it means the CMD layout.
            spec = _importer_for(importer or ("cmd" if mapping else None), list(row), where)
            result.importer = spec.name
        if mapping and spec.name == "cmd":
            row = keep_unknown_in_meta(row)
        result.rows += 1
        try:
            outputs = spec.convert(row)
        except FieldError as exc:
            result.problems.append(Problem(where, number, exc.field, str(exc), unit))
            continue
        for raw in outputs:
            record, errors = _build(raw, f"{stem}-{number}")
            result.problems.extend(Problem(where, number, name, msg, unit) for name, msg in errors)
            if record is not None:
                result.records.append(record.with_origin(where, number))
    return result


def read_records(path: str | Path, fmt: str | None = None, mapping: Mapping[str, str] | None = None,
                 importer: str | None = None, *, split: str | None = None) -> list[CMDRecord]:
    """Read CMD records from a file, a saved HF dataset or a hub id; raises on the first bad record.

    `fmt`: one of FORMATS (default: from the extension). `mapping`: source column -> CMD field
    (e.g. {"comment": "text", "rewrite": "safe_variation", "tox": "labels.toxicity"}); with a
    mapping and no importer the CMD layout is used and unmapped unknown columns are kept in meta.
    `importer`: a name in IMPORTERS (default: detected from the columns).
    """
    result = load_records(path, fmt, mapping, importer, split=split)
    if result.problems:
        raise result.problems[0].to_error()
    return result.records


def parse_mapping(pairs: list[str] | str | None) -> dict[str, str]:
    """'src=field,src2=field2' (or a list of such) -> {src: field}; for the CLI."""
    if not pairs:
        return {}
    items = pairs.split(",") if isinstance(pairs, str) else [p for chunk in pairs for p in chunk.split(",")]
    mapping: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"'{item}' is not COLUMN=FIELD", field="map")
        source, target = (part.strip() for part in item.split("=", 1))
        mapping[source] = target
    return mapping
