"""`srllm models list | pull | info`."""

from __future__ import annotations

import json
import shutil

import typer
from rich.console import Console
from rich.table import Table

from srllm.cli.common import console, user_errors
from srllm.models import default_adapter_for, list_specs
from srllm.models.pull import converted_dir, is_pulled, pull
from srllm.models.registry import MODELS, ModelSpec

app = typer.Typer(help="Named models: list them, pull one to the local cache, show details.", no_args_is_help=True)


@app.command("list")
@user_errors
def list_models() -> None:
    """Registered models, their licenses, and whether each is pulled."""
    table = Table("name", "source", "license", "pulled", "default adapter")
    for spec in list_specs():
        pulled = "yes" if is_pulled(spec.name) else "no"
        adapter = "yes" if default_adapter_for(spec.name) else "-"
        table.add_row(spec.name, _origin(spec), spec.license, pulled, adapter)
    # Wide enough that names are never cut, also when stdout is a pipe.
    Console(width=max(140, shutil.get_terminal_size().columns)).print(table)


@app.command("pull")
@user_errors
def pull_model(name: str, force: bool = typer.Option(False, help="Download and convert again.")) -> None:
    """Fetch NAME, verify its SHA-256, convert it once to fp32 safetensors in the cache."""
    spec = MODELS.get(name)
    with console.status(f"pulling {name} (download, verify, convert)..."):
        path = pull(spec, force=force)
    console.print(f"[green]ready[/]: {name} -> {path}")


@app.command("info")
@user_errors
def info(name: str) -> None:
    """The registry declaration of NAME and its local state, as JSON."""
    spec = MODELS.get(name)
    data = spec.to_dict()
    data["pulled"] = is_pulled(name)
    data["local_path"] = str(converted_dir(name)) if data["pulled"] else None
    adapter = default_adapter_for(name)
    data["default_adapter"] = str(adapter) if adapter else None
    typer.echo(json.dumps(data, indent=2))


def _origin(spec: ModelSpec) -> str:
    if spec.hub_id:
        return spec.hub_id
    if spec.parts:  # chunks named like pkg-part1 .. pkg-partN
        return f"{spec.parts[0][0]}..{len(spec.parts)}=={spec.version}"
    return f"{spec.package}=={spec.version}"
