"""Dense (full) fine-tuning, the paper's comparison point for the parameter-efficient methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srllm.errors import InputError
from srllm.train.methods.base import TrainingMethod


@dataclass
class DenseOptions:
    # Freezing the (tied) embeddings halves optimizer memory on small-vocab-heavy models.
    freeze_embeddings: bool = False


def prepare_dense(model: Any, options: DenseOptions, *, init_adapter: str | None = None,
                  gradient_checkpointing: bool = False) -> Any:
    if init_adapter:
        raise InputError("dense fine-tuning trains the whole model; --init-adapter needs --method lora or "
                         "qlora (or merge the adapter first with `srllm merge`)", field="init_adapter")
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
    for param in model.parameters():
        param.requires_grad_(True)
    if options.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


METHOD = TrainingMethod(
    name="dense", description="full fine-tuning of every weight (comparison baseline)",
    options=DenseOptions, prepare=prepare_dense, learning_rate=2e-5, epochs=1, saves_adapter=False,
)
