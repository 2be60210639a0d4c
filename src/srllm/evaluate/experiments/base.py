"""Experiment registry and result types (lm-evaluation-harness style).

An experiment is one small class: a pydantic `Config` (its options, with defaults that get
recorded) and `run(config, ctx) -> ExperimentResult`. One registration line makes it a
command (`srllm eval <name>`); the generic runner in `runner.py` writes every experiment's
JSON, Markdown tables, figures and metadata the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from srllm.models import DEFAULT_MODEL
from srllm.registry import Registry


class ExperimentConfig(BaseModel):
    """Options every experiment shares; subclasses add their own."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = DEFAULT_MODEL
    data: str | None = None
    source: str = "local"  # local | hub
    limit: int | None = None
    seed: int = 0
    batch_size: int = 8
    max_new_tokens: int | None = None
    progress: bool = False


@dataclass
class Table:
    """A result table: rendered to Markdown here, to HTML by srllm.report."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.caption:
            lines += [self.caption, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(format_cell(v) for v in row) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "caption": self.caption}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        return cls(data["title"], list(data["columns"]), [list(r) for r in data["rows"]], data.get("caption", ""))


def format_cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value).replace("|", "\\|")


@dataclass
class ExperimentResult:
    """What an experiment hands to the runner; records are per-item rows (for CIs and histograms)."""

    metrics: dict[str, Any]
    tables: list[Table]
    records: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Other files the experiment wrote into the run dir (prediction files, review sheets...).
    artifacts: dict[str, Path] = field(default_factory=dict)


class RunContext:
    """The run dir plus what the metadata must record (data files read, models used, notes)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.figures_dir = run_dir / "figures"
        self.data_files: list[Path] = []
        self.models: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def uses_data(self, path: str | Path) -> Path:
        path = Path(path)
        if path not in self.data_files:
            self.data_files.append(path)
        return path

    def uses_model(self, name: str, adapter: str | None, method: str, role: str) -> None:
        entry = {"name": name, "adapter": adapter, "method": method, "role": role}
        if entry not in self.models:
            self.models.append(entry)

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def figure_path(self, name: str) -> Path:
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        return self.figures_dir / f"{name}.png"


class Experiment:
    """Base class: set `name`, `title`, `paper`, `Config`, implement `run`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    paper: ClassVar[str] = ""  # where the paper reports it, e.g. "Table 6"
    Config: ClassVar[type[ExperimentConfig]] = ExperimentConfig

    def run(self, config: ExperimentConfig, ctx: RunContext) -> ExperimentResult:
        raise NotImplementedError


# The paper's experiments register themselves when `builtin` is imported (on the first lookup).
EXPERIMENTS: Registry[type[Experiment]] = Registry(
    "experiment", builtins="srllm.evaluate.experiments.builtin", field="experiment")
E = TypeVar("E", bound=type[Experiment])


def register_experiment(name: str) -> Callable[[E], E]:
    def decorate(cls: E) -> E:
        EXPERIMENTS.register(name, cls)
        cls.name = name
        return cls

    return decorate


def list_experiments() -> list[type[Experiment]]:
    return [EXPERIMENTS.get(name) for name in sorted(EXPERIMENTS.names())]


def get_experiment(name: str) -> Experiment:
    return EXPERIMENTS.get(name)()


def mean(values: Sequence[float]) -> float:
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(clean) / len(clean) if clean else math.nan
