"""`srllm score`: the judge's toxic / stereotype probabilities and harmful spans, for a text or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from srllm.cli.common import console, user_errors
from srllm.errors import InputError


@user_errors
def score(
    text: str | None = typer.Argument(None, help="Text to score; omit to read --input or stdin."),
    input: Path | None = typer.Option(None, "--input", "-i",
                                      help="A .jsonl, .json, .csv, .tsv, .txt or .parquet file."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Output .jsonl, .json, .csv, .tsv or .parquet (default: stdout)."),
    text_field: str = typer.Option("text", "--text-field", help="Column or key holding the text."),
    fmt: str | None = typer.Option(None, "--format", help="Input format when the extension does not say it."),
    judge_dir: Path | None = typer.Option(None, "--judge", help="Folder of a trained judge "
                                                                                     "(default: the shipped one)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
) -> None:
    """Score texts with the judge: per-label probabilities, the harmful spans and a status, one JSON object per row."""
    from srllm.progress import optional_progress
    from srllm.rewrite.inputs import detect_format, read_rows
    from srllm.rewrite.jobs import same_file
    from srllm.text.writers import output_format, write_rows

    if text is not None and input is not None:
        raise InputError("give a text or --input, not both")
    if output is not None:
        out_fmt = output_format(output)
        if input is not None and same_file(output, input):  # symlinks and hardlinks included
            raise InputError("is the input file; choose another output path", path=str(output))
    rows: list[dict] = []
    if input is not None:
        detect_format(input, fmt)
        found, errors = read_rows(input, fmt=fmt, text_field=text_field)
        if errors:
            raise errors[0].to_error()
        rows = [{**r.fields, text_field: r.text} for r in found]
    else:
        content = text if text is not None else sys.stdin.read()
        rows = [{text_field: content}]
    from srllm.scorers.judge import shared_judge

    judge = shared_judge(judge_dir)
    results = []
    with optional_progress(len(rows), input is not None and len(rows) > 1, "scoring") as advance:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            results.extend(judge.judge([r[text_field] for r in chunk], batch_size=batch_size))
            advance(len(chunk))
    out_rows = [{**row, **result.to_dict()} for row, result in zip(rows, results, strict=True)]
    if output is None:
        for row in out_rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if out_fmt in ("csv", "tsv"):
        out_rows = [{**row, "spans": json.dumps(row["spans"], ensure_ascii=False)} for row in out_rows]
    write_rows(output, out_rows, out_fmt)
    console.print(f"scored {len(out_rows)} rows -> {output}", highlight=False)


@user_errors
def build_judge(
    mix: Path = typer.Option(Path("data/judge_mix.json"), "--mix", help="The judge's mix declaration."),
    out: Path = typer.Option(Path("data/judge/train.jsonl"), "--out", "-o", help="Train JSONL (dev.jsonl beside it)."),
    dev_fraction: float = typer.Option(0.05, "--dev-fraction"),
) -> None:
    """Build the judge's training set (labels + harmful spans), leakage-checked, with a manifest."""
    from srllm.data.judge_set import build_judge_set

    manifest = build_judge_set(mix, out, dev_fraction=dev_fraction)
    counts = manifest["examples"]
    console.print(f"{counts['train']['total']} train + {counts['dev']['total']} dev examples "
                  f"(toxic {counts['train']['toxic']}, stereotype {counts['train']['stereotype']}, "
                  f"benign {counts['train']['benign']}); leakage: {manifest['leakage']['result']}", highlight=False)


@user_errors
def train_judge_command(
    train: Path = typer.Option(Path("data/judge/train.jsonl"), "--train"),
    dev: Path = typer.Option(Path("data/judge/dev.jsonl"), "--dev"),
    out: Path = typer.Option(Path("runs/judge"), "--out", "-o"),
    backbone: Path | None = typer.Option(None, "--backbone", help="Local encoder folder (default all-MiniLM-L6-v2)."),
    max_steps: int = typer.Option(-1, "--max-steps"),
    epochs: float = typer.Option(2.0, "--epochs"),
    batch_size: int = typer.Option(32, "--batch-size"),
    learning_rate: float = typer.Option(5e-5, "--lr"),
    max_length: int = typer.Option(128, "--max-length"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint under OUT."),
) -> None:
    """Fine-tune the judge; writes a folder `srllm score --judge` and the guard can load."""
    from srllm.train.judge import JudgeTrainConfig, train_judge

    settings = train_judge(JudgeTrainConfig(train=str(train), dev=str(dev), out=str(out),
                                            backbone=str(backbone) if backbone else None, max_steps=max_steps,
                                            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                            max_length=max_length), resume=resume)
    console.print(f"judge -> {out}: {json.dumps(settings['dev_metrics'])}", highlight=False, soft_wrap=True)


judge_app = typer.Typer(help="Train the judge.", no_args_is_help=True)
judge_app.command("train")(train_judge_command)
