"""A run dir written by the real experiment runner from a synthetic result (no model needed), for the
report tests (tests/report/) and the `srllm report` command's tests (tests/cli/)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from srllm.evaluate.experiments.base import ExperimentConfig, ExperimentResult, RunContext, Table
from srllm.evaluate.experiments.plots import before_after_bars
from srllm.evaluate.experiments.runner import write_run


def make_run(root: Path, name: str = "methods") -> Path:
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
