"""`srllm train` / `srllm merge` shells: user errors are one sentence, never a stack trace."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from srllm.cli.train import app

runner = CliRunner()


def test_train_reports_bad_record_without_traceback(tmp_path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"id": "a", "text": "x y"}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "o"), "--no-energy"])
    assert result.exit_code == 2
    assert "safe_variation" in result.output and "Traceback" not in result.output


def test_train_cli_runs_a_config(tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"method": "lora", "base": str(tiny_llama_dir), "data": [str(pairs_jsonl)],
                                  "batch_size": 4, "max_steps": 2, "method_options": {"r": 4}}))
    result = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "o"), "--no-energy",
                                 "--lr", "0.01", "--set", "alpha=8"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["method"]["options"]["alpha"] == 8 and manifest["method"]["learning_rate"] == 0.01


def test_merge_cli_rejects_non_adapter(tmp_path) -> None:
    result = runner.invoke(app, ["merge", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "adapter_config.json" in result.output
