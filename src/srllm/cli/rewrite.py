"""`srllm rewrite`: a text, stdin, or a whole file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from srllm.cli.common import console, user_errors
from srllm.cli.options import Flag, options_from
from srllm.engine.args import EngineArgs
from srllm.errors import InputError

if TYPE_CHECKING:  # torch, transformers and the scorers load when a rewrite runs, not for --help
    from srllm.rewrite import Rewriter
    from srllm.rewrite.guard import GuardedRewriter


# Where `srllm rewrite` spells an engine setting differently from its EngineArgs field.
ENGINE_FLAGS = {
    "max_batch_size": Flag(aliases=("--batch-size",), help="Texts per generation batch."),
    "adapter": Flag(help="PEFT adapter dir (default 'auto': the shipped adapter; --no-adapter: the raw base model)."),
}


@user_errors
@options_from(EngineArgs, into="engine_options", flags=ENGINE_FLAGS, panels={EngineArgs: "Engine (EngineArgs)"})
def rewrite(
    engine_options: dict[str, Any],
    text: str | None = typer.Argument(None, help="Text to rewrite; omit (or '-') to read stdin."),
    input: Path | None = typer.Option(None, "--input", "-i",
                                      help="A .jsonl, .json, .csv, .tsv, .txt or .parquet file."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output .jsonl, .json, .csv, .tsv or .parquet."),
    no_adapter: bool = typer.Option(False, "--no-adapter", help="Use the raw base model."),
    shots: int = typer.Option(0, help="k-shot prompting with k demonstrations (0, 2, 5)."),
    demonstrations: Path | None = typer.Option(None, help="JSONL demonstrations for --shots."),
    text_field: str = typer.Option("text", help="Field/column holding the text."),
    id_field: str | None = typer.Option(None, help="Field/column holding the row id."),
    fmt: str | None = typer.Option(None, "--format", help="Input format if the extension is unusual."),
    chunk: bool = typer.Option(False, help="Rewrite texts longer than the context sentence by sentence."),
    resume: bool = typer.Option(False, help="Continue an interrupted file job."),
    overwrite: bool = typer.Option(False, help="Replace an existing output / partial run."),
    skip_invalid: bool = typer.Option(False, help="Skip bad rows; report them in an errors file."),
    errors_file: Path | None = typer.Option(None, help="Where --skip-invalid reports bad rows."),
    csv_escape: bool = typer.Option(True, "--csv-escape/--no-csv-escape",
                                    help="Quote CSV cells a spreadsheet would run as formulas (=, +, -, @); "
                                         "--no-csv-escape writes them verbatim, for programs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON results instead of plain text."),
    candidates: int | None = typer.Option(None, min=1, max=16,
                                          help="Guard: candidates per failing input (greedy + sampled; default 8)."),
    guard_config: Path | None = typer.Option(None, help="Guard thresholds as JSON (fields of GuardConfig)."),
    engine: str = typer.Option("local", help="local, or ray: Ray Data map_batches over a Ray cluster (files only)."),
    ray_address: str | None = typer.Option(None, help="Ray cluster to join ('auto', 'ray://HOST:10001'); "
                                                      "default: a local Ray."),
    ray_actors: int = typer.Option(1, min=1, help="Ray: engine replicas (each loads the model once)."),
    ray_cpus: float = typer.Option(1.0, min=0.1, help="Ray: CPUs per replica."),
    ray_gpus: float = typer.Option(0.0, min=0.0, help="Ray: GPUs per replica."),
) -> None:
    """Rewrite biased or toxic text into a safe version that keeps its facts."""
    engine_settings = EngineArgs(**{**engine_options, "adapter": None if no_adapter else engine_options["adapter"]})
    model, template, guard = engine_settings.model, engine_settings.template, engine_settings.guard
    batch_size, dtype, backend = engine_settings.max_batch_size, engine_settings.dtype, engine_settings.backend
    max_new_tokens = engine_settings.max_new_tokens
    if input is None and output is not None:
        raise InputError("--output needs --input")
    if input is not None and output is None:
        raise InputError("--input needs --output (the input file is never modified)")
    if input is None and (text is None or text == "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("give a text, pipe one on stdin, or use --input/--output")
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise InputError(f"stdin is not UTF-8 (byte 0x{exc.object[exc.start]:02x})", field="stdin") from exc
    _check_prompting(template, demonstrations)
    total = 0
    if input is not None and output is not None:
        from srllm.rewrite.jobs import check_input, check_job_output, check_job_paths

        # Before the model loads (20-45 s): a refusal costs nothing.
        check_job_paths(input, output, errors_file)
        check_job_output(output, errors_file, resume=resume, overwrite=overwrite)
        total = check_input(input, fmt=fmt, text_field=text_field, id_field=id_field, skip_invalid=skip_invalid)
    if engine not in ("local", "ray"):
        raise InputError(f"unknown engine '{engine}'; use local or ray", field="engine")
    if engine == "ray":
        if input is None or output is None:
            raise InputError("--engine ray rewrites files: give --input and --output", field="engine")
        if shots or chunk or candidates or guard_config or demonstrations:
            raise InputError("--engine ray runs the service's pipeline; --shots, --chunk, --candidates and "
                             "--guard-config are local-engine options", field="engine")
        _rewrite_file_on_ray(input, output, total=total, csv_escape=csv_escape, batch_size=batch_size,
                             resume=resume, overwrite=overwrite,
                             skip_invalid=skip_invalid, errors_file=errors_file, fmt=fmt, text_field=text_field,
                             id_field=id_field,
                             settings=engine_settings.model_dump(),
                             ray=(ray_address, ray_actors, ray_cpus, ray_gpus))
        return
    from srllm.rewrite import GenerationSettings
    from srllm.rewrite.guard import GuardConfig, load_rewriter

    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    config = GuardConfig.from_file(guard_config) if guard_config else None
    with console.status(f"loading {model}" + (" and the guard's scorers" if guard else "") + "..."):
        rewriter = load_rewriter(model, guard=guard, guard_config=config, candidates=candidates, warm_up=False,
                                 adapter=engine_settings.adapter, k_shot=shots, demonstrations=demonstrations,
                                 template=template, settings=settings, chunk=chunk, dtype=dtype, backend=backend)
    if input is None:
        result = rewriter.rewrite([text], batch_size=1)[0]
        if getattr(result, "status", None) in ("flagged", "skipped"):
            console.print(f"[yellow]{result.status}[/]: " + "; ".join(result.reasons), highlight=False)
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else result.rewrite)
        return
    _rewrite_file(rewriter, input, output, total=total, csv_escape=csv_escape, fmt=fmt, text_field=text_field,
                  id_field=id_field, batch_size=batch_size, resume=resume, overwrite=overwrite,
                  skip_invalid=skip_invalid, errors_file=errors_file)


def _check_prompting(template: str | None, demonstrations: Path | None) -> None:
    """The prompt template and the demonstrations file, checked before a model loads (20-45 s)."""
    from srllm.prompts import get_template

    if template is not None:  # None: the adapter's own
        get_template(template)
    if demonstrations is not None and not demonstrations.is_file():
        raise InputError("does not exist; check the path", path=str(demonstrations), field="demonstrations")


def _rewrite_file_on_ray(input: Path, output: Path, *, total: int, batch_size: int, settings: dict,
                         ray: tuple[str | None, int, float, float], **options) -> None:
    from srllm.distributed.ray_engine import RayOptions, ray_stream
    from srllm.engine.args import EngineArgs
    from srllm.progress import row_progress
    from srllm.rewrite.jobs import run_file_job

    EngineArgs(**settings).check()  # a bad backend setting fails here, not inside an actor
    address, actors, cpus, gpus = ray
    stream = ray_stream(settings, RayOptions(address=address, actors=actors, cpus_per_actor=cpus,
                                             gpus_per_actor=gpus, batch_size=batch_size))
    with row_progress("rewriting on ray") as bar:
        task = bar.add_task("rewrite", total=total)
        report = run_file_job(None, input, output, errors_path=options.pop("errors_file"), stream=stream,
                              on_progress=lambda n: bar.advance(task, n), **options)
    _print_report(report)


def _rewrite_file(rewriter: Rewriter | GuardedRewriter, input: Path, output: Path, *, total: int,
                  batch_size: int, **options) -> None:
    from srllm.progress import row_progress
    from srllm.rewrite.jobs import run_file_job, streamed

    with row_progress("rewriting") as bar:
        task = bar.add_task("rewrite", total=total)
        # Each row is saved (and counted) as it finishes: an interrupted job keeps every finished row.
        report = run_file_job(
            None, input, output, errors_path=options.pop("errors_file"),
            stream=streamed(rewriter, batch_size=batch_size, window=batch_size * 2, path=str(input)),
            on_progress=lambda n: bar.advance(task, n),
            check=getattr(rewriter, "rewriter", rewriter).fit_problem,  # a guard wraps the Rewriter
            **options,
        )
    _print_report(report)


def _print_report(report) -> None:
    console.print(f"[green]done[/]: {report.rows_rewritten} rewritten, {report.rows_done_before} resumed, "
                  f"{report.rows_total} rows -> {report.output}")
    if report.statuses:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items()))
        console.print(f"guard: {counts}" + (" (flagged rows carry their reasons; review them)"
                                            if report.statuses.get("flagged") else ""))
    if report.errors:
        console.print(f"[yellow]{len(report.errors)} bad rows skipped[/]; see {report.errors_path}")
