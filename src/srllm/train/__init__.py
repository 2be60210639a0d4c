"""Training: fine-tune a base model on unsafe -> safe pairs (SR-LLM paper, Section 3; Table 3).

    from srllm.train import TrainConfig, train
    result = train(TrainConfig(method="lora", data=["train.jsonl"], dev=["dev.jsonl"], out="runs/x"))
"""

from srllm.train.config import DataSource, TrainConfig, load_config
from srllm.train.merge import MergeResult, export_gguf, merge_adapter
from srllm.train.methods import METHODS, TrainingMethod, get_method, register_method
from srllm.train.runner import RunResult, train

__all__ = [
    "METHODS",
    "DataSource",
    "MergeResult",
    "RunResult",
    "TrainConfig",
    "TrainingMethod",
    "export_gguf",
    "get_method",
    "load_config",
    "merge_adapter",
    "register_method",
    "train",
]
