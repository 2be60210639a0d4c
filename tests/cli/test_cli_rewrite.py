import json
from pathlib import Path

from typer.testing import CliRunner

from srllm.cli.main import app

runner = CliRunner()


def test_rewrite_a_text_with_a_local_model(tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["rewrite", "Some text.", "--model", str(tiny_model_dir), "--no-adapter",
                                 "--max-new-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    assert row["text"] == "Some text." and row["method"] == "zero-shot" and row["adapter"] is None


def test_rewrite_reads_stdin(tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["rewrite", "--model", str(tiny_model_dir), "--no-adapter",
                                 "--max-new-tokens", "4", "--json"], input="From stdin.\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["text"] == "From stdin.\n"


def test_file_options_must_come_in_pairs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rewrite", "--input", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 2 and "--input needs --output" in result.output


def test_bad_row_error_reaches_the_user_without_traceback(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "ok"}\n{"txt": "typo"}\n')
    result = runner.invoke(app, ["rewrite", "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                                 "--model", str(tiny_model_dir), "--no-adapter"])
    assert result.exit_code == 2
    assert f"file {src}, line 2, field 'text'" in result.output.replace("\n", "")
    assert "Traceback" not in result.output
