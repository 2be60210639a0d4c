"""`srllm eval <experiment>`: run one of the paper's experiments into a run dir (JSON + Markdown)."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import DEFAULT_MARKUP_MODE, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo

from srllm.cli.common import user_errors
from srllm.extras import require_extra


def _experiment_commands() -> list[Any]:
    """One click command per registered experiment (importing the registry loads every experiment)."""
    from srllm.evaluate.experiments import list_experiments

    commands = []
    for experiment in list_experiments():
        fields = ", ".join(sorted(set(experiment.Config.model_fields) - {"progress"}))
        help_text = (f"{experiment.title} (paper: {experiment.paper}).\n\n"
                     f"Options for --set: {fields}.")
        info = CommandInfo(name=experiment.name, help=help_text, callback=_command(experiment.name, help_text))
        commands.append(get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=DEFAULT_MARKUP_MODE))
    return commands


class ExperimentGroup(TyperGroup):
    """`srllm eval`'s commands, one per experiment, made on first use of the group's commands: the
    experiments' registry imports numpy, pydantic and every experiment (~0.2 s), which `srllm --help`
    does not need."""

    _experiments_added = False

    @property
    def commands(self) -> dict[str, Any]:  # type: ignore[override]
        if not self._experiments_added:
            self._experiments_added = True
            for command in _experiment_commands():
                self._commands.setdefault(command.name, command)
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, Any]) -> None:
        self._commands = value


app = typer.Typer(help="Run the paper's experiments; each writes JSON, Markdown tables and metadata to a run dir.",
                  no_args_is_help=True, cls=ExperimentGroup)
console = Console(soft_wrap=True)  # paths in messages stay copy-pastable


def parse_set(pairs: list[str], fields: dict[str, Any]) -> dict[str, Any]:
    """--set KEY=VALUE pairs -> options; values are JSON when they parse, lists may be comma-separated."""
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--set {pair!r}: expected KEY=VALUE")
        key, raw = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise typer.BadParameter(f"--set {key}: unknown option; known: {', '.join(sorted(fields))}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if _is_list(fields[key].annotation) and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        options[key] = value
    return options


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))


def _run(name: str, *, model: str | None, data: str | None, source: str | None, limit: int | None,
         seed: int | None, batch_size: int | None, max_new_tokens: int | None, variants: list[str],
         out: Path | None, sets: list[str], progress: bool) -> None:
    require_extra("eval", "`srllm eval`")
    from srllm.evaluate.experiments import get_experiment, run_experiment

    experiment = get_experiment(name)
    fields = experiment.Config.model_fields
    options = {key: value for key, value in {
        "model": model, "data": data, "source": source, "limit": limit, "seed": seed, "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
    }.items() if value is not None}
    options["progress"] = progress
    if variants:
        field = "variants" if "variants" in fields else "variant" if "variant" in fields else None
        if field is None:
            raise typer.BadParameter(f"experiment {name!r} takes no --variant")
        options[field] = variants
    options.update(parse_set(sets, fields))
    run_dir = run_experiment(name, options, out_dir=out)
    tables = (run_dir / "tables.md").read_text(encoding="utf-8")
    console.print(tables, markup=False, highlight=False)
    console.print(f"[green]run dir:[/green] {run_dir}")


def _command(name: str, help_text: str):
    @user_errors
    def command(
        model: str = typer.Option(None, "--model", "-m", help="registered model name, local dir or .gguf"),
        data: str = typer.Option(None, "--data", "-d", help="input file or folder (default per experiment)"),
        source: str = typer.Option(None, "--source", help="local (default) or hub (needs a network)"),
        limit: int = typer.Option(None, "--limit", "-n", help="subsample N items (seeded)"),
        seed: int = typer.Option(None, "--seed"),
        batch_size: int = typer.Option(None, "--batch-size"),
        max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="cap on generated tokens per rewrite"),
        variant: list[str] = typer.Option(
            [], "--variant", "-v",
            help="original | base | zero-shot | K-shot | sr-llm | NAME=ADAPTER_DIR (repeatable)"),
        out: Path = typer.Option(None, "--out", "-o", help="run dir (default runs/<experiment>-<time>)"),
        set_: list[str] = typer.Option([], "--set", help="any other option as KEY=VALUE (repeatable)"),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        _run(name, model=model, data=data, source=source, limit=limit, seed=seed, batch_size=batch_size,
             max_new_tokens=max_new_tokens, variants=variant, out=out, sets=set_, progress=progress)

    command.__doc__ = help_text
    return command


@app.callback()
def experiments() -> None:
    """Run the paper's experiments; each writes JSON, Markdown tables and metadata to a run dir."""
    # A callback keeps `eval` a group while `list` is its only command until the experiments are added.


@app.command("list")
def list_command() -> None:
    """List the experiments with the paper table each reproduces and their options."""
    from srllm.evaluate.experiments import list_experiments

    for experiment in list_experiments():
        fields = ", ".join(f"{k}={v.default!r}" for k, v in experiment.Config.model_fields.items())
        console.print(f"[bold]{experiment.name}[/bold] ({experiment.paper}): {experiment.title}")
        console.print(f"    options: {fields}", markup=False, highlight=False)


