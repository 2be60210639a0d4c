"""Writers give each extension the meaning the readers give it, so what srllm writes it reads back."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from srllm.errors import InputError
from srllm.rewrite.inputs import read_rows
from srllm.rewrite.jobs import run_file_job
from srllm.text.readers import Row, open_rows
from srllm.text.writers import output_format, write_rows


def _upper(texts: list[str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(rewrite=text.upper(), model="m", adapter=None, method="zero-shot", prompt_version="v")
            for text in texts]


def test_a_json_output_is_one_json_array_that_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n', encoding="utf-8")
    out = tmp_path / "out.json"
    run_file_job(_upper, src, out, id_field="id")
    written = json.loads(out.read_text(encoding="utf-8"))  # one JSON document, not JSON Lines
    assert [(row["id"], row["rewrite"]) for row in written] == [("a", "ONE"), ("b", "TWO")]
    rows, errors = read_rows(out, text_field="rewrite", id_field="id")
    assert not errors and [(row.id, row.text, row.line) for row in rows] == [("a", "ONE", 2), ("b", "TWO", 3)]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.json", "rows.csv", "rows.tsv"])
def test_every_row_format_round_trips(tmp_path: Path, name: str) -> None:
    rows = [{"text": "a, b\tc", "n": "1"}, {"text": 'say "hi"\nthen go', "n": "2"}]
    path = tmp_path / name
    assert write_rows(path, rows) == 2
    assert [entry.record for entry in open_rows(path, output_format(path)) if isinstance(entry, Row)] == rows


def test_csv_and_tsv_cells_a_spreadsheet_would_run_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "rows.tsv"
    write_rows(path, [{"text": "=HYPERLINK(1)"}])
    assert [entry.record for entry in open_rows(path, "tsv")] == [{"text": "'=HYPERLINK(1)"}]


def test_an_unknown_output_extension_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot write rows to a \.xml file; use \.jsonl, \.json, \.csv, \.tsv"):
        output_format(tmp_path / "out.xml")
    with pytest.raises(InputError, match=r"cannot write rows to a \.xml file"):
        run_file_job(_upper, tmp_path / "in.jsonl", tmp_path / "out.xml")
