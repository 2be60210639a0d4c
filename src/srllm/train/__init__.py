"""Training: fine-tune a base model on unsafe -> safe pairs (SR-LLM paper, Section 3; Table 3).

    from srllm.train import TrainConfig, train
    result = train(TrainConfig(method="lora", data=["train.jsonl"], dev=["dev.jsonl"], out="runs/x"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srllm.train.common import RunResult
    from srllm.train.config import DataSource, TrainConfig, load_config
    from srllm.train.merge import MergeResult, export_gguf, merge_adapter
    from srllm.train.methods import METHODS, TrainingMethod, get_method, register_method
    from srllm.train.runner import train

# Loaded on first use: `srllm --help` reads TrainConfig (srllm.train.config) to make `srllm train`'s
# options and must not import the runner, the methods and the merge code.
_EXPORTS = {"DataSource": "config", "TrainConfig": "config", "load_config": "config", "MergeResult": "merge",
            "export_gguf": "merge", "merge_adapter": "merge", "METHODS": "methods", "TrainingMethod": "methods",
            "get_method": "methods", "register_method": "methods", "RunResult": "common", "train": "runner"}
__all__ = ["DataSource", "METHODS", "MergeResult", "RunResult", "TrainConfig", "TrainingMethod", "export_gguf",
           "get_method", "load_config", "merge_adapter", "register_method", "train"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'srllm.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"srllm.train.{_EXPORTS[name]}"), name)
