"""What the SFT runner (`runner.train`) and the preference runner (`preference.train_preference`) share:
the precision a method trains in, the base model, checkpoints, threads, peak memory and saving."""

from __future__ import annotations

import resource
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import SrllmError
from srllm.train.methods import TrainingMethod

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
class Precision:
    device: str
    weights: str
    compute_dtype: str
    mixed_precision: str | None
    why: str


def precision_for(method: TrainingMethod) -> Precision:
    import torch

    from srllm.models.quantize import compute_dtype

    on_gpu = torch.cuda.is_available()
    dtype = str(compute_dtype()).replace("torch.", "")
    if method.quantization:
        why = ("GPU: bf16/fp16 compute" if on_gpu else
               "CPU: float32 compute (bf16 matmuls are ~15x slower on AVX2-only CPUs)")
        return Precision("cuda" if on_gpu else "cpu", method.quantization, dtype, None, why)
    if on_gpu:
        mixed = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return Precision("cuda", "float32", dtype, mixed, "GPU: float32 master weights, autocast")
    return Precision("cpu", "float32", "float32", None, "CPU: float32 throughout")


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


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def peak_memory() -> dict[str, float | None]:
    import torch

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"peak_rss_mb": round(rss_mb, 1), "peak_gpu_mb": round(gpu, 1) if gpu is not None else None}


def thread_count() -> int:
    import torch

    return torch.get_num_threads()


def save_outputs(trainer: Any, tokenizer: Any, out: Path, method: TrainingMethod, save_dtype: str,
          keep_checkpoints: bool) -> None:
    """The adapter (or the whole model for dense) and the tokenizer go straight into --out."""
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.padding_side = "left"  # ready for batched generation
        tokenizer.save_pretrained(str(out))
    if trainer.is_world_process_zero() and method.saves_adapter and save_dtype != "float32":
        cast_adapter(out, save_dtype)
    if trainer.is_world_process_zero() and not keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)


def portable_adapter(adapter: str | Path | None) -> str | None:
    """An adapter path as a manifest should record it: `srllm:assets/...` for one srllm ships, relative
    to the working directory for one under it, else as given (not this machine's site-packages path)."""
    from srllm.paths import PACKAGE_DIR

    if adapter is None:
        return None
    path = Path(adapter).resolve()
    for root, prefix in ((PACKAGE_DIR.resolve(), "srllm:"), (Path.cwd().resolve(), "")):
        if path.is_relative_to(root):
            return prefix + path.relative_to(root).as_posix()
    return str(adapter)


def portable_base_name(out: Path, name: str) -> None:
    """Name the registry model, not this machine's cache path, as the adapter's base."""
    import json

    path = out / "adapter_config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = name
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def cast_adapter(out: Path, dtype_name: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype_name)
    if dtype is None:
        raise SrllmError(f"save_dtype must be float32, float16 or bfloat16, not {dtype_name!r}")
    path = out / "adapter_model.safetensors"
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
