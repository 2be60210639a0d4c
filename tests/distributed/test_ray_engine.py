"""`srllm rewrite --engine ray`: Ray Data map_batches on a local Ray gives the local engine's rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray")

from srllm.distributed.ray_engine import RayOptions, ray_stream  # noqa: E402
from srllm.rewrite.jobs import partial_path, run_file_job  # noqa: E402

TEXTS = ["Women are too emotional to lead.", "Old people cannot use phones.", "Your report is garbage.",
         "The library opens at 9.", "Guys from the countryside are dumb.", "Muslims should not lead meetings.",
         "We need a young rockstar.", "The bus leaves at noon."]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 1024 * 1024)
    yield ray
    ray.shutdown()


def settings(model_dir: Path) -> dict:
    return {"model": str(model_dir), "adapter": None, "guard": False, "max_new_tokens": 6}


def write_input(path: Path) -> Path:
    path.write_text("".join(json.dumps({"uid": f"r{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ray_job_matches_the_local_engine(local_ray, tiny_model_dir: Path, tmp_path: Path) -> None:
    from srllm.rewrite import GenerationSettings, Rewriter

    source = write_input(tmp_path / "in.jsonl")
    stream = ray_stream(settings(tiny_model_dir), RayOptions(actors=1, batch_size=3))
    run_file_job(None, source, tmp_path / "ray.jsonl", id_field="uid", stream=stream)
    local = Rewriter.load(str(tiny_model_dir), adapter=None, settings=GenerationSettings(max_new_tokens=6))
    run_file_job(lambda texts: local.rewrite(texts, batch_size=3), source, tmp_path / "local.jsonl", id_field="uid")
    on_ray, here = read(tmp_path / "ray.jsonl"), read(tmp_path / "local.jsonl")
    assert [row["uid"] for row in on_ray] == [f"r{i}" for i in range(len(TEXTS))]  # input order, no duplicates
    assert [row["rewrite"] for row in on_ray] == [row["rewrite"] for row in here]
    assert {row["model"] for row in on_ray} == {row["model"] for row in here}


def test_interrupted_ray_job_resumes_without_loss_or_duplicates(local_ray, tiny_model_dir: Path,
                                                                tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    output = tmp_path / "out.jsonl"
    stream = ray_stream(settings(tiny_model_dir), RayOptions(actors=1, batch_size=3))

    def first_batch_then_crash(rows):
        for count, item in enumerate(stream(rows)):
            if count == 1:
                raise KeyboardInterrupt  # like Ctrl-C after the first batch reached disk
            yield item

    with pytest.raises(KeyboardInterrupt):
        run_file_job(None, source, output, id_field="uid", stream=first_batch_then_crash)
    assert not output.exists() and partial_path(output).exists()
    seen: list[str] = []

    def recording(rows):
        seen.extend(row.text for row in rows)
        yield from stream(rows)

    report = run_file_job(None, source, output, id_field="uid", stream=recording, resume=True)
    assert report.rows_done_before == 3 and len(seen) == len(TEXTS) - 3
    rows = read(output)
    assert sorted(row["uid"] for row in rows) == sorted(f"r{i}" for i in range(len(TEXTS)))
    assert len(rows) == len(TEXTS) and not partial_path(output).exists()


def test_cli_refuses_local_only_options_with_ray(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from srllm.cli.main import app

    source = write_input(tmp_path / "in.jsonl")
    result = CliRunner().invoke(app, ["rewrite", "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
                                      "--engine", "ray", "--shots", "2"])
    assert result.exit_code != 0 and "local-engine options" in result.output
    result = CliRunner().invoke(app, ["rewrite", "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
                                      "--engine", "ray", "--backend", "openai", "--no-guard"])
    assert result.exit_code != 0 and "--base-url" in result.output
