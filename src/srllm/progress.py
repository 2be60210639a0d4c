"""Rich progress bars shared by every long job (rewrite, scoring, evaluation)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RowsPerSecondColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def row_progress(description: str = "working", *, transient: bool = False) -> Progress:
    """Bar + done/total + rows/s + elapsed + ETA."""
    return Progress(
        TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(), RowsPerSecondColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=transient,
    )
