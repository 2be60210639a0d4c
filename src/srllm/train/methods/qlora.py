"""QLoRA (Dettmers et al. 2023): LoRA over an NF4, double-quantized base (paper Table 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srllm.train.methods.base import TrainingMethod
from srllm.train.methods.lora import LoraOptions, prepare_lora


@dataclass
class QLoraOptions(LoraOptions):
    pass


def prepare_qlora(model: Any, options: QLoraOptions, *, init_adapter: str | None = None,
                  gradient_checkpointing: bool = False) -> Any:
    from peft import prepare_model_for_kbit_training

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return prepare_lora(model, options, init_adapter=init_adapter, gradient_checkpointing=False)


METHOD = TrainingMethod(
    name="qlora", description="LoRA over a 4-bit NF4 (double-quantized) base model via bitsandbytes",
    options=QLoraOptions, prepare=prepare_qlora, learning_rate=2e-4, epochs=1, quantization="nf4",
)
