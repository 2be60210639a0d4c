"""Every method trains on a tiny random model and its dev loss falls."""

from __future__ import annotations

import pytest

from srllm.train import METHODS, train

OPTIONS = {"lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "qlora": {"r": 8, "alpha": 16, "dropout": 0.0},
           "prefix": {"num_virtual_tokens": 8}, "dense": {}}
LEARNING_RATES = {"lora": 1e-2, "qlora": 1e-2, "prefix": 3e-2, "dense": 3e-3}


def test_registry_has_the_papers_methods() -> None:
    assert {"qlora", "lora", "prefix", "dense"} <= set(METHODS)


@pytest.mark.parametrize("method", ["lora", "qlora", "prefix", "dense"])
def test_method_lowers_dev_loss(method, tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    config = tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / method, method=method,
                         method_options=OPTIONS[method], learning_rate=LEARNING_RATES[method])
    result = train(config)
    evaluations = result.manifest["dev"]["evaluations"]
    assert evaluations[0]["step"] == 0
    assert result.dev_loss < evaluations[0]["eval_loss"] - 0.01
    assert result.manifest["global_step"] == 4
    saved = "adapter_config.json" if METHODS[method].saves_adapter else "config.json"
    assert (tmp_path / method / saved).is_file()
    if method == "qlora":
        assert result.manifest["precision"]["weights"] == "nf4"
        assert result.manifest["precision"]["compute_dtype"] == "float32"


def test_seq2seq_baseline_trains(tiny_config, tiny_t5_dir, pairs_jsonl, tmp_path) -> None:
    """The paper's encoder-decoder baselines (T5/BART) go through the same runner."""
    result = train(tiny_config(tiny_t5_dir, pairs_jsonl, tmp_path / "t5", learning_rate=1e-2))
    assert result.manifest["method"]["seq2seq"] is True
    assert result.dev_loss < result.manifest["dev"]["evaluations"][0]["eval_loss"] - 0.01
