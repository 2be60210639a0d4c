"""Probe: CSV formula injection. Cells starting with =, +, -, @, tab or CR came back verbatim in
every CSV we write (a file job's output, the service's results, the page's download, CMD data), and
a spreadsheet runs them as formulas. They get a leading single quote (OWASP), unless a machine
consumer turns that off (`--no-csv-escape`, `csv_escape=false`); the page always escapes."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.data.schema import CMDRecord
from srllm.data.writers import write_records
from srllm.rewrite.jobs import run_file_job
from srllm.text.writers import csv_cell

DANGEROUS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
HARMLESS = ["plain", "a=b", "", "1-2"]
STATIC = Path(__file__).resolve().parents[2] / "src" / "srllm" / "serve" / "static" / "app.js"


def test_the_shared_helper_quotes_formula_cells() -> None:
    assert [csv_cell(value) for value in DANGEROUS] == ["'" + value for value in DANGEROUS]
    assert [csv_cell(value) for value in HARMLESS] == HARMLESS
    assert csv_cell(-5) == -5 and csv_cell(None) is None  # numbers are data, not formulas
    assert csv_cell("=1", escape=False) == "=1"


def _texts_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([value] for value in DANGEROUS)
    return path


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # read_text would turn the "\r" cell into "\n"


def _column(text: str, name: str) -> list[str]:
    return [row[name] for row in csv.DictReader(io.StringIO(text, newline=""))]


def test_a_file_jobs_csv_output_is_escaped_unless_turned_off(tmp_path: Path, echo_rewrite) -> None:
    src = _texts_csv(tmp_path / "in.csv")
    run_file_job(echo_rewrite, src, tmp_path / "out.csv")
    written = _read(tmp_path / "out.csv")
    assert _column(written, "text") == _column(written, "rewrite") == ["'" + v for v in DANGEROUS]
    run_file_job(echo_rewrite, src, tmp_path / "raw.csv", csv_escape=False)
    assert _column(_read(tmp_path / "raw.csv"), "text") == DANGEROUS


def test_the_cli_escapes_and_has_a_flag_to_stop(tmp_path: Path, tiny_llama_dir: Path) -> None:
    src = _texts_csv(tmp_path / "in.csv")
    base = ["rewrite", "--input", str(src), "--model", str(tiny_llama_dir), "--no-adapter", "--no-guard",
            "--max-new-tokens", "2"]
    for name, extra, expected in [("out.csv", [], ["'" + v for v in DANGEROUS]), ("raw.csv", ["--no-csv-escape"],
                                                                                  DANGEROUS)]:
        result = CliRunner().invoke(app, [*base, "--output", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        assert _column(_read(tmp_path / name), "text") == expected


def test_cmd_records_csv_is_escaped(tmp_path: Path) -> None:
    write_records([CMDRecord(id="r1", text="=cmd|' /C calc'!A0", safe_variation="@fine")], tmp_path / "d.csv")
    row = next(csv.DictReader(open(tmp_path / "d.csv", newline="", encoding="utf-8")))
    assert row["text"] == "'=cmd|' /C calc'!A0" and row["safe_variation"] == "'@fine"


def test_the_service_results_are_escaped_unless_turned_off(job_client, wait_done) -> None:
    data = "".join(json.dumps({"text": v}) + "\n" for v in DANGEROUS).encode()
    job = job_client.post("/v1/jobs", files={"file": ("rows.jsonl", data)}).json()
    done = wait_done(job_client, job["id"])
    escaped = job_client.get(done["results_url"], params={"format": "csv"}).text
    assert _column(escaped, "text") == _column(escaped, "rewrite") == ["'" + v for v in DANGEROUS]
    raw = job_client.get(done["results_url"], params={"format": "csv", "csv_escape": "false"}).text
    assert _column(raw, "text") == _column(raw, "rewrite") == DANGEROUS


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_pages_csv_download_escapes() -> None:
    source = STATIC.read_text(encoding="utf-8")
    helper = re.search(r"^function csvCell\(value\) \{.*?^\}", source, re.S | re.M)
    assert helper, "app.js has no csvCell"
    script = helper.group(0) + f"\nconsole.log(JSON.stringify({json.dumps(DANGEROUS + HARMLESS)}.map(csvCell)));"
    out = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    # What a CSV reader makes of each cell.
    cells = [next(csv.reader(io.StringIO(cell, newline="")), [""])[0] for cell in out]
    assert cells == ["'" + v for v in DANGEROUS] + HARMLESS
