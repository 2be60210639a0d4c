"""`srllm report RUN_DIR`: writes report.html, and a missing run dir is a user error."""

from __future__ import annotations

from run_dirs import make_run
from typer.testing import CliRunner


def test_report_cli(tmp_path):
    from srllm.cli.report import app

    run = make_run(tmp_path)
    result = CliRunner().invoke(app, [str(run), "--out", str(tmp_path / "out"), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").is_file()
    missing = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "metadata.json is missing" in missing.output
