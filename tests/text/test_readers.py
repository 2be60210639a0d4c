"""One reader, one meaning per extension: `srllm rewrite` and `srllm data` read a file the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.data.readers import load_records
from srllm.errors import InputError
from srllm.rewrite.inputs import read_rows
from srllm.text.readers import Problem, Row, format_of, open_rows

RECORDS = [{"id": "a", "text": "Women are too emotional to lead."}, {"id": "b", "text": "The bus was late."}]


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("content", [
    json.dumps(RECORDS, indent=2),  # a JSON array, pretty-printed
    "".join(json.dumps(record) + "\n" for record in RECORDS),  # JSON Lines in a .json file
])
def test_a_json_file_means_the_same_to_rewrite_and_to_data(tmp_path: Path, content: str) -> None:
    path = _write(tmp_path / "in.json", content)
    rows, errors = read_rows(path, id_field="id")
    assert not errors and [(row.id, row.text) for row in rows] == [(r["id"], r["text"]) for r in RECORDS]
    assert [record.text for record in load_records(path).records] == [r["text"] for r in RECORDS]


def test_json_array_items_are_found_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.json", '[\n  {"text": "one"},\n\n  5,\n  {"text":\n   "three"}\n]\n')
    entries = list(open_rows(path, "json"))
    assert entries[0] == Row(2, {"text": "one"}, 1) and entries[2] == Row(5, {"text": "three"}, 3)
    assert entries[1] == Problem(str(path), 4, "json", "each item must be a JSON object")
    rows, [problem] = read_rows(path)
    assert [row.line for row in rows] == [2, 5] and problem.line == 4


@pytest.mark.parametrize(("content", "line"), [
    ('[\n{"text": "a"},\n{"text": "b",}\n]', 3),
    ('[\n{"text": "a"}\n{"text": "b"}\n]', 3),
    ('[{"text": "a"}]\n[]', 2),
    ('[\n{"text": "a"},\n', 3),
])
def test_a_broken_json_array_names_its_line(tmp_path: Path, content: str, line: int) -> None:
    path = _write(tmp_path / "in.json", content)
    with pytest.raises(InputError, match=rf"file {path}, line {line}: malformed JSON"):
        read_rows(path)
    with pytest.raises(InputError, match=rf"line {line}: malformed JSON"):
        load_records(path)


def test_an_empty_json_array_has_no_rows(tmp_path: Path) -> None:
    assert list(open_rows(_write(tmp_path / "in.json", " [ ] \n"), "json")) == []


def test_format_names_and_extensions_share_one_table() -> None:
    assert [format_of(Path(f"x.{ext}")) for ext in ("jsonl", "ndjson", "json", "csv", "tsv", "txt", "pq")] == \
        ["jsonl", "jsonl", "json", "csv", "tsv", "txt", "parquet"]
    assert format_of(Path("x.csv"), "TSV") == "tsv" and format_of(Path("x.xml")) is None


def test_format_tsv_reads_tabs_whatever_the_extension(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.dat", "id\ttext\n1\tone, with a comma\n")
    rows, errors = read_rows(path, fmt="tsv", id_field="id")
    assert not errors and [(row.id, row.text) for row in rows] == [("1", "one, with a comma")]


def test_a_csv_row_with_the_wrong_cell_count_is_a_bad_row_for_both(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.csv", "id,text,safe_variation\n1,fine,x\n2,short\n3,long,x,y\n,,\n4,also fine,\n")
    rows, errors = read_rows(path, id_field="id")
    assert [row.id for row in rows] == ["1", "4"]  # the row of empty cells is a blank line
    assert [(e.line, e.field) for e in errors] == [(3, "row"), (4, "row")]
    assert "has 2 fields but the header has 3" in errors[0].message
    with pytest.raises(InputError, match=r"line 3: has 2 fields but the header has 3"):
        load_records(path)
