"""`train(config) -> RunResult`: data checks, model, Trainer, checkpoints, manifest."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from srllm.errors import SrllmError
from srllm.train.common import (
    CHECKPOINTS,
    Precision,
    RunResult,
    check_bitsandbytes,
    last_checkpoint,
    load_base,
    peak_memory,
    portable_base_name,
    precision_for,
    save_outputs,
    set_threads,
    thread_count,
)
from srllm.train.config import TrainConfig
from srllm.train.data import ExampleSet, load_examples, mark_examples, prompt_head_length, tokenize
from srllm.train.energy import EnergyMeter, energy_report
from srllm.train.manifest import git_revision, library_versions, model_hash, write_manifest
from srllm.train.methods import TrainingMethod, get_method
from srllm.train.methods.base import options_dict


def _training_args(config: TrainConfig, method: TrainingMethod, precision: Precision, has_dev: bool,
                   out: Path) -> Any:
    from transformers import TrainingArguments

    optim = config.optim or ("paged_adamw_32bit" if precision.device == "cuda" else "adamw_torch")
    return TrainingArguments(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate or method.learning_rate,
        num_train_epochs=config.epochs or method.epochs,
        max_steps=config.max_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # < 1 means a fraction of all steps
        max_grad_norm=config.max_grad_norm,
        weight_decay=config.weight_decay,
        optim=optim,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if has_dev else "no",
        eval_steps=config.eval_steps,
        eval_on_start=has_dev and config.eval_on_start,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_dev,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        prediction_loss_only=True,
        use_cpu=precision.device == "cpu",
        bf16=precision.mixed_precision == "bf16",
        fp16=precision.mixed_precision == "fp16",
        # qlora enables it through prepare_model_for_kbit_training; passing False warns in transformers 5.
        **({"gradient_checkpointing": True} if config.gradient_checkpointing and method.name != "qlora" else {}),
        ddp_find_unused_parameters=False,
        log_level="error",
    )


def _collator(tokenizer: Any, packing: bool) -> Any:
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening

    if packing:
        # Padding-free: the batch becomes one row, sequences kept apart by restarting position_ids
        # (transformers builds a block-diagonal mask from them), so no pad token is ever computed.
        return DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)


def _data_summary(train_set: ExampleSet, dev_set: ExampleSet, dropped: dict[str, int],
                  sizes: dict[str, int]) -> dict[str, Any]:
    train_ids = {e.id for e in train_set.examples}
    return {
        "train_sources": [vars(s) for s in train_set.sources],
        "dev_sources": [vars(s) for s in dev_set.sources],
        "train_examples": sizes["train"], "dev_examples": sizes["dev"],
        "dropped_too_long": dropped,
        "dev_ids_also_in_train": sum(1 for e in dev_set.examples if e.id in train_ids),
    }


def _history(log_history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    steps = [{"step": h["step"], "loss": h["loss"], "learning_rate": h.get("learning_rate"),
              "grad_norm": h.get("grad_norm")} for h in log_history if "loss" in h]
    evals = [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in log_history if "eval_loss" in h]
    return steps, evals


def train(config: TrainConfig, *, callbacks: list[Any] | tuple[Any, ...] = ()) -> RunResult:
    """Fine-tune `config.base` with `config.method` on CMD records; write the adapter and manifest.

    `config.stage` "dpo"/"orpo" trains the same adapter on preference pairs instead (`preference`)."""
    if config.stage != "sft":
        from srllm.train.preference import train_preference

        return train_preference(config, callbacks=callbacks)
    method = get_method(config.method)
    options = method.parse_options(config.method_options)
    if not config.data:
        from srllm.errors import InputError

        raise InputError("no training data; pass --data FILE (CMD records with safe_variation)", field="data")
    # Every data problem surfaces here, before a model is loaded or a step is taken.
    train_set = load_examples(config.data, config.split_ratios, config.seed, role="training",
                              split_seed=config.split_seed)
    dev_set = load_examples(config.dev, config.split_ratios, config.seed, role="dev", split_seed=config.split_seed)
    train_set.examples = mark_examples(train_set.examples, config.template, dropout=config.mark_dropout,
                                       seed=config.seed)
    dev_set.examples = mark_examples(dev_set.examples, config.template, dropout=0.0, seed=config.seed)
    out = Path(config.out)
    resume_from = last_checkpoint(out) if config.resume else None
    if config.resume and resume_from is None:
        raise SrllmError(f"--resume: no checkpoint found under {out / CHECKPOINTS}; start without --resume")

    set_threads(config.threads)
    from transformers import set_seed

    set_seed(config.seed)  # adapter initialisation (LoRA A, prefix embeddings) happens before Trainer seeds
    precision = precision_for(method)
    if method.quantization:
        check_bitsandbytes(precision.device)
    model, tokenizer, resolved = load_base(config.base, method.quantization)
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    tokenizer.padding_side = "right"  # training pads after the labels; generation pads left
    train_ds, dropped_train = tokenize(tokenizer, train_set.examples, template=config.template,
                                       max_length=config.max_length, seq2seq=seq2seq)
    dev_ds, dropped_dev = (tokenize(tokenizer, dev_set.examples, template=config.template,
                                    max_length=config.max_length, seq2seq=seq2seq)
                           if dev_set.examples else (None, 0))
    model = method.prepare(model, options, init_adapter=config.init_adapter,
                           gradient_checkpointing=config.gradient_checkpointing)
    packing = config.packing and method.packing and not seq2seq
    trainer, timer = _make_trainer(config, method, precision, model, tokenizer, train_ds, dev_ds, packing,
                                   out, callbacks)
    if config.share_prompt_head and method.packing and not (packing or seq2seq or config.gradient_checkpointing):
        trainer.shared_head = prompt_head_length(tokenizer, config.template)

    meter = EnergyMeter(config.measure_energy and trainer.is_world_process_zero())
    meter.start()
    started = time.perf_counter()
    if resume_from and _finished(resume_from, config.max_steps):
        _restore_finished(trainer, resume_from)
    else:
        trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    dev_loss = _final_dev_loss(trainer) if dev_ds is not None else None
    save_outputs(trainer, tokenizer, out, method, config.save_dtype, config.keep_checkpoints)
    if trainer.is_world_process_zero() and resolved.kind == "registry":
        portable_base_name(out, resolved.name)
    energy = energy_report(meter, seconds, config.device_watts, precision.device == "cuda",
                           config.carbon_intensity_kg_per_kwh)
    steps, evals = _history(trainer.state.log_history)
    manifest = {
        "kind": "srllm-train-run",
        "config": config.to_dict(),
        "method": _method_record(config, method, options, trainer, packing=packing, seq2seq=seq2seq),
        "precision": vars(precision),
        "base_model": {"name": resolved.name, "path": resolved.path, "sha256": model_hash(resolved.path)},
        "init_adapter": config.init_adapter,
        "resumed_from": resume_from,
        "data": _data_summary(train_set, dev_set, {"train": dropped_train, "dev": dropped_dev},
                              {"train": len(train_ds), "dev": len(dev_ds) if dev_ds is not None else 0}),
        "prompt_template": config.template,
        "seed": config.seed,
        "libraries": library_versions(),
        "git": git_revision(),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps": steps,
        "dev": _dev_record(trainer, evals, dev_loss),
        "global_step": trainer.state.global_step,
        "wall_time_s": round(seconds, 2),
        **_speed_record(trainer, timer, steps),
        "processes": trainer.accelerator.num_processes,
        "threads": thread_count(),
        "memory": peak_memory(),
        "energy": energy.to_dict(),
    }
    if trainer.is_world_process_zero():
        write_manifest(out, manifest)
    return RunResult(out=out, manifest=manifest, dev_loss=dev_loss,
                     best_checkpoint=trainer.state.best_model_checkpoint, losses=[s["loss"] for s in steps])


def _method_record(config: TrainConfig, method: TrainingMethod, options: Any, trainer: Any, *, packing: bool,
                   seq2seq: bool) -> dict[str, Any]:
    return {"name": method.name, "options": options_dict(options),
            "learning_rate": config.learning_rate or method.learning_rate,
            "epochs": config.epochs or method.epochs, "packing": packing, "seq2seq": seq2seq,
            "saves": "adapter" if method.saves_adapter else "model",
            "shared_prompt_head": {"tokens": trainer.shared_head, "batches": trainer.shared_head_batches}}


def _dev_record(trainer: Any, evals: list[dict[str, Any]], dev_loss: float | None) -> dict[str, Any]:
    return {"evaluations": evals, "final_loss": dev_loss,
            "final_perplexity": math.exp(dev_loss) if dev_loss is not None and dev_loss < 50 else None,
            "best_checkpoint": trainer.state.best_model_checkpoint, "best_metric": trainer.state.best_metric}


def _speed_record(trainer: Any, timer: Any, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens and step times; each logged step gets its own seconds and tokens (this process's share under
    DDP; absent for steps before a resume)."""
    tokens = _total_tokens(trainer)
    step_seconds = [d for _, d in timer.durations]
    timing = {step: (seconds, n) for (step, seconds), n in zip(timer.durations, timer.tokens, strict=True)}
    for entry in steps:
        if entry["step"] in timing:
            entry["seconds"], entry["tokens"] = round(timing[entry["step"]][0], 4), timing[entry["step"]][1]
    return {"train_tokens": tokens,
            "tokens_per_s": round(tokens / sum(step_seconds), 2) if step_seconds and tokens else None,
            "median_step_s": round(statistics.median(step_seconds), 4) if step_seconds else None}


