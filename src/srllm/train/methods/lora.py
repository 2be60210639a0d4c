"""LoRA (Hu et al. 2021) on a full-precision base; rank/alpha/dropout from the paper's Table 3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srllm.train.methods.base import TrainingMethod, load_trainable_adapter, task_type


@dataclass
class LoraOptions:
    r: int = 64
    alpha: int = 16
    dropout: float = 0.2
    # QLoRA-paper practice: adapt every linear layer (attention and MLP), not only q/v.
    target_modules: list[str] | str = "all-linear"
    bias: str = "none"


def lora_config(model: Any, options: LoraOptions) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                      target_modules=options.target_modules, bias=options.bias, task_type=task_type(model))


def prepare_lora(model: Any, options: LoraOptions, *, init_adapter: str | None = None,
                 gradient_checkpointing: bool = False) -> Any:
    from peft import get_peft_model

    if gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input
    if init_adapter:
        return load_trainable_adapter(model, init_adapter)
    return get_peft_model(model, lora_config(model, options))


METHOD = TrainingMethod(
    name="lora", description="LoRA adapters on a full-precision base model",
    options=LoraOptions, prepare=prepare_lora, learning_rate=2e-4, epochs=1,
)
