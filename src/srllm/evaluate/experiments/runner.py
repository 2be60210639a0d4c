"""The one runner behind every experiment: config -> run dir with JSON, Markdown, figures, metadata.

Run dir layout (read back by `srllm report`):
  metadata.json  experiment, config, models, data files with sha256, library versions, timing
  results.json   metrics, tables (as data), notes, figure and artifact paths
  tables.md      the tables as Markdown
  records.jsonl  one row per scored item (for bootstrap CIs and histograms)
  figures/*.png
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from srllm.errors import InputError
from srllm.evaluate.experiments.base import ExperimentConfig, ExperimentResult, RunContext, get_experiment
from srllm.provenance import library_versions
from srllm.text.readers import read_json_lines

LIBRARIES = ("srllm", "torch", "transformers", "peft", "trl", "datasets", "sentence-transformers",
             "scipy", "numpy", "pandas", "matplotlib", "scikit-learn")


def build_config(name: str, options: dict[str, Any] | ExperimentConfig | None = None) -> ExperimentConfig:
    """Validate options against the experiment's Config; errors name the option and the fix."""
    experiment = get_experiment(name)
    if isinstance(options, ExperimentConfig):
        return options
    try:
        return experiment.Config(**(options or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        option = ".".join(str(p) for p in first["loc"]) or "option"
        known = ", ".join(sorted(experiment.Config.model_fields))
        raise InputError(f"{first['msg']} (options of '{name}': {known})", field=option) from exc


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{name}-{stamp}-{suffix}"
    return path


def run_experiment(name: str, options: dict[str, Any] | ExperimentConfig | None = None, *,
                   out_dir: str | Path | None = None) -> Path:
    """Run one registered experiment and write its run dir; returns the run dir."""
    experiment = get_experiment(name)
    config = build_config(name, options)
    run_dir = Path(out_dir) if out_dir else default_run_dir(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(run_dir)
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    result = experiment.run(config, ctx)
    seconds = time.perf_counter() - clock
    write_run(run_dir, experiment.name, experiment.title, experiment.paper, config, ctx, result,
              started=started, seconds=seconds)
    return run_dir


def write_run(run_dir: Path, name: str, title: str, paper: str, config: ExperimentConfig, ctx: RunContext,
              result: ExperimentResult, *, started: datetime, seconds: float) -> None:
    notes = ctx.notes + [n for n in result.notes if n not in ctx.notes]
    metadata = {
        "experiment": name, "title": title, "paper": paper,
        "config": config.model_dump(mode="json"),
        "models": ctx.models,
        "data_files": [file_record(p) for p in ctx.data_files],
        "libraries": library_versions(LIBRARIES),
        "python": platform.python_version(), "platform": platform.platform(),
        "started_utc": started.isoformat(timespec="seconds"), "seconds": round(seconds, 2),
    }
    results = {
        "experiment": name, "title": title, "paper": paper,
        "metrics": result.metrics,
        "tables": [t.to_dict() for t in result.tables],
        "notes": notes,
        "figures": {k: _relative(p, run_dir) for k, p in result.figures.items()},
        "artifacts": {k: _relative(p, run_dir) for k, p in result.artifacts.items()},
    }
    _write_json(run_dir / "metadata.json", metadata)
    _write_json(run_dir / "results.json", results)
    with open(run_dir / "records.jsonl", "w", encoding="utf-8") as handle:
        for record in result.records:
            handle.write(json.dumps(_jsonable(record), ensure_ascii=False) + "\n")
    (run_dir / "tables.md").write_text(tables_markdown(title, paper, result, notes), encoding="utf-8")


def tables_markdown(title: str, paper: str, result: ExperimentResult, notes: list[str]) -> str:
    parts = [f"## {title}" + (f" (paper: {paper})" if paper else ""), ""]
    parts += [table.to_markdown() for table in result.tables]
    if notes:
        parts += ["Notes:", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(parts)


def file_record(path: Path) -> dict[str, Any]:
    """Path + sha256 (of every file, sorted, for a folder) so a run names exactly what it read."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    size = 0
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        data = file.read_bytes()
        size += len(data)
        digest.update(data)
    return {"path": str(path.resolve()), "sha256": digest.hexdigest(), "bytes": size, "files": len(files)}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _jsonable(value: Any) -> Any:
    """NaN/inf -> null (strict JSON), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """A run dir read back: {"dir", "metadata", "results", "records"}."""
    root = Path(run_dir)
    for name in ("metadata.json", "results.json"):
        if not (root / name).is_file():
            raise InputError(f"{name} is missing; pass a run dir written by `srllm eval`", path=str(root))
    records_file = root / "records.jsonl"
    records = []
    if records_file.is_file():
        records = [row for _, row in read_json_lines(records_file)]
    return {"dir": root, "metadata": json.loads((root / "metadata.json").read_text(encoding="utf-8")),
            "results": json.loads((root / "results.json").read_text(encoding="utf-8")), "records": records}
