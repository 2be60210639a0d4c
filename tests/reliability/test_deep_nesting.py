"""Probe: a JSONL line nested 10,000 levels deep (`{"a":{"a":...}}`) raised RecursionError: a
traceback from the CLI (not skippable with --skip-invalid) and a bare 500 from /v1/jobs. It must be a
per-line error like any malformed line: named, skippable, and a 4xx with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.data.readers import iter_rows
from srllm.errors import InputError
from srllm.rewrite.inputs import read_rows
from srllm.rewrite.jobs import run_file_job


def _nested(depth: int) -> str:
    return '{"a":' * depth + '"x"' + "}" * depth


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + _nested(10_000) + "\n"
                    + json.dumps({"text": "also fine", "meta": json.loads(_nested(150))}) + "\n", encoding="utf-8")
    return path


def test_deep_lines_are_bad_rows_named_by_line(src: Path) -> None:
    rows, errors = read_rows(src)
    assert [row.text for row in rows] == ["fine"]
    assert [(e.line, e.field) for e in errors] == [(2, "json"), (3, "json")]
    assert all("nested" in e.message for e in errors)


def test_skip_invalid_skips_a_deep_line(src: Path, tmp_path: Path, echo_rewrite) -> None:
    with pytest.raises(InputError, match=rf"file {src}, line 2, field 'json': .*nested"):
        run_file_job(echo_rewrite, src, tmp_path / "out.jsonl")
    report = run_file_job(echo_rewrite, src, tmp_path / "out.jsonl", skip_invalid=True)
    assert report.rows_rewritten == 1 and [e.line for e in report.errors] == [2, 3]


def test_the_data_reader_names_the_deep_line(src: Path) -> None:
    with pytest.raises(InputError, match=rf"file {src}, line 2: .*nested"):
        list(iter_rows(src, "jsonl"))


def test_a_deep_json_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" + _nested(10_000) + "]", encoding="utf-8")
    with pytest.raises(InputError, match="nested"):
        list(iter_rows(path, "json"))


def test_the_service_answers_a_deep_line_with_a_4xx(job_client) -> None:
    data = (json.dumps({"text": "fine"}) + "\n" + _nested(10_000) + "\n").encode()
    response = job_client.post("/v1/jobs", files={"file": ("deep.jsonl", data)})
    assert response.status_code == 422, response.text
    assert "line 2" in response.json()["error"]["message"] and "nested" in response.json()["error"]["message"]
