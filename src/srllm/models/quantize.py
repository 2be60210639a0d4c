"""bitsandbytes quantization settings (QLoRA: NF4 + double quantization, paper Table 3)."""

from __future__ import annotations

from typing import Any

from srllm.errors import SrllmError


def compute_dtype() -> Any:
    """fp32 on CPU (bf16 compute is ~15x slower on AVX2-only CPUs), bf16/fp16 on GPU."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def bnb_config(kind: str) -> Any:
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise SrllmError("QLoRA needs bitsandbytes (`pip install bitsandbytes`); it is not importable") from exc
    if kind == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(),
        )
    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise SrllmError(f"unknown quantization {kind!r}; use nf4 or int8")
