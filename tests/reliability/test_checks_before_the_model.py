"""Probe (issue 15, item 14): every refusal `srllm rewrite` can decide from its arguments and files
(input format, output format, unwritable folders, a run it would replace) comes before any model or
scorer loads, so a typo costs a moment instead of 20-45 s of loading. The model named here does not
exist: a check that ran after loading would answer with the model error instead."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app

runner = CliRunner()
NO_MODEL = "/nonexistent/model"


def _rewrite(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = runner.invoke(app, ["rewrite", "--model", NO_MODEL, *args])  # the guard is on: scorers too
    return result.exit_code, " ".join(result.output.split()), time.monotonic() - started


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    return path


def _refused(code: int, output: str, seconds: float, *expected: str) -> None:
    assert code == 2, output
    assert all(part in output for part in expected), output
    assert "model" not in output.lower(), output  # refused before the model was even looked for
    assert seconds < 10, seconds


def test_an_unknown_input_format_is_refused_first(tmp_path: Path) -> None:
    data = tmp_path / "in.xlsx"  # Parquet is read since the data-stack work; a spreadsheet is not
    data.write_text('{"text": "one"}\n', encoding="utf-8")
    _refused(*_rewrite("--input", str(data), "--output", str(tmp_path / "o.jsonl")), "unknown format 'xlsx'")


def test_a_parquet_file_that_is_not_parquet_is_refused_first(tmp_path: Path) -> None:
    data = tmp_path / "in.parquet"
    data.write_text('{"text": "one"}\n', encoding="utf-8")
    _refused(*_rewrite("--input", str(data), "--output", str(tmp_path / "o.jsonl")), "not a readable Parquet file")


def test_an_unknown_output_format_is_refused_first(src: Path, tmp_path: Path) -> None:
    _refused(*_rewrite("--input", str(src), "--output", str(tmp_path / "o.xlsx")), ".jsonl", ".csv", ".parquet", "xlsx")


@pytest.mark.parametrize("option", ["--output", "--errors-file"])
def test_a_missing_folder_is_refused_first(src: Path, tmp_path: Path, option: str) -> None:
    paths = {"--output": str(tmp_path / "o.jsonl"), "--errors-file": str(tmp_path / "e.jsonl")}
    paths[option] = str(tmp_path / "no-such-folder" / "x.jsonl")
    code, output, seconds = _rewrite("--skip-invalid", "--input", str(src), *[v for kv in paths.items() for v in kv])
    _refused(code, output, seconds, option, "does not exist")
    assert not (tmp_path / "no-such-folder").exists()


def test_a_finished_or_interrupted_run_is_not_replaced_without_asking(src: Path, tmp_path: Path) -> None:
    output = tmp_path / "o.jsonl"
    output.write_text("earlier results\n", encoding="utf-8")
    _refused(*_rewrite("--input", str(src), "--output", str(output)), "already exists", "--overwrite")
    partial = tmp_path / "p.jsonl.partial.jsonl"
    partial.write_text("", encoding="utf-8")
    _refused(*_rewrite("--input", str(src), "--output", str(tmp_path / "p.jsonl")), "--resume", "--overwrite")
    assert output.read_text(encoding="utf-8") == "earlier results\n"


def test_valid_arguments_get_as_far_as_the_model(src: Path, tmp_path: Path) -> None:
    code, output, _ = _rewrite("--no-guard", "--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert code != 0 and "/nonexistent/model" in output  # the checks above are what stopped the others
