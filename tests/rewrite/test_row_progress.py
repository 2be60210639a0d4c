"""A file job saves and counts each row as it finishes, not each batch: the decode loop streams rows
(`Rewriter.rewrite_stream`), the batches stay those of `rewrite()`, so greedy results are identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter
from srllm.rewrite.guard import Guard, GuardConfig, GuardedRewriter
from srllm.rewrite.jobs import partial_path, run_file_job, streamed

TEXTS = [
    "Women are too emotional to lead the team.",
    "Old people like Mr. Chen, 78, cannot use phones and never will, says the memo from Ohio.",
    "Your report is garbage and you are a stupid idiot for sending it on Friday.",
    "Those people from the east side are all lazy.",
    "The library on Pine Street opens at 9 a.m. on weekdays.",
    "Immigrants ruin every neighbourhood they move into.",
]


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _partial_rows(output: Path) -> int:
    return len(partial_path(output).read_text(encoding="utf-8").splitlines()) - 1  # less the header


def _per_row_and_batched(engine, tmp_path: Path) -> tuple[list[dict], list[dict], list[tuple[int, int]]]:
    src = _input(tmp_path)
    per_row, whole = tmp_path / "per_row.jsonl", tmp_path / "batched.jsonl"
    seen: list[tuple[int, int]] = []  # (rows this progress call, rows in the partial file then)
    run_file_job(None, src, per_row, stream=streamed(engine, batch_size=2, window=len(TEXTS)),
                 on_progress=lambda n: seen.append((n, _partial_rows(per_row))))
    run_file_job(lambda texts: engine.rewrite(texts, batch_size=2), src, whole, batch_rows=len(TEXTS))
    return _rows(per_row), _rows(whole), seen


def test_progress_and_the_partial_file_advance_per_row_with_identical_greedy_results(
        tiny_loaded: LoadedModel, tmp_path: Path) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=12))
    per_row, whole, seen = _per_row_and_batched(rewriter, tmp_path)
    assert seen == [(1, k) for k in range(1, len(TEXTS) + 1)]  # one row at a time, each on disk when counted
    assert per_row == whole  # same rewrites, token counts and fields as one batched call


def test_a_guarded_job_streams_its_rows_with_the_same_results(tiny_loaded: LoadedModel, tmp_path: Path) -> None:
    guard = Guard(GuardConfig(candidates=2, edit_candidate=False)).load()
    guarded = GuardedRewriter(Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8)), guard)
    per_row, whole, seen = _per_row_and_batched(guarded, tmp_path)
    assert [n for n, _ in seen] == [1] * len(TEXTS) and [k for _, k in seen] == list(range(1, len(TEXTS) + 1))
    assert per_row == whole  # statuses, scores, reasons and the seeded retries included
    assert {row["status"] for row in per_row} <= {"ok", "flagged", "unchanged"}


def test_an_interrupted_job_keeps_every_finished_row(tiny_loaded: LoadedModel, tmp_path: Path) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=12))
    src, out = _input(tmp_path), tmp_path / "out.jsonl"
    done = []

    def stop_after_three(n: int) -> None:
        done.append(n)
        if len(done) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the other rows of the batch are still decoding

    with pytest.raises(KeyboardInterrupt):
        run_file_job(None, src, out, stream=streamed(rewriter, batch_size=2, window=len(TEXTS)),
                     on_progress=stop_after_three)
    assert _partial_rows(out) == 3
    report = run_file_job(None, src, out, stream=streamed(rewriter, batch_size=2, window=len(TEXTS)), resume=True)
    assert (report.rows_done_before, report.rows_rewritten) == (3, 3)
    assert [row["id"] for row in _rows(out)] == list(range(len(TEXTS)))
