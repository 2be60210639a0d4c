"""Training methods: one small module each, registered with one line below."""

from __future__ import annotations

from srllm.registry import Registry
from srllm.train.methods import dense, lora, prefix, qlora
from srllm.train.methods.base import TrainingMethod

METHODS: Registry[TrainingMethod] = Registry("training method", field="method")


def register_method(method: TrainingMethod) -> TrainingMethod:
    return METHODS.register(method.name, method)


def get_method(name: str) -> TrainingMethod:
    return METHODS.get(name)


register_method(qlora.METHOD)
register_method(lora.METHOD)
register_method(prefix.METHOD)
register_method(dense.METHOD)

__all__ = ["METHODS", "TrainingMethod", "get_method", "register_method"]
