"""Config files, CLI overrides and the paper's Table 3 defaults."""

from __future__ import annotations

import json

import pytest

from srllm.errors import InputError
from srllm.train import TrainConfig, get_method, load_config
from srllm.train.config import DataSource


def test_table3_defaults() -> None:
    config = TrainConfig()
    qlora, prefix = get_method("qlora"), get_method("prefix")
    options = qlora.parse_options({})
    assert (options.r, options.alpha, options.dropout) == (64, 16, 0.2)
    assert qlora.quantization == "nf4" and (qlora.learning_rate, qlora.epochs) == (2e-4, 1)
    assert (prefix.parse_options({}).num_virtual_tokens, prefix.learning_rate, prefix.epochs) == (30, 5e-5, 5)
    assert (config.batch_size, config.eval_batch_size, config.max_length) == (16, 8, 1024)
    assert (config.warmup_ratio, config.max_grad_norm, config.weight_decay) == (0.03, 0.3, 0.001)
    assert config.lr_scheduler == "constant_with_warmup"
    assert (config.eval_steps, config.save_steps, config.early_stopping_patience) == (25, 25, 3)


def test_quantization_config_is_nf4_double_quant() -> None:
    from srllm.models.quantize import bnb_config

    bnb = bnb_config("nf4")
    assert bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_file_then_overrides(tmp_path, suffix) -> None:
    raw = {"method": "lora", "data": ["a.jsonl#train"], "batch_size": 4, "method_options": {"r": 8}}
    path = tmp_path / f"run{suffix}"
    if suffix == ".yaml":
        import yaml

        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    else:
        path.write_text(json.dumps(raw), encoding="utf-8")
    config = load_config(path, batch_size=2, epochs=None, method_options={"alpha": 32})
    assert config.batch_size == 2 and config.epochs is None
    assert config.method_options == {"r": 8, "alpha": 32}
    assert config.data == [DataSource(path="a.jsonl", split="train")]


def test_unknown_key_is_named(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"lerning_rate": 1}), encoding="utf-8")
    with pytest.raises(InputError, match="lerning_rate"):
        load_config(path)


def test_shipped_example_configs_load() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    train_configs = [p for p in root.glob("*") if p.suffix in (".json", ".yaml") and p.stem.startswith(
        ("train_", "default_adapter"))]
    assert train_configs
    for path in train_configs:
        config = load_config(path)
        get_method(config.method).parse_options(config.method_options)
