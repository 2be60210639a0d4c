"""Probe: `--resume` after a finished run must notice a changed input. It used to report every row
"resumed" and keep the old output (a row appended to the input was silently never rewritten). Like
the partial file's check, a finished output whose input changed is refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.rewrite.jobs import run_file_job


def _rows(n: int) -> str:
    return "".join(json.dumps({"id": i, "text": f"row {i}"}) + "\n" for i in range(n))


def test_resume_of_a_finished_run_refuses_a_changed_input(tmp_path: Path, echo_rewrite) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_rows(40), encoding="utf-8")
    run_file_job(echo_rewrite, src, out)
    finished = out.read_bytes()
    with open(src, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": 40, "text": "row 40"}) + "\n")
    with pytest.raises(InputError, match=r"changed since .* finished.*--overwrite"):
        run_file_job(echo_rewrite, src, out, resume=True)
    assert out.read_bytes() == finished


def test_resume_of_a_finished_run_with_the_same_input_does_nothing(tmp_path: Path, echo_rewrite) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_rows(3), encoding="utf-8")
    run_file_job(echo_rewrite, src, out)
    report = run_file_job(lambda texts: pytest.fail("nothing is left to rewrite"), src, out, resume=True)
    assert (report.rows_done_before, report.rows_rewritten, report.rows_total) == (3, 0, 3)


def test_resume_refuses_an_output_it_cannot_trace_to_the_input(tmp_path: Path, echo_rewrite) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_rows(3), encoding="utf-8")
    out.write_text('{"rewrite": "made elsewhere"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="--overwrite"):
        run_file_job(echo_rewrite, src, out, resume=True)


def test_overwrite_after_a_changed_input_rewrites_every_row(tmp_path: Path, echo_rewrite) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_rows(2), encoding="utf-8")
    run_file_job(echo_rewrite, src, out)
    src.write_text(_rows(3), encoding="utf-8")
    run_file_job(echo_rewrite, src, out, overwrite=True)
    assert len(out.read_text(encoding="utf-8").split("\n")) - 1 == 3
    assert run_file_job(echo_rewrite, src, out, resume=True).rows_done_before == 3
