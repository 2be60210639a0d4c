"""`srllm report RUN_DIR...`: render run dirs as Markdown and a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from srllm.cli.common import user_errors
from srllm.extras import require_extra

console = Console(soft_wrap=True)  # paths in messages stay copy-pastable


@user_errors
def report(
    run_dirs: list[Path] = typer.Argument(..., help="run dirs written by `srllm eval`"),
    out: Path = typer.Option(None, "--out", "-o",
                             help="output folder (default: RUN_DIR/report for one run, runs/report otherwise)"),
    resamples: int = typer.Option(2000, "--resamples", help="bootstrap resamples for the 95 % CIs"),
) -> None:
    """Tables, plots, bootstrap CIs and metadata of each run, in report.md and report.html."""
    require_extra("eval", "`srllm report`")
    from srllm.report import write_report

    target = out or (run_dirs[0] / "report" if len(run_dirs) == 1 else Path("runs") / "report")
    markdown, html = write_report(run_dirs, target, n_resamples=resamples)
    console.print(f"[green]wrote[/green] {markdown}\n[green]wrote[/green] {html}")


# A one-command app (typer runs it without a subcommand name); cli/main.py can also register the
# function itself: app.command("report")(report.report).
app = typer.Typer(help="Render experiment run dirs as report.md and a self-contained report.html.")
app.command()(report)
