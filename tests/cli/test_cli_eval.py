"""`srllm eval <experiment>`: options map onto the experiment's config; errors are sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from srllm.cli.eval import app, parse_set
from srllm.evaluate.experiments.style import StyleConfig

FIXTURES = Path(__file__).resolve().parents[1] / "evaluate" / "fixtures"


def test_list_shows_every_experiment():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for name in ("methods", "stereoset", "toxigen-groups", "style", "jobs", "human-export", "human-import"):
        assert name in result.output


def test_set_values_are_json_or_comma_lists():
    fields = StyleConfig.model_fields
    assert parse_set(["attributes=toxicity,bias", "alpha=0.01"], fields) == {
        "attributes": ["toxicity", "bias"], "alpha": 0.01}
    with pytest.raises(typer.BadParameter, match="unknown option"):
        parse_set(["nope=1"], fields)


def test_style_command_writes_a_run_dir(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["style", "--data", str(FIXTURES / "style_mini.jsonl"), "--set",
                                      "attributes=toxicity", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Style shift tests" in result.output
    assert json.loads((out / "results.json").read_text())["metrics"]["n"] == 6


def test_user_errors_exit_with_a_sentence(tmp_path):
    result = CliRunner().invoke(app, ["stereoset", "--data", str(tmp_path / "missing.json"), "--out",
                                      str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "missing.json" in result.output and "--data PATH" in result.output
