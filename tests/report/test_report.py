"""`srllm report`: Markdown + self-contained HTML (inline CSS, base64 PNGs, bootstrap CIs, metadata)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from run_dirs import make_run


def test_run_dir_layout(tmp_path):
    run = make_run(tmp_path)
    for name in ("metadata.json", "results.json", "tables.md", "records.jsonl"):
        assert (run / name).is_file()
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["data_files"][0]["sha256"] and metadata["libraries"]["scipy"]
    assert "| original | 60.00 |" in (run / "tables.md").read_text()


def test_report_renders_markdown_and_self_contained_html(tmp_path):
    from srllm.report import write_report

    runs = [make_run(tmp_path / "a"), make_run(tmp_path / "b", "style")]
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

    records = json.loads("[" + ",".join((make_run(tmp_path) / "records.jsonl").read_text().splitlines()) + "]")
    table = confidence_table(records, n_resamples=500)
    for _group, _key, n, mean, low, high in table.rows:
        assert n == 10 and low <= mean <= high


@pytest.mark.parametrize("bad", ["results.json"])
def test_report_names_a_broken_run_dir(tmp_path, bad):
    from srllm.errors import InputError
    from srllm.report import write_report

    run = make_run(tmp_path)
    (run / bad).unlink()
    with pytest.raises(InputError, match=bad):
        write_report([run], tmp_path / "r")
