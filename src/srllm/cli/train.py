"""`srllm train` and `srllm merge`: thin shells over srllm.train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from srllm.cli.options import Flag, options_from
from srllm.errors import SrllmError
from srllm.extras import require_extra
from srllm.train.config import TrainConfig, parse_assignments

app = typer.Typer(help="Fine-tune a model on unsafe -> safe pairs, and merge adapters.", no_args_is_help=True)
console = Console(stderr=True)


def _fail(exc: SrllmError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


# Where `srllm train` spells a config field differently: short and familiar flags, and the method
# options read as KEY=VALUE pairs.
TRAIN_FLAGS = {
    "out": Flag(aliases=("-o",)),
    "data": Flag(type=list[str]),
    "dev": Flag(type=list[str]),
    "learning_rate": Flag(aliases=("--lr",)),
    "gradient_accumulation_steps": Flag(aliases=("--grad-accum",)),
    "early_stopping_patience": Flag(aliases=("--patience",)),
    "measure_energy": Flag(aliases=("--energy",)),
    "method_options": Flag(aliases=("--set",), type=list[str], parse=parse_assignments,
                           help="Method option KEY=VALUE, e.g. r=16, alpha=32, dropout=0.05, "
                                "num_virtual_tokens=30. Repeatable."),
}


@app.command("train")
@options_from(TrainConfig, into="overrides", flags=TRAIN_FLAGS, given_only=True,
              panels={TrainConfig: "Training (TrainConfig; a flag overrides --config)"})
def train_command(
    overrides: dict[str, Any],
    config: Path | None = typer.Option(None, "--config", "-c", help="JSON/YAML file of TrainConfig keys."),
) -> None:
    """Fine-tune BASE on CMD records (loss on the safe rewrite only) and write an adapter + manifest."""
    from srllm.train import load_config, train

    try:
        require_extra("train", "`srllm train`")
        result = train(load_config(config, **overrides))
    except SrllmError as exc:
        _fail(exc)
        return
    _summary(result.manifest, result.out)


def _summary(manifest: dict, out: Path) -> None:
    if manifest.get("processes", 1) > 1:
        import os

        if os.environ.get("RANK", "0") != "0":
            return
    table = Table(title=f"srllm train -> {out}", show_header=False)
    dev = manifest["dev"]
    rows = [
        ("method", f"{manifest['method']['name']} ({manifest['precision']['weights']}, "
                   f"{manifest['precision']['device']})"),
        ("steps", str(manifest["global_step"])),
        ("last train loss", f"{manifest['steps'][-1]['loss']:.4f}" if manifest["steps"] else "-"),
        ("dev loss", f"{dev['final_loss']:.4f}" if dev["final_loss"] is not None else "- (no --dev)"),
        ("wall time", f"{manifest['wall_time_s']:.1f} s"),
        ("tokens/s", str(manifest["tokens_per_s"])),
        ("peak RSS", f"{manifest['memory']['peak_rss_mb']:.0f} MB"),
        ("energy (App. D)", f"{manifest['energy']['formula_kwh']:.5f} kWh, "
                            f"{manifest['energy']['formula_kg_co2e']:.5f} kgCO2e"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


@app.command("merge")
def merge_command(
    adapter: Path | None = typer.Argument(None, help="A LoRA/QLoRA adapter folder (the --out of `srllm train`); "
                                                     "default: the adapter srllm ships for --base."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the merged safetensors model."),
    base: str | None = typer.Option(None, help="Base model (default: the one the adapter was trained on; "
                                               "without ADAPTER, the default model)."),
    gguf: Path | None = typer.Option(None, "--gguf", help="Write the merged model as this GGUF file for llama.cpp "
                                                          "(converted by the llama-cpp-python sdist's converter, "
                                                          "cached)."),
    gguf_type: str = typer.Option("f16", help="GGUF tensor type: f32 | f16 | bf16 | q8_0."),
) -> None:
    """Merge LoRA weights into the base model: `--out DIR` loads with `srllm rewrite --model DIR`, `--gguf FILE`
    with `--backend llama-cpp --model FILE`."""
    from srllm.models.merge import merge_command as merge

    try:
        result = merge(adapter, out=out, gguf=gguf, base=base, gguf_type=gguf_type)
    except SrllmError as exc:
        _fail(exc)
        return
    # typer.echo, not rich: a JSON line for programs must not be wrapped at the terminal's width.
    typer.echo(json.dumps({"merged": str(result.out) if result.out else None, "base": result.base,
                           "gguf": str(result.gguf) if result.gguf else None}))


if __name__ == "__main__":
    app()
