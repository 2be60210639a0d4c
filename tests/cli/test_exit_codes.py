"""Every command answers a user error (a missing file, a bad value, an unknown name) with one sentence
and exit code 2, never a traceback and never exit 1 (which the data checks keep for "problems found")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app

runner = CliRunner()

# (argv, words the message must contain); "{tmp}" is a fresh folder. Each fails before any model loads.
USER_ERRORS = [
    (["eval", "stereoset", "--data", "{tmp}/missing.json", "--out", "{tmp}/r"], "missing.json"),
    (["report", "{tmp}/no-run"], "metadata.json is missing"),
    (["train", "--config", "{tmp}/nope.json", "--out", "{tmp}/o"], "nope.json"),
    (["train", "--data", "{tmp}/bad.jsonl", "--out", "{tmp}/o", "--no-energy"], "safe_variation"),
    (["merge", "{tmp}", "--out", "{tmp}/m"], "adapter_config.json"),
    (["rewrite", "--input", "{tmp}/nope.jsonl", "--output", "{tmp}/out.jsonl"], "nope.jsonl"),
    (["score", "--input", "{tmp}/nope.jsonl"], "nope.jsonl"),
    (["self-train", "--pool", "{tmp}/nope.jsonl", "--out", "{tmp}/st"], "nope.jsonl"),
    (["data", "validate", "{tmp}/nope.jsonl"], "does not exist"),
    (["data", "build-train", "--mix", "{tmp}/nope.json", "--out", "{tmp}/t.jsonl"], "nope.json"),
    (["models", "info", "no-such-model"], "no-such-model"),
    (["serve", "--backend", "openai", "--jobs-db", "{tmp}/j.sqlite"], "--base-url"),
    (["keys", "revoke", "nokey", "--keys-file", "{tmp}/k.sqlite"], "nokey"),
]


@pytest.mark.parametrize("argv, words", USER_ERRORS, ids=[" ".join(a[:2]) for a, _ in USER_ERRORS])
def test_a_user_error_exits_2_with_a_sentence(tmp_path: Path, argv: list[str], words: str) -> None:
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": "a", "text": "x y"}) + "\n", encoding="utf-8")
    result = runner.invoke(app, [arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_bad_value_for_an_option_exits_2() -> None:
    result = runner.invoke(app, ["eval", "stereoset", "--set", "no_such_option=1"])
    assert result.exit_code == 2 and "unknown option" in result.output
