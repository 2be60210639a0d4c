"""`train(config) -> RunResult`: data checks, model, Trainer, checkpoints, manifest."""

from __future__ import annotations

import math
import resource
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import SrllmError
from srllm.train.config import TrainConfig
from srllm.train.data import ExampleSet, load_examples, prompt_head_length, tokenize
from srllm.train.energy import EnergyMeter, energy_report
from srllm.train.manifest import git_revision, library_versions, model_hash, write_manifest
from srllm.train.methods import TrainingMethod, get_method
from srllm.train.methods.base import options_dict

CHECKPOINTS = "checkpoints"


@dataclass
class RunResult:
    """Where the trained adapter (or model) and its manifest are, and the headline numbers."""

    out: Path
    manifest: dict[str, Any]
    dev_loss: float | None = None
    best_checkpoint: str | None = None
    losses: list[float] = field(default_factory=list)


@dataclass
class _Precision:
    device: str
    weights: str
    compute_dtype: str
    mixed_precision: str | None
    why: str


def _precision(method: TrainingMethod) -> _Precision:
    import torch

    from srllm.models.quantize import compute_dtype

    on_gpu = torch.cuda.is_available()
    dtype = str(compute_dtype()).replace("torch.", "")
    if method.quantization:
        why = ("GPU: bf16/fp16 compute" if on_gpu else
               "CPU: float32 compute (bf16 matmuls are ~15x slower on AVX2-only CPUs)")
        return _Precision("cuda" if on_gpu else "cpu", method.quantization, dtype, None, why)
    if on_gpu:
        mixed = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return _Precision("cuda", "float32", dtype, mixed, "GPU: float32 master weights, autocast")
    return _Precision("cpu", "float32", "float32", None, "CPU: float32 throughout")


def check_bitsandbytes(device: str) -> None:
    """A 4-bit layer must quantize and run here, else QLoRA fails loudly (never trains something else)."""
    try:
        import bitsandbytes as bnb
        import torch

        from srllm.models.quantize import compute_dtype

        layer = bnb.nn.Linear4bit(64, 64, compute_dtype=compute_dtype(), quant_type="nf4").to(device)
        layer(torch.randn(2, 64, device=device, dtype=compute_dtype()))
    except Exception as exc:  # import errors, missing CPU/CUDA kernels, driver problems
        raise SrllmError(
            f"QLoRA needs bitsandbytes 4-bit (NF4) support on {device}, which does not work here "
            f"({type(exc).__name__}: {exc}). Install a bitsandbytes build for this device "
            "(`pip install 'srllm[train]'` or `pip install -U bitsandbytes`, >= 0.45 includes CPU kernels) "
            "or train with --method lora."
        ) from exc


