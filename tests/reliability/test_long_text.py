"""Probe: long texts. With --chunk a 45,000-character text came back as 224 characters, exit 0, no
flag: chunks were sized to the context (~3,200 tokens) but each answer is capped at 512 tokens. Chunks
must be small enough to be answered in full, a rewrite far shorter than its input must be flagged, and
without --chunk a too-long row must be reported by file and true file line, and be skippable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.rewrite import Rewriter
from srllm.rewrite.jobs import run_file_job

SENTENCE = "The committee reviewed the quarterly budget and approved the new training plan for every team."


@pytest.fixture(scope="module")
def loaded(tiny_llama_dir: Path):
    from srllm.models import load_causal_lm

    return load_causal_lm(str(tiny_llama_dir))  # 2048-token context, the real tokenizer


def test_chunks_fit_the_answer_budget(loaded) -> None:
    rewriter = Rewriter(loaded, chunk=True)
    settings = rewriter.settings
    text = " ".join([SENTENCE] * 120)  # ~2,300 tokens: fits no answer of at most 512 tokens
    [chunks] = rewriter._units([text])
    sizes = [rewriter.count_tokens(chunk) for chunk in chunks]
    assert len(chunks) > 1
    # The scaled budget (1.5x + 32) of every chunk stays under the 512-token cap: answered in full.
    assert all(int(size * 1.5) + 32 <= settings.max_new_tokens_cap for size in sizes), sizes


def test_a_sentence_longer_than_the_budget_is_split_at_words(loaded) -> None:
    rewriter = Rewriter(loaded, chunk=True)
    text = " ".join(["word"] * 1500)  # no sentence end anywhere
    [chunks] = rewriter._units([text])
    assert len(chunks) > 1 and " ".join(chunks) == text
    assert all(int(rewriter.count_tokens(c) * 1.5) + 32 <= 512 for c in chunks)


@pytest.mark.parametrize("status", [None, "ok"])
def test_an_implausibly_short_rewrite_is_flagged(tmp_path: Path, status: str | None, result_classes) -> None:
    plain, guarded = result_classes

    def truncating(texts: list[str]) -> list:
        make = plain if status is None else guarded
        return [make(text[:224]) for text in texts]

    src = tmp_path / "in.jsonl"
    long = " ".join([SENTENCE] * 480)  # ~45,000 characters
    src.write_text(json.dumps({"text": "Short text."}) + "\n" + json.dumps({"text": long}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    report = run_file_job(truncating, src, out)
    short, cut = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert short.get("status", "ok") == "ok"
    assert cut["status"] == "flagged" and any("short" in reason for reason in cut["reasons"]), cut
    assert report.statuses.get("flagged") == 1


def _rows_with_a_long_one(path: Path) -> Path:
    lines = [json.dumps({"text": "A short row."}), json.dumps({"text": "Another short row."}), "",
             json.dumps({"text": " ".join(["word"] * 3000)}), json.dumps({"text": "The last row."})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(tiny_llama_dir: Path, src: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["rewrite", "--input", str(src), "--output", str(out), "--model",
                                    str(tiny_llama_dir), "--no-adapter", "--no-guard", "--max-new-tokens", "4",
                                    "--batch-size", "4", *extra])


def test_a_too_long_row_is_reported_by_file_and_file_line(tmp_path: Path, tiny_llama_dir: Path) -> None:
    src = _rows_with_a_long_one(tmp_path / "in.jsonl")
    result = _cli(tiny_llama_dir, src, tmp_path / "out.jsonl")
    message = " ".join(result.output.split())
    assert result.exit_code == 2, message
    assert f"file {src}, line 4, field 'text'" in message and "--chunk" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_skip_invalid_skips_a_too_long_row(tmp_path: Path, tiny_llama_dir: Path) -> None:
    src = _rows_with_a_long_one(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    result = _cli(tiny_llama_dir, src, out, "--skip-invalid")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert [row["text"] for row in rows] == ["A short row.", "Another short row.", "The last row."]
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().split("\n") if line]
    assert [(e["file"], e["line"], e["field"]) for e in errors] == [(str(src), 4, "text")]
