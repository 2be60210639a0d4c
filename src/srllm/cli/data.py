"""`srllm data`: import, validate, stats, split, format, annotate and agreement for CMD data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from srllm.cli.common import console, user_errors
from srllm.errors import InputError
from srllm.extras import require_extra
from srllm.lines import split_lines

if TYPE_CHECKING:  # srllm.data loads pydantic, numpy and more: imported by the commands that use it
    from srllm.data.readers import ReadResult

app = typer.Typer(help="CMD data: import, check, split, describe, format and annotate.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

FMT = typer.Option(None, "--format", help="jsonl, json, csv, tsv, parquet, hf (save_to_disk dir) or hub.")
IMPORTER = typer.Option(None, help="Importer name (default: detected from the columns): cmd, paper-json, "
                                   "srllm-csv, paradetox, paradetox-pairs, pairs.")
MAPPING = typer.Option(None, "--map", help="COLUMN=FIELD renames, e.g. comment=text,rewrite=safe_variation "
                                          "(repeatable; FIELD may be labels.NAME or meta.NAME).")
SPLIT = typer.Option(None, "--hf-split", help="Split to read from a saved DatasetDict or hub dataset.")


def _load(path: str, fmt: str | None, importer: str | None, mapping: list[str] | None,
          split: str | None = None) -> ReadResult:
    from srllm.data import load_records, parse_mapping

    result = load_records(path, fmt, parse_mapping(mapping), importer, split=split)
    console.print(f"{path}: {result.rows} rows -> {len(result.records)} records "
                  f"(importer {result.importer or '-'}, {len(result.problems)} problems)", highlight=False)
    return result


def _print_problems(result: ReadResult, limit: int) -> None:
    for problem in result.problems[:limit]:
        console.print(f"  [red]bad record[/] {problem}", highlight=False, soft_wrap=True)
    if len(result.problems) > limit:
        console.print(f"  ... and {len(result.problems) - limit} more", highlight=False)


def _refuse_overwrite(source: str, target: Path) -> None:
    if Path(source).exists() and target.resolve() == Path(source).resolve():
        raise InputError("is the input file; write to a new file (inputs are never modified)",
                         path=str(target), field="out")


@app.command("import")
@user_errors
def import_(
    source: str = typer.Argument(..., help="File, save_to_disk folder or hub id."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .jsonl, .csv or .parquet."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
    hf_split: str | None = SPLIT,
    strict: bool = typer.Option(False, help="Fail on any bad record instead of skipping it."),
) -> None:
    """Read any supported format into the CMD schema and write it."""
    from srllm.data import write_records

    _refuse_overwrite(source, out)
    result = _load(source, fmt, importer, mapping, hf_split)
    _print_problems(result, 20)
    if strict and result.problems:
        raise InputError(f"{len(result.problems)} bad records (first: {result.problems[0]}); "
                         "fix them or drop --strict to skip them", path=source)
    write_records(result.records, out)
    console.print(f"wrote {len(result.records)} records to {out}", highlight=False)


@app.command()
@user_errors
def validate(
    sources: list[str] = typer.Argument(..., help="One or more files; several are checked as splits."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
    check: list[str] | None = typer.Option(None, "--check", help="Run only these checks (repeatable)."),
    examples: int = typer.Option(3, min=0, help="Examples printed per check."),
    max_length_ratio: float = typer.Option(2.0, help="long_rewrite: rewrite/original length ratio."),
    fix: bool = typer.Option(False, help="Apply the safe repairs (strip leaked meta text, drop exact "
                                         "duplicates) and write them to --out."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where --fix writes (never the input)."),
    drop_empty: bool = typer.Option(False, help="With --fix, also drop records without a usable rewrite."),
    report: Path | None = typer.Option(None, help="Also write every finding as JSON here."),
) -> None:
    """Report bad records (file, line, field) and quality issues, each with a count and examples."""
    from rich.table import Table

    from srllm.data import CheckContext, fix_records, run_checks, write_jsonl, write_records

    if fix and (out is None or len(sources) != 1):
        raise InputError("--fix needs exactly one input and --out NEW_FILE (the input is never modified)",
                         field="out")
    if out is not None:
        _refuse_overwrite(sources[0], out)
    loaded = {src: _load(src, fmt, importer, mapping) for src in sources}
    records = [r for result in loaded.values() for r in result.records]
    problems = [p for result in loaded.values() for p in result.problems]
    splits = {Path(src).stem: result.records for src, result in loaded.items()} if len(sources) > 1 else {}
    for result in loaded.values():
        _print_problems(result, 50)
    results = run_checks(records, CheckContext(problems=problems, splits=splits,
                                               max_length_ratio=max_length_ratio), check)
    table = Table(title=f"quality checks ({len(records)} records)")
    for column in ("check", "count", "fixable", "what"):
        table.add_column(column)
    for res in results:
        table.add_row(res.name, str(res.count), "yes" if res.fixable else "", res.description)
    console.print(table)
    for res in results:
        for finding in res.findings[:examples]:
            console.print(f"  [yellow]{res.name}[/] {finding}", highlight=False, soft_wrap=True)
    if report:
        write_jsonl(({"check": f.check, "where": f.where, "id": f.record_id, "field": f.field,
                      "message": f.message} for res in results for f in res.findings), report)
    total = len(problems) + sum(res.count for res in results if res.name != "label_values")
    console.print(f"{len(problems)} bad records, {total - len(problems)} quality findings", highlight=False)
    if fix and out is not None:
        fixed, changes = fix_records(records, drop_empty=drop_empty)
        for change in changes:
            console.print(f"  [green]fixed[/] {change}", highlight=False, soft_wrap=True)
        write_records(fixed, out)
        console.print(f"{len(changes)} changes; wrote {len(fixed)} records to {out}", highlight=False)
        return
    if total:
        raise typer.Exit(1)


@app.command()
@user_errors
def stats(
    source: str = typer.Argument(...),
    out: Path = typer.Option(Path("data-stats"), "--out", "-o", help="Folder for stats.md/json and plots."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
    plots: bool = typer.Option(True, help="Also draw PNG plots."),
) -> None:
    """Label distributions, lengths, Flesch reading ease and edit distances (Markdown, JSON, PNG)."""
    require_extra("data", "`srllm data stats`")
    from srllm.data import write_stats

    result = _load(source, fmt, importer, mapping)
    _print_problems(result, 10)
    written = write_stats(result.records, out, title=f"Statistics of {Path(source).name}", plots=plots)
    typer.echo(written["markdown"].read_text(encoding="utf-8"))
    console.print("wrote " + ", ".join(str(p) for p in written.values()), highlight=False)


@app.command()
@user_errors
def split(
    source: str = typer.Argument(...),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train/dev/test files."),
    ratios: str = typer.Option("train=0.7,dev=0.1,test=0.2", help="NAME=FRACTION,... (normalized)."),
    seed: int = typer.Option(0),
    stratify: bool = typer.Option(True, help="Stratify on the label combination."),
    ext: str = typer.Option("jsonl", help="Output format: jsonl, csv or parquet."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
) -> None:
    """Deterministic, label-stratified split; identical (normalized) texts stay in one split."""
    from srllm.data import parse_mapping, split_records, write_records

    try:
        parsed = {k: float(v) for k, v in parse_mapping(ratios).items()}
    except ValueError as exc:
        raise InputError(f"'{ratios}' is not NAME=FRACTION,...", field="ratios") from exc
    result = _load(source, fmt, importer, mapping)
    _print_problems(result, 10)
    parts = split_records(result.records, parsed, seed=seed, stratify=stratify)
    for name, part in parts.items():
        path = write_records(part, out / f"{name}.{ext}")
        console.print(f"{name}: {len(part)} records -> {path}", highlight=False)


@app.command("format")
@user_errors
def format_(
    source: str = typer.Argument(...),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL of training examples."),
    style: str = typer.Option("alpaca", help="alpaca, messages, or chat (rendered with --tokenizer)."),
    template: str = typer.Option("debias", help="Prompt template: debias, job, or a JSON file."),
    tokenizer: str | None = typer.Option(None, help="Model name, model folder or tokenizer folder whose chat "
                                                    "template renders the 'chat' style."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
) -> None:
    """Training examples: Alpaca (instruction/input/output) or chat messages, as JSONL."""
    from srllm.data import format_records, write_jsonl

    _refuse_overwrite(source, out)
    result = _load(source, fmt, importer, mapping)
    _print_problems(result, 10)
    tok = _tokenizer(tokenizer) if tokenizer else None
    skipped: list = []
    count = write_jsonl(format_records(result.records, style, template=template, tokenizer=tok,
                                       skipped=skipped), out)
    console.print(f"wrote {count} {style} examples to {out}; skipped {len(skipped)} without a safe variation",
                  highlight=False)


def _tokenizer(name_or_path: str) -> object:
    from srllm.models.load import ResolvedModel, load_tokenizer, resolve

    path = Path(name_or_path)
    # A folder holding only a tokenizer (no model config) is enough to render a chat template.
    if path.is_dir() and not (path / "config.json").exists() and (path / "tokenizer_config.json").exists():
        return load_tokenizer(ResolvedModel(str(path), str(path), kind="local"))
    return load_tokenizer(resolve(name_or_path))


@app.command()
@user_errors
def annotate(
    source: str = typer.Argument(..., help="Texts to annotate: .txt (one per line) or any readable file."),
    out: Path = typer.Option(..., "--out", "-o", help="Annotated records (.jsonl, .csv, .parquet)."),
    base_url: str = typer.Option(..., help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."),
    model: str = typer.Option(..., help="Model name the endpoint serves."),
    api_key: str | None = typer.Option(None, envvar="SRLLM_API_KEY",
                                       help="Bearer key (or $SRLLM_API_KEY; $OPENAI_API_KEY as fallback)."),
    errors: Path | None = typer.Option(None, help="JSONL of rows the model failed on (default OUT.errors.jsonl)."),
    json_mode: bool = typer.Option(True, help="Send response_format=json_object."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
) -> None:
    """A model proposes labels, biased words and a safe variation (with annotator provenance)."""
    from srllm.data import OpenAIChat, annotate_records, texts_to_records, write_jsonl, write_records

    _refuse_overwrite(source, out)
    if source.endswith(".txt"):
        lines = [t for t in split_lines(Path(source).read_text(encoding="utf-8")) if t.strip()]
        records = texts_to_records(lines, prefix=Path(source).stem)
    else:
        records = _load(source, fmt, importer, mapping).records
    errors = errors or out.with_name(out.stem + ".errors.jsonl")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    with OpenAIChat(base_url, model, key, json_mode=json_mode) as chat:
        result = annotate_records(records, chat, annotator=chat.annotator)
    write_records(result.records, out)
    write_jsonl((vars(e) for e in result.errors), errors)
    console.print(f"annotated {len(result.records)} of {len(records)} -> {out}; "
                  f"{len(result.errors)} failed -> {errors}", highlight=False)
    for err in result.errors[:5]:
        console.print(f"  [red]failed[/] {err.where}: {err.error}", highlight=False, soft_wrap=True)
    if result.errors:
        raise typer.Exit(1)


@app.command()
@user_errors
def agreement(
    source: str = typer.Argument(..., help="Records with one row per (id, annotator)."),
    fmt: str | None = FMT, importer: str | None = IMPORTER, mapping: list[str] | None = MAPPING,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fleiss' kappa per label, with the Landis & Koch band (paper Appendix A)."""
    from rich.table import Table

    from srllm.data import label_agreement

    results = label_agreement(_load(source, fmt, importer, mapping).records)
    if not results:
        raise InputError("no id has labels from two or more annotators", path=source, field="id")
    if as_json:
        typer.echo(json.dumps([vars(r) for r in results], indent=2))
        return
    table = Table(title="Fleiss' kappa")
    for column in ("label", "kappa", "band", "items", "raters", "skipped"):
        table.add_column(column)
    for r in results:
        table.add_row(r.label, f"{r.kappa:.3f}", r.band, str(r.items), str(r.raters), str(r.skipped))
    console.print(table)


from srllm.cli.build_train import build_pool, build_train  # noqa: E402
from srllm.cli.score import build_judge  # noqa: E402

app.command("build-train")(build_train)
app.command("build-judge")(build_judge)
app.command("build-pool")(build_pool)
