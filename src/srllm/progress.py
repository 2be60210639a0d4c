"""Rich progress bars shared by every long job (rewrite, scoring, evaluation)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

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


class optional_progress:
    """`with optional_progress(total, enabled, "label") as advance: advance(n)`: a row_progress bar,
    or a no-op `advance` when disabled (library calls stay quiet unless asked)."""

    def __init__(self, total: int, enabled: bool, description: str = "working") -> None:
        self.total, self.enabled, self.description = total, enabled, description

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        self._bar = row_progress(self.description)
        self._bar.start()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()


T = TypeVar("T")


def collect_in_order(stream: Iterable[tuple[int, T]], total: int, progress: bool,
                     description: str = "rewriting") -> list[T]:
    """What a stream yields as (index, result) in the order rows finish, back in input order, the bar
    advancing per finished row: the list form of every `*_stream` method."""
    results: list[T | None] = [None] * total
    with optional_progress(total, progress, description) as advance:
        for index, result in stream:
            results[index] = result
            advance(1)
    return [result for result in results if result is not None]
