"""`srllm train` and `srllm merge`: thin shells over srllm.train."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from srllm.errors import SrllmError

app = typer.Typer(help="Fine-tune a model on unsafe -> safe pairs, and merge adapters.", no_args_is_help=True)
console = Console(stderr=True)


def _fail(exc: SrllmError) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command("train")
def train_command(
    config: Path | None = typer.Option(None, "--config", "-c", help="JSON/YAML file of TrainConfig keys."),
    method: str | None = typer.Option(None, help="qlora (default) | lora | prefix | dense"),
    base: str | None = typer.Option(None, help="Registry model name, model directory, .gguf or hub id."),
    data: list[str] | None = typer.Option(None, "--data", help="Training CMD file; PATH#train picks a "
                                          "split part. Repeatable."),
    dev: list[str] | None = typer.Option(None, "--dev", help="Dev CMD file (PATH#dev). Repeatable."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run folder: adapter, manifest, checkpoints."),
    init_adapter: str | None = typer.Option(None, "--init-adapter", help="Continue from this adapter "
                                            "(two-phase training, paper Section 5.2)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out."),
    epochs: float | None = typer.Option(None, help="Default: the method's (1; prefix 5)."),
    lr: float | None = typer.Option(None, "--lr", help="Default: the method's (2e-4; prefix 5e-5)."),
    batch_size: int | None = typer.Option(None, help="Per-device batch (default 16)."),
    eval_batch_size: int | None = typer.Option(None, help="Default 8."),
    grad_accum: int | None = typer.Option(None, "--grad-accum", help="Gradient accumulation steps."),
    max_length: int | None = typer.Option(None, help="Longest example in tokens (default 1024)."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps (overrides epochs)."),
    eval_steps: int | None = typer.Option(None, help="Dev evaluation every N steps (default 25)."),
    save_steps: int | None = typer.Option(None, help="Checkpoint every N steps (default 25)."),
    patience: int | None = typer.Option(None, help="Early-stopping patience in evaluations (default 3)."),
    seed: int | None = typer.Option(None),
    template: str | None = typer.Option(None, help="Prompt template: debias | job | a JSON file."),
    option: list[str] | None = typer.Option(None, "--set", help="Method option KEY=VALUE, e.g. r=16, "
                                            "alpha=32, dropout=0.05, num_virtual_tokens=30. Repeatable."),
    packing: bool | None = typer.Option(None, "--packing/--no-packing", help="Padding-free batches."),
    share_prompt_head: bool | None = typer.Option(
        None, "--share-prompt-head/--no-share-prompt-head",
        help="Run the prompt head every example shares once per batch (default on)."),
    gradient_checkpointing: bool | None = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    save_dtype: str | None = typer.Option(None, help="float32 | float16 | bfloat16 for the saved adapter."),
    device_watts: float | None = typer.Option(None, help="Declared device power for the Appendix D estimate."),
    energy: bool | None = typer.Option(None, "--energy/--no-energy", help="Measure with codecarbon."),
    stage: str | None = typer.Option(None, "--stage", help="sft (default) | dpo | orpo: preference optimization "
                                                           "of the adapter on --pairs (TRL's trainers)."),
    pairs: list[str] | None = typer.Option(None, "--pairs", help="Preference JSONL (text, chosen, rejected), "
                                                                 "e.g. a self-training round's preferences.jsonl."),
    beta: float | None = typer.Option(None, "--beta", help="DPO beta / ORPO lambda (default 0.1)."),
) -> None:
    """Fine-tune BASE on CMD records (loss on the safe rewrite only) and write an adapter + manifest."""
    from srllm.train import load_config, train
    from srllm.train.config import parse_assignments

    try:
        cfg = load_config(
            config, method=method, base=base, data=data or None, dev=dev or None, out=out,
            init_adapter=init_adapter, resume=resume or None, epochs=epochs, learning_rate=lr,
            batch_size=batch_size, eval_batch_size=eval_batch_size, gradient_accumulation_steps=grad_accum,
            max_length=max_length, max_steps=max_steps, eval_steps=eval_steps, save_steps=save_steps,
            early_stopping_patience=patience, seed=seed, template=template, packing=packing,
            share_prompt_head=share_prompt_head,
            gradient_checkpointing=gradient_checkpointing, threads=threads, save_dtype=save_dtype,
            device_watts=device_watts, measure_energy=energy, stage=stage, pairs=pairs or None, beta=beta,
            method_options=parse_assignments(option or []),
        )
        result = train(cfg)
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
