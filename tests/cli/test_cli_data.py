"""`srllm data ...` through typer's CliRunner against the group's own app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from srllm.cli.data import app
from srllm.data import read_records


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    return result


def test_import_writes_cmd_records(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo.jsonl"
    result = run("import", fixtures / "srllm_repo.csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert "4 rows -> 4 records (importer srllm-csv, 0 problems)" in result.output
    assert [r.id for r in read_records(out)] == ["srllm_repo-2", "srllm_repo-3", "srllm_repo-5", "srllm_repo-6"]


def test_import_with_mapping(tmp_path: Path) -> None:
    src = tmp_path / "mine.csv"
    src.write_text("comment,rewrite\nYou fool,You are mistaken\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = run("import", src, "-o", out, "--map", "comment=text", "--map", "rewrite=safe_variation")
    assert result.exit_code == 0, result.output
    assert read_records(out)[0].safe_variation == "You are mistaken"


def test_import_strict_fails_on_bad_records_with_file_and_line(fixtures: Path, tmp_path: Path) -> None:
    result = run("import", fixtures / "bad.jsonl", "-o", tmp_path / "x.jsonl", "--strict")
    assert result.exit_code == 2
    assert "bad.jsonl, line 2, field 'text'" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run("validate", tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_validate_reports_counts_and_examples(fixtures: Path) -> None:
    result = run("validate", fixtures / "cmd.jsonl")
    assert result.exit_code == 1
    out = result.output
    assert "meta_leak" in out and "cmd.jsonl:3 field 'safe_variation'" in out
    assert "0 bad records, 8 quality findings" in out


def test_validate_bad_records_name_file_line_field(fixtures: Path) -> None:
    result = run("validate", fixtures / "bad.jsonl")
    assert result.exit_code == 1
    for line, field in ((2, "text"), (3, "labels.toxicity"), (5, "rewrite"), (6, "biased_words")):
        assert f"bad.jsonl, line {line}, field '{field}'" in result.output


def test_validate_fix_writes_a_new_file_and_reports(fixtures: Path, tmp_path: Path) -> None:
    src = fixtures / "cmd.jsonl"
    before = src.read_bytes()
    out = tmp_path / "fixed.jsonl"
    result = run("validate", src, "--fix", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 changes; wrote 9 records" in result.output
    assert src.read_bytes() == before
    assert next(r for r in read_records(out) if r.id == "c3").safe_variation.startswith("Towns change")
    refused = run("validate", src, "--fix", "--out", src)
    assert refused.exit_code == 2 and "never modified" in refused.output


def test_validate_several_files_checks_split_leaks(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"id": "a", "text": "Same text.", "safe_variation": "ok"}\n')
    (tmp_path / "test.jsonl").write_text('{"id": "b", "text": "same TEXT", "safe_variation": "fine"}\n')
    result = run("validate", tmp_path / "train.jsonl", tmp_path / "test.jsonl", "--check", "split_leak")
    assert result.exit_code == 1 and "in 'test' and in 'train'" in result.output


def test_validate_real_srllm_csv(srllm_train: Path, tmp_path: Path) -> None:
    result = run("validate", srllm_train, "--report", tmp_path / "findings.jsonl")
    assert result.exit_code == 1
    assert "434 rows -> 434 records" in result.output
    assert "train_500.csv:10 field 'safe_variation': prefix 'I suggest the following" in result.output
    rows = [json.loads(line) for line in (tmp_path / "findings.jsonl").read_text().splitlines()]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["check"]] = counts.get(row["check"], 0) + 1
    assert counts["meta_leak"] == 2 and counts["duplicate_rewrite"] == 2 and counts["empty_rewrite"] == 7


def test_stats_command(fixtures: Path, tmp_path: Path) -> None:
    result = run("stats", fixtures / "cmd.jsonl", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "| bias | Yes | 6 | 60.00 |" in result.output
    assert (tmp_path / "s" / "labels.png").exists() and (tmp_path / "s" / "stats.md").exists()


def test_split_command(fixtures: Path, tmp_path: Path) -> None:
    result = run("split", fixtures / "cmd.jsonl", "--out", tmp_path / "sp", "--ratios", "train=0.5,test=0.5",
                 "--seed", "3")
    assert result.exit_code == 0, result.output
    train, test = read_records(tmp_path / "sp" / "train.jsonl"), read_records(tmp_path / "sp" / "test.jsonl")
    assert len(train) + len(test) == 10


def test_format_alpaca_and_chat(fixtures: Path, tmp_path: Path, chat_tokenizer: Any) -> None:
    out = tmp_path / "alpaca.jsonl"
    result = run("format", fixtures / "cmd.jsonl", "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 9 alpaca examples" in result.output and "skipped 1" in result.output
    first = json.loads(out.read_text().splitlines()[0])
    assert set(first) == {"id", "instruction", "input", "output"}
    chat_tokenizer.save_pretrained(tmp_path / "tok")
    out = tmp_path / "chat.jsonl"
    result = run("format", fixtures / "cmd.jsonl", "--out", out, "--style", "chat", "--tokenizer", tmp_path / "tok")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text().splitlines()[0])["prompt"].startswith("<|system|>")


def test_annotate_command(tmp_path: Path, fake_chat: Any) -> None:
    src = tmp_path / "texts.txt"
    src.write_text("good too old to code\nprose reply please\n", encoding="utf-8")
    out = tmp_path / "annotated.jsonl"
    result = run("annotate", src, "--out", out, "--base-url", fake_chat.url, "--model", "m",
                 "--api-key", "sk-x")
    assert result.exit_code == 1  # one row failed
    assert "annotated 1 of 2" in result.output
    (record,) = read_records(out)
    assert record.annotator == f"m@{fake_chat.url}" and record.labels.toxicity == "Mild"
    errors = [json.loads(line) for line in (tmp_path / "annotated.errors.jsonl").read_text().splitlines()]
    assert errors[0]["id"] == "texts-2" and "not JSON" in errors[0]["error"]


def test_agreement_command(tmp_path: Path) -> None:
    src = tmp_path / "multi.jsonl"
    rows = [{"id": i, "text": f"t{i}", "labels": {"bias": v}, "annotator": f"a{k}"}
            for i, values in (("1", "YYY"), ("2", "NNN"), ("3", "YNY"), ("4", "NNN")) for k, v in enumerate(values)]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = run("agreement", src, "--json")
    assert result.exit_code == 0, result.output
    (bias,) = json.loads(result.output[result.output.index("["):])
    assert bias["label"] == "bias" and bias["items"] == 4 and bias["band"] in {"moderate", "substantial"}


@pytest.mark.parametrize("command", ["import", "validate", "stats", "split", "format", "annotate", "agreement"])
def test_every_command_has_help(command: str) -> None:
    assert run(command, "--help").exit_code == 0
