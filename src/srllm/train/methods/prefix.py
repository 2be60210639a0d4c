"""Prefix-tuning (Li & Liang 2021): 30 trained virtual tokens, lr 5e-5, 5 epochs (paper Table 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srllm.errors import SrllmError
from srllm.train.methods.base import TrainingMethod, load_trainable_adapter, task_type


@dataclass
class PrefixOptions:
    num_virtual_tokens: int = 30
    prefix_projection: bool = False


def prepare_prefix(model: Any, options: PrefixOptions, *, init_adapter: str | None = None,
                   gradient_checkpointing: bool = False) -> Any:
    from peft import PrefixTuningConfig, get_peft_model

    if gradient_checkpointing:
        # Checkpointed layers re-run without the prefix cache (peft issues #1142, #2340).
        raise SrllmError("prefix-tuning cannot be combined with gradient checkpointing; "
                         "drop --gradient-checkpointing or use --method lora")
    if init_adapter:
        return load_trainable_adapter(model, init_adapter)
    config = PrefixTuningConfig(task_type=task_type(model), num_virtual_tokens=options.num_virtual_tokens,
                                prefix_projection=options.prefix_projection)
    return get_peft_model(model, config)


METHOD = TrainingMethod(
    name="prefix", description="prefix-tuning: trained virtual key/value tokens in every layer",
    options=PrefixOptions, prepare=prepare_prefix, learning_rate=5e-5, epochs=5, packing=False,
)
