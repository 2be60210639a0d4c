"""`srllm score`: the judge over a text or a file, and its user errors (moved from tests/scorers/test_judge.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.scorers.judge import JUDGE_DIR

SHIPPED = (JUDGE_DIR / "judge.json").is_file()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no shipped judge in src/srllm/assets/judge")


@needs_shipped
def test_score_cli_text_file_and_errors(tmp_path: Path) -> None:
    from srllm.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["score", "You are a useless idiot, Sam."])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["toxic"] > 0.5 and row["status"] == "ok" and row["spans"]
    source = tmp_path / "in.jsonl"
    source.write_text('{"body": "Have a nice day."}\n{"body": ""}\n', encoding="utf-8")
    bad = runner.invoke(app, ["score", "--input", str(source), "--text-field", "body",
                              "--output", str(tmp_path / "out.jsonl")])
    assert bad.exit_code == 2 and "line 2" in bad.output and "body" in bad.output
    source.write_text('{"body": "Have a nice day."}\n{"body": "🙂"}\n', encoding="utf-8")
    ok = runner.invoke(app, ["score", "--input", str(source), "--text-field", "body", "--output",
                             str(tmp_path / "out.csv")])
    assert ok.exit_code == 0, ok.output
    assert "no_words" in (tmp_path / "out.csv").read_text(encoding="utf-8")
    same = runner.invoke(app, ["score", "--input", str(source), "--output", str(source)])
    assert same.exit_code == 2 and source.read_text(encoding="utf-8").startswith('{"body"')
    unknown = runner.invoke(app, ["score", "--input", str(tmp_path / "x.parquetx")])
    assert unknown.exit_code == 2


@needs_shipped
def test_score_cli_parquet_in_and_out(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from srllm.cli.main import app

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["Have a nice day.", "You are a useless idiot, Sam."], "k": [1, 2]}), source)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(app, ["score", "--input", str(source), "--text-field", "body", "--output", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column("k").to_pylist() == [1, 2] and pa.types.is_list(table.schema.field("spans").type)
    assert table.column("toxic").to_pylist()[1] > 0.5
