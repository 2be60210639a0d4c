"""`merge_adapter` folds LoRA into the base; the result loads with transformers and srllm."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from srllm.errors import SrllmError
from srllm.models import load_causal_lm
from srllm.train import merge_adapter, train
from srllm.train.merge import export_gguf, find_converter


def test_merged_model_matches_adapter(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "lora", max_steps=3, dev=[]))
    result = merge_adapter(tmp_path / "lora", tmp_path / "merged")
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    adapted = load_causal_lm(str(tiny_llama_dir), adapter=tmp_path / "lora").model
    merged = AutoModelForCausalLM.from_pretrained(str(result.out))
    with torch.no_grad():
        assert torch.allclose(adapted(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-4)
    # The way `srllm rewrite --model DIR` opens it.
    assert load_causal_lm(str(result.out)).tokenizer is not None


def test_prefix_adapters_cannot_merge(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "prefix", method="prefix", max_steps=1,
                      dev=[], method_options={"num_virtual_tokens": 4}))
    with pytest.raises(SrllmError, match="only LoRA"):
        merge_adapter(tmp_path / "prefix", tmp_path / "merged")


def test_gguf_without_converter_names_what_is_needed(tmp_path, monkeypatch) -> None:
    import srllm.models.merge as merge

    monkeypatch.delenv("SRLLM_LLAMA_CPP", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SRLLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(merge, "llama_cpp_version", lambda: None)  # no llama-cpp-python whose sdist has one
    assert find_converter() is None
    with pytest.raises(SrllmError, match="convert_hf_to_gguf.py"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