def load_base(name: str, quantization: str | None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, resolved reference); encoder-decoder configs load as seq2seq LMs."""
    from transformers import AutoConfig

    from srllm.models.load import load_causal_lm, resolve

    resolved = resolve(name)
    extra = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
    if getattr(AutoConfig.from_pretrained(resolved.path, **extra), "is_encoder_decoder", False):
        return (*_load_seq2seq(resolved, quantization), resolved)
    loaded = load_causal_lm(name, quantization=quantization)
    return loaded.model, loaded.tokenizer, resolved


def _load_seq2seq(resolved: Any, quantization: str | None) -> tuple[Any, Any]:
    # The paper's encoder-decoder baselines (T5/BART); srllm.models only loads causal LMs.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if quantization:
        from srllm.models.quantize import bnb_config

        kwargs["quantization_config"] = bnb_config(quantization)
    model = AutoModelForSeq2SeqLM.from_pretrained(resolved.path, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = out / CHECKPOINTS
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def _training_args(config: TrainConfig, method: TrainingMethod, precision: _Precision, has_dev: bool,
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


def _set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def _peak_memory() -> dict[str, float | None]:
    import torch

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"peak_rss_mb": round(rss_mb, 1), "peak_gpu_mb": round(gpu, 1) if gpu is not None else None}


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
    out = Path(config.out)
    resume_from = last_checkpoint(out) if config.resume else None
    if config.resume and resume_from is None:
        raise SrllmError(f"--resume: no checkpoint found under {out / CHECKPOINTS}; start without --resume")

    _set_threads(config.threads)
    from transformers import set_seed

    set_seed(config.seed)  # adapter initialisation (LoRA A, prefix embeddings) happens before Trainer seeds
    precision = _precision(method)
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
    _save(trainer, tokenizer, out, method, config.save_dtype, config.keep_checkpoints)
    if trainer.is_world_process_zero() and resolved.kind == "registry":
        _portable_base_name(out, resolved.name)
    energy = energy_report(meter, seconds, config.device_watts, precision.device == "cuda",
                           config.carbon_intensity_kg_per_kwh)
    tokens = _total_tokens(trainer)
    steps, evals = _history(trainer.state.log_history)
    step_seconds = [d for _, d in timer.durations]
    timing = {step: (seconds, tokens) for (step, seconds), tokens in zip(timer.durations, timer.tokens, strict=True)}
    for entry in steps:  # this process's share under DDP; absent for steps before a resume
        if entry["step"] in timing:
            entry["seconds"], entry["tokens"] = round(timing[entry["step"]][0], 4), timing[entry["step"]][1]
    manifest = {
        "kind": "srllm-train-run",
        "config": config.to_dict(),
        "method": {"name": method.name, "options": options_dict(options),
                   "learning_rate": config.learning_rate or method.learning_rate,
                   "epochs": config.epochs or method.epochs, "packing": packing, "seq2seq": seq2seq,
                   "saves": "adapter" if method.saves_adapter else "model",
                   "shared_prompt_head": {"tokens": trainer.shared_head, "batches": trainer.shared_head_batches}},
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
        "dev": {"evaluations": evals, "final_loss": dev_loss,
                "final_perplexity": math.exp(dev_loss) if dev_loss is not None and dev_loss < 50 else None,
                "best_checkpoint": trainer.state.best_model_checkpoint,
                "best_metric": trainer.state.best_metric},
        "global_step": trainer.state.global_step,
        "wall_time_s": round(seconds, 2),
        "train_tokens": tokens,
        "tokens_per_s": round(tokens / sum(step_seconds), 2) if step_seconds and tokens else None,
        "median_step_s": round(statistics.median(step_seconds), 4) if step_seconds else None,
        "processes": trainer.accelerator.num_processes,
        "threads": _threads(),
        "memory": _peak_memory(),
        "energy": energy.to_dict(),
    }
    if trainer.is_world_process_zero():
        write_manifest(out, manifest)
    return RunResult(out=out, manifest=manifest, dev_loss=dev_loss,
                     best_checkpoint=trainer.state.best_model_checkpoint, losses=[s["loss"] for s in steps])


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


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _make_trainer(config: TrainConfig, method: TrainingMethod, precision: _Precision, model: Any,
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


def _save(trainer: Any, tokenizer: Any, out: Path, method: TrainingMethod, save_dtype: str,
          keep_checkpoints: bool) -> None:
    """The adapter (or the whole model for dense) and the tokenizer go straight into --out."""
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.padding_side = "left"  # ready for batched generation
        tokenizer.save_pretrained(str(out))
    if trainer.is_world_process_zero() and method.saves_adapter and save_dtype != "float32":
        _cast_adapter(out, save_dtype)
    if trainer.is_world_process_zero() and not keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)


def _portable_base_name(out: Path, name: str) -> None:
    """Name the registry model, not this machine's cache path, as the adapter's base."""
    import json

    path = out / "adapter_config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = name
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _cast_adapter(out: Path, dtype_name: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype_name)
    if dtype is None:
        raise SrllmError(f"save_dtype must be float32, float16 or bfloat16, not {dtype_name!r}")
    path = out / "adapter_model.safetensors"
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
