"""`srllm self-train`: one round of verified self-training (sample, check with the guard, keep)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from srllm.cli.common import console, user_errors
from srllm.extras import require_extra


@user_errors
def self_train(
    pool: Path = typer.Option(Path("data/pool/pool.jsonl"), "--pool", help="Unlabelled inputs "
                                                                         "(srllm data build-pool)."),
    out: Path = typer.Option(..., "--out", "-o", help="Round folder: pairs.jsonl, preferences.jsonl, round.json."),
    round_: int = typer.Option(1, "--round", help="Round number (recorded on every pair)."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", help="Model that writes the candidates."),
    adapter: str = typer.Option("auto", "--adapter", help="Its adapter: a folder, 'auto' (shipped) or 'none'."),
    candidates: int = typer.Option(4, "--candidates", "-n", help="Candidates per input (greedy + samples)."),
    per_kind: int | None = typer.Option(None, "--per-kind", help="At most this many inputs of each kind."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many inputs in all."),
    seed: int = typer.Option(0, "--seed", help="Which inputs (hash order) and the sampling seed."),
    batch_size: int = typer.Option(16, "--batch-size"),
    provenance: str = typer.Option("self-verified", "--provenance", help="self-verified | teacher (a bigger "
                                                                         "model's candidates)."),
    edit: bool = typer.Option(True, "--edit/--no-edit", help="Add the judge's edit candidate."),
    eval_mix: str = typer.Option("data/pool_mix.json", "--eval-mix", help="Mix file whose evaluation sources are "
                                                                          "refused as inputs."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed round in --out."),
    teacher: str | None = typer.Option(None, "--teacher", help="A GGUF file or a pulled registry model with a GGUF "
                                                               "(llama.cpp) that writes the candidates instead of "
                                                               "--model; pairs get provenance teacher."),
    teacher_shots: int = typer.Option(2, "--teacher-shots", help="Worked examples in the teacher's prompt."),
    hard_from: Path | None = typer.Option(None, "--hard-from", help="An earlier round's folder: use only the inputs "
                                                                    "it failed."),
    refine: int = typer.Option(1, "--refine", min=0, max=3, help="Refining rounds, as the guard's: an input whose "
                                                                 "candidates kept only harm gets its best one "
                                                                 "rewritten again (0: off)."),
) -> None:
    """Sample candidates for pool inputs, keep what the guard passes (SFT pairs) and what it fails
    beside them (preference pairs)."""
    require_extra("train", "`srllm self-train`")
    from srllm.train.selftrain import RoundConfig, run_round

    config = RoundConfig(pool=str(pool), out=str(out), round=round_, model=model,
                         adapter=None if adapter == "none" else adapter, candidates=candidates, per_kind=per_kind,
                         limit=limit, seed=seed, batch_size=batch_size, provenance=provenance, edit_candidate=edit,
                         eval_mix=eval_mix or None, resume=resume, teacher=teacher or None, teacher_shots=teacher_shots,
                         hard_from=str(hard_from) if hard_from else None, refine=refine)
    manifest = run_round(config)
    table = Table(title=f"self-training round {round_} -> {out}")
    for column in ("kind", "kept", "failed", "benign", "leak"):
        table.add_column(column)
    for kind, counts in manifest["by_kind"].items():
        table.add_row(kind, *(str(counts.get(k, 0)) for k in ("kept", "failed", "benign", "leak")))
    console.print(table)
    console.print(f"kept {manifest['counts'].get('kept', 0)} pairs (rate {manifest['kept_rate']}), "
                  f"{manifest['preference_pairs']} preference pairs, chosen from {manifest['chosen_from']}; "
                  f"{manifest['seconds']} s", highlight=False)
