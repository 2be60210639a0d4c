"""Probe: JSON Lines are split on "\\n" only. U+2028, U+2029 and U+0085 are legal raw inside a JSON
string (and `json.dumps(ensure_ascii=False)` writes them raw), but `str.splitlines()` breaks lines at
them: valid rows were refused as malformed, and a partial file holding such a row could not be resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.data.readers import iter_rows
from srllm.rewrite.inputs import read_rows
from srllm.rewrite.jobs import partial_path, run_file_job

SEPARATORS = ["\u2028", "\u2029", "\u0085"]


def _raw_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


@pytest.mark.parametrize("sep", SEPARATORS)
def test_both_jsonl_readers_keep_a_raw_separator_inside_a_string(tmp_path: Path, sep: str) -> None:
    src = _raw_jsonl(tmp_path / "in.jsonl", ["first", f"one{sep}two", "third"])
    rows, errors = read_rows(src)
    assert not errors and [r.text for r in rows] == ["first", f"one{sep}two", "third"]
    assert [r.line for r in rows] == [1, 2, 3]
    assert [row["text"] for _, row in iter_rows(src, "jsonl")] == ["first", f"one{sep}two", "third"]


def test_txt_rows_are_split_on_newlines_only(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\u2028b\r\nc\x0cd\n", encoding="utf-8")
    rows, _ = read_rows(src)
    assert [(r.line, r.text) for r in rows] == [(1, "a\u2028b"), (2, "c\x0cd")]


def _echo(texts: list[str]) -> list:
    from dataclasses import make_dataclass

    result = make_dataclass("R", ["rewrite", "model", "adapter", "method", "prompt_version"])
    return [result(t, "m", None, "zero-shot", "v") for t in texts]


def test_a_run_stopped_after_a_separator_row_resumes(tmp_path: Path) -> None:
    src = _raw_jsonl(tmp_path / "in.jsonl", [f"row {i}\u2028line two" for i in range(4)])
    out = tmp_path / "out.jsonl"
    calls = {"n": 0}

    def stop_after_one(texts: list[str]) -> list:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return _echo(texts)

    with pytest.raises(KeyboardInterrupt):
        run_file_job(stop_after_one, src, out, batch_rows=2)
    assert "\u2028" in partial_path(out).read_text(encoding="utf-8")  # written raw, as ensure_ascii=False does
    report = run_file_job(_echo, src, out, resume=True, batch_rows=2)
    assert report.rows_done_before == 2 and report.rows_rewritten == 2
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert [r["rewrite"] for r in rows] == [f"row {i}\u2028line two" for i in range(4)]


def test_the_service_takes_a_raw_separator_row(job_client, wait_done) -> None:
    data = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in ["a", "b\u2028c"]).encode()
    created = job_client.post("/v1/jobs", files={"file": ("rows.jsonl", data)})
    assert created.status_code == 202, created.text
    assert created.json()["rows_total"] == 2
    done = wait_done(job_client, created.json()["id"])
    body = job_client.get(done["results_url"]).text
    assert [json.loads(line)["rewrite"] for line in body.split("\n") if line] == ["a", "b\u2028c"]


def test_the_scorer_training_readers_keep_a_raw_separator_row(tmp_path: Path) -> None:
    from srllm.scorers.calibrate_retention import read_labels
    from srllm.scorers.train_bias import read_seed_examples

    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"original": "Dana\u2028moved", "rewrite": "Dana moved", "retained": True},
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    assert [row["original"] for row in read_labels(labels)] == ["Dana\u2028moved"]
    seed = tmp_path / "seed.jsonl"
    record = {"id": "s1", "text": "Women can't\u2028code.", "labels": {"bias": "Yes"}, "safe_variation": "People code."}
    seed.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    examples = read_seed_examples([seed])
    assert "Women can't\u2028code." in examples.texts and examples.counts["skipped_lines"] == 0
