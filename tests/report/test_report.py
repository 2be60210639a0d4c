"""`srllm report`: Markdown + self-contained HTML (inline CSS, base64 PNGs, bootstrap CIs, metadata)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.evaluate.experiments.base import ExperimentConfig, ExperimentResult, RunContext, Table
from srllm.evaluate.experiments.plots import before_after_bars
from srllm.evaluate.experiments.runner import write_run


def _make_run(root: Path, name: str = "methods") -> Path:
    """A run dir written by the real runner from a synthetic result (no model needed)."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    ctx = RunContext(run_dir)
    data = root / "input.jsonl"
    data.write_text('{"text": "x"}\n')
    ctx.uses_data(data)
    ctx.uses_model("tiny", None, "base", "base model")
    ctx.note("variant 'sr-llm' skipped: no adapter")
    records = [{"variant": v, "id": str(i), "toxicity": t, "retention": 0.8, "output": "y"}
               for v, base in (("original", 0.6), ("zero-shot", 0.2)) for i, t in
               enumerate([base + 0.01 * k for k in range(10)])]
    figure = before_after_bars(["a", "b"], [0.6, 0.5], [0.2, 0.1], ctx.figure_path("toxicity_by_group"),
                               title="t", ylabel="tox")
    result = ExperimentResult(
        metrics={"n": 10},
        tables=[Table("Methods <comparison>", ["variant", "% toxic"], [["original", 60.0], ["zero-shot", 20.0]])],
        records=records, figures={"toxicity_by_group": figure},
    )
    write_run(run_dir, name, "Methods comparison", "Tables 4 and 7", ExperimentConfig(), ctx, result,
              started=datetime.now(timezone.utc), seconds=1.0)
    return run_dir


def test_run_dir_layout(tmp_path):
    run = _make_run(tmp_path)
    for name in ("metadata.json", "results.json", "tables.md", "records.jsonl"):
        assert (run / name).is_file()
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["data_files"][0]["sha256"] and metadata["libraries"]["scipy"]
    assert "| original | 60.00 |" in (run / "tables.md").read_text()


def test_report_renders_markdown_and_self_contained_html(tmp_path):
    from srllm.report import write_report

    runs = [_make_run(tmp_path / "a"), _make_run(tmp_path / "b", "style")]
    markdown, html = write_report(runs, tmp_path / "report", n_resamples=500)
    md = markdown.read_text()
    assert md.count("## Methods comparison") == 2
    assert "Bootstrap 95 % confidence intervals" in md and "| zero-shot | toxicity | 10 |" in md
    assert "![toxicity_by_group](" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / "report" / link).is_file() or Path(link).is_file()
    page = html.read_text()
    assert "<style>" in page and "data:image/png;base64," in page
    assert page.count("<img") >= 4  # the run's figure + toxicity and retention histograms, per run
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing fetched from a CDN
    assert "Methods &lt;comparison&gt;" in page  # escaped
    assert "sr-llm" in page and "sha256" in page


def test_ci_bounds_bracket_the_mean(tmp_path):
    from srllm.report.render import confidence_table

    records = json.loads("[" + ",".join((_make_run(tmp_path) / "records.jsonl").read_text().splitlines()) + "]")
    table = confidence_table(records, n_resamples=500)
    for _group, _key, n, mean, low, high in table.rows:
        assert n == 10 and low <= mean <= high


def test_report_cli(tmp_path):
    from srllm.cli.report import app

    run = _make_run(tmp_path)
    result = CliRunner().invoke(app, [str(run), "--out", str(tmp_path / "out"), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").is_file()
    missing = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "metadata.json is missing" in missing.output


@pytest.mark.parametrize("bad", ["results.json"])
def test_report_names_a_broken_run_dir(tmp_path, bad):
    from srllm.errors import InputError
    from srllm.report import write_report

    run = _make_run(tmp_path)
    (run / bad).unlink()
    with pytest.raises(InputError, match=bad):
        write_report([run], tmp_path / "r")
