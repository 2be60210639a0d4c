"""Fixtures for the rewrite tests: a tiny random-weight Llama with the default model's tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from srllm.models import LoadedModel
from srllm.models.pull import converted_dir, is_pulled

DEFAULT = "smollm2-135m-instruct"


def default_tokenizer_dir() -> Path:
    if not is_pulled(DEFAULT):
        pytest.skip(f"{DEFAULT} is not pulled (run scripts/setup.sh)")
    return converted_dir(DEFAULT)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer random Llama (real tokenizer + chat template), loadable as --model DIR."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_tokenizer_dir())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> LoadedModel:
    from srllm.models import load_causal_lm

    return load_causal_lm(str(tiny_model_dir))
