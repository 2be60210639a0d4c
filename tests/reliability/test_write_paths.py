"""Probe: every file `srllm rewrite` writes (output, errors file, partial file) must be distinct from
the input and from each other, also through symlinks and hardlinks; otherwise one write destroys
another file (the input, first of all). The check runs before any model loads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app

runner = CliRunner()
ROWS = '{"text": "one"}\nnot json\n{"text": "three"}\n'
NO_MODEL = "/nonexistent/model"  # the refusal must come before the model is looked for


def _rewrite(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["rewrite", "--model", NO_MODEL, "--no-guard", "--skip-invalid", *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "v.jsonl"
    path.write_text(ROWS, encoding="utf-8")
    return path


def test_errors_file_equal_to_the_input_is_refused(src: Path, tmp_path: Path) -> None:
    code, output = _rewrite("--errors-file", str(src), "--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert code == 2 and "--errors-file" in output and "input" in output, output
    assert src.read_text(encoding="utf-8") == ROWS


def test_errors_file_through_a_symlink_or_hardlink_is_refused(src: Path, tmp_path: Path) -> None:
    (tmp_path / "sym.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for alias in ("sym.jsonl", "hard.jsonl"):
        code, output = _rewrite("--errors-file", str(tmp_path / alias), "--input", str(src),
                                "--output", str(tmp_path / "o.jsonl"))
        assert code == 2 and "same file" in output, (alias, output)
    assert src.read_text(encoding="utf-8") == ROWS


def test_output_hardlinked_to_the_input_is_refused(src: Path, tmp_path: Path) -> None:
    os.link(src, tmp_path / "o.jsonl")
    code, output = _rewrite("--overwrite", "--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert code == 2 and "--output" in output and "same file" in output, output
    assert src.read_text(encoding="utf-8") == ROWS


@pytest.mark.parametrize("errors_name", ["o.jsonl", "o.jsonl.partial.jsonl"])
def test_errors_file_equal_to_the_output_or_the_partial_file_is_refused(src: Path, tmp_path: Path,
                                                                        errors_name: str) -> None:
    code, output = _rewrite("--errors-file", str(tmp_path / errors_name), "--input", str(src),
                            "--output", str(tmp_path / "o.jsonl"))
    assert code == 2 and "--errors-file" in output, output
    assert "model" not in output.lower()


def test_input_named_like_the_partial_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "o.jsonl.partial.jsonl"
    src.write_text(ROWS, encoding="utf-8")
    code, output = _rewrite("--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert code == 2 and "partial" in output, output
    assert src.read_text(encoding="utf-8") == ROWS