def _finished(checkpoint: str, max_steps: int) -> bool:
    from transformers import TrainerState

    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return max_steps > 0 and state.global_step >= max_steps


def _restore_finished(trainer: Any, checkpoint: str) -> None:
    """Resuming a run whose last checkpoint already reached max_steps: transformers 5's loop would
    train past max_steps, so restore the state (and the best checkpoint) without a training loop."""
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    best = trainer.state.best_model_checkpoint
    trainer._load_from_checkpoint(best if best and Path(best).is_dir() else checkpoint)


def _final_dev_loss(trainer: Any) -> float:
    # With load_best_model_at_end the model now *is* the best checkpoint, whose dev loss is known.
    if trainer.state.best_model_checkpoint and trainer.state.best_metric is not None:
        return float(trainer.state.best_metric)
    return float(trainer.evaluate()["eval_loss"])


def _make_trainer(config: TrainConfig, method: TrainingMethod, precision: Precision, model: Any,
                  tokenizer: Any, train_ds: Any, dev_ds: Any, packing: bool, out: Path,
                  callbacks: Any) -> tuple[Any, Any]:
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback

    from srllm.train.trainer import CompletionOnlyTrainer, RichProgress, StepTimer

    trainer_ref: list[Any] = []
    timer = StepTimer(lambda: trainer_ref[0].train_tokens if trainer_ref else 0)
    extra: list[Any] = [timer, *callbacks]
    if config.progress:
        extra.append(RichProgress(f"{method.name} {Path(config.base).name}"))
    if dev_ds is not None and config.early_stopping_patience > 0:
        extra.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    args = _training_args(config, method, precision, dev_ds is not None, out)
    trainer = CompletionOnlyTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds,
                                    data_collator=_collator(tokenizer, packing), callbacks=extra)
    trainer_ref.append(trainer)
    if config.progress:
        trainer.remove_callback(PrinterCallback)  # the rich bar shows the losses instead of raw dicts
    return trainer, timer


def _total_tokens(trainer: Any) -> int:
    import torch

    count = torch.tensor(trainer.train_tokens, device=trainer.accelerator.device)
    return int(trainer.accelerator.reduce(count, reduction="sum").item())


