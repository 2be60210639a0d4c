"""Probe: a CSV cell holding NUL bytes went into the model and the output; and an empty JSONL/TXT
file "succeeded" with an empty output while the server refused the same upload. A NUL is refused
with its line and field (skippable), and an input with no rows is one clear error everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.errors import InputError
from srllm.rewrite.inputs import read_rows
from srllm.rewrite.jobs import run_file_job


@pytest.fixture
def nul_csv(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("id,text,note\n1,fine,ok\n2,bad\x00text,ok\n3,fine too,no\x00te\n4,last,ok\n", encoding="utf-8")
    return path


def test_a_nul_cell_is_a_bad_row_named_by_line_and_field(nul_csv: Path) -> None:
    rows, errors = read_rows(nul_csv)
    assert [row.text for row in rows] == ["fine", "last"]
    assert [(e.line, e.field) for e in errors] == [(3, "text"), (4, "note")]
    assert all("NUL" in e.message for e in errors)


def test_nul_rows_stop_the_job_or_are_skipped(nul_csv: Path, tmp_path: Path, echo_rewrite) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match=rf"file {nul_csv}, line 3, field 'text': .*NUL"):
        run_file_job(echo_rewrite, nul_csv, out)
    run_file_job(echo_rewrite, nul_csv, out, skip_invalid=True)
    assert "\x00" not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "content"), [("e.jsonl", ""), ("blank.jsonl", "\n  \n"), ("e.txt", ""),
                                               ("header.csv", "text\n")])
def test_an_input_without_rows_is_an_error(tmp_path: Path, echo_rewrite, name: str, content: str) -> None:
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=rf"file {src}: .*no rows to rewrite"):
        run_file_job(echo_rewrite, src, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_the_cli_refuses_an_empty_input_before_loading_a_model(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["rewrite", "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                                      "--model", "/nonexistent/model", "--no-guard"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and f"file {src}" in output and "no rows to rewrite" in output, output
    assert not (tmp_path / "o.jsonl").exists()


def test_the_service_says_the_same_for_an_empty_upload(job_client) -> None:
    response = job_client.post("/v1/jobs", files={"file": ("e.jsonl", b"")})
    assert response.status_code == 422
    assert "file e.jsonl" in response.json()["error"]["message"]
    assert "no rows to rewrite" in response.json()["error"]["message"]
