"""Preference optimization (`stage: dpo | orpo`) of the same LoRA adapter, with TRL's trainers.

Pairs come from self-training (`srllm.train.selftrain`): the chosen side is a candidate the guard
passed, the rejected side one it failed (a copy, a kept stereotype span, a dropped fact, an obeyed
instruction, meta text). Prompts are rendered with the same template as SFT, so the prompt tokens
are identical to inference; TRL computes the loss on the completion only.

DPO's reference model is the adapter training starts from (`init_adapter`): TRL copies it into a
frozen "ref" adapter on the same base, so no second model is loaded. ORPO needs no reference.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srllm.errors import InputError, SrllmError
from srllm.train.config import TrainConfig

# Preference steps move the policy away from what SFT taught; TRL's own default (1e-6) is for
# full fine-tuning, LoRA needs more (Rafailov et al. used 5e-7 full; LoRA practice is 1e-5..5e-5).
DEFAULT_LEARNING_RATE = 2e-5


@dataclass(frozen=True)
class PreferencePair:
    id: str
    text: str
    chosen: str
    rejected: str
    where: str


def read_pairs(paths: list[str]) -> tuple[list[PreferencePair], list[dict[str, Any]]]:
    """Every pair of every file, checked before a model loads; errors name the file, line and field."""
    from srllm.provenance import file_sha256
    from srllm.text.readers import read_json_lines

    if not paths:
        raise InputError("no preference pairs; pass --pairs FILE (JSONL of text/chosen/rejected)", field="pairs")
    pairs: list[PreferencePair] = []
    sources = []
    for path in paths:
        if not Path(path).is_file():
            raise InputError("does not exist; check the --pairs path", path=path)
        rows = 0
        for line_no, row in read_json_lines(path):
            for key in ("text", "chosen", "rejected"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise InputError("is missing or blank", path=path, line=line_no, field=key)
            if row["chosen"] == row["rejected"]:
                raise InputError("equals 'chosen'; a preference pair needs two different answers",
                                 path=path, line=line_no, field="rejected")
            rows += 1
            pairs.append(PreferencePair(str(row.get("id", f"{path}:{line_no}")), row["text"], row["chosen"],
                                        row["rejected"], f"{path}:{line_no}"))
        sources.append({"path": path, "rows": rows, "sha256": file_sha256(path)})
    return pairs, sources


def mark_pairs(pairs: list[PreferencePair], template: str, *, dropout: float, seed: int) -> list[PreferencePair]:
    """With a marked template, each pair's text with its harmful spans marked as SFT and the guard mark it
    (`train.data.mark_examples`, same dropout), so the prompt the preference loss conditions on is the one
    the model sees at rewrite time. Other templates: the pairs unchanged."""
    from srllm.train.data import Example, mark_examples

    examples = [Example(pair.id, pair.text, pair.chosen, pair.where) for pair in pairs]
    marked = mark_examples(examples, template, dropout=dropout, seed=seed)
    return [replace(pair, text=example.text) for pair, example in zip(pairs, marked, strict=True)]


def preference_dataset(tokenizer: Any, pairs: list[PreferencePair], *, template: str,
                       max_length: int) -> tuple[Any, int]:
    """TRL's standard (non-conversational) format: the rendered prompt and two completions that end
    in the end-of-turn token. Pairs longer than max_length are dropped (counted)."""
    from datasets import Dataset

    from srllm.prompts import prompt_and_completion

    rows, dropped = [], 0
    for pair in pairs:
        prompt, chosen = prompt_and_completion(tokenizer, pair.text, pair.chosen, template=template)
        _, rejected = prompt_and_completion(tokenizer, pair.text, pair.rejected, template=template)
        chosen, rejected = chosen.rstrip("\n"), rejected.rstrip("\n")  # end on the EOS token, as TRL expects
        longest = max(len(tokenizer(prompt + c, add_special_tokens=False)["input_ids"]) for c in (chosen, rejected))
        if longest > max_length:
            dropped += 1
            continue
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    if not rows:
        raise InputError(f"every preference pair is longer than max_length={max_length} tokens; raise --max-length",
                         field="max_length")
    return Dataset.from_list(rows), dropped


def _trl_args(config: TrainConfig, out: Path, precision: Any) -> Any:
    common = dict(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate or DEFAULT_LEARNING_RATE,
        num_train_epochs=config.epochs or 1,
        max_steps=config.max_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        max_grad_norm=config.max_grad_norm,
        weight_decay=config.weight_decay,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=precision.device == "cpu",
        bf16=precision.mixed_precision == "bf16",
        fp16=precision.mixed_precision == "fp16",
        max_length=config.max_length,
        beta=config.beta,
        log_level="error",
    )
    if config.stage == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common)
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(**common)


def _trainer_class(stage: str) -> Any:
    if stage == "dpo":
        from trl import DPOTrainer

        return DPOTrainer
    from trl.experimental.orpo import ORPOTrainer

    return ORPOTrainer


def train_preference(config: TrainConfig, *, callbacks: list[Any] | tuple[Any, ...] = ()) -> Any:
    """DPO or ORPO on `config.pairs`; writes the adapter and a manifest like `train` does."""
    from srllm.prompts.marks import MARK_OPEN
    from srllm.train.common import (
        RunResult,
        last_checkpoint,
        load_base,
        peak_memory,
        portable_base_name,
        precision_for,
        save_outputs,
        set_threads,
        thread_count,
    )
    from srllm.train.energy import EnergyMeter, energy_report
    from srllm.train.manifest import git_revision, library_versions, model_hash, write_manifest
    from srllm.train.methods import get_method
    from srllm.train.methods.base import options_dict
    from srllm.train.trainer import RichProgress, StepTimer

    method = get_method(config.method)
    if not method.saves_adapter or method.name == "prefix":
        raise InputError(f"preference training needs a LoRA-style adapter (lora or qlora), not '{method.name}'",
                         field="method")
    options = method.parse_options(config.method_options)
    pairs, sources = read_pairs(config.pairs)  # every data problem before a model loads
    pairs = mark_pairs(pairs, config.template, dropout=config.mark_dropout, seed=config.seed)
    out = Path(config.out)
    resume_from = last_checkpoint(out) if config.resume else None
    if config.resume and resume_from is None:
        raise SrllmError(f"--resume: no checkpoint found under {out / 'checkpoints'}; start without --resume")
    set_threads(config.threads)
    from transformers import set_seed

    set_seed(config.seed)
    precision = precision_for(method)
    model, tokenizer, resolved = load_base(config.base, method.quantization)
    if getattr(model.config, "is_encoder_decoder", False):
        raise InputError("preference training supports decoder-only bases", field="base")
    tokenizer.padding_side = "right"
    dataset, dropped = preference_dataset(tokenizer, pairs, template=config.template, max_length=config.max_length)
    model = method.prepare(model, options, init_adapter=config.init_adapter,
                           gradient_checkpointing=config.gradient_checkpointing)
    timer = StepTimer()
    extra: list[Any] = [timer, *callbacks]
    if config.progress:
        extra.append(RichProgress(f"{config.stage} {Path(config.base).name}"))
    trainer = _trainer_class(config.stage)(model=model, args=_trl_args(config, out, precision),
                                           train_dataset=dataset, processing_class=tokenizer, callbacks=extra)
    if config.progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    meter = EnergyMeter(config.measure_energy)
    meter.start()
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    _drop_reference_adapter(trainer.model)
    save_outputs(trainer, tokenizer, out, method, config.save_dtype, config.keep_checkpoints)
    if resolved.kind == "registry":
        portable_base_name(out, resolved.name)
    energy = energy_report(meter, seconds, config.device_watts, precision.device == "cuda",
                           config.carbon_intensity_kg_per_kwh)
    steps = [{k: h[k] for k in h if k in ("step", "loss", "learning_rate", "grad_norm") or k.startswith("rewards/")}
             for h in trainer.state.log_history if "loss" in h]
    step_seconds = [d for _, d in timer.durations]
    manifest = {
        "kind": "srllm-train-run",
        "config": config.to_dict(),
        "method": {"name": method.name, "options": options_dict(options),
                   "learning_rate": config.learning_rate or DEFAULT_LEARNING_RATE, "saves": "adapter"},
        "preference": {"stage": config.stage, "beta": config.beta, "trainer": type(trainer).__name__,
                       "reference": (f"init adapter {config.init_adapter} (frozen copy)" if config.stage == "dpo"
                                     and config.init_adapter else "base model" if config.stage == "dpo" else "none"),
                       "pairs": sources, "pairs_used": len(dataset), "dropped_too_long": dropped,
                       "marked": sum(MARK_OPEN in pair.text for pair in pairs)},
        "precision": vars(precision),
        "base_model": {"name": resolved.name, "path": resolved.path, "sha256": model_hash(resolved.path)},
        "init_adapter": config.init_adapter,
        "resumed_from": resume_from,
        "prompt_template": config.template,
        "seed": config.seed,
        "libraries": library_versions(),
        "git": git_revision(),
        "steps": steps,
        "global_step": trainer.state.global_step,
        "wall_time_s": round(seconds, 2),
        "tokens_per_s": None,
        "median_step_s": round(statistics.median(step_seconds), 4) if step_seconds else None,
        "threads": thread_count(),
        "memory": peak_memory(),
        "energy": energy.to_dict(),
        "dev": {"evaluations": [], "final_loss": None, "final_perplexity": None, "best_checkpoint": None},
    }
    write_manifest(out, manifest)
    losses = [s["loss"] for s in steps if isinstance(s.get("loss"), float) and math.isfinite(s["loss"])]
    return RunResult(out=out, manifest=manifest, losses=losses)


def _drop_reference_adapter(model: Any) -> None:
    """DPO's frozen "ref" copy must not be saved beside the trained adapter."""
    config = getattr(model, "peft_config", None)
    if isinstance(config, dict) and "ref" in config:
        model.delete_adapter("ref")
        model.set_adapter("default")


__all__ = ["DEFAULT_LEARNING_RATE", "PreferencePair", "preference_dataset", "read_pairs", "train_preference"]
