"""`srllm data build-train`: assemble the default training corpus from a mix declaration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from srllm.cli.common import console, user_errors

if TYPE_CHECKING:  # srllm.data loads pydantic, numpy and more: the commands import it when they run
    from srllm.data.corpus.mix import BuildResult


def _print_summary(result: BuildResult, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"training corpus -> {out}")
    for column in ("source", "status", "weight", "cap", "available", "taken", "held out", "dropped"):
        table.add_column(column)
    for s in result.sources:
        dropped = ", ".join(f"{k} {v}" for k, v in s.dropped.items()) or "-"
        table.add_row(s.name, s.status, f"{s.weight:g}", str(s.cap) if s.cap is not None else "-",
                      str(s.available), str(s.taken), str(s.held_out), dropped)
    console.print(table)
    for s in result.sources:
        if s.status == "used":
            console.print(f"  {s.name}: license {s.license or 'not stated'}", highlight=False)
    manifest = result.manifest()
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(manifest["counts"]["by_kind"].items()))
    console.print(f"{manifest['counts']['train']} train + {manifest['counts']['dev']} dev records; by kind: {kinds}",
                  highlight=False)


def _print_leakage(result: BuildResult, limit: int = 10) -> None:
    report = result.leakage
    checked = ", ".join(f"{s.name} ({s.texts})" for s in report.sources if s.status == "checked")
    skipped = ", ".join(f"{s.name} ({s.reason})" for s in report.sources if s.status == "skipped") or "none"
    console.print(f"leakage check against {checked}; skipped: {skipped}", highlight=False, soft_wrap=True)
    if report.passed:
        console.print("[green]leakage check passed[/]: no evaluation text in training")
        return
    for match in report.matches[:limit]:
        console.print(f"  [red]leak[/] {escape(str(match))}", highlight=False, soft_wrap=True)
    if len(report.matches) > limit:
        console.print(f"  ... and {len(report.matches) - limit} more", highlight=False)
    if result.dropped_for_leakage:
        console.print(f"[yellow]dropped {len(result.dropped_for_leakage)} leaking records[/] (listed in the manifest)")


@user_errors
def build_train(
    mix: Path = typer.Option(Path("data/mix.json"), "--mix", help="Mix declaration (sources, weights, caps, "
                                                                  "licenses, evaluation sources)."),
    out: Path = typer.Option(Path("data/mix/train.jsonl"), "--out", "-o", help="Output JSONL of CMD records."),
    dev_fraction: float = typer.Option(0.0, "--dev-fraction", help="Also split off this fraction as a dev "
                                                                   "set (deterministic, text-grouped)."),
    dev_out: Path | None = typer.Option(None, "--dev-out", help="Dev output (default: dev.jsonl beside --out)."),
    include: list[str] | None = typer.Option(None, "--include", help="Enable an opt-in source by name "
                                                                    "(e.g. sr-llm); repeatable."),
    exclude: list[str] | None = typer.Option(None, "--exclude", help="Leave a source out by name; repeatable."),
    on_leak: str = typer.Option("fail", "--on-leak", help="fail: stop and write OUT.leaks.json; drop: remove "
                                                          "the leaking records and list them in the manifest."),
    seed: int | None = typer.Option(None, help="Sampling and shuffling seed (default: the mix file's)."),
    root: Path | None = typer.Option(None, help="Folder that relative paths in the mix file start from "
                                                "(default: the mix file's 'root')."),
) -> None:
    """Assemble the training corpus: sources by weight and cap, licenses in a manifest, leakage-checked."""
    from srllm.data.corpus.leakage import LeakageError
    from srllm.data.corpus.mix import build_train as build_corpus
    from srllm.data.corpus.mix import leak_report_path, manifest_path

    try:
        result = build_corpus(mix, out, dev_out=dev_out, root=root, include=include or [], exclude=exclude or [],
                              on_leak=on_leak, dev_fraction=dev_fraction, seed=seed)
    except LeakageError as exc:
        for match in exc.report.matches[:10]:
            console.print(f"  [red]leak[/] {escape(str(match))}", highlight=False, soft_wrap=True)
        console.print(f"[bold red]leakage check failed[/]: {len(exc.report.matches)} matches; report in "
                      f"{leak_report_path(out)}", highlight=False)
        raise typer.Exit(1) from None
    _print_summary(result, out)
    _print_leakage(result)
    console.print(f"wrote {out} and {manifest_path(out)}", highlight=False)


@user_errors
def build_pool(
    mix: Path = typer.Option(Path("data/pool_mix.json"), "--mix", help="Mix declaration of the pool's sources."),
    out: Path = typer.Option(Path("data/pool/pool.jsonl"), "--out", "-o", help="Output JSONL of unlabelled inputs."),
    on_leak: str = typer.Option("drop", "--on-leak", help="drop (default): leave leaking inputs out and list "
                                                          "them in the manifest; fail: stop."),
    seed: int | None = typer.Option(None, help="Sampling seed (default: the mix file's)."),
) -> None:
    """Build the self-training pool: unlabelled inputs from the mix's sources, leakage-checked, with a manifest."""
    from srllm.data.corpus.leakage import LeakageError
    from srllm.data.corpus.mix import manifest_path
    from srllm.data.pool import build_pool as build

    try:
        manifest = build(mix, out, on_leak=on_leak, seed=seed)
    except LeakageError as exc:
        console.print(f"[bold red]leakage check failed[/]: {len(exc.report.matches)} matches", highlight=False)
        raise typer.Exit(1) from None
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(manifest["pool"]["by_kind"].items()))
    console.print(f"{manifest['pool']['rows']} inputs ({kinds}); leakage: {manifest['leakage']['result']}",
                  highlight=False)
    console.print(f"wrote {out} and {manifest_path(out)}", highlight=False)
