"""One entry point to read CMD records from JSONL, JSON, CSV/TSV, Parquet, a saved HF dataset or the hub.

Text files are read by srllm.text.readers (one meaning per extension for every command); this layer
adds Parquet and datasets, and validates each row as a CMD record."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from srllm.data.importers import IMPORTERS, FieldError, ImporterSpec, RawRow, detect_importer
from srllm.data.schema import LABEL_NAMES, CMDRecord
from srllm.errors import InputError
from srllm.extras import import_optional
from srllm.text.readers import Problem, format_of, open_rows

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf", "hub")


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
    fmt = format_of(p)
    if fmt in FORMATS:
        return fmt
    if not p.exists() and "/" in str(path) and not p.suffix:
        return "hub"
    raise InputError(f"cannot tell the format from the name; pass one of {', '.join(FORMATS)}", path=str(p))


def iter_rows(path: str | Path, fmt: str, *, split: str | None = None) -> Iterator[tuple[int, RawRow]]:
    """(line or row number as a person counts it, raw row) pairs. A bad line stops with an InputError."""
    return ((number, row) for number, _, row in _numbered_rows(path, fmt, split))


def _numbered_rows(path: str | Path, fmt: str, split: str | None) -> Iterator[tuple[int, str, RawRow]]:
    """(number, unit, raw row): the line (text files), the item (JSON arrays) or the row (Parquet, datasets)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}", field="format")
    if fmt not in ("hub",) and not Path(path).exists():
        raise InputError("does not exist; check the path", path=str(path))
    if fmt in ("hf", "hub"):
        return ((number, "row", row) for number, row in (_hf_rows if fmt == "hf" else _hub_rows)(path, split))
    if fmt == "parquet":
        return ((number, "row", row) for number, row in _parquet_rows(path))
    return _text_rows(path, fmt)


def _text_rows(path: str | Path, fmt: str) -> Iterator[tuple[int, str, RawRow]]:
    for entry in open_rows(path, fmt):
        if isinstance(entry, Problem):
            # The field of a format problem ("json", "row") is no CMD field: say only where it is.
            raise InputError(entry.message, path=entry.path, line=entry.line)
        if entry.item is not None:
            yield entry.item, "item", entry.record
        else:
            yield entry.line, "line", entry.record


def _parquet_rows(path: str | Path) -> Iterator[tuple[int, RawRow]]:
    """The one Parquet reader (srllm.text.readers), as (row number, row)."""
    yield from ((row.line, row.record) for row in open_rows(path, "parquet"))


def _hf_rows(path: str | Path, split: str | None) -> Iterator[tuple[int, RawRow]]:
    datasets = import_optional("datasets", "data", "reading a Hugging Face dataset")
    data = datasets.load_from_disk(str(path))
    if isinstance(data, datasets.DatasetDict):
        data = _pick_split(data, split, str(path))
    yield from enumerate(data, start=1)


def _hub_rows(name: str | Path, split: str | None) -> Iterator[tuple[int, RawRow]]:
    import_optional("datasets", "data", "reading a Hugging Face hub dataset")
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
    stem = Path(where).stem if fmt != "hub" else where.replace("/", "_")
    result = ReadResult()
    spec: ImporterSpec | None = None
    for number, unit, raw_row in _numbered_rows(path, fmt, split):
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
