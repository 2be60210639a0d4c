"""Inference dtype: "auto" follows the hardware, names are checked, and the cast comes after the merge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srllm.errors import SrllmError
from srllm.models import load_causal_lm
from srllm.models.dtype import cpu_has_native_bf16, inference_dtype
from srllm.rewrite import GenerationSettings, Rewriter


def test_auto_follows_the_hardware_and_names_are_checked() -> None:
    expected = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if not torch.cuda.is_available():
        assert inference_dtype("auto") == expected
    assert inference_dtype("float32") == torch.float32
    assert inference_dtype(torch.float16) == torch.float16
    with pytest.raises(SrllmError, match="unknown dtype 'fp8'"):
        inference_dtype("fp8")


def test_default_load_stays_float32_for_training_and_evaluation(tiny_model_dir: Path) -> None:
    loaded = load_causal_lm(str(tiny_model_dir))
    assert loaded.dtype == "float32"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}


def test_bfloat16_model_rewrites_close_to_float32(tiny_model_dir: Path) -> None:
    exact = load_causal_lm(str(tiny_model_dir))
    half = load_causal_lm(str(tiny_model_dir), dtype="bfloat16")
    assert half.dtype == "bfloat16"
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    ids = torch.tensor([[5, 9, 14, 3, 7]])
    with torch.inference_mode():
        a = exact.model(input_ids=ids).logits.float()
        b = half.model(input_ids=ids).logits.float()
    assert torch.allclose(a, b, atol=0.05 * float(a.abs().max()))
    out = Rewriter(half, settings=GenerationSettings(max_new_tokens=6)).rewrite(["Your report is garbage."])
    assert out[0].generated_tokens > 0
