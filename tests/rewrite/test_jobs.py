import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.rewrite.inputs import read_rows
from srllm.rewrite.jobs import partial_path, run_file_job


@dataclass
class FakeResult:
    """Shape of RewriteResult; the job layer only needs these fields."""

    rewrite: str
    model: str = "m"
    adapter: str | None = None
    method: str = "zero-shot"
    prompt_version: str = "v"


class Recorder:
    """A real rewrite function (upper-cases) that can stop the job after n calls, like Ctrl-C."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.calls = 0
        self.interrupt_after = interrupt_after

    def __call__(self, texts: list[str]) -> list[FakeResult]:
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.seen.extend(texts)
        return [FakeResult(text.upper()) for text in texts]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_jsonl_rows_keep_fields_and_ids(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"uid": "a", "text": "one", "lang": "en"},
                                              {"uid": "b", "text": "two", "lang": "en"}])
    out = tmp_path / "out.jsonl"
    run_file_job(Recorder(), src, out, id_field="uid")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["uid"] for r in rows] == ["a", "b"] and rows[0]["lang"] == "en"
    assert rows[1]["rewrite"] == "TWO" and {"model", "adapter", "method", "prompt_version"} <= set(rows[0])


def test_csv_with_multiline_cell_and_csv_output(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('id,body\n1,"first line\nsecond line"\n2,plain\n', encoding="utf-8")
    rows, errors = read_rows(src, text_field="body", id_field="id")
    assert not errors and [r.line for r in rows] == [2, 4]
    out = tmp_path / "out.csv"
    run_file_job(Recorder(), src, out, text_field="body", id_field="id")
    import csv

    result = list(csv.DictReader(out.open(encoding="utf-8")))
    assert result[0]["rewrite"] == "FIRST LINE\nSECOND LINE" and result[1]["id"] == "2"


def test_txt_one_text_per_line(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("alpha\n\nbeta\n", encoding="utf-8")
    rows, _ = read_rows(src)
    assert [(r.id, r.line, r.text) for r in rows] == [("1", 1, "alpha"), ("2", 3, "beta")]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ('{"text": "ok"}\n{"text": "bad",\n', r"line 2, field 'json': malformed JSON"),
        ('{"text": "ok"}\n{"body": "x"}\n', r"line 2, field 'text': missing"),
        ('{"text": "ok"}\n{"text": "  "}\n', r"line 2, field 'text': empty text"),
        ('{"text": "ok"}\n[1, 2]\n', r"line 2, field 'json': each line must be a JSON object"),
    ],
)
def test_bad_jsonl_rows_name_file_line_and_field(tmp_path: Path, content: str, pattern: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=rf"file {src}, {pattern}"):
        run_file_job(Recorder(), src, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes("fine\ncaf\xe9 latin-1\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 2: is not UTF-8"):
        read_rows(src)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the file"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="no column named 'text'"):
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
        read_rows(tmp_path / "x.csv")


def test_skip_invalid_reports_errors_and_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "one"}\nnot json\n{"text": ""}\n{"text": "four"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    report = run_file_job(Recorder(), src, out, skip_invalid=True)
    assert report.rows_rewritten == 2
    errors = [json.loads(line) for line in report.errors_path.read_text().splitlines()]
    assert [(e["line"], e["field"]) for e in errors] == [(2, "json"), (3, "text")]
    assert all(e["file"] == str(src) for e in errors)


def test_existing_output_and_input_are_never_clobbered(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}])
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        run_file_job(Recorder(), src, out)
    assert out.read_text() == "precious\n"
    with pytest.raises(InputError, match="must not be the input"):
        run_file_job(Recorder(), src, src)


def test_interrupted_job_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"text {i}"} for i in range(10)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_file_job(Recorder(interrupt_after=2), src, out, batch_rows=3)
    assert not out.exists() and partial_path(out).exists()
    with pytest.raises(InputError, match="pass --resume"):
        run_file_job(Recorder(), src, out, batch_rows=3)
    second = Recorder()
    report = run_file_job(second, src, out, resume=True, batch_rows=3)
    assert report.rows_done_before == 6 and second.seen == [f"text {i}" for i in range(6, 10)]
    result = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    assert [r["rewrite"] for r in result] == [f"TEXT {i}" for i in range(10)]
    assert src.read_bytes() == before and not partial_path(out).exists()


def test_torn_last_line_is_discarded_on_resume(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"t{i}"} for i in range(4)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_file_job(Recorder(interrupt_after=1), src, out, batch_rows=2)
    with open(partial_path(out), "a") as handle:
        handle.write('{"_row": 2, "rewr')  # what kill -9 mid-write leaves
    run_file_job(Recorder(), src, out, resume=True, batch_rows=2)
    assert [json.loads(x)["rewrite"] for x in out.read_text().splitlines()] == ["T0", "T1", "T2", "T3"]


def test_resume_refuses_a_changed_input(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"t{i}"} for i in range(4)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_file_job(Recorder(interrupt_after=1), src, out, batch_rows=2)
    write_jsonl(src, [{"text": "different"}])
    with pytest.raises(InputError, match="different version of the input"):
        run_file_job(Recorder(), src, out, resume=True)


def test_cli_job_killed_with_sigkill_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A real `srllm rewrite --input` process killed with kill -9, then resumed."""
    rows = [{"id": i, "text": f"Sentence {i} about the quarterly budget review."} for i in range(40)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "srllm.cli.main", "rewrite", "--input", str(src), "--output", str(out),
           "--model", str(tiny_model_dir), "--no-adapter", "--batch-size", "1", "--max-new-tokens", "24",
           "--id-field", "id", "--no-guard"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = partial_path(out)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and len(partial.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(partial.read_text().splitlines()) - 1
    assert 0 < done_before < len(rows) and not out.exists()
    finished = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    result = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in result] == list(range(40))
    assert src.read_bytes() == before
