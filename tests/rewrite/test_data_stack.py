"""Our outputs as the data stack reads them: `datasets.load_dataset("json" / "parquet", ...)` of a real
`srllm rewrite` output types every column (`scores` a struct of floats, not JSON), Parquet goes in and
out of file jobs and resumes, and the files get the user's umask."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.errors import InputError
from srllm.rewrite.guard import SCORE_KEYS
from srllm.rewrite.jobs import partial_path, run_file_job

TOXIC = "Your report is garbage and you are a stupid idiot for sending it on Friday."
BENIGN = "The library on Pine Street opens at 9 a.m. on weekdays."
TEXTS = [BENIGN, TOXIC, "🙂"]  # unchanged (scored input), flagged (every score), unchanged (nothing scored)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture(scope="module")
def guarded_outputs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    """One guarded `srllm rewrite` of TEXTS from a Parquet input, written as JSON Lines and as Parquet."""
    folder = tmp_path_factory.mktemp("stack")
    src = folder / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": TEXTS, "lang": ["en", "en", None]}), src)
    config = folder / "guard.json"
    config.write_text(json.dumps({"edit_candidate": False}))
    outputs = {}
    previous = os.umask(0o022)
    try:
        for ext in ("jsonl", "parquet"):
            out = folder / f"out.{ext}"
            result = CliRunner().invoke(app, ["rewrite", "--input", str(src), "--output", str(out), "--model",
                                              str(tiny_model_dir), "--no-adapter", "--max-new-tokens", "6",
                                              "--candidates", "2", "--id-field", "id", "--guard-config",
                                              str(config)])
            assert result.exit_code == 0, result.output
            outputs[ext] = out
    finally:
        os.umask(previous)
    return outputs


def test_every_row_has_the_same_score_keys_with_nulls_where_not_computed(guarded_outputs: dict[str, Path]) -> None:
    rows = [json.loads(line) for line in guarded_outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [row["status"] for row in rows] == ["unchanged", "flagged", "unchanged"]
    assert all(list(row["scores"]) == list(SCORE_KEYS) for row in rows)
    benign, flagged, emoji = (row["scores"] for row in rows)
    assert benign["input_toxicity"] is not None and benign["similarity"] is None  # no candidate was made
    assert flagged["input_toxicity"] > 0.5 and flagged["similarity"] is not None  # the candidate was checked
    assert set(emoji.values()) == {None}  # no words: nothing was scored


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_datasets_types_our_outputs(guarded_outputs: dict[str, Path], ext: str) -> None:
    from datasets import Features, Value, load_dataset

    builder = "json" if ext == "jsonl" else "parquet"
    data = load_dataset(builder, data_files=str(guarded_outputs[ext]), split="train")
    features: Features = data.features
    assert features["scores"] == {key: Value("float64") for key in SCORE_KEYS}  # a struct, typed
    assert features["id"] == Value("int64") and features["rewrite"] == Value("string")
    assert data[1]["scores"]["input_toxicity"] > 0.5 and data[2]["scores"]["toxicity"] is None
    assert data["text"] == TEXTS and data["lang"] == ["en", "en", None]


def test_outputs_get_the_users_umask(guarded_outputs: dict[str, Path]) -> None:
    for out in guarded_outputs.values():
        for path in (out, out.with_name(out.name + ".job.json")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


class Upper:
    def __init__(self, stop_after: int | None = None) -> None:
        self.calls, self.stop_after = 0, stop_after

    def __call__(self, texts: list[str]) -> list[dict]:
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        return [Result(text.upper()) for text in texts]


class Result:
    def __init__(self, rewrite: str) -> None:
        self.rewrite, self.model, self.adapter, self.method, self.prompt_version = rewrite, "m", None, "zero-shot", "v"


def test_a_parquet_job_resumes_into_a_parquet_output(tmp_path: Path, umask_022: None) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(5)], "n": list(range(5))}), src)
    out = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        run_file_job(Upper(stop_after=1), src, out, batch_rows=2)
    assert partial_path(out).exists() and not out.exists()
    report = run_file_job(Upper(), src, out, batch_rows=2, resume=True)
    assert (report.rows_done_before, report.rows_rewritten) == (2, 3)
    table = pq.read_table(out)
    assert table.column("rewrite").to_pylist() == [f"ROW {i}" for i in range(5)]
    assert table.schema.field("n").type == pa.int64() and stat.S_IMODE(out.stat().st_mode) == 0o644


def test_a_bad_parquet_row_is_named_by_row_and_field(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["fine", None, "also fine"]}), src)
    with pytest.raises(InputError, match=r"in\.parquet \(row 2\), field 'text'"):
        run_file_job(Upper(), src, tmp_path / "out.jsonl")


def test_a_parquet_input_without_the_text_column_names_the_columns(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["x"]}), src)
    with pytest.raises(InputError, match=r"no column named 'text'; columns are \['body'\]"):
        run_file_job(Upper(), src, tmp_path / "out.jsonl")


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    src.write_text("text\nhello\n")
    with pytest.raises(InputError, match="is not a readable Parquet file"):
        run_file_job(Upper(), src, tmp_path / "out.jsonl")
